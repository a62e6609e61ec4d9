"""SSH transport: one persistent asyncssh connection per node, pinned host keys, bounded waits.

* :class:`NodeSession` keeps one connection to one node, opened lazily and reused. Keepalives
  notice a dead peer within ``keepalive_interval * (keepalive_count_max + 1)`` seconds (a
  session over a virtual IP that moved would otherwise hang for minutes). Failed connects are
  retried with exponential backoff; while backing off, calls fail fast.
* Host keys are always verified against the key pinned for the node (passed in memory); a
  different key raises :class:`~hacluster.errors.HostKeyError` with both SHA256 fingerprints.
  :func:`fetch_host_key` reads a server's key for a first-contact confirmation.
* Every exec runs ``sh -s`` with a script from :mod:`.commands` on standard input, so one batch
  of commands costs one exec, and the remote login shell never parses any argument.
* No ssh-agent, no ``~/.ssh/config``, no default key files, no ``~/.ssh/known_hosts``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from dataclasses import dataclass
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any, Final, Self, cast

import asyncssh

from .commands import (
    SHELL_COMMAND,
    BatchCommand,
    BatchResult,
    CommandResult,
    build_batch_script,
    build_stream_script,
    parse_batch_output,
    quote_argv,
)
from .errors import (
    AuthenticationError,
    ClusterConnectionError,
    ClusterTimeoutError,
    CommandError,
    ConfigError,
    HAClusterError,
    HostKeyError,
    PermissionDeniedError,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Mapping, Sequence

__all__ = [
    "BatchCommand",
    "BatchResult",
    "ClusterTransport",
    "CommandResult",
    "Credentials",
    "HostKeyInfo",
    "NodeEndpoint",
    "NodeSession",
    "ReachabilityLog",
    "fetch_host_key",
    "host_key_fingerprint",
    "parse_host_key",
]

_LOGGER = logging.getLogger(__name__)

type SSHProcess = asyncssh.SSHClientProcess[bytes]

#: Host key algorithms we accept from a server besides those of the pinned key (no SHA-1
#: ``ssh-rsa``, no certificates): enough to see which key a server presents instead.
_HOST_KEY_ALGS: Final = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-ed448",
    "rsa-sha2-512",
    "rsa-sha2-256",
)
#: Seconds a graceful close may take before the connection is aborted.
_CLOSE_TIMEOUT: Final = 2.0
#: stderr kept from a stream for its error message.
_STREAM_STDERR_LIMIT: Final = 65536


# --------------------------------------------------------------------------------------------
# Endpoints, credentials, host keys
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeEndpoint:
    """Where a node listens for SSH and the host key pinned for it.

    ``host_key`` is an OpenSSH public key line (``ssh-ed25519 AAAA... [comment]``); several
    lines pin several keys (e.g. a virtual IP that two nodes carry).
    """

    name: str
    host: str
    port: int = 22
    host_key: str

    def __post_init__(self) -> None:
        """Refuse obviously broken endpoints early."""
        if not self.name:
            raise ConfigError("node endpoint: name must not be empty")
        if not self.host or any(c.isspace() for c in self.host):
            raise ConfigError(f"node {self.name}: host must be a non-empty address")
        if not 0 < self.port < 65536:
            raise ConfigError(f"node {self.name}: port {self.port} is out of range")
        if not self.host_key.strip():
            raise ConfigError(f"node {self.name}: host_key (the pinned key) is required")


@dataclass(frozen=True, kw_only=True, slots=True, repr=False)
class Credentials:
    """How to log in. ``repr`` never shows a key, a passphrase or a password.

    An ssh-agent is used only when the caller names its socket in ``agent_path`` (its keys are
    offered after ``private_key``); default key files and ``SSH_AUTH_SOCK`` are never used.
    """

    username: str
    private_key: str | None = None
    passphrase: str | None = None
    password: str | None = None
    use_sudo: bool = False
    agent_path: str | None = None

    def __post_init__(self) -> None:
        """Need a user and at least one way to authenticate."""
        if not self.username:
            raise ConfigError("credentials: username must not be empty")
        if not (self.private_key or self.password is not None or self.agent_path):
            raise ConfigError("credentials: give a private_key or a password")

    def __repr__(self) -> str:
        """Show which secrets are set, never their values."""

        def flag(value: str | None) -> str:
            return "<set>" if value else "<unset>"

        return (
            f"Credentials(username={self.username!r}, private_key={flag(self.private_key)}, "
            f"passphrase={flag(self.passphrase)}, password={flag(self.password)}, "
            f"use_sudo={self.use_sudo}, agent_path={self.agent_path!r})"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class HostKeyInfo:
    """A server host key as shown to a user for confirmation."""

    key_type: str
    fingerprint: str
    public_key: str

    @classmethod
    def from_key(cls, key: asyncssh.SSHKey) -> HostKeyInfo:
        """Describe an asyncssh public key (fingerprint as ``ssh-keygen -l`` prints it)."""
        line = key.export_public_key("openssh").decode("ascii").split()
        return cls(
            key_type=key.get_algorithm(),
            fingerprint=key.get_fingerprint("sha256"),
            public_key=" ".join(line[:2]),
        )

    def to_dict(self) -> dict[str, str]:
        """JSON-safe form."""
        return {
            "key_type": self.key_type,
            "fingerprint": self.fingerprint,
            "public_key": self.public_key,
        }


def parse_host_key(text: str) -> tuple[asyncssh.SSHKey, ...]:
    """Parse pinned host keys: one OpenSSH public key per line (a leading host field is ok).

    Raises :class:`~hacluster.errors.ConfigError` when a line is not a public key.
    """
    keys: list[asyncssh.SSHKey] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            keys.append(asyncssh.import_public_key(line))
        except (asyncssh.KeyImportError, ValueError):
            # A known_hosts line: "host[,host...] keytype base64 [comment]".
            parts = line.split(None, 1)
            try:
                keys.append(asyncssh.import_public_key(parts[1] if len(parts) == 2 else ""))
            except (asyncssh.KeyImportError, ValueError):
                raise ConfigError(
                    f"pinned host key is not an OpenSSH public key line: {line[:40]!r}..."
                ) from None
    if not keys:
        raise ConfigError("no pinned host key given")
    return tuple(keys)


def host_key_fingerprint(text: str) -> str:
    """SHA256 fingerprint(s) of a pinned host key line (comma-separated for several)."""
    return ", ".join(key.get_fingerprint("sha256") for key in parse_host_key(text))


class _KeyCapturingClient(asyncssh.SSHClient):
    """Remembers the host key a server presented when it was not one of the trusted keys."""

    def __init__(self) -> None:
        self.presented: asyncssh.SSHKey | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        """Called only for a key that is not pinned: capture it and refuse it."""
        self.presented = key
        return False


def _common_options(timeout: float) -> dict[str, Any]:
    """Options that keep asyncssh away from the local user's SSH setup (and from any file)."""
    return {
        "config": [],
        "agent_forwarding": False,
        "x509_trusted_certs": None,
        "x509_trusted_cert_paths": [],
        "gss_auth": False,
        "gss_kex": False,
        "host_based_auth": False,
        "pkcs11_provider": None,
        "request_pty": False,
        "connect_timeout": timeout,
    }


async def fetch_host_key(
    host: str,
    port: int = 22,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> HostKeyInfo:
    """Connect, capture the server's host key and disconnect before authenticating.

    For a first-contact confirmation: show the fingerprint, then pin :attr:`HostKeyInfo.
    public_key`. The key type negotiated first is Ed25519, then ECDSA, then RSA (SHA-2).
    """
    client = _KeyCapturingClient()
    where = f"{host}:{port}"
    try:
        async with asyncio.timeout(timeout):
            conn = await asyncssh.connect(
                host,
                port,
                client_factory=lambda: client,
                known_hosts=((), (), ()),
                server_host_key_algs=list(_HOST_KEY_ALGS),
                username="hacluster-hostkey-probe",
                client_keys=None,
                agent_path=None,
                password=None,
                public_key_auth=False,
                password_auth=False,
                kbdint_auth=False,
                **_common_options(timeout),
            )
            conn.abort()  # pragma: no cover - an empty trust list never accepts a key
    except asyncssh.HostKeyNotVerifiable:
        pass
    except Exception as exc:
        raise _map_connect_error(exc, where) from exc
    if client.presented is None:
        raise ClusterConnectionError(f"{where}: the server presented no usable host key")
    return HostKeyInfo.from_key(client.presented)


def _map_connect_error(exc: BaseException, where: str) -> HAClusterError:
    """Turn what asyncssh or the socket layer raised while connecting into our errors."""
    if isinstance(exc, asyncssh.PermissionDenied):
        return AuthenticationError(f"{where}: authentication failed ({exc.reason})")
    if isinstance(exc, TimeoutError):
        return ClusterTimeoutError(f"{where}: timed out connecting")
    if isinstance(exc, ConnectionRefusedError):
        return ClusterConnectionError(f"{where}: connection refused")
    if isinstance(exc, asyncssh.DisconnectError):
        return ClusterConnectionError(f"{where}: disconnected: {exc.reason}")
    detail = str(exc) or type(exc).__name__
    return ClusterConnectionError(f"{where}: cannot connect: {detail}")


# --------------------------------------------------------------------------------------------
# Reachability log
# --------------------------------------------------------------------------------------------


class ReachabilityLog:
    """Logs once when a node becomes unreachable and once when it is back.

    ``reachable`` is ``None`` until the first connection attempt ends.
    """

    def __init__(self, node: str, logger: logging.Logger | None = None) -> None:
        """Start in the unknown state."""
        self.node = node
        self.reachable: bool | None = None
        self._logger = logger or _LOGGER

    def mark_up(self) -> bool:
        """Record a working connection; True (and one INFO line) when the node came back."""
        came_back = self.reachable is False
        if came_back:
            self._logger.info("Node %s is reachable again", self.node)
        self.reachable = True
        return came_back

    def mark_down(self, reason: str) -> bool:
        """Record a failure; True (and one WARNING line) when the node just became unreachable."""
        went_down = self.reachable is not False
        if went_down:
            self._logger.warning("Node %s is unreachable: %s", self.node, reason)
        self.reachable = False
        return went_down


# --------------------------------------------------------------------------------------------
# One node
# --------------------------------------------------------------------------------------------


class NodeSession:
    """One persistent SSH connection to one node, created on first use and reused."""

    def __init__(
        self,
        endpoint: NodeEndpoint,
        credentials: Credentials,
        *,
        connect_timeout: float = 5.0,
        command_timeout: float = 20.0,
        keepalive_interval: float = 2.0,
        keepalive_count_max: int = 2,
        reconnect_backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        """Prepare the session; nothing connects until the first command."""
        if connect_timeout <= 0 or command_timeout <= 0 or keepalive_interval <= 0:
            raise ConfigError("timeouts and the keepalive interval must be positive")
        if keepalive_count_max < 1:
            raise ConfigError("keepalive_count_max must be at least 1")
        first, cap = reconnect_backoff
        if first <= 0 or cap < first:
            raise ConfigError("reconnect_backoff must be (first > 0, maximum >= first)")
        self.endpoint = endpoint
        self._credentials = credentials
        self._pinned = parse_host_key(endpoint.host_key)
        self._host_key_algs = _host_key_algs(self._pinned)
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._keepalive_interval = keepalive_interval
        self._keepalive_count_max = keepalive_count_max
        self._backoff = (first, cap)
        self._client_key: asyncssh.SSHKey | None = None
        self._conn: asyncssh.SSHClientConnection | None = None
        self._old_conns: set[asyncssh.SSHClientConnection] = set()
        self._lock = asyncio.Lock()
        self._failures = 0
        self._retry_at = 0.0
        self._last_error: HAClusterError | None = None
        self._streams: set[SSHProcess] = set()
        self._closed = False
        self._reach = ReachabilityLog(endpoint.name)
        self.execs = 0
        """SSH execs (channels) opened by this session."""
        self.bytes_read = 0
        """stdout and stderr bytes received by this session."""

    def __repr__(self) -> str:
        """Name the node, never the credentials."""
        return f"NodeSession({self.endpoint.name!r}, {self._where}, connected={self.connected})"

    @property
    def _where(self) -> str:
        return f"{self.endpoint.name} ({self.endpoint.host}:{self.endpoint.port})"

    @property
    def name(self) -> str:
        """The node's name."""
        return self.endpoint.name

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (the session takes no more commands)."""
        return self._closed

    @property
    def connected(self) -> bool:
        """Whether a connection is open right now."""
        return self._conn is not None and not self._conn.is_closed()

    @property
    def reachable(self) -> bool | None:
        """Last known reachability (None before the first attempt)."""
        return self._reach.reachable

    @property
    def backoff(self) -> float:
        """The wait chosen after the last failed connect (0 after a success)."""
        if not self._failures:
            return 0.0
        first, cap = self._backoff
        return float(min(cap, first * 2 ** (self._failures - 1)))

    @property
    def retry_in(self) -> float:
        """Seconds until the next connection attempt is allowed (0 when not backing off)."""
        if not self._failures:
            return 0.0
        return max(0.0, self._retry_at - time.monotonic())

    async def __aenter__(self) -> Self:
        """Use as ``async with NodeSession(...) as s``."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close on exit."""
        await self.close()

    # -- connecting ---------------------------------------------------------------------------

    async def _load_client_key(self) -> asyncssh.SSHKey | None:
        """Import the private key once (in a thread: decrypting a key is slow CPU work)."""
        if self._client_key is None and self._credentials.private_key:
            try:
                self._client_key = await asyncio.to_thread(
                    asyncssh.import_private_key,
                    self._credentials.private_key,
                    self._credentials.passphrase,
                )
            except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
                raise AuthenticationError(
                    f"{self._where}: the private key cannot be used: {exc}"
                ) from None
        return self._client_key

    async def _open(self) -> asyncssh.SSHClientConnection:
        key = await self._load_client_key()
        creds = self._credentials
        keys: list[asyncssh.SSHKey | asyncssh.SSHKeyPair] = [key] if key is not None else []
        agent: asyncssh.SSHAgentClient | None = None
        client = _KeyCapturingClient()
        use_password = creds.password is not None
        try:
            async with asyncio.timeout(self._connect_timeout + 1.0):
                if creds.agent_path:
                    # Only the agent the caller named, and only its keys (never ~/.ssh/id_*).
                    agent = asyncssh.SSHAgentClient(creds.agent_path)
                    try:
                        keys += await agent.get_keys()
                    except ValueError as exc:
                        raise AuthenticationError(
                            f"{self._where}: the ssh-agent at {creds.agent_path} cannot be "
                            f"used: {exc}"
                        ) from None
                return await asyncssh.connect(
                    self.endpoint.host,
                    self.endpoint.port,
                    client_factory=lambda: client,
                    known_hosts=(list(self._pinned), (), ()),
                    server_host_key_algs=self._host_key_algs,
                    username=creds.username,
                    client_keys=keys or None,
                    passphrase=None,
                    ignore_encrypted=True,
                    agent_path=None,
                    password=creds.password,
                    public_key_auth=bool(keys),
                    password_auth=use_password,
                    kbdint_auth=use_password,
                    keepalive_interval=self._keepalive_interval,
                    keepalive_count_max=self._keepalive_count_max,
                    **_common_options(self._connect_timeout),
                )
        except asyncssh.HostKeyNotVerifiable:
            expected = ", ".join(k.get_fingerprint("sha256") for k in self._pinned)
            actual = client.presented.get_fingerprint("sha256") if client.presented else None
            raise HostKeyError(
                f"{self._where}: the host key does not match the pinned key "
                f"(expected {expected}, got {actual or 'no usable key'})",
                host=self.endpoint.host,
                expected=expected,
                actual=actual,
            ) from None
        except HAClusterError:
            raise
        except Exception as exc:
            raise _map_connect_error(exc, self._where) from exc
        finally:
            if agent is not None:
                agent.close()
                await agent.wait_closed()

    def _backoff_error(self) -> HAClusterError:
        last = self._last_error
        if isinstance(last, AuthenticationError | HostKeyError):
            return copy.copy(last)
        return ClusterConnectionError(
            f"{self._where} is unreachable ({last}); next attempt in {self.retry_in:.1f} s"
        )

    async def _connection(self) -> asyncssh.SSHClientConnection:
        """The open connection, opened now when needed (one opener at a time)."""
        async with self._lock:
            if self._closed:
                raise ClusterConnectionError(f"{self._where}: the session is closed")
            if self._conn is not None:
                if not self._conn.is_closed():
                    return self._conn
                self._forget(self._conn)
            if self._failures and time.monotonic() < self._retry_at:
                raise self._backoff_error()
            try:
                conn = await self._open()
            except HAClusterError as err:
                self._failures += 1
                self._retry_at = time.monotonic() + self.backoff
                self._last_error = err
                self._reach.mark_down(str(err))
                raise
            self._failures = 0
            self._last_error = None
            self._conn = conn
            self._reach.mark_up()
            _LOGGER.debug("Connected to %s", self._where)
            return conn

    def _forget(self, conn: asyncssh.SSHClientConnection) -> None:
        """Stop using ``conn`` (it died or timed out); keep it until it is fully closed."""
        self._conn = None if self._conn is conn else self._conn
        conn.abort()
        self._old_conns.add(conn)

    def _lost(self, conn: asyncssh.SSHClientConnection, what: str) -> ClusterConnectionError:
        self._forget(conn)
        message = f"{self._where}: connection lost {what}"
        self._reach.mark_down(message)
        return ClusterConnectionError(message)

    # -- running ------------------------------------------------------------------------------

    async def _channel(self) -> tuple[asyncssh.SSHClientConnection, SSHProcess]:
        """Open an exec channel running ``sh -s``.

        When the connection turns out to be dead before anything ran (the server restarted,
        a keepalive gave up), reconnect once: nothing was executed, so retrying is safe.
        """
        for retry in (False, True):
            conn = await self._connection()
            try:
                return conn, await self._create_process(conn)
            except (asyncssh.Error, OSError) as exc:
                if retry or not conn.is_closed():
                    raise self._lost(conn, f"({exc})") from None
                self._forget(conn)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    async def _create_process(conn: asyncssh.SSHClientConnection) -> SSHProcess:
        process = await conn.create_process(SHELL_COMMAND, encoding=None)
        return cast("SSHProcess", process)

    async def _exec(
        self,
        script: bytes,
        timeout: float,  # noqa: ASYNC109
    ) -> tuple[bytes, bytes, int]:
        """Run ``sh -s`` with ``script`` on stdin; return stdout, stderr and exit status."""
        await self._connection()
        try:
            async with asyncio.timeout(timeout):
                conn, process = await self._channel()
                self.execs += 1
                try:
                    # A remote side that exits without reading its input closes the channel
                    # early: then writing fails, and its exit status tells what happened.
                    with contextlib.suppress(OSError):
                        process.stdin.write(script)
                        process.stdin.write_eof()
                    stdout, stderr = await process.communicate()
                except (asyncssh.Error, OSError) as exc:  # pragma: no cover - defensive
                    raise self._lost(conn, f"({exc})") from None
                finally:
                    process.close()
        except TimeoutError:
            raise ClusterTimeoutError(f"{self._where}: no answer within {timeout:g} s") from None
        self.bytes_read += len(stdout) + len(stderr)
        status = process.exit_status
        if status is None:
            if conn.is_closed():
                raise self._lost(conn, "while a command ran")
            raise CommandError(
                f"{self._where}: the remote shell ended without an exit status "
                f"(signal {process.exit_signal})",
                command=SHELL_COMMAND,
            )
        return stdout, stderr, status

    async def run_batch(
        self,
        commands: Sequence[BatchCommand],
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        parallel: bool = False,
    ) -> BatchResult:
        """Run ``commands`` in ONE exec; return every command's result.

        ``parallel``: run them all at once on the node (read-only commands that do not depend
        on each other, e.g. a poll); by default they run one after the other, in order.

        Raises connection, timeout, authentication and host key errors; a command that fails
        on the node is a result with its exit status, not an exception. Exception: with sudo,
        when ``sudo -n`` refused every privileged command, :class:`PermissionDeniedError`.
        """
        cmds = tuple(commands)
        token = secrets.token_hex(16)
        sudo = self._credentials.use_sudo
        script = build_batch_script(cmds, sudo=sudo, token=token, parallel=parallel).encode("utf-8")
        started = time.monotonic()
        stdout, stderr, status = await self._exec(script, timeout or self._command_timeout)
        duration = time.monotonic() - started
        if status != 0:
            detail = stderr.decode("utf-8", "replace").strip().splitlines()
            raise CommandError(
                f"{self._where}: the batch failed with exit status {status}: "
                f"{detail[-1] if detail else 'no output'}",
                command=SHELL_COMMAND,
                exit_status=status,
                stderr="\n".join(detail[-5:]),
            )
        results = parse_batch_output(stdout, cmds, token)
        if sudo:
            privileged = [results[c.name] for c in cmds if c.privileged]
            if privileged and all(r.sudo_denied for r in privileged):
                raise PermissionDeniedError(
                    f"{self._where}: sudo -n refused to run the commands for "
                    f"{self._credentials.username}: {privileged[0].stderr_tail()}",
                    command=quote_argv(privileged[0].argv),
                    exit_status=privileged[0].exit_status,
                    stderr=privileged[0].stderr_tail(),
                )
        return BatchResult(
            node=self.endpoint.name,
            results=results,
            duration=duration,
            bytes_read=len(stdout) + len(stderr),
        )

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run one command (quoted element by element; ``sudo -n --`` with ``use_sudo``).

        Returns the result whatever the exit status (127: program missing); raises
        :class:`PermissionDeniedError` when sudo wants a password.
        """
        command = BatchCommand(name="command", argv=tuple(argv), stdin=stdin)
        batch = await self.run_batch((command,), timeout=timeout)
        return batch["command"]

    async def stream_lines(self, argv: Sequence[str]) -> AsyncGenerator[str]:
        """Yield the stdout lines of a long-running command (e.g. ``drbdsetup events2``).

        Ends without error when the command exits with status 0 or the session is closed;
        raises :class:`ClusterConnectionError` when the connection dies (keepalives notice a
        dead peer within seconds) and a :class:`CommandError` when the command fails. Close it
        early with ``contextlib.aclosing``; the remote command is killed when the channel closes.
        """
        script = build_stream_script(argv, sudo=self._credentials.use_sudo).encode("utf-8")
        await self._connection()
        try:
            async with asyncio.timeout(self._connect_timeout):
                conn, process = await self._channel()
        except TimeoutError:
            raise ClusterTimeoutError(f"{self._where}: cannot open a channel") from None
        self.execs += 1
        self._streams.add(process)
        try:
            process.stdin.write(script)
            while True:
                try:
                    line = await process.stdout.readline()
                except (asyncssh.Error, OSError):
                    line = b""  # the channel died: the exit status below tells how
                if not line:
                    break
                self.bytes_read += len(line)
                yield line.rstrip(b"\r\n").decode("utf-8", "replace")
            if self._closed:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._command_timeout):
                    await process.wait_closed()
            status = process.exit_status
            if status is None:
                raise self._lost(conn, "during a stream")
            if status != 0:
                stderr = process.collect_output()[1][-_STREAM_STDERR_LIMIT:]
                result = CommandResult(
                    argv=tuple(argv), exit_status=status, stdout=b"", stderr=stderr
                )
                result.check()
        finally:
            self._streams.discard(process)
            with contextlib.suppress(Exception):
                process.stdin.write_eof()
            process.close()

    async def close(self) -> None:
        """Close streams and the connection (bounded; aborts what does not close in time)."""
        self._closed = True
        for process in list(self._streams):
            with contextlib.suppress(Exception):
                process.stdin.write_eof()
            process.close()
        conns = list(self._old_conns)
        if self._conn is not None:
            self._conn.close()
            conns.append(self._conn)
            self._conn = None
        self._old_conns.clear()
        for conn in conns:
            try:
                async with asyncio.timeout(_CLOSE_TIMEOUT):
                    await conn.wait_closed()
            except TimeoutError:  # pragma: no cover - a peer that blocks our disconnect
                conn.abort()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_CLOSE_TIMEOUT):
                        await conn.wait_closed()


def _host_key_algs(pinned: Sequence[asyncssh.SSHKey]) -> list[str]:
    """The pinned keys' algorithms first (so the server shows that key), then the others."""
    algs: list[str] = []
    for key in pinned:
        for alg in key.sig_algorithms:
            name = alg.decode("ascii")
            if name not in algs and "@" not in name:
                algs.append(name)
    for name in _HOST_KEY_ALGS:
        if name not in algs:
            algs.append(name)
    return algs


# --------------------------------------------------------------------------------------------
# The whole cluster
# --------------------------------------------------------------------------------------------


class ClusterTransport:
    """One :class:`NodeSession` per node; runs a batch on all nodes at once."""

    def __init__(
        self,
        endpoints: Sequence[NodeEndpoint],
        credentials: Credentials | Mapping[str, Credentials],
        *,
        connect_timeout: float = 5.0,
        command_timeout: float = 20.0,
        keepalive_interval: float = 2.0,
        keepalive_count_max: int = 2,
        reconnect_backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        """Create the sessions (no connection is opened yet)."""
        self._sessions: dict[str, NodeSession] = {}
        for endpoint in endpoints:
            if endpoint.name in self._sessions:
                raise ConfigError(f"node {endpoint.name} is listed twice")
            if isinstance(credentials, Credentials):
                creds = credentials
            else:
                try:
                    creds = credentials[endpoint.name]
                except KeyError:
                    raise ConfigError(f"no credentials for node {endpoint.name}") from None
            self._sessions[endpoint.name] = NodeSession(
                endpoint,
                creds,
                connect_timeout=connect_timeout,
                command_timeout=command_timeout,
                keepalive_interval=keepalive_interval,
                keepalive_count_max=keepalive_count_max,
                reconnect_backoff=reconnect_backoff,
            )

    @property
    def sessions(self) -> Mapping[str, NodeSession]:
        """The sessions by node name."""
        return self._sessions

    def session(self, node: str) -> NodeSession:
        """The session of ``node`` (KeyError when unknown)."""
        return self._sessions[node]

    @property
    def closed(self) -> bool:
        """Whether every session was closed (the client is shutting down)."""
        return all(s.closed for s in self._sessions.values())

    @property
    def execs(self) -> int:
        """SSH execs over all nodes."""
        return sum(s.execs for s in self._sessions.values())

    @property
    def bytes_read(self) -> int:
        """Bytes read over all nodes."""
        return sum(s.bytes_read for s in self._sessions.values())

    async def run_batch_all(
        self,
        commands: Sequence[BatchCommand],
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        parallel: bool = False,
    ) -> dict[str, BatchResult | HAClusterError]:
        """Run the batch on every node concurrently; a node's failure is its value, not a raise.

        ``parallel``: also run the commands of each node's batch at once (see
        :meth:`NodeSession.run_batch`).
        """
        cmds = tuple(commands)

        async def one(session: NodeSession) -> BatchResult | HAClusterError:
            try:
                return await session.run_batch(cmds, timeout=timeout, parallel=parallel)
            except HAClusterError as err:
                return err

        names = list(self._sessions)
        outcomes = await asyncio.gather(*(one(self._sessions[n]) for n in names))
        return dict(zip(names, outcomes, strict=True))

    async def close(self) -> None:
        """Close every session."""
        await asyncio.gather(*(s.close() for s in self._sessions.values()))

    async def __aenter__(self) -> Self:
        """Use as ``async with ClusterTransport(...) as t``."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close on exit."""
        await self.close()
