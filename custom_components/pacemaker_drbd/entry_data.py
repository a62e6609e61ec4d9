"""Turn a config entry's data into the core's connection objects, and back.

Entry data (written by the config flow):

``nodes``: a list of ``{"name", "host", "port", "host_key"}`` (``host_key`` is the pinned public
key in OpenSSH format), ``username``, exactly one of ``private_key`` (with an optional
``passphrase``) or ``password``, ``use_sudo`` and ``cluster_name``.
"""

from __future__ import annotations

from hashlib import sha256
from typing import TYPE_CHECKING, Any

from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME

from .const import (
    CONF_HOST_KEY,
    CONF_NODE_NAME,
    CONF_NODES,
    CONF_PASSPHRASE,
    CONF_PRIVATE_KEY,
    CONF_USE_SUDO,
    DEFAULT_PORT,
)
from .hacluster.transport import Credentials, NodeEndpoint

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

SECRET_KEYS = frozenset({CONF_PRIVATE_KEY, CONF_PASSPHRASE, CONF_PASSWORD})
"""Entry data keys that hold credentials (only the chosen method is stored)."""


def endpoints_from_data(data: Mapping[str, Any]) -> tuple[NodeEndpoint, ...]:
    """The nodes of an entry as core endpoints (address and pinned host key each)."""
    return tuple(
        NodeEndpoint(
            name=node[CONF_NODE_NAME],
            host=node[CONF_HOST],
            port=int(node.get(CONF_PORT, DEFAULT_PORT)),
            host_key=node[CONF_HOST_KEY],
        )
        for node in data[CONF_NODES]
    )


def credentials_from_data(data: Mapping[str, Any]) -> Credentials:
    """The entry's SSH credentials."""
    return Credentials(
        username=data[CONF_USERNAME],
        private_key=data.get(CONF_PRIVATE_KEY) or None,
        passphrase=data.get(CONF_PASSPHRASE) or None,
        password=data.get(CONF_PASSWORD) or None,
        use_sudo=bool(data.get(CONF_USE_SUDO, False)),
    )


def credential_data(
    *,
    private_key: str | None = None,
    passphrase: str | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """The credential part of entry data: only the chosen method, never empty values."""
    if private_key:
        data: dict[str, Any] = {CONF_PRIVATE_KEY: private_key}
        if passphrase:
            data[CONF_PASSPHRASE] = passphrase
        return data
    return {CONF_PASSWORD: password or ""}


def without_credentials(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` without any credential key (to replace the method on reauth)."""
    return {k: v for k, v in data.items() if k not in SECRET_KEYS}


def node_data(name: str, host: str, port: int, host_key: str) -> dict[str, Any]:
    """One element of the ``nodes`` list."""
    return {CONF_NODE_NAME: name, CONF_HOST: host, CONF_PORT: port, CONF_HOST_KEY: host_key}


def cluster_unique_id(cluster_name: str, nodes: Iterable[tuple[str, str]]) -> str:
    """The config entry's unique id, from the cluster's identity (never from an address).

    It is the cluster name plus the first 12 hex digits of the SHA-256 of the sorted
    ``node id:node name`` pairs (Pacemaker's node ids are Corosync's ``nodeid``). Cluster names
    are often left at a default (``hacluster``), so the name alone would not tell two clusters
    apart; the node list does, and it does not change when an address or a host key does.
    """
    members = "\n".join(sorted(f"{node_id}:{name}" for node_id, name in nodes))
    digest = sha256(members.encode()).hexdigest()[:12]
    return f"{cluster_name}_{digest}"


def same_cluster(
    name_a: str | None, nodes_a: Sequence[str], name_b: str | None, nodes_b: Sequence[str]
) -> bool:
    """Whether two identities describe the same cluster: same name and at least one node in common.

    This is looser than the unique id on purpose: a cluster that gained or lost a node is still
    the same cluster when it is reconfigured.
    """
    return name_a == name_b and bool(set(nodes_a) & set(nodes_b))
