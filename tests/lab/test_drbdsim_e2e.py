"""End-to-end tests of the DRBD simulator on two namespace nodes (root only).

Scenarios: crash of the Primary with failover and resync of the returning node (data written
and fsync'ed on the Primary survives), split brain with helper calls, kernel log and diverged
data, and its documented recovery; a failing backing disk (Failed -> Diskless, I/O through the
peer, re-attach and resync); error texts/exit codes; the OCF agent.
"""

from __future__ import annotations

import json
from pathlib import Path
import time
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import pytest

if TYPE_CHECKING:
    from conftest import Node, SimLab

pytestmark = pytest.mark.e2e
RES = "home-assistant"

WRITE = (
    "mount /dev/drbd0 /mnt/data && "
    "dd if=/dev/urandom of=/mnt/data/f1 bs=1M count=6 conv=fsync status=none && "
    "for i in $(seq 1 25); do echo rec$i >> /mnt/data/rec; sync /mnt/data/rec; done && "
    "sha256sum /mnt/data/f1 | cut -d' ' -f1"
)


def _json(node: Node) -> dict[str, Any]:
    return node.status()


def _pd(node: Node) -> dict[str, Any]:
    return node.pd()


def test_crash_failover_resync_keeps_acknowledged_writes(uplab: SimLab) -> None:
    """Crash the Primary: the peer sees Connecting, is promoted with all fsync'ed data; the
    crashed node comes back, resyncs (SyncTarget, progress advancing) and is UpToDate."""
    a, b = uplab.a, uplab.b
    b.sh(f"(drbdsetup events2 {RES} > /tmp/events.txt 2>&1 &)", check=True)
    a.sh(f"drbdadm primary {RES} && mkfs.ext4 -q -F /dev/drbd0", check=True)
    digest = a.sh(WRITE, check=True).stdout.strip()
    assert _json(b)["connections"][0]["peer-role"] == "Primary"  # type: ignore[index]

    a.crash()
    uplab.wait_for(lambda: b.conn_state() == "Connecting", timeout=15, what="peer loss noticed")
    st = _json(b)
    conn = st["connections"][0]  # type: ignore[index]
    assert (conn["peer-role"], conn["peer_devices"][0]["peer-disk-state"]) == (
        "Unknown",
        "DUnknown",
    )
    b.sh(f"drbdadm primary {RES} && mount /dev/drbd0 /mnt/data", check=True)
    check = b.sh("sha256sum /mnt/data/f1 | cut -d' ' -f1; tail -1 /mnt/data/rec", check=True)
    assert check.stdout.split() == [digest, "rec25"]
    b.sh("echo written-after-failover > /mnt/data/f2 && sync", check=True)
    assert int(_pd(b)["out-of-sync"]) > 0  # type: ignore[call-overload]

    a.boot()
    a.sh(f"drbdadm up {RES}", check=True)
    done: list[float] = []

    def progress() -> bool:
        pd = _pd(b)
        if pd["replication-state"] == "SyncSource" and pd["has-sync-details"]:
            done.append(float(pd["percent-resync-done"]))  # type: ignore[arg-type]
        return a.disk_state() == "UpToDate" and pd["replication-state"] == "Established"

    uplab.wait_for(progress, timeout=30, interval=0.3, what="resync finished")
    assert len({d for d in done if 0 < d < 100}) >= 2, done
    assert done == sorted(done)
    text = a.sh(f"drbdadm status {RES}", check=True).stdout
    want = f"{RES} role:Secondary\n  disk:UpToDate\n  sim-b role:Primary\n    peer-disk:UpToDate\n"
    assert text == want + "\n"

    b.sh(f"umount /mnt/data && drbdadm secondary {RES}", check=True)
    a.sh(f"drbdadm primary {RES} && mount /dev/drbd0 /mnt/data", check=True)
    check = a.sh("sha256sum /mnt/data/f1 | cut -d' ' -f1; cat /mnt/data/f2", check=True)
    assert check.stdout.split() == [digest, "written-after-failover"]
    events = b.sh("cat /tmp/events.txt", check=True).stdout
    assert f"change connection name:{RES} peer-node-id:0 conn-name:sim-a connection:" in events
    assert "replication:SyncSource peer-disk:Inconsistent" in events
    assert " done:" in events
    log = a.sh("dmesg", check=True).stdout
    assert "uuid_compare()=target-use-bitmap by rule=bitmap-peer" in log
    assert "disk( Inconsistent -> UpToDate )" in log


def test_split_brain_detection_and_recovery(uplab: SimLab) -> None:
    """Both Primary while cut off: on reconnect both StandAlone with the split-brain helper and
    the kernel line; discard-my-data on the victim resyncs it from the survivor."""
    a, b = uplab.a, uplab.b
    a.sh(
        f"drbdadm primary {RES} && mkfs.ext4 -q -F /dev/drbd0 && mount /dev/drbd0 /mnt/data "
        "&& echo common > /mnt/data/common && sync",
        check=True,
    )
    b.sh(f"(drbdsetup events2 --timestamps {RES} > /tmp/events.txt 2>&1 &)", check=True)
    a.isolate()
    for node in uplab.nodes:
        uplab.wait_for(
            lambda n=node: n.conn_state() == "Connecting", timeout=15, what="cut noticed"
        )
    b.sh(
        f"drbdadm primary {RES} && mount /dev/drbd0 /mnt/data && echo b > /mnt/data/b-only && sync",
        check=True,
    )
    a.sh("echo a > /mnt/data/a-only && sync", check=True)
    a.heal()
    for node in uplab.nodes:
        uplab.wait_for(
            lambda n=node: n.conn_state() == "StandAlone", timeout=20, what="split brain"
        )
    for node, peer in ((a, "sim-b"), (b, "sim-a")):
        log = node.sh("dmesg", check=True).stdout
        assert (
            f"drbd {RES}/0 drbd0 {peer}: Split-Brain detected but unresolved, dropping connection!"
        ) in log
        assert f"drbd {RES} {peer}: conn( Disconnecting -> StandAlone )" in log
        assert node.status()["role"] == "Primary"
    events = b.sh("cat /tmp/events.txt", check=True).stdout
    lines = [ln.split(" ", 1)[1] for ln in events.splitlines() if " " in ln]
    call = f"call helper name:{RES} peer-node-id:0 conn-name:sim-a volume:0 minor:0 helper:"
    assert call + "initial-split-brain" in lines
    assert call + "split-brain" in lines
    assert (
        f"response helper name:{RES} peer-node-id:0 conn-name:sim-a volume:0 minor:0 "
        "helper:split-brain status:0" in lines
    )
    assert lines.index(call + "split-brain") < lines.index(
        f"change connection name:{RES} peer-node-id:0 conn-name:sim-a connection:StandAlone"
    )
    helpers = (b.hostdir / "helpers").read_text()
    assert f"split-brain {RES} sim-a" in helpers
    assert b.sh("ls /mnt/data", check=True).stdout.split() == ["b-only", "common", "lost+found"]
    assert a.sh("ls /mnt/data", check=True).stdout.split() == ["a-only", "common", "lost+found"]

    b.sh(
        f"umount /mnt/data && drbdadm disconnect {RES} && drbdadm secondary {RES} && "
        f"drbdadm connect --discard-my-data {RES}",
        check=True,
    )
    a.sh(f"drbdadm disconnect {RES} && drbdadm connect {RES}", check=True)
    for node in uplab.nodes:
        uplab.wait_for(
            lambda n=node: n.conn_state() == "Connected"
            and n.disk_state() == "UpToDate"
            and n.peer_disk() == "UpToDate",
            timeout=30,
            what="recovered",
        )
    assert "Split-Brain detected, manually solved" in b.sh("dmesg", check=True).stdout
    a.sh(f"umount /mnt/data && drbdadm secondary {RES}", check=True)
    b.sh(f"drbdadm primary {RES} && mount /dev/drbd0 /mnt/data", check=True)
    assert b.sh("ls /mnt/data", check=True).stdout.split() == ["a-only", "common", "lost+found"]


def test_fail_disk_detaches_and_serves_through_the_peer(uplab: SimLab) -> None:
    """A failed backing disk: Failed then Diskless (client:no), I/O continues via the peer;
    after the repair ``adjust`` re-attaches and the peer resyncs it."""
    a, b = uplab.a, uplab.b
    a.sh(
        f"drbdadm primary {RES} && mkfs.ext4 -q -F /dev/drbd0 && mount /dev/drbd0 /mnt/data "
        "&& echo before > /mnt/data/f1 && sync",
        check=True,
    )
    (a.hostdir / "disk-failed").write_text("")
    uplab.wait_for(lambda: a.disk_state() == "Diskless", timeout=10, what="detached")
    dev = _json(a)["devices"][0]  # type: ignore[index]
    assert dev["client"] is False
    assert f"{RES} role:Primary\n  disk:Diskless client:no\n" in a.sh("drbdadm status").stdout
    log = a.sh("dmesg", check=True).stdout
    assert f"drbd {RES}/0 drbd0: disk( UpToDate -> Failed )" in log
    assert f"drbd {RES}/0 drbd0: disk( Failed -> Diskless )" in log
    uplab.wait_for(lambda: b.peer_disk() == "Diskless", timeout=5, what="peer sees Diskless")
    a.sh("echo after > /mnt/data/f2 && sync && cat /mnt/data/f1", check=True)
    assert int(_pd(b)["out-of-sync"]) > 0  # type: ignore[call-overload]

    (a.hostdir / "disk-failed").unlink()
    a.sh(f"drbdadm adjust {RES}", check=True)
    uplab.wait_for(
        lambda: a.disk_state() == "UpToDate", timeout=30, what="re-attached and resynced"
    )
    a.sh("umount /mnt/data && mount /dev/drbd0 /mnt/data", check=True)
    assert a.sh("cat /mnt/data/f1 /mnt/data/f2", check=True).stdout.split() == ["before", "after"]


def test_repair_without_writes_resyncs_in_drbds_order(uplab: SimLab) -> None:
    """Nothing written while the Secondary's disk was failed: the re-attach still goes
    WFBitMapT -> SyncTarget -> Resync done -> Established on the target, in that order (the
    source, with no block to send, must not finish before the target has started)."""
    a, b = uplab.a, uplab.b
    a.sh(f"drbdadm primary {RES}", check=True)
    for _ in range(3):  # the race it guards against showed up in about one run of four
        start = len(b.sh("dmesg", check=True).stdout.splitlines())
        (b.hostdir / "disk-failed").write_text("")
        uplab.wait_for(lambda: b.disk_state() == "Diskless", timeout=10, what="detached")
        uplab.wait_for(lambda: a.peer_disk() == "Diskless", timeout=5, what="a sees it")
        (b.hostdir / "disk-failed").unlink()
        b.sh(f"drbdadm adjust {RES}", check=True)
        uplab.wait_for(lambda: b.disk_state() == "UpToDate", timeout=30, what="resynced")
        log = b.sh("dmesg", check=True).stdout.splitlines()[start:]
        steps = [
            "repl( Established -> WFBitMapT )",
            "helper command: /sbin/drbdadm before-resync-target exit code 0",
            "repl( WFBitMapT -> SyncTarget )",
            "Began resync as SyncTarget (will sync 0 KB [0 bits set]).",
            "Resync done",
            "disk( Inconsistent -> UpToDate )",
            "repl( SyncTarget -> Established )",
        ]
        at = [next((i for i, line in enumerate(log) if step in line), -1) for step in steps]
        assert -1 not in at, "\n".join(log)
        assert at == sorted(at), "\n".join(log)


def test_error_texts_exit_codes_and_outdated(uplab: SimLab) -> None:
    """drbdadm/drbdsetup failures print what drbd-utils prints; Outdated data is refused."""
    a, b = uplab.a, uplab.b
    a.sh(
        f"drbdadm primary {RES} && mkfs.ext4 -q -F /dev/drbd0 && mount /dev/drbd0 /mnt/data",
        check=True,
    )
    p = a.sh(f"drbdadm secondary {RES}")
    assert (p.returncode, p.stderr) == (
        11,
        f"{RES}: State change failed: (-12) Device is held open by someone\n"
        f"Command 'drbdsetup secondary {RES}' terminated with exit code 11\n",
    )
    a.sh("umount /mnt/data", check=True)
    p = b.sh("dd if=/dev/drbd0 of=/dev/null bs=4096 count=1")  # a Secondary's device
    assert p.returncode != 0
    p = b.sh(f"drbdadm primary {RES}")
    assert p.returncode == 11
    assert p.stderr == (
        f"{RES}: State change failed: (-1) Multiple primaries not allowed by config\n"
        f"Command 'drbdsetup primary {RES}' terminated with exit code 11\n"
    )
    p = b.sh(f"drbdadm up {RES}")
    assert p.returncode == 10
    assert p.stderr == (
        f"{RES}: Failure: (161) Minor or volume exists already (delete it first)\n"
        f"Command 'drbdsetup new-minor {RES} 0 0' terminated with exit code 10\n"
    )
    p = b.sh(f"drbdadm create-md {RES}")
    assert (p.returncode, p.stderr) == (
        20,
        "Device '0' is configured!\nCommand 'drbdmeta 0 v09 "
        "/dev/vdb internal create-md 1' terminated with "
        "exit code 20\n",
    )
    p = b.sh("drbdsetup status nope")
    assert (p.returncode, p.stderr) == (10, "nope: No such resource\n")
    p = b.sh("drbdadm --version")
    assert "DRBD_KERNEL_VERSION=9.2.12\nDRBDADM_VERSION_CODE=0x091600\n" in p.stdout
    assert b.sh(f"drbdadm dump {RES}").stdout.startswith(
        f"# resource {RES} on sim-b: not ignored, not stacked\n"
    )
    now = b.sh(f"drbdsetup events2 --now {RES}", check=True).stdout.splitlines()
    assert now == [
        f"exists resource name:{RES} role:Secondary suspended:no force-io-failures:no "
        "may_promote:no promotion_score:10102",
        f"exists connection name:{RES} peer-node-id:0 conn-name:sim-a connection:Connected "
        "role:Primary",
        f"exists device name:{RES} volume:0 minor:0 backing_dev:/dev/vdb disk:UpToDate "
        "client:no quorum:yes",
        f"exists peer-device name:{RES} peer-node-id:0 conn-name:sim-a volume:0 "
        "replication:Established peer-disk:UpToDate peer-client:no resync-suspended:no",
        "exists -",
    ]
    # a Secondary that goes down while the Primary stays is Outdated (and knows it)
    b.sh(f"drbdadm down {RES}", check=True)
    assert _pd(a)["peer-disk-state"] == "Outdated"
    a.crash()
    b.sh(f"drbdadm up {RES}", check=True)
    assert b.disk_state() == "Outdated"
    p = b.sh(f"drbdadm primary {RES}")
    assert p.returncode == 17
    assert p.stderr == (
        f"{RES}: State change failed: (-2) Need access to UpToDate data\n"
        f"Command 'drbdsetup primary {RES}' terminated with exit code 17\n"
    )
    assert f"drbd {RES}/0 drbd0: disk( UpToDate -> Outdated )" in b.sh("dmesg").stdout


def _fake_crm_master(node: Node) -> Path:
    fake = node.hostdir / "fakebin"
    fake.mkdir(exist_ok=True)
    script = fake / "crm_master"
    script.write_text('#!/bin/sh\necho "$*" >> /run/halab/host/crm_master.log\n')
    script.chmod(0o755)
    return node.hostdir / "crm_master.log"


def _ocf(node: Node, action: str, **env: str) -> int:
    agent = Path(__file__).resolve().parents[2] / "lab" / "drbd" / "ocf" / "drbd"
    extra = " ".join(f"OCF_RESKEY_{k}={v}" for k, v in env.items())
    proc = node.sh(
        f"PATH=/run/halab/host/fakebin:$PATH OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE="
        f"p_drbd OCF_RESKEY_drbd_resource={RES} OCF_RESKEY_CRM_meta_notify=true {extra} "
        f"/usr/bin/python3 {agent} {action}",
        timeout=120,
    )
    return proc.returncode


def test_ocf_agent_actions_and_scores(simlab: SimLab) -> None:
    """start/monitor/promote/demote/stop exit codes and crm_master promotion scores."""
    a, b = simlab.a, simlab.b
    logs = {n.hostname: _fake_crm_master(n) for n in simlab.nodes}
    agent = Path(__file__).resolve().parents[2] / "lab" / "drbd" / "ocf" / "drbd"
    xml = a.sh(f"/usr/bin/python3 {agent} meta-data").stdout
    root = ET.fromstring(xml)  # noqa: S314 - our own agent's meta-data
    assert root.get("name") == "drbd"
    assert {x.get("name") for x in root.iter("action")} >= {
        "start",
        "stop",
        "promote",
        "demote",
        "monitor",
        "notify",
    }
    assert _ocf(a, "monitor", CRM_meta_interval="0") == 7  # probe: not running
    for node in simlab.nodes:
        assert _ocf(node, "start") == 0
    simlab.a.sh(f"drbdadm new-current-uuid --clear-bitmap {RES}", check=True)
    for node in simlab.nodes:
        simlab.wait_for(lambda n=node: n.disk_state() == "UpToDate" and n.peer_disk() == "UpToDate")
        assert _ocf(node, "monitor", CRM_meta_interval="31000") == 0
    assert logs["sim-a"].read_text().splitlines()[-1] == "-Q -l reboot -v 10000"
    assert _ocf(a, "promote") == 0
    assert _ocf(a, "monitor", CRM_meta_interval="29000") == 8
    b.crash()
    simlab.wait_for(lambda: a.conn_state() == "Connecting", timeout=15)
    assert _ocf(a, "monitor", CRM_meta_interval="29000") == 8
    assert logs["sim-a"].read_text().splitlines()[-1] == "-Q -l reboot -v 10000"
    assert _ocf(a, "demote") == 0
    assert _ocf(a, "monitor", CRM_meta_interval="31000") == 0
    # Secondary, UpToDate, peer unknown: local_ok score
    assert logs["sim-a"].read_text().splitlines()[-1] == "-Q -l reboot -v 1000"
    assert _ocf(a, "stop") == 0
    assert logs["sim-a"].read_text().splitlines()[-1] == "-l reboot -D"
    assert _ocf(a, "monitor", CRM_meta_interval="31000") == 7
    assert a.sh(f"drbdsetup status {RES}").returncode == 10
    # after the crash b's disk is Consistent (it may be stale): start gives it no score
    b.boot()
    assert _ocf(b, "start", wfc_timeout="1") == 0
    assert b.disk_state() == "Consistent"
    assert logs["sim-b"].read_text().splitlines()[-1] == "-l reboot -D"
    started = time.monotonic()
    assert _ocf(b, "promote") == 1  # exit 17 from drbdadm primary: no retry loop
    assert time.monotonic() - started < 30
    assert json.loads(b.sh(f"drbdsetup status {RES} --json").stdout)[0]["role"] == "Secondary"
