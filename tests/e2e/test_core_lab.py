"""The ``hacluster`` core on the lab: what one poll shows in the healthy cluster and after faults.

Every observation goes through :class:`hacluster.client.ClusterClient` over real SSH to the
nodes' own addresses (pinned host keys, the lab's client key); ``scripts/lab`` only injects the
faults (and, where the core cannot see a node at all, confirms the other half's view from
inside it). Each test holds the lab (``healthy_lab``) and leaves it healthy, restoring it with
``scripts/lab recover`` when something went wrong halfway.

Waits are polling loops with deadlines (``helpers_core.poll_until``); the seconds each change
took to become visible are printed (``pytest -s``). ``scripts/bench lab`` prints the same
numbers with more runs (its ``core`` section; ``scripts/bench lab core`` alone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
import contextlib
from datetime import UTC, datetime, timedelta
from functools import partial
import json
from pathlib import Path
import threading
import time
from typing import TYPE_CHECKING, Any
import urllib.request
import uuid

from helpers_core import (
    APP,
    DRBD,
    KEEPALIVE_WINDOW,
    RECORDS,
    app_node,
    drbd_of,
    first_index,
    healthy_problems,
    kernel_lines,
    lab_client,
    poll_until,
    records,
)
import pytest

from hacluster.analysis import application_node, find_application
from hacluster.client import ClusterClient, ClusterSnapshot
from hacluster.models.drbd import ConnectionState, DiskState, DrbdRole, ReplicationState
from hacluster.models.pacemaker import NodeState, ResourceKind

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.e2e

#: a write of the application stand-in from inside a node (works while the node is cut off)
WRITE = (
    "import sys, urllib.request; "
    "print(urllib.request.urlopen(urllib.request.Request("
    "'http://127.0.0.1:8123/write?data=' + sys.argv[1], method='POST'), timeout=10).read())"
)
REPO = Path(__file__).resolve().parents[2]
#: how long one poll of a loaded 2-CPU lab may take (a poll runs 8 tools per node)
POLL_ALLOWANCE = 6.0


def _report(what: str, seconds: float, polls: int) -> None:
    print(f"[core-lab] {what}: {seconds:.2f} s ({polls} polls)")


@contextlib.contextmanager
def restored(lab: Lab) -> Iterator[None]:
    """Leave the lab healthy for the next user, whatever happened in the block."""
    try:
        yield
    finally:
        settled = lab.run("wait", "healthy", "--timeout", "20", check=False).returncode == 0
        if not settled:
            lab.run("recover")


async def wait_healthy(client: ClusterClient, lab: Lab, *, timeout: float, what: str) -> float:
    """Poll until the core shows the healthy lab; return the seconds it took."""
    waited = await poll_until(client, partial(healthy_problems, lab), timeout=timeout, what=what)
    return waited.seconds


async def run_ok(client: ClusterClient, node: str, *argv: str) -> str:
    """Run one command on ``node`` through the core's SSH session; it must exit 0."""
    result = await client.transport.session(node).run(argv)
    assert result.exit_status == 0, (
        f"{node}: {' '.join(argv)} exited {result.exit_status}: {result.stderr_tail()}"
    )
    return result.stdout.decode()


# --------------------------------------------------------------------------------------------
# 1. healthy
# --------------------------------------------------------------------------------------------


async def test_healthy_cluster(healthy_lab: Lab) -> None:
    """The healthy lab as one poll shows it, at the cost of one SSH exec per node."""
    lab = healthy_lab
    async with lab_client(lab) as client:
        waited = await poll_until(
            client, partial(healthy_problems, lab), timeout=30, what="the healthy lab"
        )
        snap = waited.snapshot
        pm = snap.pacemaker
        assert pm is not None
        assert pm.stack_running
        assert pm.cluster_name == "ha_cluster"
        assert pm.dc in lab.nodes
        assert pm.quorate
        assert not pm.options.stonith_enabled
        assert snap.view_from == pm.dc  # the DC's own view is preferred
        assert not snap.partitioned
        assert {n.name for n in pm.nodes} == set(lab.nodes)
        assert all(n.state is NodeState.ONLINE for n in pm.nodes)

        app = find_application(pm)
        assert app is not None
        assert app.id == APP
        assert app.kind is ResourceKind.GROUP
        assert [m.agent for m in app.members] == [
            "ocf:heartbeat:Filesystem",
            "ocf:heartbeat:IPaddr2",
            "ocf:halab:app",
        ]
        active = application_node(app)
        assert active is not None
        assert app.running_on == (active,)
        assert active == lab.group_node()  # the lab's own (in-node) view agrees
        clone = pm.resource("ms_drbd_home-assistant")
        assert clone is not None
        assert clone.kind is ResourceKind.PROMOTABLE
        assert clone.promoted_on == (active,)

        for report in snap.nodes:
            assert report.reachable, report.error
            assert report.error_kind is None
            assert report.hostname == report.name
            assert report.missing_tools == ()
            assert dict(report.command_errors) == {}, report.command_errors
            assert report.quorum is not None
            assert report.quorum.quorate
            assert report.quorum.two_node
            assert report.quorum.nodes == len(lab.nodes)
            assert report.links is not None
            for name in lab.nodes:
                node = pm.node(name)
                assert node is not None
                assert report.links.connected(int(node.node_id)) is True, (report.name, name)
            res = drbd_of(snap, report.name)
            assert res is not None
            assert res.disk_state is DiskState.UP_TO_DATE
            assert not res.client
            assert res.role is (DrbdRole.PRIMARY if report.name == active else DrbdRole.SECONDARY)
            assert not res.split_brain.split_brain
            # notes of an earlier, resolved split brain may stay (the kernel log is since boot)
            assert not any("unresolved" in e for e in res.split_brain.evidence)
            (conn,) = res.connections
            assert conn.name == lab.other(report.name)
            assert conn.connection_state is ConnectionState.CONNECTED
            assert conn.replication_state is ReplicationState.ESTABLISHED
            assert conn.peer_disk_state is DiskState.UP_TO_DATE
            assert conn.peer_role is (
                DrbdRole.SECONDARY if report.name == active else DrbdRole.PRIMARY
            )
            assert conn.sync_percent is None
        assert not snap.split_brain[DRBD].split_brain

        # one SSH exec per node per poll, over the connections opened before
        sessions = client.transport.sessions
        before = {n: s.execs for n, s in sessions.items()}
        again = await client.poll()
        assert {n: s.execs - before[n] for n, s in sessions.items()} == dict.fromkeys(lab.nodes, 1)
        assert all(r.bytes_read > 0 for r in again.nodes)
        assert again.reachable == lab.nodes
        print(
            f"[core-lab] poll: {max(r.duration for r in again.nodes):.2f} s, "
            f"{again.bytes_read} bytes for {len(lab.nodes)} nodes"
        )


# --------------------------------------------------------------------------------------------
# 2. standby
# --------------------------------------------------------------------------------------------


def _standby_moved(active: str, target: str, snap: ClusterSnapshot) -> list[str]:
    unmet = []
    pm = snap.pacemaker
    node = pm.node(active) if pm else None
    if node is None or node.state is not NodeState.STANDBY:
        unmet.append(f"{active} is {node.state if node else None}, want standby")
    if app_node(snap) != target:
        unmet.append(f"application on {app_node(snap)}, want {target}")
    res = drbd_of(snap, target)
    if res is None or res.role is not DrbdRole.PRIMARY:
        unmet.append(f"DRBD on {target} is {res.role if res else None}, want Primary")
    report = snap.node(active)
    if report is None or report.drbd is None or drbd_of(snap, active) is not None:
        unmet.append(f"DRBD still up on {active} (standby stops every resource there)")
    return unmet


async def test_standby_moves_the_group(healthy_lab: Lab) -> None:
    """``crm node standby <active>``: the node shows standby, the group and Primary move."""
    lab = healthy_lab
    async with lab_client(lab) as client, contextlib.AsyncExitStack() as stack:
        first = await poll_until(client, partial(healthy_problems, lab), timeout=30, what="health")
        active = app_node(first.snapshot)
        assert active is not None
        target = lab.other(active)
        stack.enter_context(restored(lab))
        started = time.monotonic()
        lab.run("exec", target, "crm", "node", "standby", active)
        moved = await poll_until(
            client,
            partial(_standby_moved, active, target),
            timeout=60,
            what=f"the group on {target}",
            since=started,
        )
        _report(f"standby {active}: group + Primary on {target}", moved.seconds, moved.polls)
        snap = moved.snapshot
        assert snap.pacemaker is not None
        node = snap.pacemaker.node(active)
        assert node is not None
        assert node.online
        assert node.standby
        assert node.resources_running == 0  # the clone instance stopped too: DRBD is down
        clone = snap.pacemaker.resource("ms_drbd_home-assistant")
        assert clone is not None
        assert clone.promoted_on == (target,)
        assert clone.unpromoted_on == ()
        new = drbd_of(snap, target)
        assert new is not None
        assert new.disk_state is DiskState.UP_TO_DATE
        conn = new.connection(active)
        assert conn is not None
        assert conn.connection_state is ConnectionState.CONNECTING
        assert conn.peer_disk_state is DiskState.DUNKNOWN

        started = time.monotonic()
        lab.run("exec", target, "crm", "node", "online", active)
        back = await poll_until(
            client, partial(healthy_problems, lab), timeout=60, what="health", since=started
        )
        _report(f"online {active}: healthy", back.seconds, back.polls)
        assert app_node(back.snapshot) == target  # resource-stickiness keeps it there


# --------------------------------------------------------------------------------------------
# 3. crash
# --------------------------------------------------------------------------------------------


class Writer(threading.Thread):
    """Writes to the application through the VIP, one request after another, until stopped.

    Keeps every acknowledged write (``seq -> data``): the application answers only after the
    record is fsync'ed, i.e. (protocol C) on both nodes' disks.
    """

    def __init__(self, lab: Lab, prefix: str) -> None:
        """Prepare; ``start()`` begins writing."""
        super().__init__(name="core-lab-writer", daemon=True)
        self.lab = lab
        self.prefix = prefix
        self.acked: dict[int, str] = {}
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        """Write until stopped; a failed write (the node died under it) is not acknowledged."""
        i = 0
        while not self.stop.is_set():
            data = f"{self.prefix}-{i}"
            i += 1
            try:
                seq = self.lab.app_write(data)
            except Exception:  # noqa: BLE001 - any failure means "not acknowledged"
                self.failures += 1
                self.stop.wait(0.2)
                continue
            self.acked[seq] = data


def _crash_seen(crashed: str, survivor: str, snap: ClusterSnapshot) -> list[str]:
    unmet = []
    report = snap.node(crashed)
    if report is None or report.reachable:
        unmet.append(f"{crashed} still reachable")
    if snap.view_from != survivor:
        unmet.append(f"view from {snap.view_from}")
    node = snap.pacemaker.node(crashed) if snap.pacemaker else None
    if node is None or node.online:
        unmet.append(f"{crashed} online in the view")
    return unmet


def _failed_over(crashed: str, survivor: str, snap: ClusterSnapshot) -> list[str]:
    unmet = _crash_seen(crashed, survivor, snap)
    if app_node(snap) != survivor:
        unmet.append(f"application on {app_node(snap)}")
    res = drbd_of(snap, survivor)
    conn = res.connection(crashed) if res else None
    if res is None or res.role is not DrbdRole.PRIMARY:
        unmet.append(f"DRBD on {survivor}: {res.role if res else None}")
    if conn is None or conn.connection_state is not ConnectionState.CONNECTING:
        unmet.append(f"{survivor} -> {crashed}: {conn.connection_state if conn else None}")
    return unmet


async def test_crash_of_the_active_node(healthy_lab: Lab) -> None:
    """Power-off of the active node: unreachable, offline, the group moves, no acked write lost."""
    lab = healthy_lab
    async with lab_client(lab) as client, contextlib.AsyncExitStack() as stack:
        first = await poll_until(client, partial(healthy_problems, lab), timeout=30, what="health")
        crashed = app_node(first.snapshot)
        assert crashed is not None
        survivor = lab.other(crashed)
        stack.enter_context(restored(lab))

        writer = Writer(lab, "crash")
        writer.start()
        try:
            deadline = time.monotonic() + 20
            while len(writer.acked) < 5 and time.monotonic() < deadline:
                await client.poll()  # writes go on meanwhile
            assert len(writer.acked) >= 5, f"the application took no writes ({writer.failures})"
            started = time.monotonic()
            lab.run("crash", crashed)
        finally:
            writer.stop.set()
        acked_before = dict(writer.acked)  # everything acknowledged up to the power-off

        seen = await poll_until(
            client,
            partial(_crash_seen, crashed, survivor),
            timeout=30,
            what=f"{crashed} unreachable and offline",
            since=started,
        )
        _report(f"crash {crashed}: unreachable + offline", seen.seconds, seen.polls)
        report = seen.snapshot.node(crashed)
        assert report is not None
        assert report.error_kind in {"timeout", "connection"}, report
        # the dead connection is noticed by the keepalives, not by a minutes-long TCP timeout
        down_after = next(
            t for s, t in zip(seen.history, seen.times, strict=True) if crashed not in s.reachable
        )
        print(
            f"[core-lab] crash {crashed}: first poll with it unreachable after {down_after:.2f} s"
        )
        assert down_after < KEEPALIVE_WINDOW + POLL_ALLOWANCE, down_after

        moved = await poll_until(
            client,
            partial(_failed_over, crashed, survivor),
            timeout=60,
            what=f"the group on {survivor}",
            since=started,
        )
        _report(f"crash {crashed}: group + Primary on {survivor}", moved.seconds, moved.polls)
        res = drbd_of(moved.snapshot, survivor)
        assert res is not None
        assert res.disk_state is DiskState.UP_TO_DATE
        conn = res.connection(crashed)
        assert conn is not None
        assert conn.peer_disk_state is DiskState.DUNKNOWN
        assert conn.peer_role is DrbdRole.DRBD_UNKNOWN
        writer.join(timeout=15)
        assert not writer.is_alive()

        # every write acknowledged before the crash is on the survivor's file system
        on_disk = records(await client.transport.session(survivor).run(["cat", RECORDS]))
        lost = {seq: data for seq, data in acked_before.items() if on_disk.get(seq) != data}
        assert not lost, f"acknowledged writes lost in the crash: {lost}"
        print(f"[core-lab] crash: {len(acked_before)} acknowledged writes, none lost")

        started = time.monotonic()
        lab.run("boot", crashed)
        back = await poll_until(
            client, partial(healthy_problems, lab), timeout=120, what="health", since=started
        )
        _report(f"boot {crashed}: healthy (DRBD resynced)", back.seconds, back.polls)
        assert app_node(back.snapshot) == survivor
        resyncing = [
            str(c.replication_state)
            for s in back.history
            if (r := drbd_of(s, survivor)) is not None
            for c in r.connections
            if c.replication_state is ReplicationState.SYNC_SOURCE
        ]
        print(f"[core-lab] boot: resync seen in {len(resyncing)} polls")


# --------------------------------------------------------------------------------------------
# 4. isolate + heal: split brain
# --------------------------------------------------------------------------------------------


def _cut_off(active: str, isolated: str, snap: ClusterSnapshot) -> list[str]:
    unmet = []
    report = snap.node(isolated)
    if report is None or report.reachable:
        unmet.append(f"{isolated} still reachable")
    if snap.view_from != active:
        unmet.append(f"view from {snap.view_from}")
    node = snap.pacemaker.node(isolated) if snap.pacemaker else None
    if node is None or node.online:
        unmet.append(f"{isolated} online in {active}'s view")
    if app_node(snap) != active:
        unmet.append(f"application on {app_node(snap)}")
    res = drbd_of(snap, active)
    conn = res.connection(isolated) if res else None
    if conn is None or conn.connected:
        unmet.append(f"{active} -> {isolated} DRBD still connected")
    return unmet


def _split_brain_seen(lab: Lab, snap: ClusterSnapshot) -> list[str]:
    unmet = []
    for name in lab.nodes:
        res = drbd_of(snap, name)
        if res is None or not res.split_brain.split_brain:
            unmet.append(f"{name}: no split-brain verdict")
    verdict = snap.split_brain.get(DRBD)
    if verdict is None or not verdict.split_brain:
        unmet.append("no cluster verdict")
    return unmet


def _one_primary(lab: Lab, snap: ClusterSnapshot) -> list[str]:
    unmet = _split_brain_seen(lab, snap)  # the verdict must not clear by itself
    roles = {n: r.role for n in lab.nodes if (r := drbd_of(snap, n)) is not None}
    primaries = [n for n, role in roles.items() if role is DrbdRole.PRIMARY]
    where = app_node(snap)
    if where is None or primaries != [where]:
        unmet.append(f"application on {where}, DRBD roles {roles}")
    return unmet


def _recovered(lab: Lab, snap: ClusterSnapshot) -> list[str]:
    unmet = healthy_problems(lab, snap)
    for name in lab.nodes:
        res = drbd_of(snap, name)
        if res is not None and res.split_brain.split_brain:
            unmet.append(f"{name}: verdict still true")
    return unmet


async def test_isolate_heal_split_brain_and_recovery(healthy_lab: Lab) -> None:
    """Cut link: both halves run the group; heal: split brain on both sides; recovery clears it."""
    lab = healthy_lab
    async with lab_client(lab) as client, contextlib.AsyncExitStack() as stack:
        first = await poll_until(client, partial(healthy_problems, lab), timeout=30, what="health")
        active = app_node(first.snapshot)
        assert active is not None
        isolated = lab.other(active)
        stack.enter_context(restored(lab))

        started = time.monotonic()
        lab.run("isolate", isolated)
        try:
            cut = await poll_until(
                client,
                partial(_cut_off, active, isolated),
                timeout=60,
                what=f"{isolated} cut off",
                since=started,
            )
            _report(
                f"isolate {isolated}: unreachable, offline for {active}", cut.seconds, cut.polls
            )
            gone = cut.snapshot.node(isolated)
            assert gone is not None
            assert gone.error_kind in {"timeout", "connection"}, gone
            assert not cut.snapshot.partitioned  # the core sees one half only
            # the other half (unreachable from here: the cable is cut at the bridge) runs the
            # group too: two_node keeps quorum and nothing fences
            took = lab.wait("group-on", isolated, on=isolated, timeout=90)
            print(f"[core-lab] isolate: {isolated} runs the group too after +{took:.2f} s")
            assert lab.check("group-on", active, on=active)
            for node in (active, isolated):  # the data diverges
                lab.exec(node, "/usr/bin/python3", "-c", WRITE, f"split-{node}")
        finally:
            healed = time.monotonic()
            lab.run("heal", isolated)

        sb = await poll_until(
            client,
            partial(_split_brain_seen, lab),
            timeout=60,
            what="the split-brain verdict on both nodes",
            since=healed,
        )
        _report("heal: split-brain verdict on both nodes", sb.seconds, sb.polls)
        # right after the heal, until corosync merges the halves, each half has its own DC and
        # runs the group: the core sees both views (how many polls catch it depends on timing)
        for snap in sb.history:
            views = {
                r.name: r.pacemaker
                for r in snap.nodes
                if r.reachable and r.pacemaker is not None and r.pacemaker.stack_running
            }
            dcs = {v.dc for v in views.values() if v.dc is not None}
            assert snap.partitioned == (len(dcs) > 1), (dcs, snap.partitioned)
            if snap.partitioned:
                where = {n: application_node(find_application(v)) for n, v in views.items()}
                print(f"[core-lab] heal: partitioned, DCs {sorted(dcs)}, application {where}")
        for name in lab.nodes:
            res = drbd_of(sb.snapshot, name)
            assert res is not None
            evidence = " | ".join(res.split_brain.evidence)
            assert "kernel: Split-Brain detected but unresolved" in evidence, (name, evidence)
            assert res.split_brain.peers == (lab.other(name),)
            assert any(c.connection_state is ConnectionState.STANDALONE for c in res.connections)
        verdict = sb.snapshot.split_brain[DRBD]
        assert set(verdict.peers) == set(lab.nodes)
        assert all(
            any(e.startswith(f"{n}: kernel: Split-Brain detected") for e in verdict.evidence)
            for n in lab.nodes
        ), verdict.evidence

        settled = await poll_until(
            client,
            partial(_one_primary, lab),
            timeout=90,
            what="pacemaker to keep one Primary",
            since=healed,
        )
        survivor = app_node(settled.snapshot)
        assert survivor is not None
        victim = lab.other(survivor)

        # the documented recovery (lab/README.md, DRBD's user guide), through the core's SSH:
        # the victim drops its changes, the survivor reconnects
        started = time.monotonic()
        await client.transport.session(victim).run(["drbdadm", "disconnect", DRBD])
        await run_ok(client, victim, "drbdadm", "secondary", DRBD)
        await run_ok(client, victim, "drbdadm", "connect", "--discard-my-data", DRBD)
        res = drbd_of(settled.snapshot, survivor)
        assert res is not None
        if any(c.connection_state is ConnectionState.STANDALONE for c in res.connections):
            await client.transport.session(survivor).run(["drbdadm", "disconnect", DRBD])
            await run_ok(client, survivor, "drbdadm", "connect", DRBD)
        pm = settled.snapshot.pacemaker
        if pm is not None and pm.failed_actions:
            # failures of the double start (multiple-active), cleaned up as an admin would
            await run_ok(client, survivor, "crm_resource", "--cleanup")
        fixed = await poll_until(
            client,
            partial(_recovered, lab),
            timeout=90,
            what="the verdict to clear and health",
            since=started,
        )
        _report("recovery: verdict cleared, healthy", fixed.seconds, fixed.polls)
        assert not fixed.snapshot.split_brain[DRBD].split_brain
        # the survivor's data won, the victim's was discarded (never merged)
        data = set(records(await client.transport.session(survivor).run(["cat", RECORDS])).values())
        assert f"split-{survivor}" in data
        assert f"split-{victim}" not in data


# --------------------------------------------------------------------------------------------
# 5. fail-disk
# --------------------------------------------------------------------------------------------


def _disk_failed(node: str, peer: str, snap: ClusterSnapshot) -> list[str]:
    unmet = []
    res = drbd_of(snap, node)
    if res is None or res.disk_state is not DiskState.DISKLESS:
        unmet.append(f"{node} disk {res.disk_state if res else None}")
    seen = drbd_of(snap, peer)
    conn = seen.connection(node) if seen else None
    if conn is None or conn.peer_disk_state not in {DiskState.DISKLESS, DiskState.DUNKNOWN}:
        unmet.append(f"{peer} sees {node}'s disk {conn.peer_disk_state if conn else None}")
    return unmet


async def test_fail_disk_then_repair(healthy_lab: Lab) -> None:
    """A failed backing disk: Failed then Diskless (not a client); repair resyncs to UpToDate."""
    lab = healthy_lab
    async with lab_client(lab) as client, contextlib.AsyncExitStack() as stack:
        first = await poll_until(client, partial(healthy_problems, lab), timeout=30, what="health")
        primary = app_node(first.snapshot)
        assert primary is not None
        node = lab.other(primary)
        stack.enter_context(restored(lab))
        before = len(kernel_lines(await client.transport.session(node).run(["dmesg"])))

        started = time.monotonic()
        lab.run("fail-disk", node)
        failed = await poll_until(
            client,
            partial(_disk_failed, node, primary),
            timeout=30,
            what=f"{node} Diskless",
            since=started,
        )
        _report(f"fail-disk {node}: Diskless", failed.seconds, failed.polls)
        res = drbd_of(failed.snapshot, node)
        assert res is not None
        assert not res.client  # a failed disk, not an intentionally diskless client
        assert res.role is DrbdRole.SECONDARY
        conn = res.connection(primary)
        assert conn is not None
        assert conn.connected
        assert conn.peer_disk_state is DiskState.UP_TO_DATE
        peer = drbd_of(failed.snapshot, primary)
        assert peer is not None
        assert peer.disk_state is DiskState.UP_TO_DATE
        seen_by_peer = peer.connection(node)
        assert seen_by_peer is not None
        assert seen_by_peer.peer_disk_state is DiskState.DISKLESS
        assert app_node(failed.snapshot) == primary
        # the kernel log tells the order: the disk failed, then DRBD detached it
        log = kernel_lines(await client.transport.session(node).run(["dmesg"]))[before:]
        i_failed = first_index(log, "-> Failed )")
        assert i_failed >= 0, log
        assert first_index(log, "disk( Failed -> Diskless )", i_failed) > i_failed, log
        before = len(log) + before

        started = time.monotonic()
        lab.run("repair-disk", node)
        back = await poll_until(
            client, partial(healthy_problems, lab), timeout=90, what="health", since=started
        )
        _report(f"repair-disk {node}: resynced, UpToDate", back.seconds, back.polls)
        log = kernel_lines(await client.transport.session(node).run(["dmesg"]))[before:]
        assert first_index(log, "-> SyncTarget )") >= 0, "\n".join(log)
        assert first_index(log, "Resync done") >= 0, "\n".join(log)


# --------------------------------------------------------------------------------------------
# 6. stack down
# --------------------------------------------------------------------------------------------


def _stack_down(node: str, other: str, snap: ClusterSnapshot) -> list[str]:
    unmet = []
    report = snap.node(node)
    if report is None or not report.reachable:
        unmet.append(f"{node} unreachable")
    elif report.pacemaker is None or report.pacemaker.stack_running:
        unmet.append(f"{node}'s pacemaker still answers")
    if snap.view_from != other:
        unmet.append(f"view from {snap.view_from}")
    pm_node = snap.pacemaker.node(node) if snap.pacemaker else None
    if pm_node is None or pm_node.online:
        unmet.append(f"{node} online in the view")
    return unmet


async def test_stack_down_on_the_secondary(healthy_lab: Lab) -> None:
    """kill-stack: the node answers SSH, its stack is down, the other node's view shows it."""
    lab = healthy_lab
    async with lab_client(lab) as client, contextlib.AsyncExitStack() as stack:
        first = await poll_until(client, partial(healthy_problems, lab), timeout=30, what="health")
        active = app_node(first.snapshot)
        assert active is not None
        node = lab.other(active)
        stack.enter_context(restored(lab))

        started = time.monotonic()
        lab.run("kill-stack", node)
        down = await poll_until(
            client,
            partial(_stack_down, node, active),
            timeout=30,
            what=f"{node}'s stack down",
            since=started,
        )
        _report(f"kill-stack {node}: stack down, offline", down.seconds, down.polls)
        report = down.snapshot.node(node)
        assert report is not None
        assert report.error is None
        assert report.pacemaker is not None
        assert report.pacemaker.dc is None
        assert not report.pacemaker.quorate
        assert "crm_mon" not in report.command_errors  # a state, not an error
        assert report.quorum is not None
        assert not report.quorum.running
        assert report.links is not None
        assert not report.links.running
        res = drbd_of(down.snapshot, node)  # DRBD (the "kernel") is not part of the stack
        assert res is not None
        assert res.role is DrbdRole.SECONDARY
        assert app_node(down.snapshot) == active
        crm = await client.transport.session(node).run(["crm_mon", "--output-as=xml"])
        assert crm.exit_status == 102, crm

        started = time.monotonic()
        lab.run("start-stack", node)
        back = await poll_until(
            client, partial(healthy_problems, lab), timeout=90, what="health", since=started
        )
        _report(f"start-stack {node}: healthy", back.seconds, back.polls)
        assert app_node(back.snapshot) == active


# --------------------------------------------------------------------------------------------
# 7. Home Assistant as the cluster's application (scripts/lab up --with-home-assistant)
# --------------------------------------------------------------------------------------------

MARKER = "sensor.core_lab_marker"
#: ``pgrep -f`` pattern of Home Assistant's process (the brackets keep it from matching a
#: command line that contains the pattern itself, e.g. a ``timeout pgrep ...`` wrapper)
HASS_PROCESS = "bin/[h]ass -c"


def ha_api(lab: Lab, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call Home Assistant's REST API through the VIP with the lab's long-lived token."""
    req = urllib.request.Request(
        f"http://{lab.vip}:8123{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={
            "Authorization": f"Bearer {lab.env['HALAB_HA_TOKEN']}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        return json.loads(resp.read().decode())


async def ha_until(lab: Lab, path: str, check: Callable[[Any], bool], *, timeout: float) -> float:
    """Call ``GET path`` until ``check`` accepts the answer (errors retried); seconds it took."""
    start = time.monotonic()
    last: object = None
    while time.monotonic() - start < timeout:
        try:
            last = await asyncio.to_thread(ha_api, lab, path)
        except (OSError, ValueError) as err:  # not up yet (refused, 502, half-started)
            last = err
        else:
            if check(last):
                return time.monotonic() - start
        await asyncio.sleep(0.5)
    pytest.fail(f"Home Assistant: GET {path} not as expected after {timeout:g} s: {last!r}")


def _has_marker(value: str, answer: Any) -> bool:
    return any(s.get("state") == value for group in answer for s in group)


@pytest.mark.lab_shape("hass")
async def test_home_assistant_fails_over_with_its_history(lab: Lab) -> None:
    """HA answers on the VIP; after a standby failover it answers from the other node, with
    the state written before the failover in its recorder history."""
    if not (REPO / ".venv" / "bin" / "hass").exists():
        pytest.skip("--with-home-assistant needs Home Assistant in the project's .venv")
    with contextlib.ExitStack() as held:
        # off the event loop, both can take minutes: the e2e lock (other pytest processes) and
        # the rebuild (down, up, Home Assistant's first start); healthy_lab rebuilds the default
        await asyncio.to_thread(held.enter_context, lab.exclusive())
        hlab = await asyncio.to_thread(lab.rebuild, mode="hass")
        assert hlab.mode == "hass"
        assert hlab.env.get("HALAB_HA_TOKEN"), "scripts/lab env has no HALAB_HA_TOKEN"
        async with lab_client(hlab) as client, contextlib.AsyncExitStack() as stack:
            first = await poll_until(
                client, partial(healthy_problems, hlab), timeout=120, what="health"
            )
            active = app_node(first.snapshot)
            assert active is not None
            target = hlab.other(active)
            stack.enter_context(restored(hlab))
            await ha_until(hlab, "/api/", lambda a: a.get("message") == "API running.", timeout=180)
            hass = await run_ok(client, active, "pgrep", "-f", HASS_PROCESS)
            assert hass.strip()

            since = datetime.now(UTC) - timedelta(minutes=1)
            value = f"before-failover-{uuid.uuid4().hex[:8]}"
            await asyncio.to_thread(ha_api, hlab, f"/api/states/{MARKER}", {"state": value})
            history = (
                f"/api/history/period/{since.isoformat(timespec='seconds').replace('+', '%2B')}"
                f"?filter_entity_id={MARKER}"
            )
            # the recorder commits every second: the state is in the database before we move
            await ha_until(hlab, history, partial(_has_marker, value), timeout=30)

            started = time.monotonic()
            hlab.run("exec", target, "crm", "node", "standby", active)
            moved = await poll_until(
                client,
                partial(_standby_moved, active, target),
                timeout=240,
                what=f"Home Assistant's group on {target}",
                since=started,
            )
            _report(f"hass: standby {active}: group on {target}", moved.seconds, moved.polls)
            took = await ha_until(
                hlab, "/api/", lambda a: a.get("message") == "API running.", timeout=120
            )
            print(f"[core-lab] hass: answering on the VIP +{took:.2f} s later")
            assert (await run_ok(client, target, "pgrep", "-f", HASS_PROCESS)).strip()
            gone = await client.transport.session(active).run(["pgrep", "-f", HASS_PROCESS])
            assert gone.exit_status == 1, gone  # the instance on the old node stopped
            # the new instance started from the replicated recorder database
            await ha_until(hlab, history, partial(_has_marker, value), timeout=30)

            hlab.run("exec", target, "crm", "node", "online", active)
            await wait_healthy(client, hlab, timeout=120, what="health after online")
