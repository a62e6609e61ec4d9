"""A minimal two- (or three-) node harness for the DRBD simulator (``lab/drbd``).

Each "node" is a network namespace ``drbdsim-<tag>-a|b`` (joined by a veth pair whose both ends
live inside the namespaces: 198.18.0.250/.251, nothing on the host bridge; with three nodes
``-a|b|c`` at .250-.252, each linked to a bridge in a namespace ``drbdsim-<tag>-hub``) plus a
PID/mount/UTS namespace held by a small reaper PID 1, with a private ``/dev``, ``/run``,
``/tmp``, ``/mnt``, its own ``/etc/drbd.conf`` and a loop-backed ``/dev/vdb``. The simulator's
programs are bind-mounted over ``/usr/sbin/drbdadm`` etc. like the lab does it. Everything
created is removed at the end, also on failure; processes are signalled by PID only.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import json
import os
from pathlib import Path
import shlex
import shutil
import subprocess
import tempfile
import time
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "lab" / "drbd"
PY = "/usr/bin/python3"
RES = "home-assistant"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
REAPER = (
    "import os,signal,time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "while True:\n"
    "    try:\n"
    "        os.waitpid(-1, 0)\n"
    "    except ChildProcessError:\n"
    "        time.sleep(0.2)\n"
)
CONFIG_HEAD = """resource home-assistant {
    device /dev/drbd0;
    disk /dev/vdb;
    meta-disk internal;
    net {
        protocol C;
        ping-int 1;
        connect-int 1;
    }
    handlers {
        split-brain "echo split-brain $DRBD_RESOURCE $DRBD_PEER >> /run/halab/host/helpers";
        initial-split-brain "echo initial-split-brain >> /run/halab/host/helpers";
    }
"""
LETTERS = "abc"


def config(nodes: list[tuple[str, str]]) -> str:
    """The resource file for nodes given as (hostname, address), node-ids in order."""
    hosts = "".join(
        f"    on {name} {{\n        address {addr}:7788;\n        node-id {i};\n    }}\n"
        for i, (name, addr) in enumerate(nodes)
    )
    names = " ".join(name for name, _ in nodes)
    return f"{CONFIG_HEAD}{hosts}    connection-mesh {{\n        hosts {names};\n    }}\n}}\n"


def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    """Run a host command, capturing text output."""
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload, no-any-return]


def lab_possible() -> str | None:
    """Why the harness cannot run here (None when it can)."""
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("ip", "unshare", "nsenter", "losetup", "mkfs.ext4"):
        if shutil.which(tool) is None:
            return f"{tool} missing"
    if not Path(PY).exists() or not Path("/dev/fuse").exists():
        return "needs /usr/bin/python3 and /dev/fuse"
    probe = run(["unshare", "--net", "--mount", "--pid", "--fork", "true"])
    if probe.returncode != 0:
        return "namespaces not available"
    return None


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2, what: str = "") -> object:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = predicate()
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timeout waiting for {what or predicate}: last={last!r}")


class Node:
    """One simulated node."""

    def __init__(self, lab: SimLab, letter: str, addr: str, backing: str) -> None:
        """Prepare the host-side directories; ``boot`` starts it."""
        self.lab = lab
        self.letter = letter
        self.hostname = f"sim-{letter}"
        self.netns = f"drbdsim-{lab.tag}-{letter}"
        self.veth = f"dsv{lab.tag[-6:]}{letter}"
        self.addr = addr
        self.dir = Path(lab.dir) / letter
        self.hostdir = self.dir / "host"
        self.hostdir.mkdir(parents=True)
        (self.dir / "drbd.d").mkdir()
        (self.dir / "drbd.conf").write_text('include "drbd.d/*.res";\n')
        self.backing = backing
        self.pid1: int | None = None
        self.unshare: subprocess.Popen[bytes] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def boot(self) -> None:
        """Start the node's PID 1 (fresh mount/PID/UTS namespaces in the netns)."""
        major_minor = Path(self.backing).stat().st_rdev
        minor = os.minor(major_minor)
        mounts = "".join(
            f"mount --bind {LAB}/bin/{prog} /usr/sbin/{prog}\n"
            for prog in ("drbdadm", "drbdsetup", "drbdmeta")
        )
        # the node's own /tmp hides the host's: a checkout under /tmp stays visible (held in
        # /run while /tmp is replaced)
        keep_tmp = "mount -t tmpfs tmpfs /tmp\n"
        if REPO.is_relative_to("/tmp"):
            keep_tmp = (
                f"mkdir -p /run/keep-repo\nmount --bind {shlex.quote(str(REPO))} /run/keep-repo\n"
                f"{keep_tmp}mkdir -p {shlex.quote(str(REPO))}\n"
                f"mount --move /run/keep-repo {shlex.quote(str(REPO))}\n"
            )
        script = f"""set -e
hostname {self.hostname}
mount -t tmpfs tmpfs /run
mount -t tmpfs -o mode=755 tmpfs /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/urandom c 1 9
mknod -m 666 /dev/random c 1 8
mknod -m 600 /dev/fuse c 10 229
mknod -m 600 /dev/loop-control c 10 237
mknod -m 660 /dev/vdb b 7 {minor}
ln -s /proc/self/fd /dev/fd
mkdir /dev/shm /dev/pts
mkdir -p /run/halab/host
mount --bind {self.hostdir} /run/halab/host
mount --bind {self.dir}/drbd.conf /etc/drbd.conf
mount --bind {self.dir}/drbd.d /etc/drbd.d
mount -t tmpfs tmpfs /mnt
mkdir /mnt/data
{mounts}mount --bind {LAB}/bin/dmesg /usr/bin/dmesg
{keep_tmp}exec {PY} -c '{REAPER}'
"""
        self.unshare = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.netns,
                "unshare",
                "--mount",
                "--uts",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                "--",
                "/bin/sh",
                "-c",
                script,
            ],
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        child = None
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                kids = Path(f"/proc/{self.unshare.pid}/task/{self.unshare.pid}/children")
                text = kids.read_text().split()
                if text:
                    child = int(text[0])
                    argv0 = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0]
                    if argv0 == PY.encode():  # the setup script has exec'd the reaper
                        break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{self.hostname}: PID 1 did not start")
        self.pid1 = child
        run(["ip", "-n", self.netns, "link", "set", self.veth, "up"])

    def crash(self) -> None:
        """Power off: NIC down first (no FIN/RST), then SIGKILL of PID 1, then loop cleanup."""
        run(["ip", "-n", self.netns, "link", "set", self.veth, "down"])
        self.kill()
        self.cleanup_loops()

    def fuse_connections(self) -> list[str]:
        """FUSE connection ids (device minors) of the node's simulator mounts."""
        if self.pid1 is None:
            return []
        try:
            lines = Path(f"/proc/{self.pid1}/mountinfo").read_text().splitlines()
        except OSError:
            return []
        return [ln.split()[2].split(":")[1] for ln in lines if " - fuse.drbdsim " in ln]

    def kill(self) -> None:
        """SIGKILL the node's PID 1 (the kernel kills the whole PID namespace).

        Safety net: should a process hang in a FUSE request of the dying simulator, the node's
        FUSE connections are aborted through fusectl (in a private mount namespace).
        """
        conns = self.fuse_connections()
        if self.pid1 is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid1, 9)
        if self.unshare is not None:
            try:
                self.unshare.wait(5)
            except subprocess.TimeoutExpired:
                aborts = " ".join(f"/sys/fs/fuse/connections/{c}/abort" for c in conns)
                run(
                    [
                        "unshare",
                        "--mount",
                        "sh",
                        "-c",
                        "mount -t fusectl none /sys/fs/fuse/connections && "
                        f"for f in {aborts}; do [ -e $f ] && echo 1 > $f; done",
                    ]
                )
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.unshare.wait(10)
        self.pid1 = None
        self.unshare = None

    def cleanup_loops(self) -> list[str]:
        """Detach the loop devices the sim recorded (what the lab does after a crash)."""
        detached = []
        loops = self.hostdir / "loops"
        if not loops.exists():
            return detached
        for line in loops.read_text().splitlines():
            dev, _, backing = line.partition(" ")
            sysfile = Path(f"/sys/block/{Path(dev).name}/loop/backing_file")
            for _ in range(50):
                if not sysfile.exists():
                    break
                if sysfile.read_text().strip() != backing:
                    break
                run(["losetup", "-d", dev])
                time.sleep(0.1)
            else:
                continue
            detached.append(dev)
        loops.write_text("")
        return detached

    def isolate(self) -> None:
        """Cut the node's link (packets dropped silently)."""
        run(["ip", "-n", self.netns, "link", "set", self.veth, "down"])

    def heal(self) -> None:
        """Restore the node's link."""
        run(["ip", "-n", self.netns, "link", "set", self.veth, "up"])

    # -- commands ---------------------------------------------------------------------------

    def sh(
        self, command: str, timeout: float = 60, check: bool = False, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell command inside the node."""
        assert self.pid1 is not None, f"{self.hostname} is down"
        env = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", **self.lab.env}
        proc = subprocess.run(
            [
                "nsenter",
                "-t",
                str(self.pid1),
                "-m",
                "-u",
                "-n",
                "-p",
                "--",
                "/bin/sh",
                "-c",
                command,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
            cwd="/",
            input=stdin if stdin is not None else "",
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{self.hostname}: {command!r} -> {proc.returncode}\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def status(self) -> dict[str, Any]:
        """``drbdsetup status --json`` of the resource (parsed)."""
        proc = self.sh(f"drbdsetup status {RES} --json", check=True)
        data = json.loads(proc.stdout)
        assert isinstance(data, list)
        return dict(data[0])

    def conn_state(self) -> str:
        """The connection state of the only connection."""
        return str(self.status()["connections"][0]["connection-state"])

    def disk_state(self) -> str:
        """The local disk state of volume 0."""
        return str(self.status()["devices"][0]["disk-state"])

    def pd(self) -> dict[str, Any]:
        """The only peer device."""
        return dict(self.status()["connections"][0]["peer_devices"][0])

    def peer_disk(self) -> str:
        """The peer disk state."""
        return str(self.pd()["peer-disk-state"])

    def peers(self) -> dict[str, tuple[str, str, str]]:
        """Every connection: peer name -> (connection, peer-disk, replication) state."""
        out = {}
        for conn in self.status()["connections"]:
            pd = conn["peer_devices"][0]
            out[str(conn["name"])] = (
                str(conn["connection-state"]),
                str(pd["peer-disk-state"]),
                str(pd["replication-state"]),
            )
        return out


class SimLab:
    """Two nodes joined by a veth pair, or three on a bridge (in a namespace of its own)."""

    def __init__(
        self, env: dict[str, str] | None = None, size_mb: int = 64, count: int = 2
    ) -> None:
        """Create namespaces, links, backing disks and configs (no node is booted)."""
        assert count in (2, 3)
        self.tag = f"{os.getpid() % 100000:05d}{int(time.time() * 10) % 10}"
        self.dir = tempfile.mkdtemp(prefix="drbdsim-")
        self.env = dict(env or {})
        self.host_loops: list[str] = []
        self.nodes: list[Node] = []
        self.hub: str | None = None
        for letter in LETTERS[:count]:
            img = Path(self.dir) / f"{letter}.img"
            with img.open("wb") as fh:
                fh.truncate(size_mb << 20)
            proc = run(["losetup", "--find", "--show", str(img)])
            assert proc.returncode == 0, proc.stderr
            dev = proc.stdout.strip()
            self.host_loops.append(dev)
            run(["blockdev", "--setrw", dev])  # a stale BLKROSET of an earlier user
            self.nodes.append(Node(self, letter, f"198.18.0.{250 + len(self.nodes)}", dev))
        self.a, self.b = self.nodes[0], self.nodes[1]
        for node in self.nodes:
            proc = run(["ip", "netns", "add", node.netns])
            assert proc.returncode == 0, proc.stderr
        if count == 2:
            self._link(self.a.veth, self.a.netns, self.b.veth, self.b.netns)
        else:
            self.hub = f"drbdsim-{self.tag}-hub"
            proc = run(["ip", "netns", "add", self.hub])
            assert proc.returncode == 0, proc.stderr
            hub = ["ip", "-n", self.hub]
            run([*hub, "link", "add", "br0", "type", "bridge", "stp_state", "0"])
            run([*hub, "link", "set", "br0", "up"])
            for node in self.nodes:
                port = f"{node.veth}h"
                self._link(node.veth, node.netns, port, self.hub)
                run([*hub, "link", "set", port, "master", "br0", "up"])
        text = config([(n.hostname, n.addr) for n in self.nodes])
        for node in self.nodes:
            ns = ["ip", "-n", node.netns]
            run([*ns, "link", "set", "lo", "up"])
            run([*ns, "addr", "add", f"{node.addr}/24", "dev", node.veth])
            run([*ns, "link", "set", node.veth, "up"])
            (node.dir / "drbd.d" / f"{RES}.res").write_text(text)

    @staticmethod
    def _link(name: str, netns: str, peer: str, peer_netns: str) -> None:
        """A veth pair with one end in each namespace."""
        proc = run(
            [
                *("ip", "link", "add", name, "netns", netns, "type", "veth"),
                *("peer", "name", peer, "netns", peer_netns),
            ]
        )
        assert proc.returncode == 0, proc.stderr

    wait_for = staticmethod(wait_for)

    def close(self) -> None:
        """Remove everything (idempotent, best effort)."""
        for node in self.nodes:
            node.kill()
            time.sleep(0.1)
            node.cleanup_loops()
        for ns in [n.netns for n in self.nodes] + ([self.hub] if self.hub else []):
            run(["ip", "netns", "del", ns])
        for dev in self.host_loops:
            for _ in range(20):
                if run(["losetup", "-d", dev]).returncode == 0:
                    break
                time.sleep(0.2)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def booted(count: int) -> Iterator[SimLab]:
    """``count`` booted nodes with meta data created (resource not up); removed afterwards."""
    why = lab_possible()
    if why:
        pytest.skip(f"drbdsim harness: {why}")
    lab = SimLab(count=count)
    try:
        for node in lab.nodes:
            node.boot()
            node.sh(f"drbdadm create-md --force {RES}", check=True)
        yield lab
    finally:
        lab.close()


@pytest.fixture
def simlab() -> Iterator[SimLab]:
    """Two booted nodes with meta data created (resource not up)."""
    with booted(2) as lab:
        yield lab


@pytest.fixture
def simlab3() -> Iterator[SimLab]:
    """Three booted nodes (a full mesh on a bridge) with meta data created (resource not up)."""
    with booted(3) as lab:
        yield lab


@pytest.fixture
def uplab(simlab: SimLab) -> SimLab:
    """Both nodes up, connected, UpToDate (initial sync skipped), ext4 made on node a."""
    for node in simlab.nodes:
        node.sh(f"drbdadm up {RES}", check=True)
    for node in simlab.nodes:
        wait_for(lambda n=node: n.conn_state() == "Connected", what=f"{node.hostname} connected")
    simlab.a.sh(f"drbdadm new-current-uuid --clear-bitmap {RES}", check=True)
    for node in simlab.nodes:
        wait_for(lambda n=node: n.disk_state() == "UpToDate", what="UpToDate")
    return simlab
