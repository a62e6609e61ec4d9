"""Parse DRBD 9 outputs: ``drbdsetup status --json``, ``drbdadm status``, events2, kernel log.

Sources (LINBIT/drbd-utils ``user/v9/drbdsetup.c``, ``user/v9/drbdsetup_events2.c``,
``user/shared/wrap_printf.c``; LINBIT/drbd ``drbd_polymorph_printk.h``) and the quirks handled
here are described in ``tests/core/fixtures/drbd/README.md`` and the shared formats reference.
All parsers are pure, accept ``bytes`` or ``str`` and raise :class:`ParseError` naming the
command on malformed input; they never loop on their input, so garbage cannot hang them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import math
import re
from typing import TYPE_CHECKING, Any

from .._enum import parse_enum
from ..errors import ParseError
from ..models.drbd import (
    RESYNC_STATES,
    ConnectionState,
    DiskState,
    DrbdConnection,
    DrbdPeerVolume,
    DrbdResource,
    DrbdRole,
    DrbdStatus,
    DrbdVolume,
    Events2Event,
    KernelLogLine,
    ReplicationState,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

STATUS_JSON = "drbdsetup status --json"
STATUS_TEXT = "drbdadm status"
EVENTS2 = "drbdsetup events2"
KERNEL_LOG = "kernel log"

ETA_UNKNOWN = 987654321
"""``estimated-seconds-to-finish`` when drbdsetup cannot estimate."""

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_SUSPEND_REASONS = (
    ("suspended-user", "user"),
    ("suspended-no-data", "no-data"),
    ("suspended-fencing", "fencing"),
    ("suspended-quorum", "quorum"),
)


def _text(data: bytes | str) -> str:
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    return _ANSI_RE.sub("", data)


def _sync_percent(
    replication: ReplicationState, done: float | None, fallback: float | None = None
) -> float | None:
    """The resync progress, only while a resync runs (or is paused)."""
    if replication not in RESYNC_STATES:
        return None
    return done if done is not None else fallback


def _eta(value: float | None) -> int | None:
    if value is None or math.isnan(value) or value < 0 or int(value) == ETA_UNKNOWN:
        return None
    return round(value)


# ------------------------------------------------------------------ status --json ------


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParseError(f"{what} is not an object", command=STATUS_JSON)
    return value


def _list(obj: Mapping[str, Any], key: str) -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise ParseError(f"{key!r} is not a list", command=STATUS_JSON)
    return value


def _opt_int(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParseError(f"{key!r} is not a number: {value!r}", command=STATUS_JSON)
    return int(value)


def _req_int(obj: Mapping[str, Any], key: str) -> int:
    value = _opt_int(obj, key)
    if value is None:
        raise ParseError(f"missing {key!r}", command=STATUS_JSON)
    return value


def _opt_float(obj: Mapping[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParseError(f"{key!r} is not a number: {value!r}", command=STATUS_JSON)
    return float(value)


def _opt_bool(obj: Mapping[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ParseError(f"{key!r} is not a boolean: {value!r}", command=STATUS_JSON)
    return value


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ParseError(f"{key!r} is not a string: {value!r}", command=STATUS_JSON)
    return value


def _req_str(obj: Mapping[str, Any], key: str) -> str:
    value = _opt_str(obj, key)
    if value is None:
        raise ParseError(f"missing {key!r}", command=STATUS_JSON)
    return value


def parse_drbd_status_json(data: bytes | str) -> DrbdStatus:
    """Parse ``drbdsetup status --json`` (drbd-utils 9.0 to 9.33).

    Unknown keys are ignored and keys that older utils lack (``quorum``, ``open``,
    ``suspended-*``, ``percent-in-sync``, the resync details, ``paths``...) are optional.
    """
    text = _text(data)
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise ParseError(f"invalid JSON: {err}", command=STATUS_JSON) from err
    if not isinstance(parsed, list):
        raise ParseError("top level is not a list", command=STATUS_JSON)
    resources = [_json_resource(_obj(item, "resource")) for item in parsed]
    return DrbdStatus(resources=tuple(sorted(resources, key=lambda r: r.name)))


def _json_resource(obj: Mapping[str, Any]) -> DrbdResource:
    node_id = _opt_int(obj, "node-id")
    reasons = tuple(reason for key, reason in _SUSPEND_REASONS if _opt_bool(obj, key))
    suspended = bool(_opt_bool(obj, "suspended")) or bool(reasons)
    volumes = tuple(_json_volume(_obj(d, "device")) for d in _list(obj, "devices"))
    connections = tuple(_json_connection(_obj(c, "connection")) for c in _list(obj, "connections"))
    return DrbdResource(
        name=_req_str(obj, "name"),
        node_id=node_id if node_id is not None and node_id >= 0 else None,
        role=parse_enum(DrbdRole, _opt_str(obj, "role")),
        suspended=suspended,
        suspended_reasons=reasons,
        force_io_failures=bool(_opt_bool(obj, "force-io-failures")),
        volumes=tuple(sorted(volumes, key=lambda v: v.volume)),
        connections=tuple(sorted(connections, key=lambda c: c.name)),
    )


def _json_volume(obj: Mapping[str, Any]) -> DrbdVolume:
    quorum = _opt_bool(obj, "quorum")
    return DrbdVolume(
        volume=_req_int(obj, "volume"),
        minor=_opt_int(obj, "minor"),
        disk_state=parse_enum(DiskState, _opt_str(obj, "disk-state")),
        client=bool(_opt_bool(obj, "client")),
        quorum=True if quorum is None else quorum,
        open=_opt_bool(obj, "open"),
        size_kib=_opt_int(obj, "size"),
    )


def _json_connection(obj: Mapping[str, Any]) -> DrbdConnection:
    peer_node_id = _opt_int(obj, "peer-node-id")
    volumes = tuple(_json_peer_volume(_obj(p, "peer device")) for p in _list(obj, "peer_devices"))
    return DrbdConnection(
        name=_req_str(obj, "name"),
        peer_node_id=peer_node_id,
        connection_state=parse_enum(ConnectionState, _opt_str(obj, "connection-state")),
        peer_role=parse_enum(DrbdRole, _opt_str(obj, "peer-role")),
        volumes=tuple(sorted(volumes, key=lambda v: v.volume)),
    )


def _json_peer_volume(obj: Mapping[str, Any]) -> DrbdPeerVolume:
    replication = parse_enum(ReplicationState, _opt_str(obj, "replication-state"))
    percent_in_sync = _opt_float(obj, "percent-in-sync")
    return DrbdPeerVolume(
        volume=_req_int(obj, "volume"),
        replication_state=replication,
        peer_disk_state=parse_enum(DiskState, _opt_str(obj, "peer-disk-state")),
        peer_client=bool(_opt_bool(obj, "peer-client")),
        resync_suspended=_opt_str(obj, "resync-suspended") or "no",
        out_of_sync_kib=_opt_int(obj, "out-of-sync"),
        percent_in_sync=percent_in_sync,
        sync_percent=_sync_percent(
            replication, _opt_float(obj, "percent-resync-done"), percent_in_sync
        ),
        eta_seconds=_eta(_opt_float(obj, "estimated-seconds-to-finish"))
        if replication in RESYNC_STATES
        else None,
    )


# --------------------------------------------------------------------- status text ------


@dataclass(kw_only=True, slots=True)
class _Item:
    kind: str  # resource | device | connection | peer
    name: str = ""
    fields: dict[str, str] = field(default_factory=dict)


def _tokens(line: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for token in line.split():
        key, sep, value = token.partition(":")
        if not sep or not key:
            raise ParseError(f"expected key:value, got {token!r}", command=STATUS_TEXT)
        pairs.append((key, value))
    return pairs


def _yes_no(value: str | None, *, default: bool) -> bool:
    if value is None:
        return default
    return value == "yes"


def _float_or_none(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _suspended(value: str | None) -> tuple[bool, tuple[str, ...]]:
    if value is None or value == "no":
        return False, ()
    return True, tuple(value.split(","))


def parse_drbd_status_text(data: bytes | str) -> DrbdStatus:
    """Parse ``drbdadm status`` / ``drbdsetup status`` text (no tty, wrapped at 80 columns).

    Defaults for what the text omits: no ``connection:`` means Connected; no ``replication:``
    on a connected peer means Established; a peer that is not connected has role Unknown and,
    without peer lines, peer disk DUnknown and replication Off; no ``quorum:`` means quorum.
    """
    groups: list[list[_Item]] = []
    items: list[_Item] = []
    for raw in _text(data).splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        if not raw[0].isspace():
            name, _, rest = raw.partition(" ")
            if ":" in name:
                raise ParseError(f"resource line expected, got {raw!r}", command=STATUS_TEXT)
            items = [_Item(kind="resource", name=name, fields=dict(_tokens(rest)))]
            groups.append(items)
            continue
        if not items:
            raise ParseError(f"indented line before a resource: {raw!r}", command=STATUS_TEXT)
        first = raw.split()[0]
        if ":" not in first:
            _, _, rest = raw.strip().partition(" ")
            items.append(_Item(kind="connection", name=first, fields=dict(_tokens(rest))))
            continue
        pairs = _tokens(raw)
        key = pairs[0][0]
        has_connection = any(i.kind == "connection" for i in items)
        if key == "node-id" and items[-1].kind != "resource":
            items.append(_Item(kind="connection", name=f"node-{pairs[0][1]}", fields=dict(pairs)))
        elif key == "disk" or (key == "volume" and not has_connection):
            items.append(_Item(kind="device", fields=dict(pairs)))
        elif key in ("volume", "peer-disk", "replication"):
            items.append(_Item(kind="peer", fields=dict(pairs)))
        else:
            items[-1].fields.update(pairs)
    return DrbdStatus(
        resources=tuple(sorted((_text_resource(g) for g in groups), key=lambda r: r.name))
    )


def _text_resource(items: list[_Item]) -> DrbdResource:
    head = items[0]
    if "role" not in head.fields:
        raise ParseError(f"resource {head.name!r} without role:", command=STATUS_TEXT)
    suspended, reasons = _suspended(head.fields.get("suspended"))
    volumes: list[DrbdVolume] = []
    connections: list[tuple[_Item, list[_Item]]] = []
    for item in items[1:]:
        if item.kind == "device":
            volumes.append(_text_volume(item))
        elif item.kind == "connection":
            connections.append((item, []))
        elif connections:
            connections[-1][1].append(item)
        else:
            raise ParseError("peer line before any connection", command=STATUS_TEXT)
    return DrbdResource(
        name=head.name,
        node_id=_int_or_none(head.fields.get("node-id")),
        role=parse_enum(DrbdRole, head.fields["role"]),
        suspended=suspended,
        suspended_reasons=reasons,
        force_io_failures=head.fields.get("force-io-failures") == "yes",
        volumes=tuple(sorted(volumes, key=lambda v: v.volume)),
        connections=tuple(
            sorted((_text_connection(c, peers) for c, peers in connections), key=lambda c: c.name)
        ),
    )


def _text_volume(item: _Item) -> DrbdVolume:
    f = item.fields
    if "disk" not in f:
        raise ParseError("device line without disk:", command=STATUS_TEXT)
    open_value = f.get("open")
    return DrbdVolume(
        volume=_int_or_none(f.get("volume")) or 0,
        minor=_int_or_none(f.get("minor")),
        disk_state=parse_enum(DiskState, f["disk"]),
        client=_yes_no(f.get("client"), default=False),
        quorum=_yes_no(f.get("quorum"), default=True),
        open=None if open_value in (None, "unknown") else open_value == "yes",
        size_kib=_int_or_none(f.get("size")),
    )


def _text_connection(item: _Item, peers: list[_Item]) -> DrbdConnection:
    state = parse_enum(ConnectionState, item.fields.get("connection", "Connected"))
    role = item.fields.get("role")
    return DrbdConnection(
        name=item.name,
        peer_node_id=_int_or_none(item.fields.get("node-id")),
        connection_state=state,
        peer_role=parse_enum(DrbdRole, role) if role is not None else DrbdRole.DRBD_UNKNOWN,
        volumes=tuple(sorted((_text_peer(p) for p in peers), key=lambda v: v.volume)),
    )


def _text_peer(item: _Item) -> DrbdPeerVolume:
    f = item.fields
    if "peer-disk" in f:
        replication = parse_enum(ReplicationState, f.get("replication", "Established"))
        peer_disk = parse_enum(DiskState, f["peer-disk"])
    else:
        replication = parse_enum(ReplicationState, f.get("replication", "Off"))
        peer_disk = DiskState.DUNKNOWN
    return DrbdPeerVolume(
        volume=_int_or_none(f.get("volume")) or 0,
        replication_state=replication,
        peer_disk_state=peer_disk,
        peer_client=_yes_no(f.get("peer-client"), default=False),
        resync_suspended=f.get("resync-suspended", "no"),
        out_of_sync_kib=_int_or_none(f.get("out-of-sync")),
        sync_percent=_sync_percent(replication, _float_or_none(f.get("done"))),
        eta_seconds=_eta(_float_or_none(f.get("eta"))) if replication in RESYNC_STATES else None,
    )


def parse_drbd_status(data: bytes | str) -> DrbdStatus:
    """Parse either ``drbdsetup status --json`` or the text form, whichever ``data`` is."""
    text = _text(data)
    if text.lstrip().startswith("["):
        return parse_drbd_status_json(text)
    return parse_drbd_status_text(text)


# ------------------------------------------------------------------------ events2 ------

_TIMESTAMP_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+[+-]\d{2}:\d{2}) ")
_WORD_RE = re.compile(r"^[a-z][a-z0-9-]*$")


def _parse_event_line(line: str) -> Events2Event:
    timestamp: str | None = None
    if match := _TIMESTAMP_RE.match(line):
        timestamp = match.group(1)
        line = line[match.end() :]
    parts = line.split()
    if len(parts) < 2 or not _WORD_RE.match(parts[0]):
        raise ParseError(f"not an events2 line: {line!r}", command=EVENTS2)
    verb, obj = parts[0], parts[1]
    if obj != "-" and not _WORD_RE.match(obj):
        raise ParseError(f"not an events2 line: {line!r}", command=EVENTS2)
    fields: dict[str, str] = {}
    for token in parts[2:]:
        key, sep, value = token.partition(":")
        if not sep or not key:
            raise ParseError(f"expected key:value, got {token!r}", command=EVENTS2)
        fields[key] = value
    if obj != "-" and not fields.get("name"):
        raise ParseError(f"event without name: {line!r}", command=EVENTS2)
    return Events2Event(verb=verb, object=obj, fields=fields, timestamp=timestamp)


def parse_events2(data: bytes | str) -> tuple[Events2Event, ...]:
    """Parse ``drbdsetup events2`` output: the ``--now`` snapshot or the stream.

    Handles ``--timestamps``, ``--statistics``, ``--diff`` values (kept as ``old->new``; see
    :meth:`Events2Event.value`) and ``call``/``response helper`` lines. A last line cut off
    without its newline (a stream captured with a timeout) is dropped if it does not parse.
    """
    text = _text(data)
    lines = text.split("\n")
    events: list[Events2Event] = []
    for index, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        try:
            events.append(_parse_event_line(line))
        except ParseError:
            if index == len(lines) - 1:  # truncated last line (no trailing newline)
                break
            raise
    return tuple(events)


@dataclass(kw_only=True, slots=True)
class _ConnState:
    fields: dict[str, str] = field(default_factory=dict)
    peers: dict[int, dict[str, str]] = field(default_factory=dict)


@dataclass(kw_only=True, slots=True)
class _ResState:
    fields: dict[str, str] = field(default_factory=dict)
    devices: dict[int, dict[str, str]] = field(default_factory=dict)
    connections: dict[str, _ConnState] = field(default_factory=dict)


def _merge(target: dict[str, str], event: Events2Event) -> None:
    """Take the event's fields (the new value of ``--diff`` ``old->new`` pairs)."""
    target.update({key: value.rpartition("->")[2] for key, value in event.fields.items()})


def apply_events2(events: Iterable[Events2Event]) -> DrbdStatus:
    """Build the current :class:`DrbdStatus` from events2 lines (snapshot plus any changes).

    ``exists``/``create`` add objects, ``change`` updates the fields it names, ``destroy``
    removes objects, ``rename`` renames a resource; helper calls and paths are ignored here
    (see :mod:`hacluster.split_brain` for the helpers).
    """
    state: dict[str, _ResState] = {}
    for event in events:
        name = event.resource
        if name is None or event.object in ("helper", "path", "-"):
            continue
        if event.verb == "rename" and event.object == "resource":
            new_name = event.fields.get("new_name")
            if new_name and name in state:
                state[new_name] = state.pop(name)
            continue
        if event.verb not in ("exists", "create", "change", "destroy"):
            continue
        destroy = event.verb == "destroy"
        if event.object == "resource":
            if destroy:
                state.pop(name, None)
            else:
                _merge(state.setdefault(name, _ResState()).fields, event)
            continue
        res = state.get(name)
        if res is None:
            continue
        _apply_to_resource(res, event, destroy=destroy)
    return DrbdStatus(resources=tuple(_events_resource(n, s) for n, s in sorted(state.items())))


def _apply_to_resource(res: _ResState, event: Events2Event, *, destroy: bool) -> None:
    volume = event.volume
    peer = event.peer
    if event.object == "device" and volume is not None:
        if destroy:
            res.devices.pop(volume, None)
        else:
            _merge(res.devices.setdefault(volume, {}), event)
    elif event.object == "connection" and peer is not None:
        if destroy:
            res.connections.pop(peer, None)
        else:
            _merge(res.connections.setdefault(peer, _ConnState()).fields, event)
    elif event.object == "peer-device" and peer is not None and volume is not None:
        conn = res.connections.get(peer)
        if conn is None:
            return
        if destroy:
            conn.peers.pop(volume, None)
            return
        fields = conn.peers.setdefault(volume, {})
        if "replication" in event.fields and "done" not in event.fields:
            fields.pop("done", None)
            fields.pop("eta", None)
        _merge(fields, event)


def _events_resource(name: str, res: _ResState) -> DrbdResource:
    f = res.fields
    suspended, reasons = _suspended(f.get("suspended"))
    volumes = [
        DrbdVolume(
            volume=volume,
            minor=_int_or_none(d.get("minor")),
            disk_state=parse_enum(DiskState, d.get("disk")),
            client=d.get("client") == "yes",
            quorum=d.get("quorum", "yes") == "yes",
            open=None if d.get("open") in (None, "unknown") else d.get("open") == "yes",
            size_kib=_int_or_none(d.get("size")),
        )
        for volume, d in sorted(res.devices.items())
    ]
    connections = []
    for peer, conn in sorted(res.connections.items()):
        peer_volumes = []
        for volume, p in sorted(conn.peers.items()):
            replication = parse_enum(ReplicationState, p.get("replication"))
            peer_volumes.append(
                DrbdPeerVolume(
                    volume=volume,
                    replication_state=replication,
                    peer_disk_state=parse_enum(DiskState, p.get("peer-disk")),
                    peer_client=p.get("peer-client") == "yes",
                    resync_suspended=p.get("resync-suspended", "no"),
                    out_of_sync_kib=_int_or_none(p.get("out-of-sync")),
                    sync_percent=_sync_percent(replication, _float_or_none(p.get("done"))),
                    eta_seconds=_eta(_float_or_none(p.get("eta")))
                    if replication in RESYNC_STATES
                    else None,
                )
            )
        connections.append(
            DrbdConnection(
                name=peer,
                peer_node_id=_int_or_none(conn.fields.get("peer-node-id")),
                connection_state=parse_enum(ConnectionState, conn.fields.get("connection")),
                peer_role=parse_enum(DrbdRole, conn.fields.get("role")),
                volumes=tuple(peer_volumes),
            )
        )
    return DrbdResource(
        name=name,
        role=parse_enum(DrbdRole, f.get("role")),
        suspended=suspended,
        suspended_reasons=reasons,
        force_io_failures=f.get("force-io-failures") == "yes",
        volumes=tuple(volumes),
        connections=tuple(connections),
    )


# --------------------------------------------------------------------- kernel log ------

# journalctl -k (-o short, short-iso, short-precise...) and syslog: "<time> <host> kernel: msg"
_JOURNAL_RE = re.compile(r"^(?P<ts>\S+(?: +\S+){0,2}) \S+ kernel: (?P<msg>.*)$")
# dmesg, dmesg -T, syslog with kernel time: "[ 5718.349134] msg", "[Sat Nov 28 ...] msg"
_BRACKET_RE = re.compile(r"^\[(?P<ts>[^\]]*)\](?P<msg>.*)$")
# dmesg --time-format iso: "2026-11-28T14:53:40,349134+01:00 msg"
_ISO_RE = re.compile(r"^(?P<ts>\d{4}-\d{2}-\d{2}T[0-9:.,]+(?:[+-]\d{2}:?\d{2}|Z)?) (?P<msg>.*)$")
# dmesg -x: "kern  :info  : msg"
_FACILITY_RE = re.compile(r"^[a-z]+\s*:[a-z]+\s*: ")
_CALLER_RE = re.compile(r"^\s*\[\s*[TC]\d+\]")
_DRBD_RE = re.compile(
    r"^drbd (?:/unregistered/)?(?P<res>[^\s/:]+)"
    r"(?:/(?P<vol>\d+) drbd(?P<minor>\d+))?"
    r"(?: (?P<peer>[^\s:]+))?: (?P<text>.*)$"
)


def _split_kernel_line(line: str) -> tuple[str | None, str]:
    timestamp: str | None = None
    line = _FACILITY_RE.sub("", line)
    if match := _BRACKET_RE.match(line):
        timestamp = match.group("ts").strip()
        line = match.group("msg")
    elif match := _JOURNAL_RE.match(line):
        timestamp = match.group("ts")
        line = match.group("msg")
        if match := _BRACKET_RE.match(line):  # syslog lines that carry the kernel time too
            line = match.group("msg")
    elif match := _ISO_RE.match(line):
        timestamp = match.group("ts")
        line = match.group("msg")
    line = _CALLER_RE.sub("", line)
    return timestamp, line.strip()


def parse_kernel_log(data: bytes | str) -> tuple[KernelLogLine, ...]:
    """Return the DRBD 9 lines of a kernel log, in input order.

    Accepts ``dmesg`` (plain, ``-T``, ``--time-format iso``, ``-x``), ``journalctl -k`` in its
    short formats and syslog files. Lines that are not DRBD resource messages are skipped.
    """
    lines: list[KernelLogLine] = []
    for seq, raw in enumerate(_text(data).splitlines()):
        timestamp, message = _split_kernel_line(raw.strip())
        match = _DRBD_RE.match(message)
        if match is None:
            continue
        volume = match.group("vol")
        minor = match.group("minor")
        lines.append(
            KernelLogLine(
                seq=seq,
                timestamp=timestamp,
                text=match.group("text"),
                resource=match.group("res"),
                peer=match.group("peer"),
                volume=int(volume) if volume is not None else None,
                minor=int(minor) if minor is not None else None,
            )
        )
    return tuple(lines)


__all__ = [
    "EVENTS2",
    "KERNEL_LOG",
    "STATUS_JSON",
    "STATUS_TEXT",
    "apply_events2",
    "parse_drbd_status",
    "parse_drbd_status_json",
    "parse_drbd_status_text",
    "parse_events2",
    "parse_kernel_log",
]
