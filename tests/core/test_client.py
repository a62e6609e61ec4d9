"""ClusterClient: one exec per node per poll, all nodes at once, recorded outputs end to end.

Two in-process SSH servers play ha-0 and ha-1. Their stubbed cluster tools answer with the
recorded fixtures, so the real batch script, the real transport and the real parsers run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from conftest import endpoint_for, key_credentials
import pytest
from sshserver import FakeSSHServer

from hacluster.client import (
    ClusterClient,
    NodeReport,
    build_node_report,
    build_snapshot,
    error_kind,
)
from hacluster.commands import POLL_COMMANDS
from hacluster.errors import (
    AuthenticationError,
    ClusterConnectionError,
    ClusterTimeoutError,
    HostKeyError,
    ParseError,
    PermissionDeniedError,
)
from hacluster.models.drbd import ConnectionState, DiskState, DrbdRole
from hacluster.models.pacemaker import NodeState
from hacluster.transport import CommandResult, NodeEndpoint

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(path: str) -> bytes:
    """A recorded output."""
    return (FIXTURES / path).read_bytes()


HEALTHY = {
    "ha-0": {
        "crm_mon": fixture("pacemaker/healthy.xml"),
        "drbd": fixture("drbd/status-json-9.22-healthy-primary.json"),
        "quorum": fixture("corosync/quorumtool-3.1.7-two-node-ha-0.txt"),
        "links": fixture("corosync/cfgtool-3.1.7-two-node-ha-0.txt"),
    },
    "ha-1": {
        "crm_mon": fixture("pacemaker/healthy.xml"),
        "drbd": fixture("drbd/status-json-9.22-healthy-secondary.json"),
        "quorum": fixture("corosync/quorumtool-3.1.7-two-node-ha-1.txt"),
        "links": fixture("corosync/cfgtool-3.1.7-two-node-ha-1.txt"),
    },
}


def serve_node(server: FakeSSHServer, outputs: dict[str, bytes]) -> None:
    """Make ``server`` answer a poll with ``outputs`` (uname is the real one)."""
    server.respond(
        ("crm_mon", "--output-as=xml", "--exclude=operations"), stdout=outputs["crm_mon"]
    )
    server.respond(
        ("cibadmin", "--query", "--scope", "constraints"),
        stdout=fixture("pacemaker/healthy.constraints.xml"),
    )
    server.respond(
        ("cibadmin", "--query", "--scope", "crm_config"),
        stdout=fixture("pacemaker/healthy.crm_config.xml"),
    )
    server.respond(("drbdsetup", "status", "--json"), stdout=outputs["drbd"])
    server.respond(("drbdsetup", "events2", "--now", "--statistics"), stdout=b"exists -\n")
    server.respond(("dmesg",), stdout=outputs.get("dmesg", b""))
    server.respond(("corosync-quorumtool", "-s"), stdout=outputs["quorum"])
    server.respond(("corosync-cfgtool", "-s"), stdout=outputs["links"])


@pytest.fixture
async def cluster(
    ssh_server_factory: Callable[..., Awaitable[FakeSSHServer]],
    client_keys: dict[str, object],
) -> tuple[ClusterClient, dict[str, FakeSSHServer]]:
    """A client for two fake nodes that answer like the healthy reference cluster."""
    servers = {name: await ssh_server_factory() for name in ("ha-0", "ha-1")}
    for name, server in servers.items():
        serve_node(server, HEALTHY[name])
    endpoints = [endpoint_for(server, name) for name, server in servers.items()]
    client = ClusterClient(
        endpoints,
        key_credentials(client_keys["ssh-ed25519"]),  # type: ignore[arg-type]
        connect_timeout=2.0,
        command_timeout=5.0,
    )
    return client, servers


async def test_poll_reads_the_whole_cluster_in_one_exec_per_node(
    cluster: tuple[ClusterClient, dict[str, FakeSSHServer]],
) -> None:
    client, servers = cluster
    try:
        snap = await client.poll()
        assert {s.execs for s in servers.values()} == {1}
        assert snap.reachable == ("ha-0", "ha-1")
        assert snap.view_from == "ha-0"  # the DC's own view
        assert not snap.partitioned
        assert snap.pacemaker is not None
        assert snap.pacemaker.cluster_name == "ha_cluster"
        assert {n.name: n.state for n in snap.pacemaker.nodes} == {
            "ha-0": NodeState.ONLINE,
            "ha-1": NodeState.ONLINE,
        }
        ha0 = snap.node("ha-0")
        assert ha0 is not None
        assert ha0.drbd is not None
        res = ha0.drbd.resource("home-assistant")
        assert res is not None
        assert res.role is DrbdRole.PRIMARY
        assert res.disk_state is DiskState.UP_TO_DATE
        assert res.connections[0].connection_state is ConnectionState.CONNECTED
        assert ha0.quorum is not None
        assert ha0.quorum.quorate
        assert ha0.quorum.two_node
        assert ha0.links is not None
        assert ha0.links.connected(2) is True
        assert ha0.missing_tools == ()
        assert ha0.command_errors == {}
        assert ha0.hostname
        assert snap.split_brain["home-assistant"].split_brain is False
        assert snap.bytes_read > len(HEALTHY["ha-0"]["crm_mon"])
        assert snap.node("nope") is None

        again = await client.poll()
        assert {s.execs for s in servers.values()} == {2}
        assert {s.connections for s in servers.values()} == {1}  # connections are reused
        assert again.view_from == "ha-0"
        as_dict = again.to_dict()
        assert as_dict["nodes"]["ha-1"]["drbd"]["resources"]["home-assistant"]["role"] == (
            "Secondary"
        )
    finally:
        await client.close()


@pytest.mark.parametrize("parallel", [True, False])
async def test_poll_runs_the_commands_side_by_side(
    cluster: tuple[ClusterClient, dict[str, FakeSSHServer]],
    client_keys: dict[str, object],
    parallel: bool,
) -> None:
    """By default a node runs the poll's commands at once (they only read); on request in order.

    crm_mon and drbdsetup status each take 0.6 s: side by side they start together, in order
    the second starts after the first has ended.
    """
    client, servers = cluster
    server = servers["ha-0"]
    for argv, out in (
        (("crm_mon", "--output-as=xml", "--exclude=operations"), HEALTHY["ha-0"]["crm_mon"]),
        (("drbdsetup", "status", "--json"), HEALTHY["ha-0"]["drbd"]),
    ):
        server.respond(argv, stdout=out, delay=0.6)
    if not parallel:
        client = ClusterClient(
            client.endpoints,
            key_credentials(client_keys["ssh-ed25519"]),  # type: ignore[arg-type]
            transport=client.transport,
            parallel=False,
        )
    try:
        snap = await client.poll()
        ha0 = snap.node("ha-0")
        assert ha0 is not None
        assert ha0.pacemaker is not None
        assert ha0.drbd is not None
        assert server.execs == 1
        starts = {a[0]: t for t, a in server.timed_calls if a[0] in ("crm_mon", "drbdsetup")}
        gap = abs(starts["crm_mon"] - starts["drbdsetup"])
        assert gap < 0.5 if parallel else gap >= 0.6
    finally:
        await client.close()


async def test_unreachable_node_does_not_hide_the_others(
    cluster: tuple[ClusterClient, dict[str, FakeSSHServer]],
) -> None:
    client, servers = cluster
    try:
        await servers["ha-0"].stop()
        snap = await client.poll()
        ha0 = snap.node("ha-0")
        assert ha0 is not None
        assert not ha0.reachable
        assert ha0.error_kind in {"connection", "timeout"}
        assert ha0.to_dict()["reachable"] is False
        assert snap.view_from == "ha-1"
        assert snap.pacemaker is not None
        assert snap.pacemaker.dc == "ha-0"  # ha-1's view still names the DC
    finally:
        await client.close()


async def test_missing_tools_and_stack_down(
    cluster: tuple[ClusterClient, dict[str, FakeSSHServer]],
) -> None:
    client, servers = cluster
    server = servers["ha-1"]
    server.respond(
        ("crm_mon", "--output-as=xml", "--exclude=operations"),
        stdout=fixture("pacemaker/stack-down.xml"),
        exit_status=102,
    )
    server.respond(("cibadmin", "--query", "--scope", "constraints"), exit_status=127)
    server.respond(("cibadmin", "--query", "--scope", "crm_config"), exit_status=127)
    server.respond(("drbdsetup", "status", "--json"), exit_status=127)
    server.respond(("drbdsetup", "events2", "--now", "--statistics"), exit_status=127)
    try:
        snap = await client.poll()
        ha1 = snap.node("ha-1")
        assert ha1 is not None
        assert ha1.reachable
        assert ha1.pacemaker is not None
        assert not ha1.pacemaker.stack_running
        assert ha1.drbd is None
        assert "drbd_status" in ha1.missing_tools
        assert snap.view_from == "ha-0"
    finally:
        await client.close()


def _result(name: str, stdout: bytes, exit_status: int = 0, stderr: bytes = b"") -> CommandResult:
    return CommandResult(argv=(name,), exit_status=exit_status, stdout=stdout, stderr=stderr)


ENDPOINT = NodeEndpoint(name="ha-0", host="192.0.2.10", port=22, host_key="ssh-ed25519 AAAA")


def test_malformed_output_costs_only_that_part() -> None:
    report = build_node_report(
        ENDPOINT,
        {
            "crm_mon": _result("crm_mon", b"<crm_mon"),
            "drbd_status": _result("drbd", fixture("drbd/status-json-9.22-healthy-primary.json")),
            "quorum": _result("q", b"garbage\n"),
            "links": _result("l", fixture("corosync/cfgtool-3.1.7-two-node-ha-0.txt")),
            "hostname": _result("uname", b"ha-0\n"),
        },
    )
    assert report.pacemaker is None
    assert "crm_mon" in report.command_errors
    assert report.drbd is not None
    assert report.links is not None
    assert report.hostname == "ha-0"


def test_failed_commands_are_described() -> None:
    report = build_node_report(
        ENDPOINT,
        {
            "crm_mon": _result("crm_mon", b"", 1, b"crm_mon: Permission denied\n"),
            "drbd_status": _result("drbd", b"", 10, b""),
        },
    )
    assert report.pacemaker is None
    assert report.command_errors["crm_mon"] == "exit 1: crm_mon: Permission denied"
    assert report.command_errors["drbd_status"] == "exit 10: no output"


def test_split_brain_from_kernel_log_and_peer_reports() -> None:
    reports = [
        build_node_report(
            NodeEndpoint(name=node, host=f"192.0.2.{i}", host_key="ssh-ed25519 AAAA"),
            {
                "drbd_status": _result(
                    "drbd", fixture(f"drbd/status-json-9.22-split-brain-{node}.json")
                ),
                "kernel_log": _result(
                    "dmesg", fixture("drbd/kernel-dmesg-split-brain-ha-0.txt") if i == 0 else b""
                ),
            },
        )
        for i, node in enumerate(("ha-0", "ha-1"))
    ]
    snap = build_snapshot(reports, polled_at=0.0)
    verdict = snap.split_brain["home-assistant"]
    assert verdict.split_brain
    assert any("Split-Brain detected but unresolved" in e for e in verdict.evidence)
    ha0 = snap.node("ha-0")
    assert ha0 is not None
    assert ha0.drbd is not None
    own = ha0.drbd.resource("home-assistant")
    assert own is not None
    assert own.split_brain.split_brain
    assert snap.pacemaker is None
    assert snap.view_from is None


def test_partitioned_views() -> None:
    def report(node: str, dc: str) -> NodeReport:
        xml = fixture("pacemaker/healthy.xml").replace(
            b'name="ha-0" id="1" with_quorum', (f'name="{dc}" id="1" with_quorum'.encode())
        )
        return build_node_report(
            NodeEndpoint(name=node, host="192.0.2.1", host_key="ssh-ed25519 AAAA"),
            {"crm_mon": _result("crm_mon", xml)},
        )

    snap = build_snapshot([report("ha-0", "ha-0"), report("ha-1", "ha-1")], polled_at=0.0)
    assert snap.partitioned
    assert snap.view_from == "ha-0"


@pytest.mark.parametrize(
    ("err", "kind"),
    [
        (HostKeyError("x"), "host_key"),
        (AuthenticationError("x"), "auth"),
        (ClusterTimeoutError("x"), "timeout"),
        (PermissionDeniedError("x"), "permission"),
        (ParseError("x"), "parse"),
        (ClusterConnectionError("x"), "connection"),
    ],
)
def test_error_kind(err: Exception, kind: str) -> None:
    assert error_kind(err) == kind


def test_poll_commands_cover_what_the_report_reads() -> None:
    names = {c.name for c in POLL_COMMANDS}
    assert {
        "crm_mon",
        "cib_constraints",
        "cib_crm_config",
        "drbd_status",
        "drbd_events",
        "kernel_log",
        "quorum",
        "links",
        "hostname",
    } <= names
