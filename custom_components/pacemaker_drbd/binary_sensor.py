"""Binary sensors: quorum, stack, maintenance, fencing, move constraints, split brain, links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory

from .compat import BinarySensorDeviceClass
from .entity import (
    SCOPE_CLUSTER,
    SCOPE_CLUSTER_ANY,
    SCOPE_LINK,
    SCOPE_NODE_SSH,
    SCOPE_SPLIT_BRAIN,
    LinkContext,
    PacemakerDrbdEntity,
    PacemakerDrbdEntityDescription,
    async_add_scoped_entities,
)
from .hacluster.client import NodeReport
from .hacluster.models.corosync import PeerLinkState
from .hacluster.models.drbd import SplitBrainVerdict
from .hacluster.models.pacemaker import PacemakerStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import PacemakerDrbdConfigEntry

# Read-only entities of one coordinator: no limit needed.
PARALLEL_UPDATES = 0


def link_up(context: LinkContext) -> bool:
    """A link is up when it reaches every other node it lists."""
    peers = [s for s in context.link.peers.values() if s is not PeerLinkState.LOCALHOST]
    return bool(peers) and all(s is PeerLinkState.CONNECTED for s in peers)


def link_attributes(context: LinkContext) -> dict[str, Any]:
    """The link's address and its state towards each node, by node name."""
    return {
        "address": context.link.addr,
        "nodes": {
            context.node_names.get(node_id, str(node_id)): str(state)
            for node_id, state in sorted(context.link.peers.items())
        },
    }


@dataclass(frozen=True, kw_only=True)
class PacemakerDrbdBinarySensorEntityDescription[T](
    PacemakerDrbdEntityDescription[T], BinarySensorEntityDescription
):
    """A binary sensor: its scope and how to read on/off from the scope's object."""

    is_on_fn: Callable[[T], bool | None]


BINARY_SENSORS: tuple[PacemakerDrbdBinarySensorEntityDescription[Any], ...] = (
    # Cluster device
    PacemakerDrbdBinarySensorEntityDescription[PacemakerStatus](
        key="quorum",
        translation_key="quorum",
        scope=SCOPE_CLUSTER,
        is_on_fn=lambda s: s.quorate,
    ),
    PacemakerDrbdBinarySensorEntityDescription[PacemakerStatus](
        key="stack_running",
        translation_key="stack_running",
        scope=SCOPE_CLUSTER_ANY,
        device_class=BinarySensorDeviceClass.RUNNING,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda s: s.stack_running,
    ),
    PacemakerDrbdBinarySensorEntityDescription[PacemakerStatus](
        key="maintenance_mode",
        translation_key="maintenance_mode",
        scope=SCOPE_CLUSTER,
        is_on_fn=lambda s: s.options.maintenance_mode,
    ),
    PacemakerDrbdBinarySensorEntityDescription[PacemakerStatus](
        key="fencing",
        translation_key="fencing",
        scope=SCOPE_CLUSTER,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda s: s.options.stonith_enabled,
        attr_fn=lambda s: {"nodes": len(s.nodes)},
    ),
    PacemakerDrbdBinarySensorEntityDescription[PacemakerStatus](
        key="move_constraint",
        translation_key="move_constraint",
        scope=SCOPE_CLUSTER,
        device_class=BinarySensorDeviceClass.PROBLEM,
        is_on_fn=lambda s: bool(s.move_constraints),
        attr_fn=lambda s: {
            "constraints": [
                {"id": c.id, "resource": c.resource, "node": c.node, "kind": c.kind}
                for c in s.move_constraints
            ]
        },
    ),
    PacemakerDrbdBinarySensorEntityDescription[SplitBrainVerdict](
        key="split_brain",
        translation_key="split_brain",
        scope=SCOPE_SPLIT_BRAIN,
        device_class=BinarySensorDeviceClass.PROBLEM,
        is_on_fn=lambda v: v.split_brain,
        attr_fn=lambda v: {"evidence": list(v.evidence), "nodes": list(v.peers)},
    ),
    # Node devices, as SSH sees them
    PacemakerDrbdBinarySensorEntityDescription[NodeReport](
        key="reachable",
        translation_key="reachable",
        scope=SCOPE_NODE_SSH,
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda r: r.reachable,
        attr_fn=lambda r: {
            "host": r.host,
            "error": r.error,
            "missing_tools": list(r.missing_tools),
        },
    ),
    PacemakerDrbdBinarySensorEntityDescription[LinkContext](
        key="corosync_link",
        translation_key="corosync_link",
        scope=SCOPE_LINK,
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=link_up,
        attr_fn=link_attributes,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PacemakerDrbdConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the binary sensors, now and for nodes and resources that appear later."""
    async_add_scoped_entities(entry, BINARY_SENSORS, PacemakerDrbdBinarySensor, async_add_entities)


class PacemakerDrbdBinarySensor[T](PacemakerDrbdEntity[T], BinarySensorEntity):
    """A binary sensor about one scope of the cluster."""

    entity_description: PacemakerDrbdBinarySensorEntityDescription[T]

    @property
    def is_on(self) -> bool | None:
        """On/off from the latest poll."""
        if (target := self.target) is None:
            return None
        return self.entity_description.is_on_fn(target)
