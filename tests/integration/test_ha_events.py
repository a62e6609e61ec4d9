"""Bus events: failover, split brain and node state changes between polls."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Event, HomeAssistant, callback
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.pacemaker_drbd.const import (
    EVENT_FAILOVER,
    EVENT_NODE_STATE,
    EVENT_SPLIT_BRAIN,
)
from custom_components.pacemaker_drbd.events import failover_reason
from custom_components.pacemaker_drbd.hacluster.models.pacemaker import (
    FailedAction,
    MoveConstraint,
    PacemakerNode,
    PacemakerStatus,
    Resource,
    ResourceKind,
)


@pytest.fixture
def events(hass: HomeAssistant) -> dict[str, list[dict[str, Any]]]:
    """Collect the integration's events by type."""
    seen: dict[str, list[dict[str, Any]]] = {
        EVENT_FAILOVER: [],
        EVENT_SPLIT_BRAIN: [],
        EVENT_NODE_STATE: [],
    }
    for event_type, bucket in seen.items():

        @callback
        def _listener(event: Event, bucket: list[dict[str, Any]] = bucket) -> None:
            bucket.append(dict(event.data))

        hass.bus.async_listen(event_type, _listener)
    return seen


async def _poll(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, cluster: Any, snapshot: Any
) -> None:
    cluster.snapshot = snapshot
    freezer.tick(16)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


async def test_failover_on_standby(
    hass: HomeAssistant,
    events: dict[str, list[dict[str, Any]]],
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Not on the first poll; once when the application moves; node state events too."""
    assert events[EVENT_FAILOVER] == []
    await _poll(hass, freezer, cluster, h.scenario("healthy"))
    assert events[EVENT_FAILOVER] == []
    await _poll(hass, freezer, cluster, h.scenario("standby"))
    assert events[EVENT_FAILOVER] == [
        {
            "config_entry_id": init_integration.entry_id,
            "cluster": "ha_cluster",
            "from": "ha-0",
            "to": "ha-1",
            "resource": "g_home-assistant",
            "reason": "standby",
        }
    ]
    assert events[EVENT_NODE_STATE] == [
        {
            "config_entry_id": init_integration.entry_id,
            "cluster": "ha_cluster",
            "node": "ha-0",
            "old": "online",
            "new": "standby",
        }
    ]
    await _poll(hass, freezer, cluster, h.scenario("standby"))
    assert len(events[EVENT_FAILOVER]) == 1


async def test_failover_through_unknown(
    hass: HomeAssistant,
    events: dict[str, list[dict[str, Any]]],
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A poll where the application runs nowhere is not a change; the next node is."""
    nowhere = h.snapshot_of(
        h.node_report("ha-0", crm="stack-down", crm_status=102), h.unreachable("ha-1")
    )
    await _poll(hass, freezer, cluster, nowhere)
    assert events[EVENT_FAILOVER] == []
    await _poll(hass, freezer, cluster, h.scenario("healthy"))
    assert events[EVENT_FAILOVER] == []
    await _poll(hass, freezer, cluster, nowhere)
    await _poll(hass, freezer, cluster, h.scenario("moved"))
    assert [(e["from"], e["to"], e["reason"]) for e in events[EVENT_FAILOVER]] == [
        ("ha-0", "ha-1", "moved")
    ]


async def test_split_brain_events(
    hass: HomeAssistant,
    events: dict[str, list[dict[str, Any]]],
    init_integration: MockConfigEntry,
    cluster: Any,
    h: SimpleNamespace,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Detected once, cleared once; a poll without a verdict changes nothing."""
    await _poll(hass, freezer, cluster, h.scenario("split_brain"))
    await _poll(hass, freezer, cluster, h.scenario("split_brain"))
    nodrbd = h.snapshot_of(h.node_report("ha-0", drbd=None), h.unreachable("ha-1"))
    await _poll(hass, freezer, cluster, nodrbd)
    await _poll(hass, freezer, cluster, h.scenario("healthy"))
    assert [(e["state"], e["resource"], e["nodes"]) for e in events[EVENT_SPLIT_BRAIN]] == [
        ("detected", "home-assistant", ["ha-0", "ha-1"]),
        ("cleared", "home-assistant", ["ha-0", "ha-1"]),
    ]
    assert events[EVENT_SPLIT_BRAIN][0]["evidence"]
    assert events[EVENT_SPLIT_BRAIN][1]["evidence"] == []


def _status(node_state: dict[str, Any], **kw: Any) -> PacemakerStatus:
    return PacemakerStatus(
        stack_running=True, nodes=(PacemakerNode(name="ha-0", **node_state),), **kw
    )


APP = Resource(
    id="g",
    kind=ResourceKind.GROUP,
    members=(Resource(id="p_fs", kind=ResourceKind.PRIMITIVE),),
    running_on=("ha-1",),
)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (_status({"online": True, "standby": True}), "standby"),
        (_status({"online": False}), "offline"),
        (_status({"online": True, "unclean": True}), "unclean"),
        (
            _status(
                {"online": True},
                move_constraints=(
                    MoveConstraint(id="cli-ban-g-on-ha-0", resource="g", node="ha-0", kind="ban"),
                ),
            ),
            "moved",
        ),
        (
            _status(
                {"online": True},
                failed_actions=(FailedAction(resource="p_fs", node="ha-0", operation="monitor"),),
            ),
            "resource_failed",
        ),
        (_status({"online": True}), None),
        (PacemakerStatus(stack_running=True), None),
    ],
)
def test_failover_reason(status: PacemakerStatus, reason: str | None) -> None:
    """Why the application left the old node, as far as the cluster view says."""
    assert failover_reason(status, APP, "ha-0") == reason
