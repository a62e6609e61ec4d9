"""``hacluster provision`` on the lab: from bare nodes to a running cluster, and back to normal.

The module holds the e2e lock for all its tests (they share one lab in ``--bare`` mode, in
order); marked ``lab_shape("bare")``, it runs after the tests that need the normal lab:

1. ``apply`` with the lab's example file builds a healthy cluster that the core's
   ``ClusterClient`` (what the integration uses) reads: the application runs, DRBD is
   Connected/UpToDate on both nodes;
2. a second ``apply`` is a no-op and says so;
3. a changed VIP becomes a CIB patch of that one parameter, and nothing moves;
4. on fresh bare nodes, a disk that holds a file system makes ``plan`` and ``apply`` refuse
   without ``--wipe-disk``; with exactly that flag apply wipes it and builds the cluster.
"""

from __future__ import annotations

from pathlib import Path
import re
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from hacluster.client import ClusterClient, ClusterSnapshot
from hacluster.transport import Credentials, NodeEndpoint

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import Lab

pytestmark = [pytest.mark.e2e, pytest.mark.lab_shape("bare")]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "scripts" / "examples" / "lab-cluster.yaml"
APP = "p_docker_home-assistant"
CLONE = "ms_drbd_home-assistant"
IP_NVPAIR = "p_ip_home-assistant-instance_attributes-ip"


def description(tmp: Path, *, vip: str = "198.18.0.10") -> Path:
    """The lab's example file with ``vip``, written to ``tmp`` (its key paths made absolute)."""
    text = EXAMPLE.read_text().replace("../../lab/keys/", f"{REPO / 'lab' / 'keys'}/")
    text = text.replace("address: 198.18.0.10", f"address: {vip}")
    path = tmp / f"cluster-{vip}.yaml"
    path.write_text(text)
    return path


def provision(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    """``hacluster provision ARGS --config CONFIG``, run from the repository."""
    command, *rest = args
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "hacluster.provision.cli",
            "provision",
            command,
            "--config",
            str(config),
            *rest,
        ],  # fmt: skip
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


async def snapshot(lab: Lab) -> ClusterSnapshot:
    """What the integration would read."""
    endpoints = [
        NodeEndpoint(name=n, host=lab.addresses[n], port=lab.ssh_port, host_key=lab.host_keys[n])
        for n in lab.nodes
    ]
    client = ClusterClient(
        endpoints, Credentials(username=lab.ssh_user, private_key=lab.client_key)
    )
    try:
        return await client.poll()
    finally:
        await client.close()


def where(snap: ClusterSnapshot, ident: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(running_on, promoted_on) of a resource in the snapshot."""
    assert snap.pacemaker is not None
    stack = list(snap.pacemaker.resources)
    while stack:
        rsc = stack.pop()
        if rsc.id == ident:
            return rsc.running_on, rsc.promoted_on
        stack += rsc.members
    raise AssertionError(f"{ident} not in the cluster")


def assert_healthy(snap: ClusterSnapshot) -> str:
    """Application running, DRBD promoted with it, Connected/UpToDate everywhere."""
    assert snap.reachable == ("ha-0", "ha-1")
    assert snap.pacemaker is not None
    assert snap.pacemaker.quorate
    assert not snap.pacemaker.options.maintenance_mode
    running, _ = where(snap, APP)
    assert len(running) == 1
    _, promoted = where(snap, CLONE)
    assert promoted == running
    for node in snap.nodes:
        assert node.drbd is not None
        (res,) = node.drbd.resources
        assert str(res.disk_state) == "UpToDate"
        assert [str(c.connection_state) for c in res.connections] == ["Connected"]
        assert [str(c.peer_disk_state) for c in res.connections] == ["UpToDate"]
    return running[0]


@pytest.fixture(scope="module")
def bare_lab(lab: Lab) -> Iterator[Lab]:
    """The lab in --bare mode, reserved for this module (left in the shape the last test made:
    the next test that needs the default lab rebuilds it, see SHAPE_ORDER in conftest)."""
    with lab.exclusive():
        yield lab.rebuild(mode="bare")


async def test_apply_builds_a_healthy_cluster(bare_lab: Lab, tmp_path: Path) -> None:
    config = description(tmp_path)
    started = time.monotonic()
    out = ok(provision("apply", config=config))
    elapsed = time.monotonic() - started
    assert "Plan for cluster ha_cluster: " in out
    assert "seed the first CIB with the cluster properties" in out
    assert "wait until p_docker_home-assistant runs" in out
    assert re.search(r"Applied \d+ steps in", out)
    assert elapsed < 150, out
    node = assert_healthy(await snapshot(bare_lab))
    assert bare_lab.app("/status", host=bare_lab.vip)
    assert bare_lab.group_node() == node
    # the files are identical on both nodes
    for path in ("/etc/corosync/corosync.conf", "/etc/drbd.d/home-assistant.res"):
        digests = {bare_lab.exec(n, "sha256sum", path).stdout.split()[0] for n in bare_lab.nodes}
        assert len(digests) == 1, path


async def test_second_apply_is_a_no_op(bare_lab: Lab, tmp_path: Path) -> None:
    out = ok(provision("apply", config=description(tmp_path)))
    assert "Nothing to do: cluster ha_cluster already matches the description" in out
    assert "[1/" not in out
    plan = ok(provision("plan", config=description(tmp_path)))
    assert "nothing to do: the cluster matches the description" in plan


async def test_changed_vip_is_a_cib_patch_that_moves_nothing(bare_lab: Lab, tmp_path: Path) -> None:
    before = await snapshot(bare_lab)
    node = assert_healthy(before)
    config = description(tmp_path, vip="198.18.0.11")
    plan = ok(provision("plan", config=config))
    changed = [
        line.strip()
        for line in plan.split("\nCIB:\n", 1)[1].split("\nSteps:\n", 1)[0].splitlines()
        if line.strip()[:1] in "+-" and not line.strip().startswith(("+++", "---"))
    ]
    assert len(changed) == 2, plan
    assert all(IP_NVPAIR in line for line in changed)
    assert "up to date" in plan.split("\nCIB:\n")[0].split("/etc/corosync/corosync.conf")[1]
    out = ok(provision("apply", config=config))
    patch = [line.strip() for line in out.splitlines() if line.strip().startswith("patch:")]
    assert patch, out
    assert all(IP_NVPAIR in line for line in patch), patch
    assert any("198.18.0.11" in line for line in patch)
    after = await snapshot(bare_lab)
    assert assert_healthy(after) == node
    assert where(after, "p_fs_home-assistant")[0] == (node,)
    addresses = bare_lab.exec(node, "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
    assert "198.18.0.11/24" in addresses
    assert "198.18.0.10/" not in addresses
    assert "Nothing to do" in ok(provision("apply", config=config))


async def test_disk_with_a_filesystem_needs_wipe_disk(bare_lab: Lab, tmp_path: Path) -> None:
    bare_lab.run("down")
    bare_lab.rebuild(mode="bare")
    bare_lab.exec("ha-1", "mkfs.ext4", "-q", "-F", "/dev/vdb")
    config = description(tmp_path)
    plan = provision("plan", config=config)
    assert plan.returncode == 13, plan.stdout + plan.stderr
    assert "/dev/vdb: holds ext4" in plan.stdout
    assert "needs --wipe-disk ha-1:/dev/vdb" in plan.stdout
    # ha-0's disk: drbdmeta dump-md answered "No valid meta data found" (checked, not skipped)
    assert re.search(r"/dev/vdb: empty, \d+ MiB \(no signature found\)\n", plan.stdout), plan.stdout
    refused = provision("apply", "--wipe-disk", "ha-0:/dev/vdb", config=config)
    assert refused.returncode == 13
    assert "to allow them, add: --wipe-disk ha-1:/dev/vdb" in refused.stderr
    probe = bare_lab.exec("ha-1", "blkid", "-p", "-o", "export", "/dev/vdb").stdout
    assert "TYPE=ext4" in probe
    for node in bare_lab.nodes:
        assert bare_lab.exec(
            node, "test", "-e", "/etc/corosync/corosync.conf", check=False
        ).returncode
    out = ok(provision("apply", "--wipe-disk", "ha-1:/dev/vdb", config=config))
    assert "wipe ha-1:/dev/vdb" in out
    assert_healthy(await snapshot(bare_lab))


async def test_meta_data_of_an_interrupted_apply_is_reused(bare_lab: Lab, tmp_path: Path) -> None:
    """create-md ran on both disks, nothing else: the plan keeps that meta data, no --wipe-disk."""
    bare_lab.run("down")
    bare_lab.rebuild(mode="bare")
    for node in bare_lab.nodes:
        bare_lab.exec(node, "drbdmeta", "0", "v09", "/dev/vdb", "internal", "create-md", "1")
        dump = bare_lab.exec(node, "drbdmeta", "0", "v09", "/dev/vdb", "internal", "dump-md")
        assert "\nnode-id -1;\ncurrent-uuid 0x0000000000000004;\n" in dump.stdout
    config = description(tmp_path)
    plan = ok(provision("plan", config=config))
    assert plan.count("/dev/vdb: holds new DRBD meta data (created, never attached)") == 2, plan
    assert "--wipe-disk" not in plan
    assert "create DRBD meta data" not in plan
    ok(provision("apply", config=config))
    assert_healthy(await snapshot(bare_lab))
