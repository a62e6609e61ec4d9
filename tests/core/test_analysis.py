"""Tests for hacluster.analysis: finding the application and choosing whose view to trust."""

from __future__ import annotations

from hacluster.analysis import (
    application_node,
    choose_view,
    find_application,
    partitioned,
    promoted_nodes,
    role_of,
)
from hacluster.models.pacemaker import (
    Colocation,
    PacemakerStatus,
    Resource,
    ResourceKind,
    ResourceRole,
)


def _drbd_clone(promoted: tuple[str, ...] = ("ha-0",), agent: str = "ocf:linbit:drbd") -> Resource:
    primitive = Resource(id="p_drbd_home-assistant", kind=ResourceKind.PRIMITIVE, agent=agent)
    return Resource(
        id="ms_drbd_home-assistant",
        kind=ResourceKind.PROMOTABLE,
        running_on=("ha-0", "ha-1"),
        promoted_on=promoted,
        unpromoted_on=tuple(n for n in ("ha-0", "ha-1") if n not in promoted),
        members=(primitive,),
    )


def _group(gid: str = "g_home-assistant", on: tuple[str, ...] = ("ha-0",)) -> Resource:
    member = Resource(id=f"p_{gid}", kind=ResourceKind.PRIMITIVE, running_on=on)
    return Resource(id=gid, kind=ResourceKind.GROUP, running_on=on, members=(member,))


def _status(*resources: Resource, colocations: tuple[Colocation, ...] = ()) -> PacemakerStatus:
    return PacemakerStatus(
        stack_running=True, dc="ha-0", resources=resources, colocations=colocations
    )


COLO = Colocation(
    id="c_ha_on_drbd",
    resource="g_home-assistant",
    with_resource="ms_drbd_home-assistant",
    score="INFINITY",
    with_resource_role="Promoted",
)


def test_application_is_group_colocated_with_promoted_drbd() -> None:
    other = _group("g_other", on=("ha-1",))
    status = _status(_drbd_clone(), other, _group(), colocations=(COLO,))
    app = find_application(status)
    assert app is not None
    assert app.id == "g_home-assistant"
    assert application_node(app) == "ha-0"


def test_application_reverse_colocation_and_master_spelling() -> None:
    colo = Colocation(
        id="c_rev",
        resource="ms_drbd_home-assistant",
        with_resource="g_home-assistant",
        resource_role="Master",
    )
    status = _status(_drbd_clone(), _group("g_x"), _group(), colocations=(colo,))
    app = find_application(status)
    assert app is not None
    assert app.id == "g_home-assistant"


def test_preferred_application_wins_and_unknown_preference_falls_back() -> None:
    status = _status(_drbd_clone(), _group("g_x"), _group(), colocations=(COLO,))
    chosen = find_application(status, "p_g_x")
    assert chosen is not None
    assert chosen.id == "p_g_x"
    fallback = find_application(status, "does-not-exist")
    assert fallback is not None
    assert fallback.id == "g_home-assistant"


def test_colocation_with_started_role_is_not_the_application() -> None:
    colo = Colocation(id="c", resource="g_home-assistant", with_resource="ms_drbd_home-assistant")
    status = _status(_drbd_clone(), _group(), _group("g_x"), colocations=(colo,))
    assert find_application(status) is None


def test_single_group_fallback_and_non_drbd_promotable() -> None:
    status = _status(_drbd_clone(agent="ocf:pacemaker:Stateful"), _group())
    app = find_application(status)
    assert app is not None
    assert app.id == "g_home-assistant"
    assert promoted_nodes(status) == ("ha-0",)


def test_application_node_stopped_or_multi_active() -> None:
    assert application_node(None) is None
    assert application_node(_group(on=())) is None
    assert application_node(_group(on=("ha-0", "ha-1"))) is None


def test_promoted_nodes_prefers_drbd_clone() -> None:
    stateful = Resource(
        id="ms_other",
        kind=ResourceKind.PROMOTABLE,
        promoted_on=("ha-1",),
        members=(Resource(id="p_s", kind=ResourceKind.PRIMITIVE, agent="ocf:pacemaker:Stateful"),),
    )
    status = _status(stateful, _drbd_clone(promoted=("ha-0",)))
    assert promoted_nodes(status) == ("ha-0",)
    both = _status(_drbd_clone(promoted=("ha-1", "ha-0")))
    assert promoted_nodes(both) == ("ha-0", "ha-1")


def test_choose_view_prefers_dc_then_running_then_anything() -> None:
    down = PacemakerStatus.stack_down()
    seen_by_1 = PacemakerStatus(stack_running=True, dc="ha-0")
    dc_self = PacemakerStatus(stack_running=True, dc="ha-0")
    assert choose_view([]) is None
    assert choose_view([("ha-2", down)]) == ("ha-2", down)
    assert choose_view([("ha-2", down), ("ha-1", seen_by_1), ("ha-0", dc_self)]) == (
        "ha-0",
        dc_self,
    )
    assert choose_view([("ha-2", down), ("ha-1", seen_by_1)]) == ("ha-1", seen_by_1)
    no_dc = PacemakerStatus(stack_running=True, dc=None)
    assert choose_view([("ha-2", down), ("ha-1", no_dc)]) == ("ha-1", no_dc)


def test_partitioned_when_members_disagree_on_dc() -> None:
    a = PacemakerStatus(stack_running=True, dc="ha-0")
    b = PacemakerStatus(stack_running=True, dc="ha-1")
    assert partitioned([("ha-0", a), ("ha-1", b)])
    assert not partitioned([("ha-0", a), ("ha-1", a)])
    assert not partitioned([("ha-0", a), ("ha-1", PacemakerStatus.stack_down())])


def test_role_of() -> None:
    clone = _drbd_clone()
    assert role_of(clone, "ha-0") is ResourceRole.PROMOTED
    assert role_of(clone, "ha-1") is ResourceRole.UNPROMOTED
    assert role_of(_group(), "ha-0") is ResourceRole.STARTED
    assert role_of(_group(), "ha-1") is ResourceRole.STOPPED
