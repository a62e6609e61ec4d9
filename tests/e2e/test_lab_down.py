"""``scripts/lab down`` leaves nothing behind; ``up --bare``; the lab's refusals."""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.e2e


def leftovers(state: Path, old_pids: list[int]) -> list[str]:
    """Everything of the lab that still exists on the host."""
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    found += [f"netns {line}" for line in netns.stdout.splitlines() if line.startswith("halab-")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    found += [
        f"link {line.split(':')[1].strip()}"
        for line in links.stdout.splitlines()
        if "halab-" in line
    ]
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=True)
    found += [f"loop {line}" for line in loops.stdout.splitlines() if str(state) in line]
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    found += [f"mount {line}" for line in mounts if "halab" in line or str(state) in line]
    for pid in old_pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"_init\0ha-" in cmdline or b"corosync" in cmdline or b"pacemaker" in cmdline:
            found.append(f"process {pid} {cmdline!r}")
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if b"lab.sh\0_init\0" in (proc / "cmdline").read_bytes():
                    found.append(f"node init {proc.name}")
            except OSError:
                pass
    if state.exists():
        found.append(f"state dir {state}")
    return found


@pytest.mark.lab_shape("bare")
def test_down_leaves_nothing_then_bare(lab: Lab) -> None:
    """down removes netns, links, loops, mounts, processes and state; keys stay; --bare works.

    It leaves the lab down: the next test brings up the shape it needs (conftest SHAPE_ORDER)."""
    state = Path(lab.env["HALAB_STATE"])
    run_lab = lab.run
    with lab.exclusive():
        pids = [int(p) for n in lab.nodes for p in run_lab("pids", n).stdout.split()]
        assert len(pids) > 10  # init, sshd, corosync, pacemaker daemons, ... per node
        run_lab("down")
        assert leftovers(state, pids) == []
        assert lab.client_key_path.exists()  # keys are kept (down --purge removes them)

        # a bare lab: sshd and the packages, no cluster, no DRBD configuration
        run_lab("up", "--bare")
        bare = type(lab).load()
        assert bare.mode == "bare"
        assert bare.host_keys == lab.host_keys  # host keys survive down/up
        for node in bare.nodes:
            assert bare.ssh(node, "hostname").stdout.strip() == node
            probe = bare.ssh(
                node,
                "test -e /etc/corosync/corosync.conf || echo no-corosync;"
                " test -e /etc/drbd.d/home-assistant.res || echo no-res;"
                " test -b /dev/vdb && echo vdb; pidof corosync || echo no-stack",
            )
            assert probe.stdout.split() == ["no-corosync", "no-res", "vdb", "no-stack"]
        # another shape needs an explicit down
        refused = run_lab("up", check=False)
        assert refused.returncode != 0
        assert "run 'scripts/lab down' first" in refused.stderr
        bare_pids = [int(p) for n in bare.nodes for p in run_lab("pids", n).stdout.split()]
        run_lab("down")
        assert leftovers(state, bare_pids) == []

        # the lab refuses to touch 198.18.0.0/24 when something else uses it
        subprocess.run(
            [
                "ip",
                "link",
                "add",
                "halab-probe0",
                "type",
                "veth",
                "peer",
                "name",
                "halab-probe1",
            ],
            check=True,
        )
        try:
            subprocess.run(
                ["ip", "addr", "add", "198.18.0.99/24", "dev", "halab-probe0"], check=True
            )
            refused = run_lab("up", check=False)
            assert refused.returncode != 0
            assert "198.18.0.0/24 is already used" in refused.stderr
            assert not state.exists()
        finally:
            subprocess.run(["ip", "link", "del", "halab-probe0"], check=True)


def test_refuses_without_root(lab: Lab) -> None:
    """Not root: a clear refusal before anything is touched."""
    cmd = [str(lab.script), "up"]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert "must run as root" in proc.stderr
