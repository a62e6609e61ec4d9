"""The integration against the real lab: set up in the Home Assistant test harness over real SSH.

It must show the node that runs the application, and after ``crm node standby`` of that node the
entities and the ``pacemaker_drbd_failover`` event must follow within two scan intervals.
"""

# ruff: noqa: E402 - custom_components is imported after the repository is put on sys.path

from __future__ import annotations

import asyncio
from pathlib import Path
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `pytest` (unlike `python -m pytest`) does not add the rootdir
    sys.path.insert(0, str(REPO))

from helpers_ha import lab_entry
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_SCAN_INTERVAL
from homeassistant.core import Event, HomeAssistant, callback

from custom_components.pacemaker_drbd.const import EVENT_FAILOVER

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.e2e

SCAN_INTERVAL = 5
#: what one poll of every node may take on top of the interval (SSH round trips, crm_mon)
POLL_ALLOWANCE = 3.0


async def _wait_for(hass: HomeAssistant, check: Any, *, timeout: float, what: str) -> float:
    """Poll ``check()`` on the event loop until true; return the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what} did not happen within {timeout:.1f} s")
        await asyncio.sleep(0.2)
    return time.monotonic() - start


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return state.state if state is not None else None


async def test_active_node_follows_standby(
    hass: HomeAssistant, enable_custom_integrations: None, healthy_lab: Lab
) -> None:
    """Set up against the lab, put the active node in standby, see the entities and event."""
    lab = healthy_lab
    src = lab.group_node()
    dst = lab.other(src)
    entry = lab_entry(lab, options={CONF_SCAN_INTERVAL: SCAN_INTERVAL})
    entry.add_to_hass(hass)
    failovers: list[dict[str, Any]] = []

    @callback
    def _on_failover(event: Event) -> None:
        failovers.append(dict(event.data))

    hass.bus.async_listen(EVENT_FAILOVER, _on_failover)
    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        slug = lab.env["HALAB_CLUSTER_NAME"]
        assert _state(hass, f"sensor.{slug}_active_node") == src
        assert _state(hass, f"sensor.{src.replace('-', '_')}_state") == "online"
        assert _state(hass, f"binary_sensor.{src.replace('-', '_')}_reachable_over_ssh") == "on"
        assert _state(hass, f"binary_sensor.{slug}_quorum") == "on"

        # Standby the active node (as an admin would); measure from here.
        await hass.async_add_executor_job(
            lambda: lab.run("exec", src, "crm", "node", "standby", src)
        )
        budget = 2 * SCAN_INTERVAL + POLL_ALLOWANCE
        took = await _wait_for(
            hass,
            lambda: bool(failovers) and _state(hass, f"sensor.{slug}_active_node") == dst,
            timeout=budget,
            what="the failover event and the active node",
        )
        assert failovers[0]["from"] == src
        assert failovers[0]["to"] == dst
        assert failovers[0]["reason"] == "standby"
        assert failovers[0]["config_entry_id"] == entry.entry_id
        assert _state(hass, f"sensor.{src.replace('-', '_')}_state") == "standby"
        assert _state(hass, f"sensor.{dst.replace('-', '_')}_state") == "online"
        assert took <= budget
        print(f"failover seen by the integration {took:.1f} s after crm node standby")
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        await hass.async_add_executor_job(
            lambda: lab.run("exec", src, "crm", "node", "online", src, check=False)
        )
        await hass.async_add_executor_job(lambda: lab.wait("healthy", timeout=90))
