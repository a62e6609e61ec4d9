"""The control actions on the lab, for real: standby/online, failover, refusals, force.

Each test holds the lab (``healthy_lab``) and talks to the nodes with the core's own client
(pinned host keys, the lab's client key), exactly as the integration does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from typing import TYPE_CHECKING

import pytest

from hacluster.client import ClusterClient, ClusterSnapshot
from hacluster.control import ClusterController, ResultCode
from hacluster.errors import InterlockError
from hacluster.interlocks import FailoverRequest, ReasonCode, assess
from hacluster.transport import Credentials, NodeEndpoint

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.e2e

APP = "g_home-assistant"


@contextlib.asynccontextmanager
async def lab_client(lab: Lab, *, command_timeout: float = 4.0) -> AsyncIterator[ClusterClient]:
    """A client for the lab's nodes (their own addresses, never the VIP); closed afterwards."""
    endpoints = [
        NodeEndpoint(name=n, host=lab.addresses[n], port=lab.ssh_port, host_key=lab.host_keys[n])
        for n in lab.nodes
    ]
    creds = Credentials(username=lab.ssh_user, private_key=lab.client_key)
    client = ClusterClient(
        endpoints,
        creds,
        connect_timeout=min(2.0, command_timeout),
        command_timeout=command_timeout,
        keepalive_interval=1.0,
    )
    try:
        yield client
    finally:
        await client.close()


def controller(client: ClusterClient, lab: Lab) -> ClusterController:
    """The controller as the integration builds it (the application and the VIP known)."""
    return ClusterController(client, application=APP, vip=lab.vip, settle_timeout=90)


def constraints(lab: Lab, node: str) -> str:
    """The CIB constraints as the node itself has them."""
    return lab.exec(node, "cibadmin", "--query", "--scope", "constraints").stdout


async def test_standby_then_online(healthy_lab: Lab) -> None:
    lab = healthy_lab
    a = lab.group_node()
    b = lab.other(a)
    async with lab_client(lab) as client:
        ctl = controller(client, lab)
        result = await ctl.standby_node(a)
        assert result.ok, result.message
        assert result.new_location == b
        assert result.cluster_seconds is not None
        assert 0 < result.cluster_seconds < result.duration_s
        assert result.command_node in lab.nodes
        assert ReasonCode.FENCING_DISABLED in [w.code for w in result.warnings]
        assert lab.check("group-on", b)
        back = await ctl.online_node(a)
        assert back.ok, back.message
        snap = await client.poll()
        assert snap.pacemaker is not None
        node = snap.pacemaker.node(a)
        assert node is not None
        assert node.online
        assert not node.standby
        assert back.new_location == b  # stickiness: the application stays
    lab.wait("healthy", timeout=60)  # leave it settled for the next test


async def test_failover_clears_its_constraint_and_send_only_completes(healthy_lab: Lab) -> None:
    lab = healthy_lab
    a = lab.group_node()
    b = lab.other(a)
    async with lab_client(lab) as client:
        ctl = controller(client, lab)
        result = await ctl.failover()
        assert result.ok, result.message
        assert result.code is ResultCode.OK
        assert result.new_location == b
        assert result.constraint_left is False
        assert [c["argv"][3] for c in result.details["commands"]] == ["--move", "--clear"]
        assert "cli-prefer" not in constraints(lab, b)
        assert lab.check("group-on", b)
        # send only (what Home Assistant does when it moves itself), then complete()
        sent = await ctl.failover(a, wait=False)
        assert sent.code is ResultCode.ACCEPTED
        assert sent.pending is not None
        assert f'id="cli-prefer-{APP}"' in constraints(lab, a)
        done = await ctl.complete(sent.pending, within=90)
        assert done.ok, done.message
        assert done.new_location == a
        assert "cli-prefer" not in constraints(lab, a)
    lab.wait("healthy", timeout=60)


async def test_isolated_peer_refuses_failover(healthy_lab: Lab) -> None:
    lab = healthy_lab
    a = lab.group_node()
    b = lab.other(a)
    # short timeouts: the refusal comes before the peer's corosync gives up on the link, so
    # healing right away usually avoids the split brain a longer cut causes (no fencing)
    async with lab_client(lab, command_timeout=1.5) as client:
        ctl = controller(client, lab)
        await client.poll()  # connections open, as in a running integration
        lab.run("isolate", b)
        try:
            with pytest.raises(InterlockError) as err:
                await ctl.failover(b)
        finally:
            lab.run("heal", b)
        codes = {r.code for r in err.value.reasons}  # type: ignore[attr-defined]
        assert ReasonCode.TARGET_UNREACHABLE in codes, err.value
        assert codes <= {
            ReasonCode.TARGET_UNREACHABLE,
            ReasonCode.TARGET_NOT_ONLINE,
            ReasonCode.TARGET_NOT_CONNECTED_TO_PRIMARY,
            ReasonCode.SPLIT_BRAIN_SUSPECTED,
        }, err.value
        assert lab.check("group-on", a, on=a)  # nothing moved
    # healed in time: healthy within seconds; else a split brain, which only recover ends
    if lab.run("wait", "healthy", "--timeout", "15", check=False).returncode != 0:
        lab.run("recover")


async def _poll_until_resync(client: ClusterClient, limit: float) -> ClusterSnapshot | None:
    """Poll until some node reports a resync; None when none was seen in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        snap = await client.poll()
        for node in snap.nodes:
            if node.drbd is None:
                continue
            for res in node.drbd.resources:
                if any(
                    str(c.replication_state).startswith(("Sync", "PausedSync"))
                    for c in res.connections
                ):
                    return snap
        await asyncio.sleep(0.1)
    return None


async def test_resync_refuses_failover_and_force_goes_through(healthy_lab: Lab) -> None:
    lab = healthy_lab
    if lab.env.get("HALAB_DRBD") != "1":
        pytest.skip("needs the DRBD simulator (resync)")
    a = lab.group_node()
    b = lab.other(a)
    async with lab_client(lab) as client:
        ctl = controller(client, lab)
        # b leaves (its DRBD goes down), a keeps writing, b comes back and resyncs
        gone = await ctl.standby_node(b)
        assert gone.ok, gone.message
        for i in range(5):
            lab.app_write(f"during-standby-{i}")
        back = await ctl.online_node(b, wait=False)
        assert back.code is ResultCode.ACCEPTED
        snap = await _poll_until_resync(client, 60)
        assert snap is not None, "no resync seen"
        request = FailoverRequest(target=b)
        verdict = assess(snap, request, application=APP)
        codes = [r.code for r in verdict.reasons]
        assert ReasonCode.RESYNC_RUNNING in codes
        with pytest.raises(InterlockError):
            await ctl.execute(request, snapshot=snap)
        # forced: the move waits for the resync (DRBD promotes b once it is UpToDate)
        forced = await ctl.execute(FailoverRequest(target=b, force=True), snapshot=snap)
        assert forced.ok, forced.message
        assert ReasonCode.RESYNC_RUNNING in [r.code for r in forced.overridden]
        assert forced.new_location == b
        assert forced.constraint_left is False
    records = lab.app_records(b)
    assert "during-standby-4" in records
    lab.wait("healthy", timeout=60)
