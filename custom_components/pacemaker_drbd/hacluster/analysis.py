"""Pure analysis on top of the parsed models: where the application runs, whose view to trust.

Nothing here does I/O. The functions take frozen models and return plain values, so the
integration, the CLI and the control actions all reach the same conclusions.
"""

from __future__ import annotations

from collections.abc import Iterable

from .models.pacemaker import PacemakerStatus, Resource, ResourceKind, ResourceRole

DRBD_AGENT = "ocf:linbit:drbd"


def _drbd_clones(status: PacemakerStatus) -> list[Resource]:
    """Promotable clones whose primitive is a DRBD agent (or any promotable clone as fallback)."""
    promotable = [r for r in status.resources if r.kind is ResourceKind.PROMOTABLE]
    drbd = [r for r in promotable if any(p.agent == DRBD_AGENT for p in r.iter_primitives())]
    return drbd or promotable


def find_application(status: PacemakerStatus, preferred: str | None = None) -> Resource | None:
    """Return the resource that is "the application".

    ``preferred`` (the user's choice in the options) wins when it exists. Otherwise it is the
    top-level resource colocated with the Promoted role of the promotable DRBD clone (the
    reference setup's ``g_home-assistant``); failing that, the only group in the cluster.
    """
    if preferred:
        found = status.resource(preferred)
        if found is not None:
            return found
    clone_ids = {c.id for c in _drbd_clones(status)}
    top_ids = {r.id for r in status.resources}
    for colo in sorted(status.colocations, key=lambda c: c.id):
        promoted = (colo.with_resource_role or "").lower() in {"promoted", "master"}
        if colo.with_resource in clone_ids and promoted and colo.resource in top_ids:
            return status.resource(colo.resource)
        reverse = (colo.resource_role or "").lower() in {"promoted", "master"}
        if colo.resource in clone_ids and reverse and colo.with_resource in top_ids:
            return status.resource(colo.with_resource)
    groups = [r for r in status.resources if r.kind is ResourceKind.GROUP]
    return groups[0] if len(groups) == 1 else None


def application_node(resource: Resource | None) -> str | None:
    """The one node the application runs on, or None when stopped or (wrongly) on several."""
    if resource is None or len(resource.running_on) != 1:
        return None
    return resource.running_on[0]


def promoted_nodes(status: PacemakerStatus) -> tuple[str, ...]:
    """Nodes on which the DRBD clone is Promoted (more than one means trouble)."""
    nodes: set[str] = set()
    for clone in _drbd_clones(status):
        nodes.update(clone.promoted_on)
    return tuple(sorted(nodes))


def choose_view(views: Iterable[tuple[str, PacemakerStatus]]) -> tuple[str, PacemakerStatus] | None:
    """Pick the cluster view to show: the DC's own view first, else any running member's.

    ``views`` are (node name, what that node's crm_mon said). A node whose stack is down still
    answers (with ``stack_running`` false); it is only used when nobody else can say more.
    """
    candidates = list(views)
    for name, status in candidates:
        if status.stack_running and status.dc == name:
            return name, status
    for name, status in candidates:
        if status.stack_running and status.dc is not None:
            return name, status
    for name, status in candidates:
        if status.stack_running:
            return name, status
    return candidates[0] if candidates else None


def partitioned(views: Iterable[tuple[str, PacemakerStatus]]) -> bool:
    """True when running members disagree on who the DC is: the cluster has split in two."""
    dcs = {s.dc for _, s in views if s.stack_running and s.dc is not None}
    return len(dcs) > 1


def role_of(resource: Resource, node: str) -> ResourceRole:
    """The role a (clone) resource has on ``node``."""
    if node in resource.promoted_on:
        return ResourceRole.PROMOTED
    if node in resource.unpromoted_on:
        return ResourceRole.UNPROMOTED
    if node in resource.running_on:
        return ResourceRole.STARTED
    return ResourceRole.STOPPED
