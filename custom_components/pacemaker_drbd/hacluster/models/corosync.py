"""Corosync 3 state: quorum (``corosync-quorumtool -s``), knet links (``corosync-cfgtool -s``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

FLAG_TWO_NODE = "2Node"
FLAG_QUORATE = "Quorate"
FLAG_WAIT_FOR_ALL = "WaitForAll"
FLAG_LAST_MAN_STANDING = "LastManStanding"
FLAG_AUTO_TIE_BREAKER = "AutoTieBreaker"
FLAG_ALLOW_DOWNSCALE = "AllowDownscale"
FLAG_QDEVICE = "Qdevice"


@dataclass(frozen=True, kw_only=True, slots=True)
class QuorumMember:
    """One row of the membership table."""

    node_id: int
    votes: int | None = None
    name: str
    local: bool = False
    qdevice: str | None = None
    """The ``Qdevice`` column (``NR`` or ``A,V,NMW``...), when printed."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "node_id": self.node_id,
            "votes": self.votes,
            "name": self.name,
            "local": self.local,
            "qdevice": self.qdevice,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class QuorumStatus:
    """What ``corosync-quorumtool -s`` reports.

    ``running`` is False when corosync is not running on the node (exit status 1, e.g.
    ``Cannot initialize CMAP service``): that is a state, not an error; ``error`` keeps the
    tool's message then.
    """

    running: bool = True
    error: str | None = None
    provider: str | None = None
    nodes: int = 0
    node_id: int | None = None
    ring_id: str | None = None
    quorate: bool = False
    expected_votes: int | None = None
    highest_expected: int | None = None
    total_votes: int | None = None
    quorum: int | None = None
    activity_blocked: bool = False
    flags: tuple[str, ...] = ()
    members: tuple[QuorumMember, ...] = ()
    qdevice_name: str | None = None
    qdevice_votes: int | None = None

    @property
    def two_node(self) -> bool:
        """True when votequorum runs in two_node mode (flag ``2Node``)."""
        return FLAG_TWO_NODE in self.flags

    @property
    def wait_for_all(self) -> bool:
        """True when the ``WaitForAll`` flag is set."""
        return FLAG_WAIT_FOR_ALL in self.flags

    @property
    def local_member(self) -> QuorumMember | None:
        """The member marked ``(local)``, if any."""
        for member in self.members:
            if member.local:
                return member
        return None

    def member(self, node_id: int) -> QuorumMember | None:
        """Return the member with ``node_id``, if it is in the membership."""
        for member in self.members:
            if member.node_id == node_id:
                return member
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "running": self.running,
            "error": self.error,
            "provider": self.provider,
            "nodes": self.nodes,
            "node_id": self.node_id,
            "ring_id": self.ring_id,
            "quorate": self.quorate,
            "expected_votes": self.expected_votes,
            "highest_expected": self.highest_expected,
            "total_votes": self.total_votes,
            "quorum": self.quorum,
            "activity_blocked": self.activity_blocked,
            "flags": list(self.flags),
            "two_node": self.two_node,
            "members": [m.to_dict() for m in self.members],
            "qdevice_name": self.qdevice_name,
            "qdevice_votes": self.qdevice_votes,
        }


QUORUM_NOT_RUNNING = QuorumStatus(running=False)
"""The state for a node where corosync is not running."""


class PeerLinkState(StrEnum):
    """State of one knet link towards one node."""

    LOCALHOST = "localhost"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    UNKNOWN = "unknown"


@dataclass(frozen=True, kw_only=True, slots=True)
class KnetLink:
    """One ``LINK ID`` block: the local address and the state towards each node."""

    link_id: int
    transport: str | None = None
    """``udp`` or ``sctp`` for knet (3.1.1+ prints it), else None."""
    addr: str | None = None
    peers: Mapping[int, PeerLinkState] = field(default_factory=lambda: MappingProxyType({}))
    status: str | None = None
    """The one-line ``status = ...`` text of brief or non-knet output, when printed."""

    def __post_init__(self) -> None:
        """Freeze ``peers`` so the link stays immutable."""
        if not isinstance(self.peers, MappingProxyType):
            object.__setattr__(self, "peers", MappingProxyType(dict(self.peers)))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (node ids become string keys)."""
        return {
            "link_id": self.link_id,
            "transport": self.transport,
            "addr": self.addr,
            "peers": {str(k): str(v) for k, v in sorted(self.peers.items())},
            "status": self.status,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkStatus:
    """What ``corosync-cfgtool -s`` reports (corosync 3.0.x and 3.1.1+ formats)."""

    running: bool = True
    error: str | None = None
    local_node_id: int | None = None
    transport: str | None = None
    links: tuple[KnetLink, ...] = ()

    def connected(self, node_id: int) -> bool | None:
        """Whether any link reaches ``node_id``; None when no link lists that node.

        The local node (``localhost``) counts as connected.
        """
        states = [link.peers[node_id] for link in self.links if node_id in link.peers]
        if not states:
            return None
        return any(s in (PeerLinkState.CONNECTED, PeerLinkState.LOCALHOST) for s in states)

    @property
    def node_ids(self) -> tuple[int, ...]:
        """All node ids listed by any link, sorted."""
        return tuple(sorted({n for link in self.links for n in link.peers}))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "running": self.running,
            "error": self.error,
            "local_node_id": self.local_node_id,
            "transport": self.transport,
            "links": [link.to_dict() for link in self.links],
            "connected": {str(n): self.connected(n) for n in self.node_ids},
        }


LINKS_NOT_RUNNING = LinkStatus(running=False)
"""The state for a node where corosync is not running."""
