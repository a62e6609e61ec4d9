"""``dmesg`` shim: the node's simulated kernel ring buffer (DRBD's kernel messages).

Timestamps are seconds since the node booted (its PID 1 started), like a real node's dmesg.
The host kernel's ring buffer is shared by every lab node and the host, so it is not mixed
in by default; ``--host`` (or ``DRBDSIM_DMESG_HOST=1``) merges ``/dev/kmsg`` as well.
Supported: ``-T``/``--ctime``, ``-t``/``--notime``, ``-r``/``--raw``, ``-x``/``--decode``,
``-l``/``--level LIST``, ``-w``/``--follow``, ``-c``/``--read-clear``, ``-C``/``--clear``.
"""
# ruff: noqa: PTH110, PTH123
# (os-level code: file descriptors, device nodes and syscalls; stdlib on Debian's python3)

from __future__ import annotations

import os
import sys
import time

from . import klog, paths

LEVELS = ("emerg", "alert", "crit", "err", "warn", "notice", "info", "debug")


def host_records() -> list[tuple[int, int, str]]:
    """Records of the real kernel ring buffer (/dev/kmsg), if readable."""
    out: list[tuple[int, int, str]] = []
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return out
    try:
        while True:
            try:
                rec = os.read(fd, 8192).decode(errors="replace")
            except BlockingIOError:
                break
            except OSError:
                continue  # EPIPE: overwritten records
            head, _, text = rec.partition(";")
            fields = head.split(",")
            try:
                out.append((int(fields[0]) & 7, int(fields[2]), text.split("\n", 1)[0]))
            except (ValueError, IndexError):
                continue
    finally:
        os.close(fd)
    return out


def fmt(rec: tuple[int, int, str], boot: int, mode: set[str]) -> str:
    """One dmesg line."""
    level, usec, text = rec
    rel = max(usec - boot, 0)
    if "notime" in mode:
        stamp = ""
    elif "ctime" in mode:
        wall = time.time() - (time.monotonic_ns() // 1000 - usec) / 1e6
        stamp = time.strftime("[%a %b %e %H:%M:%S %Y] ", time.localtime(wall))
    else:
        stamp = f"[{rel // 1_000_000:5d}.{rel % 1_000_000:06d}] "
    if "raw" in mode:
        return f"<{level}>{stamp}{text}\n"
    if "decode" in mode:
        return f"kern  :{LEVELS[level]:<6}: {stamp}{text}\n"
    return f"{stamp}{text}\n"


def main() -> int:
    """Entry point of the dmesg shim."""
    args = sys.argv[1:]
    mode: set[str] = set()
    levels: set[int] | None = None
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-T", "--ctime"):
            mode.add("ctime")
        elif a in ("-t", "--notime"):
            mode.add("notime")
        elif a in ("-r", "--raw"):
            mode.add("raw")
        elif a in ("-x", "--decode"):
            mode.add("decode")
        elif a in ("-w", "--follow", "-W", "--follow-new"):
            mode.add("follow")
        elif a in ("-c", "--read-clear"):
            mode.add("clear-after")
        elif a in ("-C", "--clear"):
            mode.add("clear")
        elif a == "--host":
            mode.add("host")
        elif a in ("-l", "--level") or a.startswith("--level="):
            spec = a.split("=", 1)[1] if "=" in a else (args[i + 1] if i + 1 < len(args) else "")
            if "=" not in a:
                i += 1
            levels = {LEVELS.index(x) for x in spec.split(",") if x in LEVELS}
        i += 1
    path = paths.kmsg_file()
    if "clear" in mode:
        if os.path.exists(path):
            open(path, "w").close()
        return 0
    boot = klog.boot_usec()
    records = klog.read_records()
    if "host" in mode or os.environ.get("DRBDSIM_DMESG_HOST") == "1":
        records = sorted(records + host_records(), key=lambda r: r[1])
    try:
        for rec in records:
            if levels is None or rec[0] in levels:
                sys.stdout.write(fmt(rec, boot, mode))
        sys.stdout.flush()
        if "clear-after" in mode and os.path.exists(path):
            open(path, "w").close()
        if "follow" in mode:
            seen = len(klog.read_records())
            while True:
                time.sleep(0.2)
                now = klog.read_records()
                for rec in now[seen:]:
                    if levels is None or rec[0] in levels:
                        sys.stdout.write(fmt(rec, boot, mode))
                sys.stdout.flush()
                seen = len(now)
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
    return 0
