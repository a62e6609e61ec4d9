"""Sensors and binary sensors: one snapshot per platform, then the states that matter."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.pacemaker_drbd.hacluster.models.drbd import DiskState
from custom_components.pacemaker_drbd.hacluster.models.pacemaker import Resource, ResourceKind
from custom_components.pacemaker_drbd.sensor import enum_state, resource_state


async def _setup(hass: HomeAssistant, entry: MockConfigEntry, platform: Platform) -> None:
    entry.add_to_hass(hass)
    with patch("custom_components.pacemaker_drbd.PLATFORMS", (platform,)):
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("platform", [Platform.SENSOR, Platform.BINARY_SENSOR])
async def test_platform_snapshot(
    hass: HomeAssistant,
    snapshot: SnapshotAssertion,
    entity_registry: er.EntityRegistry,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
    platform: Platform,
) -> None:
    """Every entity of the healthy cluster: registry entry and state."""
    await _setup(hass, mock_config_entry, platform)
    assert entity_summary(hass, entity_registry, mock_config_entry.entry_id) == snapshot


def entity_summary(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, entry_id: str
) -> dict[str, dict[str, Any]]:
    """Registry entries and states of an entry, reduced to the fields this integration sets.

    (A projection rather than the whole RegistryEntry keeps the snapshot valid on every Home
    Assistant version the tests run on; new registry fields do not break it.)
    """
    summary: dict[str, dict[str, Any]] = {}
    for entry in sorted(
        er.async_entries_for_config_entry(entity_registry, entry_id), key=lambda e: e.entity_id
    ):
        assert entry.disabled_by is None, "enable all entities"
        state = hass.states.get(entry.entity_id)
        assert state is not None, entry.entity_id
        summary[entry.entity_id] = {
            "unique_id": entry.unique_id,
            "translation_key": entry.translation_key,
            "original_name": entry.original_name,
            "original_device_class": entry.original_device_class,
            "entity_category": entry.entity_category,
            "unit_of_measurement": entry.unit_of_measurement,
            "capabilities": (
                {str(key): value for key, value in entry.capabilities.items()}
                if entry.capabilities
                else None
            ),
            "state": state.state,
            "attributes": {str(key): value for key, value in state.attributes.items()},
        }
    return summary


async def test_disabled_by_default(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
) -> None:
    """Group members and the out-of-sync counters start disabled."""
    for entity_id in (
        "sensor.ha_cluster_resource_p_fs_home_assistant",
        "sensor.ha_0_drbd_home_assistant_out_of_sync_with_ha_1",
    ):
        entry = entity_registry.async_get(entity_id)
        assert entry is not None
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get("sensor.ha_cluster_resource_g_home_assistant").state == "started"


async def _poll(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, cluster: Any, snapshot: Any
) -> None:
    cluster.snapshot = snapshot
    freezer.tick(16)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def test_standby(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """ha-0 in standby: the application, DRBD Primary and node states follow."""
    await _poll(hass, freezer, cluster, h.scenario("standby"))
    assert _state(hass, "sensor.ha_cluster_active_node") == "ha-1"
    assert _state(hass, "sensor.ha_0_state") == "standby"
    assert _state(hass, "sensor.ha_1_state") == "online"
    assert _state(hass, "sensor.ha_1_drbd_home_assistant_role") == "primary"
    assert _state(hass, "sensor.ha_cluster_nodes_online") == "1"
    assert _state(hass, "sensor.ha_0_resources_running") == "0"


async def test_resync(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A running resync shows its progress, states and the remaining data."""
    await _poll(hass, freezer, cluster, h.scenario("resync"))
    assert _state(hass, "sensor.ha_1_drbd_home_assistant_replication_to_ha_0") == "synctarget"
    assert _state(hass, "sensor.ha_0_drbd_home_assistant_replication_to_ha_1") == "syncsource"
    assert _state(hass, "sensor.ha_1_drbd_home_assistant_disk") == "inconsistent"
    resync = hass.states.get("sensor.ha_1_drbd_home_assistant_resync_with_ha_0")
    assert resync is not None
    assert 0 < float(resync.state) < 100
    assert resync.attributes["eta_seconds"] > 0


async def test_split_brain(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The cluster-wide verdict with its evidence and nodes."""
    await _poll(hass, freezer, cluster, h.scenario("split_brain"))
    state = hass.states.get("binary_sensor.ha_cluster_drbd_home_assistant_split_brain")
    assert state is not None
    assert state.state == "on"
    assert state.attributes["nodes"] == ["ha-0", "ha-1"]
    assert any(
        "Split-Brain" in line or "split-brain" in line for line in state.attributes["evidence"]
    )
    assert _state(hass, "sensor.ha_0_drbd_home_assistant_connection_to_ha_1") == "standalone"


async def test_node_unreachable(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Only the unreachable node's SSH-derived entities go unavailable."""
    await _poll(hass, freezer, cluster, h.scenario("ha1_down"))
    reach = hass.states.get("binary_sensor.ha_1_reachable_over_ssh")
    assert reach is not None
    assert reach.state == "off"
    assert reach.attributes["error"] == "connection refused"
    for entity_id in (
        "sensor.ha_1_drbd_home_assistant_disk",
        "sensor.ha_1_drbd_home_assistant_connection_to_ha_0",
        "binary_sensor.ha_1_corosync_link_0",
    ):
        assert _state(hass, entity_id) == STATE_UNAVAILABLE
    assert _state(hass, "sensor.ha_1_state") == "online"
    assert _state(hass, "sensor.ha_0_drbd_home_assistant_connection_to_ha_1") == "connecting"
    assert _state(hass, "sensor.ha_0_drbd_home_assistant_disk_of_ha_1") == "dunknown"


async def test_failed_actions_and_moves(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Failed actions are counted and listed; a leftover move constraint is a problem."""
    await _poll(hass, freezer, cluster, h.scenario("failed"))
    failed = hass.states.get("sensor.ha_cluster_failed_actions")
    assert failed is not None
    assert int(failed.state) >= 1
    assert failed.attributes["failed_actions"][0]["operation"] == "monitor"
    await _poll(hass, freezer, cluster, h.scenario("moved"))
    move = hass.states.get("binary_sensor.ha_cluster_leftover_move_constraint")
    assert move is not None
    assert move.state == "on"
    assert move.attributes["constraints"][0]["id"] == "cli-prefer-g_home-assistant"
    assert _state(hass, "sensor.ha_cluster_active_node") == "ha-1"


async def test_stack_down_on_one_node(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The cluster view still comes from the running node; ha-1's links are unavailable."""
    await _poll(hass, freezer, cluster, h.scenario("stack_down_ha1"))
    assert _state(hass, "binary_sensor.ha_cluster_stack") == "on"
    assert _state(hass, "binary_sensor.ha_1_corosync_link_0") == STATE_UNAVAILABLE
    assert _state(hass, "binary_sensor.ha_1_reachable_over_ssh") == "on"


async def test_whole_stack_down(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """With the stack down everywhere only the stack sensor says so."""
    down = h.snapshot_of(
        h.node_report("ha-0", crm="stack-down", crm_status=102),
        h.node_report("ha-1", crm="stack-down", crm_status=102, drbd=h.SECONDARY),
    )
    await _poll(hass, freezer, cluster, down)
    assert _state(hass, "binary_sensor.ha_cluster_stack") == "off"
    assert _state(hass, "binary_sensor.ha_cluster_quorum") == STATE_UNAVAILABLE
    assert _state(hass, "sensor.ha_cluster_active_node") == STATE_UNAVAILABLE
    assert _state(hass, "sensor.ha_0_state") == STATE_UNAVAILABLE
    assert _state(hass, "sensor.ha_0_drbd_home_assistant_role") == "primary"


def test_enum_state_unknown_value() -> None:
    """A value outside the options (DRBD's own 'unknown') is an unknown state, not a crash."""
    assert enum_state(DiskState.UNKNOWN, ["uptodate"]) is None
    assert enum_state(DiskState.UP_TO_DATE, ["uptodate"]) == "uptodate"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"failed": True}, "failed"),
        ({"blocked": True}, "blocked"),
        ({"managed": False}, "unmanaged"),
        ({"running_on": ("ha-0",)}, "started"),
        ({"disabled": True}, "disabled"),
        ({}, "stopped"),
    ],
)
def test_resource_state(fields: dict[str, Any], expected: str) -> None:
    """One word per resource, the most important first."""
    assert resource_state(Resource(id="r", kind=ResourceKind.PRIMITIVE, **fields)) == expected


async def test_application_stopped_is_unknown(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An application that runs nowhere has an unknown active node."""
    await _poll(hass, freezer, cluster, h.scenario("ha1_down"))
    assert _state(hass, "sensor.ha_cluster_active_node") == "ha-0"
    down = h.snapshot_of(h.node_report("ha-0", crm="node-offline"), h.unreachable("ha-1"))
    await _poll(hass, freezer, cluster, down)
    assert _state(hass, "sensor.ha_cluster_active_node") in {"ha-1", STATE_UNKNOWN}
