"""The lab itself, seen through real ssh and crm_mon: healthy state, standby and crash failover.

These tests check the lab (scripts/lab), not the integration: that it is a real two-node
Pacemaker/Corosync cluster with pinned ssh host keys, that the group fails over on standby and on
a power-off of its node without losing an acknowledged write, and that ``up`` is idempotent.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import pytest

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.e2e

GROUP_MEMBERS = ("p_fs_home-assistant", "p_ip_home-assistant", "p_docker_home-assistant")


def crm_mon(lab: Lab, node: str) -> ET.Element:
    """crm_mon --output-as=xml over ssh."""
    out = lab.ssh(node, "crm_mon --output-as=xml").stdout
    return ET.fromstring(out)  # noqa: S314 - output of the lab's own nodes


def drbd_status(lab: Lab, node: str) -> dict[str, Any]:
    """drbdsetup status home-assistant --json over ssh (the lab's DRBD)."""
    out = lab.ssh(node, "drbdsetup status home-assistant --json").stdout
    docs: list[dict[str, Any]] = json.loads(out)
    assert [d["name"] for d in docs] == ["home-assistant"]
    return docs[0]


def uses_drbd(lab: Lab) -> bool:
    """The lab runs the DRBD simulator (not the HALAB_NO_DRBD=1 stand-in)."""
    return lab.env["HALAB_DRBD"] == "1"


def running_on(root: ET.Element, rsc: str) -> list[tuple[str, str]]:
    """(role, node) of every active instance of a resource."""
    return [
        (r.get("role", ""), n.get("name", ""))
        for r in root.iter("resource")
        if r.get("id") == rsc
        for n in r.findall("node")
    ]


def test_healthy(healthy_lab: Lab) -> None:
    """Both nodes online and quorate, group + VIP + app on one node, DRBD connected."""
    lab = healthy_lab
    assert lab.nodes == ("ha-0", "ha-1")
    assert lab.addresses == {"ha-0": "198.18.0.30", "ha-1": "198.18.0.31"}
    assert lab.vip == "198.18.0.10"
    assert lab.client_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert all(k.startswith("ssh-ed25519 ") for k in lab.host_keys.values())
    group_node = lab.group_node()
    for node in lab.nodes:
        assert lab.ssh(node, "hostname").stdout.strip() == node
        root = crm_mon(lab, node)
        assert root.find("summary/stack").get("type") == "corosync"  # type: ignore[union-attr]
        dc = root.find("summary/current_dc")
        assert dc is not None
        assert dc.get("present") == "true"
        assert dc.get("with_quorum") == "true"
        online = {n.get("name") for n in root.iter("node") if n.get("online") == "true"}
        assert online == set(lab.nodes)
        for member in GROUP_MEMBERS:
            assert running_on(root, member) == [("Started", group_node)]
        roles = sorted(running_on(root, "p_drbd_home-assistant"))
        assert roles == sorted([("Promoted", group_node), ("Unpromoted", lab.other(group_node))])
    props = lab.ssh(group_node, "crm_attribute --type crm_config --name cluster-name --query")
    assert "value=ha_cluster" in props.stdout
    quorum = lab.ssh(group_node, "corosync-quorumtool -s").stdout
    assert "2Node" in quorum
    assert "Quorate:          Yes" in quorum
    # the VIP lives on the group's node, and ssh to it lands there with a pinned host key
    assert "198.18.0.10/24" in lab.ssh(group_node, "ip -4 -br addr show dev eth0").stdout
    assert lab.ssh("vip", "hostname").stdout.strip() == group_node
    status = lab.app("/status")
    assert status["node"] == group_node
    if uses_drbd(lab):
        assert status["device"] == "/dev/drbd0"
        for node in lab.nodes:
            doc = drbd_status(lab, node)
            assert doc["role"] == ("Primary" if node == group_node else "Secondary")
            assert doc["devices"][0]["disk-state"] == "UpToDate"
            [conn] = doc["connections"]
            assert conn["connection-state"] == "Connected"
            assert conn["peer_devices"][0]["peer-disk-state"] == "UpToDate"


def test_up_is_idempotent(healthy_lab: Lab) -> None:
    """``up`` on a healthy lab restarts nothing and keeps the group where it is."""
    lab = healthy_lab
    group_node = lab.group_node()
    before = {n: lab.run("pids", n, "^pacemakerd$").stdout.split() for n in lab.nodes}
    assert all(len(p) == 1 for p in before.values()), before
    lab.run("up")
    after = {n: lab.run("pids", n, "^pacemakerd$").stdout.split() for n in lab.nodes}
    assert after == before
    assert lab.group_node() == group_node


def test_standby_moves_group(healthy_lab: Lab) -> None:
    """crm node standby moves the group; acknowledged writes are on the new node."""
    lab = healthy_lab
    src = lab.group_node()
    dst = lab.other(src)
    seqs = [lab.app_write(f"standby-{i}") for i in range(5)]
    assert seqs == sorted(seqs)
    lab.ssh(dst, f"crm node standby {src}")
    lab.wait("group-on", dst, timeout=60)
    status = lab.app("/status")
    assert status["node"] == dst
    if uses_drbd(lab):  # the records live on the replicated disk
        assert status["last_seq"] >= seqs[-1]
        assert {f"standby-{i}" for i in range(5)} <= set(lab.app_records(dst))
        assert lab.app_write("after-standby") == seqs[-1] + 1
    lab.ssh(dst, f"crm node online {src}")
    lab.wait("healthy", timeout=90)
    assert lab.group_node() == dst  # resource-stickiness keeps it there


def test_crash_of_active_node(healthy_lab: Lab) -> None:
    """Power-off of the group's node: the survivor takes over with every acknowledged write."""
    lab = healthy_lab
    src = lab.group_node()
    dst = lab.other(src)
    loops = lab.exec(src, "cat", "/run/halab/host/loops").stdout.split("\n")
    sim_loops = [line.split()[0] for line in loops if line.strip()]
    seqs = [lab.app_write(f"crash-{i}") for i in range(5)]
    assert len(set(seqs)) == 5
    lab.run("crash", src)
    lab.wait("offline", src, on=dst, timeout=30)
    lab.wait("group-on", dst, on=dst, timeout=60)
    root = crm_mon(lab, dst)
    offline = {n.get("name") for n in root.iter("node") if n.get("online") == "false"}
    assert offline == {src}
    status = lab.app("/status")
    assert status["node"] == dst
    if uses_drbd(lab):
        assert status["last_seq"] >= seqs[-1]
        assert {f"crash-{i}" for i in range(5)} <= set(lab.app_records(dst))
    # the kernel leftovers of the dead node (loop devices the simulator attached) are gone
    for dev in sim_loops:
        backing = lab.run(
            "exec", dst, "cat", f"/sys/block/{dev[5:]}/loop/backing_file", check=False
        )
        assert backing.returncode != 0, f"{dev} still attached: {backing.stdout}"
    if uses_drbd(lab):
        doc = drbd_status(lab, dst)
        assert doc["role"] == "Primary"
        [conn] = doc["connections"]
        assert conn["connection-state"] == "Connecting"
    lab.run("boot", src)
    lab.wait("healthy", timeout=120)
    assert lab.group_node() == dst
