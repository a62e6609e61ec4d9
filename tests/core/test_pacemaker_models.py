"""Tests of the Pacemaker models (hacluster.models.pacemaker)."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from hacluster.models.pacemaker import (
    CibInfo,
    CibResource,
    ClusterOptions,
    Colocation,
    FailedAction,
    MoveConstraint,
    NodeState,
    Order,
    PacemakerNode,
    PacemakerStatus,
    Resource,
    ResourceKind,
    ResourceRole,
    normalize_agent,
    normalize_role_name,
)


def _node(*flags: str) -> PacemakerNode:
    """Return a node with the named boolean flags set."""
    return PacemakerNode(
        name="ha-0",
        online="online" in flags,
        standby="standby" in flags,
        standby_onfail="standby_onfail" in flags,
        maintenance="maintenance" in flags,
        pending="pending" in flags,
        unclean="unclean" in flags,
        shutdown="shutdown" in flags,
    )


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (("online",), NodeState.ONLINE),
        ((), NodeState.OFFLINE),
        (("unclean",), NodeState.UNCLEAN),
        (("online", "unclean", "standby"), NodeState.UNCLEAN),
        (("pending", "standby"), NodeState.OFFLINE),
        (("online", "pending", "shutdown"), NodeState.PENDING),
        (("online", "shutdown", "maintenance"), NodeState.SHUTDOWN),
        (("online", "maintenance", "standby"), NodeState.MAINTENANCE),
        (("online", "standby"), NodeState.STANDBY),
        (("online", "standby_onfail"), NodeState.STANDBY),
        (("standby", "maintenance"), NodeState.OFFLINE),
    ],
)
def test_node_state_is_the_most_severe(flags: tuple[str, ...], expected: NodeState) -> None:
    """unclean > offline > pending > shutdown > maintenance > standby > online."""
    node = _node(*flags)
    assert node.state is expected
    assert node.to_dict()["state"] == str(expected)


def test_node_to_dict_is_json_safe() -> None:
    """Every field of a node appears, attributes as a plain dict."""
    node = PacemakerNode(
        name="ha-0", node_id="1", online=True, is_dc=True, resources_running=3,
        attributes={"master-p": "10000"}, health="green",
    )  # fmt: skip
    data = node.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["is_dc"] is True
    assert data["resources_running"] == 3
    assert data["attributes"] == {"master-p": "10000"}
    assert data["id"] == "1"


@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("Started", ResourceRole.STARTED),
        ("Stopped", ResourceRole.STOPPED),
        ("Promoted", ResourceRole.PROMOTED),
        ("Unpromoted", ResourceRole.UNPROMOTED),
        ("Master", ResourceRole.PROMOTED),
        ("Slave", ResourceRole.UNPROMOTED),
        ("Starting", ResourceRole.STARTING),
        ("Demoting", ResourceRole.DEMOTING),
        ("Unknown", ResourceRole.UNKNOWN),
        (None, ResourceRole.UNKNOWN),
    ],
)
def test_role_parse_accepts_both_spellings(text: str | None, role: ResourceRole) -> None:
    """Pacemaker's role names, old and new, map to one enum."""
    assert ResourceRole.parse(text) is role


def test_role_parse_unknown_value_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """A role from a newer Pacemaker becomes unknown and is logged once."""
    with caplog.at_level(logging.WARNING):
        assert ResourceRole.parse("Models-Test-Role") is ResourceRole.UNKNOWN
        assert ResourceRole.parse("Models-Test-Role") is ResourceRole.UNKNOWN
    assert sum("models-test-role" in r.getMessage() for r in caplog.records) == 1


def test_role_parse_optional() -> None:
    """Absent or empty target roles stay None."""
    assert ResourceRole.parse_optional(None) is None
    assert ResourceRole.parse_optional("") is None
    assert ResourceRole.parse_optional("Slave") is ResourceRole.UNPROMOTED


def test_normalizers() -> None:
    """Agents use one colon between class and provider; roles use the 2.1 names."""
    assert normalize_agent("ocf::heartbeat:IPaddr2") == "ocf:heartbeat:IPaddr2"
    assert normalize_agent("ocf:heartbeat:IPaddr2") == "ocf:heartbeat:IPaddr2"
    assert normalize_agent("stonith:fence_xvm") == "stonith:fence_xvm"
    assert normalize_agent("") is None
    assert normalize_agent(None) is None
    assert normalize_role_name("Master") == "Promoted"
    assert normalize_role_name("Slave") == "Unpromoted"
    assert normalize_role_name("Started") == "Started"
    assert normalize_role_name(None) is None
    assert normalize_role_name("") is None


def _tree() -> Resource:
    ip = Resource(id="ip", kind=ResourceKind.PRIMITIVE, running_on=("a",))
    fs = Resource(id="fs", kind=ResourceKind.PRIMITIVE, running_on=("a",))
    group = Resource(id="g", kind=ResourceKind.GROUP, members=(fs, ip))
    return Resource(id="cl", kind=ResourceKind.CLONE, members=(group,))


def test_resource_find_and_iter_primitives() -> None:
    """find() looks at any depth (and at the resource itself); iter_primitives() is depth first."""
    clone = _tree()
    assert clone.find("cl") is clone
    found = clone.find("ip")
    assert found is not None
    assert found.running_on == ("a",)
    assert clone.find("nope") is None
    assert [p.id for p in clone.iter_primitives()] == ["fs", "ip"]
    primitive = clone.members[0].members[0]
    assert list(primitive.iter_primitives()) == [primitive]


def test_resource_to_dict_nests_members_by_id() -> None:
    """Members are keyed by id inside their parent."""
    data = _tree().to_dict()
    assert data["kind"] == "clone"
    assert list(data["members"]) == ["g"]
    assert list(data["members"]["g"]["members"]) == ["fs", "ip"]
    assert data["members"]["g"]["members"]["ip"]["running_on"] == ["a"]
    assert data["target_role"] is None
    with_target = Resource(
        id="x", kind=ResourceKind.PRIMITIVE, target_role=ResourceRole.STOPPED
    ).to_dict()
    assert with_target["target_role"] == "stopped"


def test_models_are_frozen() -> None:
    """Models cannot be changed after construction."""
    node = PacemakerNode(name="ha-0")
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.name = "x"  # type: ignore[misc]


def test_stack_down_is_empty_and_false() -> None:
    """With the stack down every field but stack_running/error is empty or false."""
    status = PacemakerStatus.stack_down()
    data = status.to_dict()
    assert data["stack_running"] is False
    assert data["error"] == "Not connected"
    for key in ("dc", "cluster_name"):
        assert data[key] is None
    for key in ("quorate", "maintenance_mode", "stonith_enabled"):
        assert data[key] is False
    for key in ("nodes", "resources", "fail_counts"):
        assert data[key] == {}
    for key in ("failed_actions", "move_constraints", "colocations", "orders"):
        assert data[key] == []
    assert not any(data["options"].values())
    assert PacemakerStatus.stack_down("boom", api_version="2.25").to_dict()["error"] == "boom"


def test_status_lookups() -> None:
    """node() and resource() find things by name/id and return None otherwise."""
    status = PacemakerStatus(
        stack_running=True,
        nodes=(PacemakerNode(name="a", online=True),),
        resources=(_tree(),),
    )
    node = status.node("a")
    assert node is not None
    assert node.state is NodeState.ONLINE
    assert status.node("b") is None
    rsc = status.resource("fs")
    assert rsc is not None
    assert rsc.kind is ResourceKind.PRIMITIVE
    assert status.resource("zz") is None
    assert [p.id for p in status.iter_primitives()] == ["fs", "ip"]


def test_small_models_to_dict() -> None:
    """Every model has a JSON-safe to_dict with its fields."""
    action = FailedAction(resource="r", node="n", operation="monitor", exit_code=7)
    move = MoveConstraint(
        id="cli-ban-r-on-n", resource="r", node="n", kind="ban", score="-INFINITY"
    )
    colo = Colocation(id="c", resource="g", with_resource="ms", with_resource_role="Promoted")
    order = Order(id="o", first="ms", then="g", first_action="promote")
    options = ClusterOptions(maintenance_mode=True)
    for model in (action, move, colo, order, options):
        data = model.to_dict()
        assert json.loads(json.dumps(data)) == data
    assert action.to_dict()["exit_reason"] is None
    assert move.to_dict()["kind"] == "ban"
    assert colo.to_dict()["with_resource_role"] == "Promoted"
    assert order.to_dict()["then_action"] == "start"
    assert options.to_dict()["maintenance_mode"] is True


def test_cib_info_drbd_resources_and_to_dict() -> None:
    """drbd_resources maps ocf:linbit:drbd primitives to their DRBD resource."""
    info = CibInfo(
        cluster_name="c",
        resources={
            "p_drbd": CibResource(
                id="p_drbd",
                kind=ResourceKind.PRIMITIVE,
                agent="ocf:linbit:drbd",
                parent="ms",
                params={"drbd_resource": "r0"},
            ),
            "p_ip": CibResource(
                id="p_ip", kind=ResourceKind.PRIMITIVE, agent="ocf:heartbeat:IPaddr2"
            ),
        },
    )
    assert info.drbd_resources == {"p_drbd": "r0"}
    data = info.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["resources"]["p_drbd"]["parent"] == "ms"
    assert data["drbd_resources"] == {"p_drbd": "r0"}
