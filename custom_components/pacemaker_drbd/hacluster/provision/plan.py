"""``plan``: read every node, check, diff every file and the CIB, and list the steps of ``apply``.

:func:`make_plan` connects (through anything that satisfies :class:`Remote`, e.g.
:class:`~hacluster.transport.NodeSession`), runs the read-only probe of :mod:`.checks` on every
node at once, and returns a :class:`Plan`; nothing on the nodes changes. :func:`build_plan` is
its pure core (facts in, plan out), :func:`format_plan` the text ``plan`` prints.

The steps, in order (each only where needed): stop a stack whose configuration is replaced,
move another cluster's stored CIB aside, the corosync authkey, ``corosync.conf``, the DRBD
resource file, wipe a disk (only with ``--wipe-disk``), DRBD meta data, the first DRBD start of
a fresh resource (up, initial sync skipped on one node, mkfs, down), the mount point, the
container image, start the stack, wait for the cluster, maintenance mode on, the CIB patch,
maintenance mode off, wait for the application.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import difflib
import time
from typing import TYPE_CHECKING, Any, Final, Protocol

from ..errors import HAClusterError, ParseError
from ..render import drbd_resource_path, render_corosync_conf, render_drbd_resource
from .checks import (
    AUTHKEY_PATH,
    CIB_FILE,
    COROSYNC_CONF,
    Check,
    DiskState,
    Level,
    NodeFacts,
    cluster_checks,
    corosync_cluster_name,
    node_checks,
    node_facts,
    probe_commands,
    unreachable_facts,
)
from .cib import (
    config_diff,
    desired_cib,
    foreign_ids,
    parse_cib_text,
    same_configuration,
    seed_cib,
)
from .config import DockerApplication
from .steps import (
    ClearCib,
    CopyAuthkey,
    CreateMetadata,
    DrbdAdjust,
    DrbdDown,
    DrbdUp,
    InitialSync,
    LoadCib,
    Maintenance,
    MakeFilesystem,
    MakeMountPoint,
    Permission,
    PullImage,
    Safety,
    SeedCib,
    StartStack,
    Step,
    StopStack,
    WaitApplication,
    WaitCluster,
    WaitDrbd,
    WipeDisk,
    WriteFile,
    replace_permission,
    wipe_permission,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from xml.etree.ElementTree import Element

    from ..commands import BatchCommand, BatchResult, CommandResult
    from .config import ClusterConfig

__all__ = [
    "FileDiff",
    "Plan",
    "Remote",
    "build_plan",
    "format_plan",
    "gather_facts",
    "make_plan",
    "rendered_files",
]

_PROBE_EXEC_TIMEOUT: Final = 120.0


class Remote(Protocol):  # pragma: no cover - a typing protocol
    """What provisioning needs from a node session (:class:`~hacluster.transport.NodeSession`)."""

    @property
    def name(self) -> str:
        """The node's name."""
        ...

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run one command; the result whatever its exit status."""
        ...

    async def run_batch(
        self,
        commands: Sequence[BatchCommand],
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> BatchResult:
        """Run commands in one exec."""
        ...


def rendered_files(cfg: ClusterConfig) -> dict[str, bytes]:
    """The files ``apply`` writes on every node, by path."""
    return {
        COROSYNC_CONF: render_corosync_conf(cfg).encode(),
        drbd_resource_path(cfg): render_drbd_resource(cfg).encode(),
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class FileDiff:
    """One file compared with what each node has; nodes with the same content are grouped."""

    path: str
    groups: tuple[tuple[tuple[str, ...], str, tuple[str, ...]], ...]
    """(nodes, ``same`` | ``new`` | ``changed``, unified diff lines)."""

    @property
    def changed(self) -> bool:
        """Whether any node needs the file written."""
        return any(status != "same" for _, status, _ in self.groups)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "path": self.path,
            "groups": [
                {"nodes": list(nodes), "status": status, "diff": list(diff)}
                for nodes, status, diff in self.groups
            ],
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """What ``plan`` found and what ``apply`` would do."""

    cluster: str
    nodes: tuple[str, ...]
    facts: tuple[NodeFacts, ...]
    checks: tuple[Check, ...]
    files: tuple[FileDiff, ...]
    cib_diff: tuple[str, ...]
    cib_source: str | None
    steps: tuple[Step, ...]

    @property
    def failed(self) -> tuple[Check, ...]:
        """Checks that block ``apply``."""
        return tuple(c for c in self.checks if c.level is Level.FAIL)

    @property
    def permissions(self) -> tuple[Permission, ...]:
        """Every permission the destructive steps need (each once, in step order)."""
        out: list[Permission] = []
        for step in self.steps:
            if step.permission is not None and step.permission not in out:
                out.append(step.permission)
        return tuple(out)

    def missing(self, granted: Iterable[Permission]) -> tuple[Permission, ...]:
        """The permissions the destructive steps need that were not granted."""
        given = set(granted)
        return tuple(p for p in self.permissions if p not in given)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "cluster": self.cluster,
            "nodes": list(self.nodes),
            "facts": [f.to_dict() for f in self.facts],
            "checks": [c.to_dict() for c in self.checks],
            "files": [f.to_dict() for f in self.files],
            "cib_diff": list(self.cib_diff),
            "cib_source": self.cib_source,
            "steps": [s.to_dict() for s in self.steps],
            "permissions": [str(p) for p in self.permissions],
        }


# --------------------------------------------------------------------------------------------
# Gathering
# --------------------------------------------------------------------------------------------


async def _probe(
    cfg: ClusterConfig, name: str, remote: Remote, clock: Callable[[], float]
) -> NodeFacts:
    node = cfg.node(name)
    try:
        batch = await remote.run_batch(probe_commands(cfg, node), timeout=_PROBE_EXEC_TIMEOUT)
        before = clock()
        date = await remote.run(["date", "+%s.%N"], timeout=30.0)
        after = clock()
    except HAClusterError as err:
        return unreachable_facts(name, err)
    offset: float | None = None
    try:
        offset = float(date.text.strip()) - (before + after) / 2
    except ValueError:
        offset = None
    return node_facts(
        cfg, node, batch.results, clock_offset=offset, clock_error=(after - before) / 2
    )


async def gather_facts(
    cfg: ClusterConfig,
    remotes: Mapping[str, Remote],
    *,
    clock: Callable[[], float] = time.time,
) -> tuple[NodeFacts, ...]:
    """Probe every node at once (read-only); an unreachable node is a fact, not a raise."""
    return tuple(
        await asyncio.gather(*(_probe(cfg, n.name, remotes[n.name], clock) for n in cfg.nodes))
    )


async def make_plan(
    cfg: ClusterConfig,
    remotes: Mapping[str, Remote],
    *,
    app_timeout: float = 300.0,
    clock: Callable[[], float] = time.time,
) -> Plan:
    """Probe the nodes and build the plan (nothing on the nodes changes)."""
    facts = await gather_facts(cfg, remotes, clock=clock)
    return build_plan(cfg, facts, app_timeout=app_timeout, stamp=time.strftime("%Y%m%d-%H%M%S"))


# --------------------------------------------------------------------------------------------
# Building (pure)
# --------------------------------------------------------------------------------------------


def _file_diff(path: str, want: bytes, facts: Sequence[NodeFacts]) -> FileDiff:
    groups: list[tuple[list[str], bytes | None]] = []
    for f in facts:
        have = f.files.get(path)
        for nodes, content in groups:
            if content == have:
                nodes.append(f.name)
                break
        else:
            groups.append(([f.name], have))
    out: list[tuple[tuple[str, ...], str, tuple[str, ...]]] = []
    for nodes, have in groups:
        if have == want:
            out.append((tuple(nodes), "same", ()))
            continue
        label = ", ".join(nodes)
        diff = difflib.unified_diff(
            [] if have is None else have.decode("utf-8", "replace").splitlines(),
            want.decode().splitlines(),
            fromfile=f"{label}:{path}" + (" (absent)" if have is None else ""),
            tofile="rendered",
            lineterm="",
        )
        out.append((tuple(nodes), "new" if have is None else "changed", tuple(diff)))
    return FileDiff(path=path, groups=tuple(out))


def _reference_cib(facts: Sequence[NodeFacts]) -> tuple[Element | None, str | None, str | None]:
    """(the CIB to diff against, where it came from, a parse problem)."""
    for source in ("live", "stored"):
        for f in facts:
            if f.cib_source == source and f.cib is not None:
                try:
                    return parse_cib_text(f.cib), f"{source} CIB ({f.name})", None
                except ParseError as err:
                    return None, None, f"the {source} CIB of {f.name} is not valid XML: {err}"
    return None, None, None


def _app_nodes(cfg: ClusterConfig, facts: Sequence[NodeFacts]) -> tuple[str, ...]:
    for f in facts:
        if f.crm is None:
            continue
        stack = list(f.crm.resources)
        while stack:
            rsc = stack.pop()
            if rsc.id == cfg.application.id:
                return rsc.running_on
            stack += rsc.members
    return ()


def _has_id(root: Element | None, ident: str) -> bool:
    return root is not None and any(e.get("id") == ident for e in root.iter())


def build_plan(
    cfg: ClusterConfig,
    facts: Sequence[NodeFacts],
    *,
    app_timeout: float = 300.0,
    stamp: str = "backup",
) -> Plan:
    """The plan for ``cfg`` given what the probe found (pure)."""
    checks = [c for f in facts for c in node_checks(cfg, f)]
    checks += cluster_checks(cfg, facts)
    reachable = [f for f in facts if f.reachable]
    files = rendered_files(cfg)
    diffs = tuple(_file_diff(path, content, reachable) for path, content in files.items())
    names = tuple(n.name for n in cfg.nodes)
    live, live_label, problem = _reference_cib(reachable)
    if problem is not None:
        checks.append(Check(name="cib", level=Level.FAIL, message=problem))
    steps: tuple[Step, ...] = ()
    cib_lines: tuple[str, ...] = ()
    complete = {f.name for f in reachable} == set(names)
    if complete and len(reachable) == len(facts) and problem is None:
        builder = _StepBuilder(cfg, {f.name: f for f in facts}, live, stamp, app_timeout)
        steps = builder.build()
        checks += builder.checks
        if builder.cib_changed:
            base = None if builder.replacing else live
            cib_lines = tuple(
                config_diff(
                    base,
                    builder.target,
                    live_label=live_label if base is not None and live_label else "empty CIB",
                )
            )
    return Plan(
        cluster=cfg.name,
        nodes=names,
        facts=tuple(facts),
        checks=tuple(checks),
        files=diffs,
        cib_diff=cib_lines,
        cib_source=live_label,
        steps=steps,
    )


class _StepBuilder:
    """Decides the steps from the facts (one method per concern, in step order)."""

    def __init__(
        self,
        cfg: ClusterConfig,
        facts: Mapping[str, NodeFacts],
        live: Element | None,
        stamp: str,
        app_timeout: float,
    ) -> None:
        self.cfg = cfg
        self.facts = facts
        self.names = tuple(n.name for n in cfg.nodes)
        self.live = live
        self.stamp = stamp
        self.app_timeout = app_timeout
        self.steps: list[Step] = []
        self.checks: list[Check] = []
        existing = {corosync_cluster_name(f.files.get(COROSYNC_CONF)) for f in facts.values()}
        self.foreign = sorted(name for name in existing if name and name != cfg.name)
        self.replacing = bool(self.foreign)
        self.replace = replace_permission(self.foreign[0] if self.foreign else cfg.name)
        self.running = tuple(n for n in self.names if facts[n].stack_running)
        self.app_on = _app_nodes(cfg, tuple(facts.values()))
        self.stopped: tuple[str, ...] = ()
        self.target = desired_cib(None if self.replacing else live, cfg)
        self.cib_changed = False

    def add(self, step: Step) -> None:
        self.steps.append(step)

    def _app_note(self) -> str:
        return f"; the application runs on {', '.join(self.app_on)}" if self.app_on else ""

    def build(self) -> tuple[Step, ...]:
        files = rendered_files(self.cfg)
        coro = files[COROSYNC_CONF]
        coro_differ = [n for n in self.names if self.facts[n].files.get(COROSYNC_CONF) != coro]
        self.stop_stack(coro_differ)
        self.clear_cib()
        self.authkey()
        self.write(COROSYNC_CONF, coro, coro_differ, running_matters=True)
        self.drbd_resource(drbd_resource_path(self.cfg), files[drbd_resource_path(self.cfg)])
        self.disks()
        self.mount_point_and_image()
        start = tuple(n for n in self.names if n not in self.running or n in self.stopped)
        if start and (self.replacing or all(f.cib_source is None for f in self.facts.values())):
            self.add(
                SeedCib(
                    title="seed the first CIB with the cluster properties",
                    nodes=self.names,
                    reason="a new cluster: dc-deadtime and the other properties apply from the "
                    "first DC election",
                    path=CIB_FILE,
                    content=seed_cib(self.cfg).encode(),
                )
            )
        if start:
            self.add(
                StartStack(title="start corosync and pacemaker", nodes=start, reason="not running")
            )
        self.cib(bool(start))
        if self.steps:
            self.add(
                WaitApplication(
                    title=f"wait until {self.cfg.application.id} runs",
                    nodes=self.names,
                    resource_id=self.cfg.application.id,
                    timeout=self.app_timeout,
                )
            )
        return tuple(self.steps)

    def stop_stack(self, coro_differ: Sequence[str]) -> None:
        if not self.running or not (coro_differ or self.replacing):
            return
        why = (
            f"the running cluster {self.foreign[0]} is replaced"
            if self.replacing
            else "corosync.conf changes on a running cluster"
        )
        self.stopped = self.running
        self.add(
            StopStack(
                title="stop pacemaker and corosync",
                nodes=self.running,
                reason=why + self._app_note(),
                safety=Safety.DESTRUCTIVE,
                permission=self.replace,
            )
        )

    def clear_cib(self) -> None:
        if not self.replacing:
            return
        nodes = tuple(n for n in self.names if self.facts[n].cib_source is not None)
        if nodes:
            self.add(
                ClearCib(
                    title=f"move the CIB of cluster {self.foreign[0]} aside",
                    nodes=nodes,
                    reason=f"it belongs to cluster {self.foreign[0]}",
                    safety=Safety.DESTRUCTIVE,
                    permission=self.replace,
                    suffix=f"hacluster-{self.stamp}.bak",
                )
            )

    def authkey(self) -> None:
        keys = {n: self.facts[n].authkey_sha256 for n in self.names}
        source = next((n for n in self.names if keys[n]), None)
        want = keys[source] if source else None
        targets = tuple(n for n in self.names if source is None or keys[n] != want)
        if not targets:
            return
        overwritten = [n for n in targets if keys[n]]
        live = [n for n in overwritten if n in self.running and n not in self.stopped]
        self.add(
            CopyAuthkey(
                title="install the corosync authkey",
                nodes=self.names if source is None else (source, *targets),
                reason=(
                    "no node has one"
                    if source is None
                    else f"copy {source}'s key to {', '.join(targets)}"
                ),
                safety=Safety.DESTRUCTIVE if live else Safety.SAFE,
                permission=self.replace if live else None,
                path=AUTHKEY_PATH,
                source=source,
            )
        )

    def write(
        self, path: str, content: bytes, differ: Sequence[str], *, running_matters: bool
    ) -> None:
        if not differ:
            return
        existing = [n for n in differ if self.facts[n].files.get(path) is not None]
        live = running_matters and any(n in self.running and n not in self.stopped for n in differ)
        destructive = live or (self.replacing and bool(existing))
        reason = "new" if not existing else f"differs on {', '.join(existing)} (backed up)"
        self.add(
            WriteFile(
                title=f"write {path}",
                nodes=tuple(differ),
                reason=reason,
                safety=Safety.DESTRUCTIVE if destructive else Safety.SAFE,
                permission=self.replace if destructive else None,
                path=path,
                content=content,
            )
        )

    def drbd_resource(self, path: str, content: bytes) -> None:
        differ = [n for n in self.names if self.facts[n].files.get(path) != content]
        if not differ:
            return
        up = [n for n in differ if self.facts[n].drbd is not None]
        existing = [n for n in differ if self.facts[n].files.get(path) is not None]
        destructive = bool(set(up) & set(existing)) or (self.replacing and bool(existing))
        reason = "new" if not existing else f"differs on {', '.join(existing)} (backed up)"
        self.add(
            WriteFile(
                title=f"write {path}",
                nodes=tuple(differ),
                reason=reason + (f"; the resource is up on {', '.join(up)}" if up else ""),
                safety=Safety.DESTRUCTIVE if destructive else Safety.SAFE,
                permission=self.replace if destructive else None,
                path=path,
                content=content,
            )
        )
        if up:
            self.add(
                DrbdAdjust(
                    title=f"apply the changed resource file to {self.cfg.drbd.resource}",
                    nodes=tuple(up),
                    reason="the resource is up",
                    safety=Safety.DESTRUCTIVE,
                    permission=self.replace,
                    resource=self.cfg.drbd.resource,
                )
            )

    def disks(self) -> None:
        res = self.cfg.drbd.resource
        fresh: list[str] = []
        safe: list[str] = []
        for name in self.names:
            disk = self.facts[name].disk
            if disk is None:  # pragma: no cover - reachable nodes always have disk facts
                continue
            if disk.state in (DiskState.HAS_DATA, DiskState.FOREIGN_DRBD):
                perm = wipe_permission(name, disk.path)
                self.add(
                    WipeDisk(
                        title=f"wipe {name}:{disk.path}",
                        nodes=(name,),
                        reason=f"it holds {disk.detail}",
                        safety=Safety.DESTRUCTIVE,
                        permission=perm,
                        disk=disk.path,
                    )
                )
                self.add(
                    CreateMetadata(
                        title=f"create DRBD meta data on {name}:{disk.path}",
                        nodes=(name,),
                        reason="over the wiped disk",
                        safety=Safety.DESTRUCTIVE,
                        permission=perm,
                        resource=res,
                        force=True,
                    )
                )
                fresh.append(name)
            elif disk.state is DiskState.EMPTY:
                fresh.append(name)
                safe.append(name)
            elif disk.state is DiskState.NEW_DRBD or (
                disk.state is DiskState.OURS and disk.md_fresh
            ):
                fresh.append(name)  # meta data already there (an earlier apply): no data yet
        if safe:
            self.add(
                CreateMetadata(
                    title="create DRBD meta data",
                    nodes=tuple(safe),
                    reason="empty disk" + ("s" if len(safe) > 1 else ""),
                    resource=res,
                )
            )
        if len(fresh) != len(self.names):
            return
        managed = _has_id(self.live, self.cfg.ids.drbd) and any(
            self.facts[n].pacemaker_running and n not in self.stopped for n in self.names
        )
        if managed:
            self.checks.append(
                Check(
                    name="drbd",
                    level=Level.WARN,
                    message="every disk is new but Pacemaker already manages the DRBD resource: "
                    "no initial sync or file system is made",
                )
            )
            return
        first = self.names[0]
        d = self.cfg.drbd
        self.add(DrbdUp(title=f"drbdadm up {res}", nodes=self.names, resource=res))
        self.add(WaitDrbd(title="wait until DRBD is connected", nodes=self.names, resource=res))
        self.add(
            InitialSync(
                title=f"skip the initial sync of the new resource on {first}",
                nodes=(first,),
                reason="fresh meta data on every node",
                resource=res,
                peers=self.names,
            )
        )
        self.add(
            MakeFilesystem(
                title=f"make the {d.filesystem} file system on {d.device} ({first})",
                nodes=(first,),
                reason="a new resource",
                resource=res,
                device=d.device,
                filesystem=d.filesystem,
            )
        )
        self.add(
            DrbdDown(
                title=f"drbdadm down {res} (Pacemaker takes over)",
                nodes=self.names,
                resource=res,
            )
        )

    def mount_point_and_image(self) -> None:
        missing = tuple(n for n in self.names if not self.facts[n].mount_point_exists)
        if missing:
            self.add(
                MakeMountPoint(
                    title=f"create {self.cfg.drbd.mount_point}",
                    nodes=missing,
                    reason="missing",
                    path=self.cfg.drbd.mount_point,
                )
            )
        app = self.cfg.application
        if isinstance(app, DockerApplication):
            pull = tuple(n for n in self.names if self.facts[n].image_present is False)
            if pull:
                self.add(
                    PullImage(
                        title=f"pull {app.image}",
                        nodes=pull,
                        reason="not on the node yet",
                        image=app.image,
                    )
                )

    def cib(self, starting: bool) -> None:
        base = None if self.replacing else self.live
        self.cib_changed = base is None or not same_configuration(base, self.target)
        if starting or self.cib_changed:
            self.add(
                WaitCluster(
                    title="wait until every node is online and a DC is elected", nodes=self.names
                )
            )
        if not self.cib_changed:
            return
        dropped = foreign_ids(base, self.target)
        self.add(Maintenance(title="maintenance mode on", nodes=(), on=True))
        self.add(
            LoadCib(
                title="load the configuration into the CIB",
                nodes=(),
                reason=(
                    f"drops {', '.join(dropped)}"
                    if dropped
                    else ("new configuration" if base is None else "the configuration differs")
                ),
                safety=Safety.DESTRUCTIVE if dropped else Safety.SAFE,
                permission=self.replace if dropped else None,
            )
        )
        self.add(Maintenance(title="maintenance mode off", nodes=(), on=False))


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------

_MARK: Final = {Level.OK: "ok  ", Level.INFO: "info", Level.WARN: "WARN", Level.FAIL: "FAIL"}


def format_steps(plan: Plan, granted: Iterable[Permission] = ()) -> list[str]:
    """The numbered step list, destructive steps marked with the flag they need."""
    given = set(granted)
    lines = []
    width = len(str(len(plan.steps)))
    for index, step in enumerate(plan.steps, 1):
        mark = "destructive" if step.safety is Safety.DESTRUCTIVE else "safe"
        where = f" [{', '.join(step.nodes)}]" if step.nodes else ""
        why = f" ({step.reason})" if step.reason else ""
        lines.append(f"  {index:>{width}}. {mark:<11} {step.title}{where}{why}")
        if step.permission is not None:
            allowed = "allowed by" if step.permission in given else "needs"
            lines.append(f"  {'':>{width}}  {'':<11} {allowed} {step.permission}")
    return lines


def format_plan(plan: Plan, granted: Iterable[Permission] = ()) -> str:
    """The text ``plan`` prints: checks, file diffs, the CIB diff and the steps."""
    granted = tuple(granted)
    lines = [f"Cluster {plan.cluster}: {', '.join(plan.nodes)}", "", "Checks:"]
    for check in plan.checks:
        who = check.node or "cluster"
        lines.append(f"  {_MARK[check.level]}  {who:<10} {check.name:<12} {check.message}")
    lines += ["", "Files:"]
    for diff in plan.files:
        for nodes, status, body in diff.groups:
            label = {"same": "up to date", "new": "new", "changed": "changes"}[status]
            lines.append(f"  {diff.path} on {', '.join(nodes)}: {label}")
            lines += [f"    {line}" for line in body]
    lines += ["", "CIB:"]
    if plan.cib_diff:
        lines += [f"  {line}" for line in plan.cib_diff]
    elif plan.steps or plan.cib_source:
        lines.append(f"  up to date ({plan.cib_source})" if plan.cib_source else "  unchanged")
    else:
        lines.append("  not read")
    lines += ["", "Steps:"]
    if plan.steps:
        lines += format_steps(plan, granted)
    elif plan.failed or len([f for f in plan.facts if f.reachable]) < len(plan.facts):
        lines.append("  none planned (fix the failed checks first)")
    else:
        lines.append("  nothing to do: the cluster matches the description")
    lines.append("")
    if plan.failed:
        lines.append(f"apply is blocked by {len(plan.failed)} failed check(s).")
    missing = plan.missing(granted)
    if missing:
        lines.append(
            "apply refuses the destructive steps unless you name them: "
            + " ".join(str(p) for p in missing)
        )
    if plan.steps and not plan.failed and not missing:
        lines.append(f"apply would run {len(plan.steps)} step(s).")
    return "\n".join(lines) + "\n"
