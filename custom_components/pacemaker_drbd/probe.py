"""First contact with a node: what the config flow checks before it creates an entry.

One SSH exec runs the core's :data:`PROBE_COMMANDS` (tool versions, ``corosync.conf``, the login
user's groups, the host name) together with the poll's ``crm_mon``, ``cibadmin --scope
crm_config`` and ``corosync-quorumtool``. From the answers it learns:

* whether this is a cluster node at all (``crm_mon`` exists), and whether we may read the cluster
  (``crm_mon`` needs root or the ``haclient`` group; with ``use_sudo``, ``sudo -n`` must work);
* which optional tools are missing (``drbdsetup``, ``corosync-quorumtool``);
* the cluster's identity: its name and its nodes (names and Corosync node ids) from
  ``corosync.conf``'s ``totem``/``nodelist``, else from the CIB and crm_mon;
* the other nodes' addresses (``ring0_addr`` in ``corosync.conf``, else the node name).
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import TYPE_CHECKING

from .entry_data import cluster_unique_id
from .hacluster.client import build_node_report
from .hacluster.commands import (
    CMD_CIB_CRM_CONFIG,
    CMD_CRM_MON,
    CMD_QUORUM,
    POLL_COMMANDS,
    PROBE_COMMANDS,
    CommandResult,
)
from .hacluster.errors import NotAClusterNodeError, PermissionDeniedError
from .hacluster.transport import Credentials, NodeEndpoint, NodeSession

if TYPE_CHECKING:
    from collections.abc import Mapping

_PROBE_NAMES = {c.name for c in PROBE_COMMANDS}
PROBE_BATCH = PROBE_COMMANDS + tuple(
    c
    for c in POLL_COMMANDS
    if c.name in {CMD_CRM_MON, CMD_CIB_CRM_CONFIG, CMD_QUORUM} and c.name not in _PROBE_NAMES
)
"""The one batch the config flow runs on the node the user names."""

OPTIONAL_TOOLS: Mapping[str, str] = {
    "drbdsetup_version": "drbdsetup",
    "corosync_version": "corosync",
    CMD_QUORUM: "corosync-quorumtool",
}
_PERMISSION_RE = re.compile(rb"permission denied|not authorized|access denied", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterNodeInfo:
    """A node of the cluster as the probed node knows it."""

    name: str
    node_id: str
    address: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ProbeResult:
    """What first contact with one node learned."""

    cluster_name: str
    local_node: str
    nodes: tuple[ClusterNodeInfo, ...]
    missing_tools: tuple[str, ...] = ()

    @property
    def unique_id(self) -> str:
        """The config entry unique id of this cluster."""
        return cluster_unique_id(self.cluster_name, ((n.node_id, n.name) for n in self.nodes))

    @property
    def node_names(self) -> tuple[str, ...]:
        """All node names."""
        return tuple(n.name for n in self.nodes)

    @property
    def others(self) -> tuple[ClusterNodeInfo, ...]:
        """The nodes other than the probed one."""
        return tuple(n for n in self.nodes if n.name != self.local_node)


@dataclass(frozen=True, kw_only=True, slots=True)
class CorosyncConf:
    """The parts of ``corosync.conf`` the config flow needs."""

    cluster_name: str | None
    nodes: tuple[ClusterNodeInfo, ...]


_TOKEN_RE = re.compile(r"\{|\}|[^\s{}]+")


def parse_corosync_conf(text: str) -> CorosyncConf:
    """Read ``totem.cluster_name`` and the ``nodelist`` (name, nodeid, ring0_addr) (pure).

    ``corosync.conf`` is nested ``section { key: value }`` blocks; ``#`` starts a comment line.
    Nodes without a ``name`` use ``ring0_addr`` as their name (as Pacemaker does); nodes without
    a ``nodeid`` (not allowed with knet) are numbered from 1 in file order.
    """
    path: list[str] = []
    cluster_name: str | None = None
    node: dict[str, str] | None = None
    nodes: list[dict[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("{"):
            section = line[:-1].strip()
            path.append(section)
            if path == ["nodelist", "node"]:
                node = {}
            continue
        if line == "}":
            if path == ["nodelist", "node"] and node is not None:
                nodes.append(node)
                node = None
            if path:
                path.pop()
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if path == ["totem"] and key == "cluster_name":
            cluster_name = value
        elif node is not None:
            node[key] = value
    infos: list[ClusterNodeInfo] = []
    for index, item in enumerate(nodes, start=1):
        address = item.get("ring0_addr")
        name = item.get("name") or address
        if not name:
            continue
        infos.append(
            ClusterNodeInfo(name=name, node_id=item.get("nodeid", str(index)), address=address)
        )
    return CorosyncConf(cluster_name=cluster_name, nodes=tuple(infos))


def _check_access(results: Mapping[str, CommandResult], credentials: Credentials) -> None:
    """Raise when this is no cluster node or when crm_mon may not read the cluster."""
    version = results.get("crm_mon_version")
    if version is None or version.not_found:
        raise NotAClusterNodeError("crm_mon is not installed: this host is not a cluster node")
    crm = results.get(CMD_CRM_MON)
    if crm is not None and crm.sudo_denied:
        raise PermissionDeniedError(f"sudo -n refused to run crm_mon: {crm.stderr_tail()}")
    if crm is not None and crm.exit_status not in (0, 102) and _PERMISSION_RE.search(crm.stderr):
        raise PermissionDeniedError(f"crm_mon cannot read the cluster: {crm.stderr_tail()}")
    groups = results.get("groups")
    if (
        not credentials.use_sudo
        and credentials.username != "root"
        and groups is not None
        and groups.ok
        and "haclient" not in groups.text.split()
        and "root" not in groups.text.split()
    ):
        raise PermissionDeniedError(
            f"{credentials.username} is neither root nor in the haclient group"
        )


def probe_result(
    endpoint: NodeEndpoint, results: Mapping[str, CommandResult], credentials: Credentials
) -> ProbeResult:
    """Interpret the probe batch of one node (pure)."""
    _check_access(results, credentials)
    conf_result = results.get("corosync_conf")
    conf = (
        parse_corosync_conf(conf_result.text)
        if conf_result is not None and conf_result.ok
        else CorosyncConf(cluster_name=None, nodes=())
    )
    report = build_node_report(endpoint, results)
    view = (
        report.pacemaker
        if report.pacemaker is not None and report.pacemaker.stack_running
        else None
    )
    cluster_name = conf.cluster_name or (view.cluster_name if view is not None else None)
    nodes = conf.nodes
    if not nodes and view is not None:
        nodes = tuple(ClusterNodeInfo(name=n.name, node_id=n.node_id) for n in view.nodes)
    if not cluster_name or not nodes:
        raise NotAClusterNodeError(
            "cannot read the cluster's name and nodes (corosync.conf, crm_mon)"
        )
    names = {n.name for n in nodes}
    local: str | None = None
    if report.hostname in names:
        local = report.hostname
    elif report.quorum is not None and (member := report.quorum.local_member) is not None:
        local = member.name if member.name in names else None
    if local is None:
        local = next((n.name for n in nodes if n.address == endpoint.host), None)
    if local is None:
        raise NotAClusterNodeError(
            f"{report.hostname or endpoint.host} is not in the cluster's node list"
        )
    missing = tuple(
        sorted(tool for name, tool in OPTIONAL_TOOLS.items() if name in report.missing_tools)
    )
    return ProbeResult(
        cluster_name=cluster_name, local_node=local, nodes=nodes, missing_tools=missing
    )


async def async_probe(endpoint: NodeEndpoint, credentials: Credentials) -> ProbeResult:
    """Connect to one node (pinned key), run the probe batch, close, interpret.

    Raises the core's errors: :class:`HostKeyError`, :class:`AuthenticationError`,
    :class:`ClusterTimeoutError`, :class:`ClusterConnectionError`, :class:`PermissionDeniedError`,
    :class:`NotAClusterNodeError` (and :class:`HAClusterError` for anything else).
    """
    session = NodeSession(endpoint, credentials, connect_timeout=10.0)
    try:
        batch = await session.run_batch(PROBE_BATCH)
    finally:
        await session.close()
    return probe_result(endpoint, batch.results, credentials)
