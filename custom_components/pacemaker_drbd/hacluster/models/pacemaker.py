"""Pacemaker models: what ``crm_mon --output-as=xml`` and ``cibadmin --query`` tell us.

All models are frozen; ``to_dict()`` returns JSON-safe data. :meth:`PacemakerStatus.to_dict` is the
``hacluster parse crm-mon`` output (issue 2, "The hacluster command").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .._enum import parse_enum

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

INFINITY_SCORE = 1_000_000
"""What Pacemaker's ``INFINITY`` means in a score or fail count."""


class NodeState(StrEnum):
    """A node's overall state, the most severe that applies."""

    ONLINE = "online"
    STANDBY = "standby"
    MAINTENANCE = "maintenance"
    OFFLINE = "offline"
    UNCLEAN = "unclean"
    PENDING = "pending"
    SHUTDOWN = "shutdown"
    UNKNOWN = "unknown"


class ResourceKind(StrEnum):
    """The kind of a resource as listed by crm_mon."""

    PRIMITIVE = "primitive"
    GROUP = "group"
    CLONE = "clone"
    PROMOTABLE = "promotable"
    BUNDLE = "bundle"


class ResourceRole(StrEnum):
    """A resource's role; 2.0 spellings (Master/Slave) map to the 2.1 ones."""

    STOPPED = "stopped"
    STARTED = "started"
    PROMOTED = "promoted"
    UNPROMOTED = "unpromoted"
    STARTING = "starting"
    STOPPING = "stopping"
    MIGRATING = "migrating"
    PROMOTING = "promoting"
    DEMOTING = "demoting"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: str | None) -> ResourceRole:
        """Parse a role as Pacemaker prints it (``Promoted``, ``Master``, ``Slave``, ...)."""
        if value is None:
            return cls.UNKNOWN
        low = value.lower()
        return parse_enum(cls, _ROLE_ALIASES.get(low, low))

    @classmethod
    def parse_optional(cls, value: str | None) -> ResourceRole | None:
        """Like :meth:`parse`, but an absent or empty value stays ``None``."""
        return cls.parse(value) if value else None


_ROLE_ALIASES = {"master": "promoted", "slave": "unpromoted"}
_ROLE_SPELLING = {"Master": "Promoted", "Slave": "Unpromoted"}

ACTIVE_ROLES = frozenset(
    {
        ResourceRole.STARTED,
        ResourceRole.PROMOTED,
        ResourceRole.UNPROMOTED,
        ResourceRole.STARTING,
        ResourceRole.STOPPING,
        ResourceRole.MIGRATING,
        ResourceRole.PROMOTING,
        ResourceRole.DEMOTING,
    }
)
"""Roles in which a resource (instance) runs somewhere."""

TRANSITIONAL_ROLES = frozenset(
    {
        ResourceRole.STARTING,
        ResourceRole.STOPPING,
        ResourceRole.MIGRATING,
        ResourceRole.PROMOTING,
        ResourceRole.DEMOTING,
    }
)


def normalize_role_name(value: str | None) -> str | None:
    """Return a role as Pacemaker 2.1 spells it in XML (``Master`` -> ``Promoted``)."""
    if not value:
        return None
    return _ROLE_SPELLING.get(value, value)


def normalize_agent(value: str | None) -> str | None:
    """Return an agent as ``class:provider:type`` (``ocf::heartbeat:X`` -> ``ocf:heartbeat:X``)."""
    if not value:
        return None
    return value.replace("::", ":", 1)


_NODE_STATE_ORDER: tuple[tuple[str, NodeState], ...] = (
    ("unclean", NodeState.UNCLEAN),
    ("offline", NodeState.OFFLINE),
    ("pending", NodeState.PENDING),
    ("shutdown", NodeState.SHUTDOWN),
    ("maintenance", NodeState.MAINTENANCE),
    ("standby", NodeState.STANDBY),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class PacemakerNode:
    """A cluster node as crm_mon sees it."""

    name: str
    node_id: str = ""
    online: bool = False
    standby: bool = False
    standby_onfail: bool = False
    maintenance: bool = False
    pending: bool = False
    unclean: bool = False
    shutdown: bool = False
    expected_up: bool = False
    is_dc: bool = False
    resources_running: int = 0
    node_type: str = "member"
    health: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def state(self) -> NodeState:
        """The most severe state that applies: unclean, offline, pending, shutdown, maintenance,
        standby (also standby on-fail), online."""
        flags = {
            "unclean": self.unclean,
            "offline": not self.online,
            "pending": self.pending,
            "shutdown": self.shutdown,
            "maintenance": self.maintenance,
            "standby": self.standby or self.standby_onfail,
        }
        for flag, state in _NODE_STATE_ORDER:
            if flags[flag]:
                return state
        return NodeState.ONLINE

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "state": str(self.state),
            "is_dc": self.is_dc,
            "resources_running": self.resources_running,
            "id": self.node_id,
            "online": self.online,
            "standby": self.standby,
            "standby_onfail": self.standby_onfail,
            "maintenance": self.maintenance,
            "pending": self.pending,
            "unclean": self.unclean,
            "shutdown": self.shutdown,
            "expected_up": self.expected_up,
            "type": self.node_type,
            "health": self.health,
            "attributes": dict(self.attributes),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Resource:
    """A resource: a primitive, or a group/clone/bundle with its ``members``.

    For a clone, ``members`` holds the cloned primitive or group once, with the facts of all its
    instances aggregated (``running_on`` lists every node that runs an instance).
    """

    id: str
    kind: ResourceKind
    agent: str | None = None
    role: ResourceRole = ResourceRole.UNKNOWN
    target_role: ResourceRole | None = None
    running_on: tuple[str, ...] = ()
    promoted_on: tuple[str, ...] = ()
    unpromoted_on: tuple[str, ...] = ()
    managed: bool = True
    failed: bool = False
    blocked: bool = False
    active: bool = False
    orphaned: bool = False
    disabled: bool = False
    members: tuple[Resource, ...] = ()

    def iter_primitives(self) -> Iterator[Resource]:
        """Yield the primitives in this resource (itself if it is one), depth first."""
        if self.kind is ResourceKind.PRIMITIVE:
            yield self
            return
        for member in self.members:
            yield from member.iter_primitives()

    def find(self, resource_id: str) -> Resource | None:
        """Return the resource with ``resource_id``: this one or any member, at any depth."""
        if self.id == resource_id:
            return self
        for member in self.members:
            found = member.find(resource_id)
            if found is not None:
                return found
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (members keyed by id, in crm_mon's order)."""
        return {
            "id": self.id,
            "kind": str(self.kind),
            "agent": self.agent,
            "role": str(self.role),
            "target_role": None if self.target_role is None else str(self.target_role),
            "running_on": list(self.running_on),
            "promoted_on": list(self.promoted_on),
            "unpromoted_on": list(self.unpromoted_on),
            "managed": self.managed,
            "failed": self.failed,
            "blocked": self.blocked,
            "active": self.active,
            "orphaned": self.orphaned,
            "disabled": self.disabled,
            "members": {member.id: member.to_dict() for member in self.members},
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class FailedAction:
    """One entry of crm_mon's ``failures`` (what ``crm_mon`` calls failed resource actions)."""

    resource: str
    node: str
    operation: str
    exit_reason: str | None = None
    exit_status: str = ""
    exit_code: int | None = None
    status: str = ""
    interval_ms: int | None = None
    last_rc_change: str | None = None
    op_key: str = ""
    call_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "resource": self.resource,
            "node": self.node,
            "operation": self.operation,
            "exit_reason": self.exit_reason,
            "exit_status": self.exit_status,
            "exit_code": self.exit_code,
            "status": self.status,
            "interval_ms": self.interval_ms,
            "last_rc_change": self.last_rc_change,
            "op_key": self.op_key,
            "call_id": self.call_id,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class MoveConstraint:
    """A location constraint left behind by a move (``cli-prefer-*``) or ban (``cli-ban-*``).

    ``role`` is spelled as Pacemaker 2.1 does (``Started``, ``Promoted``), also when the input says
    ``Master``/``Slave``.
    """

    id: str
    resource: str
    node: str
    kind: Literal["prefer", "ban"]
    score: str = ""
    role: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "id": self.id,
            "resource": self.resource,
            "node": self.node,
            "kind": self.kind,
            "score": self.score,
            "role": self.role,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Colocation:
    """A two-resource colocation constraint (``rsc`` placed with ``with-rsc``)."""

    id: str
    resource: str
    with_resource: str
    score: str = ""
    resource_role: str | None = None
    with_resource_role: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "id": self.id,
            "resource": self.resource,
            "with_resource": self.with_resource,
            "score": self.score,
            "resource_role": self.resource_role,
            "with_resource_role": self.with_resource_role,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Order:
    """A two-resource ordering constraint (``first`` before ``then``)."""

    id: str
    first: str
    then: str
    first_action: str = "start"
    then_action: str = "start"
    kind: str | None = None
    score: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "id": self.id,
            "first": self.first,
            "then": self.then,
            "first_action": self.first_action,
            "then_action": self.then_action,
            "kind": self.kind,
            "score": self.score,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterOptions:
    """The cluster options crm_mon reports."""

    stonith_enabled: bool = False
    symmetric_cluster: bool = True
    no_quorum_policy: str = "stop"
    maintenance_mode: bool = False
    stop_all_resources: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "stonith_enabled": self.stonith_enabled,
            "symmetric_cluster": self.symmetric_cluster,
            "no_quorum_policy": self.no_quorum_policy,
            "maintenance_mode": self.maintenance_mode,
            "stop_all_resources": self.stop_all_resources,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class CibResource:
    """A resource as configured in the CIB (primitive, group, clone or bundle)."""

    id: str
    kind: ResourceKind
    agent: str | None = None
    parent: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    meta: Mapping[str, str] = field(default_factory=dict)
    children: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "id": self.id,
            "kind": str(self.kind),
            "agent": self.agent,
            "parent": self.parent,
            "params": dict(self.params),
            "meta": dict(self.meta),
            "children": list(self.children),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class CibInfo:
    """What the CIB configuration adds to crm_mon's view.

    Parsed from a full ``<cib>``, a ``<configuration>`` or a single section (``<constraints>``,
    ``<crm_config>``, ``<resources>``); sections that were not given are empty.
    """

    cluster_name: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    resources: Mapping[str, CibResource] = field(default_factory=dict)
    move_constraints: tuple[MoveConstraint, ...] = ()
    colocations: tuple[Colocation, ...] = ()
    orders: tuple[Order, ...] = ()
    has_constraints: bool = False

    @property
    def drbd_resources(self) -> dict[str, str]:
        """Map each ``ocf:linbit:drbd`` primitive id to its ``drbd_resource`` parameter."""
        return {
            rsc.id: rsc.params.get("drbd_resource", "")
            for rsc in self.resources.values()
            if rsc.agent == "ocf:linbit:drbd"
        }

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "cluster_name": self.cluster_name,
            "properties": dict(self.properties),
            "resources": {rid: rsc.to_dict() for rid, rsc in self.resources.items()},
            "move_constraints": [c.to_dict() for c in self.move_constraints],
            "colocations": [c.to_dict() for c in self.colocations],
            "orders": [o.to_dict() for o in self.orders],
            "drbd_resources": self.drbd_resources,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class PacemakerStatus:
    """The cluster as crm_mon (and optionally the CIB) describes it."""

    NOT_CONNECTED: ClassVar[str] = "Not connected"

    stack_running: bool
    api_version: str | None = None
    request: str | None = None
    stack_type: str | None = None
    dc: str | None = None
    dc_version: str | None = None
    quorate: bool = False
    cluster_name: str | None = None
    options: ClusterOptions = field(default_factory=ClusterOptions)
    nodes: tuple[PacemakerNode, ...] = ()
    resources: tuple[Resource, ...] = ()
    failed_actions: tuple[FailedAction, ...] = ()
    fail_counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    move_constraints: tuple[MoveConstraint, ...] = ()
    colocations: tuple[Colocation, ...] = ()
    orders: tuple[Order, ...] = ()
    last_update: str | None = None
    error: str | None = None

    @classmethod
    def stack_down(
        cls,
        error: str | None = None,
        *,
        api_version: str | None = None,
        request: str | None = None,
    ) -> PacemakerStatus:
        """Return the status of a node whose cluster stack is not running (or still starting)."""
        return cls(
            stack_running=False,
            api_version=api_version,
            request=request,
            error=error or cls.NOT_CONNECTED,
            options=ClusterOptions(symmetric_cluster=False, no_quorum_policy=""),
        )

    def node(self, name: str) -> PacemakerNode | None:
        """Return the node called ``name``, if crm_mon lists it."""
        for node in self.nodes:
            if node.name == name:
                return node
        return None

    def resource(self, resource_id: str) -> Resource | None:
        """Return the resource with ``resource_id``, top-level or a member at any depth."""
        for rsc in self.resources:
            found = rsc.find(resource_id)
            if found is not None:
                return found
        return None

    def iter_primitives(self) -> Iterator[Resource]:
        """Yield every primitive in the cluster, depth first in crm_mon's order."""
        for rsc in self.resources:
            yield from rsc.iter_primitives()

    def to_dict(self) -> dict[str, Any]:
        """Return the ``hacluster parse crm-mon`` JSON shape (plus a few extra keys)."""
        return {
            "stack_running": self.stack_running,
            "dc": self.dc,
            "quorate": self.quorate,
            "cluster_name": self.cluster_name,
            "maintenance_mode": self.options.maintenance_mode,
            "stonith_enabled": self.options.stonith_enabled,
            "nodes": {node.name: node.to_dict() for node in self.nodes},
            "resources": {rsc.id: rsc.to_dict() for rsc in self.resources},
            "failed_actions": [action.to_dict() for action in self.failed_actions],
            "fail_counts": {node: dict(counts) for node, counts in self.fail_counts.items()},
            "move_constraints": [c.to_dict() for c in self.move_constraints],
            "colocations": [c.to_dict() for c in self.colocations],
            "orders": [o.to_dict() for o in self.orders],
            "options": self.options.to_dict(),
            "api_version": self.api_version,
            "request": self.request,
            "stack_type": self.stack_type,
            "dc_version": self.dc_version,
            "last_update": self.last_update,
            "error": self.error,
        }
