"""Robustness: random, truncated and hostile input never crashes or hangs a parser.

Every parser either returns a model or raises ParseError; nothing else escapes.
"""

from __future__ import annotations

from pathlib import Path
import random
import time
from typing import TYPE_CHECKING, Any

import pytest

from hacluster.errors import ParseError
from hacluster.parsers.corosync import parse_cfgtool, parse_quorumtool
from hacluster.parsers.drbd import (
    parse_drbd_status,
    parse_drbd_status_json,
    parse_drbd_status_text,
    parse_events2,
    parse_kernel_log,
)

if TYPE_CHECKING:
    from collections.abc import Callable

FIXTURES = Path(__file__).parent / "fixtures"
PARSERS: list[Callable[[bytes], Any]] = [
    parse_drbd_status_json,
    parse_drbd_status_text,
    parse_drbd_status,
    parse_events2,
    parse_kernel_log,
    parse_quorumtool,
    parse_cfgtool,
]
SAMPLES = sorted(
    p for p in FIXTURES.glob("*/*") if p.is_file() and p.suffix in (".txt", ".json", ".stderr")
)


def survive(parser: Callable[[bytes], Any], data: bytes) -> None:
    """Run the parser; only ParseError may escape, and quickly."""
    start = time.monotonic()
    command = None
    try:
        parser(data)
    except ParseError as err:
        command = err.command
    assert command != ""
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
def test_random_bytes(parser: Callable[[bytes], Any]) -> None:
    """Random bytes, printable noise and pathological shapes."""
    rng = random.Random(20261128)
    blobs = [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 400))) for _ in range(60)]
    alphabet = b'abcdefghijklmnopqrstuvwxyz:-_ []{},"\n\t0123456789.>('
    blobs += [bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 400))) for _ in range(60)]
    blobs += [b"[" * 50000, b"{" * 50000, b":" * 10000, b"\n" * 10000, b" " * 10000, b"\x00"]
    for blob in blobs:
        survive(parser, blob)


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_truncated_and_mutated_fixtures(parser: Callable[[bytes], Any], sample: Path) -> None:
    """Every fixture cut at many points, and with bytes flipped, fed to every parser."""
    raw = sample.read_bytes()
    rng = random.Random(sample.name)
    for cut in sorted(
        {
            0,
            1,
            len(raw) // 3,
            len(raw) // 2,
            len(raw) - 1,
            *rng.sample(range(len(raw) + 1), min(8, len(raw) + 1)),
        }
    ):
        survive(parser, raw[:cut])
    for _ in range(5):
        data = bytearray(raw)
        for _ in range(3):
            if data:
                data[rng.randrange(len(data))] = rng.getrandbits(8)
        survive(parser, bytes(data))
