"""The ``hacluster`` command: parse captured outputs, read a live (fake) cluster, exit codes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import json
from pathlib import Path
import subprocess
import sys

from conftest import private_key_text
import pytest
from sshserver import FakeSSHServer
from test_client import HEALTHY, serve_node

from hacluster import cli
from hacluster.errors import AuthenticationError, HostKeyError

FIXTURES = Path(__file__).parent / "fixtures"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command in-process; return (exit code, stdout, stderr)."""
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_parse_crm_mon_with_cib(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys,
        "parse",
        "crm-mon",
        str(FIXTURES / "pacemaker/move.xml"),
        "--cib",
        str(FIXTURES / "pacemaker/move.constraints.xml"),
    )
    assert code == 0
    data = json.loads(out)
    assert data["stack_running"] is True
    assert [c["kind"] for c in data["move_constraints"]] == ["prefer"]
    assert data["resources"]["g_home-assistant"]["kind"] == "group"


def test_parse_crm_mon_stack_down_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "parse", "crm-mon", str(FIXTURES / "pacemaker/stack-down.xml"))
    assert code == 0
    assert json.loads(out)["stack_running"] is False


def test_parse_drbd_status_with_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys,
        "parse",
        "drbd-status",
        str(FIXTURES / "drbd/status-json-9.22-split-brain-ha-0.json"),
        "--events2",
        str(FIXTURES / "drbd/events2-9.22-split-brain.txt"),
        "--kernel-log",
        str(FIXTURES / "drbd/kernel-dmesg-split-brain-ha-0.txt"),
    )
    assert code == 0
    res = json.loads(out)["resources"]["home-assistant"]
    assert res["split_brain"] is True
    assert res["split_brain_evidence"]


def test_parse_drbd_text_and_corosync(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "parse", "drbd-status", str(FIXTURES / "drbd/status-text-9.22-disk-failed.txt")
    )
    assert code == 0
    assert json.loads(out)["resources"]
    code, out, _ = run_cli(
        capsys,
        "parse",
        "corosync-quorum",
        str(FIXTURES / "corosync/quorumtool-3.1.7-two-node-ha-0.txt"),
    )
    assert code == 0
    assert json.loads(out)["quorate"] is True
    code, out, _ = run_cli(
        capsys,
        "parse",
        "corosync-links",
        str(FIXTURES / "corosync/cfgtool-3.1.7-two-node-ha-0.txt"),
    )
    assert code == 0
    assert json.loads(out)["links"]


def test_errors_map_to_one_line_and_distinct_exit_codes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<crm_mon")
    code, out, err = run_cli(capsys, "parse", "crm-mon", str(bad))
    assert code == 10
    assert out == ""
    assert err.startswith("hacluster: crm_mon: ")
    assert err.count("\n") == 1
    code, _, err = run_cli(capsys, "parse", "crm-mon", str(tmp_path / "missing.xml"))
    assert code == 2
    assert "cannot read" in err


def test_exit_codes_are_distinct() -> None:
    from hacluster import errors

    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.HAClusterError)
    ]
    codes = [c.exit_code for c in classes]
    assert len(codes) == len(set(codes))
    assert cli.CliError.exit_code not in codes
    assert 0 not in codes


def test_known_host_key_lookup() -> None:
    known = (
        b"# comment\n\n|1|hashed|x ssh-ed25519 AAAAhashed\nbroken-line\n"
        b"ha-0,198.18.0.30 ssh-ed25519 AAAAkey0 comment\n[127.0.0.1]:2222 ssh-rsa AAAAkey1\n"
    )
    assert cli.known_host_key(known, "198.18.0.30") == "ssh-ed25519 AAAAkey0"
    assert cli.known_host_key(known, "127.0.0.1", 2222) == "ssh-rsa AAAAkey1"
    with pytest.raises(cli.CliError, match="no host key for 10.0.0.1"):
        cli.known_host_key(known, "10.0.0.1")


@pytest.fixture
async def live(
    ssh_server_factory: Callable[..., Awaitable[FakeSSHServer]],
    client_keys: dict[str, object],
    tmp_path: Path,
) -> tuple[list[str], dict[str, FakeSSHServer]]:
    """Two fake nodes plus the key and known_hosts files the command needs."""
    servers = {name: await ssh_server_factory() for name in ("ha-0", "ha-1")}
    for name, server in servers.items():
        serve_node(server, HEALTHY[name])
    key = tmp_path / "id_ed25519"
    key.write_text(private_key_text(client_keys["ssh-ed25519"]))  # type: ignore[arg-type]
    known = tmp_path / "known_hosts"
    known.write_text("".join(f"[127.0.0.1]:{s.port} {s.host_key_line}\n" for s in servers.values()))
    argv = ["--user", "root", "--key", str(key), "--known-hosts", str(known)]
    return argv, servers


async def _main_in_thread(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(cli.main, argv)


async def test_status_human_and_json(
    live: tuple[list[str], dict[str, FakeSSHServer]], capsys: pytest.CaptureFixture[str]
) -> None:
    argv, servers = live
    (port0, port1) = (servers["ha-0"].port, servers["ha-1"].port)
    # both fake nodes listen on 127.0.0.1 with different ports; the command takes one --port,
    # so read one node at a time
    code = await _main_in_thread(
        ["status", "--host", "ha-0=127.0.0.1", "--port", str(port0), *argv]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Cluster ha_cluster: DC ha-0 (with quorum)" in out
    assert "fencing disabled" in out
    assert "g_home-assistant" in out
    assert "drbd home-assistant: Primary UpToDate; peers: ha-1 Connected/Secondary" in out
    code = await _main_in_thread(
        ["status", "--host", "ha-1=127.0.0.1", "--port", str(port1), "--json", *argv]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["nodes"]["ha-1"]["reachable"] is True
    assert data["pacemaker"]["dc"] == "ha-0"


async def test_status_unreachable_and_host_key_mismatch(
    live: tuple[list[str], dict[str, FakeSSHServer]], capsys: pytest.CaptureFixture[str]
) -> None:
    argv, servers = live
    server = servers["ha-0"]
    await server.restart(new_host_key=True)
    code = await _main_in_thread(
        ["status", "--host", "127.0.0.1", "--port", str(server.port), *argv]
    )
    assert code == HostKeyError.exit_code
    assert "no node answered" in capsys.readouterr().err
    await servers["ha-1"].stop()
    code = await _main_in_thread(
        ["status", "--host", "127.0.0.1", "--port", str(servers["ha-1"].port), *argv]
    )
    assert code in {3, 4}


async def test_status_with_password(
    live: tuple[list[str], dict[str, FakeSSHServer]],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    argv, servers = live
    pw = tmp_path / "pw"
    pw.write_text("wrong\n")
    known = argv[argv.index("--known-hosts") + 1]
    port = str(servers["ha-0"].port)
    code = await _main_in_thread(
        [
            "status",
            "--host",
            "127.0.0.1",
            "--port",
            port,
            "--user",
            "admin",
            "--password-file",
            str(pw),
            "--known-hosts",
            known,
        ]
    )
    assert code == AuthenticationError.exit_code
    capsys.readouterr()


def test_console_script_module_runs() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hacluster.cli",
            "parse",
            "corosync-quorum",
            str(FIXTURES / "corosync/quorumtool-3.1.7-two-node-ha-0.txt"),
        ],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["quorate"] is True


def test_provision_is_wired_into_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    example = Path(__file__).parents[2] / "scripts/examples/reference-cluster.yaml"
    code, out, err = run_cli(capsys, "provision", "render", str(tmp_path), "--config", str(example))
    assert code == 0, err
    assert "cluster_name: ha_cluster" in (tmp_path / "corosync.conf").read_text()
    assert (tmp_path / "home-assistant.res").is_file()
    assert "fencing is disabled" in err
