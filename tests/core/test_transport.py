"""Tests for hacluster.transport against the in-process SSH server (see sshserver.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
import shutil
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import asyncssh
from conftest import (
    PASSWORD,
    endpoint_for,
    key_credentials,
    password_credentials,
    private_key_text,
)
import pytest
import pytest_socket  # type: ignore[import-untyped]
from sshserver import FakeSSHServer, Response, silent_listener

from hacluster import transport as transport_mod
from hacluster.commands import POLL_COMMANDS, BatchCommand, BatchResult, CommandResult
from hacluster.errors import (
    AuthenticationError,
    ClusterConnectionError,
    ClusterTimeoutError,
    CommandError,
    ConfigError,
    HAClusterError,
    HostKeyError,
    ParseError,
    PermissionDeniedError,
)
from hacluster.transport import (
    ClusterTransport,
    Credentials,
    HostKeyInfo,
    NodeEndpoint,
    NodeSession,
    ReachabilityLog,
    fetch_host_key,
    host_key_fingerprint,
    parse_host_key,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    Factory = Callable[..., Awaitable[FakeSSHServer]]

FAST = {
    "connect_timeout": 1.0,
    "command_timeout": 5.0,
    "keepalive_interval": 0.2,
    "keepalive_count_max": 2,
    "reconnect_backoff": (0.1, 0.4),
}


async def drain(lines: AsyncIterator[str], into: list[str]) -> None:
    """Collect a stream's lines (what arrived stays in ``into`` if the stream raises)."""
    async for line in lines:
        into.append(line)  # noqa: PERF401


def session(server: FakeSSHServer, creds: Credentials, **kw: object) -> NodeSession:
    return NodeSession(endpoint_for(server), creds, **{**FAST, **kw})  # type: ignore[arg-type]


@pytest.fixture
def ed25519(client_keys: dict[str, asyncssh.SSHKey]) -> Credentials:
    return key_credentials(client_keys["ssh-ed25519"])


# --- basics ---------------------------------------------------------------------------------------


async def test_run_and_reuse_one_connection(
    ssh_server: FakeSSHServer, ed25519: Credentials
) -> None:
    async with session(ssh_server, ed25519) as s:
        assert (s.connected, s.reachable) == (False, None)
        first = await s.run(["echo", "hello world"])
        second = await s.run(("printf", "%s", "x y"))
        assert first.stdout == b"hello world\n"
        assert first.ok
        assert second.stdout == b"x y"
        assert (s.connected, s.reachable) == (True, True)
        assert ssh_server.connections == 1
        assert s.execs == 2 == ssh_server.execs
        assert ssh_server.commands == ["sh -s", "sh -s"]
        assert s.bytes_read > 0
    assert not s.connected


async def test_run_with_stdin_and_exit_status(
    ssh_server: FakeSSHServer, ed25519: Credentials
) -> None:
    ssh_server.respond(
        ("crm_mon", "--output-as=xml"), stdout=b"<x/>", stderr=b"warn\n", exit_status=102
    )
    async with session(ssh_server, ed25519) as s:
        piped = await s.run(["cat"], stdin=b"\x00data\xff")
        assert piped.stdout == b"\x00data\xff"
        res = await s.run(["crm_mon", "--output-as=xml"])
        assert (res.exit_status, res.stdout, res.stderr) == (102, b"<x/>", b"warn\n")
        missing = await s.run(["crm_resource", "--list"])
        assert missing.not_found
        slow = ssh_server
        slow.respond(("drbdadm", "status"), stdout=b"a\nb\nc\n", line_delay=0.05)
        assert (await s.run(["drbdadm", "status"])).stdout == b"a\nb\nc\n"


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash", "/bin/dash"])
async def test_login_shells(ssh_server_factory: Factory, ed25519: Credentials, shell: str) -> None:
    if not Path(shell).exists():
        pytest.skip(f"{shell} not installed")
    server = await ssh_server_factory(shell=shell)
    server.respond(POLL_COMMANDS[0].argv, stdout=b"<crm/>")
    async with session(server, ed25519) as s:
        batch = await s.run_batch(POLL_COMMANDS)
    assert batch["crm_mon"].stdout == b"<crm/>"
    assert batch["drbd_status"].not_found
    assert not batch["drbd_status"].fallback_used
    assert batch["hostname"].ok


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash", "/bin/dash"])
async def test_parallel_batch_over_ssh(
    ssh_server_factory: Factory, ed25519: Credentials, shell: str
) -> None:
    """A parallel batch: one exec, the slow commands overlap, the results keep their order."""
    if not Path(shell).exists():
        pytest.skip(f"{shell} not installed")
    server = await ssh_server_factory(shell=shell)
    crm, cib = POLL_COMMANDS[0], POLL_COMMANDS[1]
    server.respond(crm.argv, stdout=b"<crm/>", delay=0.8)
    server.respond(cib.argv, stdout=b"<constraints/>", stderr=b"warn\n", exit_status=3, delay=0.8)
    batch = (crm, cib, BatchCommand(name="stdin", argv=("cat",), stdin=b"in\x00put"))
    async with session(server, ed25519) as s:
        result = await s.run_batch(batch, parallel=True)
        assert s.execs == 1
    assert list(result) == ["crm_mon", "cib_constraints", "stdin"]
    assert result["crm_mon"].stdout == b"<crm/>"
    assert (result["cib_constraints"].exit_status, result["cib_constraints"].stderr) == (
        3, b"warn\n",
    )  # fmt: skip
    assert result["stdin"].stdout == b"in\x00put"
    # side by side: the two stubs started together (in order they would be >= 0.8 s apart)
    starts = [t for t, argv in server.timed_calls if argv[0] in ("crm_mon", "cibadmin")]
    assert len(starts) == 2
    assert abs(starts[0] - starts[1]) < 0.6


async def test_one_exec_per_batch(ssh_server: FakeSSHServer, ed25519: Credentials) -> None:
    async with session(ssh_server, ed25519) as s:
        for expected in (1, 2, 3):
            result = await s.run_batch(POLL_COMMANDS)
            assert isinstance(result, BatchResult)
            assert len(result) == len(POLL_COMMANDS)
            assert ssh_server.execs == expected == s.execs
        assert result.node == "node1"
        assert result.bytes_read > 0
        assert result.duration > 0
    assert ssh_server.connections == 1


# --- host keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("host_key_type", ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"])
@pytest.mark.parametrize("client_key_type", ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"])
async def test_key_types(
    ssh_server_factory: Factory,
    client_keys: dict[str, asyncssh.SSHKey],
    host_key_type: str,
    client_key_type: str,
) -> None:
    host_key = (
        client_keys["ssh-rsa"]  # reuse a generated RSA key: generating one is slow
        if host_key_type == "ssh-rsa"
        else asyncssh.generate_private_key(host_key_type)
    )
    server = await ssh_server_factory(host_key=host_key)
    server.add_user("root", key=client_keys[client_key_type])
    async with session(server, key_credentials(client_keys[client_key_type])) as s:
        assert (await s.run(["true"])).ok


async def test_changed_host_key(ssh_server: FakeSSHServer, ed25519: Credentials) -> None:
    async with session(ssh_server, ed25519) as s:
        await s.run(["true"])
        old = ssh_server.fingerprint
        await ssh_server.restart(new_host_key=True)
        new = ssh_server.fingerprint
        assert old != new
        with pytest.raises(HostKeyError) as info:
            await s.run(["true"])
        assert info.value.expected == old
        assert info.value.actual == new
        assert old in str(info.value)
        assert new in str(info.value)
        assert info.value.host == "127.0.0.1"
        # still refused while backing off: the same error class, with both fingerprints
        with pytest.raises(HostKeyError) as again:
            await s.run(["true"])
        assert again.value.actual == new


async def test_pinned_type_missing_on_server(
    ssh_server_factory: Factory, ed25519: Credentials
) -> None:
    """The server has no key of the pinned type: refused, and we say which key it showed."""
    server = await ssh_server_factory(host_key=asyncssh.generate_private_key("ecdsa-sha2-nistp256"))
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    endpoint = NodeEndpoint(name="n", host=server.host, port=server.port, host_key=other)
    async with NodeSession(endpoint, ed25519, **FAST) as s:  # type: ignore[arg-type]
        with pytest.raises(HostKeyError) as info:
            await s.run(["true"])
    assert info.value.actual == server.fingerprint
    assert info.value.expected == host_key_fingerprint(other)


async def test_several_pinned_keys(ssh_server: FakeSSHServer, ed25519: Credentials) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    endpoint = NodeEndpoint(
        name="vip",
        host=ssh_server.host,
        port=ssh_server.port,
        host_key=f"# two nodes carry this address\n{other}\n127.0.0.1 {ssh_server.host_key_line}\n",
    )
    async with NodeSession(endpoint, ed25519, **FAST) as s:  # type: ignore[arg-type]
        assert (await s.run(["true"])).ok


async def test_fetch_host_key_matches_ssh_keygen(ssh_server: FakeSSHServer, tmp_path: Path) -> None:
    info = await fetch_host_key("127.0.0.1", ssh_server.port, timeout=5)
    assert isinstance(info, HostKeyInfo)
    assert info.key_type == "ssh-ed25519"
    assert info.public_key == ssh_server.host_key_line
    assert info.fingerprint == ssh_server.fingerprint
    assert info.to_dict() == {
        "key_type": "ssh-ed25519",
        "fingerprint": info.fingerprint,
        "public_key": info.public_key,
    }
    assert host_key_fingerprint(info.public_key) == info.fingerprint
    assert ssh_server.auth_attempts == []  # it never tried to log in
    if shutil.which("ssh-keygen"):
        pub = tmp_path / "host.pub"
        pub.write_text(info.public_key + "\n")
        out = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, check=True)
        assert out.stdout.split()[1].decode() == info.fingerprint


async def test_fetch_host_key_errors(socket_enabled: None) -> None:
    server, port = await silent_listener()
    try:
        started = time.monotonic()
        with pytest.raises(ClusterTimeoutError):
            await fetch_host_key("127.0.0.1", port, timeout=0.3)
        assert time.monotonic() - started < 2
    finally:
        server.close()
        await server.wait_closed()
    with pytest.raises(ClusterConnectionError, match="refused"):
        await fetch_host_key("127.0.0.1", port, timeout=2)


async def test_pinned_key_parsing() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    line = key.export_public_key().decode().strip()
    assert len(parse_host_key(f"{line} comment\n\n# c\nhost,1.2.3.4 {line}")) == 2
    for bad in ("", "# only a comment", "garbage", "host garbage", "ssh-ed25519 !!!"):
        with pytest.raises(ConfigError):
            parse_host_key(bad)
    assert host_key_fingerprint(f"{line}\n{line}") == ", ".join([key.get_fingerprint()] * 2)


# --- authentication -------------------------------------------------------------------------------


async def test_password_auth(ssh_server: FakeSSHServer) -> None:
    async with session(ssh_server, password_credentials()) as s:
        assert (await s.run(["id", "-un"])).ok
    assert ("admin", "password", True) in ssh_server.auth_attempts


async def test_bad_password(ssh_server: FakeSSHServer) -> None:
    async with session(ssh_server, password_credentials("wrong")) as s:
        with pytest.raises(AuthenticationError):
            await s.run(["true"])


async def test_unknown_key(
    ssh_server: FakeSSHServer, client_keys: dict[str, asyncssh.SSHKey]
) -> None:
    async with session(ssh_server, key_credentials(client_keys["ecdsa-sha2-nistp256"])) as s:
        with pytest.raises(AuthenticationError, match="authentication failed"):
            await s.run(["true"])


async def test_encrypted_key(
    ssh_server: FakeSSHServer, client_keys: dict[str, asyncssh.SSHKey]
) -> None:
    key = client_keys["ssh-ed25519"]
    text = private_key_text(key, "open sesame")
    no_pass = Credentials(username="root", private_key=text)
    wrong = Credentials(username="root", private_key=text, passphrase="nope")
    right = Credentials(username="root", private_key=text, passphrase="open sesame")
    for creds in (no_pass, wrong):
        async with session(ssh_server, creds) as s:
            with pytest.raises(AuthenticationError, match="private key"):
                await s.run(["true"])
    assert ssh_server.connections == 0  # refused locally, before any connection
    async with session(ssh_server, right) as s:
        assert (await s.run(["true"])).ok


async def test_garbage_key(ssh_server: FakeSSHServer) -> None:
    creds = Credentials(username="root", private_key="-----BEGIN NONSENSE-----\nxx\n")
    async with session(ssh_server, creds) as s:
        with pytest.raises(AuthenticationError):
            await s.run(["true"])


async def test_auth_error_repeats_while_backing_off(ssh_server: FakeSSHServer) -> None:
    async with session(
        ssh_server, password_credentials("wrong"), reconnect_backoff=(5.0, 5.0)
    ) as s:
        with pytest.raises(AuthenticationError):
            await s.run(["true"])
        attempts = len(ssh_server.auth_attempts)
        with pytest.raises(AuthenticationError):
            await s.run(["true"])
        assert len(ssh_server.auth_attempts) == attempts  # no new login attempt
        assert s.retry_in > 4


# --- timeouts, dead peers, reconnects -------------------------------------------------------------


async def test_connect_timeout_on_silent_port(socket_enabled: None, ed25519: Credentials) -> None:
    server, port = await silent_listener()
    try:
        endpoint = NodeEndpoint(name="n", host="127.0.0.1", port=port, host_key=_any_key())
        s = NodeSession(endpoint, ed25519, **{**FAST, "connect_timeout": 0.3})  # type: ignore[arg-type]
        started = time.monotonic()
        with pytest.raises(ClusterTimeoutError):
            await s.run(["true"])
        assert time.monotonic() - started < 2
        await s.close()
    finally:
        server.close()
        await server.wait_closed()


def _any_key() -> str:
    return asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()


async def test_connection_refused(socket_enabled: None, ed25519: Credentials) -> None:
    server, port = await silent_listener()
    server.close()
    await server.wait_closed()
    endpoint = NodeEndpoint(name="n", host="127.0.0.1", port=port, host_key=_any_key())
    async with NodeSession(endpoint, ed25519, **FAST) as s:  # type: ignore[arg-type]
        with pytest.raises(ClusterConnectionError, match="refused") as info:
            await s.run(["true"])
    assert not isinstance(info.value, ClusterTimeoutError)


async def test_command_timeout_keeps_connection(
    ssh_server: FakeSSHServer, ed25519: Credentials
) -> None:
    ssh_server.respond(("crm_mon",), hang=True)
    async with session(ssh_server, ed25519) as s:
        started = time.monotonic()
        with pytest.raises(ClusterTimeoutError, match="no answer within 0.3 s"):
            await s.run(["crm_mon"], timeout=0.3)
        assert time.monotonic() - started < 1.5
        assert (await s.run(["true"])).ok
    assert ssh_server.connections == 1


async def wait_called(server: FakeSSHServer, argv: tuple[str, ...], timeout: float = 10.0) -> None:
    """Wait until the stub of ``argv`` has been started on ``server`` (robust under load)."""
    deadline = time.monotonic() + timeout
    while argv not in server.calls:
        assert time.monotonic() < deadline, f"{argv} never ran"
        await asyncio.sleep(0.02)


async def test_dead_peer_detected_by_keepalive(
    ssh_server: FakeSSHServer, ed25519: Credentials
) -> None:
    """A server that stops answering mid-command is noticed in about a second, not minutes."""
    ssh_server.respond(("crm_mon",), hang=True)
    async with session(ssh_server, ed25519, command_timeout=30.0, connect_timeout=0.5) as s:
        await s.run(["true"])
        task = asyncio.ensure_future(s.run(["crm_mon"]))
        await wait_called(ssh_server, ("crm_mon",))
        ssh_server.freeze()
        started = time.monotonic()
        with pytest.raises(ClusterConnectionError) as info:
            await task
        assert not isinstance(info.value, ClusterTimeoutError)
        assert time.monotonic() - started < 5
        assert not s.connected
        assert s.reachable is False
        # while frozen, reconnecting times out (the relay accepts but never speaks)
        with pytest.raises(ClusterTimeoutError):
            await s.run(["true"])
        ssh_server.thaw()
        await asyncio.sleep(0.15)  # past the backoff
        assert (await run_soon(s, ["true"])).ok
        assert s.reachable is True


async def run_soon(s: NodeSession, argv: list[str], within: float = 10.0) -> CommandResult:
    """``s.run(argv)``, tried again after a connect timeout: the tests' 0.5 s connect timeout
    can run out on a loaded machine (CI runs tests side by side) once the server is back."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await s.run(argv)
        except ClusterTimeoutError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_idle_dead_peer_then_command(ssh_server: FakeSSHServer, ed25519: Credentials) -> None:
    """An idle connection to a frozen server: the next command fails fast, not after 30 s."""
    async with session(ssh_server, ed25519, command_timeout=30.0, connect_timeout=0.5) as s:
        await s.run(["true"])
        ssh_server.freeze()
        started = time.monotonic()
        with pytest.raises(ClusterConnectionError):
            await s.run(["true"])
        assert time.monotonic() - started < 4


async def test_reconnect_after_restart(ssh_server: FakeSSHServer, ed25519: Credentials) -> None:
    async with session(ssh_server, ed25519) as s:
        assert (await s.run(["true"])).ok
        await ssh_server.restart()
        assert (await s.run(["true"])).ok  # the dead connection is replaced transparently
        assert ssh_server.connections == 2


async def test_connection_lost_mid_command(ssh_server: FakeSSHServer, ed25519: Credentials) -> None:
    ssh_server.respond(("crm_mon",), hang=True)
    async with session(ssh_server, ed25519) as s:
        task = asyncio.ensure_future(s.run(["crm_mon"]))
        await wait_called(ssh_server, ("crm_mon",))
        await ssh_server.stop()
        with pytest.raises(ClusterConnectionError, match="connection lost"):
            await task


async def test_backoff_fails_fast(ssh_server: FakeSSHServer, ed25519: Credentials) -> None:
    async with session(ssh_server, ed25519, reconnect_backoff=(0.2, 0.5)) as s:
        await ssh_server.stop()
        with pytest.raises(ClusterConnectionError, match="refused"):
            await s.run(["true"])
        assert s.backoff == 0.2
        started = time.monotonic()
        with pytest.raises(ClusterConnectionError, match="next attempt in") as info:
            await s.run(["true"])
        assert time.monotonic() - started < 0.5
        assert "refused" in str(info.value)
        assert 0 < s.retry_in <= 0.2
        assert s.backoff == 0.2  # failing fast is not another failure
        await asyncio.sleep(0.25)
        with pytest.raises(ClusterConnectionError, match="refused"):
            await s.run(["true"])  # second real attempt
        assert s.backoff == 0.4  # doubled
        assert 0 < s.retry_in <= 0.4
        await asyncio.sleep(0.45)
        with pytest.raises(ClusterConnectionError, match="refused"):
            await s.run(["true"])
        assert s.backoff == 0.5  # capped
        await ssh_server.start()
        await asyncio.sleep(0.55)
        assert (await s.run(["true"])).ok
        assert s.retry_in == 0.0
        assert s.backoff == 0.0


async def test_reachability_logged_once(
    ssh_server: FakeSSHServer, ed25519: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hacluster.transport")
    async with session(ssh_server, ed25519, reconnect_backoff=(0.01, 0.01)) as s:
        await s.run(["true"])
        await ssh_server.stop()
        for _ in range(4):
            with pytest.raises(ClusterConnectionError):
                await s.run(["true"])
            await asyncio.sleep(0.02)
        await ssh_server.start()
        await asyncio.sleep(0.02)
        await s.run(["true"])
        await s.run(["true"])
    records = [r for r in caplog.records if r.name == "hacluster.transport"]
    down = [r for r in records if "unreachable" in r.getMessage()]
    up = [r for r in records if "reachable again" in r.getMessage()]
    assert len(down) == 1
    assert down[0].levelno == logging.WARNING
    assert len(up) == 1
    assert up[0].levelno == logging.INFO


def test_reachability_state_machine(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.reach")
    caplog.set_level(logging.INFO, logger="test.reach")
    reach = ReachabilityLog("n1", logger)
    assert reach.reachable is None
    assert not reach.mark_up()  # first success: nothing to say
    assert reach.mark_down("boom")
    assert not reach.mark_down("boom again")
    assert reach.mark_up()
    assert not reach.mark_up()
    assert ReachabilityLog("n2", logger).mark_down("first contact fails")
    assert [r.getMessage() for r in caplog.records] == [
        "Node n1 is unreachable: boom",
        "Node n1 is reachable again",
        "Node n2 is unreachable: first contact fails",
    ]


# --- concurrency ----------------------------------------------------------------------------------


async def test_all_nodes_concurrently(ssh_server_factory: Factory, ed25519: Credentials) -> None:
    a = await ssh_server_factory()
    b = await ssh_server_factory()
    c = await ssh_server_factory()
    for server in (a, b):
        server.respond(POLL_COMMANDS[0].argv, stdout=b"<ok/>", delay=0.8)
    c.freeze()  # c is dead: accepts TCP, never speaks
    endpoints = [endpoint_for(a, "a"), endpoint_for(b, "b"), endpoint_for(c, "c")]
    poll = (POLL_COMMANDS[0], POLL_COMMANDS[-1])  # crm_mon and hostname
    async with ClusterTransport(endpoints, ed25519, **FAST) as t:  # type: ignore[arg-type]
        started = time.monotonic()
        out = await t.run_batch_all(poll)
        elapsed = time.monotonic() - started
        assert isinstance(out["a"], BatchResult)
        assert isinstance(out["b"], BatchResult)
        assert out["a"]["crm_mon"].stdout == b"<ok/>"
        assert out["b"]["crm_mon"].stdout == b"<ok/>"
        assert isinstance(out["c"], ClusterTimeoutError)
        # a and b ran at the same time (one after the other, they would start >= 0.8 s apart),
        # and the dead node cost only its connect timeout
        start_a = next(t for t, argv in a.timed_calls if argv[0] == "crm_mon")
        start_b = next(t for t, argv in b.timed_calls if argv[0] == "crm_mon")
        assert abs(start_a - start_b) < 0.6
        assert elapsed < 4
        assert a.execs == 1
        assert b.execs == 1
        assert t.execs == 2
        assert t.bytes_read > 0
        assert set(t.sessions) == {"a", "b", "c"}
        assert t.session("a").name == "a"
        # next poll: the dead node fails fast (backoff), the others still answer
        started = time.monotonic()
        again = await t.run_batch_all(poll, timeout=5)
        assert time.monotonic() - started < 3
        assert isinstance(again["c"], ClusterConnectionError)
        assert isinstance(again["a"], BatchResult)


async def test_transport_config(ssh_server: FakeSSHServer, ed25519: Credentials) -> None:
    ep = endpoint_for(ssh_server, "a")
    with pytest.raises(ConfigError, match="twice"):
        ClusterTransport([ep, ep], ed25519)
    with pytest.raises(ConfigError, match="no credentials"):
        ClusterTransport([ep], {"b": ed25519})
    t = ClusterTransport([ep], {"a": ed25519}, **FAST)  # type: ignore[arg-type]
    out = await t.run_batch_all([BatchCommand(name="x", argv=("printf", "1"))])
    assert isinstance(out["a"], BatchResult)
    assert out["a"]["x"].stdout == b"1"
    assert not t.closed
    assert not t.session("a").closed
    await t.close()
    assert t.closed  # the controller stops waiting for a closed client
    assert t.session("a").closed


CRM_MON = POLL_COMMANDS[0].argv


# --- sudo -----------------------------------------------------------------------------------------


async def test_sudo_prefix(
    ssh_server: FakeSSHServer, client_keys: dict[str, asyncssh.SSHKey]
) -> None:
    ssh_server.respond(CRM_MON, stdout=b"<x/>")
    creds = key_credentials(client_keys["ssh-ed25519"], use_sudo=True)
    async with session(ssh_server, creds) as s:
        batch = await s.run_batch(POLL_COMMANDS)
        assert batch["crm_mon"].stdout == b"<x/>"
    sudo = ssh_server.calls_of("sudo")
    assert ("sudo", "-n", "--", *CRM_MON) in sudo
    assert ("sudo", "-n", "--", "dmesg") in sudo
    assert not any("uname" in " ".join(c) for c in sudo)  # unprivileged command
    assert CRM_MON in ssh_server.calls  # the program itself ran


async def test_no_sudo_without_use_sudo(ssh_server: FakeSSHServer, ed25519: Credentials) -> None:
    async with session(ssh_server, ed25519) as s:
        await s.run_batch(POLL_COMMANDS)
    assert ssh_server.calls_of("sudo") == []
    assert CRM_MON in ssh_server.calls


async def test_sudo_wants_password(
    ssh_server: FakeSSHServer, client_keys: dict[str, asyncssh.SSHKey]
) -> None:
    ssh_server.sudo_mode = "password"
    creds = key_credentials(client_keys["ssh-ed25519"], use_sudo=True)
    async with session(ssh_server, creds) as s:
        with pytest.raises(PermissionDeniedError, match="sudo"):
            await s.run_batch(POLL_COMMANDS)
        with pytest.raises(PermissionDeniedError):
            await s.run(["crm_resource", "--resource", "r", "--clear"])


async def test_sudo_partly_allowed(
    ssh_server: FakeSSHServer, client_keys: dict[str, asyncssh.SSHKey]
) -> None:
    ssh_server.sudo_deny = {"dmesg"}
    ssh_server.respond(CRM_MON, stdout=b"<x/>")
    creds = key_credentials(client_keys["ssh-ed25519"], use_sudo=True)
    async with session(ssh_server, creds) as s:
        batch = await s.run_batch(POLL_COMMANDS)
    assert batch["crm_mon"].ok
    assert batch["kernel_log"].sudo_denied
    with pytest.raises(PermissionDeniedError):
        batch["kernel_log"].check()


# --- broken remote side ---------------------------------------------------------------------------


async def test_remote_shell_failure(ssh_server: FakeSSHServer, ed25519: Credentials) -> None:
    ssh_server.respond_command("sh -s", stderr=b"sh: not found\n", exit_status=127)
    async with session(ssh_server, ed25519) as s:
        with pytest.raises(CommandError, match="exit status 127: sh: not found") as info:
            await s.run(["true"])
    assert info.value.exit_status == 127


async def test_garbage_output(ssh_server: FakeSSHServer, ed25519: Credentials) -> None:
    ssh_server.respond_command("sh -s", stdout=b"this is not a batch\n")
    async with session(ssh_server, ed25519) as s:
        with pytest.raises(ParseError):
            await s.run(["true"])


async def test_no_exit_status(ssh_server: FakeSSHServer, ed25519: Credentials) -> None:
    ssh_server.respond_command("sh -s", Response(exit_status=None))
    async with session(ssh_server, ed25519) as s:
        with pytest.raises(CommandError, match="without an exit status"):
            await s.run(["true"])
        assert s.connected


# --- streams --------------------------------------------------------------------------------------


async def test_stream_lines(ssh_server: FakeSSHServer, ed25519: Credentials) -> None:
    argv = ("drbdsetup", "events2", "--timestamps")
    ssh_server.respond(
        argv, stdout=b"exists resource name:r0\nexists -\r\nchange x\n", line_delay=0.02
    )
    async with session(ssh_server, ed25519) as s:
        lines = [line async for line in s.stream_lines(argv)]
        assert lines == ["exists resource name:r0", "exists -", "change x"]
        assert s.execs == 1


async def test_stream_failures(
    ssh_server: FakeSSHServer, client_keys: dict[str, asyncssh.SSHKey]
) -> None:
    ssh_server.respond(
        ("drbdsetup", "events2"), stdout=b"partial\n", stderr=b"boom\n", exit_status=20
    )
    async with session(ssh_server, key_credentials(client_keys["ssh-ed25519"])) as s:
        got: list[str] = []
        with pytest.raises(CommandError, match="boom"):
            await drain(s.stream_lines(("drbdsetup", "events2")), got)
        assert got == ["partial"]
        with pytest.raises(CommandError):
            async for _ in s.stream_lines(("no-such-tool",)):
                pass
    ssh_server.sudo_mode = "password"
    async with session(ssh_server, key_credentials(client_keys["ssh-ed25519"], use_sudo=True)) as s:
        with pytest.raises(PermissionDeniedError):
            async for _ in s.stream_lines(("drbdsetup", "events2")):
                pass


async def test_stream_ends_cleanly_on_close(
    ssh_server: FakeSSHServer, ed25519: Credentials
) -> None:
    argv = ("drbdsetup", "events2", "--timestamps")
    ssh_server.respond(argv, stdout=b"one\n" + b"x\n" * 1000, line_delay=0.05)
    s = session(ssh_server, ed25519)
    got: list[str] = []

    task = asyncio.ensure_future(drain(s.stream_lines(argv), got))
    while not got:
        await asyncio.sleep(0.01)
    await s.close()
    await asyncio.wait_for(task, 3)  # ends without an exception
    assert got[0] == "one"
    with pytest.raises(ClusterConnectionError, match="closed"):
        await s.run(["true"])


async def test_stream_early_exit_by_consumer(
    ssh_server: FakeSSHServer, ed25519: Credentials
) -> None:
    argv = ("drbdsetup", "events2")
    ssh_server.respond(argv, stdout=b"a\nb\n", hang=False, line_delay=0.5)
    async with session(ssh_server, ed25519) as s:
        async with contextlib.aclosing(s.stream_lines(argv)) as lines:
            async for line in lines:
                assert line == "a"
                break
        assert (await s.run(["true"])).ok  # the connection is still fine


async def test_stream_dead_peer(ssh_server: FakeSSHServer, ed25519: Credentials) -> None:
    argv = ("drbdsetup", "events2")
    ssh_server.respond(argv, stdout=b"first\n" + b"x\n" * 100, line_delay=1.0)
    async with session(ssh_server, ed25519) as s:
        got: list[str] = []
        task = asyncio.ensure_future(drain(s.stream_lines(argv), got))
        while not got:
            await asyncio.sleep(0.01)
        ssh_server.freeze()
        started = time.monotonic()
        with pytest.raises(ClusterConnectionError):
            await task
        assert got == ["first"]
        assert time.monotonic() - started < 3


# --- secrets --------------------------------------------------------------------------------------


async def test_secrets_never_logged(
    ssh_server: FakeSSHServer,
    client_keys: dict[str, asyncssh.SSHKey],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    passphrase = "PASSPHRASE-d4f2"
    key_text = private_key_text(client_keys["ssh-ed25519"], passphrase)
    key_body = key_text.splitlines()[1]
    good_key = Credentials(username="root", private_key=key_text, passphrase=passphrase)
    bad_pass = Credentials(username="admin", password=PASSWORD + "-wrong")
    good_pass = password_credentials()
    errors: list[HAClusterError] = []
    for creds in (good_key, bad_pass, good_pass):
        async with session(ssh_server, creds) as s:
            try:
                await s.run(["true"])
            except HAClusterError as err:
                errors.append(err)
            text = repr(s) + str(s)
            assert all(secret not in text for secret in (passphrase, PASSWORD, key_body))
    assert len(errors) == 1
    wrong_pp = Credentials(username="root", private_key=key_text, passphrase="WRONG-PP-77")
    async with session(ssh_server, wrong_pp) as s:
        with pytest.raises(AuthenticationError) as info:
            await s.run(["true"])
    errors.append(info.value)
    for creds in (good_key, bad_pass, wrong_pp):
        shown = repr(creds) + str(creds)
        assert ("<set>" in shown and "root" in shown) or "admin" in shown
        for secret in (passphrase, PASSWORD, key_body, "WRONG-PP-77", "BEGIN"):
            assert secret not in shown
    logged = caplog.text + "".join(str(e) for e in errors)
    for secret in (passphrase, PASSWORD, key_body, "WRONG-PP-77"):
        assert secret not in logged


def test_known_hosts_none_never_in_source() -> None:
    core = Path(transport_mod.__file__).parent
    for path in core.rglob("*.py"):
        text = path.read_text().replace(" ", "")
        assert "known_hosts=None" not in text, path


# --- configuration errors -------------------------------------------------------------------------


def test_endpoint_and_credentials_validation() -> None:
    key = _any_key()
    for kwargs in (
        {"name": "", "host": "h", "host_key": key},
        {"name": "n", "host": "", "host_key": key},
        {"name": "n", "host": "a b", "host_key": key},
        {"name": "n", "host": "h", "port": 0, "host_key": key},
        {"name": "n", "host": "h", "port": 70000, "host_key": key},
        {"name": "n", "host": "h", "host_key": "  "},
    ):
        with pytest.raises(ConfigError):
            NodeEndpoint(**kwargs)
    with pytest.raises(ConfigError):
        Credentials(username="", password="x")
    with pytest.raises(ConfigError):
        Credentials(username="root")
    agent = Credentials(username="root", agent_path="/run/agent.sock")
    assert "agent_path='/run/agent.sock'" in repr(agent)
    assert "password=<unset>" in repr(agent)


def test_session_validation(ed25519: Credentials) -> None:
    ep = NodeEndpoint(name="n", host="h", host_key=_any_key())
    for kwargs in (
        {"connect_timeout": 0},
        {"keepalive_count_max": 0},
        {"reconnect_backoff": (0, 1)},
        {"reconnect_backoff": (2, 1)},
    ):
        with pytest.raises(ConfigError):
            NodeSession(ep, ed25519, **kwargs)
    with pytest.raises(ConfigError):
        NodeSession(NodeEndpoint(name="n", host="h", host_key="not a key"), ed25519)
    s = NodeSession(ep, ed25519)
    assert s.name == "n"
    assert s.retry_in == 0.0
    assert "n" in repr(s)


# --- rarer paths ----------------------------------------------------------------------------------


async def test_concurrent_first_calls_share_one_connection(
    ssh_server: FakeSSHServer, ed25519: Credentials
) -> None:
    async with session(ssh_server, ed25519) as s:
        results = await asyncio.gather(*(s.run(["printf", str(i)]) for i in range(3)))
    assert [r.stdout for r in results] == [b"0", b"1", b"2"]
    assert ssh_server.connections == 1


async def test_stale_connection_is_replaced_once(
    ssh_server: FakeSSHServer, ed25519: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection died but we did not know yet: nothing ran, so reconnect and go on."""
    original = NodeSession._create_process
    calls = 0

    async def flaky(conn: asyncssh.SSHClientConnection) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            conn.abort()
            await asyncio.sleep(0.05)
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, "SSH connection closed")
        return await original(conn)

    monkeypatch.setattr(NodeSession, "_create_process", staticmethod(flaky))
    async with session(ssh_server, ed25519) as s:
        assert (await s.run(["true"])).ok
        assert (await s.run(["printf", "again"])).stdout == b"again"
    assert ssh_server.connections == 2
    assert calls == 3


async def test_channel_refused_on_live_connection(
    ssh_server: FakeSSHServer, ed25519: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(conn: asyncssh.SSHClientConnection) -> object:
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, "no sessions")

    async with session(ssh_server, ed25519) as s:
        await s.run(["true"])
        monkeypatch.setattr(NodeSession, "_create_process", staticmethod(refuse))
        with pytest.raises(ClusterConnectionError, match="no sessions"):
            await s.run(["true"])
        with pytest.raises(ClusterConnectionError):
            async for _ in s.stream_lines(("drbdsetup", "events2")):
                pass


async def test_timeout_while_opening_channel(
    ssh_server: FakeSSHServer, ed25519: Credentials
) -> None:
    async with session(ssh_server, ed25519, keepalive_interval=30.0, connect_timeout=0.3) as s:
        await s.run(["true"])
        ssh_server.freeze()
        with pytest.raises(ClusterTimeoutError, match="no answer"):
            await s.run(["true"], timeout=0.3)
        with pytest.raises(ClusterTimeoutError, match="cannot open a channel"):
            async for _ in s.stream_lines(("drbdsetup", "events2")):
                pass
        ssh_server.thaw()


async def test_not_an_ssh_server(socket_enabled: None, ed25519: Credentials) -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        endpoint = NodeEndpoint(name="n", host="127.0.0.1", port=port, host_key=_any_key())
        async with NodeSession(endpoint, ed25519, **FAST) as s:  # type: ignore[arg-type]
            with pytest.raises(ClusterConnectionError) as info:
                await s.run(["true"])
        assert not isinstance(info.value, ClusterTimeoutError)
        with pytest.raises(ClusterConnectionError):
            await fetch_host_key("127.0.0.1", port, timeout=2)
    finally:
        server.close()
        await server.wait_closed()


async def test_fetch_host_key_without_key(
    ssh_server: FakeSSHServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        transport_mod._KeyCapturingClient, "validate_host_public_key", lambda *a: False
    )
    with pytest.raises(ClusterConnectionError, match="no usable host key"):
        await fetch_host_key("127.0.0.1", ssh_server.port, timeout=2)


def test_map_connect_error_fallbacks() -> None:
    err = transport_mod._map_connect_error(OSError("no route to host"), "n (h:22)")
    assert type(err) is ClusterConnectionError
    assert "no route to host" in str(err)
    assert "ValueError" in str(transport_mod._map_connect_error(ValueError(), "n"))
    lost = transport_mod._map_connect_error(asyncssh.ConnectionLost("reset by peer"), "n")
    assert "disconnected: reset by peer" in str(lost)


async def test_connect_reads_no_local_ssh_setup(
    ssh_server: FakeSSHServer,
    client_keys: dict[str, asyncssh.SSHKey],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No ~/.ssh/config, known_hosts, default keys or agent: nothing under HOME is touched."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    for name in ("config", "known_hosts", "id_ed25519", "id_rsa", "ca-bundle.crt"):
        (home / ".ssh" / name).write_text("Host *\n  User nobody\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "agent.sock"))
    touched: list[str] = []
    _AUDIT["sink"] = touched
    s = session(ssh_server, key_credentials(client_keys["ssh-ed25519"]))
    try:
        await s._load_client_key()
        _AUDIT["active"] = True
        assert (await s.run(["true"])).ok
    finally:
        _AUDIT["active"] = False
        await s.close()
    assert not [t for t in touched if str(tmp_path) in t]


_AUDIT: dict[str, Any] = {"active": False, "sink": []}
_AUDITED = ("open", "os.stat", "os.access", "os.listdir", "os.scandir", "socket.connect")


def _audit_hook(event: str, args: tuple[object, ...]) -> None:
    if _AUDIT["active"] and event in _AUDITED:
        _AUDIT["sink"].append(f"{event} {args!r}")


sys.addaudithook(_audit_hook)


@pytest.mark.skipif(not shutil.which("ssh-agent"), reason="ssh-agent not installed")
async def test_agent_only_when_named(
    ssh_server: FakeSSHServer, client_keys: dict[str, asyncssh.SSHKey], tmp_path: Path
) -> None:
    # the Home Assistant test plugin only allows TCP to 127.0.0.1; the agent is a unix socket
    pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    sock = tmp_path / "agent.sock"
    keyfile = tmp_path / "id"
    keyfile.write_text(private_key_text(client_keys["ssh-ed25519"]))
    keyfile.chmod(0o600)
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            if sock.exists():
                break
            await asyncio.sleep(0.02)
        env = {"SSH_AUTH_SOCK": str(sock), "PATH": "/usr/bin:/bin"}
        subprocess.run(["ssh-add", "-q", str(keyfile)], env=env, check=True, capture_output=True)
        creds = Credentials(username="root", agent_path=str(sock))
        async with session(ssh_server, creds) as s:
            assert (await s.run(["true"])).ok
        bad = Credentials(username="root", agent_path=str(tmp_path / "nowhere.sock"))
        async with session(ssh_server, bad) as s:
            with pytest.raises(AuthenticationError, match="ssh-agent"):
                await s.run(["true"])
    finally:
        agent.terminate()
        agent.wait(5)
