"""Diagnostics: the models' to_dict(), versions, and no secrets."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.pacemaker_drbd.hacluster.errors import ClusterTimeoutError


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    h: SimpleNamespace,
    snapshot: SnapshotAssertion,
) -> None:
    """The snapshot of the healthy cluster's diagnostics, with every secret redacted."""
    diagnostics: dict[str, Any] = await get_diagnostics_for_config_entry(
        hass, hass_client, init_integration
    )
    text = json.dumps(diagnostics)
    for secret in (h.CLIENT_KEY, "PRIVATE KEY", *(h.public_line(k) for k in h.HOST_KEYS.values())):
        assert secret not in text
    assert diagnostics["entry"]["data"]["private_key"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["username"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["nodes"][0]["host_key"] == "**REDACTED**"
    assert diagnostics["application"] == "g_home-assistant"
    assert diagnostics["versions"]["pacemaker"] == "2.1.5-a3f44794f94"
    tools = diagnostics["versions"]["tools"]
    assert set(tools) == {"ha-0", "ha-1"}
    assert tools["ha-0"]["crm_mon_version"].startswith("Pacemaker 2.1.5")
    assert tools["ha-0"]["drbdsetup_version"] is None
    assert diagnostics == snapshot


async def test_diagnostics_tool_versions_error(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    cluster: Any,
) -> None:
    """A node that fails the version query says why; diagnostics still work."""
    cluster.session.run_batch.side_effect = ClusterTimeoutError("ha-0: no answer within 20 s")
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    assert diagnostics["versions"]["tools"]["ha-0"] == {"error": "ha-0: no answer within 20 s"}
