"""Loop devices and block-device helpers via ioctl (no losetup: the node's /dev is private)."""
# ruff: noqa: PTH103, PTH108, PTH116, PTH118, PTH120, PTH123, PTH208
# (os-level code: file descriptors, device nodes and syscalls; stdlib on Debian's python3)

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import struct
import time

LOOP_MAJOR = 7
LOOP_SET_FD = 0x4C00
LOOP_CLR_FD = 0x4C01
LOOP_SET_STATUS64 = 0x4C04
LOOP_CONFIGURE = 0x4C0A
LOOP_CTL_GET_FREE = 0x4C82
LO_FLAGS_READ_ONLY = 1
LO_FLAGS_AUTOCLEAR = 4
BLKROSET = 0x125D
BLKFLSBUF = 0x1261
BLKGETSIZE64 = 0x80081272

# struct loop_info64: 5 u64, 4 u32, name[64], crypt_name[64], key[32], 2 u64 = 232 bytes
LOOP_INFO64 = struct.Struct("<QQQQQIIII64s64s32sQQ")


def ensure_node(path: str, kind: int, major: int, minor: int) -> str:
    """Create a device node (block or char) unless an identical one exists."""
    try:
        st = os.stat(path)
        if stat.S_IFMT(st.st_mode) == kind and st.st_rdev == os.makedev(major, minor):
            return path
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.mknod(path, 0o660 | kind, os.makedev(major, minor))
    return path


def dev_is_host_devtmpfs() -> bool:
    """True when /dev is the host's devtmpfs (creating nodes there would leak to the host)."""
    last = ""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as fh:
            for line in fh:
                left, _, right = line.partition(" - ")
                if left.split()[4] == "/dev":
                    last = right.split()[0]
    except OSError:
        return False
    return last == "devtmpfs"


def _loop_control(private_dir: str) -> int:
    for path in ("/dev/loop-control", os.path.join(private_dir, "loop-control")):
        with contextlib.suppress(FileNotFoundError):
            return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    path = ensure_node(os.path.join(private_dir, "loop-control"), stat.S_IFCHR, 10, 237)
    return os.open(path, os.O_RDWR | os.O_CLOEXEC)


def attach(backing: str, devdir: str, private_dir: str) -> tuple[int, str, int]:
    """Attach ``backing`` to a free loop device with autoclear.

    Returns ``(loop_minor, node_path, fd)``; the caller keeps ``fd`` open: with autoclear the
    loop device goes away by itself once the last opener (including this fd) is gone.
    """
    ctl = _loop_control(private_dir)
    try:
        for _ in range(20):
            minor = fcntl.ioctl(ctl, LOOP_CTL_GET_FREE)
            node = ensure_node(
                os.path.join(devdir, f"loop{minor}"), stat.S_IFBLK, LOOP_MAJOR, minor
            )
            devfd = os.open(node, os.O_RDWR | os.O_CLOEXEC)
            bfd = os.open(backing, os.O_RDWR | os.O_CLOEXEC)
            try:
                name = backing.encode()[:63]
                info = LOOP_INFO64.pack(
                    0, 0, 0, 0, 0, 0, 0, 0, LO_FLAGS_AUTOCLEAR, name, b"", b"", 0, 0
                )
                cfg = struct.pack("<II", bfd, 0) + info + bytes(64)
                fcntl.ioctl(devfd, LOOP_CONFIGURE, cfg)
            except OSError as exc:
                os.close(devfd)
                if exc.errno == errno.EBUSY:  # raced with another attach; try the next one
                    time.sleep(0.05)
                    continue
                raise
            finally:
                os.close(bfd)
            return minor, node, devfd
        raise OSError(errno.EBUSY, "no free loop device")
    finally:
        os.close(ctl)


def set_read_only(path: str, read_only: bool) -> None:
    """BLKROSET on a block device node (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, BLKROSET, struct.pack("i", 1 if read_only else 0))
        finally:
            os.close(fd)


def flush_buffers(path: str) -> None:
    """BLKFLSBUF: write back and drop the block device's buffer cache (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, BLKFLSBUF, 0)
        finally:
            os.close(fd)


def clear(fd: int) -> None:
    """LOOP_CLR_FD (sets autoclear when the device is still open elsewhere)."""
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, LOOP_CLR_FD)


def size_of(fd: int) -> int:
    """Size in bytes of an open block device or file."""
    try:
        buf = fcntl.ioctl(fd, BLKGETSIZE64, b"\0" * 8)
        return int(struct.unpack("<Q", buf)[0])
    except OSError:
        return os.fstat(fd).st_size


def in_use(node: str, rdev: int) -> bool:
    """Is the block device mounted or held open by another process?

    An exclusive open fails while it is mounted or claimed; other openers are found by
    scanning ``/proc/*/fd`` of the (node's) PID namespace.
    """
    try:
        fd = os.open(node, os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC)
        os.close(fd)
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            return True
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        fddir = f"/proc/{pid}/fd"
        try:
            names = os.listdir(fddir)
        except OSError:
            continue
        for name in names:
            with contextlib.suppress(OSError):
                st = os.stat(os.path.join(fddir, name))
                if stat.S_ISBLK(st.st_mode) and st.st_rdev == rdev:
                    return True
    return False
