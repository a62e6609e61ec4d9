"""Switches: node standby and cluster maintenance mode (snapshot, actions, interlocks)."""

# ruff: noqa: F811 - pytest fixtures imported from the helpers module

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock, patch

from freezegun.api import FrozenDateTimeFactory
from ha_control_helpers import (
    command_sessions,
    controller,  # noqa: F401
    entities,
    light_batch,
    not_self,  # noqa: F401
    result,
)
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.pacemaker_drbd import switch
from custom_components.pacemaker_drbd.hacluster.commands import standby_node
from custom_components.pacemaker_drbd.hacluster.control import ResultCode
from custom_components.pacemaker_drbd.hacluster.interlocks import (
    OnlineNodeRequest,
    SetMaintenanceModeRequest,
    StandbyNodeRequest,
)


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    with patch("custom_components.pacemaker_drbd.PLATFORMS", (Platform.SWITCH,)):
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()


async def _switch(hass: HomeAssistant, entity_id: str, on: bool) -> None:
    await hass.services.async_call(
        SWITCH_DOMAIN,
        SERVICE_TURN_ON if on else SERVICE_TURN_OFF,
        {ATTR_ENTITY_ID: entity_id},
        blocking=True,
    )


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def test_snapshot(
    hass: HomeAssistant,
    snapshot: SnapshotAssertion,
    entity_registry: er.EntityRegistry,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
) -> None:
    """A standby switch per node and the cluster's maintenance mode."""
    await _setup(hass, mock_config_entry)
    assert entities(hass, entity_registry, "switch") == snapshot
    assert switch.PARALLEL_UPDATES == 1


async def test_standby_switch(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
    h: SimpleNamespace,
) -> None:
    """On puts the node in standby, off brings it back; the state follows the refresh."""
    assert _state(hass, "switch.ha_0_standby") == "off"

    async def standby(*_: Any, **__: Any) -> Any:
        cluster.snapshot = h.scenario("standby")
        return result("standby_node", code=ResultCode.ACCEPTED)

    controller.execute.side_effect = standby
    await _switch(hass, "switch.ha_0_standby", True)
    assert controller.execute.await_args.args == (StandbyNodeRequest(node="ha-0", wait=False),)
    assert _state(hass, "switch.ha_0_standby") == "on"

    async def online(*_: Any, **__: Any) -> Any:
        cluster.snapshot = h.scenario("healthy")
        return result("online_node", code=ResultCode.ACCEPTED)

    controller.execute.side_effect = online
    await _switch(hass, "switch.ha_0_standby", False)
    assert controller.execute.await_args.args == (OnlineNodeRequest(node="ha-0", wait=False),)
    assert _state(hass, "switch.ha_0_standby") == "off"


async def test_maintenance_switch(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    controller: MagicMock,
) -> None:
    """The maintenance switch sets the cluster-wide mode."""
    await _switch(hass, "switch.ha_cluster_maintenance_mode", True)
    assert controller.execute.await_args.args == (SetMaintenanceModeRequest(on=True, wait=False),)
    await _switch(hass, "switch.ha_cluster_maintenance_mode", False)
    assert controller.execute.await_args.args == (SetMaintenanceModeRequest(on=False, wait=False),)


async def test_refused_switch(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Putting the last online node in standby is refused with the translated reason."""
    cluster.snapshot = h.scenario("standby")
    freezer.tick(16)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as err:
        await _switch(hass, "switch.ha_1_standby", True)
    assert err.value.translation_key == "action_refused"
    assert "node ha-1 is the last online node" in str(err.value)
    controller.execute.assert_not_awaited()
    assert _state(hass, "switch.ha_1_standby") == "off"


async def test_standby_switch_with_the_real_controller(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
) -> None:
    """The real controller sends crm_attribute and returns once crm_mon shows the standby."""
    command_sessions(cluster)
    cluster.session.run.reset_mock()
    cluster.session.run_batch = AsyncMock(return_value=light_batch("standby"))

    async def run(argv: tuple[str, ...], **_: Any) -> Any:
        cluster.snapshot = h.scenario("standby")
        return cluster.session.run.return_value

    cluster.session.run.side_effect = run
    await _switch(hass, "switch.ha_0_standby", True)
    assert cluster.session.run.await_args.args == (standby_node("ha-0"),)
    assert _state(hass, "switch.ha_0_standby") == "on"
    assert _state(hass, "sensor.ha_cluster_active_node") == "ha-1"


async def test_unavailable_without_the_node(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """With the stack down nowhere shows the node: the switches are unavailable."""
    cluster.snapshot = h.snapshot_of(
        h.node_report("ha-0", crm="stack-down", crm_status=102),
        h.node_report("ha-1", crm="stack-down", crm_status=102, drbd=h.SECONDARY),
    )
    freezer.tick(16)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert _state(hass, "switch.ha_0_standby") == STATE_UNAVAILABLE
    assert _state(hass, "switch.ha_cluster_maintenance_mode") == STATE_UNAVAILABLE
    entity = hass.data["entity_components"]["switch"].get_entity("switch.ha_0_standby")
    assert entity is not None
    assert entity.is_on is None
