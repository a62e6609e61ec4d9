"""Run validated actions on the cluster: pick a node, send the argv, settle, verify.

:class:`ClusterController` executes an action request (see :mod:`.interlocks`):

1. a fresh full poll (or the caller's snapshot) and :func:`~.interlocks.assess`; a refusal
   raises :class:`~hacluster.errors.InterlockError`;
2. the command goes to one reachable node's own address (never the virtual IP), the DC first;
3. ``wait=True``: a light poll (``crm_mon``, plus ``crmadmin -S DC`` and the CIB constraints
   when the check needs them; one exec on one node, the commands side by side) every
   ``poll_interval`` until the expected state shows, or ``settle_timeout``. ``wait=False``
   ("send only", for an action that stops the Home Assistant instance sending it): return as
   soon as the cluster has accepted the change (the command exited 0 and the CIB shows the
   attribute or constraint), with a :class:`PendingAction` to finish later with
   :meth:`ClusterController.complete`;
4. a failover is a move the way ``pcs resource move`` does it since pcs 0.11: ``crm_resource
   --move``, wait until the application runs on the target, then ``crm_resource --clear`` so the
   cluster may move it again later. A move that does not get there is reported as failed and
   says whether the ``cli-prefer-*`` constraint is still there (read from the CIB);
5. a fresh poll (for a failover: after the clear) verifies the result, returned as a frozen
   :class:`ActionResult`. It is a verification poll: the DC's own ``crm_mon`` view (with the CIB
   constraints where they matter) and, for a failover, ``drbdsetup status`` on the target, one
   exec per node, both at once; that is every fact the verdict needs. When that cannot judge
   (the DC does not answer, is no longer the DC or has no quorum; a failover finished by
   :meth:`ClusterController.complete`), a full ``ClusterClient.poll()`` does, and is returned as
   the result's ``snapshot``.

Execution failures (a command that exits non-zero, a timeout, a state that does not verify) are
results with ``ok=False`` and a :class:`ResultCode`; :meth:`ActionResult.raise_for_status` turns
them into :class:`~hacluster.errors.ActionFailedError`. Connection errors raise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Final

from . import commands
from .analysis import application_node, promoted_nodes
from .client import build_node_report, build_snapshot
from .commands import BatchCommand, CommandResult
from .errors import (
    ActionFailedError,
    ClusterConnectionError,
    ClusterTimeoutError,
    HAClusterError,
    InvalidNameError,
)
from .interlocks import (
    ActionKind,
    ActionRequest,
    Assessment,
    CleanupResourceRequest,
    ClearMoveConstraintsRequest,
    FailoverRequest,
    OnlineNodeRequest,
    Reason,
    RestartResourceRequest,
    SetMaintenanceModeRequest,
    SetNodeMaintenanceRequest,
    StandbyNodeRequest,
    assess,
    request_from_dict,
    request_to_dict,
)
from .models.drbd import DrbdRole
from .models.pacemaker import (
    TRANSITIONAL_ROLES,
    NodeState,
    PacemakerStatus,
    ResourceKind,
    ResourceRole,
)
from .parsers.crm_mon import parse_crm_mon

if TYPE_CHECKING:
    from .client import ClusterClient, ClusterSnapshot

__all__ = [
    "ActionResult",
    "ClusterController",
    "LightView",
    "PendingAction",
    "ResultCode",
    "application_on",
    "choose_command_nodes",
    "detached",
]

_LOGGER = logging.getLogger(__name__)

SETTLE_TIMEOUT: Final = 120.0
"""Default seconds to wait for the cluster to reach the expected state."""
POLL_INTERVAL: Final = 0.25
"""Default seconds between two light polls."""
ACCEPT_TIMEOUT: Final = 15.0
"""Default seconds a ``wait=False`` action waits for the CIB to show the change."""
COMMAND_TIMEOUT: Final = 60.0
"""Default seconds a command may run on the node."""
IDLE_TIMEOUT: Final = 0.0
"""Seconds to wait for the DC to become idle after a failover's constraint was cleared.

0 (the default): the verification poll right after the clear must show the constraint gone
and the application still on the target; the DC's idle state is not awaited (it would add
the time the rest of the move's transition takes, about 2 s on the lab)."""
POLL_TIMEOUT: Final = 10.0
"""Seconds one light poll may take before the next node is asked."""
IDLE_STATE: Final = "S_IDLE"

_DC_STATE_RE: Final = re.compile(rb"\bS_[A-Z_]+\b")
_CMD_DC_STATE: Final = "dc_state"
_LIGHT_CRM_MON: Final = next(c for c in commands.POLL_COMMANDS if c.name == commands.CMD_CRM_MON)
_LIGHT_CIB: Final = next(
    c for c in commands.POLL_COMMANDS if c.name == commands.CMD_CIB_CONSTRAINTS
)
_VERIFY_DRBD: Final = next(c for c in commands.POLL_COMMANDS if c.name == commands.CMD_DRBD_STATUS)


class ResultCode(StrEnum):
    """How an action ended."""

    OK = "ok"
    """Done and verified."""
    NOOP = "noop"
    """Nothing to do (e.g. a failover to the node that already runs the application)."""
    ACCEPTED = "accepted"
    """``wait=False``: the cluster accepted the change; the outcome comes later."""
    COMMAND_FAILED = "command_failed"
    """The command exited with a non-zero status."""
    NOT_ACCEPTED = "not_accepted"
    """``wait=False``: the CIB did not show the change within the accept timeout."""
    SETTLE_TIMEOUT = "settle_timeout"
    """The cluster did not reach the expected state in time."""
    CLEAR_FAILED = "clear_failed"
    """The failover arrived but its move constraint could not be removed."""
    VERIFY_FAILED = "verify_failed"
    """The state was reached, but the full poll afterwards does not confirm it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingAction:
    """An action sent with ``wait=False`` whose outcome is still to be confirmed.

    JSON round trip with :meth:`to_dict`/:meth:`from_dict`, so the Home Assistant layer can
    store it before it stops and call :meth:`ClusterController.complete` after its restart.
    """

    request: Mapping[str, Any]
    """:func:`~hacluster.interlocks.request_to_dict` of the request."""
    application: str | None = None
    source: str | None = None
    target: str | None = None
    before: tuple[str, ...] = ()
    """Where the resource ran before (restart: where it must run again)."""
    command_node: str | None = None
    sent_at: float = 0.0
    """Wall-clock time (``time.time()``) the command was sent."""

    @property
    def action(self) -> ActionKind:
        """The kind of action."""
        return ActionKind(self.request["action"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "request": dict(self.request),
            "application": self.application,
            "source": self.source,
            "target": self.target,
            "before": list(self.before),
            "command_node": self.command_node,
            "sent_at": self.sent_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingAction:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            request=dict(data["request"]),
            application=data.get("application"),
            source=data.get("source"),
            target=data.get("target"),
            before=tuple(data.get("before") or ()),
            command_node=data.get("command_node"),
            sent_at=float(data.get("sent_at") or 0.0),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ActionResult:
    """What an action did.

    * ``duration_s``: from the call to the return (interlock poll and verification included);
    * ``cluster_seconds``: from sending the command until the expected state was first seen
      (None when it never was, or with ``wait=False``);
    * ``new_location``: where the application (node actions) or the resource (resource
      actions) runs afterwards, when on exactly one node;
    * ``constraint_left``: a move constraint (``cli-prefer-*``/``cli-ban-*``) of the moved
      resource is still in the CIB afterwards;
    * ``warnings`` (e.g. fencing disabled) and ``overridden`` (refusals set aside by force).
    """

    action: ActionKind
    ok: bool
    code: ResultCode
    message: str
    duration_s: float
    cluster_seconds: float | None = None
    new_location: str | None = None
    warnings: tuple[Reason, ...] = ()
    overridden: tuple[Reason, ...] = ()
    constraint_left: bool = False
    command_node: str | None = None
    pending: PendingAction | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    snapshot: ClusterSnapshot | None = field(default=None, compare=False, repr=False)
    """The full poll that verified the result (reuse it, e.g. as the coordinator's new data);
    None when the lighter verification poll sufficed (see the module docs). Not in to_dict."""

    def raise_for_status(self) -> ActionResult:
        """Return ``self`` when ok, else raise :class:`~hacluster.errors.ActionFailedError`."""
        if not self.ok:
            raise ActionFailedError(self.message)
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (the Home Assistant service response)."""
        return {
            "action": str(self.action),
            "ok": self.ok,
            "code": str(self.code),
            "message": self.message,
            "duration_s": round(self.duration_s, 3),
            "cluster_seconds": (
                None if self.cluster_seconds is None else round(self.cluster_seconds, 3)
            ),
            "new_location": self.new_location,
            "warnings": [w.to_dict() for w in self.warnings],
            "overridden": [r.to_dict() for r in self.overridden],
            "constraint_left": self.constraint_left,
            "command_node": self.command_node,
            "pending": self.pending.to_dict() if self.pending else None,
            "details": dict(self.details),
        }


# --------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------


def choose_command_nodes(snapshot: ClusterSnapshot, *, vip: str | None = None) -> tuple[str, ...]:
    """Nodes to send a command to, best first: reachable, own address (not ``vip``), stack up.

    The DC with quorum comes first, then the other members whose own view has quorum, then a
    DC without quorum, then the rest whose stack runs; the poll order breaks ties.
    """
    dc = snapshot.pacemaker.dc if snapshot.pacemaker is not None else None
    ranked: list[tuple[int, int, str]] = []
    for index, report in enumerate(snapshot.nodes):
        view = report.pacemaker
        if not report.reachable or view is None or not view.stack_running:
            continue
        if vip is not None and report.host == vip:
            continue
        is_dc = report.name == dc
        rank = (0 if is_dc else 1) if view.quorate else (2 if is_dc else 3)
        ranked.append((rank, index, report.name))
    return tuple(name for _, _, name in sorted(ranked))


@dataclass(frozen=True, kw_only=True, slots=True)
class LightView:
    """One light poll: crm_mon (plus the CIB constraints when asked) and the DC's state.

    ``dc_state``: the controller state of the DC (``S_IDLE`` when no transition runs); None when
    ``crmadmin`` was not asked or is not installed; ``"unknown"`` when it failed or answered for
    another node than the DC crm_mon names.
    """

    status: PacemakerStatus
    dc_state: str | None
    node: str
    at: float

    @property
    def idle(self) -> bool:
        """No resource in a transitional role, and the DC (when known) is in S_IDLE."""
        return _stable(self.status) and self.dc_state in (None, IDLE_STATE)


def _stable(status: PacemakerStatus) -> bool:
    return not any(p.role in TRANSITIONAL_ROLES for p in status.iter_primitives())


def _runs_on(status: PacemakerStatus, node: str) -> bool:
    pnode = status.node(node)
    if pnode is not None and pnode.resources_running:
        return True
    return any(node in p.running_on for p in status.iter_primitives())


def _dc_state(result: CommandResult | None, asked: str | None, dc: str | None) -> str | None:
    if result is None or result.not_found:
        return None
    if not result.ok or asked != dc:
        return "unknown"
    found = _DC_STATE_RE.findall(result.stdout + b"\n" + result.stderr)
    return found[-1].decode("ascii") if found else "unknown"


def _has_constraint(
    status: PacemakerStatus, resource: str, *, node: str | None = None, kind: str | None = None
) -> bool:
    return any(
        c.resource == resource and (node is None or c.node == node) and (kind in (None, c.kind))
        for c in status.move_constraints
    )


def application_on(status: PacemakerStatus, app: str, target: str) -> bool:
    """The application runs on ``target`` only, Started there, and DRBD is Promoted there."""
    rsc = status.resource(app)
    if rsc is None or tuple(rsc.running_on) != (target,):
        return False
    for prim in rsc.iter_primitives():
        if prim.failed or tuple(prim.running_on) != (target,):
            return False
        if prim.role not in (ResourceRole.STARTED, ResourceRole.PROMOTED):
            return False
    has_promotable = any(r.kind is ResourceKind.PROMOTABLE for r in status.resources)
    return not has_promotable or promoted_nodes(status) == (target,)


def _primitive_ids(status: PacemakerStatus, resource: str) -> set[str]:
    rsc = status.resource(resource)
    ids = {resource}
    if rsc is not None:
        ids |= {p.id for p in rsc.iter_primitives()}
    return ids


def _cleaned(status: PacemakerStatus, resource: str, node: str | None) -> bool:
    ids = _primitive_ids(status, resource)
    for action in status.failed_actions:
        if action.resource in ids and (node is None or action.node == node):
            return False
    for where, counts in status.fail_counts.items():
        if node is not None and where != node:
            continue
        if any(counts.get(i, 0) for i in ids):
            return False
    return True


def _restarted(status: PacemakerStatus, resource: str, before: tuple[str, ...]) -> bool:
    rsc = status.resource(resource)
    if rsc is None or rsc.target_role is ResourceRole.STOPPED:
        return False
    return tuple(sorted(rsc.running_on)) == before


def _restart_seen(status: PacemakerStatus, resource: str, before: tuple[str, ...]) -> bool:
    """A launched restart shows: target-role Stopped, or it no longer runs where it ran."""
    rsc = status.resource(resource)
    if rsc is None:
        return False
    return rsc.target_role is ResourceRole.STOPPED or tuple(sorted(rsc.running_on)) != before


def _node_is(status: PacemakerStatus, node: str, check: Callable[[Any], bool]) -> bool:
    pnode = status.node(node)
    return pnode is not None and check(pnode)


def _location(status: PacemakerStatus | None, resource: str | None) -> str | None:
    if status is None or resource is None:
        return None
    return application_node(status.resource(resource))


# --------------------------------------------------------------------------------------------
# What each action sends and waits for
# --------------------------------------------------------------------------------------------


type StatePredicate = Callable[[PacemakerStatus], bool]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Plan:
    """How to run one action (built by :func:`_plan`)."""

    argv: tuple[str, ...]
    description: str
    settled: StatePredicate
    accepted: StatePredicate | None
    """``wait=False``: the CIB shows the change (None: the exit status is enough)."""
    needs_idle: bool = False
    twice: bool | None = None
    """Confirm on two polls in a row (default: when ``needs_idle``): for states that may hold
    before the DC has even started the transition the command causes."""
    needs_cib: bool = False
    """The ``accepted`` (and by default the ``settled``) predicate reads the CIB constraints."""
    settle_cib: bool | None = None
    """Light polls while settling read the CIB constraints (None: like ``needs_cib``)."""
    send_only_argv: tuple[str, ...] | None = None
    """``wait=False`` runs this instead (a restart is launched detached)."""
    command_timeout: float = COMMAND_TIMEOUT
    retry_safe: bool = True
    """The command may be sent to another node after a connection error (idempotent)."""
    location_of: str | None = None
    before: tuple[str, ...] = ()


def detached(argv: Sequence[str]) -> tuple[str, ...]:
    """Run ``argv`` in a new session that outlives the SSH channel (``setsid -f``)."""
    return ("setsid", "-f", *argv)


def _plan(
    request: ActionRequest,
    assessment: Assessment,
    status: PacemakerStatus,
    *,
    settle_timeout: float,
    before: tuple[str, ...] | None = None,
) -> _Plan:
    app = assessment.application
    match request:
        case StandbyNodeRequest(node=node):
            return _Plan(
                argv=commands.standby_node(node),
                description=f"put {node} in standby",
                settled=lambda s: _node_is(s, node, lambda n: n.standby) and not _runs_on(s, node),
                accepted=lambda s: _node_is(s, node, lambda n: n.standby),
                # idle once is enough: nothing runs on the node any more, so the transition
                # that stopped it has started (and its restarts elsewhere are done)
                needs_idle=True,
                twice=False,
                location_of=app,
            )
        case OnlineNodeRequest(node=online):
            return _Plan(
                argv=commands.online_node(online),
                description=f"bring {online} online",
                settled=lambda s: _node_is(s, online, lambda n: n.state is NodeState.ONLINE),
                accepted=lambda s: _node_is(s, online, lambda n: not n.standby),
                needs_idle=True,
                location_of=app,
            )
        case FailoverRequest():
            target = assessment.target
            if app is None or target is None:  # pragma: no cover - assess refuses these
                raise ActionFailedError("a failover needs an application and a target")
            return _Plan(
                argv=commands.move_resource(app, target),
                description=f"move {app} to {target}",
                settled=lambda s: application_on(s, app, target),
                accepted=lambda s: _has_constraint(s, app, node=target, kind="prefer"),
                needs_cib=True,
                # arriving is crm_mon's business; the CIB is read again after the clear
                settle_cib=False,
                location_of=app,
            )
        case RestartResourceRequest(resource=resource):
            rsc = status.resource(resource)
            was = before if before is not None else tuple(sorted(rsc.running_on if rsc else ()))
            argv = commands.restart_resource(resource)
            return _Plan(
                argv=argv,
                description=f"restart {resource}",
                settled=lambda s: _restarted(s, resource, was),
                accepted=lambda s: _restart_seen(s, resource, was),
                needs_idle=True,
                send_only_argv=detached(argv),
                command_timeout=settle_timeout + COMMAND_TIMEOUT,
                retry_safe=False,
                location_of=resource,
                before=was,
            )
        case CleanupResourceRequest(resource=resource, node=cleanup_node):
            return _Plan(
                argv=commands.cleanup_resource(resource, cleanup_node),
                description=f"clean up {resource}"
                + (f" on {cleanup_node}" if cleanup_node else ""),
                settled=lambda s: _cleaned(s, resource, cleanup_node),
                accepted=None,
                needs_idle=True,
                location_of=resource,
            )
        case ClearMoveConstraintsRequest(resource=resource):
            return _Plan(
                argv=commands.clear_resource(resource),
                description=f"clear the move constraints of {resource}",
                settled=lambda s: not _has_constraint(s, resource),
                accepted=lambda s: not _has_constraint(s, resource),
                needs_idle=True,
                needs_cib=True,
                location_of=resource,
            )
        case SetMaintenanceModeRequest(on=on):
            return _Plan(
                argv=commands.set_maintenance_mode(on),
                description=f"switch maintenance mode {'on' if on else 'off'}",
                settled=lambda s: s.options.maintenance_mode is on,
                accepted=lambda s: s.options.maintenance_mode is on,
                needs_idle=True,
                location_of=app,
            )
        case SetNodeMaintenanceRequest(node=maint_node, on=maint_on):
            return _Plan(
                argv=commands.set_node_maintenance(maint_node, maint_on),
                description=f"switch maintenance of {maint_node} {'on' if maint_on else 'off'}",
                settled=lambda s: _node_is(s, maint_node, lambda n: n.maintenance is maint_on),
                accepted=lambda s: _node_is(s, maint_node, lambda n: n.maintenance is maint_on),
                needs_idle=True,
                location_of=app,
            )
    raise InvalidNameError(f"unsupported request {request!r}")  # pragma: no cover


# --------------------------------------------------------------------------------------------
# The controller
# --------------------------------------------------------------------------------------------


@dataclass(kw_only=True, slots=True)
class _Run:
    """Mutable bookkeeping of one execution."""

    started: float
    request: ActionRequest
    assessment: Assessment
    plan: _Plan
    before: ClusterSnapshot | None
    nodes: tuple[str, ...]
    command_node: str | None = None
    sent_at: float | None = None
    seen_at: float | None = None
    polls: int = 0
    marks: dict[str, float] = field(default_factory=dict)
    want_idle: bool = False
    """Ask the DC's state in light polls even if the plan does not need it (after a clear)."""
    last: LightView | None = None
    details: dict[str, Any] = field(default_factory=dict)


class ClusterController:
    """Execute action requests on the cluster that ``client`` polls (reusing its sessions).

    ``application``: the configured application resource (failover, and the location reported
    by node actions). ``vip``: the application's virtual IP, never used to send commands.
    """

    def __init__(
        self,
        client: ClusterClient,
        *,
        application: str | None = None,
        vip: str | None = None,
        settle_timeout: float = SETTLE_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,
        accept_timeout: float = ACCEPT_TIMEOUT,
        command_timeout: float = COMMAND_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
        poll_timeout: float = POLL_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Keep the client and the timing settings (seconds)."""
        self.client = client
        self.application = application
        self.vip = vip
        self.settle_timeout = settle_timeout
        self.poll_interval = poll_interval
        self.accept_timeout = accept_timeout
        self.command_timeout = command_timeout
        self.idle_timeout = idle_timeout
        self.poll_timeout = poll_timeout
        self._clock = clock

    # -- public ---------------------------------------------------------------------------------

    async def assess(
        self, request: ActionRequest, *, snapshot: ClusterSnapshot | None = None
    ) -> Assessment:
        """The interlock verdict for ``request`` on a fresh poll (or ``snapshot``)."""
        snap = snapshot if snapshot is not None else await self.client.poll()
        return assess(snap, request, application=self.application)

    async def execute(
        self, request: ActionRequest, *, snapshot: ClusterSnapshot | None = None
    ) -> ActionResult:
        """Run ``request``: interlocks, command, settle (or accept), verify.

        Raises :class:`~hacluster.errors.InterlockError` when refused and
        :class:`~hacluster.errors.ClusterConnectionError` when no node takes the command.
        """
        started = self._clock()
        snap = snapshot if snapshot is not None else await self.client.poll()
        polled = self._clock() - started
        assessment = assess(snap, request, application=self.application)
        assessment.raise_if_refused()
        for reason in assessment.warnings:
            _LOGGER.warning("%s: %s", request.action, reason.message)
        for reason in assessment.overridden:
            _LOGGER.warning("%s forced despite: %s", request.action, reason.message)
        status = snap.pacemaker
        assert status is not None  # noqa: S101 - assess refuses without a cluster view
        plan = _plan(request, assessment, status, settle_timeout=self.settle_timeout)
        run = _Run(
            started=started,
            request=request,
            assessment=assessment,
            plan=plan,
            before=snap,
            nodes=self._command_nodes(snap),
        )
        run.marks["polled"] = round(polled, 3)
        if assessment.noop:
            return self._result(
                run,
                ok=True,
                code=ResultCode.NOOP,
                message=f"{assessment.application} already runs on {assessment.target}",
                new_location=assessment.target,
            )
        if not run.nodes:
            raise ClusterConnectionError("no reachable cluster node can take the command")
        send_only = not request.wait
        argv = plan.send_only_argv if send_only and plan.send_only_argv else plan.argv
        result = await self._send(run, argv, plan.command_timeout, retry=plan.retry_safe)
        if not result.ok:
            return await self._command_failed(run, result)
        if send_only:
            return await self._accept(run)
        await self._settle(run, self.settle_timeout)
        return await self._finish(run)

    async def complete(
        self,
        pending: PendingAction,
        *,
        within: float = 30.0,
        snapshot: ClusterSnapshot | None = None,
    ) -> ActionResult:
        """Finish an action sent with ``wait=False``: wait (up to ``within`` s) and verify.

        A failover that arrived gets its move constraint cleared here.
        """
        started = self._clock()
        request = request_from_dict(pending.action, pending.request)
        snap = snapshot if snapshot is not None else await self.client.poll()
        status = snap.pacemaker
        if status is None or not status.stack_running:
            raise ClusterConnectionError("no node reports a running cluster")
        assessment = Assessment(
            request=request,
            application=pending.application,
            source=pending.source,
            target=pending.target,
        )
        plan = _plan(
            request,
            assessment,
            status,
            settle_timeout=self.settle_timeout,
            before=pending.before if isinstance(request, RestartResourceRequest) else None,
        )
        run = _Run(
            started=started,
            request=request,
            assessment=assessment,
            plan=plan,
            before=None,
            nodes=self._command_nodes(snap),
            command_node=pending.command_node,
        )
        if not run.nodes:
            raise ClusterConnectionError("no reachable cluster node answers")
        elapsed = max(0.0, time.time() - pending.sent_at) if pending.sent_at else 0.0
        run.sent_at = self._clock() - elapsed
        await self._settle(run, within)
        return await self._finish(run)

    # convenience wrappers ------------------------------------------------------------------

    async def standby_node(
        self, node: str, *, wait: bool = True, force: bool = False
    ) -> ActionResult:
        """Put ``node`` in standby."""
        return await self.execute(StandbyNodeRequest(node=node, wait=wait, force=force))

    async def online_node(
        self, node: str, *, wait: bool = True, force: bool = False
    ) -> ActionResult:
        """Take ``node`` out of standby."""
        return await self.execute(OnlineNodeRequest(node=node, wait=wait, force=force))

    async def failover(
        self, target: str | None = None, *, wait: bool = True, force: bool = False
    ) -> ActionResult:
        """Move the application to ``target`` (default: the best other online node)."""
        return await self.execute(FailoverRequest(target=target, wait=wait, force=force))

    async def restart_resource(
        self, resource: str, *, wait: bool = True, force: bool = False
    ) -> ActionResult:
        """Restart ``resource``."""
        return await self.execute(RestartResourceRequest(resource=resource, wait=wait, force=force))

    async def cleanup_resource(
        self, resource: str, node: str | None = None, *, wait: bool = True, force: bool = False
    ) -> ActionResult:
        """Clear failures and fail counts of ``resource`` (on ``node``)."""
        return await self.execute(
            CleanupResourceRequest(resource=resource, node=node, wait=wait, force=force)
        )

    async def clear_move_constraints(
        self, resource: str, *, wait: bool = True, force: bool = False
    ) -> ActionResult:
        """Remove the move and ban constraints of ``resource``."""
        return await self.execute(
            ClearMoveConstraintsRequest(resource=resource, wait=wait, force=force)
        )

    async def set_maintenance_mode(
        self, on: bool, *, wait: bool = True, force: bool = False
    ) -> ActionResult:
        """Switch the cluster-wide maintenance mode."""
        return await self.execute(SetMaintenanceModeRequest(on=on, wait=wait, force=force))

    async def set_node_maintenance(
        self, node: str, on: bool, *, wait: bool = True, force: bool = False
    ) -> ActionResult:
        """Switch the maintenance attribute of ``node``."""
        return await self.execute(
            SetNodeMaintenanceRequest(node=node, on=on, wait=wait, force=force)
        )

    # -- steps --------------------------------------------------------------------------------

    def _command_nodes(self, snapshot: ClusterSnapshot) -> tuple[str, ...]:
        sessions = self.client.transport.sessions
        return tuple(n for n in choose_command_nodes(snapshot, vip=self.vip) if n in sessions)

    async def _send(
        self, run: _Run, argv: tuple[str, ...], limit: float, *, retry: bool
    ) -> CommandResult:
        """Send ``argv`` to the first node that takes it (the next one after a lost connection)."""
        last: HAClusterError | None = None
        for node in run.nodes:
            session = self.client.transport.session(node)
            sent_at = self._clock()
            try:
                result = await session.run(argv, timeout=limit)
            except ClusterTimeoutError:
                raise
            except ClusterConnectionError as err:
                last = err
                if not retry:
                    raise
                _LOGGER.info("Cannot send %s to %s (%s); trying the next node", argv[0], node, err)
                continue
            if run.sent_at is None:  # the action's own command, not the clear after it
                run.sent_at = sent_at
                run.marks["sent"] = round(sent_at - run.started, 3)
            run.command_node = node
            run.details.setdefault("commands", []).append(
                {"node": node, "argv": list(argv), "exit_status": result.exit_status}
            )
            return result
        assert last is not None  # noqa: S101 - run.nodes is never empty here
        raise last

    async def _light_poll(self, run: _Run, *, cib: bool) -> LightView:
        """One light poll on the command node (or the next node when it fails).

        ``crm_mon``, the CIB constraints with ``cib``, and the DC's state when the plan (or the
        run) wants an idle DC; the commands run side by side in one exec.
        """
        order = list(run.nodes)
        if run.command_node in order:
            order.remove(run.command_node)
            order.insert(0, run.command_node)
        dc = run.last.status.dc if run.last is not None else None
        if dc is None and run.before is not None and run.before.pacemaker is not None:
            dc = run.before.pacemaker.dc
        cmds = [_LIGHT_CRM_MON]
        if cib:
            cmds.append(_LIGHT_CIB)
        if dc is not None and (run.plan.needs_idle or run.want_idle):
            cmds.append(
                BatchCommand(name=_CMD_DC_STATE, argv=("crmadmin", "-q", "-S", dc), timeout=10)
            )
        last_error: HAClusterError | None = None
        for node in order:
            try:
                batch = await self.client.transport.session(node).run_batch(
                    cmds, timeout=self.poll_timeout, parallel=True
                )
                crm = batch[commands.CMD_CRM_MON]
                xml = batch.get(commands.CMD_CIB_CONSTRAINTS)
                status = parse_crm_mon(
                    crm.stdout,
                    exit_status=crm.exit_status,
                    cib=xml.stdout if xml is not None and xml.ok and xml.stdout.strip() else None,
                )
            except HAClusterError as err:
                last_error = err
                continue
            run.polls += 1
            view = LightView(
                status=status,
                dc_state=_dc_state(batch.get(_CMD_DC_STATE), dc, status.dc),
                node=node,
                at=self._clock(),
            )
            run.last = view
            return view
        assert last_error is not None  # noqa: S101 - order is never empty
        raise last_error

    async def _wait_for(
        self,
        run: _Run,
        check: Callable[[LightView], bool],
        limit: float,
        *,
        twice: bool,
        cib: bool,
    ) -> LightView | None:
        """Light-poll until ``check`` holds (on two polls in a row with ``twice``).

        ``cib``: the polls read the CIB constraints too (``check`` looks at them).
        """
        deadline = self._clock() + limit
        first: LightView | None = None
        while True:
            began = self._clock()
            try:
                view = await self._light_poll(run, cib=cib)
            except HAClusterError as err:
                _LOGGER.debug("Light poll failed: %s", err)
                view = None
            if view is not None and check(view):
                if not twice or first is not None:
                    return first or view
                first = view
            else:
                first = None
            now = self._clock()
            if now >= deadline or self.client.transport.closed:
                return None
            await asyncio.sleep(max(0.0, min(self.poll_interval - (now - began), deadline - now)))

    async def _settle(self, run: _Run, limit: float) -> None:
        plan = run.plan

        def check(view: LightView) -> bool:
            return plan.settled(view.status) and (not plan.needs_idle or view.idle)

        twice = plan.needs_idle if plan.twice is None else plan.twice
        cib = plan.needs_cib if plan.settle_cib is None else plan.settle_cib
        view = await self._wait_for(run, check, limit, twice=twice, cib=cib)
        run.seen_at = view.at if view is not None else None
        if view is not None:
            run.marks["seen"] = round(view.at - run.started, 3)

    async def _accept(self, run: _Run) -> ActionResult:
        plan = run.plan
        assessment = run.assessment
        accepted = plan.accepted
        ok = True
        if accepted is not None:
            view = await self._wait_for(
                run,
                lambda v: accepted(v.status),
                self.accept_timeout,
                twice=False,
                cib=plan.needs_cib,
            )
            ok = view is not None
            if not ok and plan.send_only_argv is None and self.client.transport.closed:
                # Our own client was closed while we waited (Home Assistant stops: the cluster
                # may be stopping it because of this very command). The command exited 0, and
                # the tools exit 0 only after the CIB took the change: that is the acceptance
                # (not for a command launched detached, whose exit 0 says only "started").
                ok = True
                run.details["accepted_by"] = "exit_status"
        pending = PendingAction(
            request=request_to_dict(run.request),
            application=assessment.application,
            source=assessment.source,
            target=assessment.target,
            before=plan.before,
            command_node=run.command_node,
            sent_at=time.time() - (self._clock() - (run.sent_at or self._clock())),
        )
        last = run.last.status if run.last is not None else None
        if ok:
            return self._result(
                run,
                ok=True,
                code=ResultCode.ACCEPTED,
                message=f"the cluster accepted: {plan.description}",
                pending=pending,
                constraint_left=isinstance(run.request, FailoverRequest),
                new_location=_location(last, plan.location_of),
            )
        return self._result(
            run,
            ok=False,
            code=ResultCode.NOT_ACCEPTED,
            message=(
                f"{plan.description}: the command ran but the cluster did not show the change "
                f"within {self.accept_timeout:g} s"
            ),
            pending=pending,
            constraint_left=last is not None
            and assessment.application is not None
            and _has_constraint(last, assessment.application),
            new_location=_location(last, plan.location_of),
        )

    async def _command_failed(self, run: _Run, result: CommandResult) -> ActionResult:
        snap = await self.client.poll()
        status = snap.pacemaker
        app = run.assessment.application
        left = (
            isinstance(run.request, FailoverRequest)
            and status is not None
            and app is not None
            and _has_constraint(status, app)
        )
        stderr = result.stderr_tail()
        run.details["stderr"] = stderr
        return self._result(
            run,
            ok=False,
            code=ResultCode.COMMAND_FAILED,
            message=(
                f"{run.plan.description}: {result.argv[0]} failed on {run.command_node} with "
                f"exit status {result.exit_status}: {stderr or 'no output'}"
            ),
            constraint_left=left,
            new_location=_location(status, run.plan.location_of),
            snapshot=snap,
        )

    async def _finish(self, run: _Run) -> ActionResult:
        """After settling (or not): clear a failover's constraint, verify with a full poll."""
        plan = run.plan
        app = run.assessment.application
        failover = isinstance(run.request, FailoverRequest) and app is not None
        if run.seen_at is None:
            snap = await self.client.poll()
            status = snap.pacemaker
            left = (
                failover
                and status is not None
                and app is not None
                and (_has_constraint(status, app))
            )
            note = ""
            if failover and app is not None:
                note = (
                    f"; the move constraint cli-prefer-{app} is still in place (clear it with "
                    "clear_move_constraints)"
                    if left
                    else "; no move constraint is left"
                )
            return self._result(
                run,
                ok=False,
                code=ResultCode.SETTLE_TIMEOUT,
                message=f"{plan.description}: the cluster did not get there in time{note}",
                constraint_left=bool(left),
                new_location=_location(status, plan.location_of),
                snapshot=snap,
            )
        if not (failover and app is not None):
            snap, full = await self._verify_poll(run)
            return self._verified(run, snap, full=full, cleared=False)
        # The clear, then the verification: taken after the clear, it shows the constraint gone
        # and the application still on the target (nothing it reports predates the clear).
        clear = await self._clear_and_idle(run, commands.clear_resource(app))
        snap, full = await self._verify_poll(run)
        if not clear.ok:
            return self._clear_failed(run, clear, snap, full=full)
        return self._verified(run, snap, full=full, cleared=True)

    async def _clear_and_idle(self, run: _Run, argv: tuple[str, ...]) -> CommandResult:
        """Send the clear; with ``idle_timeout``, light-poll until the DC is idle again."""
        clear = await self._send(run, argv, self.command_timeout, retry=True)
        self._mark(run, "cleared")
        if clear.ok and self.idle_timeout > 0:
            run.want_idle = True
            await self._wait_for(
                run,
                lambda v: v.idle and not _has_constraint(v.status, argv[2]),
                self.idle_timeout,
                twice=False,
                cib=True,
            )
            self._mark(run, "checked")
        return clear

    async def _verify_poll(self, run: _Run) -> tuple[ClusterSnapshot, bool]:
        """A fresh view to verify the outcome on; True when it is a full poll.

        First the verification poll (:meth:`_verify_light`): the DC's own view and, for a
        failover, the target's DRBD status: every fact :meth:`_verified` judges, without the
        rest of a full poll. When it cannot answer for sure (no DC known, a node that does not
        answer, the DC no longer DC or without quorum, a failover finished by
        :meth:`complete`), a full ``client.poll()``.
        """
        try:
            snap = await self._verify_light(run)
        except HAClusterError as err:
            _LOGGER.debug("Verification poll failed (%s); polling every node", err)
            snap = None
        full = snap is None
        if snap is None:
            snap = await self.client.poll()
        self._mark(run, "verified")
        return snap, full

    async def _verify_light(self, run: _Run) -> ClusterSnapshot | None:
        """The DC's ``crm_mon`` (plus the CIB constraints) and the failover target's DRBD.

        One exec per node, the commands side by side, both nodes at once. None when this is
        not enough to judge (see :meth:`_verify_poll`).
        """
        sessions = self.client.transport.sessions
        dc = run.last.status.dc if run.last is not None else None
        if dc is None or dc not in sessions:
            return None
        app = run.assessment.application
        failover = isinstance(run.request, FailoverRequest) and app is not None
        wanted: dict[str, list[BatchCommand]] = {dc: [_LIGHT_CRM_MON]}
        if failover or run.plan.needs_cib:
            wanted[dc].append(_LIGHT_CIB)
        if failover:
            target = run.assessment.target
            # which DRBD resources must be Primary there comes from the poll before the action
            if target is None or target not in sessions or run.before is None:
                return None
            wanted.setdefault(target, []).append(_VERIFY_DRBD)
        endpoints = {ep.name: ep for ep in self.client.endpoints}
        batches = await asyncio.gather(
            *(
                self.client.transport.session(node).run_batch(
                    cmds, timeout=self.poll_timeout, parallel=True
                )
                for node, cmds in wanted.items()
            )
        )
        reports = [
            build_node_report(endpoints[node], batch.results)
            for node, batch in zip(wanted, batches, strict=True)
        ]
        snap = build_snapshot(reports, polled_at=time.time())
        status = snap.pacemaker
        if snap.view_from != dc or status is None or status.dc != dc or not status.quorate:
            return None
        return snap

    def _mark(self, run: _Run, name: str) -> None:
        """Record when a step ended (seconds since the call), for ``details["timings"]``."""
        run.marks.setdefault(name, round(self._clock() - run.started, 3))

    def _clear_failed(
        self, run: _Run, result: CommandResult, snap: ClusterSnapshot, *, full: bool
    ) -> ActionResult:
        app = run.assessment.application
        status = snap.pacemaker
        return self._result(
            run,
            ok=False,
            code=ResultCode.CLEAR_FAILED,
            message=(
                f"{run.plan.description}: it arrived, but removing the move constraint failed "
                f"({result.stderr_tail() or result.exit_status}); cli-prefer-{app} is still "
                "in place"
            ),
            constraint_left=status is not None and app is not None and _has_constraint(status, app),
            new_location=_location(status, run.plan.location_of),
            snapshot=snap if full else None,
        )

    def _verified(
        self, run: _Run, snap: ClusterSnapshot, *, full: bool, cleared: bool
    ) -> ActionResult:
        """Judge the verification (for a failover, taken after its move constraint was cleared).

        ``full``: ``snap`` is a full poll, returned as the result's snapshot; a verification
        poll covers only what is judged here, so it is not returned (it would show the other
        nodes, and the rest of this node, as unknown).
        """
        plan = run.plan
        status = snap.pacemaker
        problems: list[str] = []
        if status is None or not status.stack_running:
            problems.append("no node reports a running cluster")
        elif not plan.settled(status):
            problems.append(
                "it moved away again after its move constraint was cleared"
                if cleared
                else "the verification does not show the expected state"
            )
        app = run.assessment.application
        failover = isinstance(run.request, FailoverRequest) and app is not None
        left = failover and status is not None and app is not None and _has_constraint(status, app)
        if left:
            problems.append(f"the move constraint of {app} is still in place")
        if failover and run.assessment.target is not None:
            problems += _drbd_not_promoted(run.before, snap, run.assessment.target)
        location = _location(status, plan.location_of)
        if problems:
            return self._result(
                run,
                ok=False,
                code=ResultCode.VERIFY_FAILED,
                message=f"{plan.description}: " + "; ".join(problems),
                constraint_left=bool(left),
                new_location=location,
                snapshot=snap if full else None,
            )
        took = self._cluster_seconds(run) or 0.0
        where = f"; {plan.location_of} runs on {location}" if location and plan.location_of else ""
        return self._result(
            run,
            ok=True,
            code=ResultCode.OK,
            message=f"{plan.description}: done in {took:.1f} s{where}",
            new_location=location,
            snapshot=snap if full else None,
        )

    @staticmethod
    def _cluster_seconds(run: _Run) -> float | None:
        if run.seen_at is None or run.sent_at is None:
            return None
        return max(0.0, run.seen_at - run.sent_at)

    def _result(
        self,
        run: _Run,
        *,
        ok: bool,
        code: ResultCode,
        message: str,
        new_location: str | None = None,
        constraint_left: bool = False,
        pending: PendingAction | None = None,
        snapshot: ClusterSnapshot | None = None,
    ) -> ActionResult:
        details = dict(run.details)
        details.update(
            {
                "polls": run.polls,
                "timings": dict(run.marks),
                "application": run.assessment.application,
                "source": run.assessment.source,
                "target": run.assessment.target,
            }
        )
        return ActionResult(
            action=run.request.action,
            ok=ok,
            code=code,
            message=message,
            duration_s=self._clock() - run.started,
            cluster_seconds=self._cluster_seconds(run),
            new_location=new_location,
            warnings=run.assessment.warnings,
            overridden=run.assessment.overridden,
            constraint_left=constraint_left,
            command_node=run.command_node,
            pending=pending,
            details=details,
            snapshot=snapshot,
        )


def _drbd_not_promoted(
    before: ClusterSnapshot | None, after: ClusterSnapshot, target: str
) -> list[str]:
    """DRBD resources Primary somewhere before that are not Primary on ``target`` now."""
    report = after.node(target)
    if report is None or not report.reachable or report.drbd is None:
        return []
    names: set[str] = set()
    for node in before.nodes if before is not None else after.nodes:
        if node.reachable and node.drbd is not None:
            names |= {r.name for r in node.drbd.resources if r.role is DrbdRole.PRIMARY}
    problems = []
    for name in sorted(names):
        res = report.drbd.resource(name)
        if res is None or res.role is not DrbdRole.PRIMARY:
            role = "down" if res is None else str(res.role)
            problems.append(f"DRBD {name} is {role} on {target}, not Primary")
    return problems
