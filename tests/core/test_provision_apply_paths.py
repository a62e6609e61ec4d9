"""The less travelled paths of ``apply`` (and the probe facts behind them).

Replacing another cluster, adjusting a running DRBD resource, the mount point and the container
image, a node that stops answering, waits that never end, and odd probe answers.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from conftest import endpoint_for, key_credentials
from provision_fake import EMPTY_CIB, FakeCluster, result, two_nodes
import pytest

from hacluster.errors import ActionFailedError, ClusterConnectionError
from hacluster.provision import load_config_file
from hacluster.provision.apply import Applier, _strip_digest
from hacluster.provision.checks import (
    AUTHKEY_PATH,
    CIB_FILE,
    COROSYNC_CONF,
    DiskFacts,
    DiskState,
    Level,
    NodeFacts,
    cluster_checks,
    node_facts,
)
from hacluster.provision.config import ClusterConfig
from hacluster.provision.plan import FileDiff, Plan, make_plan
from hacluster.provision.status import poll_cluster
from hacluster.provision.steps import (
    ClearCib,
    Command,
    CopyAuthkey,
    DrbdAdjust,
    MakeMountPoint,
    Permission,
    PullImage,
    SeedCib,
    Step,
    StopStack,
    WaitApplication,
    WaitCluster,
    replace_permission,
)

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = load_config_file(ROOT / "scripts" / "examples" / "reference-cluster.yaml")


def bare(**kw: object) -> FakeCluster:
    cluster = two_nodes(**kw)
    for node in cluster.nodes.values():
        node.files[AUTHKEY_PATH] = b"k" * 256
        node.packages["docker.io"] = "20.10.24+dfsg1-1+b3"
    return cluster


class Run:
    def __init__(self, cluster: FakeCluster, cfg: ClusterConfig = REFERENCE) -> None:
        self.cluster = cluster
        self.cfg = cfg
        self.lines: list[str] = []

    async def sleep(self, seconds: float) -> None:
        self.cluster.clock += seconds

    def applier(self, granted: tuple[Permission, ...] = ()) -> Applier:
        return Applier(
            self.cfg,
            self.cluster.nodes,
            out=self.lines.append,
            granted=granted,
            sleep=self.sleep,
            monotonic=lambda: self.cluster.clock,
        )

    async def plan(self) -> Plan:
        return await make_plan(self.cfg, self.cluster.nodes, clock=lambda: self.cluster.clock)

    async def apply(self, granted: tuple[Permission, ...] = ()) -> Plan:
        plan = await self.plan()
        await self.applier(granted).apply(plan)
        return plan


async def configured() -> Run:
    run = Run(bare())
    await run.apply()
    return run


async def test_replacing_a_running_foreign_cluster() -> None:
    cluster = bare()
    for node in cluster.nodes.values():
        node.files[COROSYNC_CONF] = b"totem {\n    cluster_name: debian\n}\n"
        node.corosync = node.pacemaker = True
        node.stored_cib = EMPTY_CIB
    cluster.stack_started(cluster["ha-0"])
    run = Run(cluster)
    plan = await run.apply((replace_permission("debian"),))
    assert [s.kind for s in plan.steps][:3] == ["stop_stack", "clear_cib", "write_file"]
    calls = cluster["ha-0"].calls
    assert ("systemctl", "stop", "pacemaker", "corosync") in calls
    assert any(c[:2] == ("sh", "-c") and c[-1].startswith("hacluster-") for c in calls)
    assert "      ha-0: moved /var/lib/pacemaker/cib/cib.xml to x/" in run.lines
    assert cluster["ha-0"].files[COROSYNC_CONF].startswith(b"totem {\n    version: 2\n")
    assert cluster.configured()


async def test_changed_resource_file_is_adjusted_when_allowed() -> None:
    run = await configured()
    run.cfg = replace(REFERENCE, drbd=replace(REFERENCE.drbd, protocol="A"))
    await run.apply((replace_permission("ha_cluster"),))
    for node in run.cluster.nodes.values():
        assert ("drbdadm", "adjust", "home-assistant") in node.calls
        assert b"protocol A;" in node.files["/etc/drbd.d/home-assistant.res"]


async def test_mount_point_and_image_are_prepared() -> None:
    cluster = bare()
    cluster["ha-1"].mount_point = False
    cluster["ha-1"].image = False
    run = Run(cluster)
    plan = await run.apply()
    kinds = [s.kind for s in plan.steps]
    assert kinds.index("mount_point") < kinds.index("pull_image") < kinds.index("start_stack")
    assert ("mkdir", "-p", "/mnt/home-assistant") in cluster["ha-1"].calls
    assert ("docker", "pull", "ghcr.io/home-assistant/home-assistant:stable") in cluster[
        "ha-1"
    ].calls
    assert ("mkdir", "-p", "/mnt/home-assistant") not in cluster["ha-0"].calls


async def test_cluster_wide_commands_fall_back_to_the_next_node() -> None:
    run = await configured()
    run.cfg = replace(REFERENCE, vip=replace(REFERENCE.vip, address="192.168.222.11"))
    plan = await run.plan()
    lost = ClusterConnectionError("ha-0: connection lost")
    for argv in (("crm_attribute",), ("cibadmin",), ("sh",), ("crm_mon",)):
        run.cluster["ha-0"].raises[argv] = lost
    await run.applier().apply(plan)
    assert ("cibadmin", "--patch", "--xml-pipe") in run.cluster["ha-1"].calls
    assert run.cluster.cib is not None
    ip = run.cluster.cib.find(".//nvpair[@id='p_ip_home-assistant-instance_attributes-ip']")
    assert ip is not None
    assert ip.get("value") == "192.168.222.11"


async def test_no_node_answers_the_cluster_wide_command() -> None:
    run = await configured()
    for node in run.cluster.nodes.values():
        node.raises[("crm_attribute",)] = ClusterConnectionError("gone")
    with pytest.raises(ClusterConnectionError, match="gone"):
        await run.applier().on_any(("crm_attribute", "x"))
    empty = Applier(replace(REFERENCE, nodes=()), {}, out=print)
    with pytest.raises(ClusterConnectionError, match="no node answered"):
        await empty.on_any(("crm_attribute",))


async def test_load_cib_when_it_already_matches() -> None:
    run = await configured()
    await run.applier().load_cib()
    assert run.lines[-1] == "      the CIB already holds the configuration"


async def test_waits_that_never_end() -> None:
    run = await configured()
    applier = run.applier()
    wait_app = WaitApplication(title="w", nodes=("ha-0", "ha-1"), resource_id="x", timeout=3)
    with pytest.raises(ActionFailedError, match="waiting for x to run"):
        await applier.wait_application(wait_app)
    real = WaitApplication(
        title="w", nodes=("ha-0", "ha-1"), resource_id="p_docker_home-assistant", timeout=3
    )
    run.cluster["ha-1"].disk_state = "Outdated"
    run.cluster["ha-1"].fail[("drbdsetup",)] = result(
        ("drbdsetup",), 0, run.cluster["ha-1"].drbd_json()
    )
    with pytest.raises(ActionFailedError):
        await applier.wait_application(real)
    del run.cluster["ha-1"].fail[("drbdsetup",)]
    run.cluster["ha-1"].fail[("drbdsetup",)] = result(("drbdsetup",), 10)
    with pytest.raises(ActionFailedError):
        await applier.wait_application(real)
    del run.cluster["ha-1"].fail[("drbdsetup",)]
    run.cluster.isolated = True
    with pytest.raises(ActionFailedError):
        await applier.wait_application(real)
    run.cluster.isolated = False
    run.cluster.maintenance = True
    with pytest.raises(ActionFailedError):
        await applier.wait_application(real)
    run.cluster.maintenance = False
    # the application runs where DRBD is not promoted
    run.cluster.clone_id = "ms_other"
    with pytest.raises(ActionFailedError):
        await applier.wait_application(real)
    run.cluster.clone_id = "ms_drbd_home-assistant"
    # a node that is not online
    with pytest.raises(ActionFailedError, match="waiting for the cluster"):
        await applier.wait_cluster(WaitCluster(title="w", nodes=("ha-0", "ha-9"), timeout=2))
    # crm_mon answers nowhere
    for node in run.cluster.nodes.values():
        node.fail[("crm_mon",)] = result(("crm_mon",), 102)
    assert await applier.crm_status() is None
    for node in run.cluster.nodes.values():
        node.raises[("crm_mon",)] = ClusterConnectionError("x")
    assert await applier.crm_status() is None
    # the probe's own errors are retried, then reported with the timeout
    run.cluster["ha-0"].raises[("drbdsetup",)] = ClusterConnectionError("flaky")
    for node in run.cluster.nodes.values():
        node.raises.pop(("crm_mon",))
        node.fail.pop(("crm_mon",))
    with pytest.raises(ActionFailedError, match=r"\(flaky\)"):
        await applier.wait_application(real)


async def test_step_commands_for_dry_run() -> None:
    assert Step(title="t", nodes=()).commands() == ()
    assert cmd(StopStack(title="t", nodes=("a",)).commands()[0]).display() == (
        "a$ systemctl stop pacemaker corosync"
    )
    assert cmd(ClearCib(title="t", nodes=("a",), suffix="s").commands()[0]).display() == (
        "a$ sh -c <clear-cib script> s"
    )
    assert cmd(DrbdAdjust(title="t", nodes=("a",), resource="r").commands()[0]).display() == (
        "a$ drbdadm adjust r"
    )
    assert cmd(MakeMountPoint(title="t", nodes=("a",), path="/m").commands()[0]).argv == (
        "mkdir", "-p", "/m",
    )  # fmt: skip
    assert cmd(PullImage(title="t", nodes=("a",), image="i").commands()[0]).argv == (
        "docker", "pull", "i",
    )  # fmt: skip
    copy = CopyAuthkey(title="t", nodes=("a", "b"), path="/k", source="a").commands()
    assert [cmd(c).display() for c in copy] == [
        "a$ cat /k",
        "b$ sh -c <write-file script> /k 0400 < the authkey of a",
    ]
    seed = SeedCib(title="t", nodes=("a",), path=CIB_FILE, content=b"<cib/>")
    assert repr(seed) == "SeedCib('/var/lib/pacemaker/cib/cib.xml', nodes=('a',))"
    assert [cmd(c).display() for c in seed.commands()] == [
        "a$ sh -c <write-file script> /var/lib/pacemaker/cib/cib.xml 0600 "
        "< a CIB with the cluster properties (6 bytes)",
        "a$ chown hacluster:haclient /var/lib/pacemaker/cib/cib.xml",
    ]
    assert Command(node="a", argv=("sh", "-c", "echo", "sh", "x")).display() == (
        "a$ sh -c <script> x"
    )


def cmd(item: Command | str) -> Command:
    assert isinstance(item, Command)
    return item


def test_strip_digest() -> None:
    assert _strip_digest('<diff format="1" digest="ab">x</diff>') == '<diff format="1">x</diff>'
    assert _strip_digest('<diff format="2">x</diff>') == '<diff format="2">x</diff>'


def test_file_diff_changed() -> None:
    assert FileDiff(path="/x", groups=((("a",), "new", ()),)).changed
    assert not FileDiff(path="/x", groups=((("a",), "same", ()),)).changed


# --------------------------------------------------------------------------------------------
# probe facts
# --------------------------------------------------------------------------------------------


def disk_of(facts: NodeFacts) -> DiskFacts:
    assert facts.disk is not None
    return facts.disk


def facts_of(**answers: object) -> NodeFacts:
    node = REFERENCE.nodes[0]
    results = {name: result((name,), *value) for name, value in answers.items()}  # type: ignore[misc]
    return node_facts(REFERENCE, node, results)


def test_odd_probe_answers() -> None:
    facts = facts_of(disk_type=(0, "regular file\n"))
    assert disk_of(facts).state is DiskState.NOT_BLOCK
    facts = facts_of(
        disk_type=(0, "block special file\n"),
        blkid=(0, "TYPE=ext4\nTYPE=ext4\nPTTYPE=gpt\n"),
        wipefs=(0, '{"signatures": [{"type": "ext4"}, {"type": "gpt"}, {"type": ""}]}'),
        dump_md=(255, "", "No valid meta data found"),
        packages=(1, "pacemaker\tconfig-files\t2.1\nbroken line\n"),
        getent=(0, "10.0.0.1 ha-0 ha-0\n10.0.0.2 ha-0\n"),
        drbd_status=(0, "not json"),
        crm_mon=(0, "<broken"),
    )
    assert disk_of(facts).state is DiskState.HAS_DATA
    assert disk_of(facts).signatures == ("ext4", "gpt")
    assert facts.packages == {}
    assert facts.resolves == {"ha-0": ("10.0.0.1", "10.0.0.2")}
    assert facts.drbd is None
    assert facts.crm is None
    facts = facts_of(
        disk_type=(0, "block special file\n"),
        blkid=(1, "", "blkid: error"),
        wipefs=(0, "{not json"),
    )
    assert disk_of(facts).state is DiskState.UNKNOWN
    facts = facts_of(
        disk_type=(0, "block special file\n"), blkid=(2, ""), wipefs=(0, '{"signatures": []}')
    )
    assert disk_of(facts).state is DiskState.EMPTY
    assert "DRBD meta data not checked" in disk_of(facts).detail
    assert facts.image_present is None
    assert facts_of().resolves == {}


async def test_drbd_meta_data_without_a_node_id_is_kept() -> None:
    cluster = bare(metadata=True)
    run = Run(cluster)
    plan = await run.plan()
    assert plan.facts[0].disk is not None
    assert plan.facts[0].disk.state is DiskState.DRBD
    check = next(c for c in plan.checks if c.name == "disk" and c.node == "ha-0")
    assert check.level is Level.WARN
    assert "kept as it is" in check.message
    assert "create_md" not in [s.kind for s in plan.steps]


async def test_fresh_disks_under_a_managing_pacemaker_are_not_bootstrapped() -> None:
    run = await configured()
    for node in run.cluster.nodes.values():
        node.metadata = False
        node.drbd_up = False
    run.cluster.maintenance = True  # so the fake Pacemaker does not bring DRBD up again
    plan = await run.plan()
    kinds = [s.kind for s in plan.steps]
    assert "create_md" in kinds
    assert "drbd_up" not in kinds
    assert any(c.name == "drbd" and c.level is Level.WARN for c in plan.checks)


async def test_unreadable_clock_and_single_kernel() -> None:
    cluster = bare()
    cluster["ha-0"].fail[("date",)] = result(("date",), 0, "soon\n")
    run = Run(cluster)
    plan = await run.plan()
    assert plan.facts[0].clock_offset is None
    assert not any(c.name == "time" for c in plan.checks)
    assert cluster_checks(REFERENCE, ()) == []


async def test_poll_cluster_reads_every_node(
    ssh_server: object, client_keys: dict[str, object]
) -> None:
    endpoint = endpoint_for(ssh_server, name="ha-0")  # type: ignore[arg-type]
    credentials = key_credentials(client_keys["ssh-ed25519"])  # type: ignore[arg-type]
    snap = await poll_cluster({"ha-0": (endpoint, credentials)})
    assert snap.reachable == ("ha-0",)
