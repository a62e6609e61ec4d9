"""``status``: the provisioned cluster as the core reads it, and how to add it to Home Assistant.

:func:`home_assistant_values` lists what the integration's config flow asks for: one node's own
address (not the virtual IP), its SSH port and user, the host key type and SHA256 fingerprint
to confirm for every node, and how to log in (the private key, ``sudo`` when not root).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..client import ClusterClient, ClusterSnapshot
from ..transport import ClusterTransport, host_key_fingerprint, parse_host_key

if TYPE_CHECKING:
    from ..transport import Credentials, NodeEndpoint
    from .config import ClusterConfig

__all__ = ["home_assistant_values", "poll_cluster"]

INTEGRATION = "Pacemaker & DRBD Cluster"


async def poll_cluster(
    access: dict[str, tuple[NodeEndpoint, Credentials]],
) -> ClusterSnapshot:
    """One poll of every node, with the same reader the integration uses."""
    endpoints = [endpoint for endpoint, _ in access.values()]
    credentials = {name: creds for name, (_, creds) in access.items()}
    transport = ClusterTransport(endpoints, credentials)
    client = ClusterClient(endpoints, next(iter(credentials.values())), transport=transport)
    try:
        return await client.poll()
    finally:
        await client.close()


def _key_type(line: str) -> str:
    return ", ".join(key.get_algorithm() for key in parse_host_key(line))


def home_assistant_values(
    cfg: ClusterConfig,
    access: dict[str, tuple[NodeEndpoint, Credentials]],
    *,
    key_file: str | None = None,
    reachable: tuple[str, ...] = (),
) -> list[str]:
    """What to type into the integration's config flow, line by line.

    The host is the first node in ``reachable`` (the first node of the description otherwise).
    """
    first = next((n.name for n in cfg.nodes if n.name in reachable), cfg.nodes[0].name)
    endpoint, credentials = access[first]
    lines = [
        f'Add the cluster to Home Assistant: Settings > Devices & services > Add integration > "{INTEGRATION}".',  # noqa: E501
        f"  Host:      {endpoint.host}   (a node's own address, not the virtual IP {cfg.vip.address})",  # noqa: E501
        f"  SSH port:  {endpoint.port}",
        f"  Username:  {credentials.username}",
        "  Confirm each node's host key when the flow shows it:",
    ]
    for node in cfg.nodes:
        ep, _ = access[node.name]
        lines.append(
            f"    {node.name:<12} {ep.host}:{ep.port}  {_key_type(ep.host_key)}  "
            f"{host_key_fingerprint(ep.host_key)}"
        )
    how = f"the private key in {key_file}" if key_file else "the private key you log in with"
    lines += [
        f"  Log in with: Private key; paste {how} (the whole file)",
        f"  Use sudo:  {'on' if credentials.use_sudo else 'off'}"
        + ("   (needs a passwordless sudoers rule)" if credentials.use_sudo else ""),
    ]
    return lines
