"""scripts/develop's pure parts: host key checks in the config flow answers, the config directory.

The whole script runs in the browser tests (``dev_hass``: ``scripts/develop --background``).
"""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import subprocess
import sys
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "lib"))

import develop
from ha_bootstrap import (
    BootstrapError,
    HomeAssistantClient,
    LabNode,
    LabTarget,
    ssh_fingerprint,
)


@pytest.fixture
def keypair(tmp_path: Path) -> tuple[Path, str]:
    """A fresh ed25519 key pair: the private key file and the public key line."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs ssh-keygen (openssh-client)")
    key = tmp_path / "id"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    return key, (tmp_path / "id.pub").read_text().strip()


def test_fingerprint_as_ssh_keygen_prints_it(keypair: tuple[Path, str]) -> None:
    """The flow shows ``key.get_fingerprint('sha256')``; ssh-keygen -l prints the same."""
    key, public = keypair
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", f"{key}.pub"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert ssh_fingerprint(public) == out.split()[1]
    assert ssh_fingerprint(f"198.18.0.30 {public}") == out.split()[1]
    with pytest.raises(BootstrapError, match="not an OpenSSH public key"):
        ssh_fingerprint("garbage")


def lab_target(keypair: tuple[Path, str], tmp_path: Path) -> LabTarget:
    """A two-node lab description as ``scripts/lab env --json`` gives it."""
    key, public = keypair
    other = tmp_path / "other"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
        check=True,
        capture_output=True,
    )
    env = {
        "HALAB_NODES": "ha-0 ha-1",
        "HALAB_IP_ha_0": "198.18.0.30",
        "HALAB_IP_ha_1": "198.18.0.31",
        "HALAB_HOSTKEY_ha_0": public,
        "HALAB_HOSTKEY_ha_1": (tmp_path / "other.pub").read_text().strip(),
        "HALAB_SSH_KEY": str(key),
        "HALAB_SSH_PORT": "22",
        "HALAB_SSH_USER": "root",
    }
    return LabTarget.from_env(env)


def test_config_flow_answers_check_every_host_key(
    keypair: tuple[Path, str], tmp_path: Path
) -> None:
    """Each shown fingerprint is compared with the lab's pinned key before it is confirmed."""
    lab = lab_target(keypair, tmp_path)
    first, second = lab.nodes
    assert lab.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")

    def answer(step_id: str, **placeholders: str) -> dict[str, Any]:
        step = {"step_id": step_id, "description_placeholders": placeholders}
        return HomeAssistantClient._answer(step, lab, first)

    assert answer("user") == {"host": "198.18.0.30", "port": 22, "username": "root"}
    assert answer("host_key", fingerprint=first.fingerprint) == {}
    with pytest.raises(BootstrapError, match="not confirming it"):
        answer("host_key", fingerprint=second.fingerprint)
    assert answer("auth") == {"next_step_id": "auth_key"}
    assert answer("auth_key") == {"private_key": lab.private_key, "use_sudo": False}
    confirm = {"host": "198.18.0.31", "port": 22, "skip": False}
    assert answer("node_host_key", node="ha-1", host="198.18.0.31",
                  fingerprint=second.fingerprint) == confirm  # fmt: skip
    with pytest.raises(BootstrapError, match="host key of ha-1"):
        answer("node_host_key", node="ha-1", host="198.18.0.31", fingerprint=first.fingerprint)
    # another address proposed: the lab's is given (its key is shown and checked next)
    assert answer("node_host_key", node="ha-1", host="ha-1", fingerprint="-") == confirm
    with pytest.raises(BootstrapError, match="not a lab node"):
        answer("node_host_key", node="ha-9", host="x", fingerprint="-")
    with pytest.raises(BootstrapError, match="unexpected config flow step"):
        answer("reconfigure")
    step = {"step_id": "auth_key", "errors": {"base": "cannot_connect"}}
    with pytest.raises(BootstrapError, match="is the lab healthy"):
        HomeAssistantClient._answer(step, lab, first)


def test_lab_node_fingerprint(keypair: tuple[Path, str]) -> None:
    """A node's fingerprint is its pinned key's."""
    _key, public = keypair
    node = LabNode(name="ha-0", host="198.18.0.30", host_key=public)
    assert node.fingerprint == ssh_fingerprint(public)


def test_prepare_config_is_idempotent(tmp_path: Path) -> None:
    """configuration.yaml copied, the integration linked to this checkout; twice is the same."""
    config = tmp_path / "config"
    develop.prepare_config(config)
    develop.prepare_config(config)
    link = config / "custom_components" / "pacemaker_drbd"
    assert link.is_symlink()
    assert link.resolve() == (develop.REPO / "custom_components" / "pacemaker_drbd").resolve()
    repo_yaml = (develop.DEFAULT_CONFIG / "configuration.yaml").read_text()
    assert (config / "configuration.yaml").read_text() == repo_yaml
    link.unlink()
    link.mkdir()
    with pytest.raises(develop.DevelopError, match="is a directory"):
        develop.prepare_config(config)


def test_credentials_are_kept_private(tmp_path: Path) -> None:
    """Generated once, readable by the owner only, the same on the next run."""
    first = develop.credentials(tmp_path)
    assert first["username"] == "dev"
    assert len(first["password"]) >= 16
    path = tmp_path / ".develop-credentials.json"
    assert path.stat().st_mode & 0o077 == 0
    assert develop.credentials(tmp_path) == first


def test_only_its_own_hass_is_stopped(tmp_path: Path) -> None:
    """A PID that is not a Home Assistant on this config directory is never signalled."""
    assert develop.is_our_hass(os.getpid(), tmp_path) is False
    assert develop.stop_pid(os.getpid(), tmp_path) is False
    develop.pid_file(tmp_path).write_text(f'{{"pid": {os.getpid()}}}')
    assert develop.running_instance(tmp_path) is None
    assert not develop.pid_file(tmp_path).exists()  # a stale record is removed
    assert develop.stop_instance(tmp_path) == 0


def test_next_steps_name_the_url_and_login(tmp_path: Path) -> None:
    """The newcomer's instructions: where, who, how to stop."""
    facts = {
        "URL": "http://127.0.0.1:8123",
        "USERNAME": "dev",
        "PASSWORD": "pw",
        "DASHBOARD_URL": "http://127.0.0.1:8123/pacemaker-cluster/cluster",
    }
    text = develop.next_steps(facts, develop.DEFAULT_CONFIG, background=False)
    assert "Open       http://127.0.0.1:8123" in text
    assert "Log in as  dev / pw" in text
    assert "Ctrl-C here" in text
    text = develop.next_steps(facts, tmp_path, background=True)
    assert f"scripts/develop --stop --config {tmp_path}" in text
