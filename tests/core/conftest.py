"""Fixtures for core tests: an in-process SSH server (see ``sshserver.py``) and client keys.

* ``client_keys``: one private key per type (``ssh-ed25519``, ``ecdsa-sha2-nistp256``,
  ``ssh-rsa``), generated once per test session.
* ``ssh_server``: a started :class:`~tests.core.sshserver.FakeSSHServer` that accepts user
  ``root`` with the Ed25519 client key and user ``admin`` with password ``PASSWORD``.
* ``ssh_server_factory``: ``await ssh_server_factory()`` for more servers (same users).
* ``endpoint_for(server, name="node1")`` and ``key_credentials()`` / ``password_credentials()``
  build the matching :mod:`hacluster.transport` objects.

Every server is stopped at teardown, so no task, timer or process outlives a test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncssh
import pytest
from sshserver import FakeSSHServer

from hacluster.transport import Credentials, NodeEndpoint

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

PASSWORD = "correct horse battery staple"
USER_KEY = "root"
USER_PASSWORD = "admin"

KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa")


@pytest.fixture(scope="session")
def client_keys() -> dict[str, asyncssh.SSHKey]:
    """One client private key per type (RSA is slow to generate, so once per session)."""
    return {
        "ssh-ed25519": asyncssh.generate_private_key("ssh-ed25519"),
        "ecdsa-sha2-nistp256": asyncssh.generate_private_key("ecdsa-sha2-nistp256"),
        "ssh-rsa": asyncssh.generate_private_key("ssh-rsa", key_size=2048),
    }


def private_key_text(key: asyncssh.SSHKey, passphrase: str | None = None) -> str:
    """OpenSSH private key text (encrypted with ``passphrase`` when given).

    Few bcrypt rounds keep the tests fast; real keys use many more.
    """
    if passphrase is None:
        return key.export_private_key("openssh").decode()
    return key.export_private_key("openssh", passphrase, rounds=1, ignore_few_rounds=True).decode()


def endpoint_for(server: FakeSSHServer, name: str = "node1") -> NodeEndpoint:
    """The endpoint of ``server`` with its current host key pinned."""
    return NodeEndpoint(
        name=name, host=server.host, port=server.port, host_key=server.host_key_line
    )


def key_credentials(
    key: asyncssh.SSHKey, *, passphrase: str | None = None, use_sudo: bool = False
) -> Credentials:
    """Credentials of user ``root`` with ``key``."""
    return Credentials(
        username=USER_KEY,
        private_key=private_key_text(key, passphrase),
        passphrase=passphrase,
        use_sudo=use_sudo,
    )


def password_credentials(password: str = PASSWORD, *, use_sudo: bool = False) -> Credentials:
    """Credentials of user ``admin`` with ``password``."""
    return Credentials(username=USER_PASSWORD, password=password, use_sudo=use_sudo)


def _prepare(server: FakeSSHServer, keys: dict[str, asyncssh.SSHKey]) -> None:
    server.add_user(USER_KEY, key=keys["ssh-ed25519"])
    server.add_user(USER_PASSWORD, password=PASSWORD)


@pytest.fixture
async def ssh_server(
    socket_enabled: None, tmp_path: Path, client_keys: dict[str, asyncssh.SSHKey]
) -> AsyncIterator[FakeSSHServer]:
    """A running fake SSH server (users ``root`` by key and ``admin`` by password)."""
    server = FakeSSHServer(tmp_path / "ssh-server")
    _prepare(server, client_keys)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def ssh_server_factory(
    socket_enabled: None, tmp_path: Path, client_keys: dict[str, asyncssh.SSHKey]
) -> AsyncIterator[Callable[..., Awaitable[FakeSSHServer]]]:
    """``await factory(shell="/bin/sh", host_key=None)``: more running servers."""
    servers: list[FakeSSHServer] = []

    async def make(**kwargs: object) -> FakeSSHServer:
        server = FakeSSHServer(tmp_path / f"ssh-server-{len(servers)}", **kwargs)  # type: ignore[arg-type]
        _prepare(server, client_keys)
        await server.start()
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            await server.stop()
