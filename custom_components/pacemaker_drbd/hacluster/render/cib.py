"""Render the Pacemaker configuration as crm shell text and as the equivalent CIB XML.

Both renderings come from one intermediate model (:func:`build_cib`), so they cannot drift
apart: the crm text is what ``crm configure load update`` takes (like the reference ``cib.txt``),
the XML is a complete ``<cib>`` that ``crm_verify --xml-file`` checks and whose
``<configuration>`` a provisioning step can diff against the live CIB. The XML uses crmsh's own
id scheme (``<rsc>-instance_attributes-<name>``, ``<rsc>-<op>-<interval>``, ...), so loading the
crm text with crmsh yields exactly the same elements and ids.

Maintenance mode is never part of the rendered configuration (provisioning switches it around
loading), and neither are the properties Pacemaker maintains itself (``dc-version``,
``cluster-infrastructure``, ``cluster-name``, ``have-watchdog``).
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..provision.config import ClusterConfig, Operation, Pairs

__all__ = [
    "CIB_SCHEMA",
    "CibClone",
    "CibColocation",
    "CibGroup",
    "CibLocation",
    "CibModel",
    "CibOrder",
    "CibPrimitive",
    "build_cib",
    "render_cib_crm",
    "render_cib_xml",
]

CIB_SCHEMA = "pacemaker-3.7"
"""The oldest schema with ``Promoted``/``Unpromoted`` roles (Pacemaker 2.1.0)."""

PROPERTY_SET_ID = "cib-bootstrap-options"
RSC_DEFAULTS_ID = "rsc-options"
OP_DEFAULTS_ID = "op-options"


@dataclass(frozen=True, kw_only=True, slots=True)
class CibPrimitive:
    """A primitive resource; ``agent`` is ``ocf:provider:type`` or ``stonith:type``."""

    id: str
    agent: str
    params: Pairs = ()
    ops: tuple[Operation, ...] = ()

    @property
    def agent_parts(self) -> tuple[str, str | None, str]:
        """The agent as (class, provider or None, type)."""
        standard, _, rest = self.agent.partition(":")
        if standard == "ocf":
            provider, _, kind = rest.partition(":")
            return standard, provider, kind
        return standard, None, rest


@dataclass(frozen=True, kw_only=True, slots=True)
class CibGroup:
    """A resource group; members start in order and stop in reverse."""

    id: str
    members: tuple[CibPrimitive, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class CibClone:
    """A (promotable) clone of one primitive."""

    id: str
    child: CibPrimitive
    meta: Pairs = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class CibLocation:
    """``location ID RSC SCORE: NODE``."""

    id: str
    rsc: str
    score: str
    node: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CibColocation:
    """``colocation ID SCORE: RSC WITH_RSC:ROLE``."""

    id: str
    score: str
    rsc: str
    with_rsc: str
    with_rsc_role: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CibOrder:
    """``order ID KIND: FIRST:ACTION THEN:ACTION``."""

    id: str
    kind: str
    first: str
    first_action: str
    then: str
    then_action: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CibModel:
    """Everything the rendered configuration holds, in rendering order."""

    nodes: tuple[tuple[int, str], ...]
    clone: CibClone
    group: CibGroup
    fencing: tuple[CibPrimitive, ...]
    locations: tuple[CibLocation, ...]
    colocations: tuple[CibColocation, ...]
    orders: tuple[CibOrder, ...]
    properties: Pairs
    rsc_defaults: Pairs
    op_defaults: Pairs

    @property
    def primitives(self) -> tuple[CibPrimitive, ...]:
        """Every primitive: the DRBD one, the group's members, then the fence devices."""
        return (self.clone.child, *self.group.members, *self.fencing)


def build_cib(cfg: ClusterConfig) -> CibModel:
    """Build the configuration for ``cfg``: a promotable DRBD clone and the application group.

    The group holds the file system, the virtual IP and the application, in that order; it is
    colocated with the DRBD Promoted role and starts after the promotion.
    """
    ids, d = cfg.ids, cfg.drbd
    drbd = CibPrimitive(
        id=ids.drbd, agent=d.agent, params=(("drbd_resource", d.resource),), ops=d.ops
    )
    fs_params: Pairs = (
        ("device", d.device),
        ("directory", d.mount_point),
        ("fstype", d.filesystem),
    )
    if d.mount_options is not None:
        fs_params += (("options", d.mount_options),)
    filesystem = CibPrimitive(
        id=ids.filesystem, agent="ocf:heartbeat:Filesystem", params=fs_params, ops=d.filesystem_ops
    )
    ip_params: Pairs = (("ip", cfg.vip.address), ("cidr_netmask", str(cfg.vip.netmask)))
    if cfg.vip.nic is not None:
        ip_params += (("nic", cfg.vip.nic),)
    ip = CibPrimitive(id=ids.ip, agent="ocf:heartbeat:IPaddr2", params=ip_params, ops=cfg.vip.ops)
    app = cfg.application
    application = CibPrimitive(id=app.id, agent=app.agent, params=app.agent_params, ops=app.ops)
    clone = CibClone(
        id=ids.clone,
        child=drbd,
        meta=(
            ("promotable", "true"),
            ("promoted-max", "1"),
            ("promoted-node-max", "1"),
            ("clone-max", str(len(cfg.nodes))),
            ("clone-node-max", "1"),
            ("notify", "true"),
        ),
    )
    fencing = tuple(
        CibPrimitive(
            id=device.id,
            agent=f"stonith:{device.agent}",
            params=device.agent_params,
            ops=device.ops,
        )
        for device in cfg.stonith.devices
    )
    locations = tuple(
        CibLocation(
            id=f"l_{device.id}_avoid_{device.node}", rsc=device.id, score="-inf", node=device.node
        )
        for device in cfg.stonith.devices
        if device.node is not None
    )
    properties: Pairs = (
        ("stonith-enabled", "true" if cfg.stonith.enabled else "false"),
        *cfg.properties,
    )
    return CibModel(
        nodes=tuple((node.node_id, node.name) for node in cfg.nodes),
        clone=clone,
        group=CibGroup(id=ids.group, members=(filesystem, ip, application)),
        fencing=fencing,
        locations=locations,
        colocations=(
            CibColocation(
                id=ids.colocation,
                score="inf",
                rsc=ids.group,
                with_rsc=ids.clone,
                with_rsc_role="Promoted",
            ),
        ),
        orders=(
            CibOrder(
                id=ids.order,
                kind="Mandatory",
                first=ids.clone,
                first_action="promote",
                then=ids.group,
                then_action="start",
            ),
        ),
        properties=properties,
        rsc_defaults=cfg.resource_defaults,
        op_defaults=cfg.operation_defaults,
    )


# --------------------------------------------------------------------------------------------
# crm shell text
# --------------------------------------------------------------------------------------------

_CRM_PLAIN = re.compile(r"[A-Za-z0-9_.,:/@%+=~-]+")
_CONT = " \\\n    "


def _crm_value(value: str) -> str:
    """Quote a value for crmsh when it is not a plain word (crmsh reads shell-like quoting)."""
    if _CRM_PLAIN.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _crm_pairs(pairs: Pairs) -> str:
    return " ".join(f"{name}={_crm_value(value)}" for name, value in pairs)


def _crm_op(op: Operation) -> str:
    words = [f"op {op.name}", f"interval={op.interval}"]
    if op.timeout is not None:
        words.append(f"timeout={op.timeout}")
    if op.role is not None:
        words.append(f"role={op.role}")
    return " ".join(words)


def _crm_primitive(rsc: CibPrimitive) -> str:
    parts = [f"primitive {rsc.id} {rsc.agent}"]
    if rsc.params:
        parts.append(f"params {_crm_pairs(rsc.params)}")
    parts += [_crm_op(op) for op in rsc.ops]
    return _CONT.join(parts)


def _crm_set(keyword: str, set_id: str, pairs: Pairs) -> str:
    return _CONT.join([f"{keyword} {set_id}:", *(_crm_pairs(((k, v),)) for k, v in pairs)])


def render_cib_crm(cfg: ClusterConfig) -> str:
    """Return the configuration as crm shell text (for ``crm configure load update FILE``)."""
    model = build_cib(cfg)
    lines = [f"node {node_id}: {name}" for node_id, name in model.nodes]
    lines += [_crm_primitive(rsc) for rsc in model.primitives]
    lines.append(f"group {model.group.id} {' '.join(m.id for m in model.group.members)}")
    clone = model.clone
    lines.append(
        _CONT.join([f"clone {clone.id} {clone.child.id}", f"meta {_crm_pairs(clone.meta)}"])
    )
    lines += [f"location {c.id} {c.rsc} {c.score}: {c.node}" for c in model.locations]
    lines += [
        f"colocation {c.id} {c.score}: {c.rsc} {c.with_rsc}:{c.with_rsc_role}"
        for c in model.colocations
    ]
    lines += [
        f"order {o.id} {o.kind}: {o.first}:{o.first_action} {o.then}:{o.then_action}"
        for o in model.orders
    ]
    lines.append(_crm_set("property", PROPERTY_SET_ID, model.properties))
    if model.rsc_defaults:
        lines.append(_crm_set("rsc_defaults", RSC_DEFAULTS_ID, model.rsc_defaults))
    if model.op_defaults:
        lines.append(_crm_set("op_defaults", OP_DEFAULTS_ID, model.op_defaults))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# CIB XML
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _El:
    tag: str
    attrs: tuple[tuple[str, str], ...] = ()
    children: tuple[_El, ...] = ()


_XML_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\t": "&#9;",
        "\n": "&#10;",
        "\r": "&#13;",
    }
)


def _xml_lines(el: _El, depth: int, out: list[str]) -> None:
    pad = "  " * depth
    attrs = "".join(f' {name}="{value.translate(_XML_ESCAPES)}"' for name, value in el.attrs)
    if not el.children:
        out.append(f"{pad}<{el.tag}{attrs}/>")
        return
    out.append(f"{pad}<{el.tag}{attrs}>")
    for child in el.children:
        _xml_lines(child, depth + 1, out)
    out.append(f"{pad}</{el.tag}>")


def _xml_score(score: str) -> str:
    return {"inf": "INFINITY", "-inf": "-INFINITY", "+inf": "INFINITY"}.get(score, score)


def _nvset(tag: str, set_id: str, pairs: Pairs) -> _El:
    return _El(
        tag,
        (("id", set_id),),
        tuple(
            _El("nvpair", (("id", f"{set_id}-{name}"), ("name", name), ("value", value)))
            for name, value in pairs
        ),
    )


def _xml_primitive(rsc: CibPrimitive) -> _El:
    standard, provider, kind = rsc.agent_parts
    attrs: tuple[tuple[str, str], ...] = (("id", rsc.id), ("class", standard))
    if provider is not None:
        attrs += (("provider", provider),)
    attrs += (("type", kind),)
    children: list[_El] = []
    if rsc.params:
        children.append(_nvset("instance_attributes", f"{rsc.id}-instance_attributes", rsc.params))
    if rsc.ops:
        ops = []
        for op in rsc.ops:
            op_attrs: tuple[tuple[str, str], ...] = (
                ("id", f"{rsc.id}-{op.name}-{op.interval}"),
                ("name", op.name),
                ("interval", op.interval),
            )
            if op.timeout is not None:
                op_attrs += (("timeout", op.timeout),)
            if op.role is not None:
                op_attrs += (("role", op.role),)
            ops.append(_El("op", op_attrs))
        children.append(_El("operations", (), tuple(ops)))
    return _El("primitive", attrs, tuple(children))


def _xml_configuration(model: CibModel) -> _El:
    clone = model.clone
    resources = [
        _El(
            "clone",
            (("id", clone.id),),
            (
                _nvset("meta_attributes", f"{clone.id}-meta_attributes", clone.meta),
                _xml_primitive(clone.child),
            ),
        ),
        _El(
            "group",
            (("id", model.group.id),),
            tuple(_xml_primitive(m) for m in model.group.members),
        ),
        *(_xml_primitive(rsc) for rsc in model.fencing),
    ]
    constraints: list[_El] = [
        _El(
            "rsc_location",
            (("id", c.id), ("rsc", c.rsc), ("score", _xml_score(c.score)), ("node", c.node)),
        )
        for c in model.locations
    ]
    constraints += [
        _El(
            "rsc_colocation",
            (
                ("id", c.id),
                ("score", _xml_score(c.score)),
                ("rsc", c.rsc),
                ("with-rsc", c.with_rsc),
                ("with-rsc-role", c.with_rsc_role),
            ),
        )
        for c in model.colocations
    ]
    constraints += [
        _El(
            "rsc_order",
            (
                ("id", o.id),
                ("kind", o.kind),
                ("first", o.first),
                ("first-action", o.first_action),
                ("then", o.then),
                ("then-action", o.then_action),
            ),
        )
        for o in model.orders
    ]
    sections = [
        _El(
            "crm_config",
            (),
            (_nvset("cluster_property_set", PROPERTY_SET_ID, model.properties),),
        ),
        _El(
            "nodes",
            (),
            tuple(_El("node", (("id", str(i)), ("uname", name))) for i, name in model.nodes),
        ),
        _El("resources", (), tuple(resources)),
        _El("constraints", (), tuple(constraints)),
    ]
    if model.rsc_defaults:
        sections.append(
            _El(
                "rsc_defaults",
                (),
                (_nvset("meta_attributes", RSC_DEFAULTS_ID, model.rsc_defaults),),
            )
        )
    if model.op_defaults:
        sections.append(
            _El("op_defaults", (), (_nvset("meta_attributes", OP_DEFAULTS_ID, model.op_defaults),))
        )
    return _El("configuration", (), tuple(sections))


def render_cib_xml(cfg: ClusterConfig) -> str:
    """Return a complete ``<cib>`` (empty status) holding the configuration for ``cfg``.

    ``crm_verify --xml-file`` accepts it as is; provisioning diffs its ``<configuration>``
    against the live CIB. The epoch is fixed at 1 so the output is byte-identical per input.
    """
    root = _El(
        "cib",
        (
            ("validate-with", CIB_SCHEMA),
            ("admin_epoch", "0"),
            ("epoch", "1"),
            ("num_updates", "0"),
        ),
        (_xml_configuration(build_cib(cfg)), _El("status")),
    )
    lines: list[str] = []
    _xml_lines(root, 0, lines)
    return "\n".join(lines) + "\n"
