"""An in-process asyncssh server for tests that talk SSH (127.0.0.1, random ports).

:class:`FakeSSHServer` runs every exec like sshd does: ``<shell> -c <command>`` in a real local
shell, with ``PATH`` starting at a directory of stub programs. A stub looks up the response
registered for its exact argv (:meth:`FakeSSHServer.respond`), or for any argv of its program
(:meth:`FakeSSHServer.respond_default`), and otherwise says "command not found" (127). So the
real batch scripts of :mod:`hacluster.commands` run end to end, in sh, dash or bash.

What a test can do:

* register canned responses per argv (stdout, stderr, exit status, a delay, a hang, slow
  output line by line) or per raw exec command line (:meth:`FakeSSHServer.respond_command`);
* count execs (:attr:`execs`), see the raw command lines (:attr:`commands`), the argv of every
  stubbed program call (:attr:`calls`, including ``sudo``), the auth attempts, the connections;
* accept a user by key and/or password (:meth:`add_user`); make ``sudo -n`` want a password
  (:attr:`sudo_mode` = ``"password"``) or refuse some programs (:attr:`sudo_deny`);
* change the host key (:meth:`restart` with ``new_host_key=True``);
* stop and restart on the same port (:meth:`stop`, :meth:`start`, :meth:`restart`);
* stop answering without closing anything, like a silent power cut or a moved virtual IP
  (:meth:`freeze` / :meth:`thaw`): clients reach the server through a TCP relay that can hold
  all traffic. A frozen server also accepts new TCP connections and never speaks SSH.

Everything it starts (relay tasks, SSH connections, shell processes) is cleaned up by
:meth:`stop`, so the Home Assistant test plugin sees no lingering tasks, timers or processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
import hashlib
import os
from pathlib import Path
import signal
from typing import Any, Final, Self

import asyncssh

#: Programs that always get a stub (so a test never runs the real cluster tools of this host).
STUBBED_PROGRAMS: Final = (
    "cibadmin",
    "corosync",
    "corosync-cfgtool",
    "corosync-quorumtool",
    "crm_attribute",
    "crm_mon",
    "crm_resource",
    "crm_standby",
    "dmesg",
    "drbdadm",
    "drbdsetup",
)

_STUB: Final = r"""#!/bin/sh
_hd='%(root)s'
_hn=${0##*/}
printf '%%s\000' "$_hn" "$@" >"$_hd/calls/$(date +%%s%%N)-$$"
_hk=$(printf '%%s\000' "$_hn" "$@" | sha256sum | cut -c1-64)
_hr="$_hd/responses/$_hk"
if [ ! -d "$_hr" ]; then
  _hr="$_hd/responses/default-$_hn"
fi
if [ ! -d "$_hr" ]; then
  printf '%%s: command not found\n' "$_hn" >&2
  exit 127
fi
if [ -f "$_hr/delay" ]; then
  sleep "$(cat "$_hr/delay")"
fi
if [ -f "$_hr/hang" ]; then
  exec sleep 3600
fi
if [ -f "$_hr/line_delay" ]; then
  _hl=$(cat "$_hr/line_delay")
  while IFS= read -r _hx || [ -n "$_hx" ]; do
    printf '%%s\n' "$_hx"
    sleep "$_hl"
  done <"$_hr/stdout"
else
  cat "$_hr/stdout"
fi
cat "$_hr/stderr" >&2
exit "$(cat "$_hr/rc")"
"""

_SUDO_STUB: Final = r"""#!/bin/sh
_hd='%(root)s'
printf '%%s\000' sudo "$@" >"$_hd/calls/$(date +%%s%%N)-$$"
if [ "$(cat "$_hd/sudo_mode")" = password ]; then
  echo 'sudo: a password is required' >&2
  exit 1
fi
if [ "$1" = -n ]; then shift; fi
if [ "$1" = -- ]; then shift; fi
if grep -qxF -e "${1##*/}" "$_hd/sudo_deny"; then
  echo 'sudo: a password is required' >&2
  exit 1
fi
exec "$@"
"""


def argv_key(argv: tuple[str, ...]) -> str:
    """The key a stub computes for its argv (program basename first)."""
    data = b"".join(arg.encode() + b"\0" for arg in argv)
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Response:
    """What a stubbed program or a canned command line answers."""

    stdout: bytes = b""
    stderr: bytes = b""
    exit_status: int | None = 0
    """``None`` (raw command lines only): close the channel without an exit status."""
    delay: float = 0.0
    hang: bool = False
    line_delay: float = 0.0


@dataclass
class _User:
    password: str | None = None
    keys: list[asyncssh.SSHKey] = field(default_factory=list)


class _Relay:
    """A TCP relay in front of the SSH server that can hold all traffic (freeze)."""

    def __init__(self) -> None:
        self.port = 0
        self.backend_port = 0
        self._server: asyncio.Server | None = None
        self._thawed = asyncio.Event()
        self._thawed.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def frozen(self) -> bool:
        return not self._thawed.is_set()

    def freeze(self) -> None:
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        up_writer: asyncio.StreamWriter | None = None
        try:
            await self._thawed.wait()
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
            except OSError:
                return
            self._writers.add(up_writer)
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        except asyncio.CancelledError:
            pass
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    w.close()
                    self._writers.discard(w)
            self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self._thawed.wait()
                data = await reader.read(65536)
                if not data:
                    break
                await self._thawed.wait()
                writer.write(data)
                await writer.drain()
        except (OSError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


class _ServerAuth(asyncssh.SSHServer):
    def __init__(self, owner: FakeSSHServer) -> None:
        self._owner = owner
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._owner.connections += 1
        self._owner._conns.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._owner._conns.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        user = self._owner.users.get(username)
        ok = user is not None and user.password is not None and user.password == password
        self._owner.auth_attempts.append((username, "password", ok))
        return ok

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        user = self._owner.users.get(username)
        ok = user is not None and key in user.keys
        self._owner.auth_attempts.append((username, "publickey", ok))
        return ok


class FakeSSHServer:
    """An asyncssh server on 127.0.0.1 whose execs run in a real local shell with stubs."""

    host: Final = "127.0.0.1"

    def __init__(
        self,
        workdir: Path,
        *,
        host_key: asyncssh.SSHKey | None = None,
        shell: str = "/bin/sh",
    ) -> None:
        """Prepare the stub directory; call :meth:`start` (or use ``async with``)."""
        self.workdir = workdir
        self.shell = shell
        self.host_key = host_key or asyncssh.generate_private_key("ssh-ed25519")
        self.users: dict[str, _User] = {}
        self.execs = 0
        self.connections = 0
        self.commands: list[str] = []
        self.auth_attempts: list[tuple[str, str, bool]] = []
        self._command_responses: dict[str, Response] = {}
        self._relay = _Relay()
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._conns: set[asyncssh.SSHServerConnection] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._procs: set[asyncio.subprocess.Process] = set()
        self.bindir = workdir / "bin"
        self._responses = workdir / "responses"
        self._calls = workdir / "calls"
        for folder in (self.bindir, self._responses, self._calls, workdir / "home"):
            folder.mkdir(parents=True, exist_ok=True)
        self.sudo_mode = "nopasswd"
        self.sudo_deny: set[str] = set()
        self._write_stub("sudo", _SUDO_STUB)
        for program in STUBBED_PROGRAMS:
            self._write_stub(program, _STUB)

    # -- configuration -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port clients connect to (stable across stop/start)."""
        return self._relay.port

    @property
    def host_key_line(self) -> str:
        """The server's public host key as an OpenSSH line (what a client pins)."""
        return self.host_key.export_public_key("openssh").decode().split("\n")[0].strip()

    @property
    def fingerprint(self) -> str:
        """SHA256 fingerprint of the host key."""
        return self.host_key.get_fingerprint("sha256")

    @property
    def sudo_mode(self) -> str:
        """``"nopasswd"`` (sudo -n works) or ``"password"`` (sudo -n refuses everything)."""
        return (self.workdir / "sudo_mode").read_text().strip()

    @sudo_mode.setter
    def sudo_mode(self, mode: str) -> None:
        if mode not in ("nopasswd", "password"):
            raise ValueError(mode)
        (self.workdir / "sudo_mode").write_text(mode + "\n")

    @property
    def sudo_deny(self) -> set[str]:
        """Programs that ``sudo -n`` refuses (a restricted sudoers file)."""
        text = (self.workdir / "sudo_deny").read_text()
        return {line for line in text.splitlines() if line}

    @sudo_deny.setter
    def sudo_deny(self, programs: set[str]) -> None:
        (self.workdir / "sudo_deny").write_text("".join(p + "\n" for p in sorted(programs)))

    def add_user(
        self, username: str, *, password: str | None = None, key: asyncssh.SSHKey | None = None
    ) -> None:
        """Accept ``username`` with this password and/or public key (more calls add keys)."""
        user = self.users.setdefault(username, _User())
        if password is not None:
            user.password = password
        if key is not None:
            user.keys.append(key.convert_to_public() if key.private_data else key)

    def _write_stub(self, program: str, template: str) -> None:
        path = self.bindir / program
        path.write_text(template % {"root": self.workdir})
        path.chmod(0o755)

    def _store(self, folder: Path, response: Response) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "stdout").write_bytes(response.stdout)
        (folder / "stderr").write_bytes(response.stderr)
        (folder / "rc").write_text(str(response.exit_status))
        for name, value in (("delay", response.delay), ("line_delay", response.line_delay)):
            target = folder / name
            if value:
                target.write_text(str(value))
            else:
                target.unlink(missing_ok=True)
        if response.hang:
            (folder / "hang").write_text("1")
        else:
            (folder / "hang").unlink(missing_ok=True)

    def respond(
        self,
        argv: tuple[str, ...] | list[str],
        response: Response | None = None,
        *,
        stdout: bytes = b"",
        stderr: bytes = b"",
        exit_status: int = 0,
        delay: float = 0.0,
        hang: bool = False,
        line_delay: float = 0.0,
    ) -> None:
        """Answer this exact argv (``argv[0]`` is the program name) with ``response``."""
        args = tuple(argv)
        resp = response or Response(
            stdout=stdout,
            stderr=stderr,
            exit_status=exit_status,
            delay=delay,
            hang=hang,
            line_delay=line_delay,
        )
        if args[0] not in (p.name for p in self.bindir.iterdir()):
            self._write_stub(args[0], _STUB)
        self._store(self._responses / argv_key(args), resp)

    def respond_default(
        self,
        program: str,
        response: Response | None = None,
        *,
        stdout: bytes = b"",
        stderr: bytes = b"",
        exit_status: int = 0,
        delay: float = 0.0,
        hang: bool = False,
    ) -> None:
        """Answer any argv of ``program`` that has no exact response."""
        resp = response or Response(
            stdout=stdout, stderr=stderr, exit_status=exit_status, delay=delay, hang=hang
        )
        if not (self.bindir / program).exists():
            self._write_stub(program, _STUB)
        self._store(self._responses / f"default-{program}", resp)

    def respond_command(
        self,
        command: str,
        response: Response | None = None,
        *,
        stdout: bytes = b"",
        stderr: bytes = b"",
        exit_status: int | None = 0,
        delay: float = 0.0,
        hang: bool = False,
    ) -> None:
        """Answer a raw exec command line without running any shell."""
        self._command_responses[command] = response or Response(
            stdout=stdout, stderr=stderr, exit_status=exit_status, delay=delay, hang=hang
        )

    @property
    def calls(self) -> list[tuple[str, ...]]:
        """The argv of every stub call so far, oldest first (stub paths shown as basenames)."""
        out: list[tuple[str, ...]] = []
        prefix = str(self.bindir) + "/"
        for path in sorted(self._calls.iterdir(), key=lambda p: p.name):
            parts = path.read_bytes().split(b"\0")[:-1]
            out.append(
                tuple(
                    p.decode()[len(prefix) :] if p.decode().startswith(prefix) else p.decode()
                    for p in parts
                )
            )
        return out

    @property
    def timed_calls(self) -> list[tuple[float, tuple[str, ...]]]:
        """Like :attr:`calls`, each with the wall-clock time (seconds) the stub started."""
        times = [int(p.name.split("-")[0]) / 1e9 for p in sorted(self._calls.iterdir())]
        return list(zip(times, self.calls, strict=True))

    def calls_of(self, program: str) -> list[tuple[str, ...]]:
        """The calls whose program is ``program``."""
        return [c for c in self.calls if c and c[0] == program]

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (again) on :attr:`port`; a new server gets a random port."""
        self._acceptor = await asyncssh.create_server(
            lambda: _ServerAuth(self),
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            process_factory=self._process,
            encoding=None,
            allow_scp=False,
            x509_trusted_certs=None,
            gss_host=None,
        )
        self._relay.backend_port = self._acceptor.get_port()
        await self._relay.start()

    async def stop(self) -> None:
        """Close everything: listener, relay, connections, shells. Clients see a dead server."""
        if self._acceptor is not None:
            self._acceptor.close()
        await self._relay.stop()
        for conn in list(self._conns):
            conn.abort()
        for proc in list(self._procs):
            _kill_session(proc.pid)
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5)
        if self._acceptor is not None:
            await self._acceptor.wait_closed()
            self._acceptor = None
        self._relay.thaw()

    async def restart(self, *, new_host_key: bool = False) -> None:
        """Stop, optionally switch to a fresh host key, and start on the same port."""
        await self.stop()
        if new_host_key:
            self.host_key = asyncssh.generate_private_key(self.host_key.get_algorithm())
        await self.start()

    def freeze(self) -> None:
        """Stop answering: all traffic is held, nothing is closed (a silent power cut)."""
        self._relay.freeze()

    def thaw(self) -> None:
        """Deliver the held traffic and answer again."""
        self._relay.thaw()

    async def __aenter__(self) -> Self:
        """Start the server."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop the server."""
        await self.stop()

    # -- serving ------------------------------------------------------------------------------

    async def _process(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.execs += 1
        command = process.command or ""
        self.commands.append(command)
        try:
            canned = self._command_responses.get(command)
            if canned is not None:
                await self._canned(process, canned)
            elif not command:
                process.stderr.write(b"no interactive shell here\n")
                process.exit(1)
            else:
                await self._shell(process, command)
        except (OSError, asyncssh.Error):
            pass
        finally:
            self._handlers.discard(task)

    async def _canned(self, process: asyncssh.SSHServerProcess[bytes], resp: Response) -> None:
        if resp.delay:
            await asyncio.sleep(resp.delay)
        if resp.hang:
            await process.wait_closed()
            return
        process.stdout.write(resp.stdout)
        process.stderr.write(resp.stderr)
        if resp.exit_status is None:
            process.close()
        else:
            process.exit(resp.exit_status)

    async def _shell(self, process: asyncssh.SSHServerProcess[bytes], command: str) -> None:
        env = {
            "PATH": f"{self.bindir}:/usr/bin:/bin",
            "HOME": str(self.workdir / "home"),
            "LC_ALL": "C",
            "TMPDIR": str(self.workdir),
        }
        proc = await asyncio.create_subprocess_exec(
            self.shell,
            "-c",
            command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=self.workdir / "home",
            start_new_session=True,
        )
        self._procs.add(proc)
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        feed = asyncio.ensure_future(_feed(process.stdin, proc.stdin))
        finish = asyncio.ensure_future(
            asyncio.gather(
                _pump(proc.stdout, process.stdout), _pump(proc.stderr, process.stderr), proc.wait()
            )
        )
        closed = asyncio.ensure_future(process.wait_closed())
        try:
            waiters: set[asyncio.Future[Any]] = {finish, closed}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if finish.done():
                process.exit(proc.returncode if proc.returncode is not None else 255)
            else:
                _kill_session(proc.pid)
                await asyncio.wait({finish}, timeout=5)
        finally:
            _kill_session(proc.pid)
            for fut in (feed, finish, closed):
                fut.cancel()
            await asyncio.gather(feed, finish, closed, return_exceptions=True)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)
            self._procs.discard(proc)


async def _feed(reader: asyncssh.SSHReader[bytes], writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (OSError, asyncssh.Error, ConnectionError):
        pass
    finally:
        writer.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncssh.SSHWriter[bytes]) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (OSError, asyncssh.Error, ConnectionError):
        pass


def _kill_session(sid: int) -> None:
    """SIGKILL every process in session ``sid`` (a shell this server started, and its children,
    including those coreutils ``timeout`` moved to their own process group)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 3 and fields[3] == str(sid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)


async def silent_listener() -> tuple[asyncio.Server, int]:
    """A TCP listener on 127.0.0.1 that accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    original_close = server.close

    def close() -> None:
        for writer in held:
            writer.close()
        original_close()

    server.close = close  # type: ignore[method-assign]
    return server, server.sockets[0].getsockname()[1]
