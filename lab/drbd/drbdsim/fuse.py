"""A single-file FUSE file system spoken over the raw ``/dev/fuse`` protocol (no libfuse).

The mount point is a regular file and the FUSE root inode *is* that file (``rootmode=100600``),
so a loop device can be attached to it. Every open is ``FOPEN_DIRECT_IO``: the kernel keeps no
page cache for the file, each read/write of the loop device reaches the handler, and an
``fsync``/``fdatasync`` (a flush of the loop device) arrives as ``FUSE_FSYNC``.
"""
# ruff: noqa: PTH103, PTH110, PTH118, PTH123
# (os-level code: file descriptors, device nodes and syscalls; stdlib on Debian's python3)

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import struct
import threading
import time
from typing import Protocol

FUSE_LOOKUP = 1
FUSE_FORGET = 2
FUSE_GETATTR = 3
FUSE_SETATTR = 4
FUSE_OPEN = 14
FUSE_READ = 15
FUSE_WRITE = 16
FUSE_STATFS = 17
FUSE_RELEASE = 18
FUSE_FSYNC = 20
FUSE_FLUSH = 25
FUSE_INIT = 26
FUSE_ACCESS = 34
FUSE_INTERRUPT = 36
FUSE_DESTROY = 38
FUSE_BATCH_FORGET = 42
FUSE_FALLOCATE = 43

FUSE_ASYNC_READ = 1 << 0
FUSE_BIG_WRITES = 1 << 5
FUSE_MAX_PAGES = 1 << 22
FOPEN_DIRECT_IO = 1

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10

IN_HEADER = struct.Struct("<IIQQIIIHH")  # len opcode unique nodeid uid gid pid extlen pad
OUT_HEADER = struct.Struct("<IiQ")  # len error unique
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")
MAX_WRITE = 1 << 20
BUFSIZE = MAX_WRITE + 65536
MS_NOSUID = 2
MS_NODEV = 4
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


class Handler(Protocol):
    """What the file system asks of its owner (the DRBD device)."""

    def read(self, offset: int, size: int) -> bytes:
        """Return ``size`` bytes at ``offset`` or raise OSError."""

    def write(self, offset: int, data: bytes) -> None:
        """Store ``data`` durably per protocol C or raise OSError."""

    def flush(self) -> None:
        """Make every completed write stable (local and peers) or raise OSError."""

    def discard(self, offset: int, length: int) -> None:
        """Zero a range (a TRIM of the loop device) or raise OSError."""


def mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    """mount(2) via libc; raises OSError."""
    rc = _libc.mount(source.encode(), target.encode(), fstype.encode(), flags, data.encode())
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def umount(target: str, flags: int = MNT_DETACH) -> None:
    """umount2(2) via libc; errors are ignored (best effort at teardown)."""
    _libc.umount2(target.encode(), flags)


def open_fuse_device(private_dir: str) -> int:
    """Open /dev/fuse, creating a private node (c 10 229) when the node's /dev lacks one."""
    for path in ("/dev/fuse", os.path.join(private_dir, "fuse")):
        try:
            return os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
    path = os.path.join(private_dir, "fuse")
    os.makedirs(private_dir, exist_ok=True)
    os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(10, 229))
    return os.open(path, os.O_RDWR | os.O_CLOEXEC)


class FuseFile:
    """Serve ``handler`` as the regular file ``mountpoint`` of ``size`` bytes."""

    def __init__(
        self, mountpoint: str, size: int, handler: Handler, private_dir: str, threads: int = 4
    ) -> None:
        """Remember the parameters; nothing happens before ``start``."""
        self.mountpoint = mountpoint
        self.size = size
        self.handler = handler
        self.private_dir = private_dir
        self.nthreads = threads
        self.fd = -1
        self.threads: list[threading.Thread] = []
        self.stopping = False
        self.mtime = int(time.time())
        self.ready = threading.Event()

    def start(self) -> None:
        """Create the mount point file, mount the FUSE file system and start serving."""
        if not os.path.exists(self.mountpoint):
            with open(self.mountpoint, "wb"):
                pass
        self.fd = open_fuse_device(self.private_dir)
        opts = f"fd={self.fd},rootmode=100600,user_id=0,group_id=0,allow_other,max_read={MAX_WRITE}"
        mount("drbdsim", self.mountpoint, "fuse.drbdsim", MS_NOSUID | MS_NODEV, opts)
        for i in range(self.nthreads):
            t = threading.Thread(target=self._serve, name=f"fuse-{i}", daemon=True)
            t.start()
            self.threads.append(t)
        self.ready.wait(5)

    def stop(self) -> None:
        """Unmount (lazily) and stop serving."""
        self.stopping = True
        umount(self.mountpoint)
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1

    # -- protocol ---------------------------------------------------------------------------

    def _reply(self, unique: int, error: int = 0, payload: bytes = b"") -> None:
        data = OUT_HEADER.pack(OUT_HEADER.size + len(payload), -error, unique) + payload
        try:
            os.write(self.fd, data)
        except OSError as exc:  # ENOENT: request was interrupted/aborted meanwhile
            if exc.errno not in (errno.ENOENT, errno.ENODEV, errno.EBADF):
                raise

    def _attr(self) -> bytes:
        blocks = (self.size + 511) // 512
        return ATTR.pack(
            1,
            self.size,
            blocks,
            self.mtime,
            self.mtime,
            self.mtime,
            0,
            0,
            0,
            stat.S_IFREG | 0o600,
            1,
            0,
            0,
            0,
            4096,
            0,
        )

    def _attr_out(self) -> bytes:
        return struct.pack("<QII", 1, 0, 0) + self._attr()

    def _serve(self) -> None:
        while not self.stopping:
            try:
                buf = os.read(self.fd, BUFSIZE)
            except InterruptedError:
                continue
            except OSError as exc:
                if exc.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                    continue
                return  # ENODEV (unmounted) or EBADF (closed): done
            if len(buf) < IN_HEADER.size:
                continue
            _, opcode, unique, _, _, _, _, _, _ = IN_HEADER.unpack_from(buf)
            body = memoryview(buf)[IN_HEADER.size :]
            try:
                self._dispatch(opcode, unique, body)
            except OSError as exc:
                self._reply(unique, exc.errno or errno.EIO)
            except Exception:  # noqa: BLE001 - never let a bug kill the device
                self._reply(unique, errno.EIO)

    def _dispatch(self, opcode: int, unique: int, body: memoryview) -> None:
        if opcode == FUSE_WRITE:
            _, offset, size = struct.unpack_from("<QQI", body)
            self.handler.write(offset, bytes(body[40 : 40 + size]))
            self._reply(unique, 0, struct.pack("<II", size, 0))
        elif opcode == FUSE_READ:
            _, offset, size = struct.unpack_from("<QQI", body)
            size = max(0, min(size, self.size - offset))
            self._reply(unique, 0, self.handler.read(offset, size) if size else b"")
        elif opcode == FUSE_FSYNC:
            self.handler.flush()
            self._reply(unique)
        elif opcode in (FUSE_FLUSH, FUSE_RELEASE, FUSE_ACCESS):
            self._reply(unique)
        elif opcode == FUSE_FALLOCATE:
            _, offset, length, mode = struct.unpack_from("<QQQI", body)
            if not mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE):
                self._reply(unique, errno.EOPNOTSUPP)
                return
            end = min(offset + length, self.size)
            if end > offset:
                self.handler.discard(offset, end - offset)
            self._reply(unique)
        elif opcode in (FUSE_GETATTR, FUSE_SETATTR):
            self._reply(unique, 0, self._attr_out())
        elif opcode == FUSE_OPEN:
            self._reply(unique, 0, struct.pack("<QII", 1, FOPEN_DIRECT_IO, 0))
        elif opcode == FUSE_STATFS:
            blocks = self.size // 4096
            self._reply(
                unique, 0, struct.pack("<QQQQQIIII24x", blocks, 0, 0, 1, 0, 4096, 255, 4096, 0)
            )
        elif opcode == FUSE_INIT:
            major, minor, readahead, flags = struct.unpack_from("<IIII", body)
            del major, minor
            want = flags & (FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES)
            out = struct.pack(
                "<IIIIHHIIHHI", 7, 31, readahead, want, 16, 12, MAX_WRITE, 1, 256, 0, 0
            )
            self._reply(unique, 0, out.ljust(64, b"\0"))
            self.ready.set()
        elif opcode in (FUSE_FORGET, FUSE_BATCH_FORGET, FUSE_INTERRUPT):
            return  # no reply expected
        elif opcode == FUSE_DESTROY:
            self._reply(unique)
        elif opcode == FUSE_LOOKUP:
            self._reply(unique, errno.ENOENT)
        else:
            self._reply(unique, errno.ENOSYS)
