"""Where this Home Assistant instance runs: inside the cluster's application, on a node, or outside.

In the reference setup Home Assistant is a member of the very group that failover and standby
move: its container uses the host's network on the node that runs the group, and the group's
IPaddr2 puts the virtual IP on that node. An action that moves or stops that group stops this
instance; it is sent without waiting and reported after the restart (see ``pending.py``).

What this instance knows about itself:

* its IP addresses (every interface, through ``ifaddr``, which Home Assistant itself requires)
  and its host name, read again before every action (the virtual IP comes and goes);
* the application's virtual IPs: the ``ip`` parameter of the ``IPaddr2``/``IPaddr`` primitives
  in the application resource (``cibadmin --query --scope resources``, one exec at setup).

The core's :func:`~.hacluster.interlocks.detect_self` turns that into a
:class:`~.hacluster.interlocks.SelfLocation`. This instance is *self-hosted* (the application's
moves stop it) when it owns the application's virtual IP, or, when no virtual IP tells, when it
runs on the node that runs the application (its address or host name is that node's).
"""

from __future__ import annotations

from dataclasses import dataclass
import socket
from typing import TYPE_CHECKING, Any, Final

import ifaddr

from .const import LOGGER
from .hacluster.analysis import application_node, find_application
from .hacluster.commands import BatchCommand
from .hacluster.errors import HAClusterError
from .hacluster.interlocks import SelfLocation, detect_self
from .hacluster.parsers.cib import parse_cib

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .hacluster.client import ClusterClient, ClusterSnapshot
    from .hacluster.models.pacemaker import CibInfo

VIP_AGENTS: Final = frozenset({"ocf:heartbeat:IPaddr2", "ocf:heartbeat:IPaddr"})
CIB_RESOURCES: Final = BatchCommand(
    name="cib_resources",
    argv=("cibadmin", "--query", "--scope", "resources"),
    timeout=15.0,
    max_bytes=8 * 1024 * 1024,
)
"""The configured resources (for the application's virtual IP parameters)."""


def own_addresses() -> tuple[str, ...]:
    """Every IP address of this host (blocking: run it in the executor)."""
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            address = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            if address not in found:
                found.append(address)
    return tuple(found)


def own_hostname() -> str:
    """This host's name (the node's name when Home Assistant uses the host's UTS namespace)."""
    return socket.gethostname()


def application_vips(cib: CibInfo, application: str) -> tuple[str, ...]:
    """The ``ip`` parameters of the IPaddr2/IPaddr primitives in (or equal to) ``application``."""
    vips: list[str] = []
    for resource in cib.resources.values():
        if resource.agent not in VIP_AGENTS or not (ip := resource.params.get("ip")):
            continue
        ancestor: str | None = resource.id
        while ancestor is not None and ancestor != application:
            parent = cib.resources.get(ancestor)
            ancestor = parent.parent if parent is not None else None
        if ancestor == application and ip not in vips:
            vips.append(ip)
    return tuple(vips)


async def async_read_vips(
    client: ClusterClient, nodes: Iterable[str], application: str | None
) -> tuple[str, ...]:
    """Ask the first node that answers for the application's virtual IPs (best effort)."""
    if application is None:
        return ()
    for node in nodes:
        try:
            batch = await client.transport.session(node).run_batch((CIB_RESOURCES,))
            result = batch.get(CIB_RESOURCES.name)
            if result is None or not result.ok:
                continue
            return application_vips(parse_cib(result.stdout), application)
        except HAClusterError as err:
            LOGGER.debug("Cannot read the configured resources on %s: %s", node, err)
    return ()


@dataclass(frozen=True, kw_only=True, slots=True)
class SelfState:
    """Where this instance runs right now, as far as the cluster can tell."""

    location: SelfLocation
    self_hosted: bool
    """The application's moves stop this instance (see the module docstring)."""
    vips: tuple[str, ...] = ()

    @property
    def node(self) -> str | None:
        """The cluster node this instance runs on (None: not on a node, or unknown)."""
        return self.location.node

    def attributes(self) -> dict[str, Any]:
        """State attributes for the card: ``self_hosted`` and ``self_node``."""
        return {"self_hosted": self.self_hosted, "self_node": self.node}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (diagnostics)."""
        return {
            **self.location.to_dict(),
            "self_hosted": self.self_hosted,
            "application_vips": list(self.vips),
        }


def locate_self(
    snapshot: ClusterSnapshot | None,
    addresses: Iterable[str],
    hostname: str | None,
    vips: tuple[str, ...],
    application: str | None,
) -> SelfState:
    """Combine the core's :func:`detect_self` with the application's node (pure)."""
    if snapshot is None:
        unknown = SelfLocation(evidence="no poll yet")
        return SelfState(location=unknown, self_hosted=False, vips=vips)
    addresses = tuple(addresses)
    location: SelfLocation | None = None
    for vip in vips:
        found = detect_self(
            snapshot, addresses, vip=vip, hostname=hostname, application=application
        )
        if found.in_application:
            location = found
            break
    if location is None:
        location = detect_self(snapshot, addresses, hostname=hostname, application=application)
    if location.in_application:
        return SelfState(location=location, self_hosted=True, vips=vips)
    app_node = None
    if snapshot.pacemaker is not None and snapshot.pacemaker.stack_running:
        app_node = application_node(find_application(snapshot.pacemaker, application))
    hosted = not vips and location.node is not None and location.node == app_node
    if hosted:
        location = SelfLocation(
            node=location.node,
            in_application=True,
            evidence=f"{location.evidence}, the node that runs the application",
        )
    return SelfState(location=location, self_hosted=hosted, vips=vips)
