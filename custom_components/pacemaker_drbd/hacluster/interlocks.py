"""Action requests and their safety interlocks (pure: a snapshot and a request in, a verdict out).

A request is a frozen dataclass per action (:class:`StandbyNodeRequest`, :class:`FailoverRequest`,
...). :func:`assess` checks it against a :class:`~hacluster.client.ClusterSnapshot` and returns an
:class:`Assessment`: the reasons to refuse (each a stable :class:`ReasonCode` with placeholders,
so the Home Assistant layer can translate it, plus an English message), the warnings, and what
the action would do (the application, where it runs, where it would go).

Refusals (issue 5, "Interlocks") for failover and standby, overridable with ``force``:

* the target is not online (offline, standby, maintenance...) or we cannot reach it over SSH;
* the cluster has no quorum, or a standby would leave fewer active nodes than a majority (not in
  a ``two_node`` cluster, where one node keeps quorum). Standby keeps the node's vote, so this is
  a conservative check: the cluster would run on fewer nodes than it needs to survive one more
  failure;
* on the target, a DRBD disk is not UpToDate, or its connection to the current Primary is not
  Connected; a resync runs anywhere (SyncSource/SyncTarget/PausedSync*, or about to start);
* a split brain is suspected (any DRBD verdict true, or the cluster is partitioned);
* the cluster is in maintenance mode, the application's node is in maintenance, or the
  application is unmanaged (the move would not happen);
* the node to put in standby is the last online node.

Refusals that ``force`` cannot override, because there is nothing sensible to do: an invalid
or unknown name, no cluster view at all, no application, no other online node to fail over to.

Warnings (never refusals): fencing is disabled (failover, standby, online).

:func:`stops_self` and :func:`detect_self` tell the Home Assistant layer whether an action will
stop the very Home Assistant instance that sends it (then it uses ``wait=False``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from .analysis import application_node, find_application
from .commands import validate_node_name, validate_pacemaker_id
from .errors import InterlockError, InvalidNameError
from .models.drbd import DiskState, DrbdResource, DrbdRole, ReplicationState
from .models.pacemaker import NodeState, PacemakerStatus, Resource

if TYPE_CHECKING:
    from .client import ClusterSnapshot, NodeReport

__all__ = [
    "NON_FORCEABLE",
    "ActionKind",
    "ActionRequest",
    "Assessment",
    "CleanupResourceRequest",
    "ClearMoveConstraintsRequest",
    "FailoverRequest",
    "OnlineNodeRequest",
    "Reason",
    "ReasonCode",
    "RestartResourceRequest",
    "SelfLocation",
    "SetMaintenanceModeRequest",
    "SetNodeMaintenanceRequest",
    "StandbyNodeRequest",
    "assess",
    "detect_self",
    "request_from_dict",
    "stops_self",
]


class ActionKind(StrEnum):
    """The actions the core can run (also the Home Assistant service names)."""

    STANDBY_NODE = "standby_node"
    ONLINE_NODE = "online_node"
    FAILOVER = "failover"
    RESTART_RESOURCE = "restart_resource"
    CLEANUP_RESOURCE = "cleanup_resource"
    CLEAR_MOVE_CONSTRAINTS = "clear_move_constraints"
    SET_MAINTENANCE_MODE = "set_maintenance_mode"
    SET_NODE_MAINTENANCE = "set_node_maintenance"


class ReasonCode(StrEnum):
    """Stable, machine-readable reasons (translation keys in the Home Assistant layer)."""

    TARGET_NOT_ONLINE = "target_not_online"
    TARGET_UNREACHABLE = "target_unreachable"
    NO_QUORUM = "no_quorum"
    WOULD_LOSE_QUORUM = "would_lose_quorum"
    TARGET_DISK_NOT_UPTODATE = "target_disk_not_uptodate"
    TARGET_NOT_CONNECTED_TO_PRIMARY = "target_not_connected_to_primary"
    RESYNC_RUNNING = "resync_running"
    SPLIT_BRAIN_SUSPECTED = "split_brain_suspected"
    MAINTENANCE_MODE = "maintenance_mode"
    NODE_MAINTENANCE = "node_maintenance"
    RESOURCE_UNMANAGED = "resource_unmanaged"
    LAST_ONLINE_NODE = "last_online_node"
    UNKNOWN_NODE = "unknown_node"
    UNKNOWN_RESOURCE = "unknown_resource"
    INVALID_NAME = "invalid_name"
    NO_APPLICATION = "no_application"
    NO_OTHER_ONLINE_NODE = "no_other_online_node"
    NO_CLUSTER_VIEW = "no_cluster_view"
    FENCING_DISABLED = "fencing_disabled"
    """A warning, never a refusal."""


NON_FORCEABLE = frozenset(
    {
        ReasonCode.UNKNOWN_NODE,
        ReasonCode.UNKNOWN_RESOURCE,
        ReasonCode.INVALID_NAME,
        ReasonCode.NO_APPLICATION,
        ReasonCode.NO_OTHER_ONLINE_NODE,
        ReasonCode.NO_CLUSTER_VIEW,
    }
)
"""Refusals that ``force`` does not override (there is nothing sensible to do)."""

_TEMPLATES: Mapping[ReasonCode, str] = {
    ReasonCode.TARGET_NOT_ONLINE: "node {node} is not online (it is {state})",
    ReasonCode.TARGET_UNREACHABLE: "node {node} cannot be reached over SSH ({error})",
    ReasonCode.NO_QUORUM: "the cluster has no quorum",
    ReasonCode.WOULD_LOSE_QUORUM: (
        "with {node} in standby only {active} node(s) would stay active, fewer than the "
        "{needed} a majority needs"
    ),
    ReasonCode.TARGET_DISK_NOT_UPTODATE: (
        "the DRBD disk of {resource} on {node} is {state}, not UpToDate"
    ),
    ReasonCode.TARGET_NOT_CONNECTED_TO_PRIMARY: (
        "DRBD {resource} on {node} is {state}, not Connected, to the Primary {primary}"
    ),
    ReasonCode.RESYNC_RUNNING: (
        "a DRBD resync of {resource} runs between {node} and {peer} ({state}, {percent} done)"
    ),
    ReasonCode.SPLIT_BRAIN_SUSPECTED: "a split brain is suspected ({resource}: {evidence})",
    ReasonCode.MAINTENANCE_MODE: "the cluster is in maintenance mode: nothing would move",
    ReasonCode.NODE_MAINTENANCE: "node {node} is in maintenance: its resources would not move",
    ReasonCode.RESOURCE_UNMANAGED: "resource {resource} is not managed by the cluster",
    ReasonCode.LAST_ONLINE_NODE: "node {node} is the last online node",
    ReasonCode.UNKNOWN_NODE: "the cluster has no node called {node}",
    ReasonCode.UNKNOWN_RESOURCE: "the cluster has no resource called {resource}",
    ReasonCode.INVALID_NAME: "{name} is not a valid {kind} name",
    ReasonCode.NO_APPLICATION: "no application resource was found (choose one in the options)",
    ReasonCode.NO_OTHER_ONLINE_NODE: "there is no other online node to move {resource} to",
    ReasonCode.NO_CLUSTER_VIEW: "no node reports a running cluster",
    ReasonCode.FENCING_DISABLED: (
        "fencing (stonith) is disabled: a node that stops answering cannot be fenced"
    ),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Reason:
    """One reason to refuse (or a warning): a stable code, its placeholders, an English text."""

    code: ReasonCode
    placeholders: Mapping[str, str] = field(default_factory=dict)
    message: str = ""

    @classmethod
    def make(cls, code: ReasonCode, **placeholders: object) -> Reason:
        """Build a reason; placeholders become strings and fill in the English message."""
        values = {k: "" if v is None else str(v) for k, v in placeholders.items()}
        return cls(code=code, placeholders=values, message=_TEMPLATES[code].format_map(values))

    @property
    def forceable(self) -> bool:
        """Whether ``force`` overrides this reason."""
        return self.code not in NON_FORCEABLE

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "code": str(self.code),
            "placeholders": dict(self.placeholders),
            "message": self.message,
        }


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class StandbyNodeRequest:
    """Put ``node`` in standby; with ``wait``, until no resource runs on it any more."""

    action: ClassVar[ActionKind] = ActionKind.STANDBY_NODE
    node: str
    wait: bool = True
    force: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class OnlineNodeRequest:
    """Take ``node`` out of standby; with ``wait``, until it is online and the cluster idle."""

    action: ClassVar[ActionKind] = ActionKind.ONLINE_NODE
    node: str
    wait: bool = True
    force: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class FailoverRequest:
    """Move the application to ``target`` (default: the best other online node).

    ``resource`` overrides the application chosen in the options.
    """

    action: ClassVar[ActionKind] = ActionKind.FAILOVER
    target: str | None = None
    resource: str | None = None
    wait: bool = True
    force: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class RestartResourceRequest:
    """Restart ``resource`` through the cluster (stop, then start where it ran)."""

    action: ClassVar[ActionKind] = ActionKind.RESTART_RESOURCE
    resource: str
    wait: bool = True
    force: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class CleanupResourceRequest:
    """Clear the failures and fail counts of ``resource`` (on ``node`` only, when given)."""

    action: ClassVar[ActionKind] = ActionKind.CLEANUP_RESOURCE
    resource: str
    node: str | None = None
    wait: bool = True
    force: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class ClearMoveConstraintsRequest:
    """Remove the ``cli-prefer-*``/``cli-ban-*`` constraints of ``resource``."""

    action: ClassVar[ActionKind] = ActionKind.CLEAR_MOVE_CONSTRAINTS
    resource: str
    wait: bool = True
    force: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class SetMaintenanceModeRequest:
    """Switch the cluster-wide maintenance mode."""

    action: ClassVar[ActionKind] = ActionKind.SET_MAINTENANCE_MODE
    on: bool
    wait: bool = True
    force: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class SetNodeMaintenanceRequest:
    """Switch the maintenance attribute of ``node``."""

    action: ClassVar[ActionKind] = ActionKind.SET_NODE_MAINTENANCE
    node: str
    on: bool
    wait: bool = True
    force: bool = False


type ActionRequest = (
    StandbyNodeRequest
    | OnlineNodeRequest
    | FailoverRequest
    | RestartResourceRequest
    | CleanupResourceRequest
    | ClearMoveConstraintsRequest
    | SetMaintenanceModeRequest
    | SetNodeMaintenanceRequest
)

_REQUEST_TYPES: Mapping[ActionKind, type[Any]] = {
    ActionKind.STANDBY_NODE: StandbyNodeRequest,
    ActionKind.ONLINE_NODE: OnlineNodeRequest,
    ActionKind.FAILOVER: FailoverRequest,
    ActionKind.RESTART_RESOURCE: RestartResourceRequest,
    ActionKind.CLEANUP_RESOURCE: CleanupResourceRequest,
    ActionKind.CLEAR_MOVE_CONSTRAINTS: ClearMoveConstraintsRequest,
    ActionKind.SET_MAINTENANCE_MODE: SetMaintenanceModeRequest,
    ActionKind.SET_NODE_MAINTENANCE: SetNodeMaintenanceRequest,
}


def request_from_dict(action: str, data: Mapping[str, Any]) -> ActionRequest:
    """Build a request from an action name and plain data (service call data, CLI arguments).

    Keys the request does not have are ignored. Raises :class:`ValueError` for an unknown
    action and :class:`TypeError` when a required field is missing.
    """
    try:
        kind = ActionKind(action)
    except ValueError:
        raise ValueError(f"unknown action {action!r}") from None
    cls = _REQUEST_TYPES[kind]
    fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "action"}
    request: ActionRequest = cls(**fields)
    return request


def request_to_dict(request: ActionRequest) -> dict[str, Any]:
    """JSON-safe form of a request (``action`` plus its fields)."""
    out: dict[str, Any] = {"action": str(request.action)}
    for name in type(request).__dataclass_fields__:
        if name != "action":
            out[name] = getattr(request, name)
    return out


# --------------------------------------------------------------------------------------------
# The verdict
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Assessment:
    """What :func:`assess` found out about a request.

    ``reasons`` are every refusal found (forced or not); ``blocking`` those that still refuse
    the action given ``request.force``; ``overridden`` those ``force`` set aside.
    ``application``/``source``/``target``: the application resource, the node it runs on now and
    the node it would go to (failover, standby of its node). ``noop``: nothing to do (failover
    to the node where the application already runs).
    """

    request: ActionRequest
    reasons: tuple[Reason, ...] = ()
    warnings: tuple[Reason, ...] = ()
    application: str | None = None
    source: str | None = None
    target: str | None = None
    noop: bool = False

    @property
    def blocking(self) -> tuple[Reason, ...]:
        """The reasons that refuse the action."""
        if not self.request.force:
            return self.reasons
        return tuple(r for r in self.reasons if not r.forceable)

    @property
    def overridden(self) -> tuple[Reason, ...]:
        """The reasons ``force`` set aside."""
        if not self.request.force:
            return ()
        return tuple(r for r in self.reasons if r.forceable)

    @property
    def allowed(self) -> bool:
        """True when nothing blocks the action."""
        return not self.blocking

    @property
    def message(self) -> str:
        """One English sentence naming every blocking reason (empty when allowed)."""
        blocking = self.blocking
        if not blocking:
            return ""
        what = str(self.request.action).replace("_", " ")
        return f"{what} refused: " + "; ".join(r.message for r in blocking)

    def raise_if_refused(self) -> None:
        """Raise :class:`~hacluster.errors.InterlockError` (with ``reasons``) when refused."""
        blocking = self.blocking
        if blocking:
            raise InterlockError(self.message, reasons=blocking)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "request": request_to_dict(self.request),
            "allowed": self.allowed,
            "reasons": [r.to_dict() for r in self.reasons],
            "blocking": [r.to_dict() for r in self.blocking],
            "overridden": [r.to_dict() for r in self.overridden],
            "warnings": [r.to_dict() for r in self.warnings],
            "application": self.application,
            "source": self.source,
            "target": self.target,
            "noop": self.noop,
        }


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------

_RESYNC = frozenset(
    {
        ReplicationState.SYNC_SOURCE,
        ReplicationState.SYNC_TARGET,
        ReplicationState.PAUSED_SYNC_S,
        ReplicationState.PAUSED_SYNC_T,
        ReplicationState.STARTING_SYNC_S,
        ReplicationState.STARTING_SYNC_T,
        ReplicationState.WF_BITMAP_S,
        ReplicationState.WF_BITMAP_T,
        ReplicationState.WF_SYNC_UUID,
    }
)
"""A resync runs, is paused, or is about to start."""


def _valid_node(name: str, reasons: list[Reason]) -> bool:
    try:
        validate_node_name(name)
    except InvalidNameError:
        reasons.append(Reason.make(ReasonCode.INVALID_NAME, name=repr(name)[:80], kind="node"))
        return False
    return True


def _valid_resource(name: str, reasons: list[Reason]) -> bool:
    try:
        validate_pacemaker_id(name)
    except InvalidNameError:
        reasons.append(Reason.make(ReasonCode.INVALID_NAME, name=repr(name)[:80], kind="resource"))
        return False
    return True


def _known_node(status: PacemakerStatus, name: str, reasons: list[Reason]) -> bool:
    if not _valid_node(name, reasons):
        return False
    if status.node(name) is None:
        reasons.append(Reason.make(ReasonCode.UNKNOWN_NODE, node=name))
        return False
    return True


def _known_resource(status: PacemakerStatus, name: str, reasons: list[Reason]) -> bool:
    if not _valid_resource(name, reasons):
        return False
    if status.resource(name) is None:
        reasons.append(Reason.make(ReasonCode.UNKNOWN_RESOURCE, resource=name))
        return False
    return True


def _active_nodes(status: PacemakerStatus) -> list[str]:
    """Nodes that can run resources: online, not standby, not in maintenance."""
    return [n.name for n in status.nodes if n.state is NodeState.ONLINE]


def _split_brain(snapshot: ClusterSnapshot) -> list[Reason]:
    reasons = [
        Reason.make(
            ReasonCode.SPLIT_BRAIN_SUSPECTED,
            resource=name,
            evidence="; ".join(verdict.evidence) or "split brain",
            cause="drbd",
        )
        for name, verdict in sorted(snapshot.split_brain.items())
        if verdict.split_brain
    ]
    if snapshot.partitioned:
        reasons.append(
            Reason.make(
                ReasonCode.SPLIT_BRAIN_SUSPECTED,
                resource="cluster",
                evidence="the nodes disagree on who the DC is (partitioned)",
                cause="partitioned",
            )
        )
    return reasons


def _maintenance(status: PacemakerStatus, source: str | None, app: Resource | None) -> list[Reason]:
    if status.options.maintenance_mode:
        return [Reason.make(ReasonCode.MAINTENANCE_MODE)]
    reasons: list[Reason] = []
    node = status.node(source) if source else None
    if node is not None and node.maintenance:
        reasons.append(Reason.make(ReasonCode.NODE_MAINTENANCE, node=node.name))
    if app is not None and not app.managed:
        reasons.append(Reason.make(ReasonCode.RESOURCE_UNMANAGED, resource=app.id))
    return reasons


def _quorum_after_standby(
    snapshot: ClusterSnapshot, status: PacemakerStatus, node: str
) -> list[Reason]:
    """``would_lose_quorum`` when fewer active nodes than a majority would remain."""
    quorum = next(
        (
            r.quorum
            for r in snapshot.nodes
            if r.reachable and r.quorum is not None and r.quorum.running
        ),
        None,
    )
    if quorum is not None and quorum.two_node:
        return []
    if quorum is not None and quorum.quorum:
        needed = quorum.quorum
    elif len(status.nodes) == 2:
        return []  # without votequorum data a two-node cluster is assumed to be two_node
    else:
        needed = len(status.nodes) // 2 + 1
    active = [n for n in _active_nodes(status) if n != node]
    if len(active) < needed:
        return [
            Reason.make(ReasonCode.WOULD_LOSE_QUORUM, node=node, active=len(active), needed=needed)
        ]
    return []


def _report(snapshot: ClusterSnapshot, name: str) -> NodeReport | None:
    report = snapshot.node(name)
    return report if report is not None and report.reachable else None


def _target_node_reasons(
    snapshot: ClusterSnapshot, status: PacemakerStatus, target: str
) -> list[Reason]:
    """Is the target online (in the cluster's view) and reachable (by us)?"""
    reasons: list[Reason] = []
    node = status.node(target)
    state = node.state if node is not None else NodeState.UNKNOWN
    if state is not NodeState.ONLINE:
        reasons.append(Reason.make(ReasonCode.TARGET_NOT_ONLINE, node=target, state=state))
    report = snapshot.node(target)
    if report is None or not report.reachable:
        error = report.error if report is not None and report.error else "not polled"
        reasons.append(Reason.make(ReasonCode.TARGET_UNREACHABLE, node=target, error=error))
    return reasons


def _connection_to(local: DrbdResource, peer: NodeReport) -> str:
    """The state of ``local``'s connection to ``peer`` (named by node name or hostname)."""
    for name in (peer.name, peer.hostname):
        if name and (conn := local.connection(name)) is not None:
            return str(conn.connection_state)
    return "unknown"


def _drbd_target_reasons(snapshot: ClusterSnapshot, target: str) -> list[Reason]:
    """The target's DRBD disks and connections to the current Primary."""
    reports = [r for r in snapshot.nodes if r.reachable and r.drbd is not None]
    names = sorted({res.name for r in reports if r.drbd for res in r.drbd.resources})
    target_report = _report(snapshot, target)
    if not names or target_report is None:
        return []  # no DRBD here, or the target is unreachable (reported as such)
    if target_report.drbd is None:
        return [
            Reason.make(
                ReasonCode.TARGET_DISK_NOT_UPTODATE, node=target, resource=n, state="unknown"
            )
            for n in names
        ]
    reasons: list[Reason] = []
    for name in names:
        local = target_report.drbd.resource(name)
        state = str(local.disk_state) if local is not None else "Unconfigured"
        if local is None or local.disk_state is not DiskState.UP_TO_DATE:
            reasons.append(
                Reason.make(
                    ReasonCode.TARGET_DISK_NOT_UPTODATE, node=target, resource=name, state=state
                )
            )
        if local is None:
            continue
        for report in reports:
            res = report.drbd.resource(name) if report.drbd else None
            if report.name == target or res is None or res.role is not DrbdRole.PRIMARY:
                continue
            conn_state = _connection_to(local, report)
            if conn_state != "Connected":
                reasons.append(
                    Reason.make(
                        ReasonCode.TARGET_NOT_CONNECTED_TO_PRIMARY,
                        node=target,
                        primary=report.name,
                        resource=name,
                        state=conn_state,
                    )
                )
    return reasons


def _resync_reasons(snapshot: ClusterSnapshot) -> list[Reason]:
    """A resync anywhere (each pair of nodes reported once)."""
    reasons: list[Reason] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    for report in snapshot.nodes:
        if not report.reachable or report.drbd is None:
            continue
        for res in report.drbd.resources:
            for conn in res.connections:
                state = conn.replication_state
                key = (res.name, frozenset({report.name, conn.name}))
                if state not in _RESYNC or key in seen:
                    continue
                seen.add(key)
                percent = conn.sync_percent
                reasons.append(
                    Reason.make(
                        ReasonCode.RESYNC_RUNNING,
                        node=report.name,
                        peer=conn.name,
                        resource=res.name,
                        state=state,
                        percent="?" if percent is None else f"{percent:.1f} %",
                    )
                )
    return reasons


def _fencing_warning(status: PacemakerStatus) -> list[Reason]:
    return [] if status.options.stonith_enabled else [Reason.make(ReasonCode.FENCING_DISABLED)]


def _move_target(
    snapshot: ClusterSnapshot, status: PacemakerStatus, source: str | None, exclude: str | None
) -> tuple[str | None, list[Reason]]:
    """The best other online node for the application, and its reasons (fewest wins)."""
    candidates = [n for n in _active_nodes(status) if n not in (source, exclude)]
    best: tuple[int, str, list[Reason]] | None = None
    for name in sorted(candidates):
        reasons = _target_node_reasons(snapshot, status, name) + _drbd_target_reasons(
            snapshot, name
        )
        if best is None or len(reasons) < best[0]:
            best = (len(reasons), name, reasons)
    if best is None:
        return None, []
    return best[1], best[2]


def _assess_failover(
    snapshot: ClusterSnapshot,
    status: PacemakerStatus,
    request: FailoverRequest,
    application: str | None,
) -> Assessment:
    reasons: list[Reason] = []
    preferred = request.resource or application
    if preferred and not _known_resource(status, preferred, reasons):
        return Assessment(request=request, reasons=tuple(reasons))
    app = find_application(status, preferred)
    if app is None:
        return Assessment(request=request, reasons=(Reason.make(ReasonCode.NO_APPLICATION),))
    source = application_node(app)
    target = request.target
    if target is not None:
        if not _known_node(status, target, reasons):
            return Assessment(
                request=request, reasons=tuple(reasons), application=app.id, source=source
            )
        if target == source:
            return Assessment(
                request=request, application=app.id, source=source, target=target, noop=True
            )
        reasons += _target_node_reasons(snapshot, status, target)
        reasons += _drbd_target_reasons(snapshot, target)
    else:
        target, target_reasons = _move_target(snapshot, status, source, None)
        if target is None:
            reasons.append(Reason.make(ReasonCode.NO_OTHER_ONLINE_NODE, resource=app.id))
        reasons += target_reasons
    if not status.quorate:
        reasons.append(Reason.make(ReasonCode.NO_QUORUM))
    reasons += _resync_reasons(snapshot)
    reasons += _split_brain(snapshot)
    reasons += _maintenance(status, source, app)
    return Assessment(
        request=request,
        reasons=tuple(reasons),
        warnings=tuple(_fencing_warning(status)),
        application=app.id,
        source=source,
        target=target,
    )


def _assess_standby(
    snapshot: ClusterSnapshot,
    status: PacemakerStatus,
    request: StandbyNodeRequest,
    application: str | None,
) -> Assessment:
    reasons: list[Reason] = []
    if not _known_node(status, request.node, reasons):
        return Assessment(request=request, reasons=tuple(reasons))
    app = find_application(status, application)
    source = application_node(app)
    target: str | None = None
    if not [n for n in _active_nodes(status) if n != request.node]:
        reasons.append(Reason.make(ReasonCode.LAST_ONLINE_NODE, node=request.node))
    elif app is not None and source == request.node:
        target, target_reasons = _move_target(snapshot, status, source, request.node)
        reasons += target_reasons
    if not status.quorate:
        reasons.append(Reason.make(ReasonCode.NO_QUORUM))
    else:
        reasons += _quorum_after_standby(snapshot, status, request.node)
    reasons += _resync_reasons(snapshot)
    reasons += _split_brain(snapshot)
    if status.options.maintenance_mode:
        reasons.append(Reason.make(ReasonCode.MAINTENANCE_MODE))
    elif (node := status.node(request.node)) is not None and node.maintenance:
        reasons.append(Reason.make(ReasonCode.NODE_MAINTENANCE, node=request.node))
    return Assessment(
        request=request,
        reasons=tuple(reasons),
        warnings=tuple(_fencing_warning(status)),
        application=app.id if app else None,
        source=source,
        target=target,
    )


def assess(
    snapshot: ClusterSnapshot, request: ActionRequest, *, application: str | None = None
) -> Assessment:
    """Check ``request`` against ``snapshot`` (pure). ``application``: the configured app id."""
    status = snapshot.pacemaker
    if status is None or not status.stack_running:
        return Assessment(request=request, reasons=(Reason.make(ReasonCode.NO_CLUSTER_VIEW),))
    reasons: list[Reason] = []
    match request:
        case FailoverRequest():
            return _assess_failover(snapshot, status, request, application)
        case StandbyNodeRequest():
            return _assess_standby(snapshot, status, request, application)
        case OnlineNodeRequest():
            _known_node(status, request.node, reasons)
            app = find_application(status, application)
            return Assessment(
                request=request,
                reasons=tuple(reasons),
                warnings=() if reasons else tuple(_fencing_warning(status)),
                application=app.id if app else None,
                source=application_node(app),
            )
        case RestartResourceRequest():
            if _known_resource(status, request.resource, reasons):
                if not status.quorate:
                    reasons.append(Reason.make(ReasonCode.NO_QUORUM))
                rsc = status.resource(request.resource)
                reasons += _maintenance(status, None, rsc)
        case CleanupResourceRequest():
            _known_resource(status, request.resource, reasons)
            if request.node is not None:
                _known_node(status, request.node, reasons)
        case ClearMoveConstraintsRequest():
            if _valid_resource(request.resource, reasons):
                constrained = {c.resource for c in status.move_constraints}
                if status.resource(request.resource) is None and (
                    request.resource not in constrained
                ):
                    reasons.append(
                        Reason.make(ReasonCode.UNKNOWN_RESOURCE, resource=request.resource)
                    )
        case SetNodeMaintenanceRequest():
            _known_node(status, request.node, reasons)
        case _:  # SetMaintenanceModeRequest: nothing to check
            pass
    app = find_application(status, application)
    return Assessment(
        request=request,
        reasons=tuple(reasons),
        application=app.id if app else None,
        source=application_node(app),
    )


# --------------------------------------------------------------------------------------------
# Will this action stop the Home Assistant instance that sends it?
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class SelfLocation:
    """Where this Home Assistant instance runs, as far as the cluster can tell.

    ``node``: the cluster node it runs on (None: not on a cluster node, or unknown).
    ``in_application``: it runs inside the application resource (it owns the VIP, or the caller
    said so), so moving or stopping the application stops it. ``evidence``: how we know.
    """

    node: str | None = None
    in_application: bool = False
    evidence: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (for diagnostics)."""
        return {"node": self.node, "in_application": self.in_application, "evidence": self.evidence}


def detect_self(
    snapshot: ClusterSnapshot,
    own_addresses: Iterable[str],
    *,
    vip: str | None = None,
    hostname: str | None = None,
    application: str | None = None,
) -> SelfLocation:
    """Work out where this instance runs from its own addresses (and hostname).

    Owning the application's virtual IP means running inside the application, on the node that
    runs it. Otherwise a node's SSH address (or its hostname) among ours says which node we run
    on, but not inside the application.
    """
    addresses = {a.strip() for a in own_addresses if a.strip()}
    status = snapshot.pacemaker
    app = find_application(status, application) if status is not None else None
    if vip and vip in addresses:
        return SelfLocation(
            node=application_node(app),
            in_application=True,
            evidence=f"this instance owns the virtual IP {vip}",
        )
    for report in snapshot.nodes:
        if report.host in addresses:
            return SelfLocation(node=report.name, evidence=f"this instance has {report.host}")
    if hostname:
        for report in snapshot.nodes:
            if hostname in (report.name, report.hostname):
                return SelfLocation(node=report.name, evidence=f"hostname {hostname}")
    return SelfLocation(evidence="no cluster address or hostname matches this instance")


def _depends_on(status: PacemakerStatus, app: Resource) -> set[str]:
    """Resources the application needs: colocated with, ordered after (one level)."""
    needed = {c.with_resource for c in status.colocations if c.resource == app.id}
    needed |= {c.resource for c in status.colocations if c.with_resource == app.id}
    needed |= {o.first for o in status.orders if o.then == app.id}
    return needed


def _restart_hits(status: PacemakerStatus, app: Resource, resource: str) -> bool:
    if app.find(resource) is not None:
        return True  # the application or one of its members
    rsc = status.resource(resource)
    if rsc is None:
        return False
    if rsc.find(app.id) is not None:
        return True  # a group or clone that contains the application
    needed = _depends_on(status, app)
    return any(top.id in needed and top.find(resource) is not None for top in status.resources)


def stops_self(
    snapshot: ClusterSnapshot,
    request: ActionRequest,
    local_node: str | None,
    *,
    in_application: bool = True,
    application: str | None = None,
) -> bool:
    """True when ``request`` will stop this Home Assistant instance (send it with wait=False).

    ``local_node`` is the node this instance runs on (None: unknown or not a cluster node);
    ``in_application`` says it runs inside the application resource (see :func:`detect_self`).
    An instance outside the application is never stopped by a cluster action. Inside it:
    failover (unless to the same node), standby of the application's node, a restart of the
    application, a member, a resource containing it or one it depends on, and an online of a
    node that a ``cli-prefer`` constraint of the application points to (it will move there).
    Not predicted: a move back caused by location scores once a constraint is cleared.
    """
    status = snapshot.pacemaker
    if not in_application or status is None:
        return False
    preferred = request.resource if isinstance(request, FailoverRequest) else None
    app = find_application(status, preferred or application)
    if app is None:
        return False
    here = application_node(app) or local_node
    match request:
        case FailoverRequest():
            return request.target is None or request.target != here
        case StandbyNodeRequest():
            return request.node == here
        case RestartResourceRequest():
            return _restart_hits(status, app, request.resource)
        case OnlineNodeRequest():
            return any(
                c.kind == "prefer" and c.resource == app.id and c.node == request.node != here
                for c in status.move_constraints
            )
        case _:
            return False
