"""Parse the CIB (``cibadmin --query``, whole or one ``--scope``) into :class:`CibInfo`.

Accepted roots: ``<cib>``, ``<configuration>`` (``--scope configuration``), and the sections
``<constraints>``, ``<crm_config>`` and ``<resources>``. Rules are not evaluated; a move with a
lifetime (a rule on ``#uname``) is recognised by its node expression.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ..errors import ParseError
from ..models.pacemaker import (
    CibInfo,
    CibResource,
    Colocation,
    MoveConstraint,
    Order,
    ResourceKind,
    normalize_agent,
    normalize_role_name,
)
from .xmlsafe import parse_xml

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

COMMAND = "cibadmin"
_SECTIONS = ("crm_config", "resources", "constraints")
_PREFIXES: tuple[tuple[str, Literal["prefer", "ban"]], ...] = (
    ("cli-prefer-", "prefer"),
    ("cli-ban-", "ban"),
)


def parse_cib(data: bytes | str) -> CibInfo:
    """Parse ``cibadmin --query`` output (a whole CIB or one section).

    Raises :class:`~hacluster.errors.ParseError` (command ``cibadmin``) for malformed XML or an
    unexpected root element.
    """
    root = parse_xml(data, command=COMMAND)
    return cib_from_element(root)


def cib_from_element(root: Element) -> CibInfo:
    """Build :class:`CibInfo` from an already parsed CIB element (see :func:`parse_cib`)."""
    sections: dict[str, Element] = {}
    if root.tag == "cib":
        config = root.find("configuration")
        if config is None:
            raise ParseError("<cib> without <configuration>", command=COMMAND)
        root = config
    if root.tag == "configuration":
        for name in _SECTIONS:
            section = root.find(name)
            if section is not None:
                sections[name] = section
    elif root.tag in _SECTIONS:
        sections[root.tag] = root
    else:
        raise ParseError(f"unexpected root element <{root.tag}>", command=COMMAND)

    properties = _properties(sections.get("crm_config"))
    constraints = sections.get("constraints")
    resources = sections.get("resources")
    return CibInfo(
        cluster_name=properties.get("cluster-name") or None,
        properties=properties,
        resources=_resources(resources) if resources is not None else {},
        move_constraints=_move_constraints(constraints) if constraints is not None else (),
        colocations=_colocations(constraints) if constraints is not None else (),
        orders=_orders(constraints) if constraints is not None else (),
        has_constraints=constraints is not None,
    )


def _nvpairs(parent: Element) -> dict[str, str]:
    """Return the name/value pairs of an attribute set (``id-ref`` pairs are skipped)."""
    result: dict[str, str] = {}
    for pair in parent.iterfind("nvpair"):
        name = pair.get("name")
        value = pair.get("value")
        if name is not None and value is not None and name not in result:
            result[name] = value
    return result


def _properties(crm_config: Element | None) -> dict[str, str]:
    """Merge the cluster property sets; ``cib-bootstrap-options`` wins, then document order."""
    if crm_config is None:
        return {}
    sets = crm_config.findall("cluster_property_set")
    sets.sort(key=lambda s: s.get("id") != "cib-bootstrap-options")
    result: dict[str, str] = {}
    for prop_set in sets:
        for name, value in _nvpairs(prop_set).items():
            result.setdefault(name, value)
    return result


def _agent(primitive: Element) -> str | None:
    """Return ``class:provider:type`` (or ``class:type``) of a primitive."""
    kind = primitive.get("type")
    if kind is None:
        return None
    standard = primitive.get("class", "")
    provider = primitive.get("provider")
    agent = f"{standard}:{provider}:{kind}" if provider else f"{standard}:{kind}"
    return normalize_agent(agent)


def _resources(section: Element) -> dict[str, CibResource]:
    """Flatten the configured resources, keyed by id (parents before children)."""
    result: dict[str, CibResource] = {}

    def walk(element: Element, parent: str | None) -> None:
        rid = element.get("id")
        tag = element.tag
        if rid is None or tag not in ("primitive", "group", "clone", "master", "bundle"):
            return
        meta: dict[str, str] = {}
        for meta_set in element.iterfind("meta_attributes"):
            for name, value in _nvpairs(meta_set).items():
                meta.setdefault(name, value)
        params: dict[str, str] = {}
        for param_set in element.iterfind("instance_attributes"):
            for name, value in _nvpairs(param_set).items():
                params.setdefault(name, value)
        # Only the nesting Pacemaker allows (clone > group > primitive), which bounds recursion.
        allowed = _CHILD_TAGS.get(tag, frozenset())
        children = [c for c in element if c.get("id") is not None and c.tag in allowed]
        if tag == "primitive":
            kind = ResourceKind.PRIMITIVE
        elif tag == "group":
            kind = ResourceKind.GROUP
        elif tag == "bundle":
            kind = ResourceKind.BUNDLE
        elif tag == "master" or meta.get("promotable", "").lower() in _TRUE:
            kind = ResourceKind.PROMOTABLE
        else:
            kind = ResourceKind.CLONE
        result[rid] = CibResource(
            id=rid,
            kind=kind,
            agent=_agent(element) if tag == "primitive" else None,
            parent=parent,
            params=params,
            meta=meta,
            children=tuple(c.get("id", "") for c in children),
        )
        for child in children:
            walk(child, rid)

    for element in section:
        walk(element, None)
    return result


_CHILD_TAGS = {
    "group": frozenset({"primitive"}),
    "clone": frozenset({"primitive", "group"}),
    "master": frozenset({"primitive", "group"}),
    "bundle": frozenset({"primitive"}),
}
_TRUE = frozenset({"true", "yes", "on", "1", "y"})


def _rule_node(location: Element) -> tuple[str | None, str | None]:
    """Return (node, score) of a ``cli-*`` location given as a rule on ``#uname``."""
    for rule in location.iterfind("rule"):
        for expression in rule.iterfind("expression"):
            if expression.get("attribute") == "#uname" and expression.get("operation") == "eq":
                return expression.get("value"), rule.get("score")
    return None, None


def _move_constraints(section: Element) -> tuple[MoveConstraint, ...]:
    """Return the ``cli-prefer-*``/``cli-ban-*`` location constraints, once each."""
    seen: set[str] = set()
    result: list[MoveConstraint] = []
    for location in section.iterfind("rsc_location"):
        cid = location.get("id", "")
        kind = next((k for prefix, k in _PREFIXES if cid.startswith(prefix)), None)
        resource = location.get("rsc")
        if kind is None or resource is None or cid in seen:
            continue
        node, score = location.get("node"), location.get("score")
        if node is None:
            node, score = _rule_node(location)
        if node is None:
            continue
        seen.add(cid)
        result.append(
            MoveConstraint(
                id=cid,
                resource=resource,
                node=node,
                kind=kind,
                score=score or "",
                role=normalize_role_name(location.get("role")),
            )
        )
    return tuple(result)


def _colocations(section: Element) -> tuple[Colocation, ...]:
    """Return the two-resource colocations (resource sets are skipped)."""
    result: list[Colocation] = []
    for element in section.iterfind("rsc_colocation"):
        resource, with_resource = element.get("rsc"), element.get("with-rsc")
        if resource is None or with_resource is None:
            continue
        result.append(
            Colocation(
                id=element.get("id", ""),
                resource=resource,
                with_resource=with_resource,
                score=element.get("score", element.get("score-attribute", "")),
                resource_role=normalize_role_name(element.get("rsc-role")),
                with_resource_role=normalize_role_name(element.get("with-rsc-role")),
            )
        )
    return tuple(result)


def _orders(section: Element) -> tuple[Order, ...]:
    """Return the two-resource orderings (resource sets are skipped)."""
    result: list[Order] = []
    for element in section.iterfind("rsc_order"):
        first, then = element.get("first"), element.get("then")
        if first is None or then is None:
            continue
        first_action = element.get("first-action", "start")
        result.append(
            Order(
                id=element.get("id", ""),
                first=first,
                then=then,
                first_action=first_action,
                then_action=element.get("then-action", first_action),
                kind=element.get("kind"),
                score=element.get("score"),
            )
        )
    return tuple(result)
