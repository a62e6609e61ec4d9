"""Tests for ``drbdsetup events2`` parsing and for building a status from events."""

from __future__ import annotations

from pathlib import Path

import pytest

from hacluster.errors import ParseError
from hacluster.models.drbd import (
    ConnectionState,
    DiskState,
    DrbdRole,
    Events2Event,
    ReplicationState,
)
from hacluster.parsers.drbd import apply_events2, parse_drbd_status_json, parse_events2

FIXTURES = Path(__file__).parent / "fixtures" / "drbd"
VERSIONS = ("9.22", "9.33")
SNAPSHOTS = ("healthy-primary", "sync-target", "multi-volume", "three-node", "quorum-lost")


def load(name: str) -> bytes:
    """Return a DRBD fixture's bytes."""
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("scenario", SNAPSHOTS)
def test_snapshot_matches_json(version: str, scenario: str) -> None:
    """`events2 --now --statistics` builds the same state as `status --json`."""
    events = parse_events2(load(f"events2-now-statistics-{version}-{scenario}.txt"))
    assert events[-1].is_initial_state_end
    assert all(e.verb == "exists" for e in events)
    assert all(e.timestamp is None for e in events)
    from_events = apply_events2(events)
    from_json = parse_drbd_status_json(load(f"status-json-{version}-{scenario}.json"))
    for ev, js in zip(from_events.resources, from_json.resources, strict=True):
        assert ev.name == js.name
        assert ev.role is js.role
        assert ev.suspended_reasons == js.suspended_reasons
        assert [(v.volume, v.minor, v.disk_state, v.quorum, v.size_kib) for v in ev.volumes] == [
            (v.volume, v.minor, v.disk_state, v.quorum, v.size_kib) for v in js.volumes
        ]
        if version == "9.33":
            assert [v.open for v in ev.volumes] == [v.open for v in js.volumes]
        for ec, jc in zip(ev.connections, js.connections, strict=True):
            assert (ec.name, ec.peer_node_id, ec.connection_state, ec.peer_role) == (
                jc.name,
                jc.peer_node_id,
                jc.connection_state,
                jc.peer_role,
            )
            assert [
                (v.replication_state, v.peer_disk_state, v.out_of_sync_kib, v.sync_percent)
                for v in ec.volumes
            ] == [
                (v.replication_state, v.peer_disk_state, v.out_of_sync_kib, v.sync_percent)
                for v in jc.volumes
            ]


def test_snapshot_order_and_fields() -> None:
    """drbdsetup prints connections and volumes in reverse kernel order; fields are kept."""
    events = parse_events2(load("events2-now-statistics-9.33-multi-volume.txt"))
    assert [(e.object, e.volume) for e in events if e.object == "device"] == [
        ("device", 2),
        ("device", 1),
        ("device", 0),
    ]
    resource = events[0]
    assert resource.object == "resource"
    assert resource.resource == "media"
    assert resource.fields["promotion_score"] == "10101"
    peer = next(e for e in events if e.object == "peer-device" and e.volume == 1)
    assert peer.peer == "ha-0"
    assert peer.fields["done"] == "63.18"
    assert peer.fields["eta"] == "42"
    paused = next(e for e in events if e.object == "peer-device" and e.volume == 2)
    assert paused.fields["eta"] == "nan"
    status = apply_events2(events)
    vol2 = status.resources[0].connections[0].volumes[2]
    assert vol2.eta_seconds is None
    assert vol2.sync_percent == 0.0


def test_stream_with_timestamps_and_helpers() -> None:
    """The split-brain stream: timestamps, helper calls and responses, path lines."""
    events = parse_events2(load("events2-9.22-split-brain.txt"))
    assert events[0].timestamp == "2026-11-28T14:49:02.118634+01:00"
    end = next(i for i, e in enumerate(events) if e.is_initial_state_end)
    assert end == 4
    assert events[end].timestamp == "2026-11-28T14:49:02.118702+01:00"
    helpers = [(e.verb, e.fields["helper"]) for e in events if e.object == "helper"]
    assert helpers == [
        ("call", "initial-split-brain"),
        ("response", "initial-split-brain"),
        ("call", "split-brain"),
        ("response", "split-brain"),
    ]
    call = next(e for e in events if e.object == "helper")
    assert (call.peer, call.volume, call.fields["minor"]) == ("ha-1", 0, "0")
    status = apply_events2(events)
    conn = status.resources[0].connections[0]
    assert conn.connection_state is ConnectionState.STANDALONE
    assert conn.peer_role is DrbdRole.DRBD_UNKNOWN


def test_stream_resync_progress() -> None:
    """A resync stream: progress lines carry only `done:`; the end clears the progress."""
    events = parse_events2(load("events2-9.33-resync.txt"))
    progress = [e.fields["done"] for e in events if "done" in e.fields]
    assert progress == ["0.01", "24.80", "49.63", "74.45", "99.27"]
    in_the_middle = apply_events2(events[:-2])
    conn = in_the_middle.resources[0].connections[0]
    assert conn.replication_state is ReplicationState.SYNC_SOURCE
    assert conn.sync_percent == 99.27
    assert conn.peer_disk_state is DiskState.INCONSISTENT
    done = apply_events2(events).resources[0].connections[0]
    assert done.replication_state is ReplicationState.ESTABLISHED
    assert done.sync_percent is None
    assert done.peer_disk_state is DiskState.UP_TO_DATE
    assert apply_events2(events).resources[0].volumes[0].open is True


def test_diff_values_and_destroy_rename() -> None:
    """`--diff` values (old->new), destroy and rename are applied."""
    text = (
        "exists resource name:r0 role:Secondary suspended:no\n"
        "exists connection name:r0 peer-node-id:1 conn-name:p connection:Connecting role:Unknown\n"
        "exists device name:r0 volume:0 minor:1 disk:UpToDate client:no quorum:yes\n"
        "exists device name:r0 volume:1 minor:2 disk:UpToDate client:no quorum:yes\n"
        "exists peer-device name:r0 peer-node-id:1 conn-name:p volume:0 replication:Off"
        " peer-disk:DUnknown\n"
        "exists peer-device name:r0 peer-node-id:1 conn-name:p volume:1 replication:Off"
        " peer-disk:DUnknown\n"
        "exists -\n"
        "change connection name:r0 peer-node-id:1 conn-name:p connection:Connecting->Connected"
        " role:Unknown->Primary\n"
        "change resource name:r0 role:Secondary->Primary suspended:no->user\n"
        "destroy peer-device name:r0 peer-node-id:1 conn-name:p volume:1\n"
        "destroy device name:r0 volume:1\n"
        "change peer-device name:r0 peer-node-id:1 conn-name:unknown volume:0 replication:Off\n"
        "change device name:r9 volume:0 disk:Failed\n"
        "rename resource name:r0 new_name:r1\n"
        "create resource name:gone role:Secondary\n"
        "destroy resource name:gone\n"
        "call helper name:r1 helper:fence-peer\n"
        "rename resource name:nope new_name:x\n"
        "rename resource name:r1\n"
        "frobnicate resource name:r1 role:Secondary\n"
        "change gizmo name:r1 volume:0\n"
    )
    events = parse_events2(text)
    change = events[7]
    assert change.fields["connection"] == "Connecting->Connected"
    assert change.value("connection") == "Connected"
    assert change.value("missing") is None
    status = apply_events2(events)
    assert [r.name for r in status.resources] == ["r1"]
    res = status.resources[0]
    assert res.role is DrbdRole.PRIMARY
    assert res.suspended_reasons == ("user",)
    assert [v.volume for v in res.volumes] == [0]
    conn = res.connections[0]
    assert conn.connected
    assert conn.peer_role is DrbdRole.PRIMARY
    assert [v.volume for v in conn.volumes] == [0]


def test_destroy_connection() -> None:
    """Destroying a connection removes it with its peer devices."""
    text = (
        "exists resource name:r0 role:Primary suspended:no\n"
        "exists connection name:r0 peer-node-id:1 conn-name:p connection:StandAlone role:Unknown\n"
        "exists -\n"
        "destroy connection name:r0 peer-node-id:1 conn-name:p\n"
    )
    assert apply_events2(parse_events2(text)).resources[0].connections == ()


def test_event_model() -> None:
    """Events2Event fields are frozen and serialisable."""
    event = Events2Event(verb="change", object="device", fields={"name": "r0", "volume": "x"})
    again = Events2Event(verb=event.verb, object=event.object, fields=event.fields)
    assert again.fields is event.fields
    assert event.volume is None
    assert event.peer is None
    assert event.to_dict() == {
        "verb": "change",
        "object": "device",
        "fields": {"name": "r0", "volume": "x"},
        "timestamp": None,
    }
    with pytest.raises(TypeError):
        event.fields["name"] = "r1"  # type: ignore[index]


def test_truncated_last_line_is_dropped() -> None:
    """A stream cut off in the middle of its last line keeps the complete lines."""
    raw = load("events2-9.33-resync.txt")
    complete = parse_events2(raw)
    cut = raw[: raw.rindex(b"peer-device") + 4]
    events = parse_events2(cut)
    assert events == complete[:-1]
    assert events[-1].object == "resource"
    with pytest.raises(ParseError, match="event without name"):
        parse_events2(cut + b"\n")


@pytest.mark.parametrize(
    "text",
    [
        "hello\nexists -\n",
        "Exists resource name:r0\n",
        "exists resource name:r0 garbage\nexists -\n",
        "exists Resource name:r0\nexists -\n",
        "exists resource :x\nexists -\n",
        "change peer-device volume:0\nexists -\n",
    ],
)
def test_malformed(text: str) -> None:
    """Lines that are not events2 lines raise ParseError naming the command."""
    with pytest.raises(ParseError) as err:
        parse_events2(text)
    assert err.value.command == "drbdsetup events2"
