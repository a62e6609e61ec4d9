"""DRBD 9 state: resources, volumes, peers, events2 events, kernel log lines.

States are spelled exactly as DRBD prints them (``UpToDate``, ``DUnknown``, ``SyncTarget``...).
Every enum also has ``UNKNOWN = "unknown"`` for values this code does not know (a newer DRBD),
which :func:`hacluster._enum.parse_enum` maps to and logs once. DRBD's own role ``Unknown``
(a peer that is not connected) is the separate member :attr:`DrbdRole.DRBD_UNKNOWN`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


class DrbdRole(StrEnum):
    """Role of a resource, or of a peer as seen over a connection."""

    PRIMARY = "Primary"
    SECONDARY = "Secondary"
    DRBD_UNKNOWN = "Unknown"
    """DRBD's own value: the peer's role is not known (not connected)."""
    UNKNOWN = "unknown"
    """A value this code does not know."""


class DiskState(StrEnum):
    """Local disk state of a volume, or the peer's disk state."""

    DISKLESS = "Diskless"
    ATTACHING = "Attaching"
    DETACHING = "Detaching"
    FAILED = "Failed"
    NEGOTIATING = "Negotiating"
    INCONSISTENT = "Inconsistent"
    OUTDATED = "Outdated"
    DUNKNOWN = "DUnknown"
    CONSISTENT = "Consistent"
    UP_TO_DATE = "UpToDate"
    UNKNOWN = "unknown"


class ConnectionState(StrEnum):
    """State of the connection to one peer."""

    STANDALONE = "StandAlone"
    DISCONNECTING = "Disconnecting"
    UNCONNECTED = "Unconnected"
    TIMEOUT = "Timeout"
    BROKEN_PIPE = "BrokenPipe"
    NETWORK_FAILURE = "NetworkFailure"
    PROTOCOL_ERROR = "ProtocolError"
    TEAR_DOWN = "TearDown"
    CONNECTING = "Connecting"
    CONNECTED = "Connected"
    UNKNOWN = "unknown"


class ReplicationState(StrEnum):
    """Replication state of one volume towards one peer."""

    OFF = "Off"
    ESTABLISHED = "Established"
    STARTING_SYNC_S = "StartingSyncS"
    STARTING_SYNC_T = "StartingSyncT"
    WF_BITMAP_S = "WFBitMapS"
    WF_BITMAP_T = "WFBitMapT"
    WF_SYNC_UUID = "WFSyncUUID"
    SYNC_SOURCE = "SyncSource"
    SYNC_TARGET = "SyncTarget"
    VERIFY_S = "VerifyS"
    VERIFY_T = "VerifyT"
    PAUSED_SYNC_S = "PausedSyncS"
    PAUSED_SYNC_T = "PausedSyncT"
    AHEAD = "Ahead"
    BEHIND = "Behind"
    UNKNOWN = "unknown"


RESYNC_STATES = frozenset(
    {
        ReplicationState.SYNC_SOURCE,
        ReplicationState.SYNC_TARGET,
        ReplicationState.PAUSED_SYNC_S,
        ReplicationState.PAUSED_SYNC_T,
    }
)
"""Replication states during which ``sync_percent`` (the resync progress) is reported."""

# Worst first. The documented order is Failed, Diskless, Inconsistent, Outdated, DUnknown,
# Consistent, UpToDate; the transitional states sit next to the state they lead to or from, and
# a value we cannot parse ranks right after Failed so that it is never hidden behind a good one.
_DISK_SEVERITY: dict[DiskState, int] = {
    DiskState.FAILED: 0,
    DiskState.UNKNOWN: 1,
    DiskState.DETACHING: 2,
    DiskState.DISKLESS: 3,
    DiskState.ATTACHING: 4,
    DiskState.NEGOTIATING: 5,
    DiskState.INCONSISTENT: 6,
    DiskState.OUTDATED: 7,
    DiskState.DUNKNOWN: 8,
    DiskState.CONSISTENT: 9,
    DiskState.UP_TO_DATE: 10,
}

# Which replication state "matters" when volumes differ: a running or pending resync first,
# then Ahead/Behind, then Off, and Established last.
_REPLICATION_PRIORITY: dict[ReplicationState, int] = {
    ReplicationState.UNKNOWN: 0,
    ReplicationState.SYNC_TARGET: 1,
    ReplicationState.SYNC_SOURCE: 2,
    ReplicationState.PAUSED_SYNC_T: 3,
    ReplicationState.PAUSED_SYNC_S: 4,
    ReplicationState.STARTING_SYNC_T: 5,
    ReplicationState.STARTING_SYNC_S: 6,
    ReplicationState.WF_BITMAP_T: 7,
    ReplicationState.WF_BITMAP_S: 8,
    ReplicationState.WF_SYNC_UUID: 9,
    ReplicationState.VERIFY_T: 10,
    ReplicationState.VERIFY_S: 11,
    ReplicationState.BEHIND: 12,
    ReplicationState.AHEAD: 13,
    ReplicationState.OFF: 14,
    ReplicationState.ESTABLISHED: 15,
}


def disk_severity(state: DiskState) -> int:
    """Rank a disk state, 0 = worst (see the module notes for the order)."""
    return _DISK_SEVERITY[state]


def worst_disk_state(states: tuple[DiskState, ...], *, default: DiskState) -> DiskState:
    """Return the worst of ``states`` (``default`` when there are none)."""
    if not states:
        return default
    return min(states, key=disk_severity)


def _frozen_mapping(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True, kw_only=True, slots=True)
class SplitBrainVerdict:
    """Whether a resource is in an unresolved split brain, and why we think so.

    ``evidence`` holds human-readable lines (also for a ``False`` verdict, e.g.
    ``"StandAlone, cause unknown"`` or an automatically solved split brain); ``peers`` names the
    peers (or, for a cluster-wide verdict, the nodes) involved.
    """

    split_brain: bool = False
    evidence: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "split_brain": self.split_brain,
            "evidence": list(self.evidence),
            "peers": list(self.peers),
        }


NO_SPLIT_BRAIN = SplitBrainVerdict()
"""The default verdict: no split brain and no evidence."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DrbdVolume:
    """One local volume (device) of a resource."""

    volume: int
    minor: int | None = None
    disk_state: DiskState
    client: bool = False
    """True for an intentionally diskless client (not for a disk that failed)."""
    quorum: bool = True
    open: bool | None = None
    """Whether the device is opened (drbd-utils 9.29+); None when not reported."""
    size_kib: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "volume": self.volume,
            "minor": self.minor,
            "disk_state": str(self.disk_state),
            "client": self.client,
            "quorum": self.quorum,
            "open": self.open,
            "size_kib": self.size_kib,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class DrbdPeerVolume:
    """One volume as replicated to one peer (a DRBD "peer device")."""

    volume: int
    replication_state: ReplicationState
    peer_disk_state: DiskState
    peer_client: bool = False
    resync_suspended: str = "no"
    out_of_sync_kib: int | None = None
    percent_in_sync: float | None = None
    sync_percent: float | None = None
    """Resync progress while the replication state is SyncSource/SyncTarget/PausedSync*."""
    eta_seconds: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "volume": self.volume,
            "replication_state": str(self.replication_state),
            "peer_disk_state": str(self.peer_disk_state),
            "peer_client": self.peer_client,
            "resync_suspended": self.resync_suspended,
            "out_of_sync_kib": self.out_of_sync_kib,
            "percent_in_sync": self.percent_in_sync,
            "sync_percent": self.sync_percent,
            "eta_seconds": self.eta_seconds,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class DrbdConnection:
    """The connection to one peer, with its per-volume replication state."""

    name: str
    peer_node_id: int | None = None
    connection_state: ConnectionState
    peer_role: DrbdRole
    volumes: tuple[DrbdPeerVolume, ...] = ()

    @property
    def connected(self) -> bool:
        """True when the connection state is ``Connected``."""
        return self.connection_state is ConnectionState.CONNECTED

    @property
    def peer_disk_state(self) -> DiskState:
        """The worst peer disk state over all volumes (``DUnknown`` without volumes)."""
        return worst_disk_state(
            tuple(v.peer_disk_state for v in self.volumes), default=DiskState.DUNKNOWN
        )

    @property
    def replication_state(self) -> ReplicationState:
        """The replication state that matters most over all volumes (a resync first)."""
        if not self.volumes:
            return ReplicationState.ESTABLISHED if self.connected else ReplicationState.OFF
        return min(
            (v.replication_state for v in self.volumes), key=_REPLICATION_PRIORITY.__getitem__
        )

    @property
    def sync_percent(self) -> float | None:
        """The resync progress of the volumes in :attr:`replication_state` (the lowest).

        A running resync is reported before a paused one, so that one volume waiting for
        another (``resync-after``) does not hide the progress of the volume that syncs.
        """
        state = self.replication_state
        values = [
            v.sync_percent
            for v in self.volumes
            if v.sync_percent is not None and v.replication_state is state
        ]
        return min(values) if values else None

    @property
    def out_of_sync_kib(self) -> int | None:
        """Out-of-sync KiB summed over volumes; None when no volume reports it."""
        values = [v.out_of_sync_kib for v in self.volumes if v.out_of_sync_kib is not None]
        return sum(values) if values else None

    @property
    def eta_seconds(self) -> int | None:
        """The longest estimated time to finish a resync, else None."""
        values = [v.eta_seconds for v in self.volumes if v.eta_seconds is not None]
        return max(values) if values else None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (the shape of ``hacluster parse drbd-status`` peers)."""
        return {
            "connection_state": str(self.connection_state),
            "peer_role": str(self.peer_role),
            "peer_disk_state": str(self.peer_disk_state),
            "replication_state": str(self.replication_state),
            "sync_percent": self.sync_percent,
            "out_of_sync_kib": self.out_of_sync_kib,
            "eta_seconds": self.eta_seconds,
            "peer_node_id": self.peer_node_id,
            "volumes": [v.to_dict() for v in self.volumes],
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class DrbdResource:
    """One DRBD resource as seen from one node."""

    name: str
    node_id: int | None = None
    role: DrbdRole
    suspended: bool = False
    suspended_reasons: tuple[str, ...] = ()
    """``user``, ``no-data``, ``fencing``, ``quorum`` (as DRBD lists them)."""
    force_io_failures: bool = False
    volumes: tuple[DrbdVolume, ...] = ()
    connections: tuple[DrbdConnection, ...] = ()
    split_brain: SplitBrainVerdict = NO_SPLIT_BRAIN

    @property
    def disk_state(self) -> DiskState:
        """The worst local disk state over all volumes (``Diskless`` without volumes)."""
        return worst_disk_state(
            tuple(v.disk_state for v in self.volumes), default=DiskState.DISKLESS
        )

    @property
    def client(self) -> bool:
        """True when every volume is an intentionally diskless client."""
        return bool(self.volumes) and all(v.client for v in self.volumes)

    @property
    def quorum(self) -> bool:
        """True when every volume has quorum (and for a resource without volumes)."""
        return all(v.quorum for v in self.volumes)

    def connection(self, peer: str) -> DrbdConnection | None:
        """Return the connection to ``peer`` (by connection name), if any."""
        for conn in self.connections:
            if conn.name == peer:
                return conn
        return None

    def with_split_brain(self, verdict: SplitBrainVerdict) -> DrbdResource:
        """Return a copy carrying ``verdict``."""
        return replace(self, split_brain=verdict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (the shape of ``hacluster parse drbd-status``)."""
        return {
            "role": str(self.role),
            "disk_state": str(self.disk_state),
            "client": self.client,
            "quorum": self.quorum,
            "suspended": self.suspended,
            "peers": {c.name: c.to_dict() for c in self.connections},
            "split_brain": self.split_brain.split_brain,
            "split_brain_evidence": list(self.split_brain.evidence),
            "split_brain_peers": list(self.split_brain.peers),
            "node_id": self.node_id,
            "suspended_reasons": list(self.suspended_reasons),
            "force_io_failures": self.force_io_failures,
            "volumes": [v.to_dict() for v in self.volumes],
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class DrbdStatus:
    """All DRBD resources of one node."""

    resources: tuple[DrbdResource, ...] = ()

    def resource(self, name: str) -> DrbdResource | None:
        """Return the resource called ``name``, if any."""
        for res in self.resources:
            if res.name == name:
                return res
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"resources": {NAME: {...}}}`` (see :meth:`DrbdResource.to_dict`)."""
        return {"resources": {r.name: r.to_dict() for r in self.resources}}


@dataclass(frozen=True, kw_only=True, slots=True)
class Events2Event:
    """One line of ``drbdsetup events2``: ``[timestamp] verb object key:value ...``.

    ``verb`` is ``exists``, ``create``, ``change``, ``destroy``, ``call``, ``response`` or
    ``rename``; ``object`` is ``resource``, ``connection``, ``device``, ``peer-device``, ``path``,
    ``helper`` or ``-`` (the ``exists -`` line that ends the initial state). Values are kept as
    printed (``--diff`` values look like ``old->new``).
    """

    verb: str
    object: str
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    timestamp: str | None = None

    def __post_init__(self) -> None:
        """Freeze ``fields`` so the event stays immutable."""
        if not isinstance(self.fields, MappingProxyType):
            object.__setattr__(self, "fields", _frozen_mapping(self.fields))

    @property
    def resource(self) -> str | None:
        """The resource name (``name:``)."""
        return self.fields.get("name")

    @property
    def peer(self) -> str | None:
        """The connection (peer) name (``conn-name:``)."""
        return self.fields.get("conn-name")

    @property
    def volume(self) -> int | None:
        """The volume number, if the event names one."""
        value = self.fields.get("volume")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def is_initial_state_end(self) -> bool:
        """True for the ``exists -`` line."""
        return self.verb == "exists" and self.object == "-"

    def value(self, key: str) -> str | None:
        """Return the current value of ``key`` (the part after ``->`` for ``--diff`` output)."""
        raw = self.fields.get(key)
        if raw is None:
            return None
        return raw.rpartition("->")[2]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "verb": self.verb,
            "object": self.object,
            "fields": dict(self.fields),
            "timestamp": self.timestamp,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class KernelLogLine:
    """A DRBD line from the kernel log (dmesg or journalctl -k).

    The kernel prefixes messages by the object that logs them: ``drbd RES: `` (resource),
    ``drbd RES PEER: `` (connection), ``drbd RES/VOL drbdMINOR: `` (device) and
    ``drbd RES/VOL drbdMINOR PEER: `` (peer device).
    """

    seq: int
    """Position in the input (lines are kept in the order they were read)."""
    timestamp: str | None
    text: str
    resource: str
    peer: str | None = None
    volume: int | None = None
    minor: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "seq": self.seq,
            "timestamp": self.timestamp,
            "text": self.text,
            "resource": self.resource,
            "peer": self.peer,
            "volume": self.volume,
            "minor": self.minor,
        }
