"""Base entity, devices and entity scopes of the Pacemaker & DRBD Cluster integration.

Every entity belongs to a *scope*: the cluster, a node as the cluster sees it, a node as SSH sees
it, one of its corosync links, one of its DRBD resources, one DRBD peer connection, a Pacemaker
resource or a DRBD resource's cluster-wide split-brain verdict. A :class:`ScopeKind` knows how to
list the scopes that exist in the latest poll (so entities for nodes and resources that appear
later are added) and how to find the scope's object in the latest poll (``None`` makes the entity
unavailable). The entity descriptions of the platforms only turn that object into a state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .compat import VIA_DEVICE_ID
from .const import DOMAIN
from .coordinator import PacemakerDrbdConfigEntry, PacemakerDrbdCoordinator
from .hacluster.models.pacemaker import PacemakerNode, PacemakerStatus, Resource, ResourceKind

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from .hacluster.client import ClusterSnapshot, NodeReport
    from .hacluster.models.corosync import KnetLink
    from .hacluster.models.drbd import DrbdConnection, DrbdResource, SplitBrainVerdict

MANUFACTURER = "ClusterLabs"


@dataclass(frozen=True, kw_only=True, slots=True)
class Scope:
    """What one entity is about; the parts that apply are set, in unique id order."""

    node: str | None = None
    drbd_resource: str | None = None
    peer: str | None = None
    link: int | None = None
    resource: str | None = None

    @property
    def parts(self) -> tuple[str, ...]:
        """The scope's parts as they appear in the unique id."""
        parts: list[str] = []
        if self.node is not None:
            parts.append(self.node)
        if self.drbd_resource is not None:
            parts.append(self.drbd_resource)
        if self.peer is not None:
            parts.append(self.peer)
        if self.link is not None:
            parts.append(f"link{self.link}")
        if self.resource is not None:
            parts.append(self.resource)
        return tuple(parts)

    @property
    def placeholders(self) -> dict[str, str]:
        """Translation placeholders for the entity name."""
        values: dict[str, str] = {}
        if self.drbd_resource is not None:
            values["resource"] = self.drbd_resource
        if self.resource is not None:
            values["resource"] = self.resource
        if self.peer is not None:
            values["peer"] = self.peer
        if self.link is not None:
            values["link"] = str(self.link)
        return values


CLUSTER_SCOPE = Scope()


@dataclass(frozen=True, kw_only=True, slots=True)
class ScopeKind[T]:
    """How to list the scopes of one kind and how to find a scope's object in the latest poll."""

    name: str
    enumerate: Callable[[PacemakerDrbdCoordinator], Iterable[Scope]]
    locate: Callable[[PacemakerDrbdCoordinator, Scope], T | None]


# --- lookups -----------------------------------------------------------------------------------


def _cluster_view(coordinator: PacemakerDrbdCoordinator) -> PacemakerStatus | None:
    snapshot: ClusterSnapshot | None = coordinator.data
    return snapshot.pacemaker if snapshot is not None else None


def _running_view(coordinator: PacemakerDrbdCoordinator) -> PacemakerStatus | None:
    view = _cluster_view(coordinator)
    return view if view is not None and view.stack_running else None


def _report(coordinator: PacemakerDrbdCoordinator, node: str | None) -> NodeReport | None:
    if node is None:
        return None
    return coordinator.data.node(node)


def _reachable_report(coordinator: PacemakerDrbdCoordinator, node: str | None) -> NodeReport | None:
    report = _report(coordinator, node)
    return report if report is not None and report.reachable else None


def _drbd(coordinator: PacemakerDrbdCoordinator, scope: Scope) -> DrbdResource | None:
    report = _reachable_report(coordinator, scope.node)
    if report is None or report.drbd is None or scope.drbd_resource is None:
        return None
    return report.drbd.resource(scope.drbd_resource)


def _drbd_peer(coordinator: PacemakerDrbdCoordinator, scope: Scope) -> DrbdConnection | None:
    resource = _drbd(coordinator, scope)
    if resource is None or scope.peer is None:
        return None
    return resource.connection(scope.peer)


def _link(coordinator: PacemakerDrbdCoordinator, scope: Scope) -> LinkContext | None:
    report = _reachable_report(coordinator, scope.node)
    if report is None or report.links is None or not report.links.running:
        return None
    for link in report.links.links:
        if link.link_id == scope.link:
            return LinkContext(link=link, node_names=node_names_by_id(coordinator))
    return None


def _resource(coordinator: PacemakerDrbdCoordinator, scope: Scope) -> Resource | None:
    view = _running_view(coordinator)
    if view is None or scope.resource is None:
        return None
    return view.resource(scope.resource)


def _split_brain(coordinator: PacemakerDrbdCoordinator, scope: Scope) -> SplitBrainVerdict | None:
    snapshot: ClusterSnapshot | None = coordinator.data
    if snapshot is None or scope.drbd_resource is None:
        return None
    return snapshot.split_brain.get(scope.drbd_resource)


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkContext:
    """A corosync link of one node plus the node names behind corosync's node ids."""

    link: KnetLink
    node_names: Mapping[int, str]


def node_names_by_id(coordinator: PacemakerDrbdCoordinator) -> dict[int, str]:
    """Map corosync node ids to node names (from Pacemaker's view, else from quorum members)."""
    names: dict[int, str] = {}
    snapshot: ClusterSnapshot | None = coordinator.data
    if snapshot is None:
        return names
    for report in snapshot.nodes:
        if report.quorum is not None:
            for member in report.quorum.members:
                names.setdefault(member.node_id, member.name)
    if snapshot.pacemaker is not None:
        for node in snapshot.pacemaker.nodes:
            if node.node_id.isdigit():
                names[int(node.node_id)] = node.name
    return names


# --- enumerations ------------------------------------------------------------------------------


def configured_nodes(coordinator: PacemakerDrbdCoordinator) -> tuple[str, ...]:
    """The nodes this entry connects to over SSH."""
    return tuple(endpoint.name for endpoint in coordinator.client.endpoints)


def known_nodes(coordinator: PacemakerDrbdCoordinator) -> tuple[str, ...]:
    """Configured nodes plus every node the cluster view lists, configured ones first."""
    names = list(configured_nodes(coordinator))
    view = _cluster_view(coordinator)
    if view is not None:
        names.extend(node.name for node in view.nodes if node.name not in names)
    return tuple(names)


def _enum_cluster(coordinator: PacemakerDrbdCoordinator) -> Iterator[Scope]:
    yield CLUSTER_SCOPE


def _enum_nodes(coordinator: PacemakerDrbdCoordinator) -> Iterator[Scope]:
    for name in known_nodes(coordinator):
        yield Scope(node=name)


def _enum_configured_nodes(coordinator: PacemakerDrbdCoordinator) -> Iterator[Scope]:
    for name in configured_nodes(coordinator):
        yield Scope(node=name)


def _enum_links(coordinator: PacemakerDrbdCoordinator) -> Iterator[Scope]:
    for report in coordinator.data.nodes:
        if report.links is not None:
            for link in report.links.links:
                yield Scope(node=report.name, link=link.link_id)


def _enum_drbd(coordinator: PacemakerDrbdCoordinator) -> Iterator[Scope]:
    for report in coordinator.data.nodes:
        if report.drbd is not None:
            for resource in report.drbd.resources:
                yield Scope(node=report.name, drbd_resource=resource.name)


def _enum_drbd_peers(coordinator: PacemakerDrbdCoordinator) -> Iterator[Scope]:
    for report in coordinator.data.nodes:
        if report.drbd is not None:
            for resource in report.drbd.resources:
                for conn in resource.connections:
                    yield Scope(node=report.name, drbd_resource=resource.name, peer=conn.name)


def _enum_split_brain(coordinator: PacemakerDrbdCoordinator) -> Iterator[Scope]:
    names = set(coordinator.data.split_brain)
    for report in coordinator.data.nodes:
        if report.drbd is not None:
            names.update(r.name for r in report.drbd.resources)
    for name in sorted(names):
        yield Scope(drbd_resource=name)


def _enum_resources(coordinator: PacemakerDrbdCoordinator) -> Iterator[Scope]:
    view = _running_view(coordinator)
    if view is not None:
        for resource in view.resources:
            yield Scope(resource=resource.id)


def _enum_group_members(coordinator: PacemakerDrbdCoordinator) -> Iterator[Scope]:
    view = _running_view(coordinator)
    if view is not None:
        for resource in view.resources:
            if resource.kind is ResourceKind.GROUP:
                for member in resource.members:
                    yield Scope(resource=member.id)


def _locate_cluster_node(
    coordinator: PacemakerDrbdCoordinator, scope: Scope
) -> PacemakerNode | None:
    view = _running_view(coordinator)
    if view is None or scope.node is None:
        return None
    return view.node(scope.node)


SCOPE_CLUSTER: ScopeKind[PacemakerStatus] = ScopeKind(
    name="cluster",
    enumerate=_enum_cluster,
    locate=lambda coordinator, _scope: _running_view(coordinator),
)
"""The cluster view (from the DC when reachable); unavailable while no member runs the stack."""

SCOPE_CLUSTER_ANY: ScopeKind[PacemakerStatus] = ScopeKind(
    name="cluster_any",
    enumerate=_enum_cluster,
    locate=lambda coordinator, _scope: _cluster_view(coordinator),
)
"""The cluster view, also when it only says that the stack is down."""

SCOPE_APPLICATION: ScopeKind[Resource] = ScopeKind(
    name="application",
    enumerate=_enum_cluster,
    locate=lambda coordinator, _scope: coordinator.application,
)
"""The resource chosen as "the application" (options), or the auto-detected one."""

SCOPE_NODE: ScopeKind[PacemakerNode] = ScopeKind(
    name="node", enumerate=_enum_nodes, locate=_locate_cluster_node
)
"""A node as the cluster sees it (stays available when the node itself cannot be reached)."""

SCOPE_NODE_SSH: ScopeKind[NodeReport] = ScopeKind(
    name="node_ssh",
    enumerate=_enum_configured_nodes,
    locate=lambda coordinator, scope: _report(coordinator, scope.node),
)
"""A configured node as SSH sees it (reachable or not)."""

SCOPE_LINK: ScopeKind[LinkContext] = ScopeKind(name="link", enumerate=_enum_links, locate=_link)
SCOPE_DRBD: ScopeKind[DrbdResource] = ScopeKind(name="drbd", enumerate=_enum_drbd, locate=_drbd)
SCOPE_DRBD_PEER: ScopeKind[DrbdConnection] = ScopeKind(
    name="drbd_peer", enumerate=_enum_drbd_peers, locate=_drbd_peer
)
SCOPE_SPLIT_BRAIN: ScopeKind[SplitBrainVerdict] = ScopeKind(
    name="split_brain", enumerate=_enum_split_brain, locate=_split_brain
)
SCOPE_RESOURCE: ScopeKind[Resource] = ScopeKind(
    name="resource", enumerate=_enum_resources, locate=_resource
)
SCOPE_GROUP_MEMBER: ScopeKind[Resource] = ScopeKind(
    name="group_member", enumerate=_enum_group_members, locate=_resource
)


# --- devices -----------------------------------------------------------------------------------


def cluster_device_id(entry: PacemakerDrbdConfigEntry) -> str:
    """The device identifier of the cluster (hub) device."""
    return str(entry.unique_id)


def node_device_id(entry: PacemakerDrbdConfigEntry, node: str) -> str:
    """The device identifier of a node device."""
    return f"{entry.unique_id}_{node}"


def cluster_device_info(coordinator: PacemakerDrbdCoordinator) -> DeviceInfo:
    """The cluster (hub) device."""
    entry = coordinator.config_entry
    view = _cluster_view(coordinator)
    return DeviceInfo(
        identifiers={(DOMAIN, cluster_device_id(entry))},
        name=entry.title,
        manufacturer=MANUFACTURER,
        model="Pacemaker cluster",
        sw_version=view.dc_version if view is not None else None,
    )


def node_device_info(coordinator: PacemakerDrbdCoordinator, node: str) -> DeviceInfo:
    """A node device, linked to the cluster device."""
    entry = coordinator.config_entry
    info: dict[str, Any] = {
        "identifiers": {(DOMAIN, node_device_id(entry, node))},
        "name": node,
        "manufacturer": MANUFACTURER,
        "model": "Cluster node",
    }
    if VIA_DEVICE_ID:
        info["via_device_id"] = entry.runtime_data.cluster_device_id
    else:
        info["via_device"] = (DOMAIN, cluster_device_id(entry))
    return cast("DeviceInfo", info)


# --- base entity -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PacemakerDrbdEntityDescription[T](EntityDescription):
    """Common fields: the scope and the attributes function."""

    scope: ScopeKind[T]
    attr_fn: Callable[[T], Mapping[str, Any]] | None = None


class PacemakerDrbdEntity[T](CoordinatorEntity[PacemakerDrbdCoordinator]):
    """An entity about one scope of the cluster."""

    _attr_has_entity_name = True
    entity_description: PacemakerDrbdEntityDescription[T]

    def __init__(
        self,
        coordinator: PacemakerDrbdCoordinator,
        description: PacemakerDrbdEntityDescription[T],
        scope: Scope,
    ) -> None:
        """Bind the entity to its description and scope."""
        super().__init__(coordinator)
        self.entity_description = description
        self.scope = scope
        entry = coordinator.config_entry
        self._attr_unique_id = "_".join((str(entry.unique_id), *scope.parts, description.key))
        if placeholders := scope.placeholders:
            self._attr_translation_placeholders = placeholders
        self._attr_device_info = (
            node_device_info(coordinator, scope.node)
            if scope.node is not None
            else cluster_device_info(coordinator)
        )

    @property
    def target(self) -> T | None:
        """The object this entity shows, from the latest poll (None: not known now)."""
        return self.entity_description.scope.locate(self.coordinator, self.scope)

    @property
    def available(self) -> bool:
        """Available while the poll succeeds and the scope's object is known."""
        return super().available and self.target is not None

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Attributes from the description's ``attr_fn``."""
        if self.entity_description.attr_fn is None or (target := self.target) is None:
            return None
        return self.entity_description.attr_fn(target)


def async_add_scoped_entities[D: PacemakerDrbdEntityDescription[Any]](
    entry: PacemakerDrbdConfigEntry,
    descriptions: Iterable[D],
    factory: Callable[[PacemakerDrbdCoordinator, D, Scope], Entity],
    async_add_entities: Callable[[Iterable[Entity]], None],
) -> None:
    """Add an entity per description and existing scope now, and for new scopes after each poll."""
    coordinator = entry.runtime_data.coordinator
    descriptions = tuple(descriptions)
    known: set[tuple[str, Scope]] = set()

    def _add_new() -> None:
        new: list[Entity] = []
        for description in descriptions:
            for scope in description.scope.enumerate(coordinator):
                if (description.key, scope) in known:
                    continue
                known.add((description.key, scope))
                new.append(factory(coordinator, description, scope))
        if new:
            async_add_entities(new)

    _add_new()
    entry.async_on_unload(coordinator.async_add_listener(_add_new))
