"""Where the simulator keeps its files inside a lab node.

Auto-detected so that programs started by sshd, Pacemaker or the lab need no environment:
inside a lab node ``/run/halab`` exists (volatile, like kernel memory) and ``/run/halab/host``
is a host-visible persistent directory. Elsewhere ``/run/drbd-sim`` is used. ``DRBDSIM_RUN``
and ``DRBDSIM_HOST_DIR`` override both (tests).
"""
# ruff: noqa: PTH103, PTH112, PTH118
# (os-level code: file descriptors, device nodes and syscalls; stdlib on Debian's python3)

from __future__ import annotations

import os


def run_dir() -> str:
    """Volatile runtime directory (sockets, kernel log, FUSE mount points)."""
    env = os.environ.get("DRBDSIM_RUN")
    if env:
        return env
    if os.path.isdir("/run/halab"):
        return "/run/halab/drbd"
    return "/run/drbd-sim"


def host_dir() -> str | None:
    """Host-visible persistent directory of the node (loops file, disk-failed flag)."""
    env = os.environ.get("DRBDSIM_HOST_DIR")
    if env:
        return env
    if os.path.isdir("/run/halab/host"):
        return "/run/halab/host"
    return None


def ctl_socket(resource: str) -> str:
    """Control socket of a resource's kernel daemon."""
    return os.path.join(run_dir(), f"{resource}.ctl")


def kmsg_file() -> str:
    """The node's simulated kernel ring buffer."""
    return os.path.join(run_dir(), "kmsg")


def fail_flag() -> str | None:
    """The lab's fail-disk flag file."""
    base = host_dir()
    return os.path.join(base, "disk-failed") if base else None


def loops_file() -> str | None:
    """Where attached loop devices are recorded for the lab's cleanup."""
    base = host_dir()
    return os.path.join(base, "loops") if base else None


def ensure_run_dir() -> str:
    """Create the runtime directory."""
    path = run_dir()
    os.makedirs(path, mode=0o755, exist_ok=True)
    return path
