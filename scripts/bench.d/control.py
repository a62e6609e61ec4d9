"""`scripts/bench control`: the control actions on the lab, timed (numbers only, no asserts).

For each failover (back and forth, RUNS times) and one standby/online pair:

* total: from the call to ``ClusterController`` returning (interlock poll, command, settle,
  constraint clear, verification poll);
* cluster: from sending the command until our light poll first saw the expected state
  (``ActionResult.cluster_seconds``);
* crm_mon: from the call until an independent ``crm_mon`` poller (its own SSH session to the
  target node, one poll after another, 0.1 s apart; ``crm_mon`` and ``crmadmin`` side by side
  in one exec, like our light polls) first saw the same state;
* overhead: total minus crm_mon, i.e. what our settle-and-verify adds beyond what plain
  ``crm_mon`` polling shows. Target: under 0.5 s.

Needs the lab up (``scripts/lab up``); holds the e2e lock while it runs.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
import os
from pathlib import Path
import statistics
import sys
import time

from _lablib import e2e_lock, lab_env

from hacluster.client import ClusterClient
from hacluster.commands import POLL_COMMANDS, BatchCommand
from hacluster.control import ActionResult, ClusterController, LightView, application_on
from hacluster.models.pacemaker import PacemakerStatus
from hacluster.parsers.crm_mon import parse_crm_mon
from hacluster.transport import Credentials, NodeEndpoint, NodeSession

APP = "g_home-assistant"
CRM_MON = next(c for c in POLL_COMMANDS if c.name == "crm_mon")


def endpoints(env: dict[str, str]) -> list[NodeEndpoint]:
    """The nodes' own addresses with their pinned host keys."""
    return [
        NodeEndpoint(
            name=n,
            host=env[f"HALAB_IP_{n.replace('-', '_')}"],
            port=int(env["HALAB_SSH_PORT"]),
            host_key=env[f"HALAB_HOSTKEY_{n.replace('-', '_')}"],
        )
        for n in env["HALAB_NODES"].split()
    ]


@dataclass(frozen=True, kw_only=True, slots=True)
class Sample:
    """One timed action."""

    label: str
    total: float
    cluster: float | None
    crm_mon: float | None
    polls: int
    timings: dict[str, float]

    @property
    def overhead(self) -> float | None:
        """Total minus what plain crm_mon polling showed."""
        return None if self.crm_mon is None else self.total - self.crm_mon


async def watch(
    session: NodeSession, check: Callable[[LightView], bool], t0: float, stop: asyncio.Event
) -> float | None:
    """Seconds from ``t0`` until a poll on ``session`` satisfies ``check``.

    Each poll is ``crm_mon`` plus ``crmadmin -q -S DC`` (the DC named by the previous
    ``crm_mon``), so conditions that need an idle DC can be judged the same way.
    """
    dc: str | None = None
    while not stop.is_set():
        cmds = [CRM_MON]
        if dc is not None:
            cmds.append(BatchCommand(name="dc", argv=("crmadmin", "-q", "-S", dc), timeout=10))
        view: LightView | None = None
        try:
            batch = await session.run_batch(cmds, timeout=10, parallel=True)
            crm = batch["crm_mon"]
            status = parse_crm_mon(crm.stdout, exit_status=crm.exit_status)
            state = batch.get("dc")
            text = (state.stdout + state.stderr).decode() if state is not None else ""
            idle = "S_IDLE" in text if state is not None and status.dc == dc else None
            dc = status.dc
            view = LightView(
                status=status,
                dc_state=None if idle is None else ("S_IDLE" if idle else "busy"),
                node=session.name,
                at=time.monotonic(),
            )
        except Exception:  # noqa: BLE001 - a benchmark keeps polling
            view = None
        if view is not None and view.dc_state is not None and check(view):
            return time.monotonic() - t0
        await asyncio.sleep(0.1)
    return None


async def timed(
    label: str,
    watcher: NodeSession,
    check: Callable[[LightView], bool],
    action: Callable[[], Awaitable[ActionResult]],
) -> Sample:
    """Run ``action`` with an independent crm_mon watcher started at the same moment."""
    stop = asyncio.Event()
    t0 = time.monotonic()
    task = asyncio.create_task(watch(watcher, check, t0, stop))
    result = await action()
    total = time.monotonic() - t0
    try:
        seen = await asyncio.wait_for(task, timeout=5)
    except TimeoutError:
        seen = None
    stop.set()
    if not result.ok:
        print(f"  {label}: FAILED: {result.message}", file=sys.stderr)
    return Sample(
        label=label,
        total=total,
        cluster=result.cluster_seconds,
        crm_mon=seen,
        polls=int(result.details.get("polls", 0)),
        timings=dict(result.details.get("timings", {})),
    )


def arrived(view: LightView, target: str) -> bool:
    """The application runs on ``target``, Started, DRBD promoted there."""
    return application_on(view.status, APP, target)


def in_standby(view: LightView, node: str, other: str) -> bool:
    """The node is in standby and runs nothing; the application runs elsewhere; DC idle."""
    found = view.status.node(node)
    return (
        found is not None
        and found.standby
        and not found.resources_running
        and application_on(view.status, APP, other)
        and view.idle
    )


def is_online(view: LightView, node: str) -> bool:
    """The node is online, not in standby, and the DC is idle."""
    found = view.status.node(node)
    return found is not None and found.online and not found.standby and view.idle


def app_node(status: PacemakerStatus | None) -> str | None:
    """Where the application runs."""
    if status is None:
        return None
    rsc = status.resource(APP)
    return rsc.running_on[0] if rsc is not None and len(rsc.running_on) == 1 else None


def fmt(value: float | None) -> str:
    """Seconds with two decimals."""
    return "   -  " if value is None else f"{value:6.2f}"


async def poll_breakdown(
    client: ClusterClient, node: str, runs: int = 5
) -> list[tuple[str, float]]:
    """Median seconds of each command of a full poll, run alone on ``node``, and of the poll
    (its commands side by side, as the client runs them, and one after the other)."""
    session = client.transport.session(node)
    out: list[tuple[str, float]] = []
    for cmd in POLL_COMMANDS:
        times = []
        for _ in range(runs):
            t0 = time.monotonic()
            await session.run_batch((cmd,))
            times.append(time.monotonic() - t0)
        out.append((cmd.name, statistics.median(times)))
    for label, parallel in (("side by side", True), ("in order", False)):
        times = []
        for _ in range(runs):
            t0 = time.monotonic()
            await client.transport.run_batch_all(POLL_COMMANDS, parallel=parallel)
            times.append(time.monotonic() - t0)
        out.append((f"all nodes, {label}", statistics.median(times)))
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        await client.poll()
        times.append(time.monotonic() - t0)
    out.append(("client.poll() (all nodes)", statistics.median(times)))
    return out


async def bench(runs: int) -> tuple[list[Sample], list[tuple[str, float]]]:
    """Run the timed actions on the lab."""
    env = lab_env()
    if env.get("HALAB_UP") != "1":
        raise SystemExit("the lab is not up (scripts/lab up)")
    print(f"lab nodes: {env['HALAB_NODES']}", flush=True)
    key = Path(env["HALAB_SSH_KEY"]).read_text()
    creds = Credentials(username=env["HALAB_SSH_USER"], private_key=key)
    eps = endpoints(env)
    client = ClusterClient(eps, creds)
    watchers = {ep.name: NodeSession(ep, creds) for ep in eps}
    samples: list[Sample] = []
    breakdown: list[tuple[str, float]] = []
    try:
        ctl = ClusterController(client, application=APP, vip=env["HALAB_VIP"], settle_timeout=90)
        snap = await client.poll()
        for session in watchers.values():  # connected before the clock starts
            await session.run_batch((CRM_MON,))
        for i in range(runs * 2):
            here = app_node(snap.pacemaker)
            target = next(n for n in watchers if n != here)
            samples.append(
                await timed(
                    f"failover {here} -> {target} ({i + 1})",
                    watchers[target],
                    partial(arrived, target=target),
                    partial(ctl.failover, target),
                )
            )
            snap = await client.poll()
        here = app_node(snap.pacemaker)
        other = next(n for n in watchers if n != here)
        assert here is not None
        samples.append(
            await timed(
                f"standby {here}",
                watchers[other],
                partial(in_standby, node=here, other=other),
                partial(ctl.standby_node, here),
            )
        )
        samples.append(
            await timed(
                f"online {here}",
                watchers[other],
                partial(is_online, node=here),
                partial(ctl.online_node, here),
            )
        )
        breakdown = await poll_breakdown(client, eps[0].name)
    finally:
        for session in watchers.values():
            await session.close()
        await client.close()
    return samples, breakdown


def main(argv: list[str] | None = None) -> int:
    """Print the control benchmark."""
    parser = argparse.ArgumentParser(prog="scripts/bench control", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="failover round trips (default 3)")
    args = parser.parse_args(argv)
    with e2e_lock():
        load_before = os.getloadavg()
        samples, breakdown = asyncio.run(bench(max(1, args.runs)))
        load_after = os.getloadavg()
    print(
        f"{'action':34} {'total':>6} {'cluster':>7} {'crm_mon':>7} {'overhead':>8} polls"
        "  step ends (s since the call)"
    )
    for s in samples:
        print(
            f"{s.label:34} {fmt(s.total)} {fmt(s.cluster):>7} {fmt(s.crm_mon):>7} "
            f"{fmt(s.overhead):>8} {s.polls:5d}  "
            + " ".join(f"{k}={v:.2f}" for k, v in s.timings.items())
        )
    moves = [s for s in samples if s.label.startswith("failover") and s.crm_mon is not None]
    if moves:
        total = [s.total - (s.crm_mon or 0.0) for s in moves]
        cleared = [s.timings.get("cleared", s.total) - (s.crm_mon or 0.0) for s in moves]
        print(
            f"failover overhead beyond crm_mon polling: median {statistics.median(total):.2f} s,"
            f" max {max(total):.2f} s (target < 0.5 s); until the constraint is cleared:"
            f" median {statistics.median(cleared):.2f} s; the rest is the verification poll"
        )
    print(
        "load average (1, 5, 15 min) before: "
        + " ".join(f"{x:.2f}" for x in load_before)
        + ", after: "
        + " ".join(f"{x:.2f}" for x in load_after)
        + f" ({os.cpu_count()} CPUs)"
    )
    print("full poll, each command alone on one node (median s):")
    for name, seconds in breakdown:
        print(f"  {name:28} {seconds:6.3f}")
    print(
        "crm_mon: an independent crm_mon + crmadmin poller (0.1 s apart) judging the same state;"
        " online: ours confirms the idle DC on two polls in a row; the verification poll (the"
        " DC's crm_mon, the target's DRBD) runs after a failover's clear."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
