"""Fixtures for the Home Assistant integration tests.

The cluster is simulated at the one seam that matters: ``ClusterClient.poll``. Snapshots are
built from the recorded outputs in ``tests/core/fixtures`` through the real core path
(``build_node_report`` -> ``build_snapshot``: the real parsers and the real split-brain
analysis), so the entities show what the integration would show for those outputs.

* ``cluster``: the simulated cluster; set ``cluster.snapshot`` (see ``scenario``) before or between
  polls, or ``cluster.error`` to make the poll raise.
* ``scenario``: a function ``scenario(name, **overrides) -> ClusterSnapshot``.
* ``mock_config_entry``: a two-node entry (ha-0, ha-1) with pinned (generated) host keys.
* ``init_integration``: the entry set up with the healthy cluster.
"""

# ruff: noqa: E402 - custom_components is imported after the repository is put on sys.path

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
import sys
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock, PropertyMock, patch

import asyncssh
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `pytest` (unlike `python -m pytest`) does not add the rootdir
    sys.path.insert(0, str(REPO))

from custom_components.pacemaker_drbd.const import (
    CONF_CLUSTER_NAME,
    CONF_NODES,
    CONF_PRIVATE_KEY,
    CONF_USE_SUDO,
    DOMAIN,
)
from custom_components.pacemaker_drbd.entry_data import cluster_unique_id, node_data
from custom_components.pacemaker_drbd.hacluster.client import (
    ClusterSnapshot,
    NodeReport,
    build_node_report,
    build_snapshot,
)
from custom_components.pacemaker_drbd.hacluster.commands import BatchResult, CommandResult
from custom_components.pacemaker_drbd.hacluster.errors import HAClusterError
from custom_components.pacemaker_drbd.hacluster.transport import HostKeyInfo, NodeEndpoint

FIXTURES = REPO / "tests" / "core" / "fixtures"
PM = FIXTURES / "pacemaker"
DRBD = FIXTURES / "drbd"
COROSYNC = FIXTURES / "corosync"

CLUSTER_NAME = "ha_cluster"
UNIQUE_ID = cluster_unique_id(CLUSTER_NAME, [("1", "ha-0"), ("2", "ha-1")])
ADDRESSES = {"ha-0": "198.18.0.30", "ha-1": "198.18.0.31"}


def _key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


HOST_KEYS = {name: _key() for name in ADDRESSES}
NEW_HOST_KEY = _key()
CLIENT_KEY = _key().export_private_key("openssh").decode()


def host_key_info(key: asyncssh.SSHKey) -> HostKeyInfo:
    """The HostKeyInfo fetch_host_key would return for ``key``."""
    return HostKeyInfo.from_key(key.convert_to_public())


def public_line(key: asyncssh.SSHKey) -> str:
    """The pinned OpenSSH line of ``key``."""
    return host_key_info(key).public_key


def _ok(data: bytes, status: int = 0) -> CommandResult:
    return CommandResult(argv=("x",), exit_status=status, stdout=data, stderr=b"")


def _read(path: Path | None) -> bytes:
    return path.read_bytes() if path is not None else b""


def drbd_output(spec: str) -> bytes:
    """A recorded ``drbdsetup status --json``; ``swap:FILE`` is FILE seen from the other node
    (the peer names ha-0 and ha-1 exchanged), for the roles the recordings do not cover."""
    if spec.startswith("swap:"):
        data = (DRBD / spec[5:]).read_bytes()
        return (
            data.replace(b'"ha-0"', b'"@"').replace(b'"ha-1"', b'"ha-0"').replace(b'"@"', b'"ha-1"')
        )
    return (DRBD / spec).read_bytes()


def node_report(
    name: str,
    *,
    crm: str | None = "healthy",
    constraints: str | None = None,
    drbd: str | None = "status-json-9.22-healthy-primary.json",  # ha-0's view
    events: str | None = None,
    kernel: str | None = None,
    quorum: str | None = "quorumtool-3.1.7-two-node-{node}.txt",
    links: str | None = "cfgtool-3.1.7-two-node-{node}.txt",
    crm_status: int = 0,
) -> NodeReport:
    """A reachable node's report, built from recorded outputs by the core."""
    results: dict[str, CommandResult] = {"hostname": _ok(name.encode() + b"\n")}
    if crm is not None:
        results["crm_mon"] = _ok(_read(PM / f"{crm}.xml"), crm_status)
        cons = PM / f"{constraints or crm}.constraints.xml"
        if not cons.exists():
            cons = PM / "healthy.constraints.xml"
        results["cib_constraints"] = _ok(cons.read_bytes())
        results["cib_crm_config"] = _ok((PM / "healthy.crm_config.xml").read_bytes())
    if drbd is not None:
        results["drbd_status"] = _ok(drbd_output(drbd))
    else:
        results["drbd_status"] = _ok(b"", 127)
    if events is not None:
        results["drbd_events"] = _ok((DRBD / events).read_bytes())
    if kernel is not None:
        results["kernel_log"] = _ok((DRBD / kernel).read_bytes())
    if quorum is not None:
        results["quorum"] = _ok((COROSYNC / quorum.format(node=name)).read_bytes())
    if links is not None:
        results["links"] = _ok((COROSYNC / links.format(node=name)).read_bytes())
    endpoint = NodeEndpoint(
        name=name, host=ADDRESSES.get(name, name), port=22, host_key=public_line(HOST_KEYS["ha-0"])
    )
    return build_node_report(endpoint, results, bytes_read=1000, duration=0.05)


def unreachable(
    name: str, kind: str = "connection", error: str = "connection refused"
) -> NodeReport:
    """A node that did not answer."""
    return NodeReport(
        name=name, host=ADDRESSES.get(name, name), reachable=False, error=error, error_kind=kind
    )


def snapshot_of(*reports: NodeReport) -> ClusterSnapshot:
    """Combine reports the way a poll does."""
    return build_snapshot(reports, polled_at=1_800_000_000.0)


PRIMARY = "status-json-9.22-healthy-primary.json"
SECONDARY = "status-json-9.22-healthy-secondary.json"


def make_scenario(name: str) -> ClusterSnapshot:
    """Named cluster situations (two nodes, ha-0 and ha-1)."""
    if name == "healthy":
        return snapshot_of(node_report("ha-0"), node_report("ha-1", drbd=SECONDARY))
    if name == "standby":
        # ha-0 in standby: the application runs on ha-1, which is now Primary.
        return snapshot_of(
            node_report("ha-0", crm="standby", drbd=f"swap:{SECONDARY}"),
            node_report("ha-1", crm="standby", drbd=f"swap:{PRIMARY}"),
        )
    if name == "moved":
        return snapshot_of(
            node_report("ha-0", crm="move", drbd=f"swap:{SECONDARY}"),
            node_report("ha-1", crm="move", drbd=f"swap:{PRIMARY}"),
        )
    if name == "ha1_down":
        return snapshot_of(
            node_report("ha-0", crm="healthy", drbd="status-json-9.22-peer-connecting.json"),
            unreachable("ha-1"),
        )
    if name == "split_brain":
        return snapshot_of(
            node_report(
                "ha-0",
                drbd="status-json-9.22-split-brain-ha-0.json",
                events="events2-9.22-split-brain.txt",
                kernel="kernel-dmesg-split-brain-ha-0.txt",
            ),
            node_report("ha-1", drbd="status-json-9.22-split-brain-ha-1.json"),
        )
    if name == "resync":
        return snapshot_of(
            node_report("ha-0", drbd="status-json-9.22-sync-source.json"),
            node_report("ha-1", drbd="status-json-9.22-sync-target.json"),
        )
    if name == "failed":
        return snapshot_of(
            node_report("ha-0", crm="failed-monitor"),
            node_report("ha-1", crm="failed-monitor", drbd=SECONDARY),
        )
    if name == "stack_down_ha1":
        return snapshot_of(
            node_report("ha-0"),
            node_report(
                "ha-1",
                crm="stack-down",
                crm_status=102,
                drbd=SECONDARY,
                quorum="quorumtool-3.1.7-not-running.stderr",
                links="cfgtool-3.1.7-not-running.stderr",
            ),
        )
    if name == "all_down":
        return snapshot_of(unreachable("ha-0"), unreachable("ha-1", "timeout", "timed out"))
    raise ValueError(name)


@dataclass
class FakeCluster:
    """What the patched ClusterClient returns; tests change it between polls."""

    snapshot: ClusterSnapshot = field(default_factory=lambda: make_scenario("healthy"))
    error: HAClusterError | None = None
    clients: list[MagicMock] = field(default_factory=list)
    session: MagicMock = field(default_factory=MagicMock)

    async def poll(self) -> ClusterSnapshot:
        """The patched poll."""
        if self.error is not None:
            raise self.error
        return self.snapshot


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components in every test."""


@pytest.fixture
def scenario() -> Callable[[str], ClusterSnapshot]:
    """Build a named cluster situation."""
    return make_scenario


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    """Patch ClusterClient: poll returns ``cluster.snapshot``; sessions are mocks."""
    fake = FakeCluster()
    fake.session.run = AsyncMock(
        return_value=CommandResult(argv=("crm_resource",), exit_status=0, stdout=b"", stderr=b"")
    )
    fake.session.run_batch = AsyncMock(
        return_value=BatchResult(
            node="ha-0",
            results={
                "crm_mon_version": CommandResult(
                    argv=("crm_mon", "--version"),
                    exit_status=0,
                    stdout=b"Pacemaker 2.1.5\nWritten by Andrew Beekhof\n",
                    stderr=b"",
                ),
                "drbdsetup_version": CommandResult(
                    argv=("drbdsetup", "--version"), exit_status=127, stdout=b"", stderr=b""
                ),
            },
            duration=0.01,
            bytes_read=80,
        )
    )

    def _factory(endpoints: Any, credentials: Any, **_: Any) -> MagicMock:
        client = MagicMock()
        client.endpoints = tuple(endpoints)
        client.credentials = credentials
        client.poll = AsyncMock(side_effect=fake.poll)
        client.close = AsyncMock()
        client.transport.session = MagicMock(return_value=fake.session)
        client.transport.closed = False
        fake.clients.append(client)
        return client

    with patch("custom_components.pacemaker_drbd.ClusterClient", side_effect=_factory):
        yield fake


def entry_data() -> dict[str, Any]:
    """Data of a configured two-node entry (key login)."""
    return {
        CONF_NODES: [
            node_data(name, ADDRESSES[name], 22, public_line(HOST_KEYS[name]))
            for name in ("ha-0", "ha-1")
        ],
        "username": "hacluster",
        CONF_PRIVATE_KEY: CLIENT_KEY,
        CONF_USE_SUDO: False,
        CONF_CLUSTER_NAME: CLUSTER_NAME,
    }


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """The config entry of the simulated cluster."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=CLUSTER_NAME,
        unique_id=UNIQUE_ID,
        data=entry_data(),
        entry_id="01JPACEMAKERDRBDENTRY0000",
    )


@pytest.fixture
async def init_integration(
    hass: Any, mock_config_entry: MockConfigEntry, cluster: FakeCluster
) -> MockConfigEntry:
    """Set the entry up with the healthy cluster."""
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Enable the entities that are disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


def find_device(
    device_registry: dr.DeviceRegistry, entry_id: str, identifier: str
) -> dr.DeviceEntry | None:
    """The entry's device with ``(DOMAIN, identifier)`` (works on every HA version we test)."""
    return next(
        (
            device
            for device in dr.async_entries_for_config_entry(device_registry, entry_id)
            if (DOMAIN, identifier) in device.identifiers
        ),
        None,
    )


@pytest.fixture
def h() -> SimpleNamespace:
    """The helpers above, for test modules (they cannot import this conftest)."""
    return SimpleNamespace(
        node_report=node_report,
        device=find_device,
        unreachable=unreachable,
        snapshot_of=snapshot_of,
        scenario=make_scenario,
        public_line=public_line,
        host_key_info=host_key_info,
        entry_data=entry_data,
        HOST_KEYS=HOST_KEYS,
        NEW_HOST_KEY=NEW_HOST_KEY,
        CLIENT_KEY=CLIENT_KEY,
        UNIQUE_ID=UNIQUE_ID,
        ADDRESSES=ADDRESSES,
        CLUSTER_NAME=CLUSTER_NAME,
        SECONDARY=SECONDARY,
        PRIMARY=PRIMARY,
    )


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Home Assistant's syrupy extension (stable ids and timestamps in registry entries)."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)
