"""Repair issues raised by polls, and the fix flows (host key, move constraint)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.pacemaker_drbd.const import CONF_NODES, DOMAIN
from custom_components.pacemaker_drbd.hacluster.commands import CommandResult
from custom_components.pacemaker_drbd.hacluster.errors import ClusterConnectionError

type Client = Any


@pytest.fixture
async def repairs_client(
    hass: HomeAssistant, hass_client: Callable[[], Awaitable[Client]]
) -> Client:
    """An HTTP client for the repairs API (the way the frontend runs fix flows)."""
    assert await async_setup_component(hass, "repairs", {})
    return await hass_client()


async def _start_fix(client: Client, issue_id: str) -> dict[str, Any]:
    resp = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def _submit(client: Client, flow_id: str, data: dict[str, Any] | None = None) -> Any:
    resp = await client.post(f"/api/repairs/issues/fix/{flow_id}", json=data or {})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def _poll(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, cluster: Any, snapshot: Any
) -> None:
    cluster.snapshot = snapshot
    freezer.tick(16)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


def _issue(hass: HomeAssistant, entry: MockConfigEntry, suffix: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{entry.entry_id}_{suffix}")


async def test_poll_issues_open_and_close(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Fencing (two nodes), split brain, stack down: opened and closed with the condition."""
    entry = init_integration
    fencing = _issue(hass, entry, "fencing_disabled")
    assert fencing is not None
    assert fencing.severity is ir.IssueSeverity.WARNING
    assert fencing.learn_more_url
    assert _issue(hass, entry, "split_brain_home-assistant") is None

    await _poll(hass, freezer, cluster, h.scenario("split_brain"))
    split = _issue(hass, entry, "split_brain_home-assistant")
    assert split is not None
    assert split.severity is ir.IssueSeverity.CRITICAL
    assert not split.is_fixable
    placeholders = split.translation_placeholders or {}
    assert placeholders["resource"] == "home-assistant"
    assert placeholders["nodes"] == "ha-0, ha-1"
    assert "ha-0: Primary, disk UpToDate, ha-1: StandAlone" in placeholders["holders"]
    assert placeholders["evidence"].startswith("- ")

    await _poll(hass, freezer, cluster, h.scenario("stack_down_ha1"))
    assert _issue(hass, entry, "split_brain_home-assistant") is None
    stack = _issue(hass, entry, "stack_not_running_ha-1")
    assert stack is not None
    assert (stack.translation_placeholders or {})["node"] == "ha-1"

    await _poll(hass, freezer, cluster, h.scenario("healthy"))
    assert _issue(hass, entry, "stack_not_running_ha-1") is None
    assert _issue(hass, entry, "fencing_disabled") is not None


async def test_move_constraint_fix_flow(
    hass: HomeAssistant,
    repairs_client: Client,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The fix flow clears the constraint on the DC after confirmation; failures are shown."""
    entry = init_integration
    await _poll(hass, freezer, cluster, h.scenario("moved"))
    issue = _issue(hass, entry, "move_constraint_g_home-assistant")
    assert issue is not None
    assert issue.is_fixable
    assert (issue.translation_placeholders or {})["constraints"] == (
        "cli-prefer-g_home-assistant (prefer ha-1)"
    )
    flow = await _start_fix(repairs_client, issue.issue_id)
    assert flow["step_id"] == "confirm"
    assert flow["description_placeholders"] == {"resource": "g_home-assistant"}
    cluster.session.run.assert_not_awaited()

    # The command fails once: an error, nothing cleared.
    cluster.session.run.return_value = CommandResult(
        argv=("crm_resource",), exit_status=1, stdout=b"", stderr=b"boom"
    )
    result = await _submit(repairs_client, flow["flow_id"])
    assert result["errors"] == {"base": "clear_failed"}

    cluster.session.run.return_value = CommandResult(
        argv=("crm_resource",), exit_status=0, stdout=b"", stderr=b""
    )
    cluster.snapshot = h.scenario("healthy")
    result = await _submit(repairs_client, flow["flow_id"])
    assert result["type"] == "create_entry"
    cluster.session.run.assert_awaited_with(
        ("crm_resource", "--resource", "g_home-assistant", "--clear")
    )
    view_from = cluster.snapshot.view_from
    cluster.clients[0].transport.session.assert_called_with(view_from)
    await hass.async_block_till_done()
    assert _issue(hass, entry, "move_constraint_g_home-assistant") is None


async def test_move_constraint_fix_flow_not_loaded(
    hass: HomeAssistant,
    repairs_client: Client,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No loaded entry, no action."""
    await _poll(hass, freezer, cluster, h.scenario("moved"))
    issue = _issue(hass, init_integration, "move_constraint_g_home-assistant")
    assert issue is not None
    await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    flow = await _start_fix(repairs_client, issue.issue_id)
    assert flow["type"] == "abort"
    assert flow["reason"] == "not_loaded"


async def test_action_node_fallbacks(
    hass: HomeAssistant, init_integration: MockConfigEntry, cluster: Any, h: SimpleNamespace
) -> None:
    """Actions go to the node whose view is shown, else any reachable node, else nowhere."""
    from custom_components.pacemaker_drbd.actions import action_node

    coordinator = init_integration.runtime_data.coordinator
    assert action_node(init_integration) == "ha-0"
    coordinator.data = h.snapshot_of(h.unreachable("ha-0"), h.node_report("ha-1", crm=None))
    assert action_node(init_integration) == "ha-1"
    coordinator.data = h.scenario("all_down")
    with pytest.raises(ClusterConnectionError):
        action_node(init_integration)


async def _host_key_issue(
    hass: HomeAssistant, entry: MockConfigEntry, cluster: Any, h: SimpleNamespace
) -> ir.IssueEntry:
    cluster.snapshot = h.snapshot_of(
        h.node_report("ha-0"), h.unreachable("ha-1", "host_key", "mismatch")
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    issue = _issue(hass, entry, "host_key_changed_ha-1")
    assert issue is not None
    return issue


async def test_host_key_fix_flow(
    hass: HomeAssistant,
    repairs_client: Client,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
) -> None:
    """Both fingerprints are shown; the new key is pinned on confirmation and the entry loads."""
    issue = await _host_key_issue(hass, mock_config_entry, cluster, h)
    new = h.host_key_info(h.NEW_HOST_KEY)
    with patch(
        "custom_components.pacemaker_drbd.repairs.fetch_host_key", AsyncMock(return_value=new)
    ) as fetch:
        flow = await _start_fix(repairs_client, issue.issue_id)
    fetch.assert_awaited_once_with("198.18.0.31", 22)
    assert flow["step_id"] == "confirm"
    assert flow["description_placeholders"] == {
        "node": "ha-1",
        "host": "198.18.0.31",
        "old_fingerprint": h.host_key_info(h.HOST_KEYS["ha-1"]).fingerprint,
        "new_fingerprint": new.fingerprint,
        "key_type": "ssh-ed25519",
    }
    # Nothing is pinned before the confirmation.
    assert mock_config_entry.data[CONF_NODES][1]["host_key"] == h.public_line(h.HOST_KEYS["ha-1"])
    cluster.snapshot = h.scenario("healthy")
    result = await _submit(repairs_client, flow["flow_id"])
    assert result["type"] == "create_entry"
    await hass.async_block_till_done()
    assert mock_config_entry.data[CONF_NODES][1]["host_key"] == new.public_key
    assert mock_config_entry.data[CONF_NODES][0]["host_key"] == h.public_line(h.HOST_KEYS["ha-0"])
    assert _issue(hass, mock_config_entry, "host_key_changed_ha-1") is None
    assert mock_config_entry.state is ConfigEntryState.LOADED


async def test_host_key_fix_flow_aborts(
    hass: HomeAssistant,
    repairs_client: Client,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
) -> None:
    """Node down, node removed from the entry, entry removed."""
    issue = await _host_key_issue(hass, mock_config_entry, cluster, h)
    with patch(
        "custom_components.pacemaker_drbd.repairs.fetch_host_key",
        AsyncMock(side_effect=ClusterConnectionError("down")),
    ):
        flow = await _start_fix(repairs_client, issue.issue_id)
    assert flow["type"] == "abort"
    assert flow["reason"] == "cannot_connect"

    data = {**mock_config_entry.data, CONF_NODES: mock_config_entry.data[CONF_NODES][:1]}
    hass.config_entries.async_update_entry(mock_config_entry, data=data)
    flow = await _start_fix(repairs_client, issue.issue_id)
    assert flow["reason"] == "node_removed"
    assert _issue(hass, mock_config_entry, "host_key_changed_ha-1") is None

    ir.async_create_issue(
        hass,
        DOMAIN,
        "gone_host_key_changed_ha-1",
        is_fixable=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key="host_key_changed",
        data={"entry_id": "gone", "node": "ha-1"},
    )
    flow = await _start_fix(repairs_client, "gone_host_key_changed_ha-1")
    assert flow["reason"] == "entry_removed"


async def test_unknown_fixable_issue_uses_confirm_flow(
    hass: HomeAssistant, repairs_client: Client
) -> None:
    """An issue without a dedicated flow gets the plain confirmation."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        "legacy",
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="fencing_disabled",
    )
    flow = await _start_fix(repairs_client, "legacy")
    assert flow["step_id"] == "confirm"
    result = await _submit(repairs_client, flow["flow_id"])
    assert result["type"] == "create_entry"
