"""First contact (probe.py): corosync.conf, access checks, the cluster identity."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import AsyncMock, MagicMock, patch

import pytest

from custom_components.pacemaker_drbd.hacluster.commands import BatchResult, CommandResult
from custom_components.pacemaker_drbd.hacluster.errors import (
    NotAClusterNodeError,
    PermissionDeniedError,
)
from custom_components.pacemaker_drbd.hacluster.transport import Credentials, NodeEndpoint
from custom_components.pacemaker_drbd.probe import (
    PROBE_BATCH,
    async_probe,
    parse_corosync_conf,
    probe_result,
)

FIXTURES = Path(__file__).resolve().parents[1] / "core" / "fixtures"
CONF = (FIXTURES / "render" / "lab" / "corosync.conf").read_text()
PM = FIXTURES / "pacemaker"
QUORUM = FIXTURES / "corosync" / "quorumtool-3.1.7-two-node-ha-0.txt"


def _r(stdout: bytes | str = b"", status: int = 0, stderr: bytes = b"") -> CommandResult:
    data = stdout.encode() if isinstance(stdout, str) else stdout
    return CommandResult(argv=("x",), exit_status=status, stdout=data, stderr=stderr)


def _results(**over: CommandResult | None) -> dict[str, CommandResult]:
    base: dict[str, CommandResult | None] = {
        "crm_mon_version": _r("Pacemaker 2.1.5\n"),
        "drbdadm_version": _r("DRBDADM_VERSION=0x091600\n"),
        "drbdsetup_version": _r("DRBD_KERNEL_VERSION=9.2.12\n"),
        "corosync_version": _r("Corosync Cluster Engine, version '3.1.7'\n"),
        "corosync_conf": _r(CONF),
        "groups": _r("hacluster haclient\n"),
        "hostname": _r("ha-0\n"),
        "crm_mon": _r((PM / "healthy.xml").read_bytes()),
        "cib_crm_config": _r((PM / "healthy.crm_config.xml").read_bytes()),
        "quorum": _r(QUORUM.read_bytes()),
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


ENDPOINT = NodeEndpoint(
    name="198.18.0.30", host="198.18.0.30", port=22, host_key="ssh-ed25519 AAAA"
)
USER = Credentials(username="hacluster", password="pw")


def test_parse_corosync_conf() -> None:
    """Name, node names, ids and ring0 addresses; comments and odd lines ignored."""
    conf = parse_corosync_conf(
        "# comment\n" + CONF + "\nnodelist {\n node {\n ring0_addr: 10.0.0.9\n }\n}\nbogus\n"
    )
    assert conf.cluster_name == "ha_cluster"
    assert [(n.name, n.node_id, n.address) for n in conf.nodes] == [
        ("ha-0", "1", "198.18.0.30"),
        ("ha-1", "2", "198.18.0.31"),
        ("10.0.0.9", "3", "10.0.0.9"),
    ]
    assert parse_corosync_conf("nodelist {\n node {\n nodeid: 4\n }\n}\n}\n").nodes == ()


def test_probe_result_identity() -> None:
    """The healthy node: identity from corosync.conf, the local node from uname -n."""
    result = probe_result(ENDPOINT, _results(), USER)
    assert result.cluster_name == "ha_cluster"
    assert result.local_node == "ha-0"
    assert [n.name for n in result.others] == ["ha-1"]
    assert result.others[0].address == "198.18.0.31"
    assert result.missing_tools == ()
    assert result.unique_id.startswith("ha_cluster_")


def test_probe_result_fallbacks() -> None:
    """No corosync.conf: identity from the CIB and crm_mon; local node from quorum or address."""
    result = probe_result(
        ENDPOINT,
        _results(
            corosync_conf=_r(b"", 1),
            hostname=_r("ha-1\n"),
            drbdsetup_version=_r(b"", 127),
            quorum=_r(b"", 127),
        ),
        USER,
    )
    assert result.cluster_name == "ha_cluster"
    assert [(n.name, n.node_id, n.address) for n in result.nodes] == [
        ("ha-0", "1", None),
        ("ha-1", "2", None),
    ]
    assert result.local_node == "ha-1"
    assert result.missing_tools == ("corosync-quorumtool", "drbdsetup")


def test_probe_result_local_from_quorum_and_address() -> None:
    """uname -n differs from the node name: the quorum's local member, then the address."""
    by_quorum = probe_result(ENDPOINT, _results(hostname=_r("other\n")), USER)
    assert by_quorum.local_node == "ha-0"
    by_address = probe_result(ENDPOINT, _results(hostname=_r("other\n"), quorum=None), USER)
    assert by_address.local_node == "ha-0"
    endpoint = NodeEndpoint(name="x", host="10.9.9.9", port=22, host_key="ssh-ed25519 AAAA")
    with pytest.raises(NotAClusterNodeError, match="not in the cluster's node list"):
        probe_result(endpoint, _results(hostname=_r("other\n"), quorum=None), USER)


@pytest.mark.parametrize(
    ("over", "creds", "error"),
    [
        ({"crm_mon_version": _r(b"", 127)}, USER, NotAClusterNodeError),
        ({"crm_mon_version": None}, USER, NotAClusterNodeError),
        (
            {"crm_mon": _r(b"", 1, b"sudo: a password is required\n")},
            Credentials(username="u", password="p", use_sudo=True),
            PermissionDeniedError,
        ),
        (
            {
                "crm_mon": _r(
                    b"", 103, b"crm_mon: Connection to cluster failed: Permission denied\n"
                )
            },
            USER,
            PermissionDeniedError,
        ),
        ({"groups": _r("hacluster users\n")}, USER, PermissionDeniedError),
        (
            {"corosync_conf": _r(b"", 1), "crm_mon": _r(b"", 102), "cib_crm_config": None},
            USER,
            NotAClusterNodeError,
        ),
    ],
)
def test_probe_result_errors(
    over: dict[str, CommandResult | None], creds: Credentials, error: type[Exception]
) -> None:
    """Not a cluster node, or not allowed to read the cluster."""
    with pytest.raises(error):
        probe_result(ENDPOINT, _results(**over), creds)


def test_probe_result_root_and_sudo_skip_group_check() -> None:
    """root, or sudo, do not need the haclient group."""
    groups = {"groups": _r("users\n")}
    assert probe_result(ENDPOINT, _results(**groups), Credentials(username="root", password="p"))
    assert probe_result(
        ENDPOINT, _results(**groups), Credentials(username="u", password="p", use_sudo=True)
    )


async def test_async_probe_runs_one_batch_and_closes() -> None:
    """One exec with the probe batch; the session is closed even on error."""
    session = MagicMock()
    session.run_batch = AsyncMock(
        return_value=BatchResult(node="x", results=_results(), duration=0.1, bytes_read=10)
    )
    session.close = AsyncMock()
    with patch("custom_components.pacemaker_drbd.probe.NodeSession", return_value=session):
        result = await async_probe(ENDPOINT, USER)
    assert result.local_node == "ha-0"
    session.run_batch.assert_awaited_once_with(PROBE_BATCH)
    session.close.assert_awaited_once()
    names = [c.name for c in PROBE_BATCH]
    assert len(names) == len(set(names))
    assert {"crm_mon", "cib_crm_config", "quorum", "corosync_conf"} <= set(names)
    session.run_batch.side_effect = NotAClusterNodeError("x")
    with (
        patch("custom_components.pacemaker_drbd.probe.NodeSession", return_value=session),
        pytest.raises(NotAClusterNodeError),
    ):
        await async_probe(ENDPOINT, USER)
    assert session.close.await_count == 2
