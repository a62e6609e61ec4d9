"""Tests for ``drbdadm status`` text parsing (no tty, wrapped at 80 columns)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hacluster.errors import ParseError
from hacluster.models.drbd import ConnectionState, DiskState, DrbdRole, ReplicationState
from hacluster.parsers.drbd import (
    parse_drbd_status,
    parse_drbd_status_json,
    parse_drbd_status_text,
)

FIXTURES = Path(__file__).parent / "fixtures" / "drbd"
VERSIONS = ("9.22", "9.33")
SCENARIOS = sorted(
    p.name.removeprefix("status-text-9.22-").removesuffix(".txt")
    for p in FIXTURES.glob("status-text-9.22-*.txt")
)


def load(name: str) -> bytes:
    """Return a DRBD fixture's bytes."""
    return (FIXTURES / name).read_bytes()


def test_scenarios_found() -> None:
    """Every scenario has a text fixture for both versions."""
    assert len(SCENARIOS) >= 16
    for scenario in SCENARIOS:
        assert (FIXTURES / f"status-text-9.33-{scenario}.txt").exists()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_text_agrees_with_json(version: str, scenario: str) -> None:
    """The text form gives the same states as the JSON form of the same scenario."""
    text = parse_drbd_status_text(load(f"status-text-{version}-{scenario}.txt"))
    js = parse_drbd_status_json(load(f"status-json-{version}-{scenario}.json"))
    assert [r.name for r in text.resources] == [r.name for r in js.resources]
    for t, j in zip(text.resources, js.resources, strict=True):
        assert t.role is j.role
        assert t.disk_state is j.disk_state
        assert t.client == j.client
        assert t.quorum == j.quorum
        assert t.suspended == j.suspended
        assert t.suspended_reasons == j.suspended_reasons
        assert [(v.volume, v.disk_state, v.client, v.quorum) for v in t.volumes] == [
            (v.volume, v.disk_state, v.client, v.quorum) for v in j.volumes
        ]
        if version == "9.33":
            assert [v.open for v in t.volumes] == [v.open for v in j.volumes]
        else:
            assert all(v.open is None for v in t.volumes)
        for tc, jc in zip(t.connections, j.connections, strict=True):
            assert tc.name == jc.name
            assert tc.connection_state is jc.connection_state
            assert tc.peer_role is jc.peer_role
            assert tc.out_of_sync_kib is None  # plain text does not say
            if jc.connected:
                assert tc.peer_disk_state is jc.peer_disk_state
                assert tc.replication_state is jc.replication_state
                assert tc.sync_percent == jc.sync_percent
            else:
                assert tc.volumes == ()
                assert tc.peer_disk_state is DiskState.DUNKNOWN
                assert tc.replication_state is ReplicationState.OFF


def test_defaults_for_omitted_fields() -> None:
    """No connection: = Connected, no replication: = Established, no quorum: = quorum."""
    res = parse_drbd_status_text(load("status-text-9.22-healthy-primary.txt")).resources[0]
    conn = res.connections[0]
    assert conn.connection_state is ConnectionState.CONNECTED
    assert conn.replication_state is ReplicationState.ESTABLISHED
    assert conn.peer_role is DrbdRole.SECONDARY
    assert res.quorum is True
    assert res.volumes[0].volume == 0


def test_not_connected_peer_defaults() -> None:
    """A peer that is not connected: role Unknown, peer disk DUnknown, replication Off."""
    res = parse_drbd_status_text(load("status-text-9.33-peer-connecting.txt")).resources[0]
    conn = res.connections[0]
    assert conn.connection_state is ConnectionState.CONNECTING
    assert conn.peer_role is DrbdRole.DRBD_UNKNOWN
    assert conn.peer_disk_state is DiskState.DUNKNOWN
    assert conn.replication_state is ReplicationState.OFF


def test_wrapped_peer_line() -> None:
    """A peer-device line wrapped at 80 columns continues with an indented line."""
    raw = load("status-text-9.22-multi-volume.txt").decode()
    assert "\n        resync-suspended:dependency\n" in raw
    res = parse_drbd_status_text(raw).resources[0]
    vol2 = res.connections[0].volumes[2]
    assert vol2.resync_suspended == "dependency"
    assert vol2.replication_state is ReplicationState.PAUSED_SYNC_T
    assert vol2.sync_percent == 0.0
    assert res.connections[0].volumes[1].sync_percent == 63.18


def test_wrapped_resource_line() -> None:
    """A long resource line wraps; the continuation belongs to the resource."""
    raw = load("status-text-9.33-long-name-suspended.txt").decode()
    assert raw.splitlines()[1] == "    suspended:fencing,quorum"
    res = parse_drbd_status_text(raw).resources[0]
    assert res.suspended is True
    assert res.suspended_reasons == ("fencing", "quorum")
    assert res.volumes[0].quorum is False


def test_client_and_open_values() -> None:
    """client:yes for an intentional diskless client; open: yes/no/unknown."""
    res = parse_drbd_status_text(load("status-text-9.33-diskless-client.txt")).resources[0]
    assert res.client is True
    assert res.volumes[0].open is False
    text = "r0 role:Secondary\n  disk:Diskless client:unknown open:unknown\n\n"
    vol = parse_drbd_status_text(text).resources[0].volumes[0]
    assert vol.client is False
    assert vol.open is None


def test_verbose_and_statistics_text() -> None:
    """Verbose/statistics output: extra keys are ignored or used, node-id is kept."""
    text = (
        "r0 node-id:1 role:Primary suspended:no force-io-failures:yes\n"
        "    write-ordering:flush\n"
        "  volume:0 minor:5 disk:UpToDate backing_dev:/dev/sdb quorum:yes open:yes\n"
        "      size:1048508 read:2088 written:0 al-writes:0 bm-writes:0 upper-pending:0\n"
        "      lower-pending:0 al-suspended:no blocked:no\n"
        "  peer node-id:0 connection:Connected role:Secondary congested:no ap-in-flight:0\n"
        "      rs-in-flight:0\n"
        "    volume:0 replication:SyncSource peer-disk:Inconsistent done:12.50\n"
        "        resync-suspended:no\n"
        "        received:0 sent:0 out-of-sync:204 pending:0 unacked:0 eta:17\n"
        "\n"
    )
    res = parse_drbd_status_text(text).resources[0]
    assert res.node_id == 1
    assert res.force_io_failures is True
    assert res.volumes[0].minor == 5
    assert res.volumes[0].size_kib == 1048508
    conn = res.connections[0]
    assert conn.peer_node_id == 0
    assert conn.out_of_sync_kib == 204
    assert conn.sync_percent == 12.5
    assert conn.eta_seconds == 17


def test_unnamed_connection_and_blank_peer_line() -> None:
    """A connection without a name prints node-id first; an Off/DUnknown peer line is empty."""
    text = (
        "r0 role:Secondary\n"
        "  volume:0 disk:UpToDate\n"
        "  volume:1 disk:UpToDate\n"
        "  node-id:3 role:Primary\n"
        "    volume:0 peer-disk:UpToDate\n"
        "    volume:1\n"
        "\n"
    )
    res = parse_drbd_status_text(text).resources[0]
    conn = res.connections[0]
    assert conn.name == "node-3"
    assert conn.peer_node_id == 3
    assert conn.volumes[1].replication_state is ReplicationState.OFF
    assert conn.volumes[1].peer_disk_state is DiskState.DUNKNOWN


def test_color_codes_and_no_resources() -> None:
    """ANSI colour codes are stripped; the 'no DRBD' comment gives an empty status."""
    colored = "r0 role:\x1b[1;36mPrimary\x1b[0m\n  disk:\x1b[1;32mUpToDate\x1b[0m\n\n"
    res = parse_drbd_status_text(colored).resources[0]
    assert res.role is DrbdRole.PRIMARY
    assert res.disk_state is DiskState.UP_TO_DATE
    assert parse_drbd_status_text("# No currently configured DRBD found.\n").resources == ()


def test_auto_detect() -> None:
    """parse_drbd_status picks JSON or text."""
    assert parse_drbd_status(load("status-text-9.22-two-resources.txt")).resource("media")
    assert parse_drbd_status(load("status-json-9.33-two-resources.json")).resource("media")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("  disk:UpToDate\n", "indented line before a resource"),
        ("r0 role:Primary\n    peer-disk:UpToDate\n", "peer line before any connection"),
        ("r0 disk:UpToDate\n", "without role"),
        ("r0:x role:Primary\n", "resource line expected"),
        ("r0 role:Primary\n  volume:0 minor:1\n", "device line without disk"),
        ("r0 role:Primary garbage\n", "expected key:value"),
        ("r0: No such resource\n", "resource line expected"),
    ],
)
def test_malformed(text: str, message: str) -> None:
    """Malformed text raises ParseError naming the command."""
    with pytest.raises(ParseError, match=message) as err:
        parse_drbd_status_text(text)
    assert err.value.command == "drbdadm status"
