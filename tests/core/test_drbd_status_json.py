"""Tests for ``drbdsetup status --json`` parsing (drbd-utils 9.22 and 9.33 fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hacluster.errors import ParseError
from hacluster.models.drbd import (
    ConnectionState,
    DiskState,
    DrbdRole,
    ReplicationState,
)
from hacluster.parsers.drbd import parse_drbd_status, parse_drbd_status_json

FIXTURES = Path(__file__).parent / "fixtures" / "drbd"
VERSIONS = ("9.22", "9.33")


def load(name: str) -> bytes:
    """Return a DRBD fixture's bytes."""
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize("version", VERSIONS)
def test_healthy_primary(version: str) -> None:
    """A healthy pair, seen from the Primary."""
    status = parse_drbd_status_json(load(f"status-json-{version}-healthy-primary.json"))
    res = status.resource("home-assistant")
    assert res is not None
    assert res.role is DrbdRole.PRIMARY
    assert res.node_id == 0
    assert res.disk_state is DiskState.UP_TO_DATE
    assert res.quorum is True
    assert res.client is False
    assert res.suspended is False
    assert res.suspended_reasons == ()
    (volume,) = res.volumes
    assert volume.minor == 0
    assert volume.size_kib == 10485404
    assert volume.open is (True if version == "9.33" else None)
    (conn,) = res.connections
    assert conn.name == "ha-1"
    assert conn.peer_node_id == 1
    assert conn.connection_state is ConnectionState.CONNECTED
    assert conn.peer_role is DrbdRole.SECONDARY
    assert conn.peer_disk_state is DiskState.UP_TO_DATE
    assert conn.replication_state is ReplicationState.ESTABLISHED
    assert conn.sync_percent is None
    assert conn.out_of_sync_kib == 0
    assert conn.volumes[0].percent_in_sync == 100.0


@pytest.mark.parametrize("version", VERSIONS)
def test_healthy_secondary(version: str) -> None:
    """The same pair from the Secondary: the peer is Primary."""
    res = parse_drbd_status_json(load(f"status-json-{version}-healthy-secondary.json")).resources[0]
    assert res.role is DrbdRole.SECONDARY
    assert res.node_id == 1
    assert res.connections[0].peer_role is DrbdRole.PRIMARY
    assert res.volumes[0].open is (False if version == "9.33" else None)


@pytest.mark.parametrize("version", VERSIONS)
def test_peer_connecting(version: str) -> None:
    """A crashed peer: Connecting, role Unknown, out-of-sync blocks accumulate."""
    res = parse_drbd_status_json(load(f"status-json-{version}-peer-connecting.json")).resources[0]
    conn = res.connections[0]
    assert conn.connection_state is ConnectionState.CONNECTING
    assert conn.peer_role is DrbdRole.DRBD_UNKNOWN
    assert str(conn.peer_role) == "Unknown"
    assert conn.peer_disk_state is DiskState.DUNKNOWN
    assert conn.replication_state is ReplicationState.OFF
    assert conn.out_of_sync_kib == 2048
    assert conn.volumes[0].percent_in_sync == 99.98
    assert conn.sync_percent is None


@pytest.mark.parametrize("version", VERSIONS)
def test_sync_source(version: str) -> None:
    """SyncSource with resync details: progress, ETA, out-of-sync."""
    res = parse_drbd_status_json(load(f"status-json-{version}-sync-source.json")).resources[0]
    conn = res.connections[0]
    assert conn.replication_state is ReplicationState.SYNC_SOURCE
    assert conn.peer_disk_state is DiskState.INCONSISTENT
    assert conn.sync_percent == 45.30
    assert conn.eta_seconds == 62
    assert conn.out_of_sync_kib == 5735616
    assert res.disk_state is DiskState.UP_TO_DATE


@pytest.mark.parametrize("version", VERSIONS)
def test_sync_target(version: str) -> None:
    """SyncTarget: the local disk is Inconsistent while the resync runs."""
    res = parse_drbd_status_json(load(f"status-json-{version}-sync-target.json")).resources[0]
    assert res.disk_state is DiskState.INCONSISTENT
    conn = res.connections[0]
    assert conn.replication_state is ReplicationState.SYNC_TARGET
    assert conn.peer_disk_state is DiskState.UP_TO_DATE
    assert conn.sync_percent == 45.30
    assert conn.eta_seconds == 62


@pytest.mark.parametrize("version", VERSIONS)
def test_outdated_peer_and_local(version: str) -> None:
    """After fencing: the peer is known Outdated although not connected; and the other side."""
    res = parse_drbd_status_json(load(f"status-json-{version}-outdated-peer.json")).resources[0]
    assert res.connections[0].peer_disk_state is DiskState.OUTDATED
    assert res.connections[0].connection_state is ConnectionState.CONNECTING
    local = parse_drbd_status_json(load(f"status-json-{version}-outdated-local.json")).resources[0]
    assert local.disk_state is DiskState.OUTDATED
    assert local.role is DrbdRole.SECONDARY


@pytest.mark.parametrize("version", VERSIONS)
def test_disk_failed_is_not_a_client(version: str) -> None:
    """A detached failed disk is Diskless with client false."""
    res = parse_drbd_status_json(load(f"status-json-{version}-disk-failed.json")).resources[0]
    assert res.disk_state is DiskState.DISKLESS
    assert res.client is False
    assert res.volumes[0].client is False
    assert res.connections[0].peer_disk_state is DiskState.UP_TO_DATE


@pytest.mark.parametrize("version", VERSIONS)
def test_diskless_client(version: str) -> None:
    """An intentional diskless client (tiebreaker) with two connected peers."""
    res = parse_drbd_status_json(load(f"status-json-{version}-diskless-client.json")).resources[0]
    assert res.client is True
    assert res.disk_state is DiskState.DISKLESS
    assert [c.name for c in res.connections] == ["ha-0", "ha-1"]
    assert [c.peer_role for c in res.connections] == [DrbdRole.PRIMARY, DrbdRole.SECONDARY]
    assert all(c.connected for c in res.connections)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("node", "role"), [("ha-0", "Primary"), ("ha-1", "Secondary")])
def test_split_brain_standalone(version: str, node: str, role: str) -> None:
    """Both sides StandAlone after a split brain."""
    res = parse_drbd_status_json(load(f"status-json-{version}-split-brain-{node}.json")).resources[
        0
    ]
    assert res.role == role
    conn = res.connections[0]
    assert conn.connection_state is ConnectionState.STANDALONE
    assert conn.peer_role is DrbdRole.DRBD_UNKNOWN
    assert conn.out_of_sync_kib in (921, 1655)
    assert res.split_brain.split_brain is False


@pytest.mark.parametrize("version", VERSIONS)
def test_multi_volume(version: str) -> None:
    """Three volumes: the worst is reported at the top, every volume is listed."""
    res = parse_drbd_status_json(load(f"status-json-{version}-multi-volume.json")).resources[0]
    assert res.name == "media"
    assert [v.volume for v in res.volumes] == [0, 1, 2]
    assert [v.minor for v in res.volumes] == [10, 11, 12]
    assert res.disk_state is DiskState.INCONSISTENT
    conn = res.connections[0]
    assert [v.replication_state for v in conn.volumes] == [
        ReplicationState.ESTABLISHED,
        ReplicationState.SYNC_TARGET,
        ReplicationState.PAUSED_SYNC_T,
    ]
    assert conn.replication_state is ReplicationState.SYNC_TARGET
    assert conn.sync_percent == 63.18
    assert conn.volumes[2].sync_percent == 0.0
    assert conn.volumes[2].resync_suspended == "dependency"
    assert conn.volumes[2].eta_seconds is None  # 987654321 = unknown
    assert conn.volumes[0].sync_percent is None
    assert conn.out_of_sync_kib == 3860892 + 10485404


@pytest.mark.parametrize("version", VERSIONS)
def test_three_node(version: str) -> None:
    """Two connections: one Connected, one Connecting."""
    res = parse_drbd_status_json(load(f"status-json-{version}-three-node.json")).resources[0]
    assert [(c.name, c.connection_state) for c in res.connections] == [
        ("ha-1", ConnectionState.CONNECTED),
        ("ha-2", ConnectionState.CONNECTING),
    ]
    assert res.connection("ha-2") is not None
    assert res.connection("ha-9") is None


@pytest.mark.parametrize("version", VERSIONS)
def test_quorum_lost_and_suspended(version: str) -> None:
    """Quorum lost with on-no-quorum suspend-io: suspended with reason quorum."""
    res = parse_drbd_status_json(load(f"status-json-{version}-quorum-lost.json")).resources[0]
    assert res.quorum is False
    assert res.suspended is True
    assert res.suspended_reasons == ("quorum",)
    long = parse_drbd_status_json(load(f"status-json-{version}-long-name-suspended.json"))
    assert long.resources[0].suspended_reasons == ("fencing", "quorum")
    assert long.resources[0].name == "pvc-3f0c1a9e-7d2b-4c55-9a4e-2b1f0e8d6c11-data"


@pytest.mark.parametrize("version", VERSIONS)
def test_two_resources_sorted(version: str) -> None:
    """Two resources separated by drbdsetup's `}` `,` `{` lines."""
    raw = load(f"status-json-{version}-two-resources.json")
    assert b"}\n,\n{" in raw
    status = parse_drbd_status_json(raw)
    assert [r.name for r in status.resources] == ["home-assistant", "media"]
    assert status.resource("media") is not None
    assert status.resource("nope") is None


def test_quirks_are_present_in_fixtures() -> None:
    """The fixtures carry drbdsetup's printf quirks (so the parser is tested against them)."""
    raw = load("status-json-9.22-healthy-primary.json").decode()
    assert '"connection-state": "Connected", \n' in raw
    assert '"percent-in-sync": 100.00\n' in raw
    assert raw.endswith("]\n\n")
    assert '"open"' not in raw
    assert '"paths"' not in raw
    raw33 = load("status-json-9.33-healthy-primary.json").decode()
    assert '"open": true,' in raw33
    assert '"tls": false,' in raw33
    assert '"paths": [' in raw33


def test_empty_array() -> None:
    """Nothing configured: `[` `]`."""
    assert parse_drbd_status_json(load("status-json-empty.json")).resources == ()
    assert parse_drbd_status(load("status-json-empty.json")).to_dict() == {"resources": {}}


def test_old_utils_without_newer_keys() -> None:
    """drbd-utils 9.6 (SUSE/salt-shaptools sample) lacks suspended-*, quorum keys are optional."""
    old = [
        {
            "name": "drbd-res",
            "node-id": 2,
            "role": "Secondary",
            "suspended": False,
            "write-ordering": "flush",
            "devices": [
                {
                    "volume": 0,
                    "minor": 2,
                    "disk-state": "UpToDate",
                    "client": False,
                    "size": 409600,
                }
            ],
            "connections": [
                {
                    "peer-node-id": 1,
                    "name": "node1",
                    "connection-state": "Connected",
                    "congested": False,
                    "peer-role": "Primary",
                    "peer_devices": [
                        {
                            "volume": 0,
                            "replication-state": "SyncTarget",
                            "peer-disk-state": "UpToDate",
                            "peer-client": False,
                            "resync-suspended": "no",
                            "out-of-sync": 100,
                            "percent-in-sync": 75,
                        }
                    ],
                    "unknown-future-key": {"nested": [1, 2]},
                }
            ],
        }
    ]
    res = parse_drbd_status_json(json.dumps(old)).resources[0]
    assert res.quorum is True
    assert res.suspended_reasons == ()
    assert res.volumes[0].open is None
    # No percent-resync-done: the resync progress falls back to percent-in-sync.
    assert res.connections[0].sync_percent == 75.0
    assert res.connections[0].eta_seconds is None


def test_unknown_values_become_unknown() -> None:
    """A newer state name is tolerated and reported as "unknown"."""
    data = [
        {
            "name": "r0",
            "node-id": -1,
            "role": "Tertiary",
            "suspended": True,
            "suspended-user": True,
            "devices": [{"volume": 0, "disk-state": "Quantum"}],
            "connections": [
                {
                    "name": "p",
                    "connection-state": "Teleporting",
                    "peer-role": "Primary",
                    "peer_devices": [{"volume": 0, "replication-state": "Wormhole"}],
                }
            ],
        }
    ]
    res = parse_drbd_status_json(json.dumps(data).encode()).resources[0]
    assert res.node_id is None
    assert res.role is DrbdRole.UNKNOWN
    assert res.suspended_reasons == ("user",)
    assert res.disk_state is DiskState.UNKNOWN
    conn = res.connections[0]
    assert conn.connection_state is ConnectionState.UNKNOWN
    assert conn.replication_state is ReplicationState.UNKNOWN
    assert conn.peer_disk_state is DiskState.UNKNOWN


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "invalid JSON"),
        (b"[\n{\n", "invalid JSON"),
        (b'{"name": "r0"}', "top level is not a list"),
        (b"[1]", "resource is not an object"),
        (b"[{}]", "missing 'name'"),
        (b'[{"name": 3}]', "'name' is not a string"),
        (b'[{"name": "r", "devices": {}}]', "'devices' is not a list"),
        (b'[{"name": "r", "devices": [{"volume": "0"}]}]', "'volume' is not a number"),
        (b'[{"name": "r", "devices": [{}]}]', "missing 'volume'"),
        (b'[{"name": "r", "devices": [{"volume": 0, "quorum": "yes"}]}]', "not a boolean"),
        (
            b'[{"name": "r", "connections": [{"name": "p", "peer_devices": '
            b'[{"volume": 0, "percent-in-sync": "x"}]}]}]',
            "'percent-in-sync' is not a number",
        ),
        (b'[{"name": "r", "node-id": true}]', "'node-id' is not a number"),
        (b'[{"name": "r", "role": 1}]', "'role' is not a string"),
        (b'[{"name": "r", "connections": [{"name": "p", "peer_devices": [1]}]}]', "peer device"),
        (b"[" * 100000, "invalid JSON"),
    ],
)
def test_malformed(data: bytes, message: str) -> None:
    """Malformed input raises ParseError naming the command."""
    with pytest.raises(ParseError, match=message) as err:
        parse_drbd_status_json(data)
    assert err.value.command == "drbdsetup status --json"
    assert str(err.value).startswith("drbdsetup status --json: ")
