"""The DRBD split-brain verdict: pure functions over parsed status, events2 and kernel log.

A StandAlone connection alone proves nothing (``drbdadm disconnect`` gives it too), and after
a split brain the second node may show only ``Connecting``. So the verdict combines the
connection state with what DRBD itself reported, and with what the peers report.

Per node (:func:`analyze_split_brain`), a resource's verdict is **true** when, for some peer,
at least one of these was seen and has not been cleared since:

1. the events2 stream line ``call helper ... helper:split-brain`` (the kernel calls this helper
   only when a split brain is detected and not resolved; ``initial-split-brain`` alone does not
   count, the kernel calls it for every detection, also for one it then resolves);
2. the kernel log line ``Split-Brain detected but unresolved, dropping connection!``;
3. an events2 connection line with ``sync-state:SplitBrain`` (newer drbd-utils print it for a
   StandAlone connection whose handshake found a split brain).

Each source is read in order; a later reconnection clears the evidence for that peer: an
events2 ``connection:Connected`` line, a kernel ``conn( ... -> Connected )`` line, or a current
status in which the connection to that peer is ``Connected``.

Verdict **false**, with an explanation in the evidence list, for:

* a StandAlone connection without such evidence: ``"StandAlone, cause unknown"``;
* ``Split-Brain detected, N primaries, automatically solved`` and ``Split-Brain detected,
  manually solved`` kernel lines (DRBD resolved it and resyncs): quoted as evidence, not counted.

Across nodes (:func:`cluster_split_brain`), a resource's verdict is **true** when any node's own
verdict is true (the evidence is prefixed with the node name), or when two nodes are both
Primary while their connection is not Connected (diverged data, even if neither node saw the
handshake yet). ``peers`` then names the nodes involved.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import combinations
import re
from typing import TYPE_CHECKING

from .models.drbd import (
    ConnectionState,
    DrbdResource,
    DrbdRole,
    DrbdStatus,
    Events2Event,
    KernelLogLine,
    SplitBrainVerdict,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

STANDALONE_UNKNOWN = "StandAlone, cause unknown"
"""Evidence text for a StandAlone connection without split-brain evidence."""

UNRESOLVED_TEXT = "Split-Brain detected but unresolved, dropping connection!"
_RESOLVED_RE = re.compile(r"^Split-Brain detected, .*solved\b")
_KERNEL_CONNECTED_RE = re.compile(r"\bconn\( \S+ -> Connected \)")

_ANY_PEER = ""
"""Key for evidence that names no peer (applies to every connection of the resource)."""


@dataclass(kw_only=True, slots=True)
class _Marks:
    """Active (uncleared) evidence per peer, and notes that never count."""

    active: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def mark(self, peer: str | None, text: str) -> None:
        self.active.setdefault(peer or _ANY_PEER, []).append(text)

    def clear(self, peer: str | None) -> None:
        self.active.pop(peer or _ANY_PEER, None)
        self.active.pop(_ANY_PEER, None)


def _where(peer: str | None, volume: int | None) -> str:
    parts = []
    if peer:
        parts.append(f"peer {peer}")
    if volume is not None:
        parts.append(f"volume {volume}")
    return f" ({', '.join(parts)})" if parts else ""


def _read_events(marks: _Marks, resource: str, events: Sequence[Events2Event]) -> None:
    for event in events:
        if event.resource != resource:
            continue
        if event.object == "helper" and event.verb == "call":
            if event.fields.get("helper") == "split-brain":
                marks.mark(
                    event.peer,
                    f"events2: call helper split-brain{_where(event.peer, event.volume)}",
                )
        elif event.object == "connection":
            if event.value("connection") == "Connected":
                marks.clear(event.peer)
            elif event.value("sync-state") == "SplitBrain":
                where = _where(event.peer, None)
                marks.mark(
                    event.peer, f"events2: connection StandAlone sync-state:SplitBrain{where}"
                )


def _read_kernel(marks: _Marks, resource: str, lines: Sequence[KernelLogLine]) -> None:
    for line in lines:
        if line.resource != resource:
            continue
        where = f" ({line.peer})" if line.peer else _where(None, line.volume)
        if line.text.startswith(UNRESOLVED_TEXT):
            marks.mark(line.peer, f"kernel: {UNRESOLVED_TEXT}{where}")
        elif _RESOLVED_RE.match(line.text):
            marks.notes.append(f"kernel: {line.text.strip()}{where}")
        elif line.peer and _KERNEL_CONNECTED_RE.search(line.text):
            marks.clear(line.peer)


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def resource_verdict(
    resource: DrbdResource,
    *,
    events: Sequence[Events2Event] = (),
    kernel_log: Sequence[KernelLogLine] = (),
) -> SplitBrainVerdict:
    """Return the split-brain verdict for one resource (see the module docstring)."""
    from_events = _Marks()
    _read_events(from_events, resource.name, events)
    from_kernel = _Marks()
    _read_kernel(from_kernel, resource.name, kernel_log)

    connected = {c.name for c in resource.connections if c.connected}
    all_connected = bool(resource.connections) and len(connected) == len(resource.connections)
    evidence: list[str] = []
    peers: list[str] = []
    for marks in (from_events, from_kernel):
        for peer, texts in marks.active.items():
            if (peer and peer in connected) or (peer == _ANY_PEER and all_connected):
                continue
            evidence.extend(texts)
            if peer:
                peers.append(peer)
    notes = from_events.notes + from_kernel.notes
    if evidence:
        return SplitBrainVerdict(
            split_brain=True, evidence=_unique(evidence + notes), peers=_unique(peers)
        )
    standalone = [
        c.name for c in resource.connections if c.connection_state is ConnectionState.STANDALONE
    ]
    if standalone:
        notes.append(STANDALONE_UNKNOWN)
    return SplitBrainVerdict(split_brain=False, evidence=_unique(notes), peers=tuple(standalone))


def analyze_split_brain(
    status: DrbdStatus,
    *,
    events: Sequence[Events2Event] = (),
    kernel_log: Sequence[KernelLogLine] = (),
) -> DrbdStatus:
    """Return a copy of ``status`` with every resource's ``split_brain`` verdict filled in."""
    return replace(
        status,
        resources=tuple(
            r.with_split_brain(resource_verdict(r, events=events, kernel_log=kernel_log))
            for r in status.resources
        ),
    )


def _pair_connected(a: DrbdResource, b: DrbdResource, node_a: str, node_b: str) -> bool:
    """Whether two nodes' views of a resource show them connected to each other."""
    known = [c for c in (a.connection(node_b), b.connection(node_a)) if c is not None]
    if known:
        return any(c.connected for c in known)
    # Connection names differ from the node names we were given: accept a Connected peer
    # that is Primary on either side as the other node (dual-primary, e.g. live migration).
    return any(
        c.connected and c.peer_role is DrbdRole.PRIMARY for c in (*a.connections, *b.connections)
    )


def cluster_split_brain(per_node: Mapping[str, DrbdStatus]) -> dict[str, SplitBrainVerdict]:
    """Combine the nodes' views into one verdict per resource name (see the module docstring).

    ``per_node`` maps a node name to that node's status (already passed through
    :func:`analyze_split_brain`, so that each resource carries the node's own verdict).
    """
    names = sorted({r.name for status in per_node.values() for r in status.resources})
    verdicts: dict[str, SplitBrainVerdict] = {}
    for name in names:
        views: dict[str, DrbdResource] = {}
        for node in sorted(per_node):
            resource = per_node[node].resource(name)
            if resource is not None:
                views[node] = resource
        evidence: list[str] = []
        notes: list[str] = []
        involved: list[str] = []
        for node, resource in views.items():
            own = resource.split_brain
            if own.split_brain:
                evidence.extend(f"{node}: {text}" for text in own.evidence)
                involved.append(node)
                involved.extend(own.peers)
            else:
                notes.extend(f"{node}: {text}" for text in own.evidence)
        primaries = [n for n, r in views.items() if r.role is DrbdRole.PRIMARY]
        for node_a, node_b in combinations(primaries, 2):
            if not _pair_connected(views[node_a], views[node_b], node_a, node_b):
                evidence.append(
                    f"{node_a} and {node_b} are both Primary while not Connected (diverged data)"
                )
                involved.extend((node_a, node_b))
        if evidence:
            notes = [n for n in notes if not n.endswith(STANDALONE_UNKNOWN)]
            verdicts[name] = SplitBrainVerdict(
                split_brain=True,
                evidence=_unique(evidence + notes),
                peers=_unique(sorted(involved)),
            )
        else:
            verdicts[name] = SplitBrainVerdict(
                split_brain=False,
                evidence=_unique(notes),
                peers=_unique(sorted(n for n, r in views.items() if r.split_brain.evidence)),
            )
    return verdicts


__all__ = [
    "STANDALONE_UNKNOWN",
    "analyze_split_brain",
    "cluster_split_brain",
    "resource_verdict",
]
