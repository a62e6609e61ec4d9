"""`scripts/bench provision`: seconds from a bare lab to the application running, and the no-op.

Under the e2e lock (tests/e2e/conftest.py's lock file): `scripts/lab down`, `up --bare`, then
`hacluster provision apply` with the lab's example file (timed: bare nodes -> application
running, the apply's own wait included), a second apply (timed: the no-op), and the lab is
rebuilt in its normal mode. Prints numbers only (no asserts); `--keep` leaves the provisioned
bare lab up, `--runs N` repeats the measurement.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time

from _lablib import LAB, ROOT, e2e_lock

EXAMPLE = ROOT / "scripts" / "examples" / "lab-cluster.yaml"


def run(*argv: str, timeout: float = 600) -> tuple[float, str]:
    """Run a command from the repository; (seconds, stdout). Exits on failure."""
    started = time.monotonic()
    proc = subprocess.run(
        argv,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed, proc.stdout


def lab_mode() -> tuple[str, str]:
    """(HALAB_UP, HALAB_MODE)."""
    _, out = run(str(LAB), "env")
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return values.get("HALAB_UP", "0"), values.get("HALAB_MODE", "cluster")


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="leave the provisioned lab up")
    args = parser.parse_args()
    config = EXAMPLE  # no checkout paths in it: the lab app agent finds appd.py itself
    provision = [sys.executable, "-m", "hacluster.provision.cli", "provision"]
    firsts: list[float] = []
    noops: list[float] = []
    steps = ""
    with e2e_lock():
        up, mode = lab_mode()
        try:
            for _ in range(args.runs):
                run(str(LAB), "down")
                bare, _ = run(str(LAB), "up", "--bare")
                first, out = run(*provision, "apply", "--config", str(config))
                steps = " ".join(re.findall(r"Applied \d+ steps in [\d.]+ s", out))
                noop, out = run(*provision, "apply", "--config", str(config))
                if "Nothing to do" not in out:
                    sys.exit(f"the second apply was not a no-op:\n{out}")
                firsts.append(first)
                noops.append(noop)
                print(f"run: up --bare {bare:.1f} s, apply {first:.1f} s ({steps}), "
                      f"no-op apply {noop:.1f} s")  # fmt: skip
        finally:
            if not args.keep:
                run(str(LAB), "down")
                if up == "1":
                    flags = {"bare": ["--bare"], "hass": ["--with-home-assistant"]}
                    run(str(LAB), "up", *flags.get(mode, []))
    print(f"provision: bare lab -> application running  {statistics.median(firsts):6.1f} s "
          f"(median of {len(firsts)})")  # fmt: skip
    print(f"provision: second apply (no-op)             {statistics.median(noops):6.1f} s")


if __name__ == "__main__":
    main()
