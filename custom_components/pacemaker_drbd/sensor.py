"""Sensors: the active node, the DC, counters, node states, DRBD states and resources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfInformation

from .entity import (
    SCOPE_APPLICATION,
    SCOPE_CLUSTER,
    SCOPE_DRBD,
    SCOPE_DRBD_PEER,
    SCOPE_GROUP_MEMBER,
    SCOPE_NODE,
    SCOPE_RESOURCE,
    PacemakerDrbdEntity,
    PacemakerDrbdEntityDescription,
    async_add_scoped_entities,
)
from .hacluster.analysis import application_node
from .hacluster.models.drbd import (
    ConnectionState,
    DiskState,
    DrbdConnection,
    DrbdResource,
    DrbdRole,
    ReplicationState,
)
from .hacluster.models.pacemaker import NodeState, PacemakerNode, PacemakerStatus, Resource

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from enum import StrEnum

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
    from homeassistant.helpers.typing import StateType

    from .coordinator import PacemakerDrbdConfigEntry

# Read-only entities of one coordinator: no limit needed.
PARALLEL_UPDATES = 0


def enum_options(cls: type[StrEnum], *exclude: StrEnum) -> list[str]:
    """The state values of an enum sensor: the lower-cased members, without ``unknown``.

    DRBD spells its states in CamelCase (``UpToDate``); Home Assistant needs lower-case state
    values (they are translation keys), and ``translations/en.json`` spells them back as DRBD does.
    """
    skip = {"unknown", *(str(e) for e in exclude)}
    return [str(member).lower() for member in cls if str(member) not in skip]


def enum_state(value: StrEnum, options: list[str]) -> str | None:
    """The state value of ``value``, or None (unknown) for a value that is not an option."""
    state = str(value).lower()
    return state if state in options else None


NODE_STATE_OPTIONS = enum_options(NodeState)
ROLE_OPTIONS = enum_options(DrbdRole, DrbdRole.DRBD_UNKNOWN)
DISK_OPTIONS = enum_options(DiskState)
CONNECTION_OPTIONS = enum_options(ConnectionState)
REPLICATION_OPTIONS = enum_options(ReplicationState)
RESOURCE_STATE_OPTIONS = ["started", "stopped", "disabled", "failed", "blocked", "unmanaged"]


def resource_state(resource: Resource) -> str:
    """One word for a Pacemaker resource: failed, blocked, unmanaged, started, disabled, stopped."""
    if resource.failed:
        return "failed"
    if resource.blocked:
        return "blocked"
    if not resource.managed:
        return "unmanaged"
    if resource.running_on:
        return "started"
    if resource.disabled:
        return "disabled"
    return "stopped"


def resource_attributes(resource: Resource) -> dict[str, Any]:
    """Where a resource runs and what it is."""
    return {
        "kind": str(resource.kind),
        "running_on": list(resource.running_on),
        "promoted_on": list(resource.promoted_on),
        "members": [m.id for m in resource.members],
        "managed": resource.managed,
    }


def _online_nodes(status: PacemakerStatus) -> list[str]:
    return [n.name for n in status.nodes if n.state is NodeState.ONLINE]


@dataclass(frozen=True, kw_only=True)
class PacemakerDrbdSensorEntityDescription[T](
    PacemakerDrbdEntityDescription[T], SensorEntityDescription
):
    """A sensor: its scope and how to read the state from the scope's object."""

    value_fn: Callable[[T], StateType]
    entry_attr_fn: Callable[[PacemakerDrbdConfigEntry], Mapping[str, Any]] | None = None
    """Attributes that come from the entry rather than the scope's object."""


SENSORS: tuple[PacemakerDrbdSensorEntityDescription[Any], ...] = (
    # Cluster device
    PacemakerDrbdSensorEntityDescription[Resource](
        key="active_node",
        translation_key="active_node",
        scope=SCOPE_APPLICATION,
        value_fn=application_node,
        attr_fn=lambda r: {"resource": r.id, "running_on": list(r.running_on)},
        # self_hosted/self_node: whether this Home Assistant runs inside the application
        entry_attr_fn=lambda entry: entry.runtime_data.runner.self_state().attributes(),
    ),
    PacemakerDrbdSensorEntityDescription[PacemakerStatus](
        key="dc",
        translation_key="dc",
        scope=SCOPE_CLUSTER,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda s: s.dc,
    ),
    PacemakerDrbdSensorEntityDescription[PacemakerStatus](
        key="failed_actions",
        translation_key="failed_actions",
        scope=SCOPE_CLUSTER,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda s: len(s.failed_actions),
        attr_fn=lambda s: {
            "failed_actions": [
                {
                    "resource": f.resource,
                    "node": f.node,
                    "operation": f.operation,
                    "exit_reason": f.exit_reason,
                    "exit_status": f.exit_status,
                    "last_rc_change": f.last_rc_change,
                }
                for f in s.failed_actions
            ]
        },
    ),
    PacemakerDrbdSensorEntityDescription[PacemakerStatus](
        key="nodes_online",
        translation_key="nodes_online",
        scope=SCOPE_CLUSTER,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda s: len(_online_nodes(s)),
        attr_fn=lambda s: {"nodes": _online_nodes(s), "total": len(s.nodes)},
    ),
    # Pacemaker resources (cluster device)
    PacemakerDrbdSensorEntityDescription[Resource](
        key="resource_state",
        translation_key="resource_state",
        scope=SCOPE_RESOURCE,
        device_class=SensorDeviceClass.ENUM,
        options=RESOURCE_STATE_OPTIONS,
        value_fn=resource_state,
        attr_fn=resource_attributes,
    ),
    PacemakerDrbdSensorEntityDescription[Resource](
        key="member_state",
        translation_key="resource_state",
        scope=SCOPE_GROUP_MEMBER,
        device_class=SensorDeviceClass.ENUM,
        options=RESOURCE_STATE_OPTIONS,
        entity_registry_enabled_default=False,
        value_fn=resource_state,
        attr_fn=resource_attributes,
    ),
    # Node devices, the cluster's view
    PacemakerDrbdSensorEntityDescription[PacemakerNode](
        key="node_state",
        translation_key="node_state",
        scope=SCOPE_NODE,
        device_class=SensorDeviceClass.ENUM,
        options=NODE_STATE_OPTIONS,
        value_fn=lambda n: enum_state(n.state, NODE_STATE_OPTIONS),
        attr_fn=lambda n: {"is_dc": n.is_dc, "node_id": n.node_id},
    ),
    PacemakerDrbdSensorEntityDescription[PacemakerNode](
        key="resources_running",
        translation_key="resources_running",
        scope=SCOPE_NODE,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda n: n.resources_running,
    ),
    # Node devices, DRBD as the node sees it
    PacemakerDrbdSensorEntityDescription[DrbdResource](
        key="drbd_role",
        translation_key="drbd_role",
        scope=SCOPE_DRBD,
        device_class=SensorDeviceClass.ENUM,
        options=ROLE_OPTIONS,
        value_fn=lambda r: enum_state(r.role, ROLE_OPTIONS),
        attr_fn=lambda r: {"suspended": r.suspended, "quorum": r.quorum},
    ),
    PacemakerDrbdSensorEntityDescription[DrbdResource](
        key="drbd_disk_state",
        translation_key="drbd_disk_state",
        scope=SCOPE_DRBD,
        device_class=SensorDeviceClass.ENUM,
        options=DISK_OPTIONS,
        value_fn=lambda r: enum_state(r.disk_state, DISK_OPTIONS),
        attr_fn=lambda r: {"volumes": {str(v.volume): str(v.disk_state) for v in r.volumes}},
    ),
    PacemakerDrbdSensorEntityDescription[DrbdConnection](
        key="drbd_connection_state",
        translation_key="drbd_connection_state",
        scope=SCOPE_DRBD_PEER,
        device_class=SensorDeviceClass.ENUM,
        options=CONNECTION_OPTIONS,
        value_fn=lambda c: enum_state(c.connection_state, CONNECTION_OPTIONS),
        attr_fn=lambda c: {"peer_role": str(c.peer_role)},
    ),
    PacemakerDrbdSensorEntityDescription[DrbdConnection](
        key="drbd_peer_disk_state",
        translation_key="drbd_peer_disk_state",
        scope=SCOPE_DRBD_PEER,
        device_class=SensorDeviceClass.ENUM,
        options=DISK_OPTIONS,
        value_fn=lambda c: enum_state(c.peer_disk_state, DISK_OPTIONS),
    ),
    PacemakerDrbdSensorEntityDescription[DrbdConnection](
        key="drbd_replication_state",
        translation_key="drbd_replication_state",
        scope=SCOPE_DRBD_PEER,
        device_class=SensorDeviceClass.ENUM,
        options=REPLICATION_OPTIONS,
        value_fn=lambda c: enum_state(c.replication_state, REPLICATION_OPTIONS),
    ),
    PacemakerDrbdSensorEntityDescription[DrbdConnection](
        key="drbd_resync",
        translation_key="drbd_resync",
        scope=SCOPE_DRBD_PEER,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda c: c.sync_percent,
        attr_fn=lambda c: {"eta_seconds": c.eta_seconds},
    ),
    PacemakerDrbdSensorEntityDescription[DrbdConnection](
        key="drbd_out_of_sync",
        translation_key="drbd_out_of_sync",
        scope=SCOPE_DRBD_PEER,
        device_class=SensorDeviceClass.DATA_SIZE,
        native_unit_of_measurement=UnitOfInformation.KIBIBYTES,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda c: c.out_of_sync_kib,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PacemakerDrbdConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the sensors, now and for nodes and resources that appear later."""
    async_add_scoped_entities(entry, SENSORS, PacemakerDrbdSensor, async_add_entities)


class PacemakerDrbdSensor[T](PacemakerDrbdEntity[T], SensorEntity):
    """A sensor about one scope of the cluster."""

    entity_description: PacemakerDrbdSensorEntityDescription[T]

    @property
    def native_value(self) -> StateType:
        """The state from the latest poll."""
        if (target := self.target) is None:
            return None
        return self.entity_description.value_fn(target)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """The scope's attributes plus the entry's (``entry_attr_fn``)."""
        attributes = super().extra_state_attributes
        if attributes is None or (entry_attr_fn := self.entity_description.entry_attr_fn) is None:
            return attributes
        return {**attributes, **entry_attr_fn(self.coordinator.config_entry)}
