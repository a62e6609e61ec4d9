"""The integration's actions (services), registered once in ``async_setup``.

Every action names its cluster with ``config_entry_id`` (a loaded entry of this integration)
and returns the core's result as response data (what was done, how long the cluster took, the
new location, warnings such as disabled fencing, ``self_move`` when this instance is moved).
Refusals and bad input raise a translated ``ServiceValidationError``; failures a
``HomeAssistantError`` (see ``runner.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .compat import vol
from .const import (
    ATTR_CONFIG_ENTRY_ID,
    ATTR_ENABLED,
    ATTR_FORCE,
    ATTR_NODE,
    ATTR_RESOURCE,
    ATTR_TARGET,
    ATTR_WAIT,
    DOMAIN,
)
from .hacluster.interlocks import ActionKind, ActionRequest, request_from_dict

if TYPE_CHECKING:
    from .coordinator import PacemakerDrbdConfigEntry

_ENTRY: Final = {vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string}
_NODE: Final = {vol.Required(ATTR_NODE): cv.string}
_RESOURCE: Final = {vol.Required(ATTR_RESOURCE): cv.string}
_WAIT: Final = {vol.Optional(ATTR_WAIT, default=True): cv.boolean}
_FORCE: Final = {vol.Optional(ATTR_FORCE, default=False): cv.boolean}
_ENABLED: Final = {vol.Required(ATTR_ENABLED): cv.boolean}

SCHEMAS: Final[dict[ActionKind, vol.Schema]] = {
    ActionKind.STANDBY_NODE: vol.Schema({**_ENTRY, **_NODE, **_WAIT, **_FORCE}),
    ActionKind.ONLINE_NODE: vol.Schema({**_ENTRY, **_NODE, **_WAIT}),
    ActionKind.FAILOVER: vol.Schema({**_ENTRY, vol.Optional(ATTR_TARGET): cv.string, **_FORCE}),
    ActionKind.RESTART_RESOURCE: vol.Schema({**_ENTRY, **_RESOURCE, **_FORCE}),
    ActionKind.CLEANUP_RESOURCE: vol.Schema(
        {**_ENTRY, **_RESOURCE, vol.Optional(ATTR_NODE): cv.string}
    ),
    ActionKind.CLEAR_MOVE_CONSTRAINTS: vol.Schema({**_ENTRY, **_RESOURCE}),
    ActionKind.SET_MAINTENANCE_MODE: vol.Schema({**_ENTRY, **_ENABLED}),
    ActionKind.SET_NODE_MAINTENANCE: vol.Schema({**_ENTRY, **_NODE, **_ENABLED}),
}
"""One schema per action; the action names are the core's :class:`ActionKind` values."""

_REQUEST_FIELDS: Final = {
    ATTR_NODE: "node",
    ATTR_TARGET: "target",
    ATTR_RESOURCE: "resource",
    ATTR_WAIT: "wait",
    ATTR_FORCE: "force",
    ATTR_ENABLED: "on",
}


def build_request(action: str, data: dict[str, Any]) -> ActionRequest:
    """The core's request for an action call (the schema has validated ``data``)."""
    fields = {field: data[key] for key, field in _REQUEST_FIELDS.items() if key in data}
    return request_from_dict(action, fields)


def loaded_entry(hass: HomeAssistant, entry_id: str) -> PacemakerDrbdConfigEntry:
    """The loaded entry ``entry_id`` of this integration, or a translated validation error."""
    entry: PacemakerDrbdConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"entry_id": entry_id, "title": entry.title},
        )
    return entry


async def _async_handle(call: ServiceCall) -> ServiceResponse:
    """Run one action call and return its result."""
    entry = loaded_entry(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    request = build_request(call.service, dict(call.data))
    return await entry.runtime_data.runner.async_run(request)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register every action (once, from ``async_setup``)."""
    for action, schema in SCHEMAS.items():
        hass.services.async_register(
            DOMAIN,
            str(action),
            _async_handle,
            schema=schema,
            supports_response=SupportsResponse.OPTIONAL,
        )
