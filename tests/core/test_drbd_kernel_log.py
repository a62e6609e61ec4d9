"""Tests for reading DRBD lines from kernel logs (dmesg, dmesg -T, journalctl -k)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hacluster.models.drbd import KernelLogLine
from hacluster.parsers.drbd import parse_kernel_log

FIXTURES = Path(__file__).parent / "fixtures" / "drbd"


def load(name: str) -> bytes:
    """Return a DRBD fixture's bytes."""
    return (FIXTURES / name).read_bytes()


def test_dmesg_plain() -> None:
    """Plain dmesg: non-DRBD and module-level lines are skipped, prefixes are split."""
    lines = parse_kernel_log(load("kernel-dmesg-split-brain-ha-0.txt"))
    assert len(lines) == 21
    assert all(line.resource == "home-assistant" for line in lines)
    first = lines[0]
    assert first.seq == 3  # lines 0-2 are the module and NIC lines
    assert first.timestamp == "5718.301552"
    assert first.peer == "ha-1"
    assert first.volume is None
    assert first.text.startswith("Handshake to peer 1 successful")
    resource_level = next(line for line in lines if line.text.startswith("Preparing"))
    assert resource_level.peer is None
    unresolved = next(line for line in lines if "unresolved" in line.text)
    assert (unresolved.peer, unresolved.volume, unresolved.minor) == ("ha-1", 0, 0)
    assert unresolved.text == "Split-Brain detected but unresolved, dropping connection!"
    assert lines[-2].text == "conn( Disconnecting -> StandAlone )"


def test_dmesg_human_readable_time() -> None:
    """dmesg -T: the bracketed date is the timestamp."""
    lines = parse_kernel_log(load("kernel-dmesg-T-split-brain-then-reconnect.txt"))
    assert len(lines) == 20
    assert lines[0].timestamp == "Sat Nov 28 14:53:40 2026"
    assert any(line.text.startswith("conn( Connecting -> Connected )") for line in lines)


def test_journalctl_short_iso() -> None:
    """journalctl -k -o short-iso: "<time> <host> kernel: <msg>"."""
    lines = parse_kernel_log(load("kernel-journal-short-iso-auto-solved.txt"))
    assert len(lines) == 10
    assert lines[0].timestamp == "2026-11-28T16:10:05+0100"
    assert "automatically solved" in lines[5].text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "Nov 28 14:53:40 ha-0 kernel: [ 5718.349134] drbd r0/1 drbd3 ha-1: text: more",
            ("Nov 28 14:53:40", "r0", "ha-1", 1, 3, "text: more"),
        ),
        (
            "[ 4134.436028][T24004] drbd drbd01 jb154sapqe01: conn( Connecting -> Connected )",
            (
                "4134.436028",
                "drbd01",
                "jb154sapqe01",
                None,
                None,
                "conn( Connecting -> Connected )",
            ),
        ),
        (
            "2026-11-28T14:53:40,349134+01:00 drbd r0/0 drbd0: disk( UpToDate -> Failed )",
            ("2026-11-28T14:53:40,349134+01:00", "r0", None, 0, 0, "disk( UpToDate -> Failed )"),
        ),
        (
            "kern  :info  : [ 12.5] drbd r0: role( Secondary -> Primary )",
            ("12.5", "r0", None, None, None, "role( Secondary -> Primary )"),
        ),
        (
            "drbd /unregistered/r0 p: Terminating sender thread",
            (None, "r0", "p", None, None, "Terminating sender thread"),
        ),
    ],
)
def test_line_forms(raw: str, expected: tuple[object, ...]) -> None:
    """Syslog, dmesg caller ids, dmesg iso time, dmesg -x and unregistered objects."""
    (line,) = parse_kernel_log(raw)
    assert (line.timestamp, line.resource, line.peer, line.volume, line.minor, line.text) == (
        expected
    )


def test_non_drbd_lines_skipped() -> None:
    """DRBD 8 'block drbdN:' lines, 'drbd:' module lines and others are not resource lines."""
    text = (
        "[ 1.0] block drbd0: Split-Brain detected but unresolved, dropping connection!\n"
        "[ 1.1] drbd: initialized.\n"
        "[ 1.2] drbd1: detected capacity change from 0 to 2097016\n"
        "\x00\xff garbage\n"
    )
    assert parse_kernel_log(text) == ()
    assert parse_kernel_log(b"\xff\xfe\x00") == ()


def test_model_to_dict() -> None:
    """KernelLogLine serialises all its fields."""
    line = KernelLogLine(seq=1, timestamp=None, text="t", resource="r")
    assert line.to_dict() == {
        "seq": 1,
        "timestamp": None,
        "text": "t",
        "resource": "r",
        "peer": None,
        "volume": None,
        "minor": None,
    }
