#!/usr/bin/python3
"""Read the lab's state from inside its nodes, check conditions and wait for them.

Run by ``lab/lab.sh`` with Debian's ``/usr/bin/python3`` and the standard library only (never
the project's venv). It enters the nodes with ``nsenter`` (the node's PID 1 is found and
verified the same way lab.sh does it) and reads ``crm_mon --output-as=xml``, ``crmadmin`` and
``drbdsetup status --json``.

    lab_state.py [--state DIR] [--nodes ha-0,ha-1] [--no-drbd] show|json
    lab_state.py ... check COND [ARG] [--on NODE]
    lab_state.py ... wait COND [ARG] [--on NODE] [--timeout S]     (prints the seconds waited)

Conditions: healthy, cluster-healthy, group-on NODE, online NODE, offline NODE, quorate NODE,
stack-down NODE, no-failures, idle, drbd-connected, drbd-uptodate, drbd-disk NODE STATE,
drbd-role NODE ROLE, split-brain, ssh NODE, app.
"""
# ruff: noqa: T201, INP001

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import socket
import subprocess
import sys
import time
from typing import Any
import urllib.request
from xml.etree import ElementTree as ET

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CLEAN_ENV = {"PATH": SAFE_PATH, "HOME": "/root", "LANG": "C.UTF-8", "USER": "root"}
GROUP = "g_home-assistant"
GROUP_MEMBERS = ("p_fs_home-assistant", "p_ip_home-assistant", "p_docker_home-assistant")
DRBD_PRIMITIVE = "p_drbd_home-assistant"
DRBD_RESOURCE = "home-assistant"
NET = "198.18.0"


def node_ip(node: str) -> str:
    """The node's address on the lab bridge (ha-0 -> 198.18.0.30)."""
    return f"{NET}.{30 + int(node.rsplit('-', 1)[1])}"


def init_pid(state: Path, node: str) -> int | None:
    """Host PID of the node's PID 1, verified by its command line and NSpid, else None."""
    try:
        pid = int((state / node / "init.pid").read_text().strip())
        args = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, ValueError):
        return None
    if args[-2:] != ["_init", node]:
        return None
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            fields = line.split()
            return pid if len(fields) > 2 and fields[-1] == "1" else None
    return None


def node_run(pid: int, argv: list[str], timeout: float = 10.0) -> tuple[int, str]:
    """Run argv inside the node (mount, UTS, IPC, net, PID namespaces) with a clean env."""
    try:
        proc = subprocess.run(
            ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "--", *argv],
            env=CLEAN_ENV,
            cwd="/",
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return 124, ""
    return proc.returncode, proc.stdout


@dataclass
class Rsc:
    """One resource instance line of crm_mon."""

    id: str
    role: str
    nodes: list[str]
    failed: bool


@dataclass
class Crm:
    """What one node's crm_mon says."""

    viewer: str
    dc: str | None = None
    quorum: bool = False
    online: set[str] = field(default_factory=set)
    standby: set[str] = field(default_factory=set)
    known: list[str] = field(default_factory=list)
    resources: list[Rsc] = field(default_factory=list)
    failures: int = 0
    dc_state: str = ""

    def group_on(self, node: str) -> bool:
        """All group members Started on node only, and the DRBD clone Promoted there."""
        for member in GROUP_MEMBERS:
            inst = [r for r in self.resources if r.id == member]
            if len(inst) != 1 or inst[0].role != "Started" or inst[0].nodes != [node]:
                return False
        return any(
            r.id == DRBD_PRIMITIVE and r.role in ("Promoted", "Master") and r.nodes == [node]
            for r in self.resources
        )

    def group_node(self) -> str | None:
        """The node that runs the whole group, if exactly one does."""
        hits = [n for n in self.online if self.group_on(n)]
        return hits[0] if len(hits) == 1 else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        return {
            "viewer": self.viewer,
            "dc": self.dc,
            "dc_state": self.dc_state,
            "quorum": self.quorum,
            "online": sorted(self.online),
            "standby": sorted(self.standby),
            "group_node": self.group_node(),
            "failures": self.failures,
            "resources": [
                {"id": r.id, "role": r.role, "nodes": r.nodes, "failed": r.failed}
                for r in self.resources
            ],
        }


def parse_crm(viewer: str, text: str) -> Crm | None:
    """Parse crm_mon XML; None when the cluster is not running there."""
    try:
        root = ET.fromstring(text)  # noqa: S314 - our own nodes' output
    except ET.ParseError:
        return None
    status = root.find("status")
    if status is None or status.get("code") != "0":
        return None
    crm = Crm(viewer=viewer)
    dc = root.find("summary/current_dc")
    if dc is not None and dc.get("present") == "true":
        crm.dc = dc.get("name")
        crm.quorum = dc.get("with_quorum") == "true"
    for node in root.findall("nodes/node"):
        name = node.get("name", "")
        crm.known.append(name)
        if node.get("online") == "true":
            crm.online.add(name)
        if node.get("standby") == "true":
            crm.standby.add(name)
    for r in root.iter("resource"):
        crm.resources.append(
            Rsc(
                id=r.get("id", ""),
                role=r.get("role", ""),
                nodes=[n.get("name", "") for n in r.findall("node")],
                failed=r.get("failed") == "true",
            )
        )
    crm.failures = len(root.findall("failures/failure"))
    return crm


@dataclass
class Drbd:
    """One node's view of the DRBD resource (from drbdsetup status --json)."""

    node: str
    up: bool = False
    role: str = ""
    disk: str = ""
    conns: dict[str, str] = field(default_factory=dict)  # peer -> connection-state
    peer_disks: dict[str, str] = field(default_factory=dict)  # peer -> peer-disk-state
    repl: dict[str, str] = field(default_factory=dict)  # peer -> replication-state
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        return {
            "node": self.node,
            "up": self.up,
            "role": self.role,
            "disk": self.disk,
            "connections": self.conns,
            "peer_disks": self.peer_disks,
            "replication": self.repl,
            "error": self.error,
        }


def parse_drbd(node: str, rc: int, text: str) -> Drbd:
    """Parse drbdsetup status --json output of one node."""
    d = Drbd(node=node)
    if rc != 0:
        # drbdsetup exits 10 ("No such resource") when the resource is down
        d.error = f"rc={rc}"
        return d
    try:
        data = json.loads(text)
    except ValueError:
        d.error = "bad json"
        return d
    for res in data:
        if res.get("name") != DRBD_RESOURCE:
            continue
        d.up = True
        d.role = res.get("role", "")
        devs = res.get("devices") or []
        d.disk = devs[0].get("disk-state", "") if devs else ""
        for c in res.get("connections") or []:
            peer = c.get("name", str(c.get("peer-node-id")))
            d.conns[peer] = c.get("connection-state", "")
            pds = c.get("peer_devices") or []
            if pds:
                d.peer_disks[peer] = pds[0].get("peer-disk-state", "")
                d.repl[peer] = pds[0].get("replication-state", "")
    return d


class Lab:
    """Reads the lab's nodes."""

    def __init__(self, state: Path, nodes: list[str], drbd: bool) -> None:
        """Remember where the lab keeps its state."""
        self.state = state
        self.nodes = nodes
        self.drbd = drbd

    def pids(self) -> dict[str, int]:
        """Running nodes -> host PID of their PID 1."""
        out = {}
        for n in self.nodes:
            pid = init_pid(self.state, n)
            if pid is not None:
                out[n] = pid
        return out

    def crm(self, order: list[str]) -> Crm | None:
        """crm_mon from the first node in order that answers."""
        pids = self.pids()
        for n in order:
            if n not in pids:
                continue
            rc, out = node_run(pids[n], ["crm_mon", "-1", "--output-as=xml"])
            crm = parse_crm(n, out) if rc == 0 else None
            if crm is not None:
                return crm
        return None

    def drbd_all(self) -> dict[str, Drbd]:
        """DRBD view of every running node."""
        out = {}
        for n, pid in self.pids().items():
            rc, text = node_run(pid, ["drbdsetup", "status", DRBD_RESOURCE, "--json"])
            out[n] = parse_drbd(n, rc, text)
        return out

    def order(self, avoid: str | None, on: str | None) -> list[str]:
        """Nodes to ask: --on first/only, the node under test last."""
        if on:
            return [on]
        rest = [n for n in self.nodes if n != avoid]
        return rest + ([avoid] if avoid in self.nodes else [])


def crmadmin_state(lab: Lab, crm: Crm) -> str:
    """crmadmin -q -S prints the state on stderr; capture both."""
    pid = lab.pids().get(crm.viewer)
    if pid is None or crm.dc is None:
        return ""
    try:
        proc = subprocess.run(
            [
                "nsenter",
                "-t",
                str(pid),
                "-m",
                "-u",
                "-i",
                "-n",
                "-p",
                "--",
                # inside the node: a subprocess timeout would only kill nsenter and leave a
                # crmadmin spinning in the node (seen: 100 % CPU for minutes)
                "timeout",
                "-s",
                "KILL",
                "8",
                "crmadmin",
                "-q",
                "-S",
                crm.dc,
            ],
            env=CLEAN_ENV,
            cwd="/",
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ""
    return (proc.stdout + proc.stderr).strip().splitlines()[-1] if proc.returncode == 0 else ""


def cluster_healthy(lab: Lab, crm: Crm, running: list[str]) -> tuple[bool, str]:
    """Every node running and online, group on one node, clone Unpromoted elsewhere, DC idle."""
    off = [n for n in lab.nodes if n not in running]
    if off:
        return False, f"powered off: {' '.join(off)}"
    missing = [n for n in running if n not in crm.online]
    if missing:
        return False, f"not online: {' '.join(missing)}"
    if crm.standby:
        return False, f"standby: {' '.join(sorted(crm.standby))}"
    if not crm.quorum:
        return False, "no quorum"
    gnode = crm.group_node()
    if gnode is None:
        return False, "group not running on exactly one node"
    unprom = [
        r.nodes[0]
        for r in crm.resources
        if r.id == DRBD_PRIMITIVE and r.role in ("Unpromoted", "Slave") and len(r.nodes) == 1
    ]
    if sorted(unprom) != sorted(n for n in running if n != gnode):
        return False, f"clone not Unpromoted on the other nodes ({unprom})"
    failed = [r.id for r in crm.resources if r.failed]
    if failed:
        return False, f"failed: {' '.join(failed)}"
    state = crmadmin_state(lab, crm)
    crm.dc_state = state
    if state != "S_IDLE":
        return False, f"DC {crm.dc} in {state or '?'}"
    return True, f"group on {gnode}"


def drbd_healthy(
    views: dict[str, Drbd], running: list[str], primary: str | None
) -> tuple[bool, str]:
    """Every running node: resource up, connected to every other running node, UpToDate."""
    for n in running:
        d = views.get(n)
        if d is None or not d.up:
            return False, f"drbd not up on {n}"
        if d.disk != "UpToDate":
            return False, f"{n} disk {d.disk}"
        want_role = "Primary" if n == primary else "Secondary"
        if primary is not None and d.role != want_role:
            return False, f"{n} role {d.role}"
        for peer in running:
            if peer == n:
                continue
            if d.conns.get(peer) != "Connected":
                return False, f"{n} -> {peer} {d.conns.get(peer, 'missing')}"
            if d.peer_disks.get(peer) != "UpToDate":
                return False, f"{n} sees {peer} {d.peer_disks.get(peer)}"
            if d.repl.get(peer) != "Established":
                return False, f"{n} -> {peer} {d.repl.get(peer)}"
    return True, "drbd UpToDate/Connected"


def tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """A TCP connect to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def check(lab: Lab, cond: str, args: list[str], on: str | None) -> tuple[bool, str]:
    """Evaluate one condition once: (ok, explanation)."""
    pids = lab.pids()
    running = [n for n in lab.nodes if n in pids]
    target = args[0] if args else None
    needs_node = ("online", "offline", "group-on", "quorate", "stack-down", "ssh", "drbd-disk")
    if cond in (*needs_node, "drbd-role") and target not in lab.nodes:
        return False, f"{cond}: unknown node {target!r}"
    if cond == "ssh":
        return tcp_open(node_ip(target or ""), 22), f"ssh port of {target}"
    if cond == "stack-down":
        crm = lab.crm([target or ""]) if target in pids else None
        return crm is None, "pacemaker not answering" if crm is None else "pacemaker answers"
    if cond in ("drbd-connected", "drbd-uptodate", "split-brain", "drbd-disk", "drbd-role"):
        views = lab.drbd_all()
        if cond == "drbd-disk":
            d = views.get(target or "")
            want = args[1] if len(args) > 1 else "UpToDate"
            got = d.disk if d is not None and d.up else "(down)"
            return got == want, f"{target} disk {got}"
        if cond == "drbd-role":
            d = views.get(target or "")
            want = args[1] if len(args) > 1 else "Primary"
            got = d.role if d is not None and d.up else "(down)"
            return got == want, f"{target} role {got}"
        up = [v for v in views.values() if v.up]
        if cond == "split-brain":
            # DRBD drops the connection: StandAlone on at least one side (the other side may be
            # StandAlone too, or Connecting when its peer tore the connection down first)
            states = [s for v in up for s in v.conns.values()]
            alone = "StandAlone" in states and "Connected" not in states
            return alone, f"connection states {states}"
        ok_conn = all(
            v.up and all(v.conns.get(p) == "Connected" for p in running if p != v.node)
            for v in views.values()
        )
        if cond == "drbd-connected":
            return ok_conn and bool(views), "connected" if ok_conn else "not connected"
        return drbd_healthy(views, running, None)
    if cond == "app":
        try:
            with urllib.request.urlopen(f"http://{NET}.10:8123/status", timeout=2) as resp:
                return resp.status == 200, "app answers on the VIP"
        except OSError as err:
            return False, f"app: {err}"
    avoid = target if cond in ("offline", "online") else None
    crm = lab.crm(lab.order(avoid, on))
    if crm is None:
        return False, "no node answers crm_mon"
    if cond == "online":
        return target in crm.online, f"{crm.viewer} sees online: {sorted(crm.online)}"
    if cond == "offline":
        return target not in crm.online, f"{crm.viewer} sees online: {sorted(crm.online)}"
    if cond == "idle":
        state = crmadmin_state(lab, crm)
        return state == "S_IDLE", f"DC {crm.dc} in {state or '?'}"
    if cond == "no-failures":
        return crm.failures == 0, f"{crm.failures} failed actions"
    if cond == "quorate":
        return crm.quorum, f"{crm.viewer} quorum {crm.quorum}"
    if cond == "group-on":
        return crm.group_on(target or ""), f"group on {crm.group_node()}"
    if cond in ("healthy", "cluster-healthy"):
        ok, why = cluster_healthy(lab, crm, running)
        if not ok or cond == "cluster-healthy" or not lab.drbd:
            return ok, why
        return drbd_healthy(lab.drbd_all(), running, crm.group_node())
    return False, f"unknown condition {cond!r}"


def main() -> int:
    """Command line entry."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--state", default=os.environ.get("HALAB_STATE", "/var/lib/halab"))
    ap.add_argument("--nodes", default="ha-0,ha-1")
    ap.add_argument("--no-drbd", action="store_true")
    ap.add_argument("--on", default=None)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("mode", choices=["show", "json", "check", "wait"])
    ap.add_argument("cond", nargs="?")
    ap.add_argument("args", nargs="*")
    ns = ap.parse_args()
    lab = Lab(Path(ns.state), ns.nodes.split(","), not ns.no_drbd)
    if ns.mode in ("show", "json"):
        pids = lab.pids()
        crm = lab.crm(lab.order(None, ns.on))
        if crm is not None:
            crm.dc_state = crmadmin_state(lab, crm)
        views = lab.drbd_all() if lab.drbd else {}
        doc = {
            "running": [n for n in lab.nodes if n in pids],
            "crm": crm.to_dict() if crm else None,
            "drbd": {n: v.to_dict() for n, v in views.items()},
        }
        if ns.mode == "json":
            print(json.dumps(doc, indent=2, sort_keys=True))
            return 0
        print("running", " ".join(doc["running"]) or "-")
        if crm is None:
            print("crm     no node answers")
        else:
            print(f"crm     viewer {crm.viewer} dc {crm.dc or '-'} ({crm.dc_state or '?'})")
            print(f"        quorum {crm.quorum} online {' '.join(sorted(crm.online)) or '-'}")
            print(f"        standby {' '.join(sorted(crm.standby)) or '-'} failures {crm.failures}")
            print(f"        group on {crm.group_node() or '-'}")
            for r in crm.resources:
                flag = " FAILED" if r.failed else ""
                print(f"        {r.id:26} {r.role:11} {','.join(r.nodes) or '-'}{flag}")
        for v in views.values():
            if not v.up:
                print(f"drbd    {v.node}: down ({v.error})")
                continue
            conns = " ".join(
                f"{p}:{s}/{v.peer_disks.get(p, '-')}/{v.repl.get(p, '-')}"
                for p, s in sorted(v.conns.items())
            )
            print(f"drbd    {v.node}: {v.role} {v.disk} {conns}")
        return 0
    if not ns.cond:
        ap.error("missing condition")
    if ns.mode == "check":
        ok, why = check(lab, ns.cond, ns.args, ns.on)
        if not ns.quiet:
            print(why, file=sys.stderr)
        return 0 if ok else 1
    start = time.monotonic()
    why = ""
    while True:
        ok, why = check(lab, ns.cond, ns.args, ns.on)
        elapsed = time.monotonic() - start
        if ok:
            print(f"{elapsed:.2f}")
            return 0
        if elapsed > ns.timeout:
            print(
                f"wait {ns.cond} {' '.join(ns.args)}: timeout after {ns.timeout:g}s ({why})",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
