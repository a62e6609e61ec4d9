"""`scripts/bench lab`: the lab's timings, printed (never asserted).

One command for every lab number; each row is the median of the runs with min and max.

    up       scripts/lab down, then up from nothing (--runs times); up on the running lab
    standby  crm node standby <group node> -> the group runs on the peer; online -> healthy
    crash    scripts/lab crash <group node> -> the survivor sees it offline -> the group runs
             on the survivor; boot -> healthy again (DRBD resynced)
    core     the time until the hacluster core sees each change: ``ClusterClient.poll()`` back
             to back while the lab action runs (scenarios standby, crash, isolate, disk):
               standby  node standby -> application + Primary on the other node
               crash    unreachable -> offline in the survivor's view -> the survivor's DRBD
                        peer Connecting -> application on the survivor; boot -> healthy
               isolate  (the secondary) unreachable -> offline in the active node's view;
                        once the cut-off half runs the group too, heal: reachable ->
                        split-brain verdict (cluster, then both nodes); recover -> healthy
               disk     fail-disk (the secondary) -> Diskless; repair-disk -> UpToDate

The clock starts when the lab action is issued. In the up/standby/crash sections the result is
seen inside the node (``scripts/lab wait``: crm_mon every 0.2 s, on the survivor after a
crash); in the core section by the first poll that returned after the action and shows it (its
resolution is one poll, printed as "poll"). The core client uses the e2e tests' settings
(keepalive 1 s x 2, reconnect backoff 0.5-2 s, connect timeout 2 s): a crashed node is
declared dead after about 3 s of silence.

Needs root; holds the e2e lock (``lab/run/e2e.lock``) for the whole run and leaves the default
lab (2 nodes) up and healthy.

    scripts/bench lab [--runs N] [--only up,standby,crash,core]
                      [--core-runs N] [--scenarios standby,crash,isolate,disk]

``RUNS`` (environment) is the default of ``--runs`` (3); ``--core-runs`` defaults to
``--runs``. ``scripts/bench lab core`` (or ``--only core``) is the core part alone.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import json
import logging
import os
from pathlib import Path
import statistics
import subprocess
import sys
import time

from _lablib import LAB, e2e_lock, lab_env

from hacluster.analysis import application_node, find_application
from hacluster.client import ClusterClient, ClusterSnapshot
from hacluster.models.drbd import ConnectionState, DiskState, DrbdResource, DrbdRole
from hacluster.models.pacemaker import NodeState
from hacluster.transport import Credentials, NodeEndpoint

DRBD = "home-assistant"
SECTIONS = ("up", "standby", "crash", "core")
SCENARIOS = ("standby", "crash", "isolate", "disk")
KEEPALIVE = (1.0, 2)
"""keepalive interval (s) and count: a silent node is declared dead after about 3 s"""
BACKOFF = (0.5, 2.0)
#: longest wait for one step before it is reported as "timeout"
STEP_TIMEOUT = 120.0

Check = Callable[[ClusterSnapshot], bool]
#: label -> one value per run (None: did not happen in time)
Results = dict[str, list[float | None]]


def lab(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/lab ARGS`` (blocking)."""
    return subprocess.run(
        [str(LAB), *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
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
    env = lab_env()
    if env["HALAB_UP"] == "1" and (env["HALAB_MODE"], env["HALAB_NODE_COUNT"]) != ("cluster", "2"):
        lab("down")
    if env["HALAB_UP"] != "1" or env["HALAB_MODE"] != "cluster":
        lab("up")
    make_healthy()
    return lab_env()


def make_healthy() -> None:
    """``wait healthy``, else ``recover``."""
    if lab("wait", "healthy", "--timeout", "10", check=False).returncode != 0:
        lab("recover")


# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------


def fmt(value: float) -> str:
    """Seconds with two decimals."""
    return f"{value:7.2f}"


def print_header(title: str) -> None:
    """A section title with the column names."""
    print(f"== {title}")
    print(f"  {'':50s} {'median':>7s} {'min':>7s} {'max':>7s}  runs")


def print_results(results: Results) -> None:
    """One row per step: median, min and max of the runs that finished (and the timeouts)."""
    for label, values in results.items():
        done = [v for v in values if v is not None]
        missed = len(values) - len(done)
        cols = (
            f"{fmt(statistics.median(done))} {fmt(min(done))} {fmt(max(done))}"
            if done
            else f"{'-':>7s} {'-':>7s} {'-':>7s}"
        )
        note = f", {missed} timed out" if missed else ""
        print(f"  {label:50s} {cols}  {len(done)}{note}")
    sys.stdout.flush()


# --------------------------------------------------------------------------------------------
# the lab's own timings (seen inside the nodes)
# --------------------------------------------------------------------------------------------


def group_node() -> str:
    """Where the group runs now."""
    node: str = json.loads(lab("state", "--json").stdout)["crm"]["group_node"]
    return node


def other_node(nodes: list[str], node: str) -> str:
    """The first node that is not ``node``."""
    return next(n for n in nodes if n != node)


def healthy_since(t0: float, timeout: float = 180) -> float | None:
    """Seconds from ``t0`` until ``wait healthy`` returns (None on timeout)."""
    ok = lab("wait", "healthy", "--timeout", str(timeout), check=False).returncode == 0
    return time.monotonic() - t0 if ok else None


def healthy_pair(nodes: list[str]) -> tuple[str, str]:
    """Make the lab healthy; (the group's node, the other node)."""
    make_healthy()
    src = group_node()
    return src, other_node(nodes, src)


def timed(action: list[str], waits: list[list[str]]) -> list[float | None]:
    """Issue ``scripts/lab ACTION`` at t0 (in the background), then ``scripts/lab wait ARGS``
    for each of ``waits`` in turn: the seconds from t0 until each one was satisfied."""
    out: list[float | None] = []
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [str(LAB), *action],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for args in waits:
        ok = lab("wait", *args, "--timeout", "120", check=False).returncode == 0
        out.append(time.monotonic() - t0 if ok else None)
    _, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        print(f"  scripts/lab {' '.join(action)} failed: {err.strip()}", file=sys.stderr)
    return out


def add(results: Results, label: str, value: float | None) -> None:
    """Record one run's value."""
    results.setdefault(label, []).append(value)


def bench_up(runs: int) -> None:
    """down + up from nothing, ``runs`` times; then up on the running lab."""
    results: Results = {}
    for _ in range(runs):
        t0 = time.monotonic()
        lab("down")
        add(results, "down", time.monotonic() - t0)
        t0 = time.monotonic()
        ok = lab("up", check=False).returncode == 0
        add(
            results,
            "up from nothing (2 nodes, DRBD setup, CIB, healthy)",
            time.monotonic() - t0 if ok else None,
        )
    t0 = time.monotonic()
    ok = lab("up", check=False).returncode == 0
    add(
        results, "up on the running healthy lab (idempotent)", time.monotonic() - t0 if ok else None
    )
    print_header("up (scripts/lab, seconds)")
    print_results(results)


def bench_standby(runs: int) -> None:
    """crm node standby of the group's node -> group on the peer; online -> healthy."""
    nodes = ensure_lab()["HALAB_NODES"].split()
    results: Results = {}
    for _ in range(runs):
        src, dst = healthy_pair(nodes)
        (moved,) = timed(
            ["exec", dst, "crm", "node", "standby", src], [["group-on", dst, "--on", dst]]
        )
        add(results, "crm node standby -> group running on the peer", moved)
        t0 = time.monotonic()
        lab("exec", dst, "crm", "node", "online", src, check=False)
        add(results, "crm node online -> healthy", healthy_since(t0))
    print_header("standby failover (seconds from the command, seen in-node)")
    print_results(results)


def bench_crash(runs: int) -> None:
    """Power-off of the group's node -> offline -> group on the survivor; boot -> healthy."""
    nodes = ensure_lab()["HALAB_NODES"].split()
    results: Results = {}
    for _ in range(runs):
        src, dst = healthy_pair(nodes)
        offline, moved = timed(
            ["crash", src], [["offline", src, "--on", dst], ["group-on", dst, "--on", dst]]
        )
        add(results, "crash -> the survivor sees the node offline", offline)
        add(results, "crash -> group running on the survivor", moved)
        t0 = time.monotonic()
        booted = lab("boot", src, check=False).returncode == 0
        add(results, "boot -> healthy (DRBD resynced)", healthy_since(t0) if booted else None)
    make_healthy()
    print_header("crash failover (seconds from scripts/lab crash, seen in-node on the survivor)")
    print_results(results)


# --------------------------------------------------------------------------------------------
# the core's view
# --------------------------------------------------------------------------------------------


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


async def in_node(t0: float, *cond: str) -> float | None:
    """Seconds from ``t0`` until ``scripts/lab wait COND`` (inside the nodes) returns."""
    proc = await asyncio.create_subprocess_exec(
        str(LAB),
        "wait",
        *cond,
        "--timeout",
        str(STEP_TIMEOUT),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.monotonic() - t0 if await proc.wait() == 0 else None


async def run_standby(poller: Poller, nodes: list[str], results: Results) -> None:
    """crm node standby <active> -> the group moves; online again."""
    active = await active_node(poller, nodes)
    other = next(n for n in nodes if n != active)
    t0 = time.monotonic()
    inside = asyncio.create_task(in_node(t0, "group-on", other, "--on", other))
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
    add(results, "(the same, seen in-node meanwhile)", await inside)
    note_polls(poller, results, "poll (median)", t0)
    t0 = time.monotonic()
    await lab_async("exec", other, "crm", "node", "online", active)
    await steps(poller, results, t0, [("online -> healthy", healthy(nodes))])


async def run_crash(poller: Poller, nodes: list[str], results: Results) -> None:
    """scripts/lab crash <active> -> unreachable, offline, Connecting, failover; boot."""
    active = await active_node(poller, nodes)
    other = next(n for n in nodes if n != active)
    t0 = time.monotonic()
    inside = asyncio.create_task(in_node(t0, "group-on", other, "--on", other))
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
    add(results, "(the same, seen in-node meanwhile)", await inside)
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


async def bench_core_async(env: dict[str, str], runs: int, only: list[str]) -> None:
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
            print_header(f"core sees it: {name} (seconds from the lab action to the poll)")
            print_results(results)
    finally:
        await poller.stop()
        await client.close()


def bench_core(runs: int, only: list[str]) -> None:
    """The core part: every scenario ``runs`` times."""
    env = ensure_lab()
    print(
        f"-- core client: keepalive {KEEPALIVE[0]:g} s x {KEEPALIVE[1]}, reconnect backoff "
        f"{BACKOFF[0]:g}-{BACKOFF[1]:g} s, polls back to back"
    )
    asyncio.run(bench_core_async(env, runs, only))


def parse_list(value: str, allowed: tuple[str, ...], ap: argparse.ArgumentParser) -> list[str]:
    """A comma-separated subset of ``allowed`` (in the given order)."""
    items = [s for s in value.split(",") if s]
    unknown = [s for s in items if s not in allowed]
    if unknown:
        ap.error(f"unknown {unknown}; have {list(allowed)}")
    return items


def main() -> int:
    """Command line entry."""
    ap = argparse.ArgumentParser(
        prog="scripts/bench lab", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("what", nargs="?", default="all", help="all, or one of " + ", ".join(SECTIONS))
    ap.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "3")))
    ap.add_argument("--only", default=None, help="comma-separated sections")
    ap.add_argument("--core-runs", type=int, default=None)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ns = ap.parse_args()
    if ns.only is not None:
        sections = parse_list(ns.only, SECTIONS, ap)
    elif ns.what == "all":
        sections = list(SECTIONS)
    else:
        sections = parse_list(ns.what, SECTIONS, ap)
    scenarios = parse_list(ns.scenarios, SCENARIOS, ap)
    core_runs = ns.runs if ns.core_runs is None else ns.core_runs
    if os.geteuid() != 0:
        print("scripts/bench lab: needs root (the lab)", file=sys.stderr)
        return 1
    # the core logs a warning for every node it loses; here that is the point of the exercise
    logging.basicConfig(level=logging.ERROR)
    started = time.monotonic()
    with e2e_lock():
        settings = Path(os.environ.get("HALAB_STATE", "/var/lib/halab")) / "settings"
        load = os.getloadavg()[0]
        print(
            f"lab timings: {os.cpu_count()} CPUs, load {load:.1f} at the start, runs {ns.runs}"
            f"{f' (core {core_runs})' if 'core' in sections else ''}; lab settings: "
            + (" ".join(settings.read_text().split()) if settings.exists() else "(lab down)")
        )
        sys.stdout.flush()
        try:
            if "up" in sections:
                bench_up(ns.runs)
            if "standby" in sections:
                bench_standby(ns.runs)
            if "crash" in sections:
                bench_crash(ns.runs)
            if "core" in sections:
                bench_core(core_runs, scenarios)
        finally:
            ensure_lab()
    took = time.monotonic() - started
    print(f"(the whole run: {took:.0f} s, load {os.getloadavg()[0]:.1f} at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
