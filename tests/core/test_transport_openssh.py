"""The transport against a real OpenSSH sshd on 127.0.0.1 (root's login shell runs the scripts).

sshd runs in a private mount namespace with its own tmpfs ``/run`` (for ``/run/sshd``), so the
host is not touched. Skipped unless we are root and ``sshd``, ``unshare`` and ``ssh-keygen`` exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
import shutil
import socket
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from hacluster.commands import POLL_COMMANDS, BatchCommand
from hacluster.errors import HostKeyError
from hacluster.transport import Credentials, NodeEndpoint, NodeSession, fetch_host_key

if TYPE_CHECKING:
    from collections.abc import Iterator

SSHD = "/usr/sbin/sshd"
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0
    or not Path(SSHD).exists()
    or not shutil.which("unshare")
    or not shutil.which("ssh-keygen"),
    reason="needs root, OpenSSH sshd, unshare and ssh-keygen",
)


class OpenSSHServer:
    """A throwaway sshd (its own host key, its own authorized_keys)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for name in ("hostkey", "client"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True
            )
        (root / "authorized_keys").write_text((root / "client.pub").read_text())
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        (root / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {root}/hostkey\n"
            f"AuthorizedKeysFile {root}/authorized_keys\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            "StrictModes no\nPidFile none\nLogLevel ERROR\n"
        )
        self.log = (root / "sshd.log").open("wb")
        self.proc = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                'mount -t tmpfs tmpfs /run && mkdir -p /run/sshd && exec "$0" -D -e -f "$1"',
                SSHD,
                str(root / "sshd_config"),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                break
            if self.proc.poll() is not None:
                raise RuntimeError((root / "sshd.log").read_text())
            time.sleep(0.05)
        self.host_key = (root / "hostkey.pub").read_text().split()
        self.client_key = (root / "client").read_text()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def openssh(socket_enabled: None, tmp_path: Path) -> Iterator[OpenSSHServer]:
    server = OpenSSHServer(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def _endpoint(server: OpenSSHServer, host_key: str | None = None) -> NodeEndpoint:
    return NodeEndpoint(
        name="real",
        host="127.0.0.1",
        port=server.port,
        host_key=host_key or " ".join(server.host_key[:2]),
    )


async def test_fetch_host_key_from_openssh(openssh: OpenSSHServer) -> None:
    info = await fetch_host_key("127.0.0.1", openssh.port, timeout=5)
    expected = subprocess.run(
        ["ssh-keygen", "-lf", str(openssh.root / "hostkey.pub")], capture_output=True, check=True
    ).stdout.split()[1]
    assert info.fingerprint == expected.decode()
    assert info.public_key == " ".join(openssh.host_key[:2])


async def test_batch_through_openssh(openssh: OpenSSHServer) -> None:
    creds = Credentials(username="root", private_key=openssh.client_key)
    async with NodeSession(_endpoint(openssh), creds, connect_timeout=5) as s:
        batch = await s.run_batch(
            (*POLL_COMMANDS, BatchCommand(name="quoted", argv=("printf", "%s", "$(x) 'y' `z`")))
        )
        assert batch["hostname"].text.strip() == os.uname().nodename
        assert batch["quoted"].stdout == b"$(x) 'y' `z`"
        assert s.execs == 1


async def test_stream_killed_on_close_through_openssh(openssh: OpenSSHServer) -> None:
    """Closing a stream kills the remote command (the script watches its stdin)."""
    creds = Credentials(username="root", private_key=openssh.client_key)
    marker = "31.4159"
    async with NodeSession(_endpoint(openssh), creds, connect_timeout=5) as s:
        lines = s.stream_lines(("sh", "-c", f"echo ready; exec sleep {marker}"))
        async with contextlib.aclosing(lines):
            assert await anext(lines) == "ready"
            assert _processes(marker)
    for _ in range(50):
        if not _processes(marker):
            break
        await asyncio.sleep(0.05)
    assert not _processes(marker)


async def test_wrong_pinned_key_against_openssh(openssh: OpenSSHServer, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    creds = Credentials(username="root", private_key=openssh.client_key)
    endpoint = _endpoint(openssh, (tmp_path / "other.pub").read_text())
    async with NodeSession(endpoint, creds, connect_timeout=5) as s:
        with pytest.raises(HostKeyError) as info:
            await s.run(["true"])
    assert info.value.actual == (await fetch_host_key("127.0.0.1", openssh.port)).fingerprint


def _processes(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if f"sleep\0{marker}".encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found
