"""Poll a whole cluster: one SSH exec per node, all nodes at once, one snapshot out.

``ClusterClient.poll()`` runs :data:`commands.POLL_COMMANDS` on every node in a single exec
each (the commands of one exec run side by side: they only read), parses what came back with
the pure parsers and returns a frozen :class:`ClusterSnapshot`: every node's own report
(reachable or not, its DRBD, quorum and link state) plus the cluster view from the best member
(the DC's own view first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
import logging
import time
from typing import Any

from .analysis import choose_view, partitioned
from .commands import POLL_COMMANDS, BatchCommand
from .errors import (
    AuthenticationError,
    ClusterTimeoutError,
    HAClusterError,
    HostKeyError,
    ParseError,
    PermissionDeniedError,
)
from .models.corosync import LinkStatus, QuorumStatus
from .models.drbd import DrbdStatus, Events2Event, KernelLogLine, SplitBrainVerdict
from .models.pacemaker import PacemakerStatus
from .parsers.corosync import parse_cfgtool, parse_quorumtool
from .parsers.crm_mon import parse_crm_mon
from .parsers.drbd import parse_drbd_status, parse_events2, parse_kernel_log
from .split_brain import analyze_split_brain, cluster_split_brain
from .transport import ClusterTransport, CommandResult, Credentials, NodeEndpoint

_LOGGER = logging.getLogger(__name__)

#: exit status of a shell for "command not found"
EXIT_NOT_FOUND = 127


def error_kind(err: BaseException) -> str:
    """A short machine-readable name for an error (used in reports and translations)."""
    if isinstance(err, HostKeyError):
        return "host_key"
    if isinstance(err, AuthenticationError):
        return "auth"
    if isinstance(err, ClusterTimeoutError):
        return "timeout"
    if isinstance(err, PermissionDeniedError):
        return "permission"
    if isinstance(err, ParseError):
        return "parse"
    return "connection"


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeReport:
    """What one node said about itself (and, through crm_mon, about the cluster)."""

    name: str
    host: str
    reachable: bool
    error: str | None = None
    error_kind: str | None = None
    hostname: str | None = None
    pacemaker: PacemakerStatus | None = None
    drbd: DrbdStatus | None = None
    quorum: QuorumStatus | None = None
    links: LinkStatus | None = None
    missing_tools: tuple[str, ...] = ()
    command_errors: Mapping[str, str] = field(default_factory=dict)
    bytes_read: int = 0
    duration: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (used by diagnostics and ``hacluster status --json``)."""
        return {
            "name": self.name,
            "host": self.host,
            "reachable": self.reachable,
            "error": self.error,
            "error_kind": self.error_kind,
            "hostname": self.hostname,
            "pacemaker": self.pacemaker.to_dict() if self.pacemaker else None,
            "drbd": self.drbd.to_dict() if self.drbd else None,
            "quorum": self.quorum.to_dict() if self.quorum else None,
            "links": self.links.to_dict() if self.links else None,
            "missing_tools": list(self.missing_tools),
            "command_errors": dict(self.command_errors),
            "bytes_read": self.bytes_read,
            "duration": round(self.duration, 3),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterSnapshot:
    """Everything one poll learned about the cluster."""

    nodes: tuple[NodeReport, ...]
    pacemaker: PacemakerStatus | None
    view_from: str | None
    partitioned: bool
    split_brain: Mapping[str, SplitBrainVerdict]
    polled_at: float

    def node(self, name: str) -> NodeReport | None:
        """The report of node ``name``."""
        return next((n for n in self.nodes if n.name == name), None)

    @property
    def reachable(self) -> tuple[str, ...]:
        """Names of the nodes that answered."""
        return tuple(n.name for n in self.nodes if n.reachable)

    @property
    def bytes_read(self) -> int:
        """Bytes read over SSH by this poll, all nodes together."""
        return sum(n.bytes_read for n in self.nodes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "view_from": self.view_from,
            "partitioned": self.partitioned,
            "pacemaker": self.pacemaker.to_dict() if self.pacemaker else None,
            "split_brain": {k: v.to_dict() for k, v in sorted(self.split_brain.items())},
            "nodes": {n.name: n.to_dict() for n in self.nodes},
        }


def _parse_step[T](errors: dict[str, str], name: str, func: Callable[[], T]) -> T | None:
    """Run one parser; a malformed output costs that part of the report, not the poll."""
    try:
        return func()
    except ParseError as err:
        _LOGGER.debug("Cannot parse %s: %s", name, err)
        errors[name] = str(err)
        return None


def build_node_report(
    endpoint: NodeEndpoint,
    results: Mapping[str, CommandResult],
    *,
    bytes_read: int = 0,
    duration: float = 0.0,
) -> NodeReport:
    """Turn one node's batch results into a :class:`NodeReport` (pure)."""
    errors: dict[str, str] = {}
    missing = tuple(
        sorted(name for name, res in results.items() if res.exit_status == EXIT_NOT_FOUND)
    )

    def present(name: str) -> CommandResult | None:
        res = results.get(name)
        if res is None or res.exit_status == EXIT_NOT_FOUND:
            return None
        return res

    cib_parts = [
        r.stdout
        for n in ("cib_crm_config", "cib_constraints")
        if (r := present(n)) is not None and r.exit_status == 0 and r.stdout.strip()
    ]
    cib = b"<cib><configuration>" + b"".join(cib_parts) + b"</configuration></cib>"

    pacemaker: PacemakerStatus | None = None
    if (crm := present("crm_mon")) is not None:
        if crm.exit_status in (0, 102) or crm.stdout.strip():
            pacemaker = _parse_step(
                errors,
                "crm_mon",
                lambda: parse_crm_mon(
                    crm.stdout, exit_status=crm.exit_status, cib=cib if cib_parts else None
                ),
            )
        else:
            errors["crm_mon"] = _describe_failure(crm)

    events: tuple[Events2Event, ...] = ()
    if (ev := present("drbd_events")) is not None and ev.exit_status == 0:
        events = _parse_step(errors, "drbd_events", lambda: parse_events2(ev.stdout)) or ()
    kernel: tuple[KernelLogLine, ...] = ()
    if (kl := present("kernel_log")) is not None and kl.exit_status == 0:
        kernel = _parse_step(errors, "kernel_log", lambda: parse_kernel_log(kl.stdout)) or ()

    drbd: DrbdStatus | None = None
    if (ds := present("drbd_status")) is not None:
        if ds.exit_status == 0:
            parsed = _parse_step(errors, "drbd_status", lambda: parse_drbd_status(ds.stdout))
            if parsed is not None:
                drbd = analyze_split_brain(parsed, events=events, kernel_log=kernel)
        else:
            errors["drbd_status"] = _describe_failure(ds)

    quorum: QuorumStatus | None = None
    if (q := present("quorum")) is not None:
        quorum = _parse_step(
            errors, "quorum", lambda: parse_quorumtool(q.stdout, exit_status=q.exit_status)
        )
    links: LinkStatus | None = None
    if (lk := present("links")) is not None:
        links = _parse_step(
            errors, "links", lambda: parse_cfgtool(lk.stdout, exit_status=lk.exit_status)
        )
    hostname = None
    if (h := present("hostname")) is not None and h.exit_status == 0:
        hostname = h.stdout.decode(errors="replace").strip() or None

    return NodeReport(
        name=endpoint.name,
        host=endpoint.host,
        reachable=True,
        hostname=hostname,
        pacemaker=pacemaker,
        drbd=drbd,
        quorum=quorum,
        links=links,
        missing_tools=missing,
        command_errors=errors,
        bytes_read=bytes_read,
        duration=duration,
    )


def _describe_failure(res: CommandResult) -> str:
    text = res.stderr.decode(errors="replace").strip().splitlines()
    detail = text[-1] if text else "no output"
    return f"exit {res.exit_status}: {detail}"


def build_snapshot(reports: Sequence[NodeReport], *, polled_at: float) -> ClusterSnapshot:
    """Combine the node reports into one cluster snapshot (pure)."""
    views = [(r.name, r.pacemaker) for r in reports if r.reachable and r.pacemaker is not None]
    chosen = choose_view(views)
    drbd_by_node = {r.name: r.drbd for r in reports if r.reachable and r.drbd is not None}
    return ClusterSnapshot(
        nodes=tuple(reports),
        pacemaker=chosen[1] if chosen else None,
        view_from=chosen[0] if chosen else None,
        partitioned=partitioned(views),
        split_brain=cluster_split_brain(drbd_by_node),
        polled_at=polled_at,
    )


class ClusterClient:
    """Read a cluster through persistent SSH sessions to each of its nodes."""

    def __init__(
        self,
        endpoints: Sequence[NodeEndpoint],
        credentials: Credentials,
        *,
        commands: Sequence[BatchCommand] = POLL_COMMANDS,
        transport: ClusterTransport | None = None,
        parallel: bool = True,
        **session_options: Any,
    ) -> None:
        """Create the client; nothing connects until the first poll.

        ``parallel`` (default): each node runs the poll's commands all at once (they only
        read); pass False for custom ``commands`` that must run one after the other.
        """
        self._endpoints = tuple(endpoints)
        self._commands = tuple(commands)
        self._parallel = parallel
        self.transport = transport or ClusterTransport(
            self._endpoints, credentials, **session_options
        )

    @property
    def endpoints(self) -> tuple[NodeEndpoint, ...]:
        """The nodes this client polls."""
        return self._endpoints

    async def poll(self) -> ClusterSnapshot:
        """Poll every node at once and return the snapshot. Never raises for a single node."""
        started = time.monotonic()
        outcomes = await self.transport.run_batch_all(self._commands, parallel=self._parallel)
        reports: list[NodeReport] = []
        for endpoint in self._endpoints:
            outcome = outcomes.get(endpoint.name)
            if isinstance(outcome, HAClusterError) or outcome is None:
                err: HAClusterError = outcome or HAClusterError("no result")
                reports.append(
                    NodeReport(
                        name=endpoint.name,
                        host=endpoint.host,
                        reachable=False,
                        error=str(err),
                        error_kind=error_kind(err),
                    )
                )
                continue
            reports.append(
                await asyncio.to_thread(
                    build_node_report,
                    endpoint,
                    outcome.results,
                    bytes_read=outcome.bytes_read,
                    duration=outcome.duration,
                )
            )
        _LOGGER.debug("Polled %d nodes in %.3f s", len(reports), time.monotonic() - started)
        return build_snapshot(reports, polled_at=time.time())

    async def close(self) -> None:
        """Close every SSH session."""
        await self.transport.close()
