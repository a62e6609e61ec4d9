"""Time until the core sees each lab fault: ``ClusterClient.poll()`` back to back on the lab.

For each scenario, the seconds from the moment the lab action is issued (``scripts/lab ...``)
until the first poll that *returned after it* shows each step of the change. The poller runs
continuously (one poll right after the other, as fast as it can) in the background while the
action runs, so the resolution is one poll (printed as "poll" per scenario).

    standby   crm node standby <active>: node standby -> application + Primary on the other node
    crash     scripts/lab crash <active>: unreachable -> offline in the survivor's view -> the
              survivor's DRBD peer Connecting -> application on the survivor; boot -> healthy
    isolate   scripts/lab isolate <secondary>: unreachable -> offline in the active node's view;
              once the cut-off half runs the group too, heal: reachable -> split-brain verdict
              (cluster, then both nodes); then scripts/lab recover
    disk      scripts/lab fail-disk <secondary>: Diskless; repair-disk: UpToDate again

The client uses the settings of the e2e tests (keepalive 1 s x 2, reconnect backoff 0.5-2 s,
connect timeout 2 s): a crashed node is declared dead after about 3 s of silence.
Prints numbers only (no asserts). Needs root and the lab (``scripts/lab up``: brought up in
its default shape when it is down); holds the e2e lock while it runs. Leaves the lab healthy.

    scripts/bench.d/core_visibility.py [--runs N] [--only standby,crash,isolate,disk]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass, field
import fcntl
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import time

from hacluster.analysis import application_node, find_application
from hacluster.client import ClusterClient, ClusterSnapshot
from hacluster.models.drbd import ConnectionState, DiskState, DrbdResource, DrbdRole
from hacluster.models.pacemaker import NodeState
from hacluster.transport import Credentials, NodeEndpoint

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "scripts" / "lab"
LOCK = ROOT / "lab" / "run" / "e2e.lock"
DRBD = "home-assistant"
SCENARIOS = ("standby", "crash", "isolate", "disk")
KEEPALIVE = (1.0, 2)
"""keepalive interval (s) and count: a silent node is declared dead after about 3 s"""
BACKOFF = (0.5, 2.0)
#: longest wait for one step before it is reported as "timeout"
STEP_TIMEOUT = 120.0

Check = Callable[[ClusterSnapshot], bool]


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


def lab(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/lab ARGS`` (blocking; only between measurements)."""
    return subprocess.run(
        [str(LAB), *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )


async def lab_async(*args: str) -> float:
    """Run ``scripts/lab ARGS`` without blocking the poller; return how long it took."""
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        str(LAB),
        *args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        print(f"  scripts/lab {' '.join(args)} failed: {err.decode().strip()}", file=sys.stderr)
    return time.monotonic() - t0


def ensure_lab() -> dict[str, str]:
    """The default lab, up and healthy; its ``scripts/lab env --json``."""
    env: dict[str, str] = json.loads(lab("env", "--json").stdout)
    if env["HALAB_UP"] == "1" and (env["HALAB_MODE"], env["HALAB_NODE_COUNT"]) != ("cluster", "2"):
        lab("down")
    if env["HALAB_UP"] != "1" or env["HALAB_MODE"] != "cluster":
        lab("up")
    make_healthy()
    out: dict[str, str] = json.loads(lab("env", "--json").stdout)
    return out


def make_healthy() -> None:
    """``wait healthy``, else ``recover``."""
    if lab("wait", "healthy", "--timeout", "10", check=False).returncode != 0:
        lab("recover")


def client_for(env: dict[str, str]) -> ClusterClient:
    """A core client for the lab's nodes (own addresses, pinned host keys)."""
    endpoints = [
        NodeEndpoint(
            name=n,
            host=env[f"HALAB_IP_{n.replace('-', '_')}"],
            port=int(env["HALAB_SSH_PORT"]),
            host_key=env[f"HALAB_HOSTKEY_{n.replace('-', '_')}"],
        )
        for n in env["HALAB_NODES"].split()
    ]
    creds = Credentials(
        username=env["HALAB_SSH_USER"], private_key=Path(env["HALAB_SSH_KEY"]).read_text()
    )
    return ClusterClient(
        endpoints,
        creds,
        connect_timeout=2.0,
        command_timeout=10.0,
        keepalive_interval=KEEPALIVE[0],
        keepalive_count_max=KEEPALIVE[1],
        reconnect_backoff=BACKOFF,
    )


# --------------------------------------------------------------------------------------------
# the poller
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Poll:
    """One poll: when it started and returned (monotonic) and what it showed."""

    start: float
    end: float
    snapshot: ClusterSnapshot


@dataclass(kw_only=True)
class Poller:
    """Polls back to back in the background and keeps every result."""

    client: ClusterClient
    polls: list[Poll] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start polling."""
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop polling."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        while True:
            start = time.monotonic()
            snap = await self.client.poll()
            self.polls.append(Poll(start=start, end=time.monotonic(), snapshot=snap))

    async def first(self, check: Check, since: float) -> float | None:
        """Seconds from ``since`` until the first poll returned after it satisfies ``check``.

        None when no poll did within :data:`STEP_TIMEOUT` seconds.
        """
        deadline = time.monotonic() + STEP_TIMEOUT
        seen = 0
        while time.monotonic() < deadline:
            for poll in self.polls[seen:]:
                if poll.end >= since and check(poll.snapshot):
                    return poll.end - since
            seen = len(self.polls)
            await asyncio.sleep(0.02)
        return None

    def durations(self, since: float) -> list[float]:
        """Durations of the polls that returned after ``since``."""
        return [p.end - p.start for p in self.polls if p.end >= since]


# --------------------------------------------------------------------------------------------
# what a snapshot shows
# --------------------------------------------------------------------------------------------


def res(snap: ClusterSnapshot, node: str) -> DrbdResource | None:
    """The lab's DRBD resource as ``node`` reports it."""
    report = snap.node(node)
    return report.drbd.resource(DRBD) if report and report.drbd else None


def app_node(snap: ClusterSnapshot) -> str | None:
    """Where the application runs (cluster view)."""
    pm = snap.pacemaker
    return application_node(find_application(pm)) if pm else None


def node_state(snap: ClusterSnapshot, node: str) -> NodeState | None:
    """A node's state in the cluster view."""
    found = snap.pacemaker.node(node) if snap.pacemaker else None
    return found.state if found else None


def reachable(node: str) -> Check:
    """The node answered this poll."""
    return lambda s: node in s.reachable


def unreachable(node: str) -> Check:
    """The node did not answer."""
    return lambda s: node not in s.reachable


def offline_for(node: str, viewer: str) -> Check:
    """``viewer``'s view shows ``node`` offline."""
    return lambda s: s.view_from == viewer and node_state(s, node) in {
        NodeState.OFFLINE,
        NodeState.UNCLEAN,
    }


def app_on(node: str) -> Check:
    """The application runs on ``node`` and DRBD is Primary there."""

    def check(s: ClusterSnapshot) -> bool:
        r = res(s, node)
        return app_node(s) == node and r is not None and r.role is DrbdRole.PRIMARY

    return check


def peer_connecting(node: str, peer: str) -> Check:
    """``node``'s DRBD connection to ``peer`` is Connecting."""

    def check(s: ClusterSnapshot) -> bool:
        r = res(s, node)
        conn = r.connection(peer) if r else None
        return conn is not None and conn.connection_state is ConnectionState.CONNECTING

    return check


def disk_is(node: str, state: DiskState) -> Check:
    """``node``'s DRBD disk is in ``state``."""

    def check(s: ClusterSnapshot) -> bool:
        r = res(s, node)
        return r is not None and r.disk_state is state

    return check


def split_brain_cluster(s: ClusterSnapshot) -> bool:
    """The cluster-wide verdict is true."""
    verdict = s.split_brain.get(DRBD)
    return verdict is not None and verdict.split_brain


def split_brain_everywhere(nodes: list[str]) -> Check:
    """Every node's own verdict is true."""

    def check(s: ClusterSnapshot) -> bool:
        views = [res(s, n) for n in nodes]
        return all(r is not None and r.split_brain.split_brain for r in views)

    return check


def healthy(nodes: list[str]) -> Check:
    """All reachable, application on one node, DRBD UpToDate + Connected everywhere."""

    def check(s: ClusterSnapshot) -> bool:
        if len(s.reachable) != len(nodes) or app_node(s) is None or s.partitioned:
            return False
        if any(node_state(s, n) is not NodeState.ONLINE for n in nodes):
            return False
        for n in nodes:
            r = res(s, n)
            if r is None or r.disk_state is not DiskState.UP_TO_DATE or r.split_brain.split_brain:
                return False
            if not r.connections or not all(
                c.connected and c.peer_disk_state is DiskState.UP_TO_DATE for c in r.connections
            ):
                return False
        return True

    return check


# --------------------------------------------------------------------------------------------
# scenarios
# --------------------------------------------------------------------------------------------

Results = dict[str, list[float | None]]


async def steps(
    poller: Poller, results: Results, since: float, todo: list[tuple[str, Check]]
) -> None:
    """Time every step from ``since`` (steps may complete in the same poll)."""
    for label, check in todo:
        results.setdefault(label, []).append(await poller.first(check, since))


def note_polls(poller: Poller, results: Results, label: str, since: float) -> None:
    """Record the median poll duration of a scenario."""
    durations = poller.durations(since)
    results.setdefault(label, []).append(statistics.median(durations) if durations else None)


async def active_node(poller: Poller, nodes: list[str]) -> str:
    """Where the application runs now (from a fresh poll of the healthy lab)."""
    since = time.monotonic()
    await poller.first(healthy(nodes), since)
    where = app_node(poller.polls[-1].snapshot)
    if where is None:
        raise RuntimeError("the application runs nowhere")
    return where


async def run_standby(poller: Poller, nodes: list[str], results: Results) -> None:
    """crm node standby <active> -> the group moves; online again."""
    active = await active_node(poller, nodes)
    other = next(n for n in nodes if n != active)
    t0 = time.monotonic()
    await lab_async("exec", other, "crm", "node", "standby", active)
    await steps(
        poller,
        results,
        t0,
        [
            ("node in standby", lambda s: node_state(s, active) is NodeState.STANDBY),
            ("application + Primary on the other node", app_on(other)),
        ],
    )
    note_polls(poller, results, "poll (median)", t0)
    t0 = time.monotonic()
    await lab_async("exec", other, "crm", "node", "online", active)
    await steps(poller, results, t0, [("online -> healthy", healthy(nodes))])


async def run_crash(poller: Poller, nodes: list[str], results: Results) -> None:
    """scripts/lab crash <active> -> unreachable, offline, Connecting, failover; boot."""
    active = await active_node(poller, nodes)
    other = next(n for n in nodes if n != active)
    t0 = time.monotonic()
    took = await lab_async("crash", active)
    results.setdefault("(scripts/lab crash itself)", []).append(took)
    await steps(
        poller,
        results,
        t0,
        [
            ("crashed node unreachable", unreachable(active)),
            ("offline in the survivor's view", offline_for(active, other)),
            ("survivor's DRBD peer Connecting", peer_connecting(other, active)),
            ("application + Primary on the survivor", app_on(other)),
        ],
    )
    note_polls(poller, results, "poll (median)", t0)
    t0 = time.monotonic()
    await lab_async("boot", active)
    await steps(
        poller,
        results,
        t0,
        [("boot -> reachable", reachable(active)), ("boot -> healthy (resynced)", healthy(nodes))],
    )


async def run_isolate(poller: Poller, nodes: list[str], results: Results) -> None:
    """isolate the secondary -> cut off; heal -> split-brain verdict; recover."""
    active = await active_node(poller, nodes)
    other = next(n for n in nodes if n != active)
    t0 = time.monotonic()
    await lab_async("isolate", other)
    await steps(
        poller,
        results,
        t0,
        [
            ("isolated node unreachable", unreachable(other)),
            ("offline in the active node's view", offline_for(other, active)),
        ],
    )
    note_polls(poller, results, "poll (median)", t0)
    # the cut-off half takes the group too (seen from inside it: the core cannot reach it)
    await lab_async("wait", "group-on", other, "--on", other, "--timeout", "120")
    results.setdefault("(isolated half runs the group, in-node)", []).append(time.monotonic() - t0)
    t0 = time.monotonic()
    await lab_async("heal", other)
    await steps(
        poller,
        results,
        t0,
        [
            ("heal -> reachable again", reachable(other)),
            ("heal -> split-brain verdict (cluster)", split_brain_cluster),
            ("heal -> verdict on both nodes", split_brain_everywhere(nodes)),
        ],
    )
    partitioned = any(p.snapshot.partitioned for p in poller.polls if p.end >= t0)
    results.setdefault("heal -> partitioned seen (1 = yes)", []).append(float(partitioned))
    t0 = time.monotonic()
    await lab_async("recover")
    await steps(poller, results, t0, [("recover -> verdict cleared, healthy", healthy(nodes))])


async def run_disk(poller: Poller, nodes: list[str], results: Results) -> None:
    """fail-disk of the secondary -> Diskless; repair-disk -> UpToDate."""
    active = await active_node(poller, nodes)
    other = next(n for n in nodes if n != active)
    t0 = time.monotonic()
    await lab_async("fail-disk", other)
    await steps(poller, results, t0, [("disk Diskless", disk_is(other, DiskState.DISKLESS))])
    note_polls(poller, results, "poll (median)", t0)
    t0 = time.monotonic()
    await lab_async("repair-disk", other)
    await steps(poller, results, t0, [("repair -> UpToDate (resynced)", healthy(nodes))])


RUNNERS = {"standby": run_standby, "crash": run_crash, "isolate": run_isolate, "disk": run_disk}


def fmt(value: float | None) -> str:
    """Seconds, or timeout."""
    return "timeout" if value is None else f"{value:6.2f}"


def print_results(name: str, results: Results) -> None:
    """One row per step: every run, then the median of the runs that finished."""
    print(f"== {name} (seconds from the lab action until a poll shows it)")
    for label, values in results.items():
        done = [v for v in values if v is not None]
        med = f"median {statistics.median(done):6.2f}" if done else ""
        print(f"  {label:44s} {' '.join(fmt(v) for v in values):30s} {med}")
    sys.stdout.flush()


async def bench(env: dict[str, str], runs: int, only: list[str]) -> None:
    """Run the scenarios, each ``runs`` times, with one poller for everything."""
    nodes = env["HALAB_NODES"].split()
    client = client_for(env)
    poller = Poller(client=client)
    poller.start()
    try:
        for name in only:
            results: Results = {}
            for _ in range(runs):
                try:
                    await RUNNERS[name](poller, nodes, results)
                finally:
                    await asyncio.to_thread(make_healthy)
            print_results(name, results)
    finally:
        await poller.stop()
        await client.close()


def main() -> int:
    """Command line entry."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "2")))
    ap.add_argument("--only", default=",".join(SCENARIOS))
    ns = ap.parse_args()
    only = [s for s in ns.only.split(",") if s]
    unknown = [s for s in only if s not in RUNNERS]
    if unknown:
        ap.error(f"unknown scenario(s) {unknown}; have {list(SCENARIOS)}")
    if os.geteuid() != 0:
        print("core visibility: needs root (the lab)", file=sys.stderr)
        return 1
    with e2e_lock():
        env = ensure_lab()
        print(
            f"core visibility on the lab: {os.cpu_count()} CPUs, runs {ns.runs}, client "
            f"keepalive {KEEPALIVE[0]:g} s x {KEEPALIVE[1]}, reconnect backoff "
            f"{BACKOFF[0]:g}-{BACKOFF[1]:g} s"
        )
        asyncio.run(bench(env, ns.runs, only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
