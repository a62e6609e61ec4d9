"""Events on the bus, from the difference between two successful polls.

* ``pacemaker_drbd_failover``: the application now runs on another node than the last node it
  was seen running on (not on the first poll; a poll where it runs nowhere, e.g. in the middle of
  a move, does not count as a change). Data: ``from``, ``to``, ``resource``, ``reason``.
* ``pacemaker_drbd_split_brain``: a DRBD resource's cluster-wide verdict changed since the last
  poll that had a verdict for it (not on the first poll). Data: ``resource``, ``state``
  (``detected`` or ``cleared``), ``nodes``, ``evidence``.
* ``pacemaker_drbd_node_state``: a node's state in the cluster view changed. Data: ``node``,
  ``old``, ``new``.

Every event also carries ``config_entry_id`` and ``cluster``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .const import EVENT_FAILOVER, EVENT_NODE_STATE, EVENT_SPLIT_BRAIN
from .hacluster.analysis import application_node
from .hacluster.models.pacemaker import NodeState, PacemakerStatus, Resource

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .coordinator import PacemakerDrbdConfigEntry
    from .hacluster.client import ClusterSnapshot
    from .hacluster.models.drbd import SplitBrainVerdict


def resource_ids(resource: Resource) -> set[str]:
    """The id of ``resource`` and of all its members, at any depth."""
    ids = {resource.id}
    for member in resource.members:
        ids |= resource_ids(member)
    return ids


def failover_reason(status: PacemakerStatus, application: Resource, old_node: str) -> str | None:
    """Why the application left ``old_node``, if the cluster view says.

    The old node's state when it is not online (``standby``, ``offline``, ``unclean``,
    ``maintenance``, ``shutdown``, ``pending``); else ``moved`` when a move constraint exists for
    the application, ``resource_failed`` when one of its resources failed on the old node.
    """
    node = status.node(old_node)
    if node is not None and node.state not in (NodeState.ONLINE, NodeState.UNKNOWN):
        return str(node.state)
    ids = resource_ids(application)
    if any(c.resource in ids for c in status.move_constraints):
        return "moved"
    if any(f.resource in ids and f.node == old_node for f in status.failed_actions):
        return "resource_failed"
    return None


class EventTracker:
    """Remembers what the last poll said and fires the events for what changed."""

    def __init__(self, hass: HomeAssistant, entry: PacemakerDrbdConfigEntry) -> None:
        """Track events for ``entry``."""
        self._hass = hass
        self._entry = entry
        self._previous: ClusterSnapshot | None = None
        self._app_node: str | None = None
        self._verdicts: dict[str, SplitBrainVerdict] = {}

    def _fire(self, event_type: str, data: dict[str, Any]) -> None:
        self._hass.bus.async_fire(
            event_type,
            {"config_entry_id": self._entry.entry_id, "cluster": self._entry.title, **data},
        )

    def process(self, snapshot: ClusterSnapshot, application: Resource | None) -> None:
        """Compare ``snapshot`` with the previous one and fire the events."""
        previous, self._previous = self._previous, snapshot
        self._failover(snapshot, application)
        self._split_brain(snapshot, first=previous is None)
        if previous is not None:
            self._node_states(previous, snapshot)

    def _failover(self, snapshot: ClusterSnapshot, application: Resource | None) -> None:
        node = application_node(application)
        if node is None or application is None:
            return
        old, self._app_node = self._app_node, node
        if old is None or old == node or snapshot.pacemaker is None:
            return
        self._fire(
            EVENT_FAILOVER,
            {
                "from": old,
                "to": node,
                "resource": application.id,
                "reason": failover_reason(snapshot.pacemaker, application, old),
            },
        )

    def _split_brain(self, snapshot: ClusterSnapshot, *, first: bool) -> None:
        for name, after in sorted(snapshot.split_brain.items()):
            before = self._verdicts.get(name)
            self._verdicts[name] = after
            was = before is not None and before.split_brain
            if first or after.split_brain == was:
                continue
            self._fire(
                EVENT_SPLIT_BRAIN,
                {
                    "resource": name,
                    "state": "detected" if after.split_brain else "cleared",
                    "nodes": list(after.peers or (before.peers if before else ())),
                    "evidence": list(after.evidence),
                },
            )

    def _node_states(self, previous: ClusterSnapshot, snapshot: ClusterSnapshot) -> None:
        old_view, new_view = previous.pacemaker, snapshot.pacemaker
        if (
            old_view is None
            or new_view is None
            or not old_view.stack_running
            or not new_view.stack_running
        ):
            return
        for node in new_view.nodes:
            old = old_view.node(node.name)
            if old is not None and old.state != node.state:
                self._fire(
                    EVENT_NODE_STATE,
                    {"node": node.name, "old": str(old.state), "new": str(node.state)},
                )
