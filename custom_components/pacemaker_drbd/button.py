"""Buttons (disabled by default): fail the application over, clean up failed actions.

They run the same core actions as the ``failover`` and ``cleanup_resource`` services through
the entry's :class:`~.runner.ActionRunner` (interlocks, self-move handling, translated errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription

from .entity import (
    SCOPE_APPLICATION,
    SCOPE_CLUSTER,
    PacemakerDrbdEntity,
    PacemakerDrbdEntityDescription,
    async_add_scoped_entities,
)
from .hacluster.interlocks import FailoverRequest
from .hacluster.models.pacemaker import PacemakerStatus, Resource

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import PacemakerDrbdConfigEntry
    from .runner import ActionRunner

# Actions change the cluster: one at a time.
PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class PacemakerDrbdButtonEntityDescription[T](
    PacemakerDrbdEntityDescription[T], ButtonEntityDescription
):
    """A button: the action it runs."""

    press_fn: Callable[[ActionRunner], Awaitable[Any]]


BUTTONS: tuple[PacemakerDrbdButtonEntityDescription[Any], ...] = (
    PacemakerDrbdButtonEntityDescription[Resource](
        key="failover",
        translation_key="failover",
        scope=SCOPE_APPLICATION,
        entity_registry_enabled_default=False,
        press_fn=lambda runner: runner.async_run(FailoverRequest()),
    ),
    PacemakerDrbdButtonEntityDescription[PacemakerStatus](
        key="cleanup_failed_actions",
        translation_key="cleanup_failed_actions",
        scope=SCOPE_CLUSTER,
        entity_registry_enabled_default=False,
        press_fn=lambda runner: runner.async_cleanup_failed(),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PacemakerDrbdConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the buttons."""
    async_add_scoped_entities(entry, BUTTONS, PacemakerDrbdButton, async_add_entities)


class PacemakerDrbdButton[T](PacemakerDrbdEntity[T], ButtonEntity):
    """A button that acts on the cluster."""

    entity_description: PacemakerDrbdButtonEntityDescription[T]

    async def async_press(self) -> None:
        """Run the action (interlocks apply; a refusal raises a translated error)."""
        await self.entity_description.press_fn(self.coordinator.config_entry.runtime_data.runner)
