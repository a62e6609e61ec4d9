"""The Pacemaker & DRBD Cluster integration: watch a Pacemaker/Corosync/DRBD cluster over SSH."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv, device_registry as dr

from .const import DOMAIN
from .coordinator import (
    PacemakerDrbdConfigEntry,
    PacemakerDrbdCoordinator,
    PacemakerDrbdRuntimeData,
)
from .entity import cluster_device_id, cluster_device_info, known_nodes, node_device_id
from .entry_data import credentials_from_data, endpoints_from_data
from .frontend import async_register_card
from .hacluster.client import ClusterClient
from .issues import async_delete_entry_issues, host_key_issue_nodes
from .pending import PendingStore
from .runner import ActionRunner
from .services import async_setup_services

if TYPE_CHECKING:
    from homeassistant.core import Event, HomeAssistant
    from homeassistant.helpers.typing import ConfigType

PLATFORMS: tuple[Platform, ...] = (
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.SENSOR,
    Platform.SWITCH,
)

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the integration: register the actions (once, for every entry)."""
    async_setup_services(hass)
    await async_register_card(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PacemakerDrbdConfigEntry) -> bool:
    """Connect to the cluster, poll it once and set up the platforms."""
    if nodes := host_key_issue_nodes(hass, entry):
        # Do not connect again to a node whose host key changed until the user re-pins it.
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="host_key_changed",
            translation_placeholders={"nodes": ", ".join(nodes)},
        )
    client = ClusterClient(endpoints_from_data(entry.data), credentials_from_data(entry.data))
    coordinator = PacemakerDrbdCoordinator(hass, entry, client)
    try:
        await coordinator.async_config_entry_first_refresh()
    except BaseException:
        await client.close()
        raise
    runner = ActionRunner(hass, entry, client, coordinator)
    await runner.async_detect()
    hub = cluster_device_info(coordinator)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers=hub["identifiers"],
        name=hub.get("name"),
        manufacturer=hub.get("manufacturer"),
        model=hub.get("model"),
        sw_version=hub.get("sw_version"),
    )
    entry.runtime_data = PacemakerDrbdRuntimeData(
        client=client,
        coordinator=coordinator,
        options=dict(entry.options),
        cluster_device_id=device.id,
        runner=runner,
    )

    async def _close(_event: Event) -> None:
        await client.close()

    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _close))
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # What a previous instance left pending (it moved itself): report it, in the background.
    entry.async_create_background_task(
        hass, runner.async_process_pending(), f"{DOMAIN} pending actions"
    )
    return True


async def _async_options_updated(hass: HomeAssistant, entry: PacemakerDrbdConfigEntry) -> None:
    """Apply new options (scan interval, application) by reloading the entry.

    Data changes (reauth, reconfigure, a re-pinned key) reload through their own flows.
    """
    if dict(entry.options) != entry.runtime_data.options:
        hass.config_entries.async_schedule_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: PacemakerDrbdConfigEntry) -> bool:
    """Unload the platforms and close the SSH sessions."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.client.close()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: PacemakerDrbdConfigEntry) -> None:
    """Delete the entry's repair issues and pending actions when it is removed."""
    async_delete_entry_issues(hass, entry)
    await PendingStore(hass, entry.entry_id).async_delete()


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: PacemakerDrbdConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Allow removing a node device only once the node is gone from the entry and the cluster."""
    if (DOMAIN, cluster_device_id(entry)) in device.identifiers:
        return False
    current = {node_device_id(entry, name) for name in known_nodes(entry.runtime_data.coordinator)}
    return not any(
        domain == DOMAIN and identifier in current for domain, identifier in device.identifiers
    )
