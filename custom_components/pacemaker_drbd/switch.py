"""Switches: a node's standby (on = in standby) and the cluster's maintenance mode.

They run the same core actions as the services (``standby_node``/``online_node``,
``set_maintenance_mode``) through the entry's :class:`~.runner.ActionRunner`, so the interlocks
apply: a refused switch raises the translated ``ServiceValidationError``. A switch returns once
the cluster accepted the change (the services' ``wait`` waits for the resources to settle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory

from .entity import (
    SCOPE_CLUSTER,
    SCOPE_NODE,
    PacemakerDrbdEntity,
    PacemakerDrbdEntityDescription,
    Scope,
    async_add_scoped_entities,
)
from .hacluster.interlocks import (
    ActionRequest,
    OnlineNodeRequest,
    SetMaintenanceModeRequest,
    StandbyNodeRequest,
)
from .hacluster.models.pacemaker import PacemakerNode, PacemakerStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import PacemakerDrbdConfigEntry

# Actions change the cluster: one at a time.
PARALLEL_UPDATES = 1


def _node_request(scope: Scope, on: bool) -> ActionRequest:
    node = str(scope.node)
    if on:
        return StandbyNodeRequest(node=node, wait=False)
    return OnlineNodeRequest(node=node, wait=False)


@dataclass(frozen=True, kw_only=True)
class PacemakerDrbdSwitchEntityDescription[T](
    PacemakerDrbdEntityDescription[T], SwitchEntityDescription
):
    """A switch: its state from the scope's object, the action that turns it on or off."""

    is_on_fn: Callable[[T], bool]
    request_fn: Callable[[Scope, bool], ActionRequest]


SWITCHES: tuple[PacemakerDrbdSwitchEntityDescription[Any], ...] = (
    PacemakerDrbdSwitchEntityDescription[PacemakerNode](
        key="standby",
        translation_key="standby",
        scope=SCOPE_NODE,
        is_on_fn=lambda n: n.standby,
        request_fn=_node_request,
    ),
    PacemakerDrbdSwitchEntityDescription[PacemakerStatus](
        key="maintenance_mode",
        translation_key="maintenance_mode",
        scope=SCOPE_CLUSTER,
        entity_category=EntityCategory.CONFIG,
        is_on_fn=lambda s: s.options.maintenance_mode,
        request_fn=lambda _scope, on: SetMaintenanceModeRequest(on=on, wait=False),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PacemakerDrbdConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the switches, now and for nodes that appear later."""
    async_add_scoped_entities(entry, SWITCHES, PacemakerDrbdSwitch, async_add_entities)


class PacemakerDrbdSwitch[T](PacemakerDrbdEntity[T], SwitchEntity):
    """A switch that acts on the cluster."""

    entity_description: PacemakerDrbdSwitchEntityDescription[T]

    @property
    def is_on(self) -> bool | None:
        """The state from the latest poll."""
        if (target := self.target) is None:
            return None
        return self.entity_description.is_on_fn(target)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn on through the core's action (interlocks apply)."""
        await self._async_switch(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn off through the core's action (interlocks apply)."""
        await self._async_switch(False)

    async def _async_switch(self, on: bool) -> None:
        runner = self.coordinator.config_entry.runtime_data.runner
        await runner.async_run(self.entity_description.request_fn(self.scope, on))
