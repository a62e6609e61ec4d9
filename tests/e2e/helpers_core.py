"""Helpers for the core's end-to-end tests (``test_core_lab.py``): a lab client, polling loops.

Everything here goes through the ``hacluster`` core over real SSH to the nodes' own addresses
(pinned host keys, the lab's client key), as the integration does. The checks return lists of
unmet conditions (empty = satisfied) so that a loop that runs out of time can say what was
still missing, next to a compact summary of the last snapshot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
import contextlib
from dataclasses import dataclass
import time
from typing import TYPE_CHECKING

import pytest

from hacluster.analysis import application_node, find_application
from hacluster.client import ClusterClient, ClusterSnapshot
from hacluster.models.drbd import (
    ConnectionState,
    DiskState,
    DrbdResource,
    DrbdRole,
    ReplicationState,
)
from hacluster.models.pacemaker import NodeState
from hacluster.transport import CommandResult, Credentials, NodeEndpoint

if TYPE_CHECKING:
    from conftest import Lab

APP = "g_home-assistant"
"""The application group of the lab (found by ``find_application``)."""
DRBD = "home-assistant"
"""The lab's DRBD resource."""
RECORDS = "/mnt/home-assistant/app/records"
"""What the application stand-in (``ocf:halab:app``) appends to, fsync'ed, one line a write."""

KEEPALIVE_INTERVAL = 1.0
KEEPALIVE_COUNT_MAX = 2
KEEPALIVE_WINDOW = KEEPALIVE_INTERVAL * (KEEPALIVE_COUNT_MAX + 1)
"""Seconds after which a silent node's connection is declared dead."""

SplitCheck = Callable[[ClusterSnapshot], list[str]]


@contextlib.asynccontextmanager
async def lab_client(lab: Lab) -> AsyncIterator[ClusterClient]:
    """A core client for the lab's nodes (their own addresses, never the VIP); closed after.

    Short keepalives (a dead node is noticed within :data:`KEEPALIVE_WINDOW` seconds) and a
    short reconnect backoff, so that a node that comes back is seen again within seconds.
    The command timeout leaves room for a loaded 2-CPU machine (a poll takes 1-2 s there).
    """
    endpoints = [
        NodeEndpoint(name=n, host=lab.addresses[n], port=lab.ssh_port, host_key=lab.host_keys[n])
        for n in lab.nodes
    ]
    creds = Credentials(username=lab.ssh_user, private_key=lab.client_key)
    client = ClusterClient(
        endpoints,
        creds,
        connect_timeout=2.0,
        command_timeout=10.0,
        keepalive_interval=KEEPALIVE_INTERVAL,
        keepalive_count_max=KEEPALIVE_COUNT_MAX,
        reconnect_backoff=(0.5, 2.0),
    )
    try:
        yield client
    finally:
        await client.close()


@dataclass(frozen=True, kw_only=True, slots=True)
class Waited:
    """The outcome of :func:`poll_until`."""

    snapshot: ClusterSnapshot
    seconds: float
    polls: int
    history: tuple[ClusterSnapshot, ...]
    times: tuple[float, ...]
    """For each snapshot of ``history``: seconds from ``since`` until that poll returned."""


async def poll_until(
    client: ClusterClient,
    check: SplitCheck,
    *,
    timeout: float,
    what: str,
    since: float | None = None,
) -> Waited:
    """Poll back to back until ``check`` returns no unmet condition; fail the test on timeout.

    ``seconds`` counts from ``since`` (a ``time.monotonic()`` value, e.g. when a lab action
    started) or from the call. ``history`` holds every snapshot seen, in order, and ``times``
    when each arrived.
    """
    start = time.monotonic() if since is None else since
    deadline = time.monotonic() + timeout
    history: list[ClusterSnapshot] = []
    times: list[float] = []
    while True:
        snap = await client.poll()
        history.append(snap)
        times.append(time.monotonic() - start)
        unmet = check(snap)
        if not unmet:
            return Waited(
                snapshot=snap,
                seconds=times[-1],
                polls=len(history),
                history=tuple(history),
                times=tuple(times),
            )
        if time.monotonic() >= deadline:
            pytest.fail(
                f"after {timeout:g} s ({len(history)} polls) still waiting for {what}: "
                f"{'; '.join(unmet)}\nlast snapshot: {summarize(snap)}"
            )


def drbd_of(snap: ClusterSnapshot, node: str) -> DrbdResource | None:
    """The lab's DRBD resource as ``node`` reports it (None when unreachable or down)."""
    report = snap.node(node)
    if report is None or report.drbd is None:
        return None
    return report.drbd.resource(DRBD)


def app_node(snap: ClusterSnapshot) -> str | None:
    """Where the cluster view says the application runs (None: stopped or on several)."""
    if snap.pacemaker is None:
        return None
    return application_node(find_application(snap.pacemaker))


def summarize(snap: ClusterSnapshot) -> str:
    """One line per node plus the cluster view: enough to see why a wait failed."""
    lines = []
    pm = snap.pacemaker
    if pm is None:
        lines.append("cluster view: none")
    else:
        states = {n.name: str(n.state) for n in pm.nodes}
        app = find_application(pm)
        failed = [f"{f.resource}@{f.node}" for f in pm.failed_actions]
        lines.append(
            f"view from {snap.view_from}: stack {pm.stack_running} dc {pm.dc} quorate "
            f"{pm.quorate} nodes {states} app {app.id if app else None} on "
            f"{list(app.running_on) if app else []} failed actions {failed}"
        )
    lines.append(
        f"partitioned {snap.partitioned} split_brain "
        f"{ {k: v.split_brain for k, v in snap.split_brain.items()} }"
    )
    for report in snap.nodes:
        if not report.reachable:
            lines.append(f"{report.name}: unreachable ({report.error_kind}: {report.error})")
            continue
        res = report.drbd.resource(DRBD) if report.drbd else None
        drbd = "drbd down"
        if res is not None:
            peers = ", ".join(
                f"{c.name}:{c.connection_state}/{c.peer_role}/{c.peer_disk_state}/"
                f"{c.replication_state}"
                for c in res.connections
            )
            drbd = f"{res.role} {res.disk_state} [{peers}] sb {res.split_brain.split_brain}"
        stack = report.pacemaker.stack_running if report.pacemaker else None
        lines.append(f"{report.name}: stack {stack} {drbd} errors {dict(report.command_errors)}")
    return "\n  ".join(lines)


def healthy_problems(lab: Lab, snap: ClusterSnapshot) -> list[str]:
    """What keeps the snapshot from showing the healthy lab (empty list: healthy).

    Every node reachable and online; DC, quorum, two_node and knet links; the application on
    exactly one node with DRBD Primary/UpToDate there and Secondary/UpToDate elsewhere, every
    peer Connected/Established/UpToDate; no split brain; not partitioned.
    """
    pm = snap.pacemaker
    problems = [f"{r.name} unreachable ({r.error_kind})" for r in snap.nodes if not r.reachable]
    if pm is None or not pm.stack_running:
        return [*problems, "no running cluster view"]
    if pm.dc not in lab.nodes or not pm.quorate:
        problems.append(f"dc {pm.dc} quorate {pm.quorate}")
    for name in lab.nodes:
        node = pm.node(name)
        if node is None or node.state is not NodeState.ONLINE:
            problems.append(f"{name} is {node.state if node else 'missing'}")
    app = find_application(pm)
    where = application_node(app)
    if app is None or app.id != APP or where is None or app.failed:
        problems.append(f"application {app.id if app else None} on {app and app.running_on}")
    if snap.partitioned:
        problems.append("partitioned")
    verdict = snap.split_brain.get(DRBD)
    if verdict is None or verdict.split_brain:
        problems.append(f"cluster split brain verdict {verdict}")
    for report in snap.nodes:
        if not report.reachable:
            continue
        name = report.name
        if report.quorum is None or not report.quorum.quorate:
            problems.append(f"{name}: corosync not quorate")
        if report.links is None or not report.links.running:
            problems.append(f"{name}: no knet link status")
        else:
            for other in lab.nodes:
                pm_node = pm.node(other)
                if pm_node is not None and not report.links.connected(int(pm_node.node_id)):
                    problems.append(f"{name}: knet link to {other} not connected")
        res = drbd_of(snap, name)
        if res is None:
            problems.append(f"{name}: DRBD {DRBD} not reported")
            continue
        want = DrbdRole.PRIMARY if name == where else DrbdRole.SECONDARY
        if res.role is not want or res.disk_state is not DiskState.UP_TO_DATE:
            problems.append(f"{name}: DRBD {res.role} {res.disk_state}, want {want} UpToDate")
        if res.split_brain.split_brain:
            problems.append(f"{name}: split brain {res.split_brain.evidence}")
        peers = {c.name: c for c in res.connections}
        for other in lab.nodes:
            if other == name:
                continue
            conn = peers.get(other)
            if conn is None:
                problems.append(f"{name}: no DRBD connection to {other}")
            elif (
                conn.connection_state is not ConnectionState.CONNECTED
                or conn.replication_state is not ReplicationState.ESTABLISHED
                or conn.peer_disk_state is not DiskState.UP_TO_DATE
            ):
                problems.append(
                    f"{name} -> {other}: {conn.connection_state}/{conn.replication_state}/"
                    f"{conn.peer_disk_state}"
                )
    return problems


def records(result: CommandResult) -> dict[int, str]:
    """The application's records (``seq -> data``) from a ``cat RECORDS`` result."""
    assert result.exit_status == 0, result
    out: dict[int, str] = {}
    for line in result.stdout.decode().splitlines():
        fields = line.split("\t")
        if len(fields) >= 4 and fields[0].isdigit():
            out[int(fields[0])] = fields[3]
    return out


def kernel_lines(result: CommandResult, resource: str = DRBD) -> list[str]:
    """The node's DRBD kernel-log lines for ``resource`` (from a ``dmesg`` result), in order."""
    assert result.exit_status == 0, result
    marker = f"drbd {resource}"
    return [line for line in result.stdout.decode().splitlines() if marker in line]


def first_index(lines: Sequence[str], needle: str, start: int = 0) -> int:
    """Index of the first line at or after ``start`` containing ``needle`` (-1: none)."""
    return next((i for i in range(start, len(lines)) if needle in lines[i]), -1)
