"""Setup, unload, the entry-level errors, logging and device removal."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_SCAN_INTERVAL, EVENT_HOMEASSISTANT_STOP, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.pacemaker_drbd import async_remove_config_entry_device
from custom_components.pacemaker_drbd.const import DOMAIN
from custom_components.pacemaker_drbd.hacluster.errors import HAClusterError


async def _tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float = 16) -> None:
    freezer.tick(seconds)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


async def test_load_unload(
    hass: HomeAssistant, init_integration: MockConfigEntry, cluster: Any
) -> None:
    """The entry loads with the healthy cluster and unloads cleanly."""
    entry = init_integration
    assert entry.state is ConfigEntryState.LOADED
    state = hass.states.get("sensor.ha_cluster_active_node")
    assert state is not None
    assert state.state == "ha-0"
    client = cluster.clients[0]
    assert [e.name for e in client.endpoints] == ["ha-0", "ha-1"]
    assert client.credentials.username == "hacluster"
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    client.close.assert_awaited()


@pytest.mark.parametrize("how", ["all_down", "error"])
async def test_not_ready(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    how: str,
) -> None:
    """No node answers at startup: retry later, and close the sessions."""
    if how == "error":
        cluster.error = HAClusterError("boom")
    else:
        cluster.snapshot = h.scenario("all_down")
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    cluster.clients[0].close.assert_awaited()


async def test_auth_failed(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, cluster: Any, h: SimpleNamespace
) -> None:
    """Every node that could be tried refused the credentials: reauth."""
    cluster.snapshot = h.snapshot_of(
        h.unreachable("ha-0", "auth", "authentication failed"), h.unreachable("ha-1", "timeout")
    )
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress()
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]


async def test_auth_and_permission_is_not_reauth(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, cluster: Any, h: SimpleNamespace
) -> None:
    """Auth on one node but a permission problem on the other is not a credentials problem."""
    cluster.snapshot = h.snapshot_of(
        h.unreachable("ha-0", "auth"), h.unreachable("ha-1", "permission", "sudo refused")
    )
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert not hass.config_entries.flow.async_progress()


async def test_host_key_changed_at_setup(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A changed host key stops the entry and opens a repair; no reconnect until fixed."""
    cluster.snapshot = h.snapshot_of(
        h.node_report("ha-0"), h.unreachable("ha-1", "host_key", "host key mismatch")
    )
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    issue = issue_registry.async_get_issue(
        DOMAIN, f"{mock_config_entry.entry_id}_host_key_changed_ha-1"
    )
    assert issue is not None
    assert issue.is_fixable
    assert issue.data == {"entry_id": mock_config_entry.entry_id, "node": "ha-1"}
    assert mock_config_entry.reason is not None

    # A reload refuses to connect while the issue is open.
    cluster.snapshot = h.scenario("healthy")
    await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    assert len(cluster.clients) == 1


async def test_host_key_changed_while_running(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A key change seen by a later poll reloads the entry into the error state."""
    cluster.snapshot = h.snapshot_of(
        h.unreachable("ha-0", "host_key", "host key mismatch"), h.node_report("ha-1")
    )
    await _tick(hass, freezer)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.SETUP_ERROR
    polls = cluster.clients[0].poll.await_count
    await _tick(hass, freezer, 60)
    assert cluster.clients[0].poll.await_count == polls
    assert len(cluster.clients) == 1


async def test_unreachable_logged_once(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A node going away is logged once, and once when it is back."""
    caplog.set_level(logging.INFO)
    cluster.snapshot = h.scenario("ha1_down")
    await _tick(hass, freezer)
    await _tick(hass, freezer)
    assert caplog.text.count("Node ha-1 (198.18.0.31) of cluster ha_cluster is unreachable") == 1
    assert hass.states.get("binary_sensor.ha_1_reachable_over_ssh").state == "off"
    assert hass.states.get("sensor.ha_1_drbd_home_assistant_role").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.ha_1_state").state == "online"
    cluster.snapshot = h.scenario("healthy")
    await _tick(hass, freezer)
    await _tick(hass, freezer)
    assert caplog.text.count("Node ha-1 of cluster ha_cluster is reachable again") == 1
    assert hass.states.get("sensor.ha_1_drbd_home_assistant_role").state == "secondary"


async def test_all_unreachable_while_running(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """When no node answers every entity becomes unavailable, and comes back."""
    cluster.snapshot = h.scenario("all_down")
    await _tick(hass, freezer)
    assert hass.states.get("sensor.ha_cluster_active_node").state == STATE_UNAVAILABLE
    assert hass.states.get("binary_sensor.ha_0_reachable_over_ssh").state == STATE_UNAVAILABLE
    cluster.snapshot = h.scenario("healthy")
    await _tick(hass, freezer)
    assert hass.states.get("sensor.ha_cluster_active_node").state == "ha-0"


async def test_options_update_reloads(
    hass: HomeAssistant, init_integration: MockConfigEntry, cluster: Any
) -> None:
    """New options reload the entry with the new scan interval."""
    hass.config_entries.async_update_entry(init_integration, options={CONF_SCAN_INTERVAL: 30})
    await hass.async_block_till_done()
    assert len(cluster.clients) == 2
    coordinator = init_integration.runtime_data.coordinator
    assert coordinator.update_interval is not None
    assert coordinator.update_interval.total_seconds() == 30
    # A data-only update does not reload by itself.
    hass.config_entries.async_update_entry(
        init_integration, data={**init_integration.data, "use_sudo": True}
    )
    await hass.async_block_till_done()
    assert len(cluster.clients) == 2


async def test_stop_closes_sessions(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Home Assistant stopping closes the SSH sessions; unloading later is still clean."""
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    cluster.clients[0].close.assert_awaited()
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert "Unable to remove unknown job listener" not in caplog.text


async def test_remove_entry_deletes_issues(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Removing the entry removes its issues."""
    cluster.snapshot = h.scenario("moved")
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert any(i[1].startswith(mock_config_entry.entry_id) for i in issue_registry.issues)
    await hass.config_entries.async_remove(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert not any(i[1].startswith(mock_config_entry.entry_id) for i in issue_registry.issues)


async def test_remove_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    h: SimpleNamespace,
) -> None:
    """Only a node that is gone from the entry and from the cluster can be removed."""
    entry = init_integration
    cluster_dev = h.device(device_registry, entry.entry_id, h.UNIQUE_ID)
    node_dev = h.device(device_registry, entry.entry_id, f"{h.UNIQUE_ID}_ha-1")
    assert cluster_dev is not None
    assert node_dev is not None
    assert node_dev.via_device_id == cluster_dev.id
    assert not await async_remove_config_entry_device(hass, entry, cluster_dev)
    assert not await async_remove_config_entry_device(hass, entry, node_dev)
    gone = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, f"{h.UNIQUE_ID}_ha-9")}
    )
    assert await async_remove_config_entry_device(hass, entry, gone)


async def test_setup_refused_with_open_host_key_issue(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, cluster: Any
) -> None:
    """An open host-key issue keeps the entry from connecting at all."""
    mock_config_entry.add_to_hass(hass)
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"{mock_config_entry.entry_id}_host_key_changed_ha-0",
        is_fixable=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key="host_key_changed",
        data={"entry_id": mock_config_entry.entry_id, "node": "ha-0"},
    )
    with patch("custom_components.pacemaker_drbd.ClusterClient") as client_cls:
        await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    client_cls.assert_not_called()
