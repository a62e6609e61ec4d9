"""``apply``: run a plan's steps in order, with progress and times, refusing what is not allowed.

:func:`apply_plan` first refuses a plan with failed checks or with destructive steps the user did
not name exactly (``--wipe-disk NODE:DISK``, ``--replace-cluster NAME``); there is no general
"yes". A plan without steps says so and changes nothing; ``dry_run`` prints every step's
commands instead of running them. Each step is idempotent on its own (a file that is already
right is not rewritten, ``create-md`` never overwrites meta data without ``--force``, the CIB is
patched only where it differs), so an interrupted apply can simply be run again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import hashlib
import secrets
import time
from typing import TYPE_CHECKING, Final

from ..errors import ActionFailedError, ClusterConnectionError, HAClusterError, InterlockError
from ..models.drbd import DiskState as DrbdDisk, DrbdResource
from ..parsers.crm_mon import parse_crm_mon
from ..parsers.drbd import parse_drbd_status_json
from .cib import (
    desired_cib,
    parse_cib_text,
    same_configuration,
    serialize,
    summarize_patch,
    without_status,
)
from .steps import (
    CIB_DIFF_SCRIPT,
    CIB_OWNER,
    CLEAR_CIB_SCRIPT,
    MAINTENANCE_OFF_ARGV,
    MAINTENANCE_ON_ARGV,
    START_ARGV,
    STOP_ARGV,
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
    write_file_argv,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
    from xml.etree.ElementTree import Element

    from ..commands import CommandResult
    from ..models.pacemaker import PacemakerStatus, Resource
    from .config import ClusterConfig
    from .plan import Plan, Remote
    from .steps import Permission

__all__ = ["Applier", "ApplyResult", "apply_plan", "format_dry_run"]

#: Seconds a single command may take (mkfs and docker pull get more).
COMMAND_TIMEOUT: Final = 120.0
LONG_TIMEOUT: Final = 1800.0
#: crm_attribute --delete of an attribute that is not there (CRM_EX_NOSUCH).
_EXIT_NOSUCH: Final = 105
_AUTHKEY_BYTES: Final = 256


@dataclass(frozen=True, kw_only=True, slots=True)
class ApplyResult:
    """What ``apply`` did."""

    steps: int
    duration: float
    changed: bool
    dry_run: bool = False


def format_dry_run(plan: Plan) -> list[str]:
    """Every step with the commands it would run."""
    lines = ["Dry run: nothing is changed. apply would run:"]
    total = len(plan.steps)
    for index, step in enumerate(plan.steps, 1):
        mark = "DESTRUCTIVE " if step.safety is Safety.DESTRUCTIVE else ""
        where = f" [{', '.join(step.nodes)}]" if step.nodes else ""
        lines.append(f"[{index}/{total}] {mark}{step.title}{where}")
        for command in step.commands():
            text = command if isinstance(command, str) else command.display()
            lines.append(f"      {text}")
    return lines


class Applier:
    """Runs the steps of one plan against the nodes (``remotes`` by node name)."""

    def __init__(
        self,
        cfg: ClusterConfig,
        remotes: Mapping[str, Remote],
        *,
        out: Callable[[str], None],
        granted: Iterable[Permission] = (),
        poll_interval: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        """Prepare; nothing runs until :meth:`apply`."""
        self.cfg = cfg
        self.remotes = remotes
        self.out = out
        self.granted = tuple(granted)
        self.poll_interval = poll_interval
        self.sleep = sleep
        self.monotonic = monotonic
        self.random_bytes = random_bytes
        self.names = tuple(n.name for n in cfg.nodes)
        self.fresh = False

    # -- helpers ------------------------------------------------------------------------------

    def detail(self, text: str) -> None:
        """One indented progress line."""
        self.out(f"      {text}")

    async def run(
        self,
        node: str,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = COMMAND_TIMEOUT,  # noqa: ASYNC109
        accept: Iterable[int] = (0,),
        what: str | None = None,
    ) -> CommandResult:
        """Run one command on ``node``; raise :class:`ActionFailedError` on another exit status."""
        result = await self.remotes[node].run(argv, timeout=timeout, stdin=stdin)
        if result.exit_status not in tuple(accept):
            message = result.stderr_tail() or result.text.strip()[-300:] or "no output"
            label = what or " ".join(argv[:3])
            raise ActionFailedError(
                f"{node}: {label} failed (exit status {result.exit_status}): {message}"
            )
        return result

    async def each(
        self,
        nodes: Sequence[str],
        argv: Sequence[str],
        *,
        timeout: float = COMMAND_TIMEOUT,  # noqa: ASYNC109
    ) -> list[CommandResult]:
        """Run the same command on every node at once."""
        return list(await asyncio.gather(*(self.run(n, argv, timeout=timeout) for n in nodes)))

    async def on_any(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        accept: Iterable[int] = (0,),
        what: str | None = None,
    ) -> tuple[str, CommandResult]:
        """Run on the first node that answers (the cluster-wide tools)."""
        error: HAClusterError | None = None
        for node in self.names:
            try:
                return node, await self.run(
                    node, argv, stdin=stdin, accept=accept, what=what, timeout=LONG_TIMEOUT
                )
            except ClusterConnectionError as err:
                error = err
        raise error or ClusterConnectionError("no node answered")

    async def poll[T](
        self,
        what: str,
        timeout: float,  # noqa: ASYNC109
        probe: Callable[[], Awaitable[T | None]],
    ) -> T:
        """Call ``probe`` until it returns something, at most ``timeout`` seconds."""
        deadline = self.monotonic() + timeout
        last: str = "no answer yet"
        while True:
            try:
                value = await probe()
            except HAClusterError as err:
                value, last = None, str(err)
            if value is not None:
                return value
            if self.monotonic() >= deadline:
                raise ActionFailedError(f"timed out after {timeout:g} s waiting {what} ({last})")
            await self.sleep(self.poll_interval)

    async def drbd_states(self) -> dict[str, DrbdResource | None]:
        """The resource as every node sees it (None: not up there)."""
        res = self.cfg.drbd.resource

        async def one(node: str) -> DrbdResource | None:
            result = await self.remotes[node].run(["drbdsetup", "status", res, "--json"])
            if not result.ok:
                return None
            status = parse_drbd_status_json(result.stdout)
            return next((r for r in status.resources if r.name == res), None)

        return dict(
            zip(self.names, await asyncio.gather(*(one(n) for n in self.names)), strict=True)
        )

    async def crm_status(self) -> PacemakerStatus | None:
        """crm_mon's view from the first node that has one."""
        for node in self.names:
            try:
                result = await self.remotes[node].run(["crm_mon", "--output-as=xml"])
            except ClusterConnectionError:
                continue
            if not result.ok:
                continue
            status = parse_crm_mon(result.stdout, exit_status=result.exit_status)
            if status.stack_running:
                return status
        return None

    # -- the plan -----------------------------------------------------------------------------

    async def apply(self, plan: Plan, *, dry_run: bool = False) -> ApplyResult:
        """Run ``plan`` (or print it with ``dry_run``); raises :class:`InterlockError` first."""
        if plan.failed:
            raise InterlockError(
                "apply is blocked by failed checks: "
                + "; ".join(f"{c.node or 'cluster'}: {c.message}" for c in plan.failed),
                reasons=plan.failed,
            )
        missing = plan.missing(self.granted)
        if missing and not dry_run:
            raise InterlockError(
                "refusing to run destructive steps that were not named; to allow them, add: "
                + " ".join(str(p) for p in missing),
                reasons=missing,
            )
        if not plan.steps:
            self.out(
                f"Nothing to do: cluster {plan.cluster} already matches the description "
                "(no step run, nothing changed)."
            )
            return ApplyResult(steps=0, duration=0.0, changed=False, dry_run=dry_run)
        if dry_run:
            for line in format_dry_run(plan):
                self.out(line)
            for permission in missing:
                self.out(f"(a real run needs {permission})")
            return ApplyResult(steps=len(plan.steps), duration=0.0, changed=False, dry_run=True)
        started = self.monotonic()
        total = len(plan.steps)
        for index, step in enumerate(plan.steps, 1):
            where = f" [{', '.join(step.nodes)}]" if step.nodes else ""
            self.out(f"[{index}/{total}] {step.title}{where}")
            step_started = self.monotonic()
            await self.step(step)
            self.detail(f"done in {self.monotonic() - step_started:.1f} s")
        duration = self.monotonic() - started
        self.out(f"Applied {total} steps in {duration:.1f} s.")
        return ApplyResult(steps=total, duration=duration, changed=True)

    async def step(self, step: Step) -> None:
        """Run one step."""
        match step:
            case StopStack():
                await self.each(step.nodes, STOP_ARGV, timeout=LONG_TIMEOUT)
            case ClearCib():
                results = await self.each(
                    step.nodes, ("sh", "-c", CLEAR_CIB_SCRIPT, "sh", step.suffix)
                )
                for node, result in zip(step.nodes, results, strict=True):
                    for line in result.text.splitlines():
                        self.detail(f"{node}: {line}")
            case CopyAuthkey():
                await self.copy_authkey(step)
            case WriteFile():
                await self.write(step.nodes, step.path, step.content, step.mode)
            case DrbdAdjust():
                await self.each(step.nodes, ("drbdadm", "adjust", step.resource))
            case WipeDisk():
                for node in step.nodes:
                    result = await self.run(node, ("wipefs", "--all", step.disk))
                    for line in result.text.splitlines():
                        self.detail(f"{node}: {line}")
            case CreateMetadata():
                await asyncio.gather(*(self.create_md(n, step) for n in step.nodes))
            case DrbdUp():
                await self.each(step.nodes, ("drbdadm", "up", step.resource))
            case WaitDrbd():
                await self.wait_drbd(step)
            case InitialSync():
                await self.initial_sync(step)
            case MakeFilesystem():
                await self.mkfs(step)
            case DrbdDown():
                await self.each(step.nodes, ("drbdadm", "down", step.resource))
            case MakeMountPoint():
                await self.each(step.nodes, ("mkdir", "-p", step.path))
            case PullImage():
                await self.each(step.nodes, ("docker", "pull", step.image), timeout=LONG_TIMEOUT)
            case SeedCib():
                await self.write(step.nodes, step.path, step.content, "0600")
                await self.each(step.nodes, ("chown", CIB_OWNER, step.path))
            case StartStack():
                await self.each(step.nodes, START_ARGV, timeout=LONG_TIMEOUT)
            case WaitCluster():
                await self.wait_cluster(step)
            case Maintenance():
                argv = MAINTENANCE_ON_ARGV if step.on else MAINTENANCE_OFF_ARGV
                await self.on_any(argv, accept=(0,) if step.on else (0, _EXIT_NOSUCH))
            case LoadCib():
                await self.load_cib()
            case WaitApplication():
                await self.wait_application(step)
            case _:  # pragma: no cover - every step class is handled above
                raise TypeError(f"unknown step {type(step).__name__}")

    # -- files --------------------------------------------------------------------------------

    async def write(self, nodes: Sequence[str], path: str, content: bytes, mode: str) -> None:
        """Write ``content`` on every node; check every node ends up with exactly it."""
        want = hashlib.sha256(content).hexdigest()
        argv = write_file_argv(path, mode)
        results = await asyncio.gather(
            *(self.run(n, argv, stdin=content, what=f"writing {path}") for n in nodes)
        )
        for node, result in zip(nodes, results, strict=True):
            lines = result.text.splitlines()
            for line in lines:
                if line.startswith(("backup ", "unchanged")):
                    self.detail(f"{node}: {line}")
            if not lines or lines[-1].split()[0] != want:
                raise ActionFailedError(f"{node}: {path} does not have the written content")

    async def copy_authkey(self, step: CopyAuthkey) -> None:
        """Copy the source's key (or a new one) to the other nodes; the key is never shown."""
        if step.source is None:
            key = self.random_bytes(_AUTHKEY_BYTES)
            self.detail(f"made a new {len(key)}-byte key")
        else:
            key = (await self.run(step.source, ("cat", step.path))).stdout
            if not key:
                raise ActionFailedError(f"{step.source}: {step.path} is empty")
        targets = [n for n in step.nodes if n != step.source]
        await self.write(targets, step.path, key, "0400")

    # -- DRBD ---------------------------------------------------------------------------------

    async def create_md(self, node: str, step: CreateMetadata) -> None:
        """create-md; without --force, meta data that is already there is kept (and said)."""
        result = await self.run(node, step.argv(), accept=range(256), timeout=LONG_TIMEOUT)
        text = result.text + result.stderr.decode("utf-8", "replace")
        if result.ok:
            self.detail(f"{node}: meta data created")
        elif not step.force and "already in place" in text:
            self.detail(f"{node}: DRBD meta data already present, kept")
        else:
            tail = result.stderr_tail() or result.text.strip()[-300:]
            raise ActionFailedError(
                f"{node}: drbdadm create-md failed (exit status {result.exit_status}): {tail}"
            )

    async def wait_drbd(self, step: WaitDrbd) -> None:
        """Until every node is Connected to every peer."""
        peers = len(step.nodes) - 1

        async def probe() -> bool | None:
            states = await self.drbd_states()
            ok = all(
                r is not None
                and len(r.connections) >= peers
                and all(c.connected for c in r.connections)
                for r in states.values()
            )
            return True if ok else None

        await self.poll("for DRBD to connect", step.timeout, probe)

    async def initial_sync(self, step: InitialSync) -> None:
        """Skip the initial sync on a fresh resource (Inconsistent on every node)."""
        states = await self.drbd_states()
        disks = {n: (r.disk_state if r is not None else None) for n, r in states.items()}
        if not all(d is DrbdDisk.INCONSISTENT for d in disks.values()):
            listing = ", ".join(f"{n} {d}" for n, d in disks.items())
            self.detail(f"not a fresh resource ({listing}): DRBD resynchronises by itself")
            self.fresh = False
            return
        await self.run(
            step.nodes[0], ("drbdadm", "new-current-uuid", "--clear-bitmap", step.resource)
        )
        self.fresh = True

        async def probe() -> bool | None:
            states = await self.drbd_states()
            ok = all(
                r is not None
                and r.disk_state is DrbdDisk.UP_TO_DATE
                and all(c.peer_disk_state is DrbdDisk.UP_TO_DATE for c in r.connections)
                for r in states.values()
            )
            return True if ok else None

        await self.poll("for DRBD to be UpToDate", step.timeout, probe)
        self.detail("every disk is UpToDate")

    async def mkfs(self, step: MakeFilesystem) -> None:
        """Primary, check the device holds no file system, mkfs, Secondary."""
        node = step.nodes[0]
        if not self.fresh:
            self.detail("skipped: not a fresh resource (its file system is kept)")
            return
        await self.run(node, ("drbdadm", "primary", step.resource))
        try:
            probe = await self.run(
                node, ("blkid", "-p", "-o", "export", step.device), accept=(0, 2)
            )
            if probe.ok:
                found = [
                    ln for ln in probe.text.splitlines() if ln.startswith(("TYPE=", "PTTYPE="))
                ]
                raise InterlockError(
                    f"{node}: {step.device} already holds {', '.join(found) or 'a signature'}; "
                    "refusing mkfs over it (wipe the backing disk first)"
                )
            await self.run(node, (f"mkfs.{step.filesystem}", step.device), timeout=LONG_TIMEOUT)
            self.detail(f"{node}: {step.filesystem} created on {step.device}")
        finally:
            await self.run(node, ("drbdadm", "secondary", step.resource), accept=range(256))

    # -- Pacemaker ----------------------------------------------------------------------------

    async def wait_cluster(self, step: WaitCluster) -> None:
        """Until every node is online and there is a DC."""

        async def probe() -> PacemakerStatus | None:
            status = await self.crm_status()
            if status is None or status.dc is None:
                return None
            online = {n.name for n in status.nodes if n.online}
            return status if set(step.nodes) <= online else None

        status = await self.poll("for the cluster", step.timeout, probe)
        self.detail(f"DC {status.dc}, online: {', '.join(step.nodes)}")

    async def query_cib(self) -> tuple[str, Element]:
        """The live CIB from the first node that answers."""
        node, result = await self.on_any(("cibadmin", "--query"))
        return node, parse_cib_text(result.stdout)

    async def load_cib(self) -> None:
        """Patch the live CIB to the merged target; verify; fall back for reorderings."""
        node, live = await self.query_cib()
        target = desired_cib(live, self.cfg)
        if same_configuration(live, target):
            self.detail("the CIB already holds the configuration")
            return
        separator = f"--hacluster-{secrets.token_hex(16)}--"
        payload = f"{serialize(without_status(live))}{separator}\n{serialize(target)}".encode()
        diff = await self.run(
            node,
            ("sh", "-c", CIB_DIFF_SCRIPT, "sh", separator),
            stdin=payload,
            accept=(0, 1),
            what="crm_diff",
        )
        if diff.exit_status == 1:
            patch = _strip_digest(diff.text)
            for line in summarize_patch(patch):
                self.detail(f"patch: {line}")
            await self.run(
                node,
                ("cibadmin", "--patch", "--xml-pipe"),
                stdin=patch.encode(),
                what="cibadmin --patch",
            )
        node, live = await self.query_cib()
        target = desired_cib(live, self.cfg)
        if same_configuration(live, target):
            return
        self.detail("the patch could not express every change (a reordering): replacing the "
                    "configuration section with the merged one")  # fmt: skip
        conf = target.find("configuration")
        assert conf is not None  # noqa: S101 (desired_cib always has one)
        await self.run(
            node,
            ("cibadmin", "--replace", "--scope", "configuration", "--xml-pipe"),
            stdin=serialize(conf).encode(),
            what="cibadmin --replace",
        )
        node, live = await self.query_cib()
        if not same_configuration(live, desired_cib(live, self.cfg)):
            raise ActionFailedError("the CIB still differs from the configuration after loading")

    async def wait_application(self, step: WaitApplication) -> None:
        """Until the application runs with its promoted DRBD and DRBD is healthy everywhere."""
        app_id, clone_id = step.resource_id, self.cfg.ids.clone
        started = self.monotonic()
        # first let Pacemaker finish what the change started (a restart after a new parameter
        # would otherwise still show the application running with the old one)
        await self.on_any(step.settle_argv(), what="crm_resource --wait")
        remaining = max(step.timeout - (self.monotonic() - started), self.poll_interval)

        async def probe() -> str | None:
            status = await self.crm_status()
            if status is None or status.options.maintenance_mode:
                return None
            app = _find(status.resources, app_id)
            clone = _find(status.resources, clone_id)
            if app is None or clone is None or app.failed or len(app.running_on) != 1:
                return None
            where = app.running_on[0]
            if tuple(clone.promoted_on) != (where,):
                return None
            states = await self.drbd_states()
            for r in states.values():
                if r is None or r.disk_state is not DrbdDisk.UP_TO_DATE:
                    return None
                if not all(
                    c.connected and c.peer_disk_state is DrbdDisk.UP_TO_DATE for c in r.connections
                ):
                    return None
            return where

        where = await self.poll(f"for {app_id} to run", remaining, probe)
        self.detail(f"{app_id} runs on {where}; DRBD Connected and UpToDate on every node")


def _strip_digest(patch: str) -> str:
    """Drop the v1 patch's digest (it covers our document, not the live CIB; crmsh does this)."""
    head, sep, rest = patch.partition(">")
    if "<diff" in head and 'digest="' in head:
        start = head.index(' digest="')
        end = head.index('"', start + len(' digest="'))
        head = head[:start] + head[end + 1 :]
    return head + sep + rest


def _find(resources: Sequence[Resource], ident: str) -> Resource | None:
    stack = list(resources)
    while stack:
        rsc = stack.pop()
        if rsc.id == ident:
            return rsc
        stack += rsc.members
    return None


async def apply_plan(
    cfg: ClusterConfig,
    plan: Plan,
    remotes: Mapping[str, Remote],
    *,
    out: Callable[[str], None],
    granted: Iterable[Permission] = (),
    dry_run: bool = False,
    poll_interval: float = 1.0,
) -> ApplyResult:
    """Run (or, with ``dry_run``, print) ``plan``; see :class:`Applier`."""
    applier = Applier(cfg, remotes, out=out, granted=granted, poll_interval=poll_interval)
    return await applier.apply(plan, dry_run=dry_run)
