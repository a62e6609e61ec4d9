"""``hacluster provision`` on the command line: render, plan, apply, status, host keys, SSH options.

The SSH sessions are replaced by :mod:`provision_fake` nodes (``open_sessions`` is patched), so
the command line runs end to end without a network; host keys come from real known_hosts files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import socket

import asyncssh
from provision_fake import FakeCluster, two_nodes
import pytest

from hacluster.client import ClusterSnapshot, NodeReport
from hacluster.errors import ConfigError
from hacluster.provision import cli as provision_cli, load_config_file
from hacluster.provision.checks import AUTHKEY_PATH
from hacluster.provision.cli import add_provision_parser, main, render_files, run_provision
from hacluster.provision.connect import AccessOptions, build_access, resolve_path
from hacluster.provision.status import home_assistant_values
from hacluster.render import render_cib_crm, render_cib_xml, render_corosync_conf

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_YAML = ROOT / "scripts" / "examples" / "reference-cluster.yaml"
LAB_YAML = ROOT / "scripts" / "examples" / "lab-cluster.yaml"


@pytest.fixture(scope="module")
def host_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
def setup(tmp_path: Path, host_key: asyncssh.SSHKey) -> Path:
    """A description of the reference cluster with a key file and a known_hosts file."""
    client = asyncssh.generate_private_key("ssh-ed25519")
    (tmp_path / "id").write_bytes(client.export_private_key("openssh"))
    public = host_key.export_public_key("openssh").decode().strip()
    (tmp_path / "known_hosts").write_text(
        f"192.168.222.30 {public}\n192.168.222.31,ha-1 {public}\n"
    )
    text = REFERENCE_YAML.read_text().replace(
        "      port: 22\n",
        "      port: 22\n      key_file: id\n      known_hosts: known_hosts\n",
    )
    (tmp_path / "cluster.yaml").write_text(text)
    return tmp_path / "cluster.yaml"


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    """Fake nodes instead of SSH sessions for every command."""
    fake = two_nodes()
    for node in fake.nodes.values():
        node.files[AUTHKEY_PATH] = b"k" * 256
        node.packages["docker.io"] = "20.10.24"
    monkeypatch.setattr(provision_cli, "open_sessions", lambda access, options: fake.nodes)
    return fake


def test_parser_wiring() -> None:
    parser = argparse.ArgumentParser(prog="hacluster")
    sub = parser.add_subparsers(dest="command", required=True)
    add_provision_parser(sub)
    args = parser.parse_args(
        ["provision", "apply", "-c", "x.yaml", "--wipe-disk", "ha-0:/dev/sdb", "--wipe-disk",
         "ha-1:/dev/sdb", "--replace-cluster", "debian", "--dry-run", "--timeout", "60"]
    )  # fmt: skip
    assert args.command == "provision"
    assert args.provision_command == "apply"
    assert args.wipe_disk == ["ha-0:/dev/sdb", "ha-1:/dev/sdb"]
    assert args.replace_cluster == ["debian"]
    assert args.dry_run
    assert args.timeout == 60.0
    with pytest.raises(SystemExit):
        parser.parse_args(["provision", "apply", "--yes", "-c", "x"])  # there is no --yes


def test_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["provision", "render", "--config", str(LAB_YAML), str(tmp_path / "out")]) == 0
    cfg = load_config_file(LAB_YAML)
    out = tmp_path / "out"
    assert (out / "corosync.conf").read_text() == render_corosync_conf(cfg)
    assert (out / "cib.crm").read_text() == render_cib_crm(cfg)
    assert (out / "cib.xml").read_text() == render_cib_xml(cfg)
    assert (out / "home-assistant.res").exists()
    captured = capsys.readouterr()
    assert f"wrote {out / 'cib.xml'}" in captured.out
    assert "warning: stonith.enabled" in captured.err
    assert [p.name for p in render_files(cfg, out)] == [
        "corosync.conf",
        "home-assistant.res",
        "cib.crm",
        "cib.xml",
    ]


def test_errors_become_messages_and_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: Path
) -> None:
    assert main(["provision", "plan", "--config", str(tmp_path / "nope.yaml")]) == 15
    assert "cannot read the cluster description" in capsys.readouterr().err
    assert main(["provision", "plan", "-c", str(setup), "--wipe-disk", "ha-0"]) == 15
    assert "--wipe-disk 'ha-0': write NODE:DISK" in capsys.readouterr().err
    assert main(["provision", "plan", "-c", str(setup), "--passphrase-file", "/nonexistent"]) == 15


def test_plan_and_apply_end_to_end(
    setup: Path, cluster: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["provision", "plan", "-c", str(setup)]) == 0
    out = capsys.readouterr().out
    assert "apply would run 15 step(s)." in out
    assert main(["provision", "plan", "-c", str(setup), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["cluster"] == "ha_cluster"
    assert [s["kind"] for s in doc["steps"]][:2] == ["write_file", "write_file"]
    assert main(["provision", "apply", "-c", str(setup), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Dry run: nothing is changed." in out
    assert not cluster["ha-0"].metadata
    assert main(["provision", "apply", "-c", str(setup)]) == 0
    out = capsys.readouterr().out
    assert "Plan for cluster ha_cluster: 15 step(s), 0 destructive." in out
    assert "Applied 15 steps in" in out
    assert f"Next: scripts/provision status --config {setup}" in out
    assert cluster.configured()
    assert cluster["ha-0"].closed
    assert main(["provision", "apply", "-c", str(setup)]) == 0
    assert "Nothing to do" in capsys.readouterr().out


def test_plan_refusal_exit_code(
    setup: Path, cluster: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster["ha-1"].signatures = ["ext4"]
    assert main(["provision", "plan", "-c", str(setup)]) == 13
    assert "needs --wipe-disk ha-1:/dev/sdb" in capsys.readouterr().out
    assert main(["provision", "plan", "-c", str(setup), "--wipe-disk", "ha-1:/dev/sdb"]) == 0
    assert main(["provision", "apply", "-c", str(setup)]) == 13
    err = capsys.readouterr().err
    assert "hacluster provision: refusing to run destructive steps" in err
    assert "--wipe-disk ha-1:/dev/sdb" in err
    assert cluster["ha-1"].signatures == ["ext4"]


def test_status_prints_the_home_assistant_values(
    setup: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    host_key: asyncssh.SSHKey,
) -> None:
    async def poll(access: object) -> ClusterSnapshot:
        reports = tuple(
            NodeReport(name=n, host=h, reachable=True)
            for n, h in (("ha-0", "192.168.222.30"), ("ha-1", "192.168.222.31"))
        )
        return ClusterSnapshot(
            nodes=reports,
            pacemaker=None,
            view_from=None,
            partitioned=False,
            split_brain={},
            polled_at=0.0,
        )

    monkeypatch.setattr(provision_cli, "poll_cluster", poll)
    assert main(["provision", "status", "-c", str(setup)]) == 0
    out = capsys.readouterr().out
    fingerprint = host_key.get_fingerprint("sha256")
    assert "Cluster: stack not running on any reachable node" in out
    assert '"Pacemaker & DRBD Cluster"' in out
    assert "  Host:      192.168.222.30   (a node's own address, not the virtual IP" in out
    assert "  SSH port:  22" in out
    assert "  Username:  root" in out
    assert f"    ha-1         192.168.222.31:22  ssh-ed25519  {fingerprint}" in out
    assert "paste the private key in id (the whole file)" in out
    assert "  Use sudo:  off" in out


def test_home_assistant_values_with_sudo(setup: Path) -> None:
    cfg = load_config_file(setup)
    from dataclasses import replace

    nodes = tuple(replace(n, ssh=replace(n.ssh, user="admin")) for n in cfg.nodes)
    cfg = replace(cfg, nodes=nodes)
    access, unpinned = build_access(cfg, AccessOptions(config_dir=setup.parent))
    assert unpinned == []
    assert access["ha-0"][1].use_sudo
    lines = home_assistant_values(cfg, access)
    assert "  Username:  admin" in lines
    assert "  Use sudo:  on   (needs a passwordless sudoers rule)" in lines
    lines = home_assistant_values(cfg, access, reachable=("ha-1",))
    assert lines[1].startswith("  Host:      192.168.222.31   ")
    assert (
        "  Log in with: Private key; paste the private key you log in with (the whole file)"
        in lines
    )


# --------------------------------------------------------------------------------------------
# host keys and credentials
# --------------------------------------------------------------------------------------------


def test_resolve_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "beside").write_text("x")
    monkeypatch.chdir(ROOT)
    assert resolve_path("/abs/file", tmp_path) == Path("/abs/file")
    assert resolve_path("beside", tmp_path) == tmp_path / "beside"
    assert resolve_path("pyproject.toml", tmp_path) == Path("pyproject.toml")
    assert resolve_path("missing", tmp_path) == Path("missing")
    assert resolve_path("missing", None) == Path("missing")
    assert resolve_path("~/x", None) == Path.home() / "x"


def test_credentials_need_a_way_to_log_in(tmp_path: Path, setup: Path) -> None:
    cfg = load_config_file(REFERENCE_YAML)  # no key_file
    options = AccessOptions(known_hosts=str(tmp_path / "known_hosts"))
    with pytest.raises(ConfigError, match="ha-0: no SSH key"):
        build_access(cfg, options)
    access, _ = build_access(cfg, AccessOptions(known_hosts=str(tmp_path / "known_hosts"),
                                                agent_path="/run/agent.sock"))  # fmt: skip
    assert access["ha-0"][1].agent_path == "/run/agent.sock"
    with pytest.raises(ConfigError, match="cannot read the private key"):
        build_access(cfg, AccessOptions(key_file=str(tmp_path / "nokey")))
    with pytest.raises(ConfigError, match="cannot read the known_hosts file"):
        build_access(cfg, AccessOptions(key_file=str(tmp_path / "id"), known_hosts="/nonexistent"))


def test_ssh_agent_needs_the_socket(
    setup: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    assert main(["provision", "plan", "-c", str(setup), "--ssh-agent"]) == 15
    assert "SSH_AUTH_SOCK is not set" in capsys.readouterr().err


def test_passphrase_file_is_read(
    setup: Path, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[AccessOptions] = []
    real = build_access

    def spy(cfg: object, options: AccessOptions) -> object:
        seen.append(options)
        return real(cfg, options)  # type: ignore[arg-type]

    monkeypatch.setattr("hacluster.provision.cli.build_access", spy)
    (setup.parent / "pass").write_text("secret\n")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/run/agent")
    args = ["provision", "plan", "-c", str(setup), "--passphrase-file", str(setup.parent / "pass"),
            "--ssh-agent", "--key", str(setup.parent / "id")]  # fmt: skip
    assert main(args) == 0
    assert seen[0].passphrase == "secret"
    assert seen[0].agent_path == "/run/agent"
    assert seen[0].key_file == str(setup.parent / "id")


async def test_unpinned_host_keys_are_shown_not_trusted(
    tmp_path: Path, ssh_server: object, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    client = asyncssh.generate_private_key("ssh-ed25519")
    (tmp_path / "id").write_bytes(client.export_private_key("openssh"))
    (tmp_path / "known_hosts").write_text("# nothing pinned\n")
    text = REFERENCE_YAML.read_text()
    text = text.replace(
        "    ssh:\n      user: root\n      port: 22\n",
        "    ssh:\n      user: root\n      port: PORT\n      host: 127.0.0.1\n"
        "      key_file: id\n      known_hosts: known_hosts\n",
    )
    text = text.replace("PORT", str(ssh_server.port), 1).replace("PORT", str(closed_port), 1)  # type: ignore[attr-defined]
    (tmp_path / "cluster.yaml").write_text(text)
    code = await _run_in_thread(["provision", "plan", "-c", str(tmp_path / "cluster.yaml")])
    assert code == 6
    err = capsys.readouterr().err
    assert "No pinned host key for:" in err
    assert f"ha-0 (127.0.0.1:{ssh_server.port}): 127.0.0.1 is not in" in err  # type: ignore[attr-defined]
    assert f"it presents ssh-ed25519 {ssh_server.fingerprint}" in err  # type: ignore[attr-defined]
    assert f"[127.0.0.1]:{ssh_server.port} ssh-ed25519 AAAA" in err  # type: ignore[attr-defined]
    assert "ha-1 (127.0.0.1:" in err
    assert "cannot read its host key" in err
    # without any known_hosts file at all
    (tmp_path / "cluster.yaml").write_text(text.replace("      known_hosts: known_hosts\n", ""))
    code = await _run_in_thread(["provision", "plan", "-c", str(tmp_path / "cluster.yaml")])
    assert code == 6
    assert "no known_hosts file (set nodes[].ssh.known_hosts or give --known-hosts)" in (
        capsys.readouterr().err
    )


async def _run_in_thread(argv: list[str]) -> int:
    """main() runs its own event loop: call it from a worker thread inside an async test."""
    import asyncio

    return await asyncio.to_thread(main, argv)


def test_run_provision_direct(setup: Path, cluster: FakeCluster) -> None:
    args = argparse.Namespace(
        config=str(setup),
        provision_command="plan",
        known_hosts=None,
        key=None,
        passphrase_file=None,
        ssh_agent=False,
        wipe_disk=[],
        replace_cluster=[],
        timeout=300.0,
        json=False,
    )
    assert run_provision(args) == 0
