"""When Home Assistant moves itself: detection, the pending record, the report after a restart.

The restart is the test harness's: the entry is unloaded while the pending action is not
finished (as when the cluster stops Home Assistant), then set up again with a poll that shows
the move done or not done, as the instance that starts on the other node would see it.
"""

# ruff: noqa: F811 - pytest fixtures imported from the helpers module

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
import time
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock, patch

from ha_control_helpers import (
    ENTRY_ID,
    RUNNER,
    cib_batch,
    controller,  # noqa: F401
    light_batch,
    not_self,  # noqa: F401
    ok_result,
    result,
)
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import CoreState, Event, HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

import custom_components.pacemaker_drbd as integration
from custom_components.pacemaker_drbd.const import DOMAIN, EVENT_ACTION_COMPLETED, EVENT_FAILOVER
from custom_components.pacemaker_drbd.hacluster.client import ClusterSnapshot
from custom_components.pacemaker_drbd.hacluster.commands import BatchResult, clear_resource
from custom_components.pacemaker_drbd.hacluster.control import PendingAction, ResultCode
from custom_components.pacemaker_drbd.hacluster.errors import (
    ClusterConnectionError,
    InterlockError,
)
from custom_components.pacemaker_drbd.hacluster.interlocks import (
    CleanupResourceRequest,
    FailoverRequest,
    RestartResourceRequest,
    StandbyNodeRequest,
)
from custom_components.pacemaker_drbd.hacluster.parsers.cib import parse_cib
from custom_components.pacemaker_drbd.logbook import (
    async_describe_events,
    describe_action_completed,
    describe_failover,
)
from custom_components.pacemaker_drbd.pending import PendingRecord
from custom_components.pacemaker_drbd.self_move import (
    application_vips,
    async_read_vips,
    locate_self,
    own_addresses,
)

KEY = f"{DOMAIN}.{ENTRY_ID}.pending"
VIP = "198.18.0.10"
HA0 = "198.18.0.30"


@pytest.fixture
def self_hosted(cluster: Any) -> Iterator[None]:
    """This host owns the application's virtual IP (as Home Assistant inside the group does)."""
    cluster.session.run_batch = AsyncMock(return_value=cib_batch())
    with (
        patch(f"{RUNNER}.own_addresses", return_value=("127.0.0.1", HA0, VIP)),
        patch(f"{RUNNER}.own_hostname", return_value="ha-0"),
    ):
        yield


@pytest.fixture
def real_sessions(cluster: Any) -> None:
    """Clients created at setup get a session per node (for the real controller)."""
    factory = integration.ClusterClient.side_effect

    def _factory(*args: Any, **kwargs: Any) -> MagicMock:
        client = factory(*args, **kwargs)
        client.transport.sessions = {"ha-0": cluster.session, "ha-1": cluster.session}
        return client

    integration.ClusterClient.side_effect = _factory


async def _setup(hass: HomeAssistant, entry: MockConfigEntry, *, background: bool = True) -> None:
    """Set the entry up (again); wait for the pending actions to be finished (``background``)."""
    if entry.entry_id not in {e.entry_id for e in hass.config_entries.async_entries(DOMAIN)}:
        entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=background)


def _stored(hass_storage: dict[str, Any]) -> list[dict[str, Any]]:
    return list(hass_storage.get(KEY, {}).get("data", {}).get("actions", []))


def _failover_pending(sent_at: float | None = None) -> PendingAction:
    """A failover of the application from ha-0 to ha-1, sent on ha-0."""
    return PendingAction(
        request={"action": "failover", "target": None, "wait": False, "force": False},
        application="g_home-assistant",
        source="ha-0",
        target="ha-1",
        command_node="ha-0",
        sent_at=time.time() if sent_at is None else sent_at,
    )


def _pending_failover(*, sent_ago: float = 5.0) -> dict[str, Any]:
    sent = time.time() - sent_ago
    record = PendingRecord(
        id="a" * 32,
        pending=_failover_pending(sent),
        state="accepted",
        node="ha-0",
        recorded_at=sent,
    )
    return {"version": 1, "minor_version": 1, "key": KEY, "data": {"actions": [record.to_dict()]}}


def _moved(h: SimpleNamespace, constraints: str = "healthy") -> ClusterSnapshot:
    snapshot: ClusterSnapshot = h.snapshot_of(
        h.node_report("ha-0", crm="move", constraints=constraints, drbd=f"swap:{h.SECONDARY}"),
        h.node_report("ha-1", crm="move", constraints=constraints, drbd=f"swap:{h.PRIMARY}"),
    )
    return snapshot


async def _never(*_: Any, **__: Any) -> None:
    """A finish that never ends (Home Assistant is stopped before)."""
    await asyncio.Event().wait()


def _issue(hass: HomeAssistant, action: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{ENTRY_ID}_action_failed_{action}")


# ---- detection ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("self_hosted")
async def test_detects_self(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
) -> None:
    """Owning the VIP means running inside the application: the sensor and diagnostics say so."""
    await _setup(hass, mock_config_entry)
    state = hass.states.get("sensor.ha_cluster_active_node")
    assert state is not None
    assert state.attributes["self_hosted"] is True
    assert state.attributes["self_node"] == "ha-0"
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, mock_config_entry)
    assert diagnostics["self"] == {
        "node": "ha-0",
        "in_application": True,
        "evidence": f"this instance owns the virtual IP {VIP}",
        "self_hosted": True,
        "application_vips": [VIP],
    }
    assert diagnostics["pending_actions"] == []


def test_application_vips() -> None:
    """The ip parameter of the IPaddr2 members of the application, not of other resources."""
    from ha_control_helpers import PM

    cib = parse_cib((PM / "healthy.cib.xml").read_bytes())
    assert application_vips(cib, "g_home-assistant") == (VIP,)
    assert application_vips(cib, "p_ip_home-assistant") == (VIP,)
    assert application_vips(cib, "ms_drbd_home-assistant") == ()


async def test_read_vips_tries_the_next_node(h: SimpleNamespace) -> None:
    """A node that fails (error or exit status) is skipped; no application, no query."""
    failing = MagicMock()
    failing.run_batch = AsyncMock(side_effect=ClusterConnectionError("down"))
    refusing = MagicMock()
    refusing.run_batch = AsyncMock(
        return_value=BatchResult(
            node="ha-1",
            results={"cib_resources": replace(ok_result(), exit_status=1)},
            duration=0.0,
            bytes_read=0,
        )
    )
    silent = MagicMock()
    silent.run_batch = AsyncMock(
        return_value=BatchResult(node="ha-1", results={}, duration=0.0, bytes_read=0)
    )
    answering = MagicMock()
    answering.run_batch = AsyncMock(return_value=cib_batch())
    sessions = {"a": failing, "b": refusing, "s": silent, "c": answering}
    client = MagicMock()
    client.transport.session = lambda node: sessions[node]
    assert await async_read_vips(client, ["a", "b", "s", "c"], "g_home-assistant") == (VIP,)
    assert await async_read_vips(client, ["a", "b", "s"], "g_home-assistant") == ()
    assert await async_read_vips(client, ["c"], None) == ()


def test_locate_self(h: SimpleNamespace) -> None:
    """VIP, node address, host name, or nothing; without a VIP the application's node counts."""
    healthy = h.scenario("healthy")
    inside = locate_self(healthy, [VIP], None, (VIP,), None)
    assert (inside.self_hosted, inside.node) == (True, "ha-0")
    # on ha-1, which does not run the application, VIP known: not inside
    on_peer = locate_self(healthy, ["198.18.0.31"], None, (VIP,), None)
    assert (on_peer.self_hosted, on_peer.node) == (False, "ha-1")
    # on ha-0 (host name), no VIP known: the application runs here, so inside
    by_name = locate_self(healthy, [], "ha-0", (), None)
    assert (by_name.self_hosted, by_name.node) == (True, "ha-0")
    assert "the node that runs the application" in by_name.location.evidence
    # on ha-1, no VIP known: not where the application runs
    assert locate_self(healthy, ["198.18.0.31"], None, (), None).self_hosted is False
    # outside the cluster
    outside = locate_self(healthy, ["10.0.0.1"], "hass", (VIP,), None)
    assert (outside.self_hosted, outside.node) == (False, None)
    assert outside.attributes() == {"self_hosted": False, "self_node": None}
    # stack down: the node, but no application to be inside of
    down = h.snapshot_of(h.node_report("ha-0", crm="stack-down", crm_status=102))
    assert locate_self(down, [HA0], None, (), None).self_hosted is False
    assert locate_self(None, [VIP], None, (VIP,), None).self_hosted is False


def test_own_addresses() -> None:
    """Every adapter's addresses, once each; IPv6 addresses come as (address, flow, scope)."""
    adapters = [
        SimpleNamespace(ips=[SimpleNamespace(ip="127.0.0.1"), SimpleNamespace(ip=("::1", 0, 0))]),
        SimpleNamespace(ips=[SimpleNamespace(ip=HA0), SimpleNamespace(ip=VIP)]),
        SimpleNamespace(ips=[SimpleNamespace(ip=HA0)]),
    ]
    with patch("ifaddr.get_adapters", return_value=adapters):
        assert own_addresses() == ("127.0.0.1", "::1", HA0, VIP)


# ---- sending a self-move ------------------------------------------------------------------------


@pytest.mark.usefixtures("self_hosted")
async def test_self_move_recorded_before_sending_and_reported_after_restart(
    hass_storage: dict[str, Any],
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
    h: SimpleNamespace,
) -> None:
    """The failover is stored before it is sent, sent without waiting, and reported by the
    instance that starts after the move."""
    await _setup(hass, mock_config_entry)
    events = async_capture_events(hass, EVENT_ACTION_COMPLETED)
    seen_before_send: list[list[dict[str, Any]]] = []
    pending = _failover_pending()

    async def execute(request: Any, **_: Any) -> Any:
        seen_before_send.append(_stored(hass_storage))
        return result(code=ResultCode.ACCEPTED, pending=pending, new_location="ha-0")

    controller.execute.side_effect = execute
    controller.complete.side_effect = _never  # the cluster stops Home Assistant before
    response = await hass.services.async_call(
        DOMAIN,
        "failover",
        {"config_entry_id": ENTRY_ID},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert response["self_move"] is True
    assert response["code"] == "accepted"
    assert controller.execute.await_args.args == (FailoverRequest(wait=False),)
    # written (and flushed) before the command went out ...
    assert len(seen_before_send[0]) == 1
    assert seen_before_send[0][0]["state"] == "sending"
    assert seen_before_send[0][0]["pending"]["target"] == "ha-1"
    # ... and updated once the cluster accepted it
    stored = _stored(hass_storage)
    assert len(stored) == 1
    assert stored[0]["state"] == "accepted"
    assert stored[0]["node"] == "ha-0"
    assert stored[0]["pending"] == pending.to_dict()

    # Home Assistant stops (the entry unloads, the background finish is cancelled) ...
    assert await hass.config_entries.async_unload(ENTRY_ID)
    await hass.async_block_till_done()
    assert events == []
    assert len(_stored(hass_storage)) == 1

    # ... and starts again on ha-1, where the first poll shows the application.
    cluster.snapshot = _moved(h)
    controller.complete.side_effect = None
    controller.complete.return_value = result()
    await _setup(hass, mock_config_entry)
    assert controller.complete.await_args.args == (pending,)
    assert controller.complete.await_args.kwargs["snapshot"] is cluster.snapshot
    assert len(events) == 1
    data = events[0].data
    assert data["ok"] is True
    assert data["restarted"] is True
    assert data["action"] == "failover"
    assert data["new_location"] == "ha-1"
    assert data["node"] == "ha-0"
    assert data["config_entry_id"] == ENTRY_ID
    assert data["requested_at"]
    assert _stored(hass_storage) == []
    assert _issue(hass, "failover") is None


async def test_failed_move_reported_after_restart(
    hass_storage: dict[str, Any],
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
) -> None:
    """A pending failover that did not arrive: the event says so and a repair is opened."""
    hass_storage[KEY] = _pending_failover()
    events = async_capture_events(hass, EVENT_ACTION_COMPLETED)
    message = (
        "move g_home-assistant to ha-1: the cluster did not get there in time; the move "
        "constraint cli-prefer-g_home-assistant is still in place"
    )
    controller.complete.return_value = result(
        ok=False, code=ResultCode.SETTLE_TIMEOUT, message=message, new_location="ha-0"
    )
    await _setup(hass, mock_config_entry)
    assert len(events) == 1
    assert events[0].data["ok"] is False
    assert events[0].data["code"] == "settle_timeout"
    issue = _issue(hass, "failover")
    assert issue is not None
    assert issue.is_fixable
    assert (issue.translation_placeholders or {})["message"] == message
    assert _stored(hass_storage) == []


async def test_pending_check_error_is_a_failure(
    hass_storage: dict[str, Any],
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
) -> None:
    """When the outcome cannot be checked, that is reported as a failure with the error."""
    hass_storage[KEY] = _pending_failover()
    events = async_capture_events(hass, EVENT_ACTION_COMPLETED)
    controller.complete.side_effect = ClusterConnectionError("no node reports a running cluster")
    await _setup(hass, mock_config_entry)
    assert events[0].data["ok"] is False
    assert events[0].data["code"] == "error"
    assert events[0].data["message"] == "no node reports a running cluster"
    assert events[0].data["result"] is None
    assert _issue(hass, "failover") is not None


async def test_unreadable_record_is_dropped(
    hass_storage: dict[str, Any],
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A record that cannot be read (unknown action, missing fields) is logged and dropped."""
    hass_storage[KEY] = {
        "version": 1,
        "minor_version": 1,
        "key": KEY,
        "data": {"actions": [{"id": "x", "pending": {"request": {"action": "dance"}}}, {}]},
    }
    await _setup(hass, mock_config_entry)
    controller.complete.assert_not_awaited()
    assert "Dropping an unreadable pending action" in caplog.text


@pytest.mark.usefixtures("self_hosted")
async def test_instance_not_stopped_finishes_itself(
    hass_storage: dict[str, Any],
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    controller: MagicMock,
) -> None:
    """If this instance survives the action it finishes it itself (restarted=False)."""
    await _setup(hass, mock_config_entry)
    events = async_capture_events(hass, EVENT_ACTION_COMPLETED)
    controller.execute.return_value = result("standby_node", code=ResultCode.ACCEPTED)
    controller.complete.return_value = result("standby_node")
    await hass.services.async_call(
        DOMAIN, "standby_node", {"config_entry_id": ENTRY_ID, "node": "ha-0"}, blocking=True
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert controller.execute.await_args.args == (StandbyNodeRequest(node="ha-0", wait=False),)
    assert [e.data["restarted"] for e in events] == [False]
    assert _stored(hass_storage) == []


@pytest.mark.usefixtures("self_hosted")
async def test_switch_standby_of_own_node_is_a_self_move(
    hass_storage: dict[str, Any],
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    controller: MagicMock,
) -> None:
    """The standby switch of this instance's node takes the same path."""
    await _setup(hass, mock_config_entry)
    controller.execute.return_value = result("standby_node", code=ResultCode.ACCEPTED)
    controller.complete.side_effect = _never
    await hass.services.async_call(
        "switch", "turn_on", {ATTR_ENTITY_ID: "switch.ha_0_standby"}, blocking=True
    )
    assert [r["state"] for r in _stored(hass_storage)] == ["accepted"]
    assert await hass.config_entries.async_unload(ENTRY_ID)


@pytest.mark.usefixtures("self_hosted")
async def test_action_that_does_not_stop_this_instance(
    hass_storage: dict[str, Any],
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    controller: MagicMock,
) -> None:
    """A cleanup does not stop Home Assistant: it waits as usual, nothing is stored."""
    await _setup(hass, mock_config_entry)
    controller.execute.return_value = result("cleanup_resource")
    response = await hass.services.async_call(
        DOMAIN,
        "cleanup_resource",
        {"config_entry_id": ENTRY_ID, "resource": "g_home-assistant"},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert response["self_move"] is False
    assert controller.execute.await_args.args == (
        CleanupResourceRequest(resource="g_home-assistant"),
    )
    assert _stored(hass_storage) == []


@pytest.mark.usefixtures("self_hosted")
@pytest.mark.parametrize(
    ("outcome", "kept", "finished"),
    [
        (result(ok=False, code=ResultCode.COMMAND_FAILED, message="exit 1"), False, False),
        (result(ok=False, code=ResultCode.NOT_ACCEPTED, message="not seen"), True, True),
        (ClusterConnectionError("connection lost"), True, True),
        (InterlockError("refused"), False, False),
    ],
)
async def test_self_move_that_does_not_go_out(
    hass_storage: dict[str, Any],
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    controller: MagicMock,
    outcome: Any,
    kept: bool,
    finished: bool,
) -> None:
    """Nothing sent: the record goes. Maybe sent: it stays and is finished in the background."""
    await _setup(hass, mock_config_entry)
    if isinstance(outcome, Exception):
        controller.execute.side_effect = outcome
    else:
        controller.execute.return_value = outcome
    controller.complete.side_effect = _never
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            DOMAIN, "failover", {"config_entry_id": ENTRY_ID}, blocking=True
        )
    assert bool(_stored(hass_storage)) is kept
    await hass.async_block_till_done()
    assert controller.complete.called is finished
    assert await hass.config_entries.async_unload(ENTRY_ID)


@pytest.mark.usefixtures("self_hosted")
async def test_no_background_finish_while_stopping(
    hass_storage: dict[str, Any],
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    controller: MagicMock,
) -> None:
    """When Home Assistant is already stopping, the record is left for the next start."""
    await _setup(hass, mock_config_entry)

    async def execute(*_: Any, **__: Any) -> Any:
        hass.set_state(CoreState.stopping)
        raise ClusterConnectionError("connection closed")

    controller.execute.side_effect = execute
    try:
        with pytest.raises(HomeAssistantError):
            await hass.services.async_call(
                DOMAIN, "failover", {"config_entry_id": ENTRY_ID}, blocking=True
            )
    finally:
        hass.set_state(CoreState.running)
    controller.complete.assert_not_called()
    assert [r["state"] for r in _stored(hass_storage)] == ["sending"]


@pytest.mark.usefixtures("self_hosted")
async def test_accepted_while_stopping_skips_the_refresh(
    hass_storage: dict[str, Any],
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
) -> None:
    """The cluster stops Home Assistant right after accepting the move: the answer goes out
    without one more poll of the cluster, and the record stays for the next start."""
    await _setup(hass, mock_config_entry)
    pending = _failover_pending()

    async def execute(*_: Any, **__: Any) -> Any:
        hass.set_state(CoreState.stopping)
        return result(code=ResultCode.ACCEPTED, pending=pending, new_location="ha-0")

    controller.execute.side_effect = execute
    polls = len(cluster.clients[-1].poll.await_args_list)
    try:
        response = await hass.services.async_call(
            DOMAIN,
            "failover",
            {"config_entry_id": ENTRY_ID},
            blocking=True,
            return_response=True,
        )
    finally:
        hass.set_state(CoreState.running)
    assert response is not None
    assert response["code"] == "accepted"
    # one poll for the interlocks, none after acting
    assert len(cluster.clients[-1].poll.await_args_list) == polls + 1
    controller.complete.assert_not_called()
    # on disk: the record written before sending (while stopping, Home Assistant keeps the
    # "accepted" update for its final write); the next start finishes either state
    assert [r["state"] for r in _stored(hass_storage)] == ["sending"]


async def test_removing_the_entry_deletes_its_pending_actions(
    hass_storage: dict[str, Any],
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
    controller: MagicMock,
) -> None:
    """The storage file goes with the entry."""
    controller.complete.side_effect = _never
    hass_storage[KEY] = _pending_failover()
    await _setup(hass, mock_config_entry, background=False)
    await hass.config_entries.async_remove(ENTRY_ID)
    await hass.async_block_till_done()
    assert KEY not in hass_storage


# ---- the real controller finishing a failover after the restart --------------------------------


@pytest.mark.usefixtures("real_sessions")
async def test_real_controller_finishes_the_failover(
    hass_storage: dict[str, Any],
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
) -> None:
    """The new instance sees the application on ha-1, removes the move constraint, verifies."""
    hass_storage[KEY] = _pending_failover()
    events = async_capture_events(hass, EVENT_ACTION_COMPLETED)
    cluster.snapshot = _moved(h, constraints="move")
    cluster.session.run_batch = AsyncMock(return_value=light_batch("move", "move"))

    async def run(argv: tuple[str, ...], **_: Any) -> Any:
        if argv == clear_resource("g_home-assistant"):
            cluster.snapshot = _moved(h)
            cluster.session.run_batch.return_value = light_batch("move", "healthy")
        return ok_result()

    cluster.session.run = AsyncMock(side_effect=run)
    await _setup(hass, mock_config_entry)
    assert len(events) == 1, events
    data = events[0].data
    assert data["ok"] is True, data["message"]
    assert data["new_location"] == "ha-1"
    assert data["constraint_left"] is False
    cluster.session.run.assert_any_await(clear_resource("g_home-assistant"), timeout=60.0)
    assert _stored(hass_storage) == []


@pytest.mark.usefixtures("real_sessions")
async def test_real_controller_reports_the_move_that_did_not_happen(
    hass_storage: dict[str, Any],
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
) -> None:
    """The application is still on ha-0 with its constraint: a failure that names it."""
    hass_storage[KEY] = _pending_failover()
    events = async_capture_events(hass, EVENT_ACTION_COMPLETED)
    cluster.snapshot = h.snapshot_of(
        h.node_report("ha-0", constraints="move"),
        h.node_report("ha-1", constraints="move", drbd=h.SECONDARY),
    )
    cluster.session.run_batch = AsyncMock(return_value=light_batch("healthy", "move"))
    with patch(f"{RUNNER}.COMPLETE_WITHIN", 0.3):
        await _setup(hass, mock_config_entry)
    data = events[0].data
    assert data["ok"] is False
    assert data["code"] == "settle_timeout"
    assert "cli-prefer-g_home-assistant is still in place" in data["message"]
    assert data["constraint_left"] is True
    issue = _issue(hass, "failover")
    assert issue is not None
    assert "still in place" in (issue.translation_placeholders or {})["message"]


# ---- logbook ------------------------------------------------------------------------------------


def test_logbook_descriptions(hass: HomeAssistant) -> None:
    """Both events get a logbook line."""
    described: dict[str, Any] = {}
    async_describe_events(hass, lambda domain, event, fn: described.setdefault(event, fn))
    assert set(described) == {EVENT_ACTION_COMPLETED, EVENT_FAILOVER}
    done = describe_action_completed(
        Event(
            EVENT_ACTION_COMPLETED,
            {
                "cluster": "ha_cluster",
                "action": "failover",
                "ok": True,
                "restarted": True,
                "message": "move g_home-assistant to ha-1: done in 3.2 s",
            },
        )
    )
    assert done["name"] == "ha_cluster"
    assert done["message"] == (
        "failover completed after Home Assistant restarted: move g_home-assistant to ha-1: "
        "done in 3.2 s"
    )
    failed = describe_action_completed(
        Event(EVENT_ACTION_COMPLETED, {"action": "standby_node", "ok": False, "message": "x"})
    )
    assert failed["message"] == "standby node failed: x"
    assert failed["name"] == DOMAIN
    moved = describe_failover(
        Event(
            EVENT_FAILOVER,
            {"cluster": "c", "resource": "g", "from": "ha-0", "to": "ha-1", "reason": "standby"},
        )
    )
    assert moved["message"] == "g moved from ha-0 to ha-1 (standby)"
    plain = describe_failover(Event(EVENT_FAILOVER, {"resource": "g", "from": "a", "to": "b"}))
    assert plain["message"] == "g moved from a to b"


@pytest.mark.usefixtures("self_hosted")
async def test_restart_of_the_application_is_a_self_move(
    hass_storage: dict[str, Any],
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    controller: MagicMock,
) -> None:
    """Restarting the group Home Assistant runs in stops it: recorded with where it ran."""
    await _setup(hass, mock_config_entry)
    controller.execute.return_value = result("restart_resource", code=ResultCode.ACCEPTED)
    controller.complete.side_effect = _never
    await hass.services.async_call(
        DOMAIN,
        "restart_resource",
        {"config_entry_id": ENTRY_ID, "resource": "g_home-assistant"},
        blocking=True,
    )
    assert controller.execute.await_args.args == (
        RestartResourceRequest(resource="g_home-assistant", wait=False),
    )
    (record,) = _stored(hass_storage)
    assert record["pending"]["before"] == ["ha-0"]
    assert record["pending"]["request"]["action"] == "restart_resource"
    assert await hass.config_entries.async_unload(ENTRY_ID)


async def test_address_listing_error_keeps_going(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, cluster: Any
) -> None:
    """When the addresses cannot be listed, this instance is simply not found in the cluster."""
    with patch(f"{RUNNER}.own_addresses", side_effect=OSError("no netlink")):
        await _setup(hass, mock_config_entry)
    state = hass.states.get("sensor.ha_cluster_active_node")
    assert state is not None
    assert state.attributes["self_hosted"] is False
