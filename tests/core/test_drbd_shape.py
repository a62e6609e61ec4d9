"""The `hacluster parse drbd-status` JSON shape: DrbdStatus.to_dict() after the verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hacluster.parsers.drbd import parse_drbd_status, parse_events2, parse_kernel_log
from hacluster.split_brain import analyze_split_brain

FIXTURES = Path(__file__).parent / "fixtures" / "drbd"
REQUIRED_RESOURCE_KEYS = {
    "role",
    "disk_state",
    "client",
    "quorum",
    "suspended",
    "peers",
    "split_brain",
    "split_brain_evidence",
    "volumes",
}
REQUIRED_PEER_KEYS = {
    "connection_state",
    "peer_role",
    "peer_disk_state",
    "replication_state",
    "sync_percent",
    "out_of_sync_kib",
}


@pytest.mark.parametrize(
    ("status", "events", "kernel"),
    [
        ("status-json-9.33-healthy-primary.json", None, None),
        ("status-text-9.22-multi-volume.txt", None, None),
        (
            "status-json-9.22-split-brain-ha-0.json",
            "events2-9.22-split-brain.txt",
            "kernel-dmesg-split-brain-ha-0.txt",
        ),
    ],
)
def test_matches_hand_written_expected_json(
    status: str, events: str | None, kernel: str | None
) -> None:
    """The JSON shape equals the hand-written expectation (and survives a JSON round trip)."""
    parsed = parse_drbd_status((FIXTURES / status).read_bytes())
    result = analyze_split_brain(
        parsed,
        events=parse_events2((FIXTURES / events).read_bytes()) if events else (),
        kernel_log=parse_kernel_log((FIXTURES / kernel).read_bytes()) if kernel else (),
    ).to_dict()
    expected_file = FIXTURES / "expected" / (Path(status).stem + ".expected.json")
    expected = json.loads(expected_file.read_text())
    assert json.loads(json.dumps(result)) == expected


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("status-*")), ids=lambda p: p.name)
def test_every_fixture_has_the_required_keys(path: Path) -> None:
    """Every status fixture gives the documented keys with JSON-safe values."""
    result = analyze_split_brain(parse_drbd_status(path.read_bytes())).to_dict()
    json.dumps(result)
    for resource in result["resources"].values():
        assert resource.keys() >= REQUIRED_RESOURCE_KEYS
        assert isinstance(resource["volumes"], list)
        for peer in resource["peers"].values():
            assert peer.keys() >= REQUIRED_PEER_KEYS
