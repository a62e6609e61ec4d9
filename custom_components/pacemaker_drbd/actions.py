"""Small actions on the cluster, run through the entry's own SSH sessions.

Only what the repair flows need today; the control actions (issue 5) build on the same path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .const import LOGGER
from .hacluster.commands import clear_resource
from .hacluster.errors import ClusterConnectionError

if TYPE_CHECKING:
    from .coordinator import PacemakerDrbdConfigEntry


def action_node(entry: PacemakerDrbdConfigEntry) -> str:
    """The node to send an action to: the one whose view we show (the DC first), else any
    node that answered the last poll."""
    snapshot = entry.runtime_data.coordinator.data
    reachable = snapshot.reachable
    if snapshot.view_from in reachable:
        return str(snapshot.view_from)
    if reachable:
        return reachable[0]
    raise ClusterConnectionError("no node of the cluster answered the last poll")


async def async_clear_move_constraints(entry: PacemakerDrbdConfigEntry, resource: str) -> str:
    """Remove the ``cli-prefer-*``/``cli-ban-*`` constraints of ``resource``; return the node
    that ran ``crm_resource --clear``. Raises the core's errors (a failed command included)."""
    node = action_node(entry)
    session = entry.runtime_data.client.transport.session(node)
    result = await session.run(clear_resource(resource))
    result.check(required=True)
    LOGGER.info("Cleared the move constraints of %s on %s", resource, node)
    return node
