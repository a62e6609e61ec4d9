"""Tests for the DRBD models: enums, ordering, derived properties, serialisation."""

from __future__ import annotations

import logging

import pytest

from hacluster._enum import parse_enum
from hacluster.models.drbd import (
    NO_SPLIT_BRAIN,
    ConnectionState,
    DiskState,
    DrbdConnection,
    DrbdPeerVolume,
    DrbdResource,
    DrbdRole,
    DrbdStatus,
    DrbdVolume,
    ReplicationState,
    SplitBrainVerdict,
    disk_severity,
    worst_disk_state,
)


def test_states_spelled_as_drbd_prints_them() -> None:
    """Enum values are DRBD's spelling; every enum has the tolerant 'unknown'."""
    assert DiskState("UpToDate") is DiskState.UP_TO_DATE
    assert DiskState("DUnknown") is DiskState.DUNKNOWN
    assert ReplicationState("SyncTarget") is ReplicationState.SYNC_TARGET
    assert ReplicationState("WFBitMapS") is ReplicationState.WF_BITMAP_S
    assert ConnectionState("StandAlone") is ConnectionState.STANDALONE
    for enum in (DrbdRole, DiskState, ConnectionState, ReplicationState):
        assert enum("unknown").name == "UNKNOWN"


def test_drbd_unknown_role_is_not_unparseable(caplog: pytest.LogCaptureFixture) -> None:
    """DRBD's 'Unknown' role is a real member; an unparseable value is 'unknown' and logged."""
    assert parse_enum(DrbdRole, "Unknown") is DrbdRole.DRBD_UNKNOWN
    with caplog.at_level(logging.WARNING):
        assert parse_enum(DrbdRole, "Quaternary") is DrbdRole.UNKNOWN
    assert "Quaternary" in caplog.text
    assert {DrbdRole.DRBD_UNKNOWN.value, DrbdRole.UNKNOWN.value} == {"Unknown", "unknown"}


def test_disk_severity_order() -> None:
    """Failed, Diskless, Inconsistent, Outdated, DUnknown, Consistent, UpToDate (worst first)."""
    documented = [
        DiskState.FAILED,
        DiskState.DISKLESS,
        DiskState.INCONSISTENT,
        DiskState.OUTDATED,
        DiskState.DUNKNOWN,
        DiskState.CONSISTENT,
        DiskState.UP_TO_DATE,
    ]
    assert sorted(documented, key=disk_severity) == documented
    assert min(DiskState.__members__.values(), key=disk_severity) is DiskState.FAILED
    assert disk_severity(DiskState.UNKNOWN) < disk_severity(DiskState.DISKLESS)
    assert (
        disk_severity(DiskState.DISKLESS)
        < disk_severity(DiskState.ATTACHING)
        < disk_severity(DiskState.NEGOTIATING)
        < disk_severity(DiskState.INCONSISTENT)
    )
    assert worst_disk_state((), default=DiskState.DUNKNOWN) is DiskState.DUNKNOWN
    assert (
        worst_disk_state((DiskState.UP_TO_DATE, DiskState.FAILED), default=DiskState.DISKLESS)
        is DiskState.FAILED
    )


def peer(volume: int, state: ReplicationState, pct: float | None = None) -> DrbdPeerVolume:
    """A peer volume with replication state and progress."""
    return DrbdPeerVolume(
        volume=volume,
        replication_state=state,
        peer_disk_state=DiskState.UP_TO_DATE,
        sync_percent=pct,
        out_of_sync_kib=None if pct is None else 10,
        eta_seconds=None if pct is None else 30 + volume,
    )


def test_connection_properties() -> None:
    """Worst peer disk, the replication state that matters, progress, summed out-of-sync."""
    conn = DrbdConnection(
        name="p",
        connection_state=ConnectionState.CONNECTED,
        peer_role=DrbdRole.SECONDARY,
        volumes=(
            peer(0, ReplicationState.ESTABLISHED),
            peer(1, ReplicationState.PAUSED_SYNC_T, 0.0),
            peer(2, ReplicationState.SYNC_TARGET, 40.0),
            peer(3, ReplicationState.SYNC_TARGET, 20.0),
        ),
    )
    assert conn.replication_state is ReplicationState.SYNC_TARGET
    assert conn.sync_percent == 20.0
    assert conn.out_of_sync_kib == 30
    assert conn.eta_seconds == 33
    empty_connected = DrbdConnection(
        name="p", connection_state=ConnectionState.CONNECTED, peer_role=DrbdRole.PRIMARY
    )
    assert empty_connected.replication_state is ReplicationState.ESTABLISHED
    assert empty_connected.peer_disk_state is DiskState.DUNKNOWN
    assert empty_connected.sync_percent is None
    assert empty_connected.out_of_sync_kib is None
    assert empty_connected.eta_seconds is None
    empty = DrbdConnection(
        name="p", connection_state=ConnectionState.STANDALONE, peer_role=DrbdRole.DRBD_UNKNOWN
    )
    assert empty.replication_state is ReplicationState.OFF


def test_resource_properties() -> None:
    """Worst disk at the top; client only if all volumes are clients; quorum of all."""
    res = DrbdResource(
        name="r",
        role=DrbdRole.PRIMARY,
        volumes=(
            DrbdVolume(volume=0, disk_state=DiskState.UP_TO_DATE, client=True),
            DrbdVolume(volume=1, disk_state=DiskState.OUTDATED, quorum=False),
        ),
    )
    assert res.disk_state is DiskState.OUTDATED
    assert res.client is False
    assert res.quorum is False
    assert res.split_brain is NO_SPLIT_BRAIN
    bare = DrbdResource(name="r", role=DrbdRole.SECONDARY)
    assert bare.disk_state is DiskState.DISKLESS
    assert bare.client is False
    assert bare.quorum is True
    flagged = bare.with_split_brain(SplitBrainVerdict(split_brain=True, evidence=("x",)))
    assert flagged.split_brain.split_brain is True
    assert bare.split_brain.split_brain is False
    assert flagged.to_dict()["split_brain_evidence"] == ["x"]


def test_models_are_frozen() -> None:
    """Models cannot be changed in place."""
    res = DrbdResource(name="r", role=DrbdRole.SECONDARY)
    with pytest.raises(AttributeError):
        res.name = "x"  # type: ignore[misc]


def test_verdict_and_status_to_dict() -> None:
    """Serialisation of the verdict and the empty status."""
    assert SplitBrainVerdict(split_brain=True, evidence=("a",), peers=("p",)).to_dict() == {
        "split_brain": True,
        "evidence": ["a"],
        "peers": ["p"],
    }
    assert DrbdStatus().to_dict() == {"resources": {}}
