"""Render ``/etc/corosync/corosync.conf`` from a cluster description (pure, deterministic)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..provision.config import ClusterConfig

__all__ = ["COROSYNC_LOGFILE", "render_corosync_conf"]

COROSYNC_LOGFILE = "/var/log/corosync/corosync.log"
_INDENT = "    "


def _section(name: str, body: list[str], depth: int = 0) -> list[str]:
    pad = _INDENT * depth
    return [f"{pad}{name} {{", *body, f"{pad}}}"]


def render_corosync_conf(cfg: ClusterConfig) -> str:
    """Return corosync.conf for ``cfg``: knet with crypto, one link per ring, votequorum.

    A two-node cluster gets ``two_node: 1`` (which implies ``wait_for_all``); three nodes or
    more use plain majority quorum. Nodes keep the order of the description.
    """
    pad = _INDENT
    totem = [
        f"{pad}version: 2",
        f"{pad}cluster_name: {cfg.name}",
        f"{pad}transport: knet",
        f"{pad}crypto_cipher: {cfg.corosync.crypto_cipher}",
        f"{pad}crypto_hash: {cfg.corosync.crypto_hash}",
    ]
    if cfg.corosync.token is not None:
        totem.append(f"{pad}token: {cfg.corosync.token}")

    nodes: list[str] = []
    for node in cfg.nodes:
        body = [f"{pad * 2}ring0_addr: {node.address}"]
        if node.ring1_address is not None:
            body.append(f"{pad * 2}ring1_addr: {node.ring1_address}")
        body += [f"{pad * 2}name: {node.name}", f"{pad * 2}nodeid: {node.node_id}"]
        nodes += _section("node", body, depth=1)

    quorum = [f"{pad}provider: corosync_votequorum"]
    if cfg.two_node:
        quorum.append(f"{pad}two_node: 1")

    logging = [
        f"{pad}to_logfile: yes",
        f"{pad}logfile: {COROSYNC_LOGFILE}",
        f"{pad}to_syslog: yes",
        f"{pad}timestamp: on",
    ]
    blocks = [
        _section("totem", totem),
        _section("nodelist", nodes),
        _section("quorum", quorum),
        _section("logging", logging),
    ]
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"
