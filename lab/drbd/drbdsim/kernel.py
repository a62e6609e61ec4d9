"""The simulated DRBD 9 kernel part of one resource on one node.

Runs inside the per-resource daemon (``daemon.py``). It owns the backing device and its meta
data, serves ``/dev/drbdN`` through a FUSE file with a loop device on top, replicates writes
to the peers' daemons over TCP (protocol C: a write completes after the local write *and* the
peers' acknowledgements), tracks out-of-sync blocks in the bitmap while a peer is away, and
resyncs them. State changes are logged like DRBD logs them and published to ``events2``.
"""
# ruff: noqa: PTH103, PTH108, PTH110, PTH118, PTH119, PTH120, PTH123
# (os-level code: file descriptors, device nodes and syscalls; stdlib on Debian's python3)

from __future__ import annotations

import contextlib
import errno
import os
import queue
import secrets
import socket
import stat
import subprocess
import threading
import time
from typing import Any
import zlib

from . import config as cfgmod, fuse, handshake, klog, loopdev, meta as metamod, paths, wire
from .states import (
    CONFIG_ERRORS,
    DISK_RANK,
    ERR_DISCARD_IMPOSSIBLE,
    ERR_DISK_CONFIGURED,
    ERR_IO_MD_DISK,
    ERR_MD_INVALID,
    ERR_MINOR_OR_VOLUME_EXISTS,
    ERR_OPEN_DISK,
    PROTO_VERSION,
    SS_CONNECTED_OUTDATES,
    SS_CW_FAILED_BY_PEER,
    SS_DEVICE_IN_USE,
    SS_IS_DISKLESS,
    SS_LOWER_THAN_OUTDATED,
    SS_NO_QUORUM,
    SS_NO_UP_TO_DATE_DISK,
    SS_TIMEOUT,
    SS_TWO_PRIMARIES,
    STATE_ERRORS,
    SYNC_STATES,
    UUID_JUST_CREATED,
    state_exit_code,
)

BLOCK = 4096
SECTOR = 512
RS_CHUNK_BITS = 32  # 128 KiB per resync request
USERMODE_HELPER = "/sbin/drbdadm"
DISKFUL = ("Inconsistent", "Outdated", "Consistent", "UpToDate")
REPLICATING = (
    "Established",
    "SyncSource",
    "SyncTarget",
    "PausedSyncS",
    "PausedSyncT",
    "WFBitMapS",
    "WFBitMapT",
)


def hexuuid(value: int) -> str:
    """A UUID as DRBD logs it."""
    return f"{value & 0xFFFFFFFFFFFFFFFF:016X}"


def ppsize(kb: int) -> str:
    """drbd's ppsize(): 262100 -> '256 MB'."""
    units = "KMGTPE"
    base = 0
    while kb >= 10000 and base < len(units) - 1:
        kb = (kb >> 10) + (1 if kb & (1 << 9) else 0)
        base += 1
    return f"{kb} {units[base]}B"


def env_float(name: str, default: float) -> float:
    """A float from the environment."""
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


class OpError(Exception):
    """A failed operation: drbdsetup's exit code, stderr text and the failing drbdsetup
    command line (for drbdadm's "Command '...' terminated with exit code N")."""

    def __init__(self, rc: int, text: str, cmd: str | None = None) -> None:
        """Store exit code, message and command."""
        super().__init__(text)
        self.rc = rc
        self.text = text
        self.cmd = cmd


class PeerDevice:
    """The view of one volume on one peer."""

    def __init__(self, conn: Connection, vnr: int) -> None:
        """Initial state: Off/DUnknown."""
        self.conn = conn
        self.vnr = vnr
        self.repl = "Off"
        self.pdsk = "DUnknown"
        self.peer_client = False
        self.susp_user = False
        self.received = 0
        self.sent = 0
        self.pending = 0
        self.peer_size = 0
        # handshake round
        self.hs_sent = False
        self.hs_peer: dict[str, Any] | None = None
        self.hs_bitmap: bytes | None = None
        # resync
        self.rs_total = 0
        self.rs_start = 0.0
        self.rs_marks: list[tuple[float, int]] = []
        self.rs_gen = 0
        # the source's "resync done" that arrived before this side entered SyncTarget
        self.rs_done_early: dict[str, Any] | None = None


class Connection:
    """A connection to one peer."""

    def __init__(self, peer: cfgmod.PeerView) -> None:
        """StandAlone until ``connect``."""
        self.peer = peer
        self.node_id = peer.node_id
        self.name = peer.name
        self.cstate = "StandAlone"
        self.peer_role = "Unknown"
        self.want = False
        self.discard = False
        self.wire: wire.Wire | None = None
        self.gen = 0
        self.seq = 0
        self.waiters: dict[int, list[Any]] = {}
        self.peer_devices: dict[int, PeerDevice] = {}
        self.last_ack = 0.0
        self.ping_sent = 0.0
        self.path_up = False
        self.pending_role = "Unknown"
        self.hs_twopc: tuple[int, float] | None = None

    def next_seq(self) -> int:
        """A new request sequence number."""
        self.seq += 1
        return self.seq


class Device:
    """One volume (minor) of the resource."""

    def __init__(self, vol: cfgmod.VolumeView) -> None:
        """Diskless until attached."""
        self.vnr = vol.vnr
        self.minor = vol.minor
        self.path = vol.device
        self.diskpath = vol.disk
        self.client = vol.disk == "none"
        self.disk = "Diskless"
        self.quorum = True
        self.fd = -1
        self.meta: metamod.Meta | None = None
        self.size = 0  # bytes exposed
        self.fuse: fuse.FuseFile | None = None
        self.loop_minor = -1
        self.loop_node = ""
        self.loop_fd = -1
        self.issue_lock = threading.Lock()
        self.read_sect = 0
        self.write_sect = 0
        self.upper_pending = 0
        self.lower_pending = 0
        self.attached_cu = 0
        self.setup_lock = threading.Lock()


class Kernel:
    """All state of one resource on this node."""

    def __init__(self, name: str, cfgpath: str, hostname: str) -> None:
        """Load the configuration; nothing is created before ``up``."""
        self.name = name
        self.cfgpath = cfgpath
        self.hostname = hostname
        self.lock = threading.RLock()
        self.role = "Secondary"
        self.devices: dict[int, Device] = {}
        self.connections: dict[int, Connection] = {}
        self.subscribers: list[queue.Queue[dict[str, Any]]] = []
        self.logged: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.view = self._load_view()
        self.node_id = self.view.node_id
        self.listener: socket.socket | None = None
        self.stopping = False
        self.destroyed = threading.Event()
        self.twopc_id = secrets.randbelow(1 << 31) + (1 << 30)
        self.promoting = False
        threading.Thread(target=self._fail_watcher, daemon=True, name="failwatch").start()

    # -- configuration ----------------------------------------------------------------------

    def _load_view(self) -> cfgmod.ResourceView:
        cfg = cfgmod.load(self.cfgpath)
        if self.name not in cfg.resources:
            raise OpError(10, f"'{self.name}' not defined in your config (for this host).\n")
        return cfgmod.resolve(cfg.resources[self.name], self.hostname)

    def net(self, conn: Connection, name: str, default: str) -> str:
        """Effective net option for a connection."""
        return self.view.net_option(conn.peer, name, default) or default

    def _policies(self, conn: Connection) -> dict[str, str]:
        return {
            k: self.net(conn, k, d)
            for k, d in (
                ("after-sb-0pri", "disconnect"),
                ("after-sb-1pri", "disconnect"),
                ("after-sb-2pri", "disconnect"),
                ("always-asbp", "no"),
                ("rr-conflict", "disconnect"),
            )
        }

    def wait_ack(self, conn: Connection, ev: threading.Event) -> bool:
        """Wait for a peer's answer like DRBD waits for a request: ko-count * timeout; a peer
        that does not answer in time is dropped (the connection goes down and reconnects)."""
        timeout = self.tenths(conn, "timeout", 60)
        try:
            ko = int(self.net(conn, "ko-count", "7"))
        except ValueError:
            ko = 7
        limit = timeout * max(ko, 1)
        w = conn.wire
        if ev.wait(limit):
            return True
        with self.lock:
            if conn.wire is not None and conn.wire is w:
                self.log_conn(
                    conn,
                    f"Remote failed to finish a request within {int(limit * 1000)}ms > ko-count "
                    f"({ko}) * timeout ({int(timeout * 10)} * 0.1s)",
                    klog.KERN_WARNING,
                )
                w.close()
        return False

    def tenths(self, conn: Connection, name: str, default: float) -> float:
        try:
            return float(self.net(conn, name, str(default))) / 10.0
        except ValueError:
            return default / 10.0

    def _seconds(self, conn: Connection, name: str, default: float) -> float:
        try:
            return float(self.net(conn, name, str(default)))
        except ValueError:
            return default

    # -- kernel log -------------------------------------------------------------------------

    def log_res(self, text: str, level: int = klog.KERN_INFO) -> None:
        """drbd_info(resource, ...)."""
        klog.log(f"drbd {self.name}: {text}", level)

    def log_conn(self, conn: Connection, text: str, level: int = klog.KERN_INFO) -> None:
        """drbd_info(connection, ...)."""
        klog.log(f"drbd {self.name} {conn.name}: {text}", level)

    def log_dev(self, dev: Device, text: str, level: int = klog.KERN_INFO) -> None:
        """drbd_info(device, ...)."""
        klog.log(f"drbd {self.name}/{dev.vnr} drbd{dev.minor}: {text}", level)

    def log_pd(self, pd: PeerDevice, text: str, level: int = klog.KERN_INFO) -> None:
        """drbd_info(peer_device, ...)."""
        dev = self.devices[pd.vnr]
        klog.log(f"drbd {self.name}/{pd.vnr} drbd{dev.minor} {pd.conn.name}: {text}", level)

    # -- state snapshot / commit ------------------------------------------------------------

    def _pd_stats(self, pd: PeerDevice) -> dict[str, Any]:
        dev = self.devices[pd.vnr]
        oos = dev.meta.count(pd.conn.node_id) * 8 if dev.meta is not None else 0
        now = time.monotonic()
        stats = {
            "received": pd.received,
            "sent": pd.sent,
            "out_of_sync": oos,
            "pending": pd.pending,
            "unacked": 0,
            "rs_total": 0,
            "rs_dt_start_ms": 0,
            "rs_paused_ms": 0,
            "rs_dt0_ms": 0,
            "rs_db0_sectors": 0,
            "rs_dt1_ms": 0,
            "rs_db1_sectors": 0,
            "rs_failed": 0,
            "rs_same_csum": 0,
            "rs_c_sync_rate": 0,
            "ov_left": 0,
        }
        if pd.repl in SYNC_STATES and pd.rs_total:
            elapsed_ms = int((now - pd.rs_start) * 1000)
            t0, left0 = pd.rs_marks[0] if pd.rs_marks else (pd.rs_start, pd.rs_total)
            recent = [m for m in pd.rs_marks if now - m[0] <= 3.0]
            t1, left1 = recent[0] if recent else (t0, left0)
            stats.update(
                rs_total=pd.rs_total,
                rs_dt_start_ms=max(elapsed_ms, 1),
                rs_dt0_ms=int((now - t0) * 1000),
                rs_db0_sectors=max(left0 - oos, 0),
                rs_dt1_ms=int((now - t1) * 1000),
                rs_db1_sectors=max(left1 - oos, 0),
                rs_c_sync_rate=self._rs_rate_kib(pd) if pd.repl == "SyncTarget" else 0,
            )
        return stats

    def _rs_rate_kib(self, pd: PeerDevice) -> int:
        secs = env_float("DRBDSIM_RESYNC_SECONDS", 3.0)
        return max(int(pd.rs_total / 2 / max(secs, 0.1)), 1)

    def snapshot(self) -> dict[str, Any]:
        """The resource as the kernel reports it (see render.py for the format)."""
        with self.lock:
            devices = []
            for vnr in sorted(self.devices):
                dev = self.devices[vnr]
                m = dev.meta
                devices.append(
                    {
                        "volume": vnr,
                        "minor": dev.minor,
                        "disk": dev.disk,
                        "client": dev.client,
                        "quorum": dev.quorum,
                        "backing_dev": dev.diskpath if dev.disk != "Diskless" else None,
                        "stats": {
                            "size": dev.size // SECTOR,
                            "read": dev.read_sect,
                            "written": dev.write_sect,
                            "al_writes": m.al_writes if m else 0,
                            "bm_writes": m.bm_writes if m else 0,
                            "upper_pending": dev.upper_pending,
                            "lower_pending": dev.lower_pending,
                            "al_suspended": False,
                            "blocked_upper": False,
                            "blocked_lower": False,
                        },
                    }
                )
            conns = []
            for conn in sorted(self.connections.values(), key=lambda c: c.name):
                pds = []
                for vnr in sorted(conn.peer_devices):
                    pd = conn.peer_devices[vnr]
                    pds.append(
                        {
                            "volume": vnr,
                            "repl": pd.repl,
                            "pdsk": pd.pdsk,
                            "peer_client": pd.peer_client,
                            "susp_user": pd.susp_user,
                            "susp_peer": False,
                            "susp_dep": False,
                            "uuid_flags": 0x100 if conn.peer_role != "Primary" else 0,
                            "stats": self._pd_stats(pd),
                        }
                    )
                conns.append(
                    {
                        "peer_node_id": conn.node_id,
                        "name": conn.name,
                        "cstate": conn.cstate,
                        "peer_role": conn.peer_role,
                        "congested": False,
                        "ap_in_flight": 0,
                        "rs_in_flight": 0,
                        "paths": [
                            {
                                "local": str(self.view.address),
                                "peer": str(conn.peer.address),
                                "established": conn.path_up,
                            }
                        ],
                        "peer_devices": pds,
                    }
                )
            return {
                "name": self.name,
                "node_id": self.node_id,
                "role": self.role,
                "susp_user": False,
                "susp_nod": False,
                "susp_fen": False,
                "susp_quorum": False,
                "fail_io": False,
                "write_ordering": "flush",
                "devices": devices,
                "connections": conns,
            }

    def _objects(self) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        objs: dict[tuple[Any, ...], tuple[Any, ...]] = {("res",): (self.role,)}
        for conn in self.connections.values():
            objs[("conn", conn.node_id)] = (conn.cstate, conn.peer_role)
            objs[("path", conn.node_id)] = (conn.path_up,)
            for vnr, pd in conn.peer_devices.items():
                objs[("pd", conn.node_id, vnr)] = (pd.pdsk, pd.repl, pd.susp_user, pd.peer_client)
        for vnr, dev in self.devices.items():
            objs[("dev", vnr)] = (dev.disk, dev.quorum)
        return objs

    def commit(self, force: tuple[tuple[Any, ...], ...] = ()) -> None:
        """Log the state changes since the last commit (DRBD's print_state_change order) and
        publish the changed objects to events2 subscribers. Call with the lock held."""
        with self.lock:
            self._update_quorum()
            objs = self._objects()
            old = self.logged
            notify = [k for k, v in objs.items() if old.get(k) != v]
            notify += [k for k in force if k not in notify and k in objs]
            notify += [k for k in old if k not in objs]
            r_old = old.get(("res",))
            if r_old is not None and r_old[0] != self.role:
                self.log_res(f"role( {r_old[0]} -> {self.role} )")
            for conn in sorted(self.connections.values(), key=lambda c: c.node_id):
                prev = old.get(("conn", conn.node_id))
                if prev is None:
                    continue
                parts = []
                if prev[0] != conn.cstate:
                    parts.append(f"conn( {prev[0]} -> {conn.cstate} )")
                if prev[1] != conn.peer_role:
                    parts.append(f"peer( {prev[1]} -> {conn.peer_role} )")
                if parts:
                    self.log_conn(conn, " ".join(parts))
            for vnr in sorted(self.devices):
                dev = self.devices[vnr]
                prev = old.get(("dev", vnr))
                if prev is not None:
                    parts = []
                    if prev[0] != dev.disk:
                        parts.append(f"disk( {prev[0]} -> {dev.disk} )")
                    if prev[1] != dev.quorum:
                        parts.append(
                            f"quorum( {'yes' if prev[1] else 'no'} -> "
                            f"{'yes' if dev.quorum else 'no'} )"
                        )
                    if parts:
                        self.log_dev(dev, " ".join(parts))
                for conn in sorted(self.connections.values(), key=lambda c: c.node_id):
                    pd = conn.peer_devices.get(vnr)
                    p = old.get(("pd", conn.node_id, vnr))
                    if pd is None or p is None:
                        continue
                    parts = []
                    if p[0] != pd.pdsk:
                        parts.append(f"pdsk( {p[0]} -> {pd.pdsk} )")
                    if p[1] != pd.repl:
                        parts.append(f"repl( {p[1]} -> {pd.repl} )")
                    if p[2] != pd.susp_user:
                        a, b = ("user" if p[2] else "no"), ("user" if pd.susp_user else "no")
                        parts.append(f"resync-susp( {a} -> {b} )")
                    if parts:
                        self.log_pd(pd, " ".join(parts))
            self.logged = objs
            if notify:
                self._emit({"type": "state", "state": self.snapshot(), "notify": notify})

    def _emit(self, msg: dict[str, Any]) -> None:
        for q in list(self.subscribers):
            with contextlib.suppress(queue.Full):
                q.put_nowait(msg)

    def subscribe(self) -> tuple[queue.Queue[dict[str, Any]], dict[str, Any]]:
        """A queue of events plus the current snapshot (consistent with each other)."""
        with self.lock:
            q: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=10000)
            self.subscribers.append(q)
            return q, self.snapshot()

    def unsubscribe(self, q: queue.Queue[dict[str, Any]]) -> None:
        """Stop sending events to ``q``."""
        with self.lock:
            if q in self.subscribers:
                self.subscribers.remove(q)

    def _update_quorum(self) -> None:
        setting = self.view.res.option("options", "quorum", "off") or "off"
        for dev in self.devices.values():
            if setting == "off":
                dev.quorum = True
                continue
            up, present, outdated, unknown = 0, 0, 0, 0
            if dev.disk == "UpToDate":
                up += 1
            elif DISK_RANK[dev.disk] > DISK_RANK["Diskless"]:
                present += 1
            for conn in self.connections.values():
                pd = conn.peer_devices.get(dev.vnr)
                if pd is None:
                    continue
                if pd.repl == "Off":
                    known_outdated = bool(
                        dev.meta and dev.meta.peer(conn.node_id).get("outdated")
                    ) or pd.pdsk in ("Outdated", "Inconsistent")
                    if known_outdated:
                        outdated += 1
                    else:
                        unknown += 1
                elif pd.pdsk == "UpToDate":
                    up += 1
                elif pd.pdsk != "Diskless":
                    present += 1
            voters = (outdated + unknown + up + present) if unknown else (up + present)
            if setting == "majority":
                quorum_at = voters // 2 + 1
            elif setting == "all":
                quorum_at = voters
            else:
                try:
                    quorum_at = int(setting)
                except ValueError:
                    quorum_at = voters // 2 + 1
            dev.quorum = up + present >= quorum_at

    # -- helpers ----------------------------------------------------------------------------

    def call_helper(
        self, helper: str, conn: Connection | None = None, dev: Device | None = None
    ) -> int:
        """Run a user-mode helper like the kernel does (/sbin/drbdadm HELPER RES): the
        handler from the config if any, with DRBD's environment. Must not hold the lock."""
        event = {
            "type": "helper",
            "name": self.name,
            "peer_node_id": conn.node_id if conn else None,
            "conn_name": conn.name if conn else None,
            "volume": dev.vnr if dev else None,
            "minor": dev.minor if dev else None,
            "helper": helper,
            "response": False,
        }
        prefix = f"drbd {self.name}"
        if dev is not None:
            prefix += f"/{dev.vnr} drbd{dev.minor}"
        if conn is not None:
            prefix += f" {conn.name}"
        klog.log(f"{prefix}: helper command: {USERMODE_HELPER} {helper}")
        with self.lock:
            self._emit(dict(event))
        status = 0
        handler = self.view.res.option("handlers", helper)
        if handler:
            env = dict(os.environ)
            env.update(
                DRBD_RESOURCE=self.name,
                DRBD_CONF=self.cfgpath,
                DRBD_MY_NODE_ID=str(self.node_id),
                DRBD_MY_ADDRESS=self.view.address.addr,
                DRBD_MY_AF=self.view.address.af,
            )
            for c in self.connections.values():
                env[f"DRBD_NODE_ID_{c.node_id}"] = c.name
            env[f"DRBD_NODE_ID_{self.node_id}"] = self.hostname
            if conn is not None:
                env.update(
                    DRBD_PEER_NODE_ID=str(conn.node_id),
                    DRBD_PEER_ADDRESS=conn.peer.address.addr,
                    DRBD_PEER_AF=conn.peer.address.af,
                    DRBD_PEER=conn.name,
                )
            if dev is not None:
                env.update(
                    DRBD_MINOR=str(dev.minor),
                    DRBD_VOLUME=str(dev.vnr),
                    DRBD_BACKING_DEV=dev.diskpath,
                    DRBD_LL_DISK=dev.diskpath,
                )
                env[f"DRBD_MINOR_{dev.vnr}"] = str(dev.minor)
            try:
                proc = subprocess.run(
                    ["/bin/sh", "-c", handler],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=120,
                    check=False,
                )
                status = (proc.returncode & 0xFF) << 8 if proc.returncode >= 0 else 0
            except (OSError, subprocess.TimeoutExpired):
                status = 0
        if status:
            klog.log(
                f"{prefix}: helper command: {USERMODE_HELPER} {helper} exit code "
                f"{(status >> 8) & 0xFF} (0x{status:x})",
                klog.KERN_WARNING,
            )
        else:
            klog.log(f"{prefix}: helper command: {USERMODE_HELPER} {helper} exit code 0 (0x0)")
        event.update(response=True, status=status)
        with self.lock:
            self._emit(event)
        return status

    # -- up / attach ------------------------------------------------------------------------

    def op_up(self, cli_pid: int) -> None:
        """new-resource, new-minor, new-peer, new-path, attach, connect (drbdadm up)."""
        with self.lock:
            if self.devices:
                first = next(iter(self.devices.values()))
                text = CONFIG_ERRORS[ERR_MINOR_OR_VOLUME_EXISTS]
                raise OpError(
                    10,
                    f"{self.name}: Failure: ({ERR_MINOR_OR_VOLUME_EXISTS}) {text}\n",
                    f"drbdsetup new-minor {self.name} {first.minor} {first.vnr}",
                )
            self.log_res(f"Starting worker thread (from drbdsetup [{cli_pid}])")
            for vol in self.view.volumes:
                self.devices[vol.vnr] = Device(vol)
            for peer in self.view.peers:
                conn = Connection(peer)
                for vnr in self.devices:
                    conn.peer_devices[vnr] = PeerDevice(conn, vnr)
                self.connections[peer.node_id] = conn
                self.log_conn(conn, f"Starting sender thread (from drbdsetup [{cli_pid}])")
            self.commit()
        for vnr, dev in sorted(self.devices.items()):
            if dev.client:
                continue
            try:
                self.op_attach(vnr)
            except OpError as exc:
                exc.cmd = f"drbdsetup attach {dev.minor} {dev.diskpath} {dev.diskpath} internal"
                raise
        for conn in list(self.connections.values()):
            self.op_connect(conn.node_id, False, cli_pid)

    def _open_backing(self, dev: Device) -> int:
        try:
            fd = os.open(dev.diskpath, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            raise OpError(
                10, f"{dev.minor}: Failure: ({ERR_OPEN_DISK}) {CONFIG_ERRORS[ERR_OPEN_DISK]}\n"
            ) from None
        return fd

    def op_attach(self, vnr: int) -> None:
        """drbdsetup attach: open the backing device, read the meta data, create /dev/drbdN."""
        with self.lock:
            dev = self.devices.get(vnr)
            if dev is None:
                raise OpError(10, f"{vnr}: Failure: (127) Device minor not allocated\n")
            if dev.disk != "Diskless":
                raise OpError(
                    10,
                    f"{dev.minor}: Failure: ({ERR_DISK_CONFIGURED}) "
                    f"{CONFIG_ERRORS[ERR_DISK_CONFIGURED]}\n",
                )
            if self.disk_failing():
                self.log_dev(dev, "disk( Diskless -> Attaching )")
                self.log_dev(dev, "Error while reading metadata.", klog.KERN_ERR)
                self.log_dev(dev, "disk( Attaching -> Diskless )")
                raise OpError(
                    10,
                    f"{dev.minor}: Failure: ({ERR_IO_MD_DISK}) {CONFIG_ERRORS[ERR_IO_MD_DISK]}\n",
                )
            fd = self._open_backing(dev)
            size = loopdev.size_of(fd)
            sb = metamod.read_superblock(fd, size)
            if sb is None:
                os.close(fd)
                raise OpError(
                    10, f"{dev.minor}: Failure: ({ERR_MD_INVALID}) {CONFIG_ERRORS[ERR_MD_INVALID]}"
                )
            m = metamod.Meta(fd, size, sb)
            dev.fd, dev.meta = fd, m
            dev.disk = "Attaching"
            self.log_dev(dev, "meta-data IO uses: blk-bio")
            self.commit()
            if sb.get("node_id", -1) != self.node_id:
                sb["node_id"] = self.node_id
            for conn in self.connections.values():
                m.peer(conn.node_id)
            self.log_dev(dev, f"Maximum number of peer devices = {sb['max_peers']}")
            self.log_res("Method to ensure write ordering: flush")
            cap = m.data_size // SECTOR
            self.log_dev(dev, f"drbd_bm_resize called with capacity == {cap}")
            bits = m.bits
            self.log_dev(
                dev,
                f"resync bitmap: bits={bits} words={(bits + 63) // 64} "
                f"pages={(bits + 32767) // 32768}",
            )
            self.log_dev(dev, f"size = {ppsize(m.data_size // 1024)} ({m.data_size // 1024} KB)")
            self.log_dev(dev, "recounting of set bits took additional 0ms")
            crashed = bool(sb.get("primary_ind"))
            if crashed:
                sb["crashed_primary"] = True
                sb["primary_ind"] = False
                extents = m.al_extents()
                for conn in self.connections.values():
                    for ext in extents:
                        start = ext * metamod.AL_EXTENT
                        m.mark(
                            conn.node_id, start, min(metamod.AL_EXTENT, m.data_size - start), True
                        )
                if extents:
                    self.log_dev(
                        dev,
                        f"Found {len(extents)} transactions ({len(extents)} active extents) "
                        "in activity log.",
                    )
            m.write_superblock()
            if not sb["consistent"]:
                new_disk = "Inconsistent"
            elif sb["outdated"] or self.role == "Primary":
                # a Primary was serving its data through the peer meanwhile: this disk is
                # behind (DRBD: the exposed data UUID differs from the disk's)
                new_disk = "Outdated"
            elif self.connections and all(
                m.peer(c.node_id).get("outdated") for c in self.connections.values()
            ):
                new_disk = "UpToDate"
            else:
                new_disk = "Consistent"
            dev.disk = new_disk
            dev.attached_cu = int(sb["current_uuid"])
            if dev.size == 0:
                dev.size = m.data_size
            self.commit()
            self.log_dev(dev, f"attached to current UUID: {hexuuid(sb['current_uuid'])}")
            connected = [c for c in self.connections.values() if c.cstate == "Connected"]
        self._ensure_block_device(dev)
        for conn in connected:
            self._start_volume_handshake(conn, vnr)

    def _ensure_block_device(self, dev: Device) -> None:
        """Serve /dev/drbdN: FUSE file + loop device + device node (once per up).

        Never call this with the kernel lock held: attaching the loop device fsyncs the FUSE
        file, whose handler needs the lock.
        """
        with dev.setup_lock:
            if dev.fuse is not None or dev.size == 0:
                return
            self._create_block_device(dev)

    def _create_block_device(self, dev: Device) -> None:
        run = paths.ensure_run_dir()
        img = os.path.join(run, f"{self.name}-{dev.vnr}.img")
        private = os.path.join(run, "dev")
        f = fuse.FuseFile(img, dev.size, DeviceIO(self, dev), private)
        f.start()
        dev.fuse = f
        if loopdev.dev_is_host_devtmpfs() and os.environ.get("DRBDSIM_ALLOW_HOST_DEV") != "1":
            devdir = private
        else:
            devdir = "/dev"
        minor, node, fd = loopdev.attach(img, devdir, private)
        dev.loop_minor, dev.loop_node, dev.loop_fd = minor, node, fd
        self._record_loop(minor)
        if devdir == "/dev":
            loopdev.ensure_node(dev.path, stat.S_IFBLK, loopdev.LOOP_MAJOR, minor)
            base = os.path.basename(dev.path)
            byres = f"/dev/drbd/by-res/{self.name}"
            os.makedirs(byres, exist_ok=True)
            link = os.path.join(byres, str(dev.vnr))
            with contextlib.suppress(OSError):
                os.unlink(link)
            os.symlink(f"../../../{base}", link)
            if dev.diskpath.startswith("/dev/"):
                bydisk = os.path.join("/dev/drbd/by-disk", dev.diskpath[5:])
                os.makedirs(os.path.dirname(bydisk), exist_ok=True)
                with contextlib.suppress(OSError):
                    os.unlink(bydisk)
                os.symlink(os.path.relpath(dev.path, os.path.dirname(bydisk)), bydisk)
        # Never BLKROSET a loop device: the flag outlives the attachment and would make the
        # next user of this loop minor read-only. Clear a stale one instead; a Secondary's
        # I/O is refused by the FUSE handler (EMEDIUMTYPE, like DRBD's open refusal).
        loopdev.set_read_only(node, False)

    def _record_loop(self, minor: int) -> None:
        path = paths.loops_file()
        if not path:
            return
        try:
            with open(f"/sys/block/loop{minor}/loop/backing_file", encoding="utf-8") as fh:
                backing = fh.read().strip()
        except OSError:
            return
        with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as fh:
            fh.write(f"/dev/loop{minor} {backing}\n")

    def _unrecord_loop(self, minor: int) -> None:
        path = paths.loops_file()
        if not path:
            return
        with contextlib.suppress(OSError):
            with open(path, encoding="utf-8") as fh:
                lines = fh.readlines()
            keep = [ln for ln in lines if not ln.startswith(f"/dev/loop{minor} ")]
            with open(path, "w", encoding="utf-8") as fh:
                fh.writelines(keep)

    def _teardown_block_device(self, dev: Device) -> None:
        if dev.loop_fd >= 0:
            loopdev.clear(dev.loop_fd)
            os.close(dev.loop_fd)
            self._unrecord_loop(dev.loop_minor)
            dev.loop_fd = -1
        if dev.fuse is not None:
            dev.fuse.stop()
            dev.fuse = None
        for p in (dev.path, f"/dev/drbd/by-res/{self.name}/{dev.vnr}"):
            if p.startswith("/dev/") and not loopdev.dev_is_host_devtmpfs():
                with contextlib.suppress(OSError):
                    os.unlink(p)
        if dev.loop_node and not dev.loop_node.startswith("/dev/"):
            with contextlib.suppress(OSError):
                os.unlink(dev.loop_node)

    # -- disk failure -----------------------------------------------------------------------

    def disk_failing(self) -> bool:
        """Is the lab's fail-disk flag set (the backing disk fails every I/O)?"""
        flag = paths.fail_flag()
        return bool(flag and os.path.exists(flag))

    def check_disk(self) -> None:
        """Raise EIO like a failing disk when the lab's fail-disk flag is set."""
        if self.disk_failing():
            raise OSError(errno.EIO, "backing device failed (fail-disk)")

    def _fail_watcher(self) -> None:
        while not self.stopping:
            time.sleep(0.25)
            if not self.disk_failing():
                continue
            for dev in list(self.devices.values()):
                if dev.disk not in ("Diskless", "Failed", "Detaching", "Attaching"):
                    self.disk_failed(dev, "drbd_md_endio")

    def disk_failed(self, dev: Device, where: str = "drbd_request_endio") -> None:
        """on-io-error detach: Failed, then Diskless; peers are told and track changes."""
        with self.lock:
            if dev.disk in ("Diskless", "Failed"):
                return
            dev.disk = "Failed"
            self.commit()
            self.log_dev(dev, f"Local IO failed in {where}. Detaching...", klog.KERN_ERR)
            self._detach_locked(dev, failed=True)

    def _detach_locked(self, dev: Device, failed: bool) -> None:
        if not failed:
            dev.disk = "Detaching"
            self.commit()
            if dev.meta is not None:
                with contextlib.suppress(OSError):
                    dev.meta.write_superblock()
        dev.disk = "Diskless"
        if dev.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(dev.fd)
        dev.fd = -1
        dev.meta = None
        self.commit()
        self._broadcast_peer_state()

    # -- role -------------------------------------------------------------------------------

    def _data_accessible(self, dev: Device) -> bool:
        if dev.disk == "UpToDate":
            return True
        return any(
            c.cstate == "Connected" and c.peer_devices[dev.vnr].pdsk == "UpToDate"
            for c in self.connections.values()
        )

    def _state_error(self, rv: int, extra: str = "") -> OpError:
        text = f"{self.name}: State change failed: ({rv}) {STATE_ERRORS[rv]}\n"
        if extra:
            text += f"additional info from kernel:\n{extra}\n"
        self.log_res(f"State change failed: {STATE_ERRORS[rv]}", klog.KERN_ERR)
        return OpError(state_exit_code(rv), text)

    def op_primary(self, force: bool) -> None:
        """drbdsetup primary [--force]."""
        with self.lock:
            if self.role == "Primary":
                return
            two = self.view.res.option("net", "allow-two-primaries", "no") == "yes"
            for conn in self.connections.values():
                if conn.peer_role == "Primary" and not two:
                    raise self._state_error(SS_TWO_PRIMARIES)
            for dev in self.devices.values():
                if not dev.quorum and not force:
                    raise self._state_error(SS_NO_QUORUM)
                if self._data_accessible(dev):
                    continue
                if force and dev.disk in ("Inconsistent", "Outdated", "Consistent"):
                    continue
                raise self._state_error(SS_NO_UP_TO_DATE_DISK)
            connected = [c for c in self.connections.values() if c.cstate == "Connected"]
            if connected:
                self.promoting = True
        refused = None
        if connected:
            refused = self._twopc(connected, "Primary")
        with self.lock:
            self.promoting = False
            if refused is not None:
                raise self._state_error(refused)
            forced = []
            for dev in self.devices.values():
                if force and not self._data_accessible(dev) and dev.meta is not None:
                    dev.disk = "UpToDate"
                    dev.meta.sb.update(consistent=True, outdated=False, was_up_to_date=True)
                    forced.append(dev)
            self.role = "Primary"
            for dev in self.devices.values():
                if dev.meta is not None:
                    dev.meta.sb["primary_ind"] = True
                    if forced and dev in forced:
                        self._new_current_uuid(dev, [c.node_id for c in self.connections.values()])
                    else:
                        weak = [
                            c.node_id
                            for c in self.connections.values()
                            if c.cstate != "Connected" or c.peer_devices[dev.vnr].pdsk != "UpToDate"
                        ]
                        if weak:
                            self._new_current_uuid(dev, weak)
                    dev.meta.write_superblock()
            self.commit()
            self._broadcast_peer_state()
            resync = [
                (c, d.vnr)
                for d in forced
                for c in self.connections.values()
                if c.cstate == "Connected"
            ]
            nodes = [d.loop_node for d in self.devices.values() if d.loop_node]
        for node in nodes:
            loopdev.flush_buffers(node)  # drop the stale buffer cache of /dev/drbdN
        for conn, vnr in resync:
            self._start_volume_handshake(conn, vnr)

    def op_secondary(self) -> None:
        """drbdsetup secondary."""
        with self.lock:
            if self.role == "Secondary":
                return
            devs = [(d.loop_node, d.loop_minor) for d in self.devices.values() if d.loop_node]
        for node, minor in devs:  # block device syscalls: never under the lock
            if loopdev.in_use(node, os.makedev(loopdev.LOOP_MAJOR, minor)):
                with self.lock:
                    raise self._state_error(SS_DEVICE_IN_USE)
            loopdev.flush_buffers(node)
        with self.lock:
            connected = [c for c in self.connections.values() if c.cstate == "Connected"]
        if connected:
            self._twopc(connected, "Secondary")
        with self.lock:
            self.role = "Secondary"
            for dev in self.devices.values():
                if dev.meta is not None:
                    dev.meta.sb["primary_ind"] = False
                    dev.meta.al_clear()
                    dev.meta.write_superblock()
            self.commit()
            self._broadcast_peer_state()

    def _twopc(self, conns: list[Connection], role: str) -> int | None:
        """A cluster-wide role change; returns a refusal code or None."""
        self.twopc_id += 1
        tid = self.twopc_id
        start = time.monotonic()
        primary_nodes = 1 << self.node_id if role == "Primary" else 0
        self.log_res(
            f"Preparing cluster-wide state change {tid} ({self.node_id}->-1 "
            f"{'3/1' if role == 'Primary' else '3/2'})"
        )
        results = []
        for conn in conns:
            w = conn.wire
            if w is None:
                continue
            with self.lock:
                seq = conn.next_seq()
                ev = threading.Event()
                conn.waiters[seq] = [ev, None]
            try:
                w.send_json(wire.TWOPC, {"id": tid, "role": role}, seq=seq)
            except wire.Closed:
                continue
            results.append((conn, seq, ev))
        refused = None
        for conn, seq, ev in results:
            timeout = self.tenths(conn, "timeout", 60)
            ok = ev.wait(timeout)
            with self.lock:
                res = conn.waiters.pop(seq, [None, None])[1]
            if not ok or res is None:
                refused = SS_TIMEOUT
            elif res.get("lost"):
                continue  # the peer went away meanwhile: it no longer has a say
            elif not res.get("ok"):
                refused = SS_CW_FAILED_BY_PEER if res.get("rv") is None else int(res["rv"])
        if refused is not None:
            self.log_res(
                f"Aborting cluster-wide state change {tid} "
                f"({int((time.monotonic() - start) * 1000)}ms) rv = {refused}"
            )
            return refused
        strong = (1 << self.node_id) | sum(1 << c.node_id for c in conns)
        weak = ~strong & 0xFFFFFFFFFFFFFFFF
        self.log_res(f"State change {tid}: primary_nodes={primary_nodes:X}, weak_nodes={weak:X}")
        self.log_res(
            f"Committing cluster-wide state change {tid} "
            f"({int((time.monotonic() - start) * 1000)}ms)"
        )
        return None

    def _new_current_uuid(self, dev: Device, weak_peers: list[int]) -> None:
        m = dev.meta
        if m is None:
            return
        old = int(m.sb["current_uuid"])
        for nid in weak_peers:
            info = m.peer(nid)
            if not info.get("bitmap_uuid"):
                m.set_peer(nid, bitmap_uuid=old)
        m.sb["current_uuid"] = metamod.new_uuid()
        m.write_superblock()
        self.log_dev(
            dev,
            f"new current UUID: {hexuuid(m.sb['current_uuid'])} weak: "
            f"{(~(1 << self.node_id)) & 0xFFFFFFFFFFFFFFFF:X}",
        )
        # DRBD 9 sends the new data generation to the peers that are still connected; an
        # UpToDate one adopts it (see _adopt_new_uuid). With two nodes every connected peer
        # is among the weak ones here, so nothing changes for them.
        for conn in self.connections.values():
            if conn.node_id in weak_peers or conn.cstate != "Connected" or conn.wire is None:
                continue
            with contextlib.suppress(wire.Closed):
                conn.wire.send_json(
                    wire.NEW_UUID,
                    {"cu": int(m.sb["current_uuid"]), "clear": False, "weak": weak_peers},
                    vnr=dev.vnr,
                )

    # -- connect / disconnect ---------------------------------------------------------------

    def _conn(self, peer_id: int | None) -> list[Connection]:
        if peer_id is None:
            return list(self.connections.values())
        conn = self.connections.get(peer_id)
        if conn is None:
            raise OpError(10, f"{self.name}: Failure: (162) Invalid configuration request\n")
        return [conn]

    def op_connect(self, peer_id: int | None, discard: bool, cli_pid: int = 0) -> None:
        """drbdsetup connect [--discard-my-data]."""
        with self.lock:
            conns = self._conn(peer_id)
            if discard and self.role == "Primary":
                raise OpError(
                    10,
                    f"{self.name}: Failure: ({ERR_DISCARD_IMPOSSIBLE}) "
                    f"{CONFIG_ERRORS[ERR_DISCARD_IMPOSSIBLE]}\n",
                )
            for conn in conns:
                if conn.cstate != "StandAlone":
                    raise OpError(
                        10, f"{self.name}: Failure: (102) Local address(port) already in use.\n"
                    )
            for conn in conns:
                conn.discard = discard
                conn.want = True
                conn.cstate = "Unconnected"
                self.commit()
                self.log_conn(
                    conn, f"Starting receiver thread (from drbd_w_{self.name[:8]} [{os.getpid()}])"
                )
                conn.cstate = "Connecting"
                self.commit()
                self._start_connecting(conn)
        del cli_pid

    def op_disconnect(self, peer_id: int | None) -> None:
        """drbdsetup disconnect (graceful; StandAlone afterwards)."""
        with self.lock:
            conns = self._conn(peer_id)
        for conn in conns:
            self._disconnect(conn)

    def _disconnect(self, conn: Connection) -> None:
        with self.lock:
            if conn.cstate == "StandAlone":
                return  # SS_ALREADY_STANDALONE: drbd_adm_disconnect reports success
            conn.want = False
            w = conn.wire
            outdate_me, outdate_peer = self._graceful_outdate(conn)
            if w is not None:
                with contextlib.suppress(wire.Closed):
                    w.send_json(wire.DISCONNECT, {"outdate": outdate_peer})
            conn.cstate = "Disconnecting"
            conn.peer_role = "Unknown"
            self._peers_lost(conn, outdate_peer)
            if outdate_me:
                self._outdate_self()
            self.commit()
            self._close_wire(conn)
            self.commit()
            self.log_conn(conn, "Connection closed")
        self.call_helper("disconnected", conn)
        with self.lock:
            conn.cstate = "StandAlone"
            self.commit()
            self.log_conn(conn, "Terminating receiver thread")

    def _graceful_outdate(self, conn: Connection) -> tuple[bool, bool]:
        """(outdate myself, outdate the peer) for a graceful disconnect from ``conn``."""
        if conn.cstate != "Connected":
            return False, False
        me_up = all(d.disk == "UpToDate" for d in self.devices.values())
        if self.role != "Primary" and conn.peer_role == "Primary" and me_up:
            return True, False
        if self.role == "Primary" and conn.peer_role != "Primary":
            return False, any(pd.pdsk == "UpToDate" for pd in conn.peer_devices.values())
        return False, False

    def _outdate_self(self) -> None:
        for dev in self.devices.values():
            if dev.disk in ("UpToDate", "Consistent") and dev.meta is not None:
                dev.disk = "Outdated"
                dev.meta.sb.update(outdated=True, was_up_to_date=False)
                dev.meta.write_superblock()

    def _peers_lost(self, conn: Connection, outdated: bool) -> None:
        """Peer device states after a connection ends (lock held)."""
        for pd in conn.peer_devices.values():
            pd.rs_gen += 1
            pd.repl = "Off"
            dev = self.devices[pd.vnr]
            if outdated and pd.pdsk in ("UpToDate", "Consistent"):
                pd.pdsk = "Outdated"
                if dev.meta is not None:
                    dev.meta.set_peer(conn.node_id, outdated=True)
                    dev.meta.write_superblock()
            elif pd.pdsk not in ("Outdated", "Inconsistent"):
                pd.pdsk = "DUnknown"
            pd.peer_client = False
            pd.hs_sent = False
            pd.hs_peer = None
            pd.hs_bitmap = None
            pd.rs_done_early = None
            pd.rs_total = 0
            pd.pending = 0
            if self.role == "Primary" and dev.disk == "UpToDate":
                info = dev.meta.peer(conn.node_id) if dev.meta else {}
                if dev.meta is not None and not info.get("bitmap_uuid"):
                    self._new_current_uuid(dev, [conn.node_id])

    def _close_wire(self, conn: Connection) -> None:
        w = conn.wire
        conn.wire = None
        conn.gen += 1
        conn.path_up = False
        conn.hs_twopc = None
        if w is not None:
            w.close()
        for _seq, waiter in list(conn.waiters.items()):
            waiter[1] = {"ok": False, "lost": True}
            waiter[0].set()
        conn.waiters.clear()

    def _start_connecting(self, conn: Connection) -> None:
        if conn.node_id > self.node_id:
            gen = conn.gen
            threading.Thread(
                target=self._connector, args=(conn, gen), daemon=True, name=f"conn-{conn.name}"
            ).start()
        else:
            self._ensure_listener()

    def _connector(self, conn: Connection, gen: int) -> None:
        retry = self._seconds(conn, "connect-int", env_float("DRBDSIM_CONNECT_INT", 2.0))
        if self.view.res.option("net", "connect-int") is None:
            retry = env_float("DRBDSIM_CONNECT_INT", 2.0)
        while True:
            with self.lock:
                if self.stopping or conn.gen != gen or conn.cstate != "Connecting" or conn.wire:
                    return
            try:
                sock = socket.create_connection(
                    (conn.peer.address.addr, int(conn.peer.address.port)),
                    timeout=2.0,
                    source_address=(self.view.address.addr, 0),
                )
                sock.settimeout(5.0)
                w = wire.Wire(sock)
                w.send_json(wire.HELLO, {"resource": self.name, "node_id": self.node_id})
                reply = w.recv()
            except (OSError, wire.Closed, TimeoutError):
                time.sleep(retry)
                continue
            if reply.kind != wire.HELLO:
                w.close()
                time.sleep(retry)
                continue
            sock.settimeout(None)
            if not self._established(conn, w, gen):
                w.close()
            return

    def _ensure_listener(self) -> None:
        if self.listener is not None:
            return
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.view.address.addr, int(self.view.address.port)))
            s.listen(8)
        except OSError:
            self.listener = None
            timer = threading.Timer(1.0, self._retry_listener)
            timer.daemon = True
            timer.start()
            return
        self.listener = s
        threading.Thread(target=self._accept_loop, args=(s,), daemon=True, name="listen").start()

    def _retry_listener(self) -> None:
        with self.lock:
            if self.stopping:
                return
            if any(
                c.cstate == "Connecting" and c.node_id < self.node_id
                for c in self.connections.values()
            ):
                self._ensure_listener()

    def _accept_loop(self, s: socket.socket) -> None:
        while not self.stopping:
            try:
                sock, _ = s.accept()
            except OSError:
                return
            threading.Thread(target=self._accept_one, args=(sock,), daemon=True).start()

    def _accept_one(self, sock: socket.socket) -> None:
        sock.settimeout(5.0)
        w = wire.Wire(sock)
        try:
            hello = w.recv()
            info = hello.json()
            if hello.kind != wire.HELLO or info.get("resource") != self.name:
                w.close()
                return
            with self.lock:
                conn = self.connections.get(int(info["node_id"]))
                if conn is None or conn.cstate != "Connecting" or conn.wire is not None:
                    w.close()
                    return
                gen = conn.gen
            w.send_json(wire.HELLO, {"resource": self.name, "node_id": self.node_id})
            sock.settimeout(None)
            if not self._established(conn, w, gen):
                w.close()
        except (OSError, wire.Closed, TimeoutError, ValueError, KeyError):
            w.close()

    def _established(self, conn: Connection, w: wire.Wire, gen: int) -> bool:
        with self.lock:
            if conn.gen != gen or conn.cstate != "Connecting" or conn.wire is not None:
                return False
            conn.gen += 1
            conn.wire = w
            conn.last_ack = time.monotonic()
            conn.path_up = True
            conn.pending_role = "Unknown"
            gen = conn.gen
            self.commit()
            self.log_conn(
                conn,
                f"Handshake to peer {conn.node_id} successful: Agreed network "
                f"protocol version {PROTO_VERSION}",
            )
            self.log_conn(
                conn,
                "Feature flags enabled on protocol level: 0x7f TRIM THIN_RESYNC "
                "WRITE_SAME WRITE_ZEROES RESYNC_DAGTAG",
            )
            self.log_conn(
                conn, f"Starting ack_recv thread (from drbd_r_{self.name[:8]} [{os.getpid()}])"
            )
            threading.Thread(target=self._receiver, args=(conn, w, gen), daemon=True).start()
            threading.Thread(target=self._pinger, args=(conn, w, gen), daemon=True).start()
            try:
                w.send_json(wire.STATE, {"role": self.role, "first": True, "vols": {}})
            except wire.Closed:
                return True
            for vnr in self.devices:
                self._send_volume_state(conn, vnr)
        return True

    # -- receiving --------------------------------------------------------------------------

    def _receiver(self, conn: Connection, w: wire.Wire, gen: int) -> None:
        reason = "NetworkFailure"
        try:
            while True:
                frame = w.recv()
                with self.lock:
                    if conn.gen != gen:
                        return
                    conn.last_ack = time.monotonic()
                if frame.kind == wire.DISCONNECT:
                    info = frame.json()
                    self._conn_lost(conn, gen, "TearDown", outdate_me=bool(info.get("outdate")))
                    return
                self._dispatch(conn, frame, gen)
        except wire.Closed:
            reason = "BrokenPipe" if not w.closed else "NetworkFailure"
        except (OSError, ValueError) as exc:
            del exc
        self._conn_lost(conn, gen, reason)

    def _pinger(self, conn: Connection, w: wire.Wire, gen: int) -> None:
        ping_int = self._seconds(conn, "ping-int", 10)
        ping_timeout = self.tenths(conn, "ping-timeout", 5)
        while True:
            time.sleep(min(0.2, ping_int))
            with self.lock:
                if conn.gen != gen or self.stopping:
                    return
                now = time.monotonic()
                if conn.ping_sent and now - conn.ping_sent > max(ping_timeout, 0.1):
                    if conn.last_ack < conn.ping_sent:
                        self.log_conn(conn, "PingAck did not arrive in time.", klog.KERN_ERR)
                        w.close()
                        break
                    conn.ping_sent = 0.0
                if not conn.ping_sent and now - conn.last_ack >= ping_int:
                    conn.ping_sent = now
                    try:
                        w.send(wire.PING)
                    except wire.Closed:
                        break
        self._conn_lost(conn, gen, "NetworkFailure")

    def _dispatch(self, conn: Connection, f: wire.Frame, gen: int) -> None:
        k = f.kind
        if k == wire.PING:
            with contextlib.suppress(wire.Closed):
                conn.wire.send(wire.PING_ACK) if conn.wire else None
        elif k == wire.PING_ACK:
            with self.lock:
                conn.ping_sent = 0.0
        elif k in (wire.DATA_ACK, wire.FLUSH_ACK, wire.RS_ACK, wire.READ_REPLY, wire.TWOPC_REPLY):
            with self.lock:
                waiter = conn.waiters.get(f.seq)
                if waiter is not None:
                    if k == wire.READ_REPLY:
                        waiter[1] = {"ok": True, "data": f.payload}
                    elif k == wire.TWOPC_REPLY:
                        waiter[1] = f.json()
                    else:
                        waiter[1] = {"ok": f.offset == 0}
                    waiter[0].set()
        elif k == wire.DATA:
            self._on_data(conn, f, resync=False)
        elif k == wire.RS_DATA:
            self._on_data(conn, f, resync=True)
        elif k == wire.DISCARD:
            self._on_discard(conn, f)
        elif k == wire.FLUSH:
            self._on_flush(conn, f)
        elif k == wire.READ_REQ:
            self._on_read_req(conn, f)
        elif k == wire.STATE:
            self._on_state(conn, f.json(), gen)
        elif k == wire.BITMAP:
            self._on_bitmap(conn, f.vnr, zlib.decompress(f.payload), gen)
        elif k == wire.DECISION:
            self._on_decision(conn, f.vnr, f.json(), gen)
        elif k == wire.RS_DONE:
            self._on_rs_done(conn, f.vnr, f.json())
        elif k == wire.PEER_STATE:
            self._on_peer_state(conn, f.json())
        elif k == wire.TWOPC:
            self._on_twopc(conn, f.seq, f.json())
        elif k == wire.NEW_UUID:
            self._on_new_uuid(conn, f.vnr, f.json())

    def _reply(self, conn: Connection, kind: int, seq: int, ok: bool = True, vnr: int = 0) -> None:
        w = conn.wire
        if w is not None:
            with contextlib.suppress(wire.Closed):
                w.send(kind, vnr, seq, 0 if ok else 1)

    # -- connection loss --------------------------------------------------------------------

    def _conn_lost(self, conn: Connection, gen: int, reason: str, outdate_me: bool = False) -> None:
        with self.lock:
            if conn.gen != gen or conn.wire is None:
                return
            was_connected = conn.cstate == "Connected"
            conn.cstate = reason
            conn.peer_role = "Unknown"
            outdated_peer = False
            if reason == "TearDown" and was_connected:
                if outdate_me:
                    self._outdate_self()
                elif self.role == "Primary":
                    outdated_peer = any(pd.pdsk == "UpToDate" for pd in conn.peer_devices.values())
            self._peers_lost(conn, outdated_peer)
            self.commit()
            self._close_wire(conn)
            self.commit()
            self.log_conn(conn, "ack_receiver terminated")
            self.log_conn(conn, "Terminating ack_recv thread")
            self.log_conn(conn, "Terminating sender thread")
            self.log_conn(conn, "Connection closed")
        self.call_helper("disconnected", conn)
        with self.lock:
            if self.stopping:
                return
            if not conn.want:
                conn.cstate = "StandAlone"
                self.commit()
                return
            conn.cstate = "Unconnected"
            self.commit()
            self.log_conn(conn, "Restarting receiver thread")
            conn.cstate = "Connecting"
            self.commit()
            self._start_connecting(conn)

    # -- handshake --------------------------------------------------------------------------

    def _hs_info(self, conn: Connection, vnr: int) -> dict[str, Any]:
        dev = self.devices[vnr]
        m = dev.meta
        info: dict[str, Any] = {
            "node_id": self.node_id,
            "name": self.hostname,
            "role": self.role,
            "disk": dev.disk,
            "client": dev.client,
            "size": dev.size,
            "discard": conn.discard,
        }
        if m is not None:
            p = m.peer(conn.node_id)
            info.update(
                cu=int(m.sb["current_uuid"]),
                bu=int(p.get("bitmap_uuid", 0)),
                hist=[int(h) for h in m.sb["history"]],
                crashed=bool(m.sb.get("crashed_primary")),
                bits=m.count(conn.node_id),
            )
        else:
            info.update(cu=0, bu=0, hist=[], crashed=False, bits=0)
        return info

    def _send_volume_state(self, conn: Connection, vnr: int) -> None:
        w = conn.wire
        pd = conn.peer_devices[vnr]
        if w is None or pd.hs_sent:
            return
        pd.hs_sent = True
        info = self._hs_info(conn, vnr)
        dev = self.devices[vnr]
        try:
            w.send_json(wire.STATE, {"role": self.role, "first": False, "vols": {str(vnr): info}})
            bm = dev.meta.bitmap_bytes(conn.node_id) if dev.meta is not None else b""
            w.send(wire.BITMAP, vnr, 0, 0, zlib.compress(bm))
        except wire.Closed:
            pass

    def _start_volume_handshake(self, conn: Connection, vnr: int) -> None:
        with self.lock:
            if conn.cstate != "Connected":
                return
            pd = conn.peer_devices[vnr]
            pd.hs_sent = False
            pd.hs_peer = None
            pd.hs_bitmap = None
            self._send_volume_state(conn, vnr)

    def _on_state(self, conn: Connection, msg: dict[str, Any], gen: int) -> None:
        with self.lock:
            if conn.gen != gen:
                return
            if msg.get("first"):
                conn.pending_role = msg["role"]
                return
            if conn.cstate == "Connected":
                conn.peer_role = msg["role"]
            else:
                conn.pending_role = msg["role"]
            for key, info in msg["vols"].items():
                vnr = int(key)
                pd = conn.peer_devices.get(vnr)
                if pd is None:
                    continue
                pd.hs_peer = info
                if not pd.hs_sent:
                    self._send_volume_state(conn, vnr)
            self.commit()
            decisions = [self._maybe_decide(conn, int(key)) for key in msg["vols"]]
        for vnr, decision in decisions:
            if decision is not None:
                self._apply_decision(conn, vnr, decision, gen)

    def _on_bitmap(self, conn: Connection, vnr: int, bm: bytes, gen: int) -> None:
        with self.lock:
            if conn.gen != gen or vnr not in conn.peer_devices:
                return
            conn.peer_devices[vnr].hs_bitmap = bm
            _, decision = self._maybe_decide(conn, vnr)
        if decision is not None:
            self._apply_decision(conn, vnr, decision, gen)

    def _maybe_decide(self, conn: Connection, vnr: int) -> tuple[int, dict[str, Any] | None]:
        """As the decider (lower node-id) with both sides' info: decide, tell the peer and
        return my side of the verdict (applied by the caller without the lock)."""
        pd = conn.peer_devices[vnr]
        if self.node_id > conn.node_id:
            return vnr, None  # the peer decides
        if not pd.hs_sent or pd.hs_peer is None or pd.hs_bitmap is None:
            return vnr, None
        mine = self._hs_info(conn, vnr)
        if conn.cstate == "Connecting" and conn.hs_twopc is None:
            self.twopc_id += 1
            conn.hs_twopc = (self.twopc_id, time.monotonic())
            self.log_res(
                f"Preparing cluster-wide state change {self.twopc_id} "
                f"({self.node_id}->{conn.node_id} 499/145)"
            )
        verdict = handshake.decide(mine, pd.hs_peer, self._policies(conn))
        msg = {
            "hg": -verdict["hg"],
            "rule": verdict["rule"],
            "raw": -verdict["raw"] if abs(verdict["raw"]) < 100 else verdict["raw"],
            "outcome": verdict["outcome"],
            "full": verdict["full"],
            "notes": verdict["notes"][1],
            "initial_sb": verdict["initial_sb"],
            "me": pd.hs_peer,
            "peer": mine,
            "twopc": conn.hs_twopc[0] if conn.hs_twopc else 0,
        }
        w = conn.wire
        if w is not None:
            with contextlib.suppress(wire.Closed):
                w.send_json(wire.DECISION, msg, vnr=vnr)
        mine_msg = dict(
            msg,
            hg=verdict["hg"],
            raw=verdict["raw"],
            notes=verdict["notes"][0],
            me=mine,
            peer=pd.hs_peer,
        )
        return vnr, mine_msg

    def _on_decision(self, conn: Connection, vnr: int, msg: dict[str, Any], gen: int) -> None:
        self._apply_decision(conn, vnr, msg, gen)

    def _apply_decision(self, conn: Connection, vnr: int, msg: dict[str, Any], gen: int) -> None:
        with self.lock:
            if conn.gen != gen:
                return
            pd = conn.peer_devices[vnr]
            dev = self.devices[vnr]
            me, peer = msg["me"], msg["peer"]
            pd.hs_sent = False
            pd.hs_peer = None
            bitmap = pd.hs_bitmap or b""
            pd.hs_bitmap = None
            pd.peer_size = int(peer.get("size", 0))
            need_device = dev.size == 0 and pd.peer_size > 0
            if need_device:
                dev.size = pd.peer_size
            if me["disk"] != "Diskless" and peer["disk"] != "Diskless":
                self.log_pd(pd, "drbd_sync_handshake:")
                self.log_pd(pd, self._uuid_line("self", me))
                self.log_pd(pd, self._uuid_line("peer", peer))
                decider = self.node_id < conn.node_id
                strategy, rule = handshake.names(int(msg["raw"]), int(msg["rule"]), decider)
                self.log_pd(pd, f"uuid_compare()={strategy} by rule={rule}")
        if need_device:
            self._ensure_block_device(dev)
        if msg.get("initial_sb"):
            self.call_helper("initial-split-brain", conn, dev)
        with self.lock:
            for level, text in msg["notes"]:
                if "unresolved" in text:
                    continue
                self.log_pd(pd, text, level)
        outcome = msg["outcome"]
        if outcome in ("splitbrain", "unrelated", "drop"):
            if outcome == "splitbrain":
                self.log_pd(
                    pd, "Split-Brain detected but unresolved, dropping connection!", klog.KERN_ALERT
                )
                self.call_helper("split-brain", conn, dev)
            self._handshake_failed(conn, gen)
            return
        with self.lock:
            if conn.gen != gen:
                return
            conn.discard = False
            before = self._disks()
            self._apply_sync_outcome(conn, pd, dev, msg, bitmap)
            self._disk_changed_by(conn, before)

    def _uuid_line(self, who: str, info: dict[str, Any]) -> str:
        hist = [*info.get("hist", []), 0, 0][:2]
        flags = 0x120 if info.get("role") != "Primary" else 0x121
        return (
            f"{who} {hexuuid(info.get('cu', 0))}:{hexuuid(info.get('bu', 0))}:"
            f"{hexuuid(hist[0])}:{hexuuid(hist[1])} bits:{info.get('bits', 0)} flags:{flags:X}"
        )

    def _handshake_failed(self, conn: Connection, gen: int) -> None:
        with self.lock:
            if conn.gen != gen:
                return
            conn.want = False
            conn.cstate = "Disconnecting"
            conn.peer_role = "Unknown"
            self._peers_lost(conn, False)
            self.commit()
            self.log_conn(conn, "Terminating sender thread")
            self.log_conn(
                conn, f"Starting sender thread (from drbd_r_{self.name[:8]} [{os.getpid()}])"
            )
            self._close_wire(conn)
            self.commit()
            self.log_conn(conn, "Connection closed")
        self.call_helper("disconnected", conn)
        with self.lock:
            conn.cstate = "StandAlone"
            self.commit()
            self.log_conn(conn, "Terminating receiver thread")

    def _apply_sync_outcome(
        self, conn: Connection, pd: PeerDevice, dev: Device, msg: dict[str, Any], bitmap: bytes
    ) -> None:
        me, peer = msg["me"], msg["peer"]
        hg = int(msg["hg"])
        m = dev.meta
        pd.peer_client = bool(peer.get("client"))
        if conn.cstate == "Connecting":
            tid = int(msg.get("twopc") or 0)
            if self.node_id < conn.node_id and conn.hs_twopc is not None:
                tid, t0 = conn.hs_twopc
                primaries = (1 << self.node_id if self.role == "Primary" else 0) | (
                    1 << conn.node_id if conn.pending_role == "Primary" else 0
                )
                self.log_res(f"State change {tid}: primary_nodes={primaries:X}, weak_nodes=0")
                self.log_res(
                    f"Committing cluster-wide state change {tid} "
                    f"({int((time.monotonic() - t0) * 1000)}ms)"
                )
            else:
                self.log_conn(conn, f"Preparing remote state change {tid}")
                self.log_conn(
                    conn,
                    f"Committing remote state change {tid} (primary_nodes="
                    f"{1 << conn.node_id if conn.pending_role == 'Primary' else 0:X})",
                )
            conn.hs_twopc = None
            conn.cstate = "Connected"
            conn.peer_role = conn.pending_role
        if me["disk"] == "Diskless" or peer["disk"] == "Diskless":
            pd.pdsk = peer["disk"] if peer["disk"] != "Consistent" else "UpToDate"
            if peer["disk"] == "Outdated":
                pd.pdsk = "Outdated"
            pd.repl = "Established"
            if (
                peer["disk"] == "Diskless"
                and dev.disk == "UpToDate"
                and m is not None
                and not m.peer(conn.node_id).get("bitmap_uuid")
            ):
                m.set_peer(conn.node_id, bitmap_uuid=int(m.sb["current_uuid"]))
                m.write_superblock()
            self.commit()
            return
        if hg == 0:
            up = ("Consistent", "Outdated", "UpToDate")
            if dev.disk in up:
                dev.disk = "UpToDate"
            pd.pdsk = "UpToDate" if peer["disk"] in up else peer["disk"]
            pd.repl = "Established"
            if m is not None and dev.disk == "UpToDate":
                m.sb.update(
                    consistent=True, outdated=False, was_up_to_date=True, crashed_primary=False
                )
                if (
                    pd.pdsk == "UpToDate"
                    and int(me.get("cu", 0)) & ~1 == int(peer.get("cu", 0)) & ~1
                    and m.count(conn.node_id)
                ):
                    # Both UpToDate in the same data generation: what this bitmap still marks
                    # for the peer was synced to it by a third node (DRBD 9 clears such bits
                    # when the sync source reports them in sync, P_PEERS_IN_SYNC). Only
                    # happens with three or more nodes.
                    m.clear_all(conn.node_id)
                info = m.peer(conn.node_id)
                if info.get("bitmap_uuid") and m.count(conn.node_id) == 0:
                    self._history_push(m, int(info["bitmap_uuid"]))
                    m.set_peer(conn.node_id, bitmap_uuid=0)
                m.set_peer(conn.node_id, outdated=False, seen=True)
                m.write_superblock()
            self.commit()
            return
        # resync
        if m is None:
            return
        if msg.get("full"):
            m.set_all(conn.node_id)
        elif bitmap:
            m.merge(conn.node_id, bitmap)
        m.set_peer(conn.node_id, seen=True)
        if hg > 0:
            if dev.disk in ("Consistent", "Outdated"):
                dev.disk = "UpToDate"
            pd.pdsk = "Outdated" if peer["disk"] == "Outdated" else "Consistent"
            if peer["disk"] == "Inconsistent":
                pd.pdsk = "Inconsistent"
            pd.repl = "WFBitMapS"
            if not m.peer(conn.node_id).get("bitmap_uuid"):
                m.set_peer(conn.node_id, bitmap_uuid=int(m.sb["current_uuid"]))
            m.sb.update(crashed_primary=False)
            m.write_superblock()
            self.commit()
            nbytes = len(bitmap)
            self.log_pd(
                pd,
                f"send bitmap stats [Bytes(packets)]: plain 0(0), RLE {min(nbytes, 23)}(1), "
                f"total {min(nbytes, 23)}; compression: 100.0%",
            )
            self._begin_resync(conn, pd, dev, source=True)
        else:
            pd.pdsk = "UpToDate"
            pd.repl = "WFBitMapT"
            dev.disk = "Inconsistent"
            m.sb.update(consistent=False, crashed_primary=False)
            m.write_superblock()
            self.commit()
            self.log_pd(
                pd,
                "receive bitmap stats [Bytes(packets)]: plain 0(0), RLE 23(1), "
                "total 23; compression: 100.0%",
            )
            self._begin_resync(conn, pd, dev, source=False)

    def _history_push(self, m: metamod.Meta, uuid: int) -> None:
        hist = [int(h) for h in m.sb["history"]]
        if uuid and uuid not in hist:
            m.sb["history"] = [uuid, *hist][:2]

    # -- resync -----------------------------------------------------------------------------

    def _begin_resync(self, conn: Connection, pd: PeerDevice, dev: Device, source: bool) -> None:
        m = dev.meta
        bits = m.count(conn.node_id) if m is not None else 0
        pd.rs_gen += 1
        gen = pd.rs_gen
        pd.rs_done_early = None
        pd.rs_total = bits * 8
        pd.rs_start = time.monotonic()
        pd.rs_marks = [(pd.rs_start, bits * 8)]
        helper = "before-resync-source" if source else "before-resync-target"
        threading.Thread(
            target=self._resync_run, args=(conn, pd, dev, source, gen, helper, bits), daemon=True
        ).start()

    def _resync_run(
        self,
        conn: Connection,
        pd: PeerDevice,
        dev: Device,
        source: bool,
        gen: int,
        helper: str,
        bits: int,
    ) -> None:
        self.call_helper(helper, conn, dev)
        with self.lock:
            if pd.rs_gen != gen:
                return
            if source:
                pd.pdsk = "Inconsistent"
                pd.repl = "SyncSource"
            else:
                pd.repl = "SyncTarget"
            self.commit()
            what = "SyncSource" if source else "SyncTarget"
            self.log_pd(pd, f"Began resync as {what} (will sync {bits * 4} KB [{bits} bits set]).")
            self._progress_thread(pd, gen)
            early, pd.rs_done_early = pd.rs_done_early, None
        if source:
            self._resync_source(conn, pd, dev, gen)
        elif early is not None:
            # the source had nothing (or little) to send and finished while this side still
            # ran its before-resync-target helper: finish now, in DRBD's order
            self._on_rs_done(conn, pd.vnr, early)

    def _progress_thread(self, pd: PeerDevice, gen: int) -> None:
        def run() -> None:
            while True:
                time.sleep(1.0)
                with self.lock:
                    if pd.rs_gen != gen or pd.repl not in SYNC_STATES:
                        return
                    dev = self.devices[pd.vnr]
                    oos = dev.meta.count(pd.conn.node_id) * 8 if dev.meta else 0
                    pd.rs_marks.append((time.monotonic(), oos))
                    pd.rs_marks = pd.rs_marks[-10:]
                    self.commit(force=(("pd", pd.conn.node_id, pd.vnr),))

        threading.Thread(target=run, daemon=True).start()

    def _resync_source(self, conn: Connection, pd: PeerDevice, dev: Device, gen: int) -> None:
        m = dev.meta
        if m is None:
            return
        total = max(m.count(conn.node_id), 1)
        duration = env_float("DRBDSIM_RESYNC_SECONDS", 3.0)
        per_bit = duration / total
        chunk = max(1, min(RS_CHUNK_BITS, total // 12))
        start = time.monotonic()
        done_bits = 0
        cursor = 0
        while True:
            with self.lock:
                if pd.rs_gen != gen or conn.wire is None or dev.meta is None or dev.fd < 0:
                    return
                w = conn.wire
            bit = m.next_set(conn.node_id, cursor)
            if bit < 0:
                bit = m.next_set(conn.node_id, 0)
                if bit < 0:
                    break
            run = 1
            while run < chunk and bit + run < m.bits and m.test(conn.node_id, bit + run):
                run += 1
            offset = bit * BLOCK
            length = min(run * BLOCK, dev.size - offset)
            with dev.issue_lock:
                try:
                    data = os.pread(dev.fd, length, offset)
                except OSError:
                    self.disk_failed(dev)
                    return
                with self.lock:
                    seq = conn.next_seq()
                    ev = threading.Event()
                    conn.waiters[seq] = [ev, None]
                try:
                    w.send(wire.RS_DATA, dev.vnr, seq, offset, data)
                except wire.Closed:
                    return
                pd.sent += len(data) // SECTOR
            if not self.wait_ack(conn, ev):
                return
            with self.lock:
                res = conn.waiters.pop(seq, [None, None])[1]
            if not res or not res.get("ok"):
                return
            m.mark_bits(conn.node_id, bit, bit + run - 1, False)
            done_bits += run
            cursor = bit + run
            target = start + done_bits * per_bit
            while time.monotonic() < target:
                time.sleep(min(target - time.monotonic(), 0.25))
                with self.lock:
                    if pd.rs_gen != gen:
                        return
        self._finish_resync_source(conn, pd, dev, gen, start)

    def _finish_resync_source(
        self, conn: Connection, pd: PeerDevice, dev: Device, gen: int, start: float
    ) -> None:
        with self.lock:
            if pd.rs_gen != gen or conn.wire is None or dev.meta is None:
                return
            m = dev.meta
            secs = max(int(time.monotonic() - start), 0)
            kb = pd.rs_total // 2
            self.log_pd(
                pd, f"Resync done (total {secs} sec; paused 0 sec; {kb // max(secs, 1)} K/sec)"
            )
            info = m.peer(conn.node_id)
            if info.get("bitmap_uuid"):
                self._history_push(m, int(info["bitmap_uuid"]))
            m.set_peer(conn.node_id, bitmap_uuid=0, outdated=False)
            m.write_superblock()
            self.log_pd(
                pd,
                f"updated UUIDs {hexuuid(m.sb['current_uuid'])}:0000000000000000:"
                f"{hexuuid(m.sb['history'][0])}:{hexuuid(m.sb['history'][1])}",
            )
            pd.rs_total = 0
            pd.repl = "Established"
            pd.pdsk = "UpToDate"
            self.commit()
            with contextlib.suppress(wire.Closed):
                conn.wire.send_json(
                    wire.RS_DONE,
                    {"cu": int(m.sb["current_uuid"]), "hist": m.sb["history"]},
                    vnr=dev.vnr,
                )

    def _on_rs_done(self, conn: Connection, vnr: int, info: dict[str, Any]) -> None:
        with self.lock:
            pd = conn.peer_devices[vnr]
            dev = self.devices[vnr]
            m = dev.meta
            if m is None or pd.repl not in (*SYNC_STATES, "WFBitMapT"):
                return
            if pd.repl == "WFBitMapT":
                # still in before-resync-target: DRBD's target drives the resync (it requests
                # the blocks), so it is SyncTarget before the resync can be done
                pd.rs_done_early = info
                return
            pd.rs_gen += 1
            secs = max(int(time.monotonic() - pd.rs_start), 0)
            self.log_pd(
                pd,
                f"Resync done (total {secs} sec; paused 0 sec; "
                f"{pd.rs_total // 2 // max(secs, 1)} K/sec)",
            )
            old = int(m.sb["current_uuid"])
            if self.role != "Primary":
                m.sb["current_uuid"] = int(info["cu"])
                m.sb["history"] = [int(h) for h in info.get("hist", [0, 0])][:2]
                if old not in m.sb["history"] and old != UUID_JUST_CREATED:
                    self._history_push(m, old)
            m.clear_all(conn.node_id)
            m.set_peer(conn.node_id, bitmap_uuid=0, outdated=False)
            m.sb.update(consistent=True, outdated=False, was_up_to_date=True)
            m.write_superblock()
            pd.rs_total = 0
            pd.repl = "Established"
            before = self._disks()
            dev.disk = "UpToDate"
            self.commit()
            self._disk_changed_by(conn, before)
        self.call_helper("after-resync-target", conn, dev)

    # -- peer state / 2pc / uuids -----------------------------------------------------------

    def _broadcast_peer_state(self, skip: Connection | None = None) -> None:
        """Tell every connected peer (but ``skip``) our role and disk states."""
        disks = {str(v): d.disk for v, d in self.devices.items()}
        for conn in self.connections.values():
            if conn is not skip and conn.wire is not None and conn.cstate == "Connected":
                with contextlib.suppress(wire.Closed):
                    conn.wire.send_json(wire.PEER_STATE, {"role": self.role, "disks": disks})

    def _disk_changed_by(self, conn: Connection, before: dict[int, str]) -> None:
        """A handshake, resync or UUID message from ``conn`` changed a local disk state: like
        every DRBD 9 state change, the other peers learn it too (``conn`` took part in it
        and knows already). Only matters with three or more nodes. Call with the lock held."""
        if any(before.get(vnr) != dev.disk for vnr, dev in self.devices.items()):
            self._broadcast_peer_state(skip=conn)

    def _disks(self) -> dict[int, str]:
        return {vnr: dev.disk for vnr, dev in self.devices.items()}

    def _on_peer_state(self, conn: Connection, msg: dict[str, Any]) -> None:
        with self.lock:
            conn.peer_role = msg.get("role", conn.peer_role)
            for key, disk in msg.get("disks", {}).items():
                pd = conn.peer_devices.get(int(key))
                if pd is None or pd.repl == "Off":
                    continue
                dev = self.devices[pd.vnr]
                if disk == "Diskless" and pd.pdsk != "Diskless":
                    if (
                        dev.disk == "UpToDate"
                        and dev.meta is not None
                        and not dev.meta.peer(conn.node_id).get("bitmap_uuid")
                    ):
                        self._new_current_uuid(dev, [conn.node_id])
                    pd.repl = "Established"
                    pd.rs_gen += 1
                    pd.rs_total = 0
                if pd.repl in SYNC_STATES and disk in ("Inconsistent", "UpToDate"):
                    continue  # the resync owns these transitions
                pd.pdsk = disk if disk not in ("Consistent",) else "UpToDate"
            self.commit()

    def _on_twopc(self, conn: Connection, seq: int, msg: dict[str, Any]) -> None:
        with self.lock:
            two = self.view.res.option("net", "allow-two-primaries", "no") == "yes"
            if (
                msg.get("role") == "Primary"
                and not two
                and (self.role == "Primary" or self.promoting)
            ):
                reply = {"ok": False, "rv": SS_TWO_PRIMARIES}
            else:
                reply = {"ok": True}
                self.log_conn(conn, f"Preparing remote state change {msg['id']}")
                self.log_conn(
                    conn,
                    f"Committing remote state change {msg['id']} "
                    f"(primary_nodes={1 << conn.node_id if msg['role'] == 'Primary' else 0:X})",
                )
                conn.peer_role = msg["role"]
                self.commit()
            w = conn.wire
        if w is not None:
            with contextlib.suppress(wire.Closed):
                w.send_json(wire.TWOPC_REPLY, reply, seq=seq)

    def op_new_current_uuid(self, vnr: int | None, clear_bitmap: bool) -> None:
        """drbdsetup new-current-uuid [--clear-bitmap]."""
        with self.lock:
            devs = [self.devices[vnr]] if vnr is not None else list(self.devices.values())
            for dev in devs:
                m = dev.meta
                if m is None:
                    raise self._state_error(SS_IS_DISKLESS)
                if clear_bitmap:
                    m.sb["current_uuid"] = metamod.new_uuid()
                    for conn in self.connections.values():
                        m.clear_all(conn.node_id)
                        m.set_peer(conn.node_id, bitmap_uuid=0)
                    if dev.disk in ("Inconsistent", "Consistent", "Outdated"):
                        dev.disk = "UpToDate"
                    m.sb.update(consistent=True, outdated=False, was_up_to_date=True)
                    m.write_superblock()
                    self.log_dev(
                        dev,
                        f"new current UUID: {hexuuid(m.sb['current_uuid'])} weak: "
                        f"{(~(1 << self.node_id)) & 0xFFFFFFFFFFFFFFFF:X}",
                    )
                    for conn in self.connections.values():
                        if conn.cstate == "Connected" and conn.wire is not None:
                            pd = conn.peer_devices[dev.vnr]
                            with contextlib.suppress(wire.Closed):
                                conn.wire.send_json(
                                    wire.NEW_UUID,
                                    {"cu": int(m.sb["current_uuid"]), "clear": True},
                                    vnr=dev.vnr,
                                )
                            if pd.pdsk in ("Inconsistent", "Consistent", "Outdated"):
                                pd.pdsk = "UpToDate"
                else:
                    self._new_current_uuid(dev, [c.node_id for c in self.connections.values()])
            self.commit()

    def _on_new_uuid(self, conn: Connection, vnr: int, msg: dict[str, Any]) -> None:
        if not msg.get("clear"):
            self._adopt_new_uuid(conn, vnr, msg)
            return
        with self.lock:
            dev = self.devices.get(vnr)
            if dev is None or dev.meta is None:
                return
            m = dev.meta
            adopt = int(m.sb["current_uuid"]) == UUID_JUST_CREATED or dev.disk in (
                "Inconsistent",
                "Consistent",
                "Outdated",
            )
            before = self._disks()
            if msg.get("clear") and adopt:
                # skip initial sync: the whole bitmap is cleared (every peer's slot)
                m.sb["current_uuid"] = int(msg["cu"])
                for other in self.connections.values():
                    m.clear_all(other.node_id)
                m.set_peer(conn.node_id, bitmap_uuid=0)
                m.sb.update(consistent=True, outdated=False, was_up_to_date=True)
                m.write_superblock()
                dev.disk = "UpToDate"
            conn.peer_devices[vnr].pdsk = "UpToDate"
            self.commit()
            self._disk_changed_by(conn, before)

    def _adopt_new_uuid(self, conn: Connection, vnr: int, msg: dict[str, Any]) -> None:
        """A connected peer (the Primary) started a new data generation because it lost the
        ``weak`` peers: an UpToDate Secondary that receives its writes takes the new current
        UUID over and keeps the old one as bitmap UUID for those weak peers it is not
        connected to either (it tracks their out-of-sync blocks too). Then a weak node that
        comes back resyncs from it by bitmap, or not at all when it already caught up."""
        with self.lock:
            dev = self.devices.get(vnr)
            m = dev.meta if dev is not None else None
            weak = [int(n) for n in msg.get("weak", [])]
            if (
                dev is None
                or m is None
                or dev.disk != "UpToDate"
                or self.role == "Primary"
                or self.node_id in weak
            ):
                return
            old, new = int(m.sb["current_uuid"]), int(msg["cu"])
            if old & ~1 == new & ~1:
                return
            for nid in weak:
                other = self.connections.get(nid)
                if other is not None and other.cstate == "Connected":
                    continue
                if nid in self.connections and not m.peer(nid).get("bitmap_uuid"):
                    m.set_peer(nid, bitmap_uuid=old)
            m.sb["current_uuid"] = new
            m.write_superblock()

    def op_outdate(self) -> None:
        """drbdsetup outdate."""
        with self.lock:
            for dev in self.devices.values():
                if dev.disk in ("Inconsistent", "Diskless", "Failed"):
                    raise self._state_error(SS_LOWER_THAN_OUTDATED)
                if any(c.cstate == "Connected" for c in self.connections.values()):
                    raise self._state_error(SS_CONNECTED_OUTDATES)
            self._outdate_self()
            self.commit()

    # -- detach / adjust / down -------------------------------------------------------------

    def op_detach(self, vnr: int | None) -> None:
        """drbdsetup detach."""
        with self.lock:
            devs = [self.devices[vnr]] if vnr is not None else list(self.devices.values())
            for dev in devs:
                if dev.disk == "Diskless":
                    continue
                if self.role == "Primary" and not any(
                    c.cstate == "Connected" and c.peer_devices[dev.vnr].pdsk == "UpToDate"
                    for c in self.connections.values()
                ):
                    raise self._state_error(SS_NO_UP_TO_DATE_DISK)
                self._detach_locked(dev, failed=False)

    def op_adjust(self, cli_pid: int) -> None:
        """drbdadm adjust: re-read the config, attach missing disks, connect StandAlone peers."""
        with self.lock:
            self.view = self._load_view()
            if not self.devices:
                raise OpError(-1, "down")
            missing = [
                d.vnr for d in self.devices.values() if d.disk == "Diskless" and not d.client
            ]
            standalone = [c.node_id for c in self.connections.values() if c.cstate == "StandAlone"]
        for vnr in missing:
            self.op_attach(vnr)
        for nid in standalone:
            self.op_connect(nid, False, cli_pid)

    def op_down(self) -> None:
        """drbdsetup down: secondary, disconnect, detach, remove the device."""
        self.op_secondary()
        for conn in list(self.connections.values()):
            self._disconnect(conn)
        with self.lock:
            for dev in self.devices.values():
                if dev.disk != "Diskless":
                    self._detach_locked(dev, failed=False)
                self.log_dev(dev, "drbd_bm_resize called with capacity == 0")
            self.stopping = True
            if self.listener is not None:
                with contextlib.suppress(OSError):
                    self.listener.close()
            devs = list(self.devices.values())
        for dev in devs:
            self._teardown_block_device(dev)
        with self.lock:
            self.log_res("Terminating worker thread")
            self._emit({"type": "destroy"})
            self.destroyed.set()

    # -- replication data path --------------------------------------------------------------

    def _on_data(self, conn: Connection, f: wire.Frame, resync: bool) -> None:
        dev = self.devices.get(f.vnr)
        ok = True
        if dev is None:
            return
        with self.lock:
            pd = conn.peer_devices[f.vnr]
            pd.received += f.length // SECTOR
            fd = dev.fd
            m = dev.meta
        if fd >= 0 and m is not None:
            try:
                self.check_disk()
                os.pwrite(fd, f.payload, f.offset)
                full_first = (f.offset + BLOCK - 1) // BLOCK
                full_last = (f.offset + f.length) // BLOCK - 1
                if pd.pdsk == "Diskless":  # the sender has no disk: it lacks this data
                    m.mark(conn.node_id, f.offset, f.length, True)
                elif full_last >= full_first:
                    m.mark_bits(conn.node_id, full_first, full_last, False)
                with self.lock:
                    others = [c for c in self.connections.values() if c is not conn]
                for other in others:
                    opd = other.peer_devices[f.vnr]
                    if other.cstate != "Connected" or opd.pdsk in ("Diskless", "DUnknown"):
                        m.mark(other.node_id, f.offset, f.length, True)
            except OSError:
                ok = False
                self.disk_failed(dev)
        else:
            ok = False
        self._reply(conn, wire.RS_ACK if resync else wire.DATA_ACK, f.seq, ok, f.vnr)

    def _on_discard(self, conn: Connection, f: wire.Frame) -> None:
        dev = self.devices.get(f.vnr)
        info = f.json()
        ok = False
        if dev is not None and dev.fd >= 0:
            try:
                zero_range(dev.fd, int(info["offset"]), int(info["length"]))
                ok = True
            except OSError:
                self.disk_failed(dev)
        self._reply(conn, wire.DATA_ACK, f.seq, ok, f.vnr)

    def _on_flush(self, conn: Connection, f: wire.Frame) -> None:
        dev = self.devices.get(f.vnr)
        ok = True
        if dev is not None and dev.fd >= 0:
            try:
                os.fdatasync(dev.fd)
            except OSError:
                ok = False
        self._reply(conn, wire.FLUSH_ACK, f.seq, ok, f.vnr)

    def _on_read_req(self, conn: Connection, f: wire.Frame) -> None:
        dev = self.devices.get(f.vnr)
        length = int(f.json()["length"])
        data = b""
        if dev is not None and dev.fd >= 0:
            try:
                data = os.pread(dev.fd, length, f.offset)
            except OSError:
                self.disk_failed(dev)
        w = conn.wire
        if w is not None:
            with contextlib.suppress(wire.Closed):
                w.send(wire.READ_REPLY, f.vnr, f.seq, f.offset, data)


def zero_range(fd: int, offset: int, length: int) -> None:
    """Zero a range of a block device (punch hole; falls back to writing zeros)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    mode = fuse.FALLOC_FL_PUNCH_HOLE | fuse.FALLOC_FL_KEEP_SIZE
    rc = libc.fallocate(fd, mode, ctypes.c_long(offset), ctypes.c_long(length))
    if rc == 0:
        return
    chunk = bytes(1 << 20)
    end = offset + length
    pos = offset
    while pos < end:
        n = min(len(chunk), end - pos)
        os.pwrite(fd, chunk[:n], pos)
        pos += n


class DeviceIO:
    """FUSE handler of /dev/drbdN: routes I/O to the local disk and the peers."""

    def __init__(self, kernel: Kernel, dev: Device) -> None:
        """Bind to one device."""
        self.k = kernel
        self.dev = dev

    def _targets(self) -> list[Connection]:
        return [
            c
            for c in self.k.connections.values()
            if c.cstate == "Connected"
            and c.wire is not None
            and c.peer_devices[self.dev.vnr].pdsk in DISKFUL
            and c.peer_devices[self.dev.vnr].repl in REPLICATING
        ]

    def _check_primary(self) -> None:
        if self.k.role != "Primary":
            raise OSError(errno.EMEDIUMTYPE, "not primary")
        on_no_quorum = self.k.view.res.option("options", "on-no-quorum", "suspend-io")
        if not self.dev.quorum and on_no_quorum == "io-error":
            raise OSError(errno.EIO, "no quorum")

    def read(self, offset: int, size: int) -> bytes:
        """Read from the local disk when it has good data, else from an UpToDate peer."""
        dev = self.dev
        with self.k.lock:
            self._check_primary()
            local = dev.fd >= 0 and dev.disk == "UpToDate"
            if not local and dev.fd >= 0 and dev.disk == "Inconsistent" and dev.meta is not None:
                sources = [
                    c
                    for c in self.k.connections.values()
                    if c.peer_devices[dev.vnr].repl == "SyncTarget"
                ]
                local = all(not dev.meta.any_set(c.node_id, offset, size) for c in sources)
            peers = [c for c in self._targets() if c.peer_devices[dev.vnr].pdsk == "UpToDate"]
        dev.read_sect += size // SECTOR
        if local:
            try:
                self.k.check_disk()
                data = os.pread(dev.fd, size, offset)
                if len(data) == size:
                    return data
            except OSError:
                self.k.disk_failed(dev)
        for conn in peers:
            remote = self._remote_read(conn, offset, size)
            if remote is not None and len(remote) == size:
                return remote
        raise OSError(errno.EIO, "no accessible data")

    def _remote_read(self, conn: Connection, offset: int, size: int) -> bytes | None:
        with self.k.lock:
            w = conn.wire
            if w is None:
                return None
            seq = conn.next_seq()
            ev = threading.Event()
            conn.waiters[seq] = [ev, None]
        try:
            w.send_json(wire.READ_REQ, {"length": size}, vnr=self.dev.vnr, seq=seq)
            w_ok = True
        except wire.Closed:
            w_ok = False
        if w_ok:
            self.k.wait_ack(conn, ev)
        with self.k.lock:
            res = conn.waiters.pop(seq, [None, None])[1]
        if res and res.get("ok"):
            return bytes(res["data"])
        return None

    def write(self, offset: int, data: bytes) -> None:
        """Protocol C write: local disk + every replicating peer, bitmap for the others."""
        dev = self.dev
        k = self.k
        length = len(data)
        with k.lock:
            self._check_primary()
            local = dev.fd >= 0 and dev.disk in ("UpToDate", "Inconsistent")
            targets = self._targets()
            others = [c for c in k.connections.values() if c not in targets]
            if not local and not any(c.peer_devices[dev.vnr].pdsk == "UpToDate" for c in targets):
                raise OSError(errno.EIO, "no accessible data")
            dev.upper_pending += 1
        waiters = []
        try:
            with dev.issue_lock:
                if local:
                    try:
                        k.check_disk()
                        if dev.meta is not None:
                            dev.meta.al_touch(offset, length)
                        os.pwrite(dev.fd, data, offset)
                    except OSError:
                        local = False
                        k.disk_failed(dev)
                for conn in targets:
                    with k.lock:
                        w = conn.wire
                        if w is None:
                            continue
                        seq = conn.next_seq()
                        ev = threading.Event()
                        conn.waiters[seq] = [ev, None]
                        conn.peer_devices[dev.vnr].pending += 1
                    try:
                        w.send(wire.DATA, dev.vnr, seq, offset, data)
                        conn.peer_devices[dev.vnr].sent += length // SECTOR
                        waiters.append((conn, seq, ev))
                    except wire.Closed:
                        with k.lock:
                            conn.waiters.pop(seq, None)
                            conn.peer_devices[dev.vnr].pending -= 1
                        others.append(conn)
            acked = []
            for conn, seq, ev in waiters:
                k.wait_ack(conn, ev)
                with k.lock:
                    res = conn.waiters.pop(seq, [None, None])[1]
                    conn.peer_devices[dev.vnr].pending = max(
                        0, conn.peer_devices[dev.vnr].pending - 1
                    )
                if res and res.get("ok"):
                    acked.append(conn)
                else:
                    others.append(conn)
            dev.write_sect += length // SECTOR
            m = dev.meta
            if local and m is not None:
                full_first = (offset + BLOCK - 1) // BLOCK
                full_last = (offset + length) // BLOCK - 1
                for conn in acked:
                    if full_last >= full_first:
                        m.mark_bits(conn.node_id, full_first, full_last, False)
                for conn in others:
                    m.mark(conn.node_id, offset, length, True)
            if not local and not acked:
                raise OSError(errno.EIO, "write failed everywhere")
        finally:
            dev.upper_pending -= 1

    def flush(self) -> None:
        """fsync: local fdatasync plus a flush on every replicating peer."""
        dev = self.dev
        with self.k.lock:
            if self.k.role != "Primary":
                return  # nothing written here (loop_configure fsyncs the file at attach)
            targets = self._targets()
            fd = dev.fd
        if fd >= 0:
            try:
                os.fdatasync(fd)
            except OSError:
                self.k.disk_failed(dev)
        waiters = []
        for conn in targets:
            with self.k.lock:
                w = conn.wire
                if w is None:
                    continue
                seq = conn.next_seq()
                ev = threading.Event()
                conn.waiters[seq] = [ev, None]
            try:
                w.send(wire.FLUSH, dev.vnr, seq)
                waiters.append((conn, seq, ev))
            except wire.Closed:
                with self.k.lock:
                    conn.waiters.pop(seq, None)
        for conn, seq, ev in waiters:
            self.k.wait_ack(conn, ev)
            with self.k.lock:
                conn.waiters.pop(seq, None)

    def discard(self, offset: int, length: int) -> None:
        """TRIM: zero the range locally and on the peers (replicated like a write)."""
        dev = self.dev
        k = self.k
        with k.lock:
            self._check_primary()
            local = dev.fd >= 0 and dev.disk in ("UpToDate", "Inconsistent")
            targets = self._targets()
            others = [c for c in k.connections.values() if c not in targets]
        waiters = []
        with dev.issue_lock:
            if local:
                try:
                    zero_range(dev.fd, offset, length)
                except OSError:
                    local = False
                    k.disk_failed(dev)
            for conn in targets:
                with k.lock:
                    w = conn.wire
                    if w is None:
                        continue
                    seq = conn.next_seq()
                    ev = threading.Event()
                    conn.waiters[seq] = [ev, None]
                try:
                    w.send_json(
                        wire.DISCARD, {"offset": offset, "length": length}, vnr=dev.vnr, seq=seq
                    )
                    waiters.append((conn, seq, ev))
                except wire.Closed:
                    others.append(conn)
        for conn, seq, ev in waiters:
            k.wait_ack(conn, ev)
            with k.lock:
                res = conn.waiters.pop(seq, [None, None])[1]
            if not (res and res.get("ok")):
                others.append(conn)
        if local and dev.meta is not None:
            for conn in others:
                dev.meta.mark(conn.node_id, offset, length, True)
