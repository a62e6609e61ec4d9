"""`scripts/bench core`: parse + model time of a 16-node/300-resource crm_mon output.

Prints numbers only (no asserts). Target: parse + model under 15 ms (median).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import os
from pathlib import Path
import statistics
import time

from hacluster.parsers.crm_mon import parse_crm_mon

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "core" / "fixtures" / "pacemaker"
BIG = FIXTURES / "big.xml"
BIG_LEAN = FIXTURES / "big.no-operations.xml"
BIG_CONSTRAINTS = FIXTURES / "big.constraints.xml"


@dataclass(frozen=True, kw_only=True, slots=True)
class Timing:
    """Timings of one benchmark, in milliseconds."""

    runs: int
    median_ms: float
    p90_ms: float
    min_ms: float
    cpu_median_ms: float


def time_parse(data: bytes, *, cib: bytes | None = None, runs: int = 200) -> Timing:
    """Time ``parse_crm_mon`` (XML parse + model) over ``runs`` runs after a warm-up."""
    for _ in range(5):
        parse_crm_mon(data, cib=cib)
    samples: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.thread_time()
        parse_crm_mon(data, cib=cib)
        cpu.append((time.thread_time() - start_cpu) * 1000)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return Timing(
        runs=runs,
        median_ms=statistics.median(samples),
        p90_ms=samples[min(len(samples) - 1, int(len(samples) * 0.9))],
        min_ms=samples[0],
        cpu_median_ms=statistics.median(cpu),
    )


def pacemaker_parse_numbers(runs: int) -> list[tuple[str, int, Timing]]:
    """Return (label, input bytes, timing) for the big fixture variants."""
    big = BIG.read_bytes()
    lean = BIG_LEAN.read_bytes()
    constraints = BIG_CONSTRAINTS.read_bytes()
    return [
        ("crm_mon --output-as=xml", len(big), time_parse(big, runs=runs)),
        (
            "crm_mon --output-as=xml --exclude=operations",
            len(lean),
            time_parse(lean, runs=runs),
        ),
        (
            "  + cibadmin --query --scope constraints",
            len(lean) + len(constraints),
            time_parse(lean, cib=constraints, runs=runs),
        ),
    ]


async def poll_numbers(polls: int = 20) -> tuple[float, float, float]:
    """Poll a fake 2-node cluster answering with the big fixture over real SSH (in-process).

    Returns (SSH execs per node per poll, bytes read per poll, median poll seconds).
    """
    import sys
    import tempfile

    import asyncssh

    sys.path.insert(0, str(ROOT / "tests" / "core"))
    from sshserver import FakeSSHServer

    from hacluster.client import ClusterClient
    from hacluster.transport import Credentials, NodeEndpoint

    key = asyncssh.generate_private_key("ssh-ed25519")
    servers: list[FakeSSHServer] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(2):
            server = FakeSSHServer(Path(tmp) / f"n{i}")
            server.add_user("root", key=key)
            server.respond(
                ("crm_mon", "--output-as=xml", "--exclude=operations"),
                stdout=BIG_LEAN.read_bytes(),
            )
            server.respond(
                ("cibadmin", "--query", "--scope", "constraints"),
                stdout=BIG_CONSTRAINTS.read_bytes(),
            )
            await server.start()
            servers.append(server)
        endpoints = [
            NodeEndpoint(name=f"n{i}", host=s.host, port=s.port, host_key=s.host_key_line)
            for i, s in enumerate(servers)
        ]
        creds = Credentials(username="root", private_key=key.export_private_key().decode())
        client = ClusterClient(endpoints, creds)
        durations: list[float] = []
        try:
            await client.poll()  # connect once; later polls reuse the sessions
            before = sum(s.execs for s in servers)
            read_before = client.transport.bytes_read
            for _ in range(polls):
                start = time.perf_counter()
                await client.poll()
                durations.append(time.perf_counter() - start)
            execs = (sum(s.execs for s in servers) - before) / (polls * len(servers))
            read = (client.transport.bytes_read - read_before) / polls
        finally:
            await client.close()
            for server in servers:
                await server.stop()
    return execs, read, statistics.median(durations)


def main(argv: list[str] | None = None) -> int:
    """Print the core benchmark numbers."""
    parser = argparse.ArgumentParser(prog="scripts/bench core", description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="runs per measurement (>= 200)")
    args = parser.parse_args(argv)
    runs = max(200, args.runs)
    status = parse_crm_mon(BIG.read_bytes())
    print(
        f"fixture: {BIG.relative_to(ROOT)} ({len(status.nodes)} nodes, "
        f"{len(list(status.iter_primitives()))} primitives, "
        f"{len(status.resources)} top-level resources)"
    )
    print(
        f"parse + model (target < 15 ms), wall clock over {runs} runs each; cpu = thread CPU time"
    )
    print(
        f"(load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs: wall times grow with it)"
    )
    for label, size, timing in pacemaker_parse_numbers(runs):
        print(
            f"  {label:<46} {size:>7} bytes  median {timing.median_ms:6.2f} ms  "
            f"p90 {timing.p90_ms:6.2f} ms  min {timing.min_ms:6.2f} ms  "
            f"cpu median {timing.cpu_median_ms:6.2f} ms"
        )
    import asyncio

    execs, read, poll_s = asyncio.run(poll_numbers())
    print("one poll of a 2-node cluster answering with that output (in-process SSH server):")
    print(f"  SSH execs per node per poll: {execs:.2f}")
    print(f"  bytes read per poll (both nodes): {read:,.0f}")
    print(f"  median poll time incl. SSH and parsing: {poll_s * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
