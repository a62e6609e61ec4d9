"""The Lovelace card's registration: a static path with cache headers, an extra module URL.

The card itself is tested in a real browser (tests/browser/).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import re

from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.pacemaker_drbd.const import DOMAIN
from custom_components.pacemaker_drbd.frontend import (
    CARD_PATH,
    CARD_URL,
    DATA_CARD_PENDING,
    DATA_CARD_URL,
    async_register_card,
    card_digest,
)


def _card_urls(hass: HomeAssistant) -> list[str]:
    return [url for url in hass.data[DATA_EXTRA_MODULE_URL].urls if url.startswith(CARD_URL)]


async def test_card_served_and_added_to_the_frontend(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """With the frontend loaded: served with cache headers, added once with a version query."""
    assert await async_setup_component(hass, "frontend", {})
    await async_register_card(hass)
    await async_register_card(hass)  # a second call (e.g. a reload) changes nothing

    integration = await async_get_integration(hass, DOMAIN)
    url = hass.data[DATA_CARD_URL]
    assert url == f"/pacemaker_drbd/pacemaker-drbd-card.js?v={integration.version}-{card_digest()}"
    assert _card_urls(hass) == [url]
    assert DATA_CARD_PENDING not in hass.data

    client = await hass_client()
    resp = await client.get(url)
    assert resp.status == 200
    assert "max-age=" in resp.headers["Cache-Control"]
    assert resp.headers["Content-Type"].startswith(("text/javascript", "application/javascript"))
    body = await resp.text()
    assert body == CARD_PATH.read_text()
    assert "customElements.define(CARD_TYPE, PacemakerDrbdCard)" in body


async def test_waits_for_the_frontend(hass: HomeAssistant) -> None:
    """Called before the frontend is loaded: registered as soon as it is, exactly once."""
    await async_register_card(hass)
    assert DATA_CARD_URL not in hass.data
    assert hass.data[DATA_CARD_PENDING] is True
    await async_register_card(hass)  # still waiting: no second listener

    assert await async_setup_component(hass, "frontend", {})
    await hass.async_block_till_done()
    assert DATA_CARD_PENDING not in hass.data
    assert _card_urls(hass) == [hass.data[DATA_CARD_URL]]


async def test_other_components_do_not_trigger_it(hass: HomeAssistant) -> None:
    """Only the frontend's component_loaded event registers the card."""
    await async_register_card(hass)
    assert await async_setup_component(hass, "http", {})
    await hass.async_block_till_done()
    assert DATA_CARD_URL not in hass.data
    assert hass.data[DATA_CARD_PENDING] is True


async def test_concurrent_calls_register_once(hass: HomeAssistant) -> None:
    """Two setups racing (both see the frontend loaded) register one static path and URL."""
    assert await async_setup_component(hass, "frontend", {})
    await asyncio.gather(async_register_card(hass), async_register_card(hass))
    assert _card_urls(hass) == [hass.data[DATA_CARD_URL]]


def test_digest_follows_the_content(tmp_path: Path) -> None:
    """The version query changes with the file, so browsers fetch a new card."""
    card = tmp_path / "card.js"
    card.write_text("a")
    first = card_digest(card)
    card.write_text("b")
    assert re.fullmatch(r"[0-9a-f]{8}", first)
    assert card_digest(card) != first
    assert re.fullmatch(r"[0-9a-f]{8}", card_digest())


def test_card_file_is_plain_javascript() -> None:
    """Shipped as is (no build step): the card's tag, editor and picker entry are in the file."""
    text = CARD_PATH.read_text()
    assert 'const CARD_TYPE = "pacemaker-drbd-card";' in text
    assert "static getStubConfig(hass)" in text
    assert "static getConfigElement()" in text
    assert "window.customCards.push(" in text
    assert "import " not in text.split("*/", 1)[1]  # no modules to resolve
