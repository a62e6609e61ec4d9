"""Dynamic devices: nodes and DRBD resources that appear later get their entities."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.pacemaker_drbd import async_remove_config_entry_device


async def _poll(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, cluster: Any, snapshot: Any
) -> None:
    cluster.snapshot = snapshot
    freezer.tick(16)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


async def test_new_drbd_resource_gets_entities(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A second DRBD resource on ha-0: its entities and split-brain sensor appear; when it
    goes away they become unavailable."""
    assert hass.states.get("sensor.ha_0_drbd_media_role") is None
    two = h.snapshot_of(
        h.node_report("ha-0", drbd="status-json-9.22-two-resources.json"),
        h.node_report("ha-1", drbd=h.SECONDARY),
    )
    await _poll(hass, freezer, cluster, two)
    role = hass.states.get("sensor.ha_0_drbd_media_role")
    assert role is not None
    assert role.state in {"primary", "secondary"}
    split = hass.states.get("binary_sensor.ha_cluster_drbd_media_split_brain")
    assert split is not None
    assert split.state == "off"
    entry = entity_registry.async_get("sensor.ha_0_drbd_media_role")
    assert entry is not None
    assert entry.unique_id == f"{h.UNIQUE_ID}_ha-0_media_drbd_role"
    await _poll(hass, freezer, cluster, h.scenario("healthy"))
    assert hass.states.get("sensor.ha_0_drbd_media_role").state == STATE_UNAVAILABLE


async def test_new_node_in_cluster_view(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    device_registry: dr.DeviceRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A node the cluster lists but the entry does not connect to gets a device with the
    cluster's view of it; once gone from both, its device may be removed."""
    big = h.snapshot_of(
        h.node_report("ha-0", crm="node-maintenance"), h.node_report("ha-1", drbd=h.SECONDARY)
    )
    await _poll(hass, freezer, cluster, big)
    view = cluster.snapshot.pacemaker
    extra = [n.name for n in view.nodes if n.name not in ("ha-0", "ha-1")]
    if not extra:
        # The recorded outputs have two nodes: add one the way crm_mon would list it.
        from dataclasses import replace

        from custom_components.pacemaker_drbd.hacluster.models.pacemaker import PacemakerNode

        view = replace(
            view, nodes=(*view.nodes, PacemakerNode(name="ha-2", node_id="3", online=True))
        )
        cluster.snapshot = replace(cluster.snapshot, pacemaker=view)
        await _poll(hass, freezer, cluster, cluster.snapshot)
    state = hass.states.get("sensor.ha_2_state")
    assert state is not None
    assert state.state == "online"
    assert hass.states.get("binary_sensor.ha_2_reachable_over_ssh") is None
    device = h.device(device_registry, init_integration.entry_id, f"{h.UNIQUE_ID}_ha-2")
    assert device is not None
    assert not await async_remove_config_entry_device(hass, init_integration, device)
    await _poll(hass, freezer, cluster, h.scenario("healthy"))
    assert hass.states.get("sensor.ha_2_state").state == STATE_UNAVAILABLE
    assert await async_remove_config_entry_device(hass, init_integration, device)
