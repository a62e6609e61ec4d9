"""The DRBD simulator with three nodes (a full mesh, as ``scripts/lab up --nodes 3`` runs it).

DRBD 9 tells every peer about each change of a node's disk state, so after the admin's
"skip the initial sync" (``new-current-uuid --clear-bitmap`` on one node while all are
connected) every node sees every other one UpToDate, and after a node returns from a crash
and resyncs, the third node sees it UpToDate again too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Node, SimLab

pytestmark = pytest.mark.e2e
RES = "home-assistant"
HEALTHY = ("Connected", "UpToDate", "Established")


def _mesh(nodes: list[Node]) -> dict[str, tuple[str, dict[str, tuple[str, str, str]]]]:
    """Every node's disk state and its view of every peer."""
    return {n.hostname: (n.disk_state(), n.peers()) for n in nodes}


def _all_up_to_date(nodes: list[Node]) -> bool:
    names = {n.hostname for n in nodes}
    for name, (disk, peers) in _mesh(nodes).items():
        if disk != "UpToDate" or set(peers) != names - {name}:
            return False
        if any(view != HEALTHY for view in peers.values()):
            return False
    return True


def _up_to_date_mesh(lab: SimLab) -> None:
    """All three up, connected, the initial sync skipped: UpToDate in every view."""
    a = lab.nodes[0]
    for node in lab.nodes:
        node.sh(f"drbdadm up {RES}", check=True)
    lab.wait_for(
        lambda: all(v[0] == "Connected" for n in lab.nodes for v in n.peers().values()),
        what="full mesh connected",
    )
    a.sh(f"drbdadm new-current-uuid --clear-bitmap {RES}", check=True)
    _wait_all_up_to_date(lab, 15, "after new-current-uuid --clear-bitmap")


def _wait_all_up_to_date(lab: SimLab, timeout: float, when: str) -> None:
    try:
        lab.wait_for(lambda: _all_up_to_date(lab.nodes), timeout=timeout, what="all UpToDate")
    except AssertionError:
        pytest.fail(f"not UpToDate in every view {when}: {_mesh(lab.nodes)}")
    for node in lab.nodes:
        for conn in node.status()["connections"]:
            oos = int(conn["peer_devices"][0]["out-of-sync"])
            assert oos == 0, (when, node.hostname, conn["name"], oos)


def _primary_writes_while_c_is_off(lab: SimLab) -> str:
    """a Primary with ext4; c crashes; a writes 2 MiB (fsync'ed): their sha256."""
    a, b, c = lab.nodes
    a.sh(f"drbdadm primary {RES} && mkfs.ext4 -q -F /dev/drbd0", check=True)
    a.sh("mount /dev/drbd0 /mnt/data && echo before > /mnt/data/f && sync", check=True)
    c.crash()
    lab.wait_for(lambda: a.peers()[c.hostname][0] == "Connecting", timeout=15, what="c gone")
    lab.wait_for(lambda: b.peers()[c.hostname][0] == "Connecting", timeout=15, what="c gone")
    a.sh("dd if=/dev/urandom of=/mnt/data/g bs=1M count=2 conv=fsync status=none", check=True)
    # both a (the Primary) and b (which got every write) track what c misses
    for node in (a, b):
        conn = next(x for x in node.status()["connections"] if x["name"] == c.hostname)
        assert int(conn["peer_devices"][0]["out-of-sync"]) > 0, node.hostname
    return a.sh("sha256sum /mnt/data/g | cut -d' ' -f1", check=True).stdout.strip()


def _fail_over_to_c(lab: SimLab, digest: str) -> None:
    """The returned node has every write: make it Primary and read them."""
    a, _, c = lab.nodes
    a.sh(f"umount /mnt/data && drbdadm secondary {RES}", check=True)
    c.sh(f"drbdadm primary {RES} && mount /dev/drbd0 /mnt/data", check=True)
    got = c.sh("cat /mnt/data/f; sha256sum /mnt/data/g | cut -d' ' -f1", check=True).stdout
    assert got.split() == ["before", digest]


def test_three_nodes_skip_initial_sync_then_crash_and_resync(simlab3: SimLab) -> None:
    """new-current-uuid --clear-bitmap: all three UpToDate in every view; a crashed Secondary
    comes back, resyncs what the Primary wrote meanwhile, and every view is UpToDate again."""
    lab = simlab3
    c = lab.nodes[2]
    _up_to_date_mesh(lab)
    digest = _primary_writes_while_c_is_off(lab)
    c.boot()
    c.sh(f"drbdadm up {RES}", check=True)
    _wait_all_up_to_date(lab, 40, "after the resync")
    _fail_over_to_c(lab, digest)


def test_three_nodes_reconnect_after_resync_from_another_peer(simlab3: SimLab) -> None:
    """c resyncs from a alone, then connects to b: same data generation on both, no resync,
    and b's bits for c (set while c was away) are cleared: nothing out of sync anywhere."""
    lab = simlab3
    _, b, c = lab.nodes
    _up_to_date_mesh(lab)
    digest = _primary_writes_while_c_is_off(lab)
    c.boot()
    c.sh(f"drbdadm up {RES} && drbdadm disconnect {RES}:{b.hostname}", check=True)
    lab.wait_for(lambda: c.disk_state() == "UpToDate", timeout=30, what="c synced from a")
    c.sh(f"drbdadm connect {RES}:{b.hostname}", check=True)
    _wait_all_up_to_date(lab, 30, "after connecting c to b")
    _fail_over_to_c(lab, digest)
