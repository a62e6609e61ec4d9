"""Buttons: fail over, clean up failed actions (disabled by default)."""

# ruff: noqa: F811 - pytest fixtures imported from the helpers module

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock, patch

from freezegun.api import FrozenDateTimeFactory
from ha_control_helpers import controller, entities, not_self, result  # noqa: F401
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.pacemaker_drbd import button
from custom_components.pacemaker_drbd.hacluster.interlocks import (
    CleanupResourceRequest,
    FailoverRequest,
)
from custom_components.pacemaker_drbd.hacluster.models.pacemaker import (
    FailedAction,
    PacemakerStatus,
)
from custom_components.pacemaker_drbd.runner import failed_resources

FAILOVER = "button.ha_cluster_fail_over"
CLEANUP = "button.ha_cluster_clean_up_failed_actions"


async def _press(hass: HomeAssistant, entity_id: str) -> None:
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


async def test_disabled_by_default(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """Both buttons exist and start disabled."""
    for entity_id in (FAILOVER, CLEANUP):
        entry = entity_registry.async_get(entity_id)
        assert entry is not None
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert button.PARALLEL_UPDATES == 1


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_snapshot(
    hass: HomeAssistant,
    snapshot: SnapshotAssertion,
    entity_registry: er.EntityRegistry,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
) -> None:
    """The buttons of the cluster device."""
    mock_config_entry.add_to_hass(hass)
    with patch("custom_components.pacemaker_drbd.PLATFORMS", (Platform.BUTTON,)):
        await hass.config_entries.async_setup(mock_config_entry.entry_id)
        await hass.async_block_till_done()
    assert entities(hass, entity_registry, "button") == snapshot


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_failover_button(
    hass: HomeAssistant, init_integration: MockConfigEntry, controller: MagicMock
) -> None:
    """The failover button moves the application to the best other node."""
    await _press(hass, FAILOVER)
    assert controller.execute.await_args.args == (FailoverRequest(),)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_failover_button_refused(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
    h: SimpleNamespace,
) -> None:
    """A refused failover raises the translated reason."""
    cluster.snapshot = h.scenario("resync")
    with pytest.raises(ServiceValidationError) as err:
        await _press(hass, FAILOVER)
    assert "a DRBD resync of home-assistant" in str(err.value)
    controller.execute.assert_not_awaited()


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_cleanup_button(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Nothing failed: a translated validation error. A failed monitor: its resource is
    cleaned up."""
    with pytest.raises(ServiceValidationError) as err:
        await _press(hass, CLEANUP)
    assert err.value.translation_key == "nothing_to_clean_up"
    cluster.snapshot = h.scenario("failed")
    freezer.tick(16)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    expected = failed_resources(cluster.snapshot.pacemaker)
    assert expected
    controller.execute.return_value = result("cleanup_resource")
    await _press(hass, CLEANUP)
    sent = [c.args[0] for c in controller.execute.await_args_list]
    assert sent == [CleanupResourceRequest(resource=r) for r in expected]


def test_failed_resources() -> None:
    """Failed actions and fail counts, clone instance suffixes removed, sorted, once each."""
    status = PacemakerStatus(
        stack_running=True,
        failed_actions=(
            FailedAction(resource="p_b", node="ha-0", operation="monitor"),
            FailedAction(resource="p_drbd:1", node="ha-1", operation="monitor"),
        ),
        fail_counts={"ha-0": {"p_a": 2, "p_b": 1, "p_c": 0}},
    )
    assert failed_resources(status) == ["p_a", "p_b", "p_drbd"]
    assert failed_resources(None) == []
    assert failed_resources(PacemakerStatus(stack_running=False)) == []
