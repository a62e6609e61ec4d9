"""The node's simulated kernel ring buffer (what ``dmesg`` shows).

Records are appended to ``<run>/kmsg`` as ``<level>,<usec>;<text>`` lines, ``usec`` being
CLOCK_MONOTONIC microseconds (the clock printk uses, modulo suspend). The ``dmesg`` shim
prints them relative to the node's boot (the start of its PID 1).
"""
# ruff: noqa: PTH123
# (os-level code: file descriptors, device nodes and syscalls; stdlib on Debian's python3)

from __future__ import annotations

import os
import threading
import time

from . import paths

KERN_ALERT = 1
KERN_ERR = 3
KERN_WARNING = 4
KERN_NOTICE = 5
KERN_INFO = 6

_lock = threading.Lock()


def log(text: str, level: int = KERN_INFO) -> None:
    """Append one kernel message line (best effort, atomic O_APPEND write)."""
    usec = time.monotonic_ns() // 1000
    line = f"{level},{usec};{text}\n".encode(errors="replace")
    try:
        paths.ensure_run_dir()
        with _lock:
            fd = os.open(paths.kmsg_file(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
    except OSError:
        pass


def read_records(path: str | None = None) -> list[tuple[int, int, str]]:
    """All records as (level, usec, text)."""
    try:
        with open(path or paths.kmsg_file(), encoding="utf-8", errors="replace") as fh:
            data = fh.read()
    except OSError:
        return []
    out = []
    for line in data.splitlines():
        head, sep, text = line.partition(";")
        if not sep:
            continue
        level, _, usec = head.partition(",")
        try:
            out.append((int(level), int(usec), text))
        except ValueError:
            continue
    return out


def boot_usec() -> int:
    """CLOCK_MONOTONIC time (usec) at which this PID namespace's init started."""
    try:
        with open("/proc/1/stat", encoding="utf-8") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        ticks = int(fields[19])
        return ticks * 1_000_000 // os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0
