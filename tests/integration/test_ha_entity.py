"""The scope lookups behind every entity, including the cases a poll rarely produces."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pacemaker_drbd.binary_sensor import (
    BINARY_SENSORS,
    PacemakerDrbdBinarySensor,
)
from custom_components.pacemaker_drbd.entity import (
    SCOPE_CLUSTER,
    SCOPE_DRBD,
    SCOPE_DRBD_PEER,
    SCOPE_LINK,
    SCOPE_NODE,
    SCOPE_RESOURCE,
    SCOPE_SPLIT_BRAIN,
    Scope,
    node_names_by_id,
)
from custom_components.pacemaker_drbd.sensor import SENSORS, PacemakerDrbdSensor


def _coordinator(snapshot: Any) -> Any:
    return SimpleNamespace(data=snapshot, client=SimpleNamespace(endpoints=()))


def test_lookups_without_their_object(h: SimpleNamespace) -> None:
    """Missing nodes, resources, peers, links and verdicts are None (unavailable)."""
    coordinator = _coordinator(
        h.snapshot_of(h.node_report("ha-0", drbd=None, links=None), h.unreachable("ha-1"))
    )
    drbd = Scope(node="ha-0", drbd_resource="home-assistant")
    assert SCOPE_DRBD.locate(coordinator, drbd) is None
    assert SCOPE_DRBD.locate(coordinator, Scope(node="ha-1", drbd_resource="x")) is None
    assert SCOPE_DRBD_PEER.locate(coordinator, Scope(node="ha-0", drbd_resource="x")) is None
    assert SCOPE_LINK.locate(coordinator, Scope(node="ha-0", link=0)) is None
    assert SCOPE_NODE.locate(coordinator, Scope()) is None
    assert SCOPE_RESOURCE.locate(coordinator, Scope()) is None
    assert SCOPE_SPLIT_BRAIN.locate(coordinator, Scope()) is None
    assert SCOPE_SPLIT_BRAIN.locate(_coordinator(None), Scope(drbd_resource="x")) is None
    assert SCOPE_CLUSTER.locate(coordinator, Scope()) is not None

    healthy = _coordinator(h.scenario("healthy"))
    assert SCOPE_DRBD.locate(healthy, replace(drbd, drbd_resource=None)) is None
    assert SCOPE_DRBD_PEER.locate(healthy, drbd) is None  # no peer named
    assert SCOPE_LINK.locate(healthy, Scope(node="ha-0", link=7)) is None
    assert SCOPE_LINK.locate(healthy, Scope(node="ha-0", link=0)) is not None


def test_node_names_by_id(h: SimpleNamespace) -> None:
    """Corosync ids map to names from the quorum members and Pacemaker's node ids."""
    assert node_names_by_id(_coordinator(None)) == {}
    assert node_names_by_id(_coordinator(h.scenario("healthy"))) == {1: "ha-0", 2: "ha-1"}
    no_view = h.snapshot_of(h.node_report("ha-0", crm=None))
    assert node_names_by_id(_coordinator(no_view)) == {1: "ha-0", 2: "ha-1"}


async def test_state_of_unavailable_entity(
    hass: HomeAssistant, init_integration: MockConfigEntry, h: SimpleNamespace
) -> None:
    """The state functions are not called without their object."""
    coordinator = init_integration.runtime_data.coordinator
    scope = Scope(node="ha-9", drbd_resource="none")
    sensor: Any = PacemakerDrbdSensor(
        coordinator, next(d for d in SENSORS if d.key == "drbd_role"), scope
    )
    binary: Any = PacemakerDrbdBinarySensor(
        coordinator, next(d for d in BINARY_SENSORS if d.key == "reachable"), scope
    )
    assert sensor.native_value is None
    assert sensor.extra_state_attributes is None
    assert binary.is_on is None
    assert not sensor.available


@pytest.mark.parametrize("key", [d.key for d in SENSORS])
def test_sensor_keys_unique(key: str) -> None:
    """Each description key is used once (it is part of the unique id)."""
    assert [d.key for d in SENSORS].count(key) == 1
