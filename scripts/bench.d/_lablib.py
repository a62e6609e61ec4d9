"""What the lab benchmarks share: paths, the e2e lock, the lab's environment.

Not a benchmark itself (``scripts/bench`` runs ``scripts/bench.d/NAME.*``); the benchmark scripts
import it from their own directory.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import fcntl
import json
from pathlib import Path
import subprocess

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "scripts" / "lab"
LOCK = ROOT / "lab" / "run" / "e2e.lock"


@contextlib.contextmanager
def e2e_lock() -> Iterator[None]:
    """The lock the e2e tests hold while they use the lab."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def lab_env() -> dict[str, str]:
    """``scripts/lab env --json``."""
    out = subprocess.run(
        [str(LAB), "env", "--json"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    env: dict[str, str] = json.loads(out)
    return env
