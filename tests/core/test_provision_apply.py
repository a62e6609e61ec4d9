"""``provision apply``: exact commands in order, idempotency, refusals, dry run, failures.

The nodes are :mod:`provision_fake` stand-ins; time is simulated (waits cost nothing).
"""

from __future__ import annotations

from dataclasses import replace
import hashlib
from pathlib import Path

from provision_fake import FakeCluster, result, two_nodes
import pytest

from hacluster.errors import ActionFailedError, InterlockError
from hacluster.provision import load_config_file
from hacluster.provision.apply import Applier, ApplyResult, apply_plan, format_dry_run
from hacluster.provision.checks import AUTHKEY_PATH, COROSYNC_CONF
from hacluster.provision.config import ClusterConfig
from hacluster.provision.plan import Plan, make_plan, rendered_files
from hacluster.provision.steps import (
    CIB_DIFF_SCRIPT,
    WRITE_FILE_SCRIPT,
    replace_permission,
    wipe_permission,
)

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = load_config_file(ROOT / "scripts" / "examples" / "reference-cluster.yaml")
KEY = b"k" * 256
PROBE = {
    "id", "uname", "dpkg-query", "modinfo", "getent", "stat", "blockdev", "lsblk", "findmnt",
    "blkid", "drbdmeta", "ufw", "sha256sum", "pidof", "test", "date",
}  # fmt: skip


def bare(**kw: object) -> FakeCluster:
    cluster = two_nodes(**kw)
    for node in cluster.nodes.values():
        node.files[AUTHKEY_PATH] = KEY
        node.packages["docker.io"] = "20.10.24+dfsg1-1+b3"
    return cluster


class Run:
    """A plan + apply against a fake cluster with simulated time and captured output."""

    def __init__(self, cluster: FakeCluster, cfg: ClusterConfig = REFERENCE) -> None:
        self.cluster = cluster
        self.cfg = cfg
        self.lines: list[str] = []

    async def sleep(self, seconds: float) -> None:
        self.cluster.clock += seconds

    def applier(self, granted: tuple[object, ...] = ()) -> Applier:
        return Applier(
            self.cfg,
            self.cluster.nodes,
            out=self.lines.append,
            granted=granted,  # type: ignore[arg-type]
            sleep=self.sleep,
            monotonic=lambda: self.cluster.clock,
            random_bytes=lambda n: b"r" * n,
        )

    async def plan(self) -> Plan:
        return await make_plan(self.cfg, self.cluster.nodes, clock=lambda: self.cluster.clock)

    async def apply(
        self, granted: tuple[object, ...] = (), *, dry_run: bool = False
    ) -> ApplyResult:
        for node in self.cluster.nodes.values():
            node.calls.clear()
        plan = await self.plan()
        self.mark = {n: len(node.calls) for n, node in self.cluster.nodes.items()}
        return await self.applier(granted).apply(plan, dry_run=dry_run)

    def changes(self, node: str) -> list[tuple[str, ...]]:
        """The commands apply ran on ``node`` (not the plan's probe, not polls)."""
        calls = self.cluster[node].calls[self.mark[node] :]
        polls = {("drbdsetup", "status"), ("crm_mon", "--output-as=xml"), ("cibadmin", "--query")}
        out = []
        for call in calls:
            if call[:2] in polls or call[:1] == ("crm_mon",):
                continue
            if call[:2] == ("sh", "-c"):
                name = {WRITE_FILE_SCRIPT: "WRITE", CIB_DIFF_SCRIPT: "CIB_DIFF"}[call[2]]
                out.append(("sh", name, *call[4:]))
                continue
            out.append(call)
        return out


# --------------------------------------------------------------------------------------------
# from bare nodes to a running cluster, and again
# --------------------------------------------------------------------------------------------


async def test_apply_builds_the_cluster_in_order() -> None:
    run = Run(bare())
    outcome = await run.apply()
    assert outcome.changed
    assert outcome.steps == 15
    assert run.changes("ha-0") == [
        ("sh", "WRITE", "/etc/corosync/corosync.conf", "0644"),
        ("sh", "WRITE", "/etc/drbd.d/home-assistant.res", "0644"),
        ("drbdadm", "create-md", "home-assistant"),
        ("drbdadm", "up", "home-assistant"),
        ("drbdadm", "new-current-uuid", "--clear-bitmap", "home-assistant"),
        ("drbdadm", "primary", "home-assistant"),
        ("blkid", "-p", "-o", "export", "/dev/drbd0"),
        ("mkfs.ext4", "/dev/drbd0"),
        ("drbdadm", "secondary", "home-assistant"),
        ("drbdadm", "down", "home-assistant"),
        ("sh", "WRITE", "/var/lib/pacemaker/cib/cib.xml", "0600"),
        ("chown", "hacluster:haclient", "/var/lib/pacemaker/cib/cib.xml"),
        ("systemctl", "start", "corosync", "pacemaker"),
        ("crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", "--update", "true"),
        ("sh", "CIB_DIFF", run.changes("ha-0")[14][2]),
        ("cibadmin", "--patch", "--xml-pipe"),
        ("crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", "--delete"),
        ("crm_resource", "--wait", "--timeout=300s"),
    ]
    # the other node: the same files and DRBD steps, but no initial sync, mkfs or CIB work
    assert run.changes("ha-1") == [
        ("sh", "WRITE", "/etc/corosync/corosync.conf", "0644"),
        ("sh", "WRITE", "/etc/drbd.d/home-assistant.res", "0644"),
        ("drbdadm", "create-md", "home-assistant"),
        ("drbdadm", "up", "home-assistant"),
        ("drbdadm", "down", "home-assistant"),
        ("sh", "WRITE", "/var/lib/pacemaker/cib/cib.xml", "0600"),
        ("chown", "hacluster:haclient", "/var/lib/pacemaker/cib/cib.xml"),
        ("systemctl", "start", "corosync", "pacemaker"),
    ]
    files = rendered_files(REFERENCE)
    for node in run.cluster.nodes.values():
        for path, content in files.items():
            assert node.files[path] == content
    # the patch is applied without crm_diff's digest (it covers our document, not the CIB)
    assert run.cluster.patches
    assert 'digest="' not in run.cluster.patches[0]
    assert not run.cluster.maintenance
    assert run.cluster.configured()
    text = "\n".join(run.lines)
    assert "[1/15] write /etc/corosync/corosync.conf [ha-0, ha-1]" in text
    assert "[15/15] wait until p_docker_home-assistant runs [ha-0, ha-1]" in text
    assert "p_docker_home-assistant runs on ha-0; DRBD Connected and UpToDate" in text
    assert "done in 0.0 s" in text
    assert "Applied 15 steps in" in text
    # the CIB diff went over stdin with a random separator line, the old CIB without status
    ha0 = run.cluster["ha-0"]
    index = ha0.calls.index(next(c for c in ha0.calls if c[:3] == ("sh", "-c", CIB_DIFF_SCRIPT)))
    payload = ha0.stdins[index].decode()
    separator = ha0.calls[index][4]
    assert separator.startswith("--hacluster-")
    assert f"\n{separator}\n" in payload
    assert "<status" not in payload


async def test_second_apply_is_a_no_op_and_says_so() -> None:
    run = Run(bare())
    await run.apply()
    run.lines.clear()
    outcome = await run.apply()
    assert outcome == ApplyResult(steps=0, duration=0.0, changed=False)
    assert run.lines == [
        "Nothing to do: cluster ha_cluster already matches the description "
        "(no step run, nothing changed)."
    ]
    for name in run.cluster.nodes:
        assert run.changes(name) == []
        assert {c[0] for c in run.cluster[name].calls} <= PROBE | {
            "cat", "drbdadm", "wipefs", "drbdsetup", "cibadmin", "crm_mon", "docker",
        }  # fmt: skip


async def test_files_are_backed_up_and_verified() -> None:
    cluster = bare()
    cluster["ha-0"].files[COROSYNC_CONF] = b"totem {\n    cluster_name: ha_cluster\n}\n"
    run = Run(cluster)
    await run.apply()
    assert (
        cluster["ha-0"].files["/etc/corosync/corosync.conf.hacluster-20250101-000000.bak"]
        == b"totem {\n    cluster_name: ha_cluster\n}\n"
    )
    assert (
        "      ha-0: backup /etc/corosync/corosync.conf.hacluster-20250101-000000.bak" in run.lines
    )


async def test_a_write_that_does_not_stick_fails() -> None:
    cluster = bare()
    cluster.corrupt_writes = True
    with pytest.raises(ActionFailedError, match="does not have the written content"):
        await Run(cluster).apply()


async def test_authkey_made_here_is_the_same_everywhere() -> None:
    cluster = bare()
    for node in cluster.nodes.values():
        del node.files[AUTHKEY_PATH]
    run = Run(cluster)
    await run.apply()
    assert cluster["ha-0"].files[AUTHKEY_PATH] == b"r" * 256
    assert cluster["ha-1"].files[AUTHKEY_PATH] == b"r" * 256
    assert "      made a new 256-byte key" in run.lines
    assert not any("rrrr" in line for line in run.lines)


async def test_authkey_is_copied_from_its_node() -> None:
    cluster = bare()
    del cluster["ha-1"].files[AUTHKEY_PATH]
    run = Run(cluster)
    await run.apply()
    assert run.changes("ha-0")[0] == ("cat", AUTHKEY_PATH)
    assert run.changes("ha-1")[0] == ("sh", "WRITE", AUTHKEY_PATH, "0400")
    assert cluster["ha-1"].files[AUTHKEY_PATH] == KEY


async def test_empty_source_authkey_fails() -> None:
    cluster = bare()
    del cluster["ha-1"].files[AUTHKEY_PATH]
    cluster["ha-0"].fail[("cat", AUTHKEY_PATH)] = result(("cat",), 0, b"")
    with pytest.raises(ActionFailedError, match="is empty"):
        await Run(cluster).apply()


# --------------------------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------------------------


async def test_destructive_steps_are_refused_unless_named_exactly() -> None:
    cluster = bare()
    cluster["ha-0"].signatures = ["ext4"]
    run = Run(cluster)
    for granted in ((), (wipe_permission("ha-0", "/dev/sdc"),), (replace_permission("x"),)):
        with pytest.raises(InterlockError) as err:
            await run.apply(granted)
        assert str(err.value).endswith("to allow them, add: --wipe-disk ha-0:/dev/sdb")
        assert err.value.reasons == (wipe_permission("ha-0", "/dev/sdb"),)
        assert run.changes("ha-0") == []
        assert cluster["ha-0"].signatures == ["ext4"]
    await run.apply((wipe_permission("ha-0", "/dev/sdb"),))
    assert run.changes("ha-0")[2:4] == [
        ("wipefs", "--all", "/dev/sdb"),
        ("drbdadm", "create-md", "--force", "home-assistant"),
    ]
    assert "      ha-0: /dev/sdb: 2 bytes were erased at offset 0x438 (ext4)" in run.lines


async def test_failed_checks_block_apply() -> None:
    cluster = bare()
    cluster["ha-1"].mounted = ["/data"]
    run = Run(cluster)
    with pytest.raises(InterlockError, match="ha-1: /dev/sdb is mounted on /data"):
        await run.apply()
    assert run.changes("ha-0") == []


async def test_dry_run_prints_commands_and_runs_nothing() -> None:
    cluster = bare()
    cluster["ha-0"].signatures = ["ext4"]
    run = Run(cluster)
    outcome = await run.apply(dry_run=True)
    assert outcome.dry_run
    assert not outcome.changed
    assert run.changes("ha-0") == []
    assert run.changes("ha-1") == []
    text = "\n".join(run.lines)
    assert text.startswith("Dry run: nothing is changed. apply would run:")
    assert "[3/17] DESTRUCTIVE wipe ha-0:/dev/sdb [ha-0]" in text
    assert "      ha-0$ wipefs --all /dev/sdb" in text
    assert "      ha-0$ drbdadm create-md --force home-assistant" in text
    assert (
        "      ha-1$ sh -c <write-file script> /etc/corosync/corosync.conf 0644 "
        "< corosync.conf (" in text
    )
    assert "      ha-0$ drbdadm new-current-uuid --clear-bitmap home-assistant" in text
    assert "      ha-0$ mkfs.ext4 /dev/drbd0" in text
    assert "      ha-1$ systemctl start corosync pacemaker" in text
    assert "crm_attribute --type crm_config --name maintenance-mode --update true" in text
    assert "<a running node>$ cibadmin --patch --xml-pipe < the patch" in text
    assert text.endswith("(a real run needs --wipe-disk ha-0:/dev/sdb)")
    assert format_dry_run(await run.plan())[0].startswith("Dry run")


# --------------------------------------------------------------------------------------------
# DRBD details
# --------------------------------------------------------------------------------------------


async def test_existing_metadata_is_kept_and_no_mkfs() -> None:
    # meta data that neither blkid nor drbdmeta could show (the lab's DRBD stand-in)
    cluster = bare(metadata=True, disk_state="UpToDate")
    cluster.blkid_sees_drbd = False
    cluster.device_fs = "ext4"
    run = Run(cluster)
    await run.apply()
    text = "\n".join(run.lines)
    assert "ha-0: DRBD meta data already present, kept" in text
    assert "not a fresh resource (ha-0 UpToDate, ha-1 UpToDate)" in text
    assert "skipped: not a fresh resource (its file system is kept)" in text
    assert ("mkfs.ext4", "/dev/drbd0") not in run.changes("ha-0")


async def test_mkfs_refuses_a_device_with_a_filesystem() -> None:
    cluster = bare()
    cluster.device_fs = "xfs"
    run = Run(cluster)
    with pytest.raises(InterlockError, match=r"/dev/drbd0 already holds TYPE=xfs"):
        await run.apply()
    assert run.changes("ha-0")[-1] == ("drbdadm", "secondary", "home-assistant")


async def test_create_md_failure_is_reported() -> None:
    cluster = bare()
    cluster["ha-1"].fail[("drbdadm", "create-md")] = result(
        ("drbdadm",), 20, err="open(/dev/sdb) failed: Permission denied\n"
    )
    with pytest.raises(ActionFailedError, match="ha-1: drbdadm create-md failed .*Permission"):
        await Run(cluster).apply()


async def test_a_failing_command_names_node_and_stderr() -> None:
    cluster = bare()
    cluster["ha-1"].fail[("drbdadm", "up")] = result(("drbdadm",), 10, err="no such resource\n")
    with pytest.raises(ActionFailedError, match=r"ha-1: drbdadm up home-assistant failed "
                       r"\(exit status 10\): no such resource"):  # fmt: skip
        await Run(cluster).apply()


async def test_drbd_that_does_not_connect_times_out() -> None:
    cluster = bare()
    cluster.isolated = True
    with pytest.raises(ActionFailedError, match=r"timed out after 60 s waiting for DRBD"):
        await Run(cluster).apply()


# --------------------------------------------------------------------------------------------
# the CIB
# --------------------------------------------------------------------------------------------


async def test_vip_change_patches_the_cib_and_nothing_else() -> None:
    run = Run(bare())
    await run.apply()
    run.cfg = replace(REFERENCE, vip=replace(REFERENCE.vip, address="192.168.222.11"))
    await run.apply()
    assert run.changes("ha-1") == []
    assert [c[0] for c in run.changes("ha-0")] == [
        "crm_attribute",
        "sh",
        "cibadmin",
        "crm_attribute",
        "crm_resource",
    ]
    assert run.cluster.cib is not None
    ip = run.cluster.cib.find(".//nvpair[@id='p_ip_home-assistant-instance_attributes-ip']")
    assert ip is not None
    assert ip.get("value") == "192.168.222.11"
    # Pacemaker's own properties survive
    props = {nv.get("name") for nv in run.cluster.cib.iter("nvpair")}
    assert {"dc-version", "cluster-infrastructure"} <= props
    assert "maintenance-mode" not in props


async def test_a_patch_that_misses_changes_falls_back_to_replace() -> None:
    cluster = bare()
    cluster.patch_is_noop = True
    run = Run(cluster)
    await run.apply()
    assert len(cluster.replaced) == 1
    assert cluster.replaced[0].startswith("<configuration>")
    assert "replacing the configuration section with the merged one" in "\n".join(run.lines)
    assert cluster.configured()


async def test_cib_that_never_matches_fails() -> None:
    cluster = bare()
    cluster.patch_is_noop = True
    cluster["ha-0"].fail[("cibadmin", "--replace")] = result(("cibadmin",), 0)
    cluster["ha-1"].fail[("cibadmin", "--replace")] = result(("cibadmin",), 0)
    with pytest.raises(ActionFailedError, match="the CIB still differs"):
        await Run(cluster).apply()


async def test_application_that_does_not_start_times_out() -> None:
    cluster = bare()
    cluster.app_fails = True
    run = Run(cluster)
    with pytest.raises(ActionFailedError, match="waiting for p_docker_home-assistant to run"):
        await run.apply()


async def test_a_cluster_that_never_settles_fails() -> None:
    cluster = bare()
    cluster.never_settles = True
    with pytest.raises(ActionFailedError, match="crm_resource --wait failed .*settle"):
        await Run(cluster).apply()


async def test_apply_plan_helper() -> None:
    cluster = bare()
    lines: list[str] = []
    plan = await make_plan(REFERENCE, cluster.nodes, clock=lambda: cluster.clock)
    outcome = await apply_plan(REFERENCE, plan, cluster.nodes, out=lines.append, dry_run=True)
    assert outcome.dry_run
    assert lines[0].startswith("Dry run")


def test_key_never_in_repr() -> None:
    from hacluster.provision.steps import WriteFile

    step = WriteFile(title="t", nodes=("a",), path="/etc/corosync/authkey", content=KEY)
    assert "kkkk" not in repr(step)
    assert hashlib.sha256(KEY).hexdigest() not in repr(step)
