"""Tests for hacluster.control with a fake transport: argv sent, node choice, settle, verify.

The fake cluster serves recorded crm_mon/cibadmin/DRBD outputs (``fixtures/``) as "frames".
Each command the controller sends may queue the frames the following light polls see, one
frame per poll, the last one staying; the full poll (``client.poll()``) shows the current frame
through ``build_node_report``/``build_snapshot``, as the real client would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import json
import time

import pytest
from test_interlocks import (
    ADDRESSES,
    APP,
    DRBD,
    HOST_KEY,
    crm_bytes,
    drbd_swapped,
    report,
    snapshot,
    unreachable,
)

from hacluster.client import ClusterSnapshot, NodeReport
from hacluster.commands import BatchCommand, BatchResult, CommandResult
from hacluster.control import (
    ActionResult,
    ClusterController,
    LightView,
    PendingAction,
    ResultCode,
    choose_command_nodes,
    detached,
)
from hacluster.errors import (
    ActionFailedError,
    ClusterConnectionError,
    ClusterTimeoutError,
    InterlockError,
    ParseError,
)
from hacluster.interlocks import (
    ActionKind,
    CleanupResourceRequest,
    FailoverRequest,
    StandbyNodeRequest,
)
from hacluster.models.pacemaker import PacemakerStatus
from hacluster.transport import NodeEndpoint

MOVE = ("crm_resource", "--resource", APP, "--move", "--node", "ha-1")
CLEAR = ("crm_resource", "--resource", APP, "--clear")


@dataclass(frozen=True, kw_only=True)
class Frame:
    """What the cluster looks like at one moment."""

    crm: str | bytes
    constraints: str = "healthy"
    drbd: Mapping[str, str | bytes] = field(
        default_factory=lambda: {"ha-0": "healthy-primary", "ha-1": "healthy-secondary"}
    )
    dc_state: str = "S_IDLE"

    def crm_data(self) -> bytes:
        return self.crm if isinstance(self.crm, bytes) else crm_bytes(self.crm)

    def constraints_data(self) -> bytes:
        from test_interlocks import PACEMAKER

        return (PACEMAKER / f"{self.constraints}.constraints.xml").read_bytes()

    def drbd_data(self, node: str) -> bytes | None:
        data = self.drbd.get(node)
        if data is None or isinstance(data, bytes):
            return data
        return (DRBD / f"status-json-9.33-{data}.json").read_bytes()


MOVED_DRBD = {"ha-0": drbd_swapped("healthy-secondary"), "ha-1": drbd_swapped("healthy-primary")}
HEALTHY = Frame(crm="healthy")
BUSY = Frame(crm="healthy", dc_state="S_TRANSITION_ENGINE")
MOVED_WITH_CONSTRAINT = Frame(crm="move", constraints="move", drbd=MOVED_DRBD)
MOVED = Frame(crm="move", constraints="healthy", drbd=MOVED_DRBD)
HEALTHY_WITH_CONSTRAINT = Frame(crm="healthy", constraints="move")
STANDBY = Frame(crm="standby", drbd=MOVED_DRBD)
STANDBY_PENDING = Frame(
    crm=crm_bytes(
        "healthy",
        **{
            'name="ha-0" id="1" online="true" standby="false"': (
                'name="ha-0" id="1" online="true" standby="true"'
            )
        },
    )
)
ONLINE_APP_ON_HA1 = Frame(crm="move", constraints="healthy", drbd=MOVED_DRBD)
CLUSTER_MAINTENANCE = Frame(crm="cluster-maintenance")
NODE_MAINTENANCE = Frame(crm="node-maintenance")
FAILED_MONITOR = Frame(crm="failed-monitor")
RESTARTING = Frame(
    crm=crm_bytes(
        "healthy",
        **{
            '<resource id="p_fs_home-assistant" resource_agent="ocf:heartbeat:Filesystem" '
            'role="Started"': '<resource id="p_fs_home-assistant" resource_agent='
            '"ocf:heartbeat:Filesystem" role="Stopped" target_role="Stopped"'
        },
    )
)


class FakeSession:
    """Implements what the controller uses of a NodeSession: ``run`` and ``run_batch``."""

    def __init__(self, name: str, cluster: FakeCluster) -> None:
        self.name = name
        self.cluster = cluster

    async def run(self, argv: Sequence[str], *, timeout: float | None = None) -> CommandResult:
        return self.cluster.command(self.name, tuple(argv), timeout)

    async def run_batch(
        self,
        commands: Sequence[BatchCommand],
        *,
        timeout: float | None = None,
        parallel: bool = False,
    ) -> BatchResult:
        assert parallel, "light polls only read: their commands run side by side"
        return self.cluster.light(self.name, tuple(commands))


class FakeTransport:
    def __init__(self, cluster: FakeCluster, names: Sequence[str]) -> None:
        self.sessions = {n: FakeSession(n, cluster) for n in names}
        self.closed = False

    def session(self, node: str) -> FakeSession:
        return self.sessions[node]


class FakeCluster:
    """Frames, reactions to commands, and a record of everything sent."""

    def __init__(self, frame: Frame, nodes: Sequence[str] = ("ha-0", "ha-1")) -> None:
        self.frame = frame
        self.queue: list[Frame] = []
        self.reactions: dict[tuple[str, ...], list[Frame]] = {}
        self.exit: dict[tuple[str, ...], tuple[int, bytes]] = {}
        self.sent: list[tuple[str, tuple[str, ...], float | None]] = []
        self.batches: list[tuple[str, tuple[str, ...]]] = []
        self.down: set[str] = set()
        self.refuse: dict[str, Exception] = {}
        self.batch_errors: dict[str, Exception] = {}
        self.crmadmin_missing = False
        self.nodes = tuple(nodes)
        self.transport = FakeTransport(self, nodes)
        self.polls = 0

    def on(self, argv: tuple[str, ...], *frames: Frame) -> None:
        self.reactions[argv] = list(frames)

    def command(self, node: str, argv: tuple[str, ...], timeout: float | None) -> CommandResult:
        if node in self.refuse:
            raise self.refuse[node]
        self.sent.append((node, argv, timeout))
        status, stderr = self.exit.get(argv, (0, b""))
        if status == 0 and argv in self.reactions:
            self.queue = list(self.reactions[argv])
        return CommandResult(argv=argv, exit_status=status, stdout=b"", stderr=stderr)

    def light(self, node: str, commands: tuple[BatchCommand, ...]) -> BatchResult:
        """A light poll, or one node's part of a verification poll (the next frame shows when
        the batch asks crm_mon: the target's DRBD comes from the frame the DC's batch showed)."""
        self.batches.append((node, tuple(c.name for c in commands)))
        if node in self.batch_errors:
            raise self.batch_errors[node]
        if self.queue and any(c.name == "crm_mon" for c in commands):
            self.frame = self.queue.pop(0)
        results: dict[str, CommandResult] = {}
        for cmd in commands:
            if cmd.name == "crm_mon":
                out, status, err = self.frame.crm_data(), 0, b""
            elif cmd.name == "cib_constraints":
                out, status, err = self.frame.constraints_data(), 0, b""
            elif cmd.name == "drbd_status":
                drbd = self.frame.drbd_data(node)
                out, status, err = (b"", 127, b"not found\n") if drbd is None else (drbd, 0, b"")
            else:
                assert cmd.argv[:3] == ("crmadmin", "-q", "-S")
                if self.crmadmin_missing:
                    out, status, err = b"", 127, b"crmadmin: not found\n"
                else:
                    out, status, err = b"", 0, self.frame.dc_state.encode() + b"\n"
            results[cmd.name] = CommandResult(
                argv=cmd.argv, exit_status=status, stdout=out, stderr=err
            )
        return BatchResult(node=node, results=results, duration=0.01, bytes_read=1)

    def snapshot(self) -> ClusterSnapshot:
        reports: list[NodeReport] = []
        for name in self.nodes:
            if name in self.down:
                reports.append(unreachable(name))
                continue
            drbd = self.frame.drbd.get(name)
            reports.append(
                report(
                    name,
                    crm=self.frame.crm_data(),
                    constraints=self.frame.constraints,
                    drbd=drbd,
                    quorum=f"two-node-{name}",
                )
            )
        return snapshot(*reports)

    @property
    def argvs(self) -> list[tuple[str, ...]]:
        return [argv for _, argv, _ in self.sent]


class FakeClient:
    """The parts of ClusterClient the controller uses: ``transport`` and ``poll``."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.transport = cluster.transport
        self.endpoints = tuple(
            NodeEndpoint(name=n, host=ADDRESSES[n], host_key=HOST_KEY) for n in cluster.nodes
        )

    async def poll(self) -> ClusterSnapshot:
        self.cluster.polls += 1
        if self.cluster.queue:
            self.cluster.frame = self.cluster.queue.pop(0)
        return self.cluster.snapshot()


def controller(cluster: FakeCluster, **kwargs: object) -> ClusterController:
    options: dict[str, object] = {
        "poll_interval": 0.001,
        "settle_timeout": 2.0,
        "accept_timeout": 0.3,
    }
    options.update(kwargs)
    return ClusterController(FakeClient(cluster), **options)  # type: ignore[arg-type]


# ---- node choice -----------------------------------------------------------------------------


def test_choose_command_nodes_prefers_the_dc_and_skips_vip_unreachable_and_stopped() -> None:
    healthy = snapshot(report("ha-0"), report("ha-1", drbd="healthy-secondary"))
    assert choose_command_nodes(healthy) == ("ha-0", "ha-1")
    # the DC listed second still comes first
    flipped = snapshot(report("ha-1", drbd="healthy-secondary"), report("ha-0"))
    assert choose_command_nodes(flipped) == ("ha-0", "ha-1")
    # an endpoint whose address is the VIP is never used
    via_vip = snapshot(report("ha-0", host="198.18.0.10"), report("ha-1", drbd="healthy-secondary"))
    assert choose_command_nodes(via_vip, vip="198.18.0.10") == ("ha-1",)
    assert choose_command_nodes(snapshot(unreachable("ha-0"), report("ha-1"))) == ("ha-1",)
    stopped = report("ha-1", crm=crm_bytes("stack-down"), constraints="none", drbd=None)
    assert choose_command_nodes(snapshot(report("ha-0"), stopped)) == ("ha-0",)
    # a member without quorum ranks after one with quorum
    no_quorum = crm_bytes("healthy", **{'with_quorum="true"': 'with_quorum="false"'})
    lonely = report("ha-0", crm=no_quorum, constraints="healthy")
    other = report("ha-1", crm="node-offline", drbd="isolated-primary-ha-1")
    assert choose_command_nodes(snapshot(lonely, other)) == ("ha-1", "ha-0")


async def test_command_goes_to_the_dc_not_the_first_endpoint() -> None:
    cluster = FakeCluster(HEALTHY, nodes=("ha-1", "ha-0"))
    cluster.on(MOVE, HEALTHY_WITH_CONSTRAINT, MOVED_WITH_CONSTRAINT)
    cluster.on(CLEAR, MOVED)
    result = await controller(cluster).execute(FailoverRequest())
    assert result.ok, result.message
    assert {node for node, _, _ in cluster.sent} == {"ha-0"}
    assert result.command_node == "ha-0"


async def test_next_node_after_a_connection_error_but_not_after_a_timeout() -> None:
    cluster = FakeCluster(HEALTHY)
    cluster.refuse["ha-0"] = ClusterConnectionError("ha-0: connection lost")
    cluster.on(StandbyArgv.HA1, Frame(crm=crm_bytes("healthy", **StandbyArgv.HA1_EDIT)))
    result = await controller(cluster).execute(StandbyNodeRequest(node="ha-1"))
    assert result.ok, result.message
    assert cluster.sent[0][0] == "ha-1"
    assert result.command_node == "ha-1"
    # a timeout may mean the command ran: never resent elsewhere
    cluster = FakeCluster(HEALTHY)
    cluster.refuse["ha-0"] = ClusterTimeoutError("ha-0: no answer")
    with pytest.raises(ClusterTimeoutError):
        await controller(cluster).execute(StandbyNodeRequest(node="ha-1"))
    assert cluster.sent == []
    # a restart is not resent either (not idempotent)
    cluster = FakeCluster(HEALTHY)
    cluster.refuse["ha-0"] = ClusterConnectionError("lost")
    with pytest.raises(ClusterConnectionError):
        await controller(cluster).restart_resource(APP)
    # every node refuses
    cluster = FakeCluster(HEALTHY)
    cluster.refuse = {n: ClusterConnectionError(f"{n} lost") for n in cluster.nodes}
    with pytest.raises(ClusterConnectionError, match="ha-1 lost"):
        await controller(cluster).standby_node("ha-1")


async def test_no_node_can_take_the_command() -> None:
    cluster = FakeCluster(HEALTHY)
    snap = snapshot(report("ha-0", host="198.18.0.10"), unreachable("ha-1"))
    with pytest.raises(ClusterConnectionError, match="no reachable cluster node"):
        await controller(cluster, vip="198.18.0.10").execute(
            StandbyNodeRequest(node="ha-1", force=True), snapshot=snap
        )
    assert cluster.sent == []


class StandbyArgv:
    HA0 = (
        "crm_attribute",
        "--node",
        "ha-0",
        "--name",
        "standby",
        "--update",
        "on",
        "--lifetime",
        "forever",
    )
    HA1 = (
        "crm_attribute",
        "--node",
        "ha-1",
        "--name",
        "standby",
        "--update",
        "on",
        "--lifetime",
        "forever",
    )
    HA0_OFF = (
        "crm_attribute",
        "--node",
        "ha-0",
        "--name",
        "standby",
        "--update",
        "off",
        "--lifetime",
        "forever",
    )
    # healthy.xml with ha-1 in standby: the DRBD clone instance on ha-1 is gone
    HA1_EDIT = {  # noqa: RUF012
        'name="ha-1" id="2" online="true" standby="false"': (
            'name="ha-1" id="2" online="true" standby="true"'
        ),
        'resources_running="1"': 'resources_running="0"',
        '<node name="ha-1" id="2" cached="true"/>\n      </resource>\n    </clone>': (
            "</resource>\n    </clone>"
        ),
    }


# ---- failover ----------------------------------------------------------------------------------


async def test_failover_moves_waits_clears_and_verifies() -> None:
    cluster = FakeCluster(HEALTHY)
    cluster.on(MOVE, HEALTHY_WITH_CONSTRAINT, HEALTHY_WITH_CONSTRAINT, MOVED_WITH_CONSTRAINT)
    settling = Frame(crm="move", drbd=MOVED_DRBD, dc_state="S_POLICY_ENGINE")
    cluster.on(CLEAR, settling, MOVED)
    result = await controller(cluster).failover()
    assert cluster.argvs == [MOVE, CLEAR]
    assert result.ok, result.message
    assert result.code is ResultCode.OK
    assert result.action is ActionKind.FAILOVER
    assert result.new_location == "ha-1"
    assert result.constraint_left is False
    assert result.cluster_seconds is not None
    assert 0 < result.cluster_seconds <= result.duration_s
    assert [str(w.code) for w in result.warnings] == ["fencing_disabled"]
    assert result.details["source"] == "ha-0"
    assert result.details["target"] == "ha-1"
    assert "move g_home-assistant to ha-1: done in" in result.message
    # light polls while it moves: crm_mon alone on the DC (arriving needs neither the CIB nor
    # the DC's state); after the clear the verification poll: the DC's crm_mon and constraints
    # and the target's DRBD, side by side, which saw what the clear queued
    assert cluster.batches == [("ha-0", ("crm_mon",))] * 3 + [
        ("ha-0", ("crm_mon", "cib_constraints")),
        ("ha-1", ("drbd_status",)),
    ]
    assert result.details["polls"] == 3
    assert cluster.polls == 1  # the interlock poll: no full poll was needed to verify
    assert cluster.queue == [MOVED]
    assert result.snapshot is None  # a verification poll is not a whole cluster's state
    data = result.to_dict()
    json.dumps(data)
    assert data["code"] == "ok"
    assert data["pending"] is None
    assert "snapshot" not in data
    assert list(data["details"]["timings"]) == ["polled", "sent", "seen", "cleared", "verified"]
    assert result.raise_for_status() is result


async def test_failover_can_wait_for_an_idle_dc_after_the_clear() -> None:
    cluster = FakeCluster(HEALTHY)
    cluster.on(MOVE, MOVED_WITH_CONSTRAINT)
    settling = Frame(crm="move", drbd=MOVED_DRBD, dc_state="S_POLICY_ENGINE")
    cluster.on(CLEAR, settling, MOVED)
    result = await controller(cluster, idle_timeout=1.0).failover()
    assert result.ok, result.message
    assert cluster.batches[-3] == ("ha-0", ("crm_mon", "cib_constraints", "dc_state"))
    assert result.details["polls"] == 3
    assert list(result.details["timings"]) == [
        "polled", "sent", "seen", "cleared", "checked", "verified",
    ]  # fmt: skip


async def test_failover_that_does_not_arrive_reports_the_constraint() -> None:
    cluster = FakeCluster(HEALTHY)
    cluster.on(MOVE, HEALTHY_WITH_CONSTRAINT)
    result = await controller(cluster, settle_timeout=0.05).failover("ha-1")
    assert not result.ok
    assert result.code is ResultCode.SETTLE_TIMEOUT
    assert result.constraint_left is True
    assert "cli-prefer-g_home-assistant is still in place" in result.message
    assert result.cluster_seconds is None
    assert result.new_location == "ha-0"
    assert cluster.argvs == [MOVE]  # never cleared silently
    with pytest.raises(ActionFailedError, match="did not get there"):
        result.raise_for_status()


async def test_failover_timeout_without_constraint() -> None:
    cluster = FakeCluster(HEALTHY)
    result = await controller(cluster, settle_timeout=0.02).failover("ha-1")
    assert result.code is ResultCode.SETTLE_TIMEOUT
    assert not result.constraint_left
    assert "no move constraint is left" in result.message


async def test_failover_command_failure() -> None:
    cluster = FakeCluster(HEALTHY)
    cluster.exit[MOVE] = (1, b"Error performing operation: Invalid argument\n")
    result = await controller(cluster).failover()
    assert result.code is ResultCode.COMMAND_FAILED
    assert not result.ok
    assert result.constraint_left is False
    assert "exit status 1: Error performing operation" in result.message
    assert result.details["stderr"].startswith("Error performing")


async def test_failover_clear_failure_keeps_reporting_the_constraint() -> None:
    cluster = FakeCluster(HEALTHY)
    cluster.on(MOVE, MOVED_WITH_CONSTRAINT)
    cluster.exit[CLEAR] = (1, b"clear failed\n")
    result = await controller(cluster).failover()
    assert result.code is ResultCode.CLEAR_FAILED
    assert result.constraint_left is True
    assert result.new_location == "ha-1"
    assert "cli-prefer-g_home-assistant is still in place" in result.message


async def test_failover_that_moves_back_after_the_clear_fails_verification() -> None:
    cluster = FakeCluster(HEALTHY)
    cluster.on(MOVE, MOVED_WITH_CONSTRAINT)
    cluster.on(CLEAR, HEALTHY)  # location scores pull it back once the constraint is gone
    result = await controller(cluster).failover()
    assert result.code is ResultCode.VERIFY_FAILED
    assert "it moved away again after its move constraint was cleared" in result.message
    assert "the verification does not show the expected state" not in result.message
    assert "DRBD home-assistant is Secondary on ha-1, not Primary" in result.message
    assert result.new_location == "ha-0"
    assert not result.constraint_left


async def test_failover_verify_sees_the_constraint_still_there() -> None:
    cluster = FakeCluster(HEALTHY)
    cluster.on(MOVE, MOVED_WITH_CONSTRAINT)
    cluster.on(CLEAR, MOVED_WITH_CONSTRAINT)  # the clear "worked" but the CIB still has it
    result = await controller(cluster).failover()
    assert result.code is ResultCode.VERIFY_FAILED
    assert result.constraint_left
    assert "move constraint of g_home-assistant is still in place" in result.message
    assert result.new_location == "ha-1"
    timings = result.details["timings"]
    assert list(timings) == ["polled", "sent", "seen", "cleared", "verified"]


async def test_refused_failover_sends_nothing_and_forced_goes_through() -> None:
    frame = Frame(crm="healthy", drbd={"ha-0": "sync-source", "ha-1": "sync-target"})
    cluster = FakeCluster(frame)
    with pytest.raises(InterlockError) as err:
        await controller(cluster).failover()
    assert [str(r.code) for r in err.value.reasons] == [  # type: ignore[attr-defined]
        "target_disk_not_uptodate",
        "resync_running",
    ]
    assert cluster.sent == []
    cluster.on(MOVE, Frame(crm="move", constraints="move", drbd=MOVED_DRBD))
    cluster.on(CLEAR, MOVED)
    result = await controller(cluster).failover(force=True)
    assert result.ok, result.message
    assert [str(r.code) for r in result.overridden] == [
        "target_disk_not_uptodate",
        "resync_running",
    ]
    assert result.to_dict()["overridden"][1]["code"] == "resync_running"


async def test_failover_to_where_it_runs_is_a_noop() -> None:
    cluster = FakeCluster(HEALTHY)
    result = await controller(cluster).failover("ha-0")
    assert result.code is ResultCode.NOOP
    assert result.ok
    assert result.new_location == "ha-0"
    assert cluster.sent == []


async def test_failover_send_only_then_complete() -> None:
    cluster = FakeCluster(HEALTHY)
    cluster.on(MOVE, HEALTHY, HEALTHY_WITH_CONSTRAINT)
    ctl = controller(cluster)
    result = await ctl.failover(wait=False)
    assert result.code is ResultCode.ACCEPTED
    assert result.ok
    assert result.constraint_left  # complete() removes it
    assert result.cluster_seconds is None
    assert result.pending is not None
    stored = json.loads(json.dumps(result.to_dict()["pending"]))
    pending = PendingAction.from_dict(stored)
    assert pending == result.pending
    assert pending.action is ActionKind.FAILOVER
    assert (pending.application, pending.source, pending.target) == (APP, "ha-0", "ha-1")
    assert pending.command_node == "ha-0"
    assert cluster.argvs == [MOVE]
    # accepting a move is the constraint in the CIB: those light polls read it
    assert {names for _, names in cluster.batches} == {("crm_mon", "cib_constraints")}
    # later (Home Assistant restarted on ha-1): the move happened; complete clears and verifies
    cluster.frame = MOVED_WITH_CONSTRAINT
    cluster.on(CLEAR, MOVED)
    polls = cluster.polls
    done = await controller(cluster).complete(pending)
    assert done.ok, done.message
    assert cluster.argvs == [MOVE, CLEAR]
    # without the poll from before the move (which DRBD resources were Primary), it takes a
    # full poll to verify: the snapshot passed in, and the one after the clear
    assert cluster.polls == polls + 2
    assert done.snapshot is not None
    assert done.new_location == "ha-1"
    assert done.cluster_seconds is not None


async def test_send_only_not_accepted() -> None:
    cluster = FakeCluster(HEALTHY)
    result = await controller(cluster, accept_timeout=0.02).failover(wait=False)
    assert result.code is ResultCode.NOT_ACCEPTED
    assert not result.ok
    assert result.constraint_left is False
    assert result.pending is not None


async def test_complete_without_a_cluster_view_raises() -> None:
    cluster = FakeCluster(Frame(crm=crm_bytes("stack-down"), constraints="healthy"))
    pending = PendingAction(request={"action": "standby_node", "node": "ha-0"})
    with pytest.raises(ClusterConnectionError):
        await controller(cluster).complete(pending)
    with pytest.raises(ClusterConnectionError, match="no reachable cluster node answers"):
        await controller(FakeCluster(HEALTHY), vip="vip").complete(
            pending, snapshot=snapshot(report("ha-0", host="vip"))
        )


# ---- node actions ------------------------------------------------------------------------------


async def test_standby_waits_until_nothing_runs_on_the_node() -> None:
    cluster = FakeCluster(HEALTHY)
    cluster.on(StandbyArgv.HA0, STANDBY_PENDING, STANDBY_PENDING, STANDBY)
    result = await controller(cluster).standby_node("ha-0")
    assert cluster.argvs == [StandbyArgv.HA0]
    assert result.ok, result.message
    assert result.new_location == "ha-1"
    assert result.constraint_left is False
    # standby needs the DC state (idle once: the restart elsewhere is done), not the CIB; the
    # verification is the DC's crm_mon
    assert {names for _, names in cluster.batches} == {("crm_mon", "dc_state"), ("crm_mon",)}
    assert cluster.batches[-1] == ("ha-0", ("crm_mon",))
    assert cluster.polls == 1
    assert result.details["commands"] == [
        {"node": "ha-0", "argv": list(StandbyArgv.HA0), "exit_status": 0}
    ]


async def test_standby_send_only_returns_when_the_cib_shows_it() -> None:
    cluster = FakeCluster(HEALTHY)
    cluster.on(StandbyArgv.HA0, HEALTHY, STANDBY_PENDING)
    result = await controller(cluster).execute(StandbyNodeRequest(node="ha-0", wait=False))
    assert result.code is ResultCode.ACCEPTED
    assert result.new_location == "ha-0"  # not moved yet
    assert result.constraint_left is False
    assert cluster.frame is STANDBY_PENDING


async def test_online_waits_for_an_idle_dc_seen_twice() -> None:
    cluster = FakeCluster(STANDBY)
    busy = Frame(crm="move", constraints="healthy", drbd=MOVED_DRBD, dc_state="S_TRANSITION_ENGINE")
    cluster.on(StandbyArgv.HA0_OFF, busy, ONLINE_APP_ON_HA1, busy, ONLINE_APP_ON_HA1)
    result = await controller(cluster).online_node("ha-0")
    assert result.ok, result.message
    assert result.new_location == "ha-1"
    assert cluster.batches[0] == ("ha-0", ("crm_mon", "dc_state"))
    # the first idle sighting was undone by a busy DC: only the last two count
    assert result.details["polls"] == 5


async def test_idle_without_crmadmin_relies_on_roles() -> None:
    cluster = FakeCluster(STANDBY)
    cluster.crmadmin_missing = True
    cluster.on(StandbyArgv.HA0_OFF, ONLINE_APP_ON_HA1)
    result = await controller(cluster).online_node("ha-0")
    assert result.ok, result.message


async def test_node_and_cluster_maintenance() -> None:
    cluster = FakeCluster(HEALTHY)
    argv: tuple[str, ...] = (
        "crm_attribute",
        "--type",
        "crm_config",
        "--name",
        "maintenance-mode",
        "--update",
        "true",
    )
    cluster.on(argv, CLUSTER_MAINTENANCE)
    result = await controller(cluster).set_maintenance_mode(True)
    assert result.ok, result.message
    assert cluster.argvs == [argv]
    argv = (
        "crm_attribute",
        "--node",
        "ha-1",
        "--name",
        "maintenance",
        "--update",
        "on",
        "--lifetime",
        "forever",
    )
    cluster = FakeCluster(HEALTHY)
    cluster.on(argv, NODE_MAINTENANCE)
    result = await controller(cluster).set_node_maintenance("ha-1", True)
    assert result.ok, result.message
    assert result.new_location == "ha-0"
    cluster = FakeCluster(HEALTHY)
    result = await controller(cluster, settle_timeout=0.02).set_node_maintenance("ha-1", True)
    assert result.code is ResultCode.SETTLE_TIMEOUT
    # send only: accepted as soon as crm_mon shows the attribute
    cluster = FakeCluster(HEALTHY)
    cluster.on(argv, NODE_MAINTENANCE)
    result = await controller(cluster).set_node_maintenance("ha-1", True, wait=False)
    assert result.code is ResultCode.ACCEPTED


# ---- resource actions --------------------------------------------------------------------------


async def test_cleanup_waits_until_the_failure_is_gone() -> None:
    cluster = FakeCluster(FAILED_MONITOR)
    argv = ("crm_resource", "--cleanup", "--resource", APP, "--node", "ha-0")
    cluster.on(argv, FAILED_MONITOR, HEALTHY)
    result = await controller(cluster).cleanup_resource(APP, "ha-0")
    assert cluster.argvs == [argv]
    assert result.ok, result.message
    assert result.new_location == "ha-0"
    # send only: the exit status is enough
    cluster = FakeCluster(FAILED_MONITOR)
    result = await controller(cluster).execute(CleanupResourceRequest(resource=APP, wait=False))
    assert result.code is ResultCode.ACCEPTED
    assert cluster.batches == []


async def test_verification_poll_falls_back_to_a_full_poll_when_it_cannot_judge() -> None:
    argv = ("crm_resource", "--cleanup", "--resource", APP, "--node", "ha-0")
    # the DC's own view has no quorum: only a full poll (every node's view) may verify
    no_quorum = Frame(crm=crm_bytes("healthy", **{'with_quorum="true"': 'with_quorum="false"'}))
    cluster = FakeCluster(FAILED_MONITOR)
    cluster.on(argv, no_quorum)
    result = await controller(cluster).cleanup_resource(APP, "ha-0", force=True)
    assert result.ok, result.message
    assert cluster.batches[-1] == ("ha-0", ("crm_mon",))  # tried, then not trusted
    assert cluster.polls == 2
    assert result.snapshot is not None
    # the DC is a node this client has no session to: a full poll (of the nodes it knows)
    cluster = FakeCluster(FAILED_MONITOR)
    del cluster.transport.sessions["ha-0"]
    cluster.on(argv, HEALTHY)
    result = await controller(cluster).cleanup_resource(APP, "ha-0")
    assert result.ok, result.message
    assert {node for node, _ in cluster.batches} == {"ha-1"}
    assert cluster.polls == 2
    assert result.snapshot is not None


async def test_cleanup_times_out_while_failures_stay() -> None:
    cluster = FakeCluster(FAILED_MONITOR)
    result = await controller(cluster, settle_timeout=0.02).cleanup_resource(APP)
    assert result.code is ResultCode.SETTLE_TIMEOUT
    cluster = FakeCluster(FAILED_MONITOR)
    result = await controller(cluster, settle_timeout=0.02).cleanup_resource(
        "p_docker_home-assistant", "ha-1"
    )
    assert result.ok, result.message  # the failure is on ha-0 only


async def test_restart_waits_and_send_only_is_detached() -> None:
    argv = ("crm_resource", "--resource", "p_fs_home-assistant", "--restart")
    cluster = FakeCluster(HEALTHY)
    cluster.on(argv, HEALTHY)
    result = await controller(cluster, settle_timeout=5).restart_resource("p_fs_home-assistant")
    assert result.ok, result.message
    assert cluster.argvs == [argv]
    assert cluster.sent[0][2] == 65.0  # the restart itself may take the settle timeout
    assert result.new_location == "ha-0"
    # send only: launched in its own session, accepted once the stop shows
    cluster = FakeCluster(HEALTHY)
    cluster.on(detached(argv), RESTARTING)
    result = await controller(cluster).restart_resource("p_fs_home-assistant", wait=False)
    assert cluster.argvs == [("setsid", "-f", *argv)]
    assert result.code is ResultCode.ACCEPTED
    assert result.pending is not None
    assert result.pending.before == ("ha-0",)
    # complete: it runs again where it ran
    cluster.frame = HEALTHY
    done = await controller(cluster).complete(result.pending)
    assert done.ok, done.message
    # a restart still stopped when the time is up
    cluster.frame = RESTARTING
    late = await controller(cluster).complete(result.pending, within=0.02)
    assert late.code is ResultCode.SETTLE_TIMEOUT


async def test_clear_move_constraints() -> None:
    cluster = FakeCluster(MOVED_WITH_CONSTRAINT)
    cluster.on(CLEAR, MOVED)
    result = await controller(cluster).clear_move_constraints(APP)
    assert result.ok, result.message
    assert cluster.argvs == [CLEAR]
    # settling is the constraint gone from the CIB (with an idle DC); so is the verification
    assert {names for _, names in cluster.batches} == {
        ("crm_mon", "cib_constraints", "dc_state"),
        ("crm_mon", "cib_constraints"),
    }
    assert result.new_location == "ha-1"
    assert result.constraint_left is False


# ---- light polls -------------------------------------------------------------------------------


async def test_light_poll_falls_back_to_another_node_and_survives_errors() -> None:
    cluster = FakeCluster(HEALTHY)
    cluster.batch_errors["ha-0"] = ClusterConnectionError("ha-0 gone")
    cluster.on(StandbyArgv.HA1, Frame(crm=crm_bytes("healthy", **StandbyArgv.HA1_EDIT)))
    result = await controller(cluster).standby_node("ha-1")
    assert result.ok, result.message
    assert [n for n, _ in cluster.batches][:2] == ["ha-0", "ha-1"]
    # the DC (ha-0) does not answer the verification poll either: a full poll verifies
    assert cluster.batches[-1] == ("ha-0", ("crm_mon",))
    assert cluster.polls == 2
    assert result.snapshot is not None
    # every light poll fails: the settle times out, the full poll still reports
    cluster = FakeCluster(HEALTHY)
    cluster.batch_errors = {n: ParseError("garbage", command="batch") for n in cluster.nodes}
    result = await controller(cluster, settle_timeout=0.02).standby_node("ha-1")
    assert result.code is ResultCode.SETTLE_TIMEOUT


def test_light_view_idle_and_dc_state_parsing() -> None:
    from hacluster.control import _dc_state

    status = PacemakerStatus(stack_running=True, dc="ha-0")
    assert LightView(status=status, dc_state=None, node="ha-0", at=0).idle
    assert LightView(status=status, dc_state="S_IDLE", node="ha-0", at=0).idle
    assert not LightView(status=status, dc_state="unknown", node="ha-0", at=0).idle

    def res(status: int, out: bytes = b"", err: bytes = b"") -> CommandResult:
        return CommandResult(argv=("crmadmin",), exit_status=status, stdout=out, stderr=err)

    assert _dc_state(None, "ha-0", "ha-0") is None
    assert _dc_state(res(127), "ha-0", "ha-0") is None
    assert _dc_state(res(0, err=b"S_IDLE\n"), "ha-0", "ha-0") == "S_IDLE"
    assert (
        _dc_state(res(0, out=b"Controller on ha-0 in state S_POLICY_ENGINE: ok"), "ha-0", "ha-0")
        == "S_POLICY_ENGINE"
    )
    assert _dc_state(res(0, out=b"???"), "ha-0", "ha-0") == "unknown"
    assert _dc_state(res(1), "ha-0", "ha-0") == "unknown"
    assert _dc_state(res(0, err=b"S_IDLE"), "ha-1", "ha-0") == "unknown"  # asked the old DC


def test_action_result_and_pending_round_trip() -> None:
    pending = PendingAction(
        request={"action": "restart_resource", "resource": APP, "wait": False, "force": False},
        application=APP,
        before=("ha-0",),
        sent_at=12.5,
    )
    assert PendingAction.from_dict(pending.to_dict()) == pending
    result = ActionResult(
        action=ActionKind.RESTART_RESOURCE,
        ok=False,
        code=ResultCode.VERIFY_FAILED,
        message="nope",
        duration_s=1.23456,
        cluster_seconds=0.4444,
        pending=pending,
    )
    data = result.to_dict()
    assert data["duration_s"] == 1.235
    assert data["cluster_seconds"] == 0.444
    assert data["pending"]["before"] == ["ha-0"]
    with pytest.raises(ActionFailedError, match="nope"):
        result.raise_for_status()


async def test_assess_through_the_controller() -> None:
    cluster = FakeCluster(HEALTHY)
    ctl = controller(cluster, application=APP)
    verdict = await ctl.assess(FailoverRequest())
    assert verdict.target == "ha-1"
    assert cluster.polls == 1


def test_settle_predicates_on_models() -> None:
    from hacluster.control import _cleaned, _restart_seen, application_on
    from hacluster.models.pacemaker import (
        FailedAction,
        PacemakerNode,
        Resource,
        ResourceKind,
        ResourceRole,
    )

    def status(*members: Resource, clone: Resource | None = None) -> PacemakerStatus:
        group = Resource(
            id="g", kind=ResourceKind.GROUP, running_on=("n2",), members=tuple(members)
        )
        return PacemakerStatus(
            stack_running=True,
            nodes=(PacemakerNode(name="n1", online=True), PacemakerNode(name="n2", online=True)),
            resources=(group,) if clone is None else (group, clone),
        )

    def prim(
        role: ResourceRole = ResourceRole.STARTED, *, on: str = "n2", failed: bool = False
    ) -> Resource:
        return Resource(
            id="p", kind=ResourceKind.PRIMITIVE, role=role, running_on=(on,), failed=failed
        )

    assert application_on(status(prim()), "g", "n2")
    assert not application_on(status(prim()), "g", "n1")
    assert not application_on(status(prim()), "missing", "n2")
    assert not application_on(status(prim(failed=True)), "g", "n2")
    assert not application_on(status(prim(on="n1")), "g", "n2")
    assert not application_on(status(prim(ResourceRole.STARTING)), "g", "n2")
    clone = Resource(
        id="ms", kind=ResourceKind.PROMOTABLE, running_on=("n1", "n2"), promoted_on=("n1",)
    )
    assert not application_on(status(prim(), clone=clone), "g", "n2")  # DRBD not promoted there yet

    failed = PacemakerStatus(
        stack_running=True,
        failed_actions=(FailedAction(resource="p", node="n1", operation="monitor"),),
        fail_counts={"n1": {"p": 1}, "n2": {"q": 3}},
        resources=(Resource(id="g", kind=ResourceKind.GROUP, members=(prim(),)),),
    )
    assert not _cleaned(failed, "g", None)
    assert not _cleaned(failed, "g", "n1")
    assert _cleaned(failed, "g", "n2")
    counts_only = PacemakerStatus(stack_running=True, fail_counts={"n1": {"p": 2}})
    assert not _cleaned(counts_only, "p", None)
    assert _cleaned(counts_only, "p", "n2")
    assert not _restart_seen(PacemakerStatus(stack_running=True), "gone", ("n1",))


async def test_verification_without_a_cluster_view_or_drbd_on_the_target() -> None:
    # the move arrives, then every node stops answering before the full poll
    cluster = FakeCluster(HEALTHY)
    cluster.on(MOVE, MOVED_WITH_CONSTRAINT)
    cluster.on(CLEAR, Frame(crm=crm_bytes("stack-down"), constraints="healthy"))
    result = await controller(cluster).failover()
    assert result.code is ResultCode.VERIFY_FAILED
    assert "no node reports a running cluster" in result.message
    # the target's DRBD resource is down after the move
    cluster = FakeCluster(HEALTHY)
    gone = Frame(crm="move", drbd={"ha-0": drbd_swapped("healthy-secondary"), "ha-1": b"[\n]\n"})
    cluster.on(MOVE, MOVED_WITH_CONSTRAINT)
    cluster.on(CLEAR, gone)
    result = await controller(cluster).failover()
    assert "DRBD home-assistant is down on ha-1, not Primary" in result.message
    # no DRBD facts from the target at all: nothing to say about DRBD
    cluster = FakeCluster(HEALTHY)
    cluster.on(MOVE, MOVED_WITH_CONSTRAINT)
    cluster.on(CLEAR, MOVED, Frame(crm="move", drbd={"ha-0": drbd_swapped("healthy-secondary")}))
    result = await controller(cluster).failover()
    assert result.ok, result.message


async def test_complete_a_standby_sent_by_a_node_we_no_longer_know() -> None:
    cluster = FakeCluster(STANDBY)
    pending = PendingAction(
        request={"action": "standby_node", "node": "ha-0", "wait": False, "force": False},
        application=APP,
        source="ha-0",
        target="ha-1",
        command_node=None,
        sent_at=0.0,
    )
    result = await controller(cluster).complete(pending)
    assert result.ok, result.message
    assert result.new_location == "ha-1"
    assert result.cluster_seconds is not None
    assert result.cluster_seconds < 1.0


def test_drbd_promotion_check_skips_nodes_without_drbd_facts() -> None:
    from hacluster.control import _drbd_not_promoted

    after = snapshot(
        unreachable("ha-0"), report("ha-1", crm="move", drbd=drbd_swapped("healthy-primary"))
    )
    assert _drbd_not_promoted(None, after, "ha-1") == []
    before = snapshot(report("ha-0", drbd=None), report("ha-1", drbd="healthy-secondary"))
    assert _drbd_not_promoted(before, after, "ha-1") == []


def close_after_sending(cluster: FakeCluster) -> None:
    """Our client is closed as soon as a command was sent (Home Assistant stops)."""
    closed = ClusterConnectionError("ha-0 (192.0.2.10:22): the session is closed")

    def command(node: str, argv: tuple[str, ...], timeout: float | None) -> CommandResult:
        result = FakeCluster.command(cluster, node, argv, timeout)
        cluster.transport.closed = True
        cluster.batch_errors = dict.fromkeys(cluster.nodes, closed)
        return result

    cluster.command = command  # type: ignore[method-assign]


async def test_send_only_accepted_by_exit_status_when_our_client_closes() -> None:
    """A self-move: the cluster stops Home Assistant right after the move, which closes our
    client before a light poll could read the constraint back. The move's exit status 0 (the
    CIB took it) is the acceptance; the wait ends at once instead of running out."""
    cluster = FakeCluster(HEALTHY)
    close_after_sending(cluster)
    started = time.monotonic()
    result = await controller(cluster, accept_timeout=30).failover(wait=False)
    assert time.monotonic() - started < 5
    assert result.code is ResultCode.ACCEPTED, result.message
    assert result.details["accepted_by"] == "exit_status"
    assert result.pending is not None
    # a detached restart's exit 0 says only "started": not accepted that way
    cluster = FakeCluster(HEALTHY)
    close_after_sending(cluster)
    result = await controller(cluster, accept_timeout=30).restart_resource(
        "p_fs_home-assistant", wait=False
    )
    assert result.code is ResultCode.NOT_ACCEPTED
    assert cluster.argvs == [
        detached(("crm_resource", "--resource", "p_fs_home-assistant", "--restart"))
    ]
