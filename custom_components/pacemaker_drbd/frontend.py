"""Serve the Lovelace cluster card and load it in every browser: no manual dashboard resource.

The card (``frontend/pacemaker-drbd-card.js``, plain JavaScript, no build step) is served as a
static path with cache headers, and added to the frontend with ``add_extra_js_url``. Its URL
carries a version query (the integration's version and a digest of the file), so a browser
fetches the new card after an update and keeps it cached otherwise. Nothing is written into
Lovelace's storage.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
import sys
from typing import TYPE_CHECKING, Final

from homeassistant.const import EVENT_COMPONENT_LOADED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.loader import async_get_integration
from homeassistant.setup import EventComponentLoaded
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER

if TYPE_CHECKING and sys.version_info >= (3, 14):  # pragma: no cover - type checking only
    # Home Assistant 2026 defines it in http.server (http re-exports it implicitly).
    from homeassistant.components.http.server import StaticPathConfig
else:
    from homeassistant.components.http import StaticPathConfig

CARD_FILENAME: Final = "pacemaker-drbd-card.js"
CARD_PATH: Final = Path(__file__).parent / "frontend" / CARD_FILENAME
CARD_URL: Final = f"/{DOMAIN}/{CARD_FILENAME}"
DATA_CARD_URL: HassKey[str] = HassKey(f"{DOMAIN}_card_url")
"""The card's URL with its version query, once registered."""
DATA_CARD_PENDING: HassKey[bool] = HassKey(f"{DOMAIN}_card_pending")
"""Set from the first call until the card is registered (waiting for the frontend, or busy)."""


def card_digest(path: Path = CARD_PATH) -> str:
    """A short digest of the card's file (blocking: run it in the executor)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


async def async_register_card(hass: HomeAssistant) -> None:
    """Serve the card and add it to the frontend, once per Home Assistant run.

    Call it from ``async_setup``. Where the frontend is not loaded (yet), the card is registered
    when it is; without a frontend, never.
    """
    if DATA_CARD_URL in hass.data or DATA_CARD_PENDING in hass.data:
        return
    hass.data[DATA_CARD_PENDING] = True  # also guards against a concurrent second call
    if "frontend" in hass.config.components:
        await _async_register(hass)
        return

    @callback
    def _is_frontend(event_data: EventComponentLoaded) -> bool:
        return event_data["component"] == "frontend"

    async def _frontend_loaded(_event: Event[EventComponentLoaded]) -> None:
        unsub()
        await _async_register(hass)

    unsub = hass.bus.async_listen(
        EVENT_COMPONENT_LOADED, _frontend_loaded, event_filter=_is_frontend
    )


async def _async_register(hass: HomeAssistant) -> None:
    """Register the static path and the extra module URL (the frontend and http are loaded)."""
    # Imported here: the frontend component (and its package) is only needed when it runs.
    from homeassistant.components.frontend import add_extra_js_url

    integration = await async_get_integration(hass, DOMAIN)
    digest = await hass.async_add_executor_job(card_digest, CARD_PATH)
    url = f"{CARD_URL}?v={integration.version}-{digest}"
    hass.data[DATA_CARD_URL] = url
    await hass.http.async_register_static_paths(
        [StaticPathConfig(CARD_URL, str(CARD_PATH), cache_headers=True)]
    )
    add_extra_js_url(hass, url)
    hass.data.pop(DATA_CARD_PENDING, None)
    LOGGER.debug("Lovelace card served at %s", url)
