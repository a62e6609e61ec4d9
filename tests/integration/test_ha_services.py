"""The actions (services): registration, requests, response data, refusals, failures, entries.

Refusals come from the core's real interlocks on the simulated poll; the controller is a mock
except in the tests that say they run the real one.
"""

# ruff: noqa: F811 - pytest fixtures imported from the helpers module

from __future__ import annotations

from dataclasses import replace
import json
from pathlib import Path
import re
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock, patch

from ha_control_helpers import (
    FENCING,
    command_sessions,
    controller,  # noqa: F401
    light_batch,
    not_self,  # noqa: F401
    ok_result,
    result,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol
import yaml

from custom_components.pacemaker_drbd.const import DOMAIN
from custom_components.pacemaker_drbd.hacluster import interlocks
from custom_components.pacemaker_drbd.hacluster.commands import set_maintenance_mode
from custom_components.pacemaker_drbd.hacluster.control import ResultCode
from custom_components.pacemaker_drbd.hacluster.errors import (
    ClusterConnectionError,
    InterlockError,
    InvalidNameError,
    ParseError,
)
from custom_components.pacemaker_drbd.hacluster.interlocks import (
    ActionKind,
    CleanupResourceRequest,
    ClearMoveConstraintsRequest,
    FailoverRequest,
    OnlineNodeRequest,
    Reason,
    ReasonCode,
    RestartResourceRequest,
    SetMaintenanceModeRequest,
    SetNodeMaintenanceRequest,
    StandbyNodeRequest,
)
from custom_components.pacemaker_drbd.runner import async_reason_texts, async_translate_error
from custom_components.pacemaker_drbd.services import SCHEMAS

INTEGRATION = Path(__file__).resolve().parents[2] / "custom_components" / "pacemaker_drbd"
EN: dict[str, Any] = json.loads((INTEGRATION / "translations" / "en.json").read_text())
ICONS: dict[str, Any] = json.loads((INTEGRATION / "icons.json").read_text())
SERVICES_YAML: dict[str, Any] = yaml.safe_load((INTEGRATION / "services.yaml").read_text())


async def _call(
    hass: HomeAssistant, entry: MockConfigEntry, service: str, **data: Any
) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN,
        service,
        {"config_entry_id": entry.entry_id, **data},
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    return response


# ---- registration and documentation -----------------------------------------------------------


async def test_registered_once_in_async_setup(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Every action exists after setup and stays after the entry is unloaded."""
    services = set(hass.services.async_services_for_domain(DOMAIN))
    assert services == {str(a) for a in ActionKind}
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert set(hass.services.async_services_for_domain(DOMAIN)) == services


def test_services_documented() -> None:
    """services.yaml, the schemas, the translations and the icons describe the same fields."""
    assert set(SERVICES_YAML) == {str(a) for a in ActionKind} == set(SCHEMAS)
    for action, schema in SCHEMAS.items():
        fields = {str(key) for key in schema.schema}
        assert set(SERVICES_YAML[action]["fields"]) == fields, action
        translated = EN["services"][action]
        assert translated["name"]
        assert translated["description"]
        assert set(translated["fields"]) == fields, action
        for field in translated["fields"].values():
            assert field["name"]
            assert field["description"]
        assert ICONS["services"][action]["service"].startswith("mdi:")
    assert SERVICES_YAML["standby_node"]["fields"]["config_entry_id"]["selector"] == {
        "config_entry": {"integration": DOMAIN}
    }


def test_every_reason_translated_with_its_placeholders() -> None:
    """Each interlock reason code has a translation with the core's placeholders."""
    templates = interlocks._TEMPLATES  # the core's English templates
    for code in ReasonCode:
        message = EN["exceptions"][f"reason_{code}"]["message"]
        assert set(re.findall(r"{(\w+)}", message)) == set(
            re.findall(r"{(\w+)}", templates[code])
        ), code
    for key in ("action_refused", "action_invalid"):
        assert "{reasons}" in EN["exceptions"][key]["message"]


# ---- success and response data ---------------------------------------------------------------

CALLS = [
    ("standby_node", {"node": "ha-0"}, StandbyNodeRequest(node="ha-0")),
    (
        "standby_node",
        {"node": "ha-0", "wait": False, "force": True},
        StandbyNodeRequest(node="ha-0", wait=False, force=True),
    ),
    ("online_node", {"node": "ha-1"}, OnlineNodeRequest(node="ha-1")),
    ("online_node", {"node": "ha-1", "wait": False}, OnlineNodeRequest(node="ha-1", wait=False)),
    ("failover", {}, FailoverRequest()),
    ("failover", {"target": "ha-1", "force": True}, FailoverRequest(target="ha-1", force=True)),
    (
        "restart_resource",
        {"resource": "g_home-assistant"},
        RestartResourceRequest(resource="g_home-assistant"),
    ),
    (
        "cleanup_resource",
        {"resource": "p_fs_home-assistant", "node": "ha-0"},
        CleanupResourceRequest(resource="p_fs_home-assistant", node="ha-0"),
    ),
    (
        "clear_move_constraints",
        {"resource": "g_home-assistant"},
        ClearMoveConstraintsRequest(resource="g_home-assistant"),
    ),
    ("set_maintenance_mode", {"enabled": True}, SetMaintenanceModeRequest(on=True)),
    (
        "set_node_maintenance",
        {"node": "ha-1", "enabled": False},
        SetNodeMaintenanceRequest(node="ha-1", on=False),
    ),
]


@pytest.mark.parametrize(("service", "data", "request_"), CALLS)
async def test_action_runs_and_responds(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
    service: str,
    data: dict[str, Any],
    request_: Any,
) -> None:
    """The service builds the core request, runs it, refreshes, and returns the result."""
    controller.execute.return_value = result(service)
    polls = cluster.clients[0].poll.await_count
    response = await _call(hass, init_integration, service, **data)
    sent = controller.execute.await_args
    assert sent.args == (request_,)
    assert sent.kwargs["snapshot"] is cluster.snapshot
    assert response["action"] == service
    assert response["ok"] is True
    assert response["code"] == "ok"
    assert response["new_location"] == "ha-1"
    assert response["cluster_seconds"] == 3.2
    assert response["warnings"] == [FENCING.to_dict()]
    assert response["self_move"] is False
    # one poll for the interlocks, one refresh after acting
    assert cluster.clients[0].poll.await_count == polls + 2


async def test_action_without_response(
    hass: HomeAssistant, init_integration: MockConfigEntry, controller: MagicMock
) -> None:
    """Callers that do not ask for the response get none; the action still runs."""
    assert (
        await hass.services.async_call(
            DOMAIN,
            "failover",
            {"config_entry_id": init_integration.entry_id},
            blocking=True,
        )
        is None
    )
    controller.execute.assert_awaited_once()


async def test_noop_failover(
    hass: HomeAssistant, init_integration: MockConfigEntry, controller: MagicMock
) -> None:
    """A failover to where the application runs is a no-op, not an error."""
    controller.execute.return_value = result(
        code=ResultCode.NOOP, message="g_home-assistant already runs on ha-0", new_location="ha-0"
    )
    response = await _call(hass, init_integration, "failover", target="ha-0")
    assert response["code"] == "noop"
    assert response["new_location"] == "ha-0"


async def test_real_controller_through_the_service(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
) -> None:
    """set_maintenance_mode with the real controller: the argv goes to the DC, the light polls
    see maintenance mode, the verification poll confirms it."""
    command_sessions(cluster)
    cluster.session.run.reset_mock()
    cluster.session.run_batch = AsyncMock(return_value=light_batch("cluster-maintenance"))
    cluster.snapshot = h.snapshot_of(
        h.node_report("ha-0", crm="cluster-maintenance"),
        h.node_report("ha-1", crm="cluster-maintenance", drbd=h.SECONDARY),
    )
    response = await _call(hass, init_integration, "set_maintenance_mode", enabled=True)
    assert response["ok"] is True
    assert response["code"] == "ok"
    assert response["command_node"] == "ha-0"
    cluster.session.run.assert_awaited_once()
    assert cluster.session.run.await_args.args == (set_maintenance_mode(True),)
    assert response["details"]["polls"] >= 2
    state = hass.states.get("switch.ha_cluster_maintenance_mode")
    assert state is not None
    assert state.state == "on"


async def test_real_controller_command_failure(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
) -> None:
    """A command that exits non-zero is a HomeAssistantError with the node's stderr."""
    command_sessions(cluster)
    cluster.session.run.return_value = ok_result()
    cluster.session.run.return_value = replace(
        ok_result(), exit_status=1, stderr=b"crm_attribute: Error performing operation"
    )
    with pytest.raises(HomeAssistantError) as err:
        await _call(hass, init_integration, "set_maintenance_mode", enabled=True)
    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_key == "action_failed"
    assert "Error performing operation" in str(err.value)


# ---- refusals -----------------------------------------------------------------------------------


def _no_quorum(h: SimpleNamespace) -> Any:
    reports = [h.node_report("ha-0"), h.node_report("ha-1", drbd=h.SECONDARY)]
    reports = [replace(r, pacemaker=replace(r.pacemaker, quorate=False)) for r in reports]
    return h.snapshot_of(*reports)


def _crm(name: str) -> Any:
    return lambda h: h.snapshot_of(
        h.node_report("ha-0", crm=name), h.node_report("ha-1", crm=name, drbd=h.SECONDARY)
    )


REFUSALS = [
    # (scenario, service, data, translation key, translated text)
    ("resync", "failover", {}, "action_refused", "a DRBD resync of home-assistant runs between"),
    ("split_brain", "failover", {}, "action_refused", "a split brain is suspected"),
    (
        "ha1_down",
        "failover",
        {"target": "ha-1"},
        "action_refused",
        "node ha-1 cannot be reached over SSH (connection refused)",
    ),
    (
        "standby",
        "failover",
        {"target": "ha-0"},
        "action_refused",
        "node ha-0 is not online (it is standby)",
    ),
    ("standby", "standby_node", {"node": "ha-1"}, "action_refused", "node ha-1 is the last online"),
    (_no_quorum, "standby_node", {"node": "ha-0"}, "action_refused", "the cluster has no quorum"),
    (
        _crm("cluster-maintenance"),
        "failover",
        {},
        "action_refused",
        "the cluster is in maintenance mode: nothing would move",
    ),
    (
        _crm("node-maintenance"),
        "standby_node",
        {"node": "ha-1"},
        "action_refused",
        "node ha-1 is in maintenance: its resources would not move",
    ),
    ("healthy", "standby_node", {"node": "ha-9"}, "action_invalid", "no node called ha-9"),
    (
        "healthy",
        "standby_node",
        {"node": "bad node!", "force": True},
        "action_invalid",
        "is not a valid node name",
    ),
    ("healthy", "restart_resource", {"resource": "nope"}, "action_invalid", "no resource called"),
    ("healthy", "online_node", {"node": "ha-7"}, "action_invalid", "no node called ha-7"),
    ("healthy", "cleanup_resource", {"resource": "x", "node": "ha-0"}, "action_invalid", "x"),
    ("all_down", "failover", {}, "action_connection", "No node of the cluster answered"),
]


@pytest.mark.parametrize(("scenario", "service", "data", "key", "text"), REFUSALS)
async def test_refusals_are_translated(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
    h: SimpleNamespace,
    scenario: Any,
    service: str,
    data: dict[str, Any],
    key: str,
    text: str,
) -> None:
    """A refused (or impossible) action lists its reasons in the user's language; nothing is
    sent."""
    snapshot = h.scenario(scenario) if isinstance(scenario, str) else scenario(h)
    cluster.snapshot = snapshot
    if scenario == "all_down":
        cluster.error = None
        cluster.clients[0].poll.side_effect = ClusterConnectionError(
            "No node of the cluster answered"
        )
    with pytest.raises(HomeAssistantError) as err:
        await _call(hass, init_integration, service, **data)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == key
    assert isinstance(err.value, ServiceValidationError) is (
        key in {"action_refused", "action_invalid"}
    )
    assert text in str(err.value)
    controller.execute.assert_not_awaited()


async def test_refusal_lists_every_reason(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
    h: SimpleNamespace,
) -> None:
    """Two reasons, both translated, in one message that suggests force."""
    cluster.snapshot = h.scenario("ha1_down")
    cluster.snapshot = replace(
        cluster.snapshot,
        pacemaker=replace(cluster.snapshot.pacemaker, quorate=False),
    )
    with pytest.raises(ServiceValidationError) as err:
        await _call(hass, init_integration, "failover", target="ha-1")
    message = str(err.value)
    assert message.startswith("failover refused: ")
    assert "node ha-1 cannot be reached over SSH" in message
    assert "the cluster has no quorum" in message
    assert message.endswith("Set force to act anyway")  # (Home Assistant drops the final dot)
    placeholders = err.value.translation_placeholders or {}
    assert placeholders["action"] == "failover"


async def test_force_overrides(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
    h: SimpleNamespace,
) -> None:
    """force sets the interlocks aside; the result says which ones."""
    cluster.snapshot = h.scenario("resync")
    overridden = Reason.make(
        ReasonCode.RESYNC_RUNNING,
        node="ha-0",
        peer="ha-1",
        resource="home-assistant",
        state="SyncSource",
        percent="40.0 %",
    )
    controller.execute.return_value = result(overridden=(overridden,))
    response = await _call(hass, init_integration, "failover", force=True)
    assert controller.execute.await_args.args == (FailoverRequest(force=True),)
    assert response["overridden"][0]["code"] == "resync_running"


# ---- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "key"),
    [
        (ClusterConnectionError("ha-0: connection lost"), "action_connection"),
        (ParseError("bad xml", command="crm_mon"), "action_error"),
        (InvalidNameError("bad name"), "action_invalid"),
    ],
)
async def test_core_errors_are_translated(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
    error: Exception,
    key: str,
) -> None:
    """A core error becomes the translated Home Assistant error of its kind."""
    controller.execute.side_effect = error
    with pytest.raises(HomeAssistantError) as err:
        await _call(hass, init_integration, "standby_node", node="ha-0")
    assert err.value.translation_key == key
    assert isinstance(err.value, ServiceValidationError) is (key == "action_invalid")
    assert str(error) in str(err.value)


async def test_failed_result_is_an_error_after_refreshing(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
) -> None:
    """An action that does not get there raises HomeAssistantError with the core's message;
    the coordinator is refreshed anyway."""
    message = (
        "move g_home-assistant to ha-1: the cluster did not get there in time; the move "
        "constraint cli-prefer-g_home-assistant is still in place"
    )
    controller.execute.return_value = result(
        ok=False, code=ResultCode.SETTLE_TIMEOUT, message=message, constraint_left=True
    )
    polls = cluster.clients[0].poll.await_count
    with pytest.raises(HomeAssistantError) as err:
        await _call(hass, init_integration, "failover")
    assert not isinstance(err.value, ServiceValidationError)
    assert err.value.translation_key == "action_failed"
    assert str(err.value) == f"failover failed: {message}"
    assert cluster.clients[0].poll.await_count == polls + 2


# ---- the config entry ---------------------------------------------------------------------------


async def test_unknown_entry(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """An id that is no entry, or an entry of another integration, is refused."""
    other = MockConfigEntry(domain="other_domain", entry_id="OTHER")
    other.add_to_hass(hass)
    for entry_id in ("nope", "OTHER"):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, "failover", {"config_entry_id": entry_id}, blocking=True
            )
        assert err.value.translation_key == "entry_not_found"
        assert entry_id in str(err.value)


async def test_entry_not_loaded(
    hass: HomeAssistant, init_integration: MockConfigEntry, h: SimpleNamespace
) -> None:
    """An entry that is not loaded is refused by name."""
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "online_node",
            {"config_entry_id": init_integration.entry_id, "node": "ha-0"},
            blocking=True,
        )
    assert err.value.translation_key == "entry_not_loaded"
    assert "ha_cluster" in str(err.value)


@pytest.mark.parametrize(
    ("service", "data"),
    [
        ("standby_node", {}),
        ("set_maintenance_mode", {}),
        ("set_node_maintenance", {"node": "ha-0"}),
        ("failover", {"bogus": 1}),
        ("standby_node", {"node": "ha-0", "wait": "sometimes"}),
    ],
)
async def test_schema(
    hass: HomeAssistant, init_integration: MockConfigEntry, service: str, data: dict[str, Any]
) -> None:
    """Missing or unknown fields are rejected before anything runs."""
    with pytest.raises(vol.Invalid):
        await hass.services.async_call(
            DOMAIN, service, {"config_entry_id": init_integration.entry_id, **data}, blocking=True
        )


# ---- the translation helpers --------------------------------------------------------------------


async def test_reason_texts_fall_back_to_the_core(hass: HomeAssistant) -> None:
    """Without a translation the core's English text is used; unknown placeholders stay."""
    reason = Reason.make(ReasonCode.NO_QUORUM)
    with patch(
        "custom_components.pacemaker_drbd.runner.async_get_translations",
        AsyncMock(return_value={}),
    ):
        assert await async_reason_texts(hass, (reason,)) == ["the cluster has no quorum"]
    odd = Reason(code=ReasonCode.UNKNOWN_NODE, placeholders={}, message="x")
    assert await async_reason_texts(hass, (odd,)) == ["the cluster has no node called {node}"]


async def test_interlock_error_without_reasons(hass: HomeAssistant) -> None:
    """An InterlockError that carries no reason objects still says what it says."""
    err = await async_translate_error(hass, "failover", InterlockError("refused for a reason"))
    assert isinstance(err, ServiceValidationError)
    assert err.translation_key == "action_invalid"
    assert (err.translation_placeholders or {})["reasons"] == "refused for a reason"


def test_switch_and_button_translations() -> None:
    """Every switch and button has a translated name and an icon, and nothing else is there."""
    from custom_components.pacemaker_drbd.button import BUTTONS
    from custom_components.pacemaker_drbd.switch import SWITCHES

    for platform, descriptions in (("switch", SWITCHES), ("button", BUTTONS)):
        keys = {d.translation_key for d in descriptions}
        assert keys == set(EN["entity"][platform]) == set(ICONS["entity"][platform]), platform
        for key in keys:
            assert EN["entity"][platform][key]["name"]
            assert ICONS["entity"][platform][key]["default"].startswith("mdi:")
    issue = EN["issues"]["action_failed"]
    placeholders = set(re.findall(r"{(\w+)}", json.dumps(issue)))
    assert placeholders == {"action", "cluster", "message", "requested_at"}
