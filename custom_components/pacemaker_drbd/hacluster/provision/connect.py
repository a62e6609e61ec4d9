"""Reach the nodes of a cluster description over SSH: pinned host keys, key files, sudo.

Host keys are always verified: each node's key comes from a ``known_hosts`` file (the node's
``ssh.known_hosts``, or ``--known-hosts`` for every node). A node without a pinned key is an
error that shows the key the node presents (:func:`describe_unpinned`), so the user can compare
its fingerprint on the node's console and pin it; nothing is trusted on first use.

Relative paths (``key_file``, ``known_hosts``) are looked up in the current directory first,
then next to the YAML file. A user other than ``root`` runs every command through ``sudo -n``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, HAClusterError
from ..transport import Credentials, NodeEndpoint, NodeSession, fetch_host_key

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .config import ClusterConfig, Node

__all__ = [
    "AccessOptions",
    "Unpinned",
    "build_access",
    "describe_unpinned",
    "open_sessions",
    "resolve_path",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class AccessOptions:
    """Command-line overrides for how to reach the nodes."""

    config_dir: Path | None = None
    known_hosts: str | None = None
    key_file: str | None = None
    passphrase: str | None = None
    agent_path: str | None = None
    connect_timeout: float = 10.0
    command_timeout: float = 120.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Unpinned:
    """A node whose host key is not in any known_hosts file."""

    node: str
    host: str
    port: int
    reason: str


def resolve_path(value: str, base: Path | None) -> Path:
    """``~`` expanded; a relative path from the current directory, else from ``base``."""
    path = Path(value).expanduser()
    if path.is_absolute() or path.exists() or base is None:
        return path
    beside = base / path
    return beside if beside.exists() else path


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path}: {err.strerror}") from err


def _host_key(node: Node, options: AccessOptions) -> tuple[str | None, str]:
    """(the pinned key line, why there is none)."""
    from ..cli import known_host_key  # the CLI imports this package: import late

    source = options.known_hosts or node.ssh.known_hosts
    if source is None:
        return None, "no known_hosts file (set nodes[].ssh.known_hosts or give --known-hosts)"
    path = resolve_path(source, options.config_dir)
    known = _read(path, "the known_hosts file")
    try:
        return known_host_key(known, node.ssh_host, node.ssh.port), ""
    except HAClusterError:
        return None, f"{node.ssh_host} is not in {path}"


def _credentials(node: Node, options: AccessOptions) -> Credentials:
    source = options.key_file or node.ssh.key_file
    sudo = node.ssh.user != "root"
    if source is not None:
        key = _read(resolve_path(source, options.config_dir), "the private key")
        return Credentials(
            username=node.ssh.user,
            private_key=key.decode("utf-8", "replace"),
            passphrase=options.passphrase,
            use_sudo=sudo,
        )
    if options.agent_path:
        return Credentials(username=node.ssh.user, agent_path=options.agent_path, use_sudo=sudo)
    raise ConfigError(
        f"{node.name}: no SSH key (set nodes[].ssh.key_file, or give --key FILE or --ssh-agent)"
    )


def build_access(
    cfg: ClusterConfig, options: AccessOptions
) -> tuple[dict[str, tuple[NodeEndpoint, Credentials]], list[Unpinned]]:
    """Endpoints with pinned keys and credentials per node, and the nodes without a key."""
    access: dict[str, tuple[NodeEndpoint, Credentials]] = {}
    unpinned: list[Unpinned] = []
    for node in cfg.nodes:
        key, reason = _host_key(node, options)
        credentials = _credentials(node, options)
        if key is None:
            unpinned.append(
                Unpinned(node=node.name, host=node.ssh_host, port=node.ssh.port, reason=reason)
            )
            continue
        endpoint = NodeEndpoint(
            name=node.name, host=node.ssh_host, port=node.ssh.port, host_key=key
        )
        access[node.name] = (endpoint, credentials)
    return access, unpinned


async def describe_unpinned(
    unpinned: Sequence[Unpinned],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> str:
    """Explain how to pin the missing host keys, showing what each node presents."""
    lines = ["No pinned host key for:"]
    for item in unpinned:
        lines.append(f"  {item.node} ({item.host}:{item.port}): {item.reason}")
        try:
            info = await fetch_host_key(item.host, item.port, timeout=timeout)
        except HAClusterError as err:
            lines.append(f"    cannot read its host key: {err}")
            continue
        host = item.host if item.port == 22 else f"[{item.host}]:{item.port}"
        lines.append(f"    it presents {info.key_type} {info.fingerprint}")
        lines.append(
            "    compare with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on its console, then "
            "add this line to your known_hosts file:"
        )
        lines.append(f"    {host} {info.public_key}")
    return "\n".join(lines)


def open_sessions(
    access: dict[str, tuple[NodeEndpoint, Credentials]], options: AccessOptions
) -> dict[str, NodeSession]:
    """One (lazily connecting) session per node."""
    return {
        name: NodeSession(
            endpoint,
            credentials,
            connect_timeout=options.connect_timeout,
            command_timeout=options.command_timeout,
        )
        for name, (endpoint, credentials) in access.items()
    }
