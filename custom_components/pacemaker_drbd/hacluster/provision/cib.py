"""The CIB we want, computed from the live CIB: our sections replaced, Pacemaker's kept (pure).

:func:`desired_cib` starts from the live CIB (``cibadmin --query``, or nothing on a new
cluster) and replaces what the description owns, keeping what Pacemaker and the operator own:

* ``crm_config``: in the ``cib-bootstrap-options`` set, our properties are set (in place, so
  the order stays stable), the ones Pacemaker maintains (``dc-version``,
  ``cluster-infrastructure``, ``cluster-name``, ``have-watchdog``, ``last-lrm-refresh``) and
  ``maintenance-mode`` (switched by apply itself) are kept, others are dropped; other property
  sets are kept.
* ``nodes``: live node entries (and their attributes: standby, ...) are kept; our nodes are
  added when missing.
* ``resources``: replaced by ours.
* ``constraints``: replaced by ours, keeping the operator's ``cli-prefer-*``/``cli-ban-*``
  (``crm_resource --move/--ban``).
* ``rsc_defaults``/``op_defaults``: our set replaced, other sets kept.

:func:`config_lines` renders a configuration one element per line with sorted attributes, so
two CIBs can be compared (:func:`same_configuration`) and diffed for people
(:func:`config_diff`). :func:`summarize_patch` describes a ``crm_diff`` patch in one line per
change.
"""

from __future__ import annotations

import copy
import difflib
from typing import TYPE_CHECKING, Final
from xml.etree.ElementTree import Element, SubElement, tostring

from ..parsers.xmlsafe import parse_xml
from ..render.cib import OP_DEFAULTS_ID, PROPERTY_SET_ID, RSC_DEFAULTS_ID, render_cib_xml

if TYPE_CHECKING:
    from .config import ClusterConfig

__all__ = [
    "KEPT_PROPERTIES",
    "config_diff",
    "config_lines",
    "desired_cib",
    "foreign_ids",
    "parse_cib_text",
    "same_configuration",
    "seed_cib",
    "serialize",
    "summarize_patch",
    "without_status",
]

#: Properties in ``cib-bootstrap-options`` that apply keeps whatever the description says.
KEPT_PROPERTIES: Final = frozenset(
    {
        "dc-version",
        "cluster-infrastructure",
        "cluster-name",
        "have-watchdog",
        "last-lrm-refresh",
        "maintenance-mode",
    }
)
_SECTIONS: Final = ("crm_config", "nodes", "resources", "constraints")
_COMMAND: Final = "cibadmin"


def parse_cib_text(text: str | bytes) -> Element:
    """Parse a CIB (``<cib>``) safely; raises :class:`~hacluster.errors.ParseError`."""
    root = parse_xml(text, command=_COMMAND)
    if root.tag != "cib":
        from ..errors import ParseError

        raise ParseError(f"expected <cib>, got <{root.tag}>", command=_COMMAND)
    return root


def _configuration(root: Element) -> Element:
    conf = root.find("configuration")
    if conf is None:
        conf = SubElement(root, "configuration")
    for name in _SECTIONS:
        if conf.find(name) is None:
            SubElement(conf, name)
    return conf


def _section(conf: Element, tag: str) -> Element:
    """A section :func:`_configuration` made sure of."""
    section = conf.find(tag)
    if section is None:  # pragma: no cover - _configuration adds every section
        raise ValueError(f"no <{tag}> section")
    return section


def _replace_child(parent: Element, new: Element) -> None:
    """Put ``new`` where the child with the same tag is (or append it)."""
    for index, child in enumerate(list(parent)):
        if child.tag == new.tag:
            parent.remove(child)
            parent.insert(index, new)
            return
    parent.append(new)


def _merge_properties(live_crm: Element, ours_crm: Element) -> None:
    ours_set = ours_crm.find(f"cluster_property_set[@id='{PROPERTY_SET_ID}']")
    assert ours_set is not None  # noqa: S101 (the renderer always writes it)
    wanted = {nv.get("name"): nv for nv in ours_set.findall("nvpair")}
    live_set = live_crm.find(f"cluster_property_set[@id='{PROPERTY_SET_ID}']")
    if live_set is None:
        live_crm.insert(0, copy.deepcopy(ours_set))
        return
    done: set[str | None] = set()
    for nv in list(live_set):
        name = nv.get("name") if nv.tag == "nvpair" else None
        if name in wanted:
            index = list(live_set).index(nv)
            live_set.remove(nv)
            if name not in done:
                live_set.insert(index, copy.deepcopy(wanted[name]))
                done.add(name)
        elif name not in KEPT_PROPERTIES:
            live_set.remove(nv)
    for name, nv in wanted.items():
        if name not in done:
            live_set.append(copy.deepcopy(nv))


def _merge_nodes(live_nodes: Element, ours_nodes: Element) -> None:
    have_ids = {n.get("id") for n in live_nodes.findall("node")}
    have_names = {n.get("uname") for n in live_nodes.findall("node")}
    for node in ours_nodes.findall("node"):
        if node.get("id") not in have_ids and node.get("uname") not in have_names:
            live_nodes.append(copy.deepcopy(node))


def _merge_set_section(conf: Element, ours_conf: Element, tag: str, set_id: str) -> None:
    ours = ours_conf.find(tag)
    live = conf.find(tag)
    ours_set = None if ours is None else ours.find(f"*[@id='{set_id}']")
    if live is None:
        if ours is not None:
            conf.append(copy.deepcopy(ours))
        return
    live_set = live.find(f"*[@id='{set_id}']")
    if ours_set is None:
        if live_set is not None:
            live.remove(live_set)
    elif live_set is None:
        live.insert(0, copy.deepcopy(ours_set))
    else:
        index = list(live).index(live_set)
        live.remove(live_set)
        live.insert(index, copy.deepcopy(ours_set))
    if not list(live):
        conf.remove(live)


def desired_cib(live: Element | None, cfg: ClusterConfig) -> Element:
    """The CIB to load: ``live`` (without its status) with our sections put in.

    With no live CIB, the rendered CIB itself.
    """
    ours = parse_cib_text(render_cib_xml(cfg))
    ours_conf = _configuration(ours)
    if live is None:
        status = ours.find("status")
        if status is not None:
            ours.remove(status)
        return ours
    target = without_status(live)
    conf = _configuration(target)
    _merge_properties(_section(conf, "crm_config"), _section(ours_conf, "crm_config"))
    _merge_nodes(_section(conf, "nodes"), _section(ours_conf, "nodes"))
    _replace_child(conf, copy.deepcopy(_section(ours_conf, "resources")))
    constraints = copy.deepcopy(_section(ours_conf, "constraints"))
    for element in _section(conf, "constraints"):
        if (element.get("id") or "").startswith("cli-"):
            constraints.append(copy.deepcopy(element))
    _replace_child(conf, constraints)
    _merge_set_section(conf, ours_conf, "rsc_defaults", RSC_DEFAULTS_ID)
    _merge_set_section(conf, ours_conf, "op_defaults", OP_DEFAULTS_ID)
    return target


def seed_cib(cfg: ClusterConfig) -> str:
    """A new cluster's first ``cib.xml``: the rendered CIB without resources and constraints."""
    root = parse_cib_text(render_cib_xml(cfg))
    conf = _configuration(root)
    for tag in ("resources", "constraints"):
        section = _section(conf, tag)
        for child in list(section):
            section.remove(child)
    for tag in ("rsc_defaults", "op_defaults"):
        found = conf.find(tag)
        if found is not None:
            conf.remove(found)
    return serialize(root)


def without_status(root: Element) -> Element:
    """A copy of a CIB without its ``<status>`` (what the patch is computed on)."""
    out = copy.deepcopy(root)
    status = out.find("status")
    if status is not None:
        out.remove(status)
    return out


def serialize(root: Element) -> str:
    """The XML text of ``root`` (UTF-8, no declaration)."""
    return tostring(root, encoding="unicode") + "\n"


def _attrs(element: Element) -> str:
    items = sorted(element.attrib.items(), key=lambda kv: (kv[0] != "id", kv[0]))
    return "".join(f' {k}="{v}"' for k, v in items)


def config_lines(root: Element | None) -> list[str]:
    """The ``<configuration>`` one element per line, attributes sorted (``id`` first)."""
    if root is None:
        return []
    conf = root.find("configuration")
    if conf is None:
        return []
    out: list[str] = []

    def walk(element: Element, depth: int) -> None:
        text = (element.text or "").strip()
        out.append(f"{'  ' * depth}<{element.tag}{_attrs(element)}>{text}")
        for child in element:
            walk(child, depth + 1)

    for section in conf:
        if len(section) or section.attrib:
            walk(section, 0)
    return out


def same_configuration(a: Element | None, b: Element | None) -> bool:
    """True when both configurations are equal (attribute order and empty sections ignored)."""
    return config_lines(a) == config_lines(b)


def config_diff(live: Element | None, target: Element, *, live_label: str) -> list[str]:
    """A unified diff (lines without newlines) from the live configuration to the target."""
    return list(
        difflib.unified_diff(
            config_lines(live),
            config_lines(target),
            fromfile=live_label,
            tofile="rendered",
            lineterm="",
            n=2,
        )
    )


def foreign_ids(live: Element | None, target: Element) -> tuple[str, ...]:
    """Ids of resources and constraints in the live CIB that the target drops."""
    if live is None:
        return ()
    keep = {e.get("id") for e in target.iter() if e.get("id")}
    out: list[str] = []
    conf = live.find("configuration")
    if conf is None:
        return ()
    for tag in ("resources", "constraints"):
        section = conf.find(tag)
        if section is None:
            continue
        for element in section:
            ident = element.get("id")
            if ident and ident not in keep:
                out.append(ident)
    return tuple(out)


def summarize_patch(text: str) -> list[str]:
    """One line per change of a ``crm_diff`` patch (format 1 or 2)."""
    root = parse_xml(text, command="crm_diff")
    if root.get("format") == "2":
        lines = []
        for change in root.findall("change"):
            op, path = change.get("operation"), change.get("path")
            if op == "create" and len(change):
                child = change[0]
                ident = child.get("id")
                path = f"{path}/{child.tag}" + (f"[@id='{ident}']" if ident else "")
            changes = [
                f"{a.get('name')}={a.get('value')}"
                if a.get("operation") == "set"
                else f"-{a.get('name')}"
                for a in change.iter("change-attr")
            ]
            lines.append(" ".join(x for x in (op, path, ", ".join(changes)) if x))
        return lines
    removed: list[tuple[str, dict[str, str], bool, bool]] = []
    added: list[tuple[str, dict[str, str], bool, bool]] = []
    for side, into in (("diff-removed", removed), ("diff-added", added)):
        section = root.find(side)
        for cib in () if section is None else section:
            for child in cib:
                _collect(child, "/cib", into)
    changed = {path for path, attrs, _, _ in removed if attrs}
    out: list[str] = []
    for path, attrs, _, whole in removed:
        if whole:
            out.append(f"- {path} (whole element)")
        elif attrs:
            out.append(f"- {path}: {_pairs(attrs)}")
    for path, attrs, leaf, whole in added:
        if whole:
            out.append(f"+ {path} (whole element)")
        elif attrs and (leaf or path in changed):
            out.append(f"+ {path}: {_pairs(attrs)}")
    return out


_MARKER: Final = "__crm_diff_marker__"


def _pairs(attrs: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(attrs.items()))


def _collect(
    element: Element, path: str, out: list[tuple[str, dict[str, str], bool, bool]]
) -> None:
    ident = element.get("id")
    here = f"{path}/{element.tag}" + (f"[@id='{ident}']" if ident else "")
    attrs = {k: v for k, v in element.attrib.items() if k not in ("id", _MARKER)}
    whole = element.get(_MARKER) is not None
    out.append((here, attrs, not len(element), whole))
    if not whole:
        for child in element:
            _collect(child, here, out)
