"""Tests for hacluster.interlocks: requests, every refusal code, force, warnings, self-awareness.

Snapshots are built from the recorded outputs in ``fixtures/`` (Pacemaker 2.1.5 crm_mon and
cibadmin, drbd-utils 9.33 status JSON, corosync 3.1.7 quorumtool) through
``build_node_report``/``build_snapshot``, as a poll would build them. Where no recording shows a
state (no quorum, a node in maintenance, an unmanaged group, three nodes), the test says how the
input was derived, or builds the models directly.

The snapshot builders here are also used by ``test_control.py``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hacluster.client import ClusterSnapshot, NodeReport, build_node_report, build_snapshot
from hacluster.commands import CommandResult
from hacluster.errors import InterlockError
from hacluster.interlocks import (
    NON_FORCEABLE,
    ActionKind,
    ActionRequest,
    Assessment,
    CleanupResourceRequest,
    ClearMoveConstraintsRequest,
    FailoverRequest,
    OnlineNodeRequest,
    Reason,
    ReasonCode,
    RestartResourceRequest,
    SetMaintenanceModeRequest,
    SetNodeMaintenanceRequest,
    StandbyNodeRequest,
    assess,
    detect_self,
    request_from_dict,
    request_to_dict,
    stops_self,
)
from hacluster.models.corosync import QuorumStatus
from hacluster.models.pacemaker import (
    ClusterOptions,
    Colocation,
    MoveConstraint,
    Order,
    PacemakerNode,
    PacemakerStatus,
    Resource,
    ResourceKind,
)
from hacluster.transport import NodeEndpoint

FIXTURES = Path(__file__).parent / "fixtures"
PACEMAKER = FIXTURES / "pacemaker"
DRBD = FIXTURES / "drbd"
COROSYNC = FIXTURES / "corosync"
ADDRESSES = {"ha-0": "198.18.0.30", "ha-1": "198.18.0.31", "ha-2": "198.18.0.32"}
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBCSTExCIJjaLLQOYfl6L2B5NXt7WhRpcRMsOxxmZ4Pn"
APP = "g_home-assistant"


def _result(name: str, data: bytes, status: int = 0) -> CommandResult:
    return CommandResult(argv=(name,), exit_status=status, stdout=data, stderr=b"")


def crm_bytes(name: str, **edits: str) -> bytes:
    """A recorded crm_mon output; ``edits`` replace text (old=new), for states not recorded."""
    data = (PACEMAKER / f"{name}.xml").read_text()
    for old, new in edits.items():
        assert old in data, old
        data = data.replace(old, new)
    return data.encode()


def drbd_swapped(name: str) -> bytes:
    """A recorded DRBD status with ha-0 and ha-1 swapped (the mirror image of the pair)."""
    data = (DRBD / f"status-json-9.33-{name}.json").read_text()
    return data.replace("ha-0", "@").replace("ha-1", "ha-0").replace("@", "ha-1").encode()


def report(
    name: str,
    *,
    crm: str | bytes = "healthy",
    constraints: str | None = None,
    drbd: str | bytes | None = "healthy-primary",
    quorum: str | None = "two-node-ha-0",
    kernel: str | None = None,
    host: str | None = None,
) -> NodeReport:
    """One node's report from recorded outputs (names of files in fixtures/)."""
    results: dict[str, CommandResult] = {}
    crm_data = crm if isinstance(crm, bytes) else crm_bytes(crm)
    results["crm_mon"] = _result("crm_mon", crm_data)
    cons = constraints or (crm if isinstance(crm, str) else "healthy")
    path = PACEMAKER / f"{cons}.constraints.xml"
    if path.exists():
        results["cib_constraints"] = _result("cibadmin", path.read_bytes())
    if drbd is not None:
        data = (
            drbd
            if isinstance(drbd, bytes)
            else (DRBD / f"status-json-9.33-{drbd}.json").read_bytes()
        )
        results["drbd_status"] = _result("drbdsetup", data)
    if kernel is not None:
        results["kernel_log"] = _result("dmesg", (DRBD / kernel).read_bytes())
    if quorum is not None:
        results["quorum"] = _result(
            "corosync-quorumtool", (COROSYNC / f"quorumtool-3.1.7-{quorum}.txt").read_bytes()
        )
    results["hostname"] = _result("uname", name.encode() + b"\n")
    endpoint = NodeEndpoint(name=name, host=host or ADDRESSES[name], host_key=HOST_KEY)
    return build_node_report(endpoint, results)


def unreachable(name: str, error: str = "timed out connecting") -> NodeReport:
    """A node that did not answer."""
    return NodeReport(
        name=name, host=ADDRESSES[name], reachable=False, error=error, error_kind="timeout"
    )


def snapshot(*reports: NodeReport) -> ClusterSnapshot:
    """The snapshot a poll would build."""
    return build_snapshot(reports, polled_at=0.0)


def healthy() -> ClusterSnapshot:
    """ha-0: DC, Primary, runs the application; ha-1: Secondary, UpToDate, Connected."""
    return snapshot(
        report("ha-0"),
        report("ha-1", drbd="healthy-secondary", quorum="two-node-ha-1"),
    )


def codes(assessment: Assessment) -> list[str]:
    """The refusal codes, in order."""
    return [str(r.code) for r in assessment.reasons]


# ---- requests --------------------------------------------------------------------------------


def test_request_round_trip_and_unknown_action() -> None:
    req = FailoverRequest(target="ha-1", wait=False, force=True)
    data = request_to_dict(req)
    assert data == {
        "action": "failover",
        "target": "ha-1",
        "resource": None,
        "wait": False,
        "force": True,
    }
    assert request_from_dict("failover", data) == req
    assert request_from_dict("set_node_maintenance", {"node": "ha-0", "on": True, "x": 1}) == (
        SetNodeMaintenanceRequest(node="ha-0", on=True)
    )
    with pytest.raises(ValueError, match="unknown action"):
        request_from_dict("reboot", {})
    with pytest.raises(TypeError):
        request_from_dict("standby_node", {})
    assert StandbyNodeRequest(node="ha-0").action is ActionKind.STANDBY_NODE


# ---- failover --------------------------------------------------------------------------------


def test_healthy_failover_is_allowed_with_fencing_warning() -> None:
    result = assess(healthy(), FailoverRequest())
    assert result.allowed
    assert result.reasons == ()
    assert (result.application, result.source, result.target) == (APP, "ha-0", "ha-1")
    assert [str(w.code) for w in result.warnings] == ["fencing_disabled"]
    assert result.message == ""
    result.raise_if_refused()
    data = result.to_dict()
    assert data["allowed"] is True
    assert data["warnings"][0]["code"] == "fencing_disabled"
    assert data["request"]["action"] == "failover"


def test_failover_to_the_current_node_is_a_noop() -> None:
    result = assess(healthy(), FailoverRequest(target="ha-0"))
    assert result.noop
    assert result.allowed
    assert result.target == "ha-0"


def test_no_fencing_warning_when_stonith_is_enabled() -> None:
    snap = snapshot(report("ha-0", crm="node-unclean"), report("ha-1", drbd="healthy-secondary"))
    result = assess(snap, StandbyNodeRequest(node="ha-0", force=True))
    assert ReasonCode.FENCING_DISABLED not in [w.code for w in result.warnings]


def test_target_not_online_in_standby() -> None:
    # ha-0 in standby, the application runs on ha-1 (recorded with crm_simulate)
    snap = snapshot(
        report("ha-0", crm="standby", drbd=drbd_swapped("healthy-secondary")),
        report("ha-1", crm="standby", drbd=drbd_swapped("healthy-primary")),
    )
    result = assess(snap, FailoverRequest(target="ha-0"))
    assert codes(result) == ["target_not_online"]
    reason = result.reasons[0]
    assert reason.placeholders == {"node": "ha-0", "state": "standby"}
    assert reason.message == "node ha-0 is not online (it is standby)"
    with pytest.raises(InterlockError) as err:
        result.raise_if_refused()
    assert err.value.reasons == result.reasons
    assert "failover refused: node ha-0 is not online" in str(err.value)


def test_offline_target_is_not_online_and_unreachable() -> None:
    # ha-0 failed (crm_simulate --node-fail); its SSH does not answer either
    snap = snapshot(
        unreachable("ha-0"), report("ha-1", crm="node-offline", drbd="isolated-primary-ha-1")
    )
    result = assess(snap, FailoverRequest(target="ha-0"))
    assert codes(result)[:2] == ["target_not_online", "target_unreachable"]
    assert result.reasons[0].placeholders["state"] == "offline"
    assert result.reasons[1].placeholders == {"node": "ha-0", "error": "timed out connecting"}
    # without a target there is no other online node: force cannot help
    default = assess(snap, FailoverRequest(force=True))
    assert codes(default) == ["no_other_online_node"]
    assert not default.allowed
    assert default.blocking == default.reasons


def test_target_unreachable_but_online_in_the_cluster_view() -> None:
    snap = snapshot(report("ha-0", drbd="peer-connecting"), unreachable("ha-1"))
    result = assess(snap, FailoverRequest())
    assert result.target == "ha-1"
    assert codes(result) == ["target_unreachable"]


def test_target_that_was_not_polled_is_unreachable() -> None:
    result = assess(snapshot(report("ha-0")), FailoverRequest(target="ha-1"))
    assert codes(result) == ["target_unreachable"]
    assert result.reasons[0].placeholders["error"] == "not polled"


def test_no_quorum() -> None:
    # derived from healthy.xml: the DC reports with_quorum="false"
    crm = crm_bytes("healthy", **{'with_quorum="true"': 'with_quorum="false"'})
    snap = snapshot(
        report("ha-0", crm=crm, constraints="healthy"),
        report("ha-1", crm=crm, constraints="healthy", drbd="healthy-secondary"),
    )
    assert codes(assess(snap, FailoverRequest())) == ["no_quorum"]
    assert codes(assess(snap, StandbyNodeRequest(node="ha-0"))) == ["no_quorum"]
    assert codes(assess(snap, RestartResourceRequest(resource=APP))) == ["no_quorum"]


def test_target_disk_outdated_and_not_connected_to_primary() -> None:
    snap = snapshot(report("ha-0", drbd="peer-connecting"), report("ha-1", drbd="outdated-local"))
    result = assess(snap, FailoverRequest(target="ha-1"))
    assert codes(result) == ["target_disk_not_uptodate", "target_not_connected_to_primary"]
    disk, conn = result.reasons
    assert disk.placeholders == {"node": "ha-1", "resource": "home-assistant", "state": "Outdated"}
    assert conn.placeholders == {
        "node": "ha-1",
        "primary": "ha-0",
        "resource": "home-assistant",
        "state": "Connecting",
    }


def test_target_without_the_drbd_resource_or_without_drbd_data() -> None:
    snap = snapshot(report("ha-0"), report("ha-1", drbd=b"[\n]\n"))
    result = assess(snap, FailoverRequest())
    assert codes(result) == ["target_disk_not_uptodate"]
    assert result.reasons[0].placeholders["state"] == "Unconfigured"
    snap = snapshot(report("ha-0"), report("ha-1", drbd=None))
    result = assess(snap, FailoverRequest())
    assert result.reasons[0].placeholders["state"] == "unknown"


def test_connection_found_by_hostname() -> None:
    # the DRBD connection is named after the peer's hostname, not its node name
    primary = report("ha-0")
    renamed = NodeReport(
        name="node-a",
        host=primary.host,
        reachable=True,
        hostname="ha-0",
        pacemaker=primary.pacemaker,
        drbd=primary.drbd,
    )
    snap = snapshot(renamed, report("ha-1", drbd="healthy-secondary"))
    result = assess(snap, FailoverRequest(target="ha-1"))
    assert "target_not_connected_to_primary" not in codes(result)
    orphan = NodeReport(name="node-a", host="x", reachable=True, drbd=primary.drbd)
    snap = snapshot(orphan, report("ha-1", drbd="healthy-secondary"))
    result = assess(snap, FailoverRequest(target="ha-1"))
    assert result.reasons[-1].placeholders["state"] == "unknown"


def test_resync_running_is_reported_once_per_pair() -> None:
    snap = snapshot(report("ha-0", drbd="sync-source"), report("ha-1", drbd="sync-target"))
    result = assess(snap, FailoverRequest())
    assert codes(result) == ["target_disk_not_uptodate", "resync_running"]
    resync = result.reasons[1]
    assert resync.placeholders["node"] == "ha-0"
    assert resync.placeholders["peer"] == "ha-1"
    assert resync.placeholders["state"] == "SyncSource"
    assert resync.placeholders["percent"].endswith(" %")
    # standby of the secondary while it resyncs is refused too
    assert codes(assess(snap, StandbyNodeRequest(node="ha-1"))) == ["resync_running"]


def test_split_brain_suspected_from_drbd_evidence() -> None:
    snap = snapshot(
        report("ha-0", drbd="split-brain-ha-0", kernel="kernel-dmesg-split-brain-ha-0.txt"),
        report("ha-1", drbd="split-brain-ha-1"),
    )
    result = assess(snap, FailoverRequest(force=True))
    assert "split_brain_suspected" in codes(result)
    reason = next(r for r in result.reasons if r.code is ReasonCode.SPLIT_BRAIN_SUSPECTED)
    assert reason.placeholders["resource"] == "home-assistant"
    assert reason.placeholders["cause"] == "drbd"
    assert "Split-Brain" in reason.placeholders["evidence"]
    # forced: every reason is overridden and the action is allowed
    assert result.allowed
    assert result.overridden == result.reasons


def test_split_brain_suspected_when_partitioned() -> None:
    # each half sees itself as DC: ha-0 the healthy view, ha-1 the view after ha-0 "failed"
    snap = snapshot(
        report("ha-0"), report("ha-1", crm="node-offline", drbd="isolated-primary-ha-1")
    )
    assert snap.partitioned
    result = assess(snap, StandbyNodeRequest(node="ha-1"))
    reasons = [r for r in result.reasons if r.code is ReasonCode.SPLIT_BRAIN_SUSPECTED]
    assert [r.placeholders["cause"] for r in reasons] == ["partitioned"]


def test_cluster_maintenance_mode() -> None:
    snap = snapshot(
        report("ha-0", crm="cluster-maintenance"),
        report("ha-1", crm="cluster-maintenance", drbd="healthy-secondary"),
    )
    assert codes(assess(snap, FailoverRequest())) == ["maintenance_mode"]
    assert codes(assess(snap, StandbyNodeRequest(node="ha-0"))) == ["maintenance_mode"]
    assert codes(assess(snap, RestartResourceRequest(resource=APP))) == ["maintenance_mode"]


def test_node_in_maintenance() -> None:
    # recorded: ha-1 in maintenance; a failover to it is refused (not online)
    snap = snapshot(
        report("ha-0", crm="node-maintenance"),
        report("ha-1", crm="node-maintenance", drbd="healthy-secondary"),
    )
    result = assess(snap, FailoverRequest(target="ha-1"))
    assert codes(result) == ["target_not_online"]
    assert result.reasons[0].placeholders["state"] == "maintenance"
    assert codes(assess(snap, StandbyNodeRequest(node="ha-1"))) == ["node_maintenance"]
    # derived from healthy.xml: ha-0 (the application's node) in maintenance
    crm = crm_bytes(
        "healthy",
        **{
            'name="ha-0" id="1" online="true" standby="false" standby_onfail="false" '
            'maintenance="false"': 'name="ha-0" id="1" online="true" standby="false" '
            'standby_onfail="false" maintenance="true"'
        },
    )
    snap = snapshot(
        report("ha-0", crm=crm, constraints="healthy"),
        report("ha-1", crm=crm, constraints="healthy", drbd="healthy-secondary"),
    )
    assert codes(assess(snap, FailoverRequest(target="ha-1"))) == ["node_maintenance"]


def test_unmanaged_application() -> None:
    # derived from healthy.xml: the group is unmanaged (is-managed=false)
    crm = crm_bytes(
        "healthy",
        **{
            '<group id="g_home-assistant" number_resources="3" managed="true"': (
                '<group id="g_home-assistant" number_resources="3" managed="false"'
            )
        },
    )
    snap = snapshot(
        report("ha-0", crm=crm, constraints="healthy"),
        report("ha-1", crm=crm, constraints="healthy", drbd="healthy-secondary"),
    )
    result = assess(snap, FailoverRequest())
    assert codes(result) == ["resource_unmanaged"]
    assert result.reasons[0].placeholders == {"resource": APP}


def test_standby_of_the_last_online_node() -> None:
    snap = snapshot(
        report("ha-0", crm="standby", drbd=drbd_swapped("healthy-secondary")),
        report("ha-1", crm="standby", drbd=drbd_swapped("healthy-primary")),
    )
    result = assess(snap, StandbyNodeRequest(node="ha-1"))
    assert codes(result) == ["last_online_node"]
    assert result.reasons[0].forceable
    assert assess(snap, StandbyNodeRequest(node="ha-1", force=True)).allowed


def test_standby_of_the_application_node_checks_the_target() -> None:
    result = assess(healthy(), StandbyNodeRequest(node="ha-0"))
    assert result.allowed
    assert (result.source, result.target) == ("ha-0", "ha-1")
    snap = snapshot(report("ha-0", drbd="peer-connecting"), report("ha-1", drbd="outdated-local"))
    result = assess(snap, StandbyNodeRequest(node="ha-0"))
    assert codes(result) == ["target_disk_not_uptodate", "target_not_connected_to_primary"]
    # the secondary can go to standby: the application stays where it is
    result = assess(healthy(), StandbyNodeRequest(node="ha-1"))
    assert result.allowed
    assert result.target is None


def _three_nodes(
    *, offline: tuple[str, ...] = (), quorum: QuorumStatus | None = None
) -> ClusterSnapshot:
    names = ("ha-0", "ha-1", "ha-2")
    group = Resource(id=APP, kind=ResourceKind.GROUP, running_on=("ha-0",), managed=True)
    status = PacemakerStatus(
        stack_running=True,
        dc="ha-0",
        quorate=True,
        options=ClusterOptions(stonith_enabled=True),
        nodes=tuple(PacemakerNode(name=n, online=n not in offline) for n in names),
        resources=(group,),
    )
    reports = tuple(
        NodeReport(
            name=n,
            host=ADDRESSES[n],
            reachable=n not in offline,
            pacemaker=status if n not in offline else None,
            quorum=quorum if n not in offline else None,
        )
        for n in names
    )
    return snapshot(*reports)


def test_would_lose_quorum_in_a_three_node_cluster() -> None:
    votes = QuorumStatus(quorate=True, expected_votes=3, total_votes=2, quorum=2)
    snap = _three_nodes(offline=("ha-2",), quorum=votes)
    result = assess(snap, StandbyNodeRequest(node="ha-1"))
    assert codes(result) == ["would_lose_quorum"]
    assert result.reasons[0].placeholders == {"node": "ha-1", "active": "1", "needed": "2"}
    assert result.warnings == ()  # stonith enabled
    # all three online: two stay active, a majority
    assert assess(_three_nodes(quorum=votes), StandbyNodeRequest(node="ha-1")).allowed
    # without votequorum data the majority is computed from the node list
    assert codes(assess(_three_nodes(offline=("ha-2",)), StandbyNodeRequest(node="ha-1"))) == [
        "would_lose_quorum"
    ]


def test_failover_picks_the_best_of_several_targets() -> None:
    votes = QuorumStatus(quorate=True, expected_votes=3, total_votes=3, quorum=2)
    snap = _three_nodes(quorum=votes)
    result = assess(snap, FailoverRequest())
    assert (result.source, result.target) == ("ha-0", "ha-1")
    assert result.allowed
    # ha-1 does not answer: ha-2 is the better target
    reports = tuple(unreachable("ha-1") if r.name == "ha-1" else r for r in snap.nodes)
    result = assess(snapshot(*reports), FailoverRequest())
    assert result.target == "ha-2"
    assert result.allowed


def test_two_node_cluster_keeps_quorum_on_standby() -> None:
    # recorded two_node cluster (2Node flag): standby of either node is fine
    result = assess(healthy(), StandbyNodeRequest(node="ha-1"))
    assert "would_lose_quorum" not in codes(result)
    two = QuorumStatus(quorate=True, expected_votes=3, quorum=2, flags=("2Node", "Quorate"))
    assert assess(_three_nodes(offline=("ha-2",), quorum=two), StandbyNodeRequest(node="ha-1"))
    # two nodes without any votequorum data: assumed two_node
    snap = snapshot(
        report("ha-0", quorum=None), report("ha-1", quorum=None, drbd="healthy-secondary")
    )
    assert assess(snap, StandbyNodeRequest(node="ha-1")).allowed


# ---- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "code", "placeholders"),
    [
        (FailoverRequest(target="ha-9"), "unknown_node", {"node": "ha-9"}),
        (StandbyNodeRequest(node="ha-9"), "unknown_node", {"node": "ha-9"}),
        (OnlineNodeRequest(node="ha-9"), "unknown_node", {"node": "ha-9"}),
        (SetNodeMaintenanceRequest(node="ha-9", on=True), "unknown_node", {"node": "ha-9"}),
        (CleanupResourceRequest(resource=APP, node="ha-9"), "unknown_node", {"node": "ha-9"}),
        (RestartResourceRequest(resource="p_nope"), "unknown_resource", {"resource": "p_nope"}),
        (CleanupResourceRequest(resource="p_nope"), "unknown_resource", {"resource": "p_nope"}),
        (ClearMoveConstraintsRequest(resource="p_no"), "unknown_resource", {"resource": "p_no"}),
        (FailoverRequest(resource="g_nope"), "unknown_resource", {"resource": "g_nope"}),
        (
            FailoverRequest(target="ha-1; reboot"),
            "invalid_name",
            {"name": "'ha-1; reboot'", "kind": "node"},
        ),
        (
            RestartResourceRequest(resource="$(reboot)"),
            "invalid_name",
            {"name": "'$(reboot)'", "kind": "resource"},
        ),
        (
            ClearMoveConstraintsRequest(resource="-x"),
            "invalid_name",
            {"name": "'-x'", "kind": "resource"},
        ),
        (FailoverRequest(resource="a b"), "invalid_name", {"name": "'a b'", "kind": "resource"}),
    ],
)
def test_names_are_checked_against_validators_and_the_cluster(
    request_: ActionRequest, code: str, placeholders: dict[str, str]
) -> None:
    for req in (request_, replace(request_, force=True)):
        result = assess(healthy(), req)
        assert codes(result) == [code]
        assert result.reasons[0].placeholders == placeholders
        assert not result.allowed
        assert result.reasons[0].code in NON_FORCEABLE


def test_configured_application_that_does_not_exist() -> None:
    result = assess(healthy(), FailoverRequest(), application="g_gone")
    assert codes(result) == ["unknown_resource"]
    result = assess(healthy(), FailoverRequest(), application="bad name")
    assert codes(result) == ["invalid_name"]


def test_no_application() -> None:
    status = PacemakerStatus(
        stack_running=True,
        dc="ha-0",
        quorate=True,
        nodes=(PacemakerNode(name="ha-0", online=True), PacemakerNode(name="ha-1", online=True)),
    )
    snap = snapshot(
        NodeReport(name="ha-0", host="a", reachable=True, pacemaker=status),
        NodeReport(name="ha-1", host="b", reachable=True, pacemaker=status),
    )
    result = assess(snap, FailoverRequest(force=True))
    assert codes(result) == ["no_application"]
    assert not result.allowed
    # standby without an application: nothing to move, allowed
    assert assess(snap, StandbyNodeRequest(node="ha-0")).application is None


def test_no_cluster_view() -> None:
    down = crm_bytes("stack-down")
    snap = snapshot(report("ha-0", crm=down, constraints="none", drbd=None))
    for req in (FailoverRequest(), SetMaintenanceModeRequest(on=True)):
        result = assess(snap, req)
        assert codes(result) == ["no_cluster_view"]
    assert codes(assess(snapshot(unreachable("ha-0")), OnlineNodeRequest(node="ha-0"))) == [
        "no_cluster_view"
    ]


def test_other_actions_pass_on_a_healthy_cluster() -> None:
    snap = healthy()
    online = assess(snap, OnlineNodeRequest(node="ha-0"))
    assert online.allowed
    assert [str(w.code) for w in online.warnings] == ["fencing_disabled"]
    assert online.application == APP
    for req in (
        RestartResourceRequest(resource="p_fs_home-assistant"),
        CleanupResourceRequest(resource=APP, node="ha-0"),
        SetMaintenanceModeRequest(on=True),
        SetNodeMaintenanceRequest(node="ha-1", on=False),
    ):
        result = assess(snap, req)
        assert result.allowed, req
        assert result.warnings == ()


def test_clear_constraints_of_a_resource_known_only_from_its_constraint() -> None:
    # move.xml: cli-prefer-g_home-assistant in the CIB; a constraint naming a deleted resource
    snap = snapshot(
        report("ha-0", crm="move"), report("ha-1", crm="move", drbd="healthy-secondary")
    )
    assert assess(snap, ClearMoveConstraintsRequest(resource=APP)).allowed
    status = snap.pacemaker
    assert status is not None
    ghost = MoveConstraint(id="cli-prefer-old", resource="old", node="ha-1", kind="prefer")
    ghost_status = PacemakerStatus(
        stack_running=True, dc="ha-0", nodes=status.nodes, move_constraints=(ghost,)
    )
    ghost_snap = snapshot(NodeReport(name="ha-0", host="a", reachable=True, pacemaker=ghost_status))
    assert assess(ghost_snap, ClearMoveConstraintsRequest(resource="old")).allowed


def test_reason_to_dict_and_forceable() -> None:
    reason = Reason.make(
        ReasonCode.RESYNC_RUNNING,
        node="ha-0",
        peer="ha-1",
        resource="r",
        state="SyncSource",
        percent=None,
    )
    assert reason.placeholders["percent"] == ""
    assert reason.to_dict() == {
        "code": "resync_running",
        "placeholders": {
            "node": "ha-0",
            "peer": "ha-1",
            "resource": "r",
            "state": "SyncSource",
            "percent": "",
        },
        "message": "a DRBD resync of r runs between ha-0 and ha-1 (SyncSource,  done)",
    }
    assert reason.forceable
    assert not Reason.make(ReasonCode.UNKNOWN_NODE, node="x").forceable


def test_blocking_and_overridden_mix() -> None:
    snap = snapshot(report("ha-0", crm="node-offline", drbd="isolated-primary-ha-1"))
    result = assess(snap, FailoverRequest(target="ha-0", force=True))
    # target offline (forceable) but also unreachable: both overridden, allowed
    assert result.allowed
    assert [str(r.code) for r in result.overridden] == ["target_not_online"]
    not_forced = assess(snap, FailoverRequest(target="ha-0"))
    assert not_forced.overridden == ()
    assert not_forced.to_dict()["blocking"][0]["code"] == "target_not_online"


# ---- self-awareness ----------------------------------------------------------------------------


def test_detect_self() -> None:
    snap = healthy()
    inside = detect_self(snap, ["10.0.0.5", "198.18.0.10"], vip="198.18.0.10")
    assert inside.in_application
    assert inside.node == "ha-0"
    assert "virtual IP" in inside.evidence
    on_node = detect_self(snap, ["198.18.0.31", ""], vip="198.18.0.10")
    assert (on_node.node, on_node.in_application) == ("ha-1", False)
    by_name = detect_self(snap, [], hostname="ha-1")
    assert by_name.node == "ha-1"
    nowhere = detect_self(snap, ["192.0.2.1"], hostname="laptop")
    assert nowhere.node is None
    assert nowhere.to_dict() == {
        "node": None,
        "in_application": False,
        "evidence": "no cluster address or hostname matches this instance",
    }
    assert detect_self(snapshot(unreachable("ha-0")), ["x"], vip="x").node is None
    assert detect_self(snap, ["192.0.2.1"]).node is None


def test_stops_self() -> None:
    snap = healthy()
    assert stops_self(snap, FailoverRequest(), "ha-0")
    assert stops_self(snap, FailoverRequest(target="ha-1"), "ha-0")
    assert not stops_self(snap, FailoverRequest(target="ha-0"), "ha-0")
    assert stops_self(snap, StandbyNodeRequest(node="ha-0"), "ha-0")
    assert not stops_self(snap, StandbyNodeRequest(node="ha-1"), "ha-0")
    assert stops_self(snap, RestartResourceRequest(resource=APP), "ha-0")
    assert stops_self(snap, RestartResourceRequest(resource="p_docker_home-assistant"), "ha-0")
    # the DRBD clone the group is colocated with
    assert stops_self(snap, RestartResourceRequest(resource="ms_drbd_home-assistant"), "ha-0")
    assert stops_self(snap, RestartResourceRequest(resource="p_drbd_home-assistant"), "ha-0")
    assert not stops_self(snap, RestartResourceRequest(resource="p_unknown"), "ha-0")
    assert not stops_self(snap, CleanupResourceRequest(resource=APP), "ha-0")
    assert not stops_self(snap, SetMaintenanceModeRequest(on=True), "ha-0")
    assert not stops_self(snap, OnlineNodeRequest(node="ha-1"), "ha-0")
    # outside the application nothing stops it
    assert not stops_self(snap, FailoverRequest(), "ha-0", in_application=False)
    assert not stops_self(snapshot(unreachable("ha-0")), FailoverRequest(), "ha-0")


def test_stops_self_online_with_a_move_constraint_and_restart_dependencies() -> None:
    # move.xml: the application runs on ha-1 with cli-prefer-g_home-assistant on ha-1
    snap = snapshot(
        report("ha-0", crm="move"), report("ha-1", crm="move", drbd="healthy-secondary")
    )
    assert not stops_self(snap, OnlineNodeRequest(node="ha-0"), "ha-1")
    prefer = MoveConstraint(id="cli-prefer-g", resource="g", node="n2", kind="prefer")
    app = Resource(id="g", kind=ResourceKind.GROUP, running_on=("n1",))
    other = Resource(id="g_other", kind=ResourceKind.GROUP, running_on=("n1",))
    ip = Resource(id="p_ip", kind=ResourceKind.PRIMITIVE, running_on=("n1",))
    wrapper = Resource(id="c_wrap", kind=ResourceKind.CLONE, members=(app,))
    status = PacemakerStatus(
        stack_running=True,
        dc="n1",
        nodes=(PacemakerNode(name="n1", online=True), PacemakerNode(name="n2", online=True)),
        resources=(wrapper, other, ip),
        move_constraints=(prefer,),
        colocations=(Colocation(id="c1", resource="p_ip", with_resource="g"),),
        orders=(Order(id="o1", first="g_other", then="g"),),
    )
    snap = snapshot(NodeReport(name="n1", host="a", reachable=True, pacemaker=status))
    assert stops_self(snap, OnlineNodeRequest(node="n2"), "n1", application="g")
    assert not stops_self(snap, OnlineNodeRequest(node="n1"), "n1", application="g")
    assert stops_self(snap, RestartResourceRequest(resource="c_wrap"), "n1", application="g")
    assert stops_self(snap, RestartResourceRequest(resource="g_other"), "n1", application="g")
    assert stops_self(snap, RestartResourceRequest(resource="p_ip"), "n1", application="g")
    # a configured application that does not exist: the detected one (g_other) counts
    assert stops_self(snap, FailoverRequest(), "n1", application="nothing-here")
    bare = PacemakerStatus(stack_running=True, dc="n1", nodes=status.nodes)
    bare_snap = snapshot(NodeReport(name="n1", host="a", reachable=True, pacemaker=bare))
    assert not stops_self(bare_snap, FailoverRequest(), "n1")
    assert stops_self(snap, FailoverRequest(resource="g"), None)
