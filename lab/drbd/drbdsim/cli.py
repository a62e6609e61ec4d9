"""``drbdsetup``, ``drbdadm`` and ``drbdmeta`` of the DRBD simulator (drbd-utils 9.22 style).

drbdsetup talks to the per-resource daemons; drbdadm reads the configuration, starts the
daemon on ``up``/``adjust`` and reports failures the way drbdadm does (the drbdsetup message,
then ``Command '...' terminated with exit code N``).
"""
# ruff: noqa: PTH100, PTH118, PTH119, PTH120, PTH121, PTH123, PTH207
# (os-level code: file descriptors, device nodes and syscalls; stdlib on Debian's python3)

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import selectors
import socket
import stat
import subprocess
import sys
import time
from typing import Any

from . import config as cfgmod, dumpmd, loopdev, meta as metamod, paths, render
from .states import API_VERSION, KERNEL_VERSION

BUILDTAG = (
    "GIT-hash:\\ 409097fe02187f83790b88ac3e0d94f3c167adab\\ reproducible\\ build\\,\\ "
    "2023-01-09\\ 14:51:18"
)
UTILS_VERSION = "9.22.0"


def out(text: str) -> None:
    """Write to stdout (no print(): output is byte-exact)."""
    sys.stdout.write(text)


def err(text: str) -> None:
    """Write to stderr."""
    sys.stderr.write(text)


# -- talking to daemons -------------------------------------------------------------------


def _connect(resource: str, timeout: float = 2.0) -> socket.socket | None:
    path = paths.ctl_socket(resource)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except OSError:
        s.close()
        return None
    return s


def request(resource: str, obj: dict[str, Any], timeout: float = 300.0) -> dict[str, Any] | None:
    """One request/response with a resource daemon; None when it is not running."""
    s = _connect(resource)
    if s is None:
        return None
    with s:
        s.settimeout(timeout)
        try:
            s.sendall((json.dumps(obj) + "\n").encode())
            line = s.makefile("r", encoding="utf-8").readline()
        except OSError:
            return None
    if not line:
        return None
    result: dict[str, Any] = json.loads(line)
    return result


def running() -> list[str]:
    """Names of resources whose daemon answers."""
    names = []
    for path in sorted(glob.glob(os.path.join(paths.run_dir(), "*.ctl"))):
        name = os.path.basename(path)[: -len(".ctl")]
        if request(name, {"op": "ping"}, timeout=5.0) is not None:
            names.append(name)
    return names


def snapshots(names: list[str]) -> list[dict[str, Any]]:
    """Current state of the given running resources (sorted by name)."""
    states = []
    for name in sorted(names):
        reply = request(name, {"op": "status"}, timeout=10.0)
        if reply is not None and "state" in reply:
            states.append(reply["state"])
    return states


def lib_dir() -> str:
    """Directory containing the drbdsim package (for spawning the daemon)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spawn_daemon(resource: str, cfgpath: str) -> bool:
    """Start the resource daemon (detached) and wait for its control socket.

    Serialized per resource with a lock file, so concurrent ``up``s start one daemon.
    """
    run = paths.ensure_run_dir()
    lock = os.open(os.path.join(run, f"{resource}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if request(resource, {"op": "ping"}, timeout=2.0) is not None:
            return True
        return _spawn(resource, cfgpath, run)
    finally:
        os.close(lock)


def _spawn(resource: str, cfgpath: str, run: str) -> bool:
    log = open(os.path.join(run, f"{resource}.log"), "ab")  # noqa: SIM115 - handed to the child
    env = dict(os.environ)
    env["PYTHONPATH"] = lib_dir()
    env.pop("PYTHONHOME", None)
    subprocess.Popen(
        [sys.executable, "-m", "drbdsim.daemon", resource, os.path.abspath(cfgpath)],
        cwd="/",
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        close_fds=True,
    )
    log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if request(resource, {"op": "ping"}, timeout=2.0) is not None:
            return True
        time.sleep(0.05)
    return False


# -- drbdsetup ----------------------------------------------------------------------------


def _split_opts(args: list[str], flags: dict[str, str]) -> tuple[set[str], list[str]]:
    """Separate known long/short options (``flags`` maps spelling -> name) from arguments."""
    found: set[str] = set()
    rest: list[str] = []
    for a in args:
        if a in flags:
            found.add(flags[a])
        elif a.startswith("--") and a.split("=", 1)[0] in flags:
            found.add(flags[a.split("=", 1)[0]])
        elif (
            a.startswith("-")
            and len(a) > 2
            and not a.startswith("--")
            and all(f"-{c}" in flags for c in a[1:])
        ):
            found.update(flags[f"-{c}"] for c in a[1:])
        else:
            rest.append(a)
    return found, rest


def _tty_columns() -> tuple[bool, int]:
    is_tty = os.isatty(1)
    cols = 80
    if is_tty:
        with contextlib.suppress(OSError):
            cols = os.get_terminal_size(1).columns or 80
    return is_tty, cols


def setup_status(args: list[str]) -> int:
    """drbdsetup status [RES|all] [--json] [--verbose] [--statistics]."""
    opts, rest = _split_opts(
        args,
        {
            "--json": "json",
            "-j": "json",
            "--verbose": "verbose",
            "-v": "verbose",
            "--statistics": "statistics",
            "-s": "statistics",
            "--color": "color",
            "-c": "color",
        },
    )
    target = rest[0] if rest else "all"
    names = running()
    states = snapshots(names)
    shown = [s for s in states if target in ("all", s["name"])]
    if "json" in opts:
        out(render.status_json(shown))
    elif not states:
        out("# No currently configured DRBD found.\n")
    else:
        is_tty, cols = _tty_columns()
        verbose = args.count("--verbose") + args.count("-v") if "verbose" in opts else 0
        if shown:
            out(render.status_text(shown, verbose, "statistics" in opts, cols, is_tty))
    if not shown and target != "all":
        err(f"{target}: No such resource\n")
        return 10
    return 0


def _print_event(ev: render.Events2, text: str) -> None:
    if text:
        out(text)
        sys.stdout.flush()


class _Sub:
    def __init__(self, name: str, sock: socket.socket) -> None:
        self.name = name
        self.sock = sock
        self.buf = b""
        self.state: dict[str, Any] | None = None


def _subscribe(name: str) -> tuple[_Sub, dict[str, Any]] | None:
    s = _connect(name)
    if s is None:
        return None
    try:
        s.settimeout(10)
        s.sendall(b'{"op": "events"}\n')
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                s.close()
                return None
            buf += chunk
    except OSError:
        s.close()
        return None
    line, _, rest = buf.partition(b"\n")
    first = json.loads(line)
    sub = _Sub(name, s)
    sub.buf = rest
    s.setblocking(False)
    return sub, first["state"]


def setup_events2(args: list[str]) -> int:
    """drbdsetup events2 [RES|all] [--now] [--statistics] [--timestamps]."""
    opts, rest = _split_opts(
        args,
        {
            "--now": "now",
            "-n": "now",
            "--statistics": "statistics",
            "-s": "statistics",
            "--timestamps": "timestamps",
            "-T": "timestamps",
            "--full": "statistics",
            "-f": "statistics",
            "--poll": "poll",
            "-p": "poll",
            "--color": "color",
            "--diff": "diff",
            "-i": "diff",
        },
    )
    target = rest[0] if rest else "all"
    ev = render.Events2(statistics="statistics" in opts, timestamps="timestamps" in opts)
    subs: dict[str, _Sub] = {}
    if "now" in opts:
        for state in snapshots([n for n in running() if target in ("all", n)]):
            _print_event(ev, ev.changes(None, state, "exists"))
        _print_event(ev, ev.end_of_initial())
        return 0
    sel = selectors.DefaultSelector()
    for name in sorted(running()):
        if target not in ("all", name):
            continue
        got = _subscribe(name)
        if got is None:
            continue
        sub, state = got
        sub.state = render.without_paths(state)
        subs[name] = sub
        sel.register(sub.sock, selectors.EVENT_READ, sub)
        _print_event(ev, ev.changes(None, state, "exists"))
    _print_event(ev, ev.end_of_initial())
    last_scan = time.monotonic()
    try:
        while True:
            for key, _ in sel.select(timeout=0.5):
                sub = key.data
                try:
                    chunk = sub.sock.recv(1 << 20)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    sel.unregister(sub.sock)
                    sub.sock.close()
                    subs.pop(sub.name, None)
                    continue
                sub.buf += chunk
                while b"\n" in sub.buf:
                    line, _, sub.buf = sub.buf.partition(b"\n")
                    msg = json.loads(line)
                    kind = msg.get("type")
                    if kind == "state":
                        new = render.merge(sub.state, msg["state"], msg["notify"])
                        _print_event(ev, ev.changes(sub.state, new))
                        sub.state = new
                    elif kind == "helper":
                        _print_event(ev, ev.helper(msg))
                    elif kind == "destroy":
                        _print_event(ev, ev.changes(sub.state, None))
                        sub.state = None
            if time.monotonic() - last_scan > 0.5:
                last_scan = time.monotonic()
                for path in glob.glob(os.path.join(paths.run_dir(), "*.ctl")):
                    name = os.path.basename(path)[: -len(".ctl")]
                    if name in subs or target not in ("all", name):
                        continue
                    got = _subscribe(name)
                    if got is None:
                        continue
                    sub, state = got
                    sub.state = state
                    subs[name] = sub
                    sel.register(sub.sock, selectors.EVENT_READ, sub)
                    _print_event(ev, ev.changes(None, state, "create"))
    except (BrokenPipeError, KeyboardInterrupt):
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0


def _minor_of(arg: str) -> int | None:
    base = os.path.basename(arg)
    if base.startswith("drbd"):
        base = base[4:]
    return int(base) if base.isdigit() else None


def _resource_of_minor(minor: int) -> tuple[str, int] | None:
    for state in snapshots(running()):
        for dev in state["devices"]:
            if dev["minor"] == minor:
                return state["name"], dev["volume"]
    return None


def _op(resource: str, obj: dict[str, Any]) -> tuple[int, str, str | None]:
    obj = dict(obj, pid=os.getpid())
    reply = request(resource, obj)
    if reply is None:
        return 10, f"{resource}: Failure: (158) Unknown resource\n", None
    return int(reply.get("rc", 0)), str(reply.get("err") or ""), reply.get("cmd")


def drbdsetup_main(argv: list[str]) -> int:
    """Entry point of ``drbdsetup``."""
    args = argv[1:]
    if not args or args[0] in ("help", "--help", "-h"):
        out(
            "drbdsetup - Configure the DRBD kernel module.\n\n"
            "USAGE: drbdsetup command {arguments} [options]\n"
        )
        return 20
    cmd, rest = args[0], args[1:]
    if cmd == "status":
        return setup_status(rest)
    if cmd == "events2":
        return setup_events2(rest)
    opts, pos = _split_opts(
        rest,
        {
            "--force": "force",
            "--overwrite-data-of-peer": "force",
            "--discard-my-data": "discard",
            "--clear-bitmap": "clear",
        },
    )
    if cmd in ("primary", "secondary", "down", "role", "adjust"):
        if not pos:
            err("Missing argument 1 to command\n")
            return 20
        res = pos[0]
        if cmd == "role":
            states = snapshots([res]) if res in running() else []
            if not states:
                err(f"{res}: Unknown resource\n")
                return 10
            out(states[0]["role"] + "\n")
            return 0
        if cmd == "down" and res not in running():
            return 0
        rc, text, _ = _op(res, {"op": cmd, "force": "force" in opts})
        err(text)
        return rc
    if cmd in ("connect", "disconnect", "cstate", "peer-role"):
        if len(pos) < 2:
            err("Missing argument 2 to command\n")
            return 20
        res, peer = pos[0], int(pos[1])
        if cmd in ("cstate", "peer-role"):
            for state in snapshots([res]):
                for conn in state["connections"]:
                    if conn["peer_node_id"] == peer:
                        out((conn["cstate"] if cmd == "cstate" else conn["peer_role"]) + "\n")
                        return 0
            err(f"{res}: No such connection\n")
            return 10
        rc, text, _ = _op(res, {"op": cmd, "peer": peer, "discard": "discard" in opts})
        err(text)
        return rc
    if cmd in ("new-current-uuid", "detach", "attach", "outdate", "dstate"):
        minor = _minor_of(pos[0]) if pos else None
        found = _resource_of_minor(minor) if minor is not None else None
        if found is None:
            err(
                f"{pos[0] if pos else '??'}: No such device\n"
                if cmd == "dstate"
                else f"{minor}: Failure: (127) Device minor not allocated\n"
            )
            return 10
        res, vnr = found
        if cmd == "dstate":
            state = snapshots([res])[0]
            dev = next(d for d in state["devices"] if d["volume"] == vnr)
            peers = [
                pd["pdsk"]
                for c in state["connections"]
                for pd in c["peer_devices"]
                if pd["volume"] == vnr
            ]
            out("/".join([dev["disk"], *peers]) + "\n")
            return 0
        rc, text, _ = _op(res, {"op": cmd, "volume": vnr, "clear_bitmap": "clear" in opts})
        err(text)
        return rc
    if cmd == "show":
        if not running():
            out("# No currently configured DRBD found.\n")
        return 0
    out(
        "drbdsetup - Configure the DRBD kernel module.\n\n"
        "USAGE: drbdsetup command {arguments} [options]\n\ninvalid command\n"
    )
    return 20


# -- drbdmeta (create-md) -----------------------------------------------------------------


def create_md(disk: str, max_peers: int, force: bool, peer_ids: list[int], node_id: int) -> int:
    """drbdmeta MINOR v09 DISK internal create-md MAX_PEERS [--force]; returns exit code."""
    try:
        fd = os.open(disk, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        err(f"open({disk}) failed: {exc.strerror}\n")
        return 20
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        geo = metamod.geometry(size, max_peers)
        fs = metamod.ext_fs_size(fd)
        if fs > geo["data_size"]:
            out(
                f"md_offset {geo['md_offset']}\nal_offset {geo['al_offset']}\n"
                f"bm_offset {geo['bm_offset']}\n\nFound ext3 filesystem\n"
                f"{fs // 1024:>12} kB data area apparently used\n"
                f"{geo['data_size'] // 1024:>12} kB left usable by current configuration\n\n"
                "Device size would be truncated, which\nwould corrupt data and result in\n"
                "'access beyond end of device' errors.\nYou need to either\n"
                "   * use external meta data (recommended)\n"
                "   * shrink that filesystem first\n"
                "   * zero out the device (destroy the filesystem)\nOperation refused.\n\n"
            )
            return 40
        if metamod.read_superblock(fd, size) is not None:
            err(
                "You want me to create a v09 style flexible-size internal meta data block.\n"
                "There appears to be a v09 flexible-size internal meta data block\n"
                f"already in place on {disk} at byte offset {geo['md_offset']}\n\n"
                "Do you really want to overwrite the existing meta-data?\n"
            )
            if force:
                err("*** confirmation forced via --force option ***\n")
            elif not os.isatty(0):
                err("stdin not a TTY, not waiting for confirmation\n")
                out("Operation cancelled.\n")
                return 1
            else:
                err("[need to type 'yes' to confirm] ")
                answer = sys.stdin.readline().strip()
                if answer != "yes":
                    out("Operation cancelled.\n")
                    return 1
        out("initializing activity log\n")
        sys.stdout.flush()
        err(f"initializing bitmap ({geo['bm_slot'] * max_peers // 1024} KB) to all zero\n")
        metamod.Meta.create(fd, size, max_peers, peer_ids, node_id)
        out("Writing meta data...\nNew drbd meta data block successfully created.\n")
        return 0
    finally:
        os.close(fd)


def _attached_elsewhere(disk: str) -> bool:
    """Whether a running resource has ``disk`` attached (the kernel holds it exclusively)."""
    for state in snapshots(running()):
        for dev in state.get("devices", []):
            backing = dev.get("backing_dev")
            if backing and (backing == disk or _same_file(backing, disk)):
                return True
    return False


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def dump_md(argv: list[str], disk: str, force: bool, extra: bool) -> int:
    """drbdmeta MINOR v09 DISK internal dump-md: drbd-utils 9.22's text, or its refusals."""
    if extra:
        err("Ignoring additional arguments\n")
    try:
        fd = os.open(disk, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        err(f"open({disk}) failed: {exc.strerror}\n")
        return 20
    try:
        if not stat.S_ISBLK(os.fstat(fd).st_mode):
            err(f"'{disk}' is not a block device!\n")
            return 20
        if _attached_elsewhere(disk):
            err(
                f"open({disk}) failed: Device or resource busy\n\n"
                "Exclusive open failed. Do it anyways?\n"
                "stdin not a TTY, not waiting for confirmation\n"
            )
            out("Operation canceled.\n")
            return 20
        size = loopdev.size_of(fd)
        sb = metamod.read_superblock(fd, size)
        if sb is None:
            err(dumpmd.NO_MD)
            return 1
        m = metamod.Meta(fd, size, sb)
        image = dumpmd.from_superblock(sb, size, {p: bytes(b) for p, b in m.bitmaps.items()})
        if not image.al_clean:
            err(dumpmd.UNCLEAN)
            if not force:
                return 1
        out(dumpmd.render(image, ["drbdmeta", *argv], os.uname().nodename))
        return 0
    finally:
        os.close(fd)


def drbdmeta_main(argv: list[str]) -> int:
    """Entry point of ``drbdmeta`` (create-md, dump-md and apply-al)."""
    args = argv[1:]
    opts = [a for a in args if a in ("--force", "-f")]
    pos = [a for a in args if a not in opts]
    if len(pos) >= 5 and pos[4] == "dump-md":
        return dump_md(args, pos[2], bool(opts), len(pos) > 5)
    if len(args) >= 5 and args[4] == "create-md":
        max_peers = int(args[5]) if len(args) > 5 and args[5].isdigit() else 1
        return create_md(args[2], max_peers, "--force" in args, [], -1)
    if len(args) >= 5 and args[4] == "apply-al":
        return 0
    err("USAGE: drbdmeta DEVICE FORMAT [FORMAT ARGS...] COMMAND [CMD ARGS...]\n")
    return 20


# -- drbdadm ------------------------------------------------------------------------------

ADM_FLAGS = {
    "--force": "force",
    "--overwrite-data-of-peer": "force",
    "--discard-my-data": "discard",
    "--clear-bitmap": "clear",
    "-d": "dry",
    "--dry-run": "dry",
    "-v": "verbose",
    "--verbose": "verbose",
    "-s": "stacked",
    "--stacked": "stacked",
    "-S": "stacked",
    "--skip-net": "skip-net",
    "--skip-disk": "skip-disk",
}


def _fail(cmd: str, rc: int, text: str) -> int:
    err(text)
    if rc and rc != 1:
        err(f"Command '{cmd}' terminated with exit code {rc}\n")
    return rc


class Adm:
    """One drbdadm invocation."""

    def __init__(self, cfgpath: str, opts: set[str]) -> None:
        """Parse the configuration lazily."""
        self.cfgpath = cfgpath
        self.opts = opts
        self.hostname = socket.gethostname()
        self._cfg: cfgmod.Config | None = None

    @property
    def cfg(self) -> cfgmod.Config:
        """The parsed configuration."""
        if self._cfg is None:
            self._cfg = cfgmod.load(self.cfgpath)
        return self._cfg

    def view(self, name: str) -> cfgmod.ResourceView:
        """Resolve a resource for this host (ConfigError when not defined here)."""
        res = self.cfg.resources.get(name)
        if res is None:
            raise cfgmod.ConfigError(f"'{name}' not defined in your config (for this host).")
        return cfgmod.resolve(res, self.hostname)

    def names(self, spec: str | None) -> list[str]:
        """Resource names for ``all`` or a name."""
        if spec is None or spec == "all":
            return [n for n, r in self.cfg.resources.items() if r.host(self.hostname) is not None]
        return [spec]

    def dry(self, line: str) -> None:
        """Print a command of a dry run."""
        out(line + "\n")

    # commands -------------------------------------------------------------------------------

    def up(self, name: str, adjust: bool = False) -> int:
        view = self.view(name)
        if "dry" in self.opts:
            self._dry_up(view)
            return 0
        if request(name, {"op": "ping"}) is not None:
            if adjust:
                rc, text, cmd = _op(name, {"op": "adjust"})
                return _fail(cmd or f"drbdsetup adjust {name}", rc, text) if rc else 0
        elif not spawn_daemon(name, self.cfgpath):
            return _fail(
                f"drbdsetup new-resource {name} {view.node_id}",
                20,
                f"{name}: could not start the resource\n",
            )
        rc, text, cmd = _op(name, {"op": "up"})
        if rc:
            return _fail(cmd or f"drbdsetup new-resource {name} {view.node_id}", rc, text)
        return 0

    def _dry_up(self, view: cfgmod.ResourceView) -> None:
        res = view.res
        name = res.name
        ropts = "".join(f" --{k}={v}" for k, v in res.section("options") if v is not None)
        self.dry(f"drbdsetup new-resource {name} {view.node_id}{ropts}")
        for vol in view.volumes:
            self.dry(f"drbdsetup new-minor {name} {vol.minor} {vol.vnr}")
        for peer in view.peers:
            net = [*res.sections.get("net", []), *peer.net]
            nopts = "".join(f" --{k}={v}" for k, v in reversed(net) if v is not None)
            self.dry(f"drbdsetup new-peer {name} {peer.node_id} --_name={peer.name}{nopts}")
            self.dry(f"drbdsetup new-path {name} {peer.node_id} {view.address} {peer.address}")
        for vol in view.volumes:
            self.dry(f"drbdmeta {vol.minor} v09 {vol.disk} internal apply-al")
            dopts = "".join(f" --{k}={v}" for k, v in res.section("disk") if v is not None)
            self.dry(f"drbdsetup attach {vol.minor} {vol.disk} {vol.disk} internal{dopts}")
        for peer in view.peers:
            self.dry(f"drbdsetup connect {name} {peer.node_id}")

    def simple(self, name: str, op: str, drbdsetup_cmd: str, **extra: Any) -> int:
        if "dry" in self.opts:
            self.dry(drbdsetup_cmd)
            return 0
        rc, text, cmd = _op(name, {"op": op, **extra})
        if rc:
            return _fail(cmd or drbdsetup_cmd, rc, text)
        return 0

    def create_md(self, name: str) -> int:
        view = self.view(name)
        rc = 0
        for vol in view.volumes:
            line = (
                f"drbdmeta {vol.minor} v09 {vol.disk} internal create-md {max(len(view.peers), 1)}"
            )
            if "force" in self.opts:
                line += " --force"
            if "dry" in self.opts:
                self.dry(line)
                continue
            if request(name, {"op": "ping"}) is not None:
                r = _fail(line, 20, f"Device '{vol.minor}' is configured!\n")
                rc = rc or r
                continue
            # the real drbdadm runs the plain drbdmeta command above: the meta data gets no
            # node id (-1) and no bitmap slots until the first attach assigns them
            r = create_md(vol.disk, max(len(view.peers), 1), "force" in self.opts, [], -1)
            sys.stdout.flush()
            if r and r != 1:
                err(f"Command '{line}' terminated with exit code {r}\n")
            rc = rc or r
        return rc

    def status(self, names: list[str]) -> int:
        for name in names:
            self.view(name)
        if "dry" in self.opts:
            self.dry("drbdsetup status" + (f" {' '.join(names)}" if names else ""))
            return 0
        args = names or []
        if not names:
            return setup_status([])
        rc = 0
        for name in args:
            sys.stdout.flush()
            buf_rc = setup_status([name])
            if buf_rc:
                err(f"Command 'drbdsetup status {name}' terminated with exit code {buf_rc}\n")
                rc = buf_rc
        return rc


def _parse_spec(spec: str) -> tuple[str, str | None, int | None]:
    """``res``, ``res:peer``, ``res/vol``."""
    vol = None
    peer = None
    if "/" in spec:
        spec, v = spec.split("/", 1)
        vol = int(v)
    if ":" in spec:
        spec, peer = spec.split(":", 1)
    return spec, peer, vol


def drbdadm_main(argv: list[str]) -> int:
    """Entry point of ``drbdadm``."""
    args = argv[1:]
    cfgpath = cfgmod.DEFAULT_CONFIG
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-c", "--config-file"):
            cfgpath = args[i + 1]
            i += 2
            continue
        if a.startswith("--config-file="):
            cfgpath = a.split("=", 1)[1]
        elif a == "--":
            pass
        else:
            rest.append(a)
        i += 1
    if "--version" in rest or "-V" in rest:
        code = sum(int(x) << s for x, s in zip(KERNEL_VERSION.split("."), (16, 8, 0), strict=True))
        out(
            f"DRBDADM_BUILDTAG={BUILDTAG}\nDRBDADM_API_VERSION={API_VERSION}\n"
            f"DRBD_KERNEL_VERSION_CODE=0x{code:06x}\nDRBD_KERNEL_VERSION={KERNEL_VERSION}\n"
            f"DRBDADM_VERSION_CODE=0x091600\nDRBDADM_VERSION={UTILS_VERSION}\n"
        )
        return 0
    opts, pos = _split_opts(rest, ADM_FLAGS)
    if not pos:
        err("USAGE: drbdadm COMMAND [OPTION...] {all|RESOURCE...}\n")
        return 1
    cmd, targets = pos[0], pos[1:]
    adm = Adm(cfgpath, opts)
    try:
        return _adm_dispatch(adm, cmd, targets)
    except cfgmod.ConfigError as exc:
        err(f"{exc}\n")
        return 10
    except OSError as exc:
        err(f"{cfgpath}: {exc.strerror}\n")
        return 10


def _adm_dispatch(adm: Adm, cmd: str, targets: list[str]) -> int:
    if cmd == "dump":
        names = [] if not targets or targets == ["all"] else targets
        for name in names:
            adm.view(name)
        out(cfgmod.dump(adm.cfg, names, adm.hostname))
        return 0
    if cmd == "status":
        names = [] if not targets or targets == ["all"] else targets
        return adm.status(names)
    if cmd in ("sh-resources", "sh-resource"):
        out(" ".join(adm.names("all")) + "\n")
        return 0
    specs = targets or []
    if not specs:
        err(f"drbdadm {cmd}: no resource given\n")
        return 1
    rc = 0
    expanded: list[tuple[str, str | None, int | None]] = []
    for spec in specs:
        name, peer, vol = _parse_spec(spec)
        expanded.extend((n, peer, vol) for n in adm.names(name))
    for name, peer, vol in expanded:
        r = _adm_one(adm, cmd, name, peer, vol)
        rc = rc or r
    return rc


def _peer_ids(adm: Adm, name: str, peer: str | None) -> list[int]:
    view = adm.view(name)
    if peer is None:
        return [p.node_id for p in view.peers]
    for p in view.peers:
        if p.name == peer:
            return [p.node_id]
    raise cfgmod.ConfigError(f"{name}: no connection to peer {peer}")


def _adm_one(adm: Adm, cmd: str, name: str, peer: str | None, vol: int | None) -> int:
    view = adm.view(name)
    vols = [v for v in view.volumes if vol is None or v.vnr == vol]
    if cmd == "up":
        return adm.up(name)
    if cmd == "adjust":
        return adm.up(name, adjust=True)
    if cmd == "down":
        if "dry" in adm.opts:
            adm.dry(f"drbdsetup down {name}")
            return 0
        if request(name, {"op": "ping"}) is None:
            return 0
        return adm.simple(name, "down", f"drbdsetup down {name}")
    if cmd == "primary":
        line = f"drbdsetup primary {name}" + (" --force" if "force" in adm.opts else "")
        return adm.simple(name, "primary", line, force="force" in adm.opts)
    if cmd == "secondary":
        return adm.simple(name, "secondary", f"drbdsetup secondary {name}")
    if cmd in ("connect", "disconnect"):
        rc = 0
        for pid in _peer_ids(adm, name, peer):
            line = f"drbdsetup {cmd} {name} {pid}"
            if cmd == "connect" and "discard" in adm.opts:
                line += " --discard-my-data"
            r = adm.simple(name, cmd, line, peer=pid, discard="discard" in adm.opts)
            rc = rc or r
        return rc
    if cmd == "create-md":
        return adm.create_md(name)
    if cmd in ("attach", "detach", "new-current-uuid", "outdate"):
        rc = 0
        for v in vols:
            if cmd == "attach":
                line = f"drbdsetup attach {v.minor} {v.disk} {v.disk} internal"
            elif cmd == "new-current-uuid":
                line = f"drbdsetup new-current-uuid {v.minor}" + (
                    " --clear-bitmap" if "clear" in adm.opts else ""
                )
            else:
                line = f"drbdsetup {cmd} {v.minor}"
            r = adm.simple(name, cmd, line, volume=v.vnr, clear_bitmap="clear" in adm.opts)
            rc = rc or r
        return rc
    if cmd in ("role", "cstate", "dstate"):
        states = snapshots([name]) if request(name, {"op": "ping"}) else []
        if not states:
            return _fail(f"drbdsetup {cmd} {name}", 10, f"{name}: Unknown resource\n")
        state = states[0]
        if cmd == "role":
            out(state["role"] + "\n")
        elif cmd == "cstate":
            for conn in state["connections"]:
                out(conn["cstate"] + "\n")
        else:
            for dev in state["devices"]:
                peers = [
                    pd["pdsk"]
                    for c in state["connections"]
                    for pd in c["peer_devices"]
                    if pd["volume"] == dev["volume"]
                ]
                out("/".join([dev["disk"], *peers]) + "\n")
        return 0
    if cmd == "sh-dev":
        for v in vols:
            out(v.device + "\n")
        return 0
    if cmd == "sh-minor":
        for v in vols:
            out(f"{v.minor}\n")
        return 0
    if cmd in ("sh-ll-dev", "sh-md-dev"):
        for v in vols:
            out(v.disk + "\n")
        return 0
    if cmd in ("apply-al", "check-resize", "wait-connect"):
        return 0
    err(f"drbdadm: Unknown command '{cmd}'\n")
    return 1


def main() -> int:
    """Dispatch on the program name."""
    prog = os.path.basename(sys.argv[0])
    if prog == "drbdsetup":
        return drbdsetup_main(sys.argv)
    if prog == "drbdmeta":
        return drbdmeta_main(sys.argv)
    return drbdadm_main(sys.argv)
