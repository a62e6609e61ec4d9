"""Parse ``crm_mon --output-as=xml`` (and the legacy ``--as-xml``/``-X``) into a model.

Handles Pacemaker 2.1 (API 2.9 to 2.38, also builds printing ``Master``/``Slave`` and
``ocf::provider:type``), the legacy ``<crm_mon version=...>`` envelope (1.1-style content), and the
"stack not running" outputs: exit status 102, ``<status code="102" message="Not connected">``,
``<crm-mon-disconnected>`` (2.1.6+) and the empty ``<crm_mon/>`` that ``--as-xml`` prints then.
A stopped stack is a state (:meth:`PacemakerStatus.stack_down`), not an error.
"""

from __future__ import annotations

from dataclasses import replace
import re
from typing import TYPE_CHECKING

from ..errors import CommandError, ParseError, PermissionDeniedError
from ..models.pacemaker import (
    ACTIVE_ROLES,
    INFINITY_SCORE,
    TRANSITIONAL_ROLES,
    CibInfo,
    ClusterOptions,
    FailedAction,
    MoveConstraint,
    PacemakerNode,
    PacemakerStatus,
    Resource,
    ResourceKind,
    ResourceRole,
    normalize_agent,
)
from .cib import parse_cib
from .xmlsafe import parse_xml

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from xml.etree.ElementTree import Element

COMMAND = "crm_mon"
EXIT_NOT_CONNECTED = 102
"""``CRM_EX_DISCONNECT``: the cluster stack is not running (or still starting) on this node."""
EXIT_INSUFFICIENT_PRIV = 4

_TRUE = frozenset({"true", "yes", "on", "1", "y"})
_ROLES: dict[str | None, ResourceRole] = {}
_HISTORY_OPEN = "<node_history>"
_HISTORY_CLOSE = "</node_history>"
_OPERATION_HISTORY = re.compile(r"<operation_history\b[^>]*/>")


def parse_crm_mon(
    data: bytes | str,
    *,
    exit_status: int | None = None,
    cib: bytes | str | CibInfo | None = None,
) -> PacemakerStatus:
    """Parse crm_mon's XML output.

    ``exit_status`` is crm_mon's exit code when known (102 with empty output means the stack is
    down). ``cib`` is ``cibadmin --query`` output (a whole CIB, ``--scope configuration`` or
    ``--scope constraints``) or an already parsed :class:`CibInfo`; it supplies the cluster name,
    colocations, orders and the ``cli-prefer-*`` constraints that crm_mon never shows.

    Raises :class:`ParseError` (command ``crm_mon`` or ``cibadmin``) for malformed input, and
    :class:`CommandError` when crm_mon reports a failure other than "not connected".
    """
    cib_info = parse_cib(cib) if isinstance(cib, bytes | str) else cib
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ParseError(f"not UTF-8: {err}", command=COMMAND) from err
    if not data.strip():
        if exit_status == EXIT_NOT_CONNECTED:
            return PacemakerStatus.stack_down()
        raise ParseError("empty output", command=COMMAND)
    data, history = _cut_history(data)
    root = parse_xml(data, command=COMMAND)
    if root.tag == "pacemaker-result":
        api_version = root.get("api-version")
    elif root.tag == "crm_mon":
        api_version = root.get("version")
    else:
        raise ParseError(f"unexpected root element <{root.tag}>", command=COMMAND)
    request = root.get("request")
    summary = root.find("summary")
    if summary is None:
        return _without_summary(root, exit_status, api_version, request)
    fail_counts = _fail_counts(parse_xml(history, command=COMMAND)) if history is not None else {}
    return _status(root, summary, api_version, request, cib_info, fail_counts)


def _cut_history(text: str) -> tuple[str, str | None]:
    """Take ``<node_history>`` out of the document before parsing it.

    The node history is about half of crm_mon's output (most of it ``operation_history``, empty
    elements we never read) and only the fail counts on ``resource_history`` are used. So the
    section is parsed on its own, without the operation elements, and only when it holds a fail
    count. Attribute values cannot contain ``<``, so the tags are found reliably; anything odd
    left behind makes the section malformed, which is a ``ParseError``. Returns the rest of the
    document and the reduced section (or ``None``).
    """
    start = text.find(_HISTORY_OPEN)
    if start < 0:
        return text, None
    end = text.find(_HISTORY_CLOSE, start)
    if end < 0:
        return text, None  # truncated: let the parser say so
    end += len(_HISTORY_CLOSE)
    history = text[start:end]
    if "fail-count" not in history:
        return text[:start] + text[end:], None
    return text[:start] + text[end:], _OPERATION_HISTORY.sub("", history)


def _without_summary(
    root: Element, exit_status: int | None, api_version: str | None, request: str | None
) -> PacemakerStatus:
    """Interpret an output without a summary: the stack is down, or crm_mon failed."""
    status = root.find("status")
    code = _int(status.get("code")) if status is not None else None
    message = status.get("message") if status is not None else None
    disconnected = root.find("crm-mon-disconnected")
    pacemakerd = root.find("pacemakerd")
    if disconnected is not None:
        description = disconnected.get("description")
        state = disconnected.get("pacemakerd-state")
        error = description or message or PacemakerStatus.NOT_CONNECTED
        if state:
            error = f"{error} (pacemakerd: {state})"
        return PacemakerStatus.stack_down(error, api_version=api_version, request=request)
    # `--as-xml` prints an empty `<crm_mon version="..."/>` (and the errors on stderr) then.
    legacy_empty = root.tag == "crm_mon" and len(root) == 0 and exit_status is None
    if (
        code == EXIT_NOT_CONNECTED
        or (code is None and (exit_status == EXIT_NOT_CONNECTED or legacy_empty))
        or pacemakerd is not None
    ):
        return PacemakerStatus.stack_down(message, api_version=api_version, request=request)
    if code in (None, 0):
        raise ParseError("output has no <summary>", command=COMMAND)
    errors = [e.text.strip() for e in root.iter("error") if e.text and e.text.strip()]
    text = "; ".join([message or f"code {code}", *errors])
    error_cls = PermissionDeniedError if code == EXIT_INSUFFICIENT_PRIV else CommandError
    raise error_cls(f"crm_mon failed: {text}", command=COMMAND, exit_status=code, stderr=text)


def _status(
    root: Element,
    summary: Element,
    api_version: str | None,
    request: str | None,
    cib: CibInfo | None,
    fail_counts: dict[str, dict[str, int]],
) -> PacemakerStatus:
    """Build the model of a running cluster."""
    properties: Mapping[str, str] = cib.properties if cib is not None else {}
    stack = summary.find("stack")
    dc_element = summary.find("current_dc")
    dc: str | None = None
    dc_version: str | None = None
    quorate = False
    if dc_element is not None and _bool(dc_element.get("present")):
        dc = dc_element.get("name") or None
        dc_version = dc_element.get("version")
        quorate = dc is not None and _bool(dc_element.get("with_quorum"))
    last_update = summary.find("last_update")

    attributes = _node_attributes(root.find("node_attributes"))
    nodes_element = root.find("nodes")
    nodes = tuple(
        _node(element, attributes.get(element.get("name", ""), {}))
        for element in (nodes_element.iterfind("node") if nodes_element is not None else ())
        if element.get("name")
    )
    resources_element = root.find("resources")
    resources = tuple(
        rsc
        for rsc in (
            _resource(element)
            for element in (resources_element if resources_element is not None else ())
        )
        if rsc is not None
    )
    if cib is not None and cib.has_constraints:
        move_constraints = cib.move_constraints
    else:
        move_constraints = _bans(root.find("bans"))
    return PacemakerStatus(
        stack_running=True,
        api_version=api_version,
        request=request,
        stack_type=stack.get("type") if stack is not None else None,
        dc=dc,
        dc_version=dc_version,
        quorate=quorate,
        cluster_name=cib.cluster_name if cib is not None else None,
        options=_options(summary.find("cluster_options"), properties),
        nodes=nodes,
        resources=resources,
        failed_actions=_failures(root.find("failures")),
        fail_counts=fail_counts,
        move_constraints=move_constraints,
        colocations=cib.colocations if cib is not None else (),
        orders=cib.orders if cib is not None else (),
        last_update=last_update.get("time") if last_update is not None else None,
        error=None,
    )


# ---- scalars ------------------------------------------------------------------------------------


def _bool(value: str | None, default: bool = False) -> bool:
    """Parse a Pacemaker boolean (``true``/``false``; absent means ``default``)."""
    if value is None:
        return default
    if value == "true":
        return True
    if value == "false":
        return False
    return value.lower() in _TRUE


def _int(value: str | None) -> int | None:
    """Parse an integer, ``None`` when absent or not a number."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _ms(value: str) -> int | None:
    """Parse an interval such as ``30000`` or ``30000ms``."""
    return _int(value.removesuffix("ms"))


def _score(value: str | None) -> int | None:
    """Parse a fail count or score; ``INFINITY`` (and anything above it) is 1000000."""
    if value is None:
        return None
    text = value.strip().lstrip("+")
    if text.upper() == "INFINITY":
        return INFINITY_SCORE
    if text.upper() == "-INFINITY":
        return -INFINITY_SCORE
    number = _int(text)
    if number is None:
        return None
    return max(-INFINITY_SCORE, min(INFINITY_SCORE, number))


def _base_id(resource_id: str) -> str:
    """Strip a clone instance suffix (``p_drbd:1`` -> ``p_drbd``)."""
    return resource_id.partition(":")[0]


# ---- summary and nodes --------------------------------------------------------------------------


def _options(element: Element | None, properties: Mapping[str, str]) -> ClusterOptions:
    """Read ``cluster_options``; attributes missing in old versions come from the CIB if given."""

    def get(name: str) -> str | None:
        value = element.get(name) if element is not None else None
        return value if value is not None else properties.get(name)

    return ClusterOptions(
        stonith_enabled=_bool(get("stonith-enabled"), default=True),
        symmetric_cluster=_bool(get("symmetric-cluster"), default=True),
        no_quorum_policy=get("no-quorum-policy") or "stop",
        maintenance_mode=_bool(get("maintenance-mode")),
        stop_all_resources=_bool(get("stop-all-resources")),
    )


def _node_attributes(element: Element | None) -> dict[str, dict[str, str]]:
    """Return node name -> {attribute: value} from ``node_attributes``."""
    result: dict[str, dict[str, str]] = {}
    if element is None:
        return result
    for node in element.iterfind("node"):
        name = node.get("name")
        if name is None:
            continue
        attrs = result.setdefault(name, {})
        for attribute in node.iterfind("attribute"):
            key, value = attribute.get("name"), attribute.get("value")
            if key is not None and value is not None:
                attrs[key] = value
    return result


def _node(element: Element, attributes: dict[str, str]) -> PacemakerNode:
    """Build a node from a ``nodes/node`` element."""
    get = element.get
    return PacemakerNode(
        name=get("name", ""),
        node_id=get("id", ""),
        online=_bool(get("online")),
        standby=_bool(get("standby")),
        standby_onfail=_bool(get("standby_onfail")),
        maintenance=_bool(get("maintenance")),
        pending=_bool(get("pending")),
        unclean=_bool(get("unclean")),
        shutdown=_bool(get("shutdown")),
        expected_up=_bool(get("expected_up")),
        is_dc=_bool(get("is_dc")),
        resources_running=max(0, _int(get("resources_running")) or 0),
        node_type=get("type") or "unknown",
        health=get("health"),
        attributes=attributes,
    )


# ---- resources ----------------------------------------------------------------------------------


def _resource(element: Element) -> Resource | None:
    """Build a top-level resource from its element; unknown tags give ``None``."""
    tag = element.tag
    if element.get("id") is None:
        return None
    if tag == "resource":
        return _primitive(element, promotable=False)
    if tag == "group":
        return _group(element, promotable=False)
    if tag == "clone":
        return _clone(element)
    if tag == "bundle":
        return _bundle(element)
    return None


def _role(value: str | None) -> ResourceRole:
    """Parse a role, with a cache: this runs for every resource instance of every poll."""
    role = _ROLES.get(value)
    if role is None:
        role = ResourceRole.parse(value)
        if role is not ResourceRole.UNKNOWN:  # bounded: only the known spellings are cached
            _ROLES[value] = role
    return role


def _running_on(element: Element) -> tuple[str, ...]:
    """Return the sorted unique names of a resource's ``node`` children."""
    names = [name for node in element.findall("node") if (name := node.get("name"))]
    if len(names) < 2:
        return tuple(names)
    return tuple(sorted(set(names)))


def _primitive(element: Element, *, promotable: bool) -> Resource:
    """Build a primitive (or one clone instance of it)."""
    get = element.get
    role = _role(get("role"))
    target_text = get("target_role")
    target_role = _role(target_text) if target_text else None
    running_on = _running_on(element)
    promoted_on: tuple[str, ...] = ()
    unpromoted_on: tuple[str, ...] = ()
    if role is ResourceRole.PROMOTED:
        promoted_on = running_on
    elif role is ResourceRole.UNPROMOTED or (promotable and role is ResourceRole.STARTED):
        unpromoted_on = running_on
    return Resource(
        id=get("id", ""),
        kind=ResourceKind.PRIMITIVE,
        agent=normalize_agent(get("resource_agent")),
        role=role,
        target_role=target_role,
        running_on=running_on,
        promoted_on=promoted_on,
        unpromoted_on=unpromoted_on,
        managed=_bool(get("managed"), default=True),
        failed=_bool(get("failed")),
        blocked=_bool(get("blocked")),
        active=_bool(get("active"), default=role in ACTIVE_ROLES),
        orphaned=_bool(get("orphaned")),
        disabled=target_role is ResourceRole.STOPPED,
    )


def _group(element: Element, *, promotable: bool) -> Resource:
    """Build a group: managed only if all members are, failed if any member is."""
    members = tuple(
        _primitive(child, promotable=promotable) for child in element.iterfind("resource")
    )
    disabled_attr = element.get("disabled")
    return _combine(
        _base_id(element.get("id", "")),
        ResourceKind.GROUP,
        members,
        members=members,
        promotable=promotable,
        managed=_bool(element.get("managed"), default=True),
        disabled=(
            _bool(disabled_attr)
            if disabled_attr is not None
            else bool(members) and all(m.disabled for m in members)
        ),
    )


def _clone(element: Element) -> Resource:
    """Build a clone: its child (primitive or group) once, with all instances aggregated."""
    promotable = _bool(element.get("multi_state"))
    by_id: dict[str, list[Resource]] = {}
    for child in element:
        # A clone holds primitives or groups only; anything else (even a nested clone in a
        # hostile document) is ignored, which also bounds the recursion.
        if child.tag == "resource" and child.get("id") is not None:
            instance = _primitive(child, promotable=promotable)
        elif child.tag == "group" and child.get("id") is not None:
            instance = _group(child, promotable=promotable)
        else:
            continue
        by_id.setdefault(_base_id(instance.id), []).append(instance)
    children = tuple(_merge(rid, instances, promotable) for rid, instances in by_id.items())
    return _combine(
        element.get("id", ""),
        ResourceKind.PROMOTABLE if promotable else ResourceKind.CLONE,
        children,
        members=children,
        promotable=promotable,
        managed=_bool(element.get("managed"), default=True),
        failed=_bool(element.get("failed")),
        disabled=_bool(element.get("disabled")),
        target_role=ResourceRole.parse_optional(element.get("target_role")),
    )


def _bundle(element: Element) -> Resource:
    """Build a bundle; ``running_on`` lists cluster nodes, not the bundle's guest nodes."""
    by_id: dict[str, list[Resource]] = {}
    for replica in element.iterfind("replica"):
        for child in replica.iterfind("resource"):
            primitive = _primitive(child, promotable=False)
            by_id.setdefault(_base_id(primitive.id), []).append(primitive)
    members = tuple(_merge(rid, instances, False) for rid, instances in by_id.items())
    combined = _combine(
        element.get("id", ""),
        ResourceKind.BUNDLE,
        members,
        members=members,
        promotable=False,
        managed=_bool(element.get("managed"), default=True),
        failed=_bool(element.get("failed")),
    )
    # A guest node is named after the bundle's remote connection resource.
    guests = set(by_id)
    return replace(
        combined,
        running_on=tuple(n for n in combined.running_on if n not in guests),
        promoted_on=tuple(n for n in combined.promoted_on if n not in guests),
        unpromoted_on=tuple(n for n in combined.unpromoted_on if n not in guests),
    )


def _nodes_of(parts: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """Sorted union of node tuples."""
    result: set[str] = set()
    for nodes in parts:
        result.update(nodes)
    return tuple(sorted(result))


def _aggregate_role(roles: list[ResourceRole], promotable: bool) -> ResourceRole:
    """Summarise member or instance roles into one sensible role."""
    present = set(roles)
    for role in roles:
        if role in TRANSITIONAL_ROLES:
            return role
    if ResourceRole.PROMOTED in present:
        return ResourceRole.PROMOTED
    if ResourceRole.STARTED in present:
        return ResourceRole.UNPROMOTED if promotable else ResourceRole.STARTED
    if ResourceRole.UNPROMOTED in present:
        return ResourceRole.UNPROMOTED
    if ResourceRole.STOPPED in present or not roles:
        return ResourceRole.STOPPED
    return ResourceRole.UNKNOWN


def _combine(
    resource_id: str,
    kind: ResourceKind,
    parts: tuple[Resource, ...],
    *,
    members: tuple[Resource, ...],
    promotable: bool,
    managed: bool = True,
    failed: bool = False,
    disabled: bool = False,
    target_role: ResourceRole | None = None,
    agent: str | None = None,
) -> Resource:
    """Aggregate ``parts`` (members or instances) into one resource."""
    targets = {p.target_role for p in parts}
    if target_role is None and len(targets) == 1:
        target_role = targets.pop()
    return Resource(
        id=resource_id,
        kind=kind,
        agent=agent,
        role=_aggregate_role([p.role for p in parts], promotable),
        target_role=target_role,
        running_on=_nodes_of(p.running_on for p in parts),
        promoted_on=_nodes_of(p.promoted_on for p in parts),
        unpromoted_on=_nodes_of(p.unpromoted_on for p in parts),
        managed=managed and all(p.managed for p in parts),
        failed=failed or any(p.failed for p in parts),
        blocked=any(p.blocked for p in parts),
        active=any(p.active for p in parts),
        orphaned=bool(parts) and all(p.orphaned for p in parts),
        disabled=disabled,
        members=members,
    )


def _merge(resource_id: str, instances: list[Resource], promotable: bool) -> Resource:
    """Merge the instances of one cloned primitive or group into a single resource."""
    first = instances[0]
    if first.kind is ResourceKind.GROUP:
        by_id: dict[str, list[Resource]] = {}
        for instance in instances:
            for member in instance.members:
                by_id.setdefault(member.id, []).append(member)
        members = tuple(_merge(rid, parts, promotable) for rid, parts in by_id.items())
        return _combine(
            resource_id,
            ResourceKind.GROUP,
            members,
            members=members,
            promotable=promotable,
            managed=all(i.managed for i in instances),
            disabled=all(i.disabled for i in instances),
        )
    return _combine(
        resource_id,
        first.kind,
        tuple(instances),
        members=first.members,
        promotable=promotable,
        disabled=all(i.disabled for i in instances),
        agent=first.agent,
    )


# ---- failures, fail counts, bans ----------------------------------------------------------------


def _failures(element: Element | None) -> tuple[FailedAction, ...]:
    """Return the failed actions (``failures/failure``)."""
    if element is None:
        return ()
    result: list[FailedAction] = []
    for failure in element.iterfind("failure"):
        get = failure.get
        op_key = get("op_key") or get("id") or ""
        resource, task, interval = _split_op_key(op_key)
        result.append(
            FailedAction(
                resource=_base_id(resource),
                node=get("node", ""),
                operation=get("task") or task,
                exit_reason=get("exitreason") or None,
                exit_status=get("exitstatus", ""),
                exit_code=_int(get("exitcode")),
                status=get("status", ""),
                interval_ms=interval if (text := get("interval")) is None else _ms(text),
                last_rc_change=get("last-rc-change"),
                op_key=op_key,
                call_id=get("call"),
            )
        )
    return tuple(result)


def _split_op_key(op_key: str) -> tuple[str, str, int | None]:
    """Split ``<resource>_<task>_<interval ms>`` (resource ids may contain ``_``)."""
    parts = op_key.rsplit("_", 2)
    if len(parts) == 3 and parts[2].isdigit():
        return parts[0], parts[1], int(parts[2])
    return op_key, "", None


def _fail_counts(element: Element) -> dict[str, dict[str, int]]:
    """Return node -> resource -> fail count from ``node_history`` (INFINITY -> 1000000)."""
    result: dict[str, dict[str, int]] = {}
    for node in element.iterfind("node"):
        name = node.get("name")
        if name is None:
            continue
        for history in node.iterfind("resource_history"):
            count = _score(history.get("fail-count"))
            rid = history.get("id")
            if count is None or count <= 0 or rid is None:
                continue
            counts = result.setdefault(name, {})
            key = _base_id(rid)
            counts[key] = max(count, counts.get(key, 0))
    return result


def _bans(element: Element | None) -> tuple[MoveConstraint, ...]:
    """Return the ``cli-ban-*``/``cli-prefer-*`` entries of crm_mon's ``bans``, once each."""
    if element is None:
        return ()
    seen: set[str] = set()
    result: list[MoveConstraint] = []
    for ban in element.iterfind("ban"):
        cid = ban.get("id", "")
        resource, node = ban.get("resource"), ban.get("node")
        if cid in seen or resource is None or node is None:
            continue
        if not cid.startswith(("cli-ban-", "cli-prefer-")):
            continue
        seen.add(cid)
        promoted_only = _bool(ban.get("promoted-only", ban.get("master_only")))
        result.append(
            MoveConstraint(
                id=cid,
                resource=resource,
                node=node,
                kind="ban" if cid.startswith("cli-ban-") else "prefer",
                score=ban.get("weight", ""),
                role="Promoted" if promoted_only else None,
            )
        )
    return tuple(result)
