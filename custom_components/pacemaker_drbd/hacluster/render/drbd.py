"""Render the DRBD 9 resource file (``/etc/drbd.d/<resource>.res``); pure and deterministic."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..provision.config import ClusterConfig, Pairs

__all__ = ["drbd_resource_path", "render_drbd_resource"]

_INDENT = "    "


def drbd_resource_path(cfg: ClusterConfig) -> str:
    """Where the resource file goes on every node."""
    return f"/etc/drbd.d/{cfg.drbd.resource}.res"


def _options(name: str, pairs: Pairs) -> list[str]:
    if not pairs:
        return []
    body = [f"{_INDENT * 2}{key} {value};" for key, value in pairs]
    return [f"{_INDENT}{name} {{", *body, f"{_INDENT}}}", ""]


def render_drbd_resource(cfg: ClusterConfig) -> str:
    """Return the resource file: option sections, the volume, one ``on`` block per node, a mesh.

    The backing disk is written once at resource level when every node uses the same one, and
    inside each ``on`` block otherwise. Every node connects to every other (``connection-mesh``)
    on its ring0 address and ``drbd.port``.
    """
    d = cfg.drbd
    options: Pairs = ()
    if d.quorum is not None:
        options = (("quorum", d.quorum.quorum), ("on-no-quorum", d.quorum.on_no_quorum))
    lines = [f"resource {d.resource} {{"]
    lines += _options("options", options + d.options)
    lines += _options("net", (("protocol", d.protocol), *d.net))
    lines += _options("disk", d.disk)

    disks = {node.drbd_disk for node in cfg.nodes}
    shared_disk = len(disks) == 1
    lines.append(f"{_INDENT}device {d.device} minor {d.minor};")
    if shared_disk:
        lines.append(f"{_INDENT}disk {cfg.nodes[0].drbd_disk};")
    lines.append(f"{_INDENT}meta-disk internal;")

    for node in cfg.nodes:
        lines += ["", f"{_INDENT}on {node.name} {{"]
        lines.append(f"{_INDENT * 2}node-id {node.drbd_node_id};")
        lines.append(f"{_INDENT * 2}address {node.address}:{d.port};")
        if not shared_disk:
            lines.append(f"{_INDENT * 2}disk {node.drbd_disk};")
        lines.append(f"{_INDENT}}}")

    hosts = " ".join(node.name for node in cfg.nodes)
    lines += ["", f"{_INDENT}connection-mesh {{", f"{_INDENT * 2}hosts {hosts};", f"{_INDENT}}}"]
    lines.append("}")
    return "\n".join(lines) + "\n"
