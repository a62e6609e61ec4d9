"""``scripts/lab up --nodes 3``: a healthy three-node cluster with a full DRBD mesh.

Three nodes online and quorate without ``two_node`` (3 expected votes), the group on one node
with the clone Promoted there and Unpromoted on both others, and DRBD UpToDate/Connected/
Established in every node's view of every peer (DRBD 9 tells every peer about a node's disk
state, also the third one). Then a standby failover keeps every acknowledged write, and a
power-off of a secondary leaves the other two quorate; after its boot the returned node
resyncs and every view is UpToDate again. Marked ``lab_shape("three")``: it runs after the
default-shape tests and leaves the three-node lab up (the next test that needs the default lab
rebuilds it, and so does the end of the session; see ``SHAPE_ORDER`` in conftest).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import pytest

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.e2e

GROUP_MEMBERS = ("p_fs_home-assistant", "p_ip_home-assistant", "p_docker_home-assistant")
HEALTHY_PEER = ("Connected", "UpToDate", "Established")


def crm_mon(lab: Lab, node: str) -> ET.Element:
    """crm_mon --output-as=xml over ssh."""
    return ET.fromstring(lab.ssh(node, "crm_mon --output-as=xml").stdout)  # noqa: S314


def running_on(root: ET.Element, rsc: str) -> list[tuple[str, str]]:
    """(role, node) of every active instance of a resource."""
    return [
        (r.get("role", ""), n.get("name", ""))
        for r in root.iter("resource")
        if r.get("id") == rsc
        for n in r.findall("node")
    ]


def drbd_views(lab: Lab) -> dict[str, tuple[str, str, dict[str, tuple[str, ...]]]]:
    """Every node's (role, disk, {peer: (connection, peer disk, replication)}) over ssh."""
    views = {}
    for node in lab.nodes:
        [doc] = json.loads(lab.ssh(node, "drbdsetup status home-assistant --json").stdout)
        peers: dict[str, tuple[str, ...]] = {}
        for conn in doc["connections"]:
            [pd] = conn["peer_devices"]
            peers[conn["name"]] = (
                conn["connection-state"],
                pd["peer-disk-state"],
                pd["replication-state"],
            )
        views[node] = (doc["role"], doc["devices"][0]["disk-state"], peers)
    return views


def expected_views(lab: Lab, primary: str) -> dict[str, Any]:
    """The healthy full mesh with ``primary`` Primary."""
    return {
        n: (
            "Primary" if n == primary else "Secondary",
            "UpToDate",
            {p: HEALTHY_PEER for p in lab.nodes if p != n},
        )
        for n in lab.nodes
    }


@pytest.mark.lab_shape("three")
def test_three_node_lab(lab: Lab) -> None:
    """up --nodes 3 is healthy in every view; standby and a secondary's crash + boot work."""
    if lab.env["HALAB_DRBD"] != "1":
        pytest.skip("the lab runs without the DRBD simulator (HALAB_NO_DRBD=1)")
    with lab.exclusive():
        three = lab.rebuild(nodes=3)
        assert three.nodes == ("ha-0", "ha-1", "ha-2")
        assert three.env["HALAB_NODE_COUNT"] == "3"
        assert three.check("healthy")
        group = three.group_node()
        others = [n for n in three.nodes if n != group]
        for node in three.nodes:
            root = crm_mon(three, node)
            online = {n.get("name") for n in root.iter("node") if n.get("online") == "true"}
            assert online == set(three.nodes)
            for member in GROUP_MEMBERS:
                assert running_on(root, member) == [("Started", group)]
            assert sorted(running_on(root, "p_drbd_home-assistant")) == sorted(
                [("Promoted", group), *(("Unpromoted", n) for n in others)]
            )
        quorum = three.ssh(group, "corosync-quorumtool -s").stdout
        assert "2Node" not in quorum
        assert "Expected votes:   3" in quorum
        assert "Quorate:          Yes" in quorum
        assert drbd_views(three) == expected_views(three, group)

        # standby of the group's node: the group moves with every acknowledged write
        seqs = [three.app_write(f"three-{i}") for i in range(3)]
        three.ssh(others[0], f"crm node standby {group}")
        deadline = time.monotonic() + 60
        while (moved_to := (three.state()["crm"] or {}).get("group_node")) not in others:
            assert time.monotonic() < deadline, three.run("state").stdout
            time.sleep(0.3)
        assert three.app("/status")["last_seq"] >= seqs[-1]
        assert {f"three-{i}" for i in range(3)} <= set(three.app_records(moved_to))
        three.ssh(moved_to, f"crm node online {group}")
        three.wait("healthy", timeout=90)

        # power-off of a secondary: the other two keep quorum and the group; after the
        # boot the returned node resyncs from its peers
        active = three.group_node()
        victim = next(n for n in three.nodes if n != active)
        three.run("crash", victim)
        three.wait("offline", victim, on=active, timeout=30)
        assert three.check("quorate", active, on=active)
        assert three.check("group-on", active, on=active)
        three.app_write("while-one-is-off")
        three.run("boot", victim)
        three.wait("healthy", timeout=120)
        assert drbd_views(three) == expected_views(three, three.group_node())
