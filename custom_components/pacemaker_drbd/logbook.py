"""Logbook entries for the integration's events: completed actions and failovers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.logbook.const import (
    LOGBOOK_ENTRY_ICON,
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.core import Event, HomeAssistant, callback

from .const import DOMAIN, EVENT_ACTION_COMPLETED, EVENT_FAILOVER

if TYPE_CHECKING:
    from collections.abc import Callable


@callback
def describe_action_completed(event: Event) -> dict[str, str]:
    """``pacemaker_drbd_action_completed``: which action, whether it worked, what it did."""
    data = event.data
    action = str(data.get("action", "action")).replace("_", " ")
    outcome = "completed" if data.get("ok") else "failed"
    when = " after Home Assistant restarted" if data.get("restarted") else ""
    return {
        LOGBOOK_ENTRY_NAME: str(data.get("cluster") or DOMAIN),
        LOGBOOK_ENTRY_MESSAGE: f"{action} {outcome}{when}: {data.get('message', '')}",
        LOGBOOK_ENTRY_ICON: "mdi:check-circle" if data.get("ok") else "mdi:alert-circle",
    }


@callback
def describe_failover(event: Event) -> dict[str, str]:
    """``pacemaker_drbd_failover``: the application moved."""
    data = event.data
    reason = f" ({data['reason']})" if data.get("reason") else ""
    return {
        LOGBOOK_ENTRY_NAME: str(data.get("cluster") or DOMAIN),
        LOGBOOK_ENTRY_MESSAGE: (
            f"{data.get('resource')} moved from {data.get('from')} to {data.get('to')}{reason}"
        ),
        LOGBOOK_ENTRY_ICON: "mdi:swap-horizontal",
    }


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Describe the integration's events for the logbook."""
    async_describe_event(DOMAIN, EVENT_ACTION_COMPLETED, describe_action_completed)
    async_describe_event(DOMAIN, EVENT_FAILOVER, describe_failover)
