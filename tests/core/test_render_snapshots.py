"""Snapshot tests: the example descriptions render exactly the committed files, byte for byte.

The expected files live in ``tests/core/fixtures/render/<example>/``. After an intended change,
regenerate them with

    HACLUSTER_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/core/test_render_snapshots.py

and review the diff (``git diff tests/core/fixtures/render``) before committing.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hacluster.provision import ClusterConfig, load_config_file
from hacluster.render import (
    render_cib_crm,
    render_cib_xml,
    render_corosync_conf,
    render_drbd_resource,
)

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "core" / "fixtures" / "render"
EXAMPLES = {
    "reference": ROOT / "scripts" / "examples" / "reference-cluster.yaml",
    "lab": ROOT / "scripts" / "examples" / "lab-cluster.yaml",
}
RENDERERS: dict[str, Callable[[ClusterConfig], str]] = {
    "corosync.conf": render_corosync_conf,
    "home-assistant.res": render_drbd_resource,
    "cib.txt": render_cib_crm,
    "cib.xml": render_cib_xml,
}
UPDATE = os.environ.get("HACLUSTER_UPDATE_SNAPSHOTS") == "1"


@pytest.mark.parametrize("filename", sorted(RENDERERS))
@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_renders_the_committed_file(example: str, filename: str) -> None:
    rendered = RENDERERS[filename](load_config_file(EXAMPLES[example]))
    expected_path = FIXTURES / example / filename
    if UPDATE:
        expected_path.parent.mkdir(parents=True, exist_ok=True)
        expected_path.write_bytes(rendered.encode())
    expected = expected_path.read_bytes().decode() if expected_path.exists() else ""
    if rendered != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                rendered.splitlines(keepends=True),
                fromfile=str(expected_path.relative_to(ROOT)),
                tofile=f"rendered from {EXAMPLES[example].relative_to(ROOT)}",
            )
        )
        pytest.fail(
            f"{filename} for the {example} example differs from the committed snapshot:\n{diff}\n"
            "If the change is intended, run\n"
            "  HACLUSTER_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/core/test_render_snapshots.py\n"
            "and review the diff.",
            pytrace=False,
        )


def test_snapshots_are_not_being_updated() -> None:
    """A run with the update switch must not pass silently in CI."""
    assert not UPDATE, "HACLUSTER_UPDATE_SNAPSHOTS=1 rewrote the snapshots: unset it and rerun"


def test_reference_cib_holds_the_reference_setup() -> None:
    """Independent of the snapshot: the resources, constraints and properties of the how-to."""
    text = (FIXTURES / "reference" / "cib.txt").read_text()
    lines = text.replace(" \\\n    ", " ").splitlines()
    assert lines == [
        "node 1: ha-0",
        "node 2: ha-1",
        "primitive p_drbd_home-assistant ocf:linbit:drbd params drbd_resource=home-assistant "
        "op start interval=0s timeout=240s op stop interval=0s timeout=100s "
        "op promote interval=0s timeout=90s op demote interval=0s timeout=90s "
        "op notify interval=0s timeout=90s "
        "op monitor interval=29s timeout=20s role=Promoted "
        "op monitor interval=31s timeout=20s role=Unpromoted",
        "primitive p_fs_home-assistant ocf:heartbeat:Filesystem "
        "params device=/dev/drbd0 directory=/mnt/home-assistant fstype=ext4 "
        "op start interval=0s timeout=60s op stop interval=0s timeout=60s "
        "op monitor interval=20s timeout=40s",
        "primitive p_ip_home-assistant ocf:heartbeat:IPaddr2 "
        "params ip=192.168.222.10 cidr_netmask=24 op monitor interval=10s timeout=20s",
        "primitive p_docker_home-assistant ocf:heartbeat:docker "
        "params image=ghcr.io/home-assistant/home-assistant:stable name=home-assistant "
        'run_opts="--privileged --network=host -e TZ=America/Los_Angeles '
        '-v /mnt/home-assistant:/config -v /run/dbus:/run/dbus:ro" '
        "op start interval=0s timeout=90s op stop interval=0s timeout=90s "
        "op monitor interval=30s timeout=30s",
        "group g_home-assistant p_fs_home-assistant p_ip_home-assistant p_docker_home-assistant",
        "clone ms_drbd_home-assistant p_drbd_home-assistant meta promotable=true promoted-max=1 "
        "promoted-node-max=1 clone-max=2 clone-node-max=1 notify=true",
        "colocation c_home-assistant_on_drbd inf: g_home-assistant ms_drbd_home-assistant:Promoted",
        "order o_drbd_before_home-assistant Mandatory: ms_drbd_home-assistant:promote "
        "g_home-assistant:start",
        "property cib-bootstrap-options: stonith-enabled=false",
    ]  # no rsc_defaults: the stickiness of lab-cluster.yaml is not the how-to's
    xml = (FIXTURES / "reference" / "cib.xml").read_text()
    for snapshot in (text, xml):
        assert "maintenance-mode" not in snapshot  # provisioning switches it, never leaves it


def test_reference_corosync_and_drbd_hold_the_reference_setup() -> None:
    corosync = (FIXTURES / "reference" / "corosync.conf").read_text()
    for needle in (
        "cluster_name: ha_cluster",
        "transport: knet",
        "ring0_addr: 192.168.222.30\n        name: ha-0\n        nodeid: 1",
        "ring0_addr: 192.168.222.31\n        name: ha-1\n        nodeid: 2",
        "two_node: 1",
    ):
        assert needle in corosync
    res = (FIXTURES / "reference" / "home-assistant.res").read_text()
    for needle in (
        "resource home-assistant {",
        "protocol C;",
        "device /dev/drbd0 minor 0;",
        "disk /dev/sdb;",
        "meta-disk internal;",
        "on ha-0 {\n        node-id 0;\n        address 192.168.222.30:7788;",
        "on ha-1 {\n        node-id 1;\n        address 192.168.222.31:7788;",
        "hosts ha-0 ha-1;",
    ):
        assert needle in res
