"""Tests of the crm_mon parser on outputs recorded with the real tools (fixtures/pacemaker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hacluster.errors import CommandError, ParseError, PermissionDeniedError
from hacluster.models.pacemaker import (
    NodeState,
    PacemakerStatus,
    Resource,
    ResourceKind,
    ResourceRole,
)
from hacluster.parsers.cib import parse_cib
from hacluster.parsers.crm_mon import parse_crm_mon

FIXTURES = Path(__file__).parent / "fixtures" / "pacemaker"
APP = "g_home-assistant"
DRBD = "ms_drbd_home-assistant"
APP_MEMBERS = ["p_fs_home-assistant", "p_ip_home-assistant", "p_docker_home-assistant"]


def load(name: str) -> bytes:
    """Return a fixture's bytes."""
    return (FIXTURES / name).read_bytes()


def parse(name: str, *, cib: str | None = None, exit_status: int | None = None) -> PacemakerStatus:
    """Parse a crm_mon fixture, optionally with a CIB fixture."""
    return parse_crm_mon(
        load(name), exit_status=exit_status, cib=load(cib) if cib is not None else None
    )


def rsc(status: PacemakerStatus, resource_id: str) -> Resource:
    """Return a resource that must exist."""
    found = status.resource(resource_id)
    assert found is not None, resource_id
    return found


def node_states(status: PacemakerStatus) -> dict[str, NodeState]:
    """Return name -> state."""
    return {node.name: node.state for node in status.nodes}


# ---- the CLI JSON shape, compared with expected JSON written by hand ----------------------------

_NODE_KEYS = ("state", "is_dc", "resources_running")
_RESOURCE_KEYS = ("kind", "running_on", "promoted_on", "unpromoted_on", "managed", "failed")
_ACTION_KEYS = ("resource", "node", "operation", "exit_reason")
_MOVE_KEYS = ("id", "resource", "node", "kind")
_TOP_KEYS = (
    "stack_running",
    "dc",
    "quorate",
    "cluster_name",
    "maintenance_mode",
    "stonith_enabled",
    "fail_counts",
)


def _cli_resource(data: dict[str, Any]) -> dict[str, Any]:
    out = {key: data[key] for key in _RESOURCE_KEYS}
    out["members"] = {rid: _cli_resource(m) for rid, m in data["members"].items()}
    return out


def cli_shape(data: dict[str, Any]) -> dict[str, Any]:
    """Reduce ``PacemakerStatus.to_dict()`` to the keys issue 2 requires."""
    out = {key: data[key] for key in _TOP_KEYS}
    out["nodes"] = {n: {k: v[k] for k in _NODE_KEYS} for n, v in data["nodes"].items()}
    out["resources"] = {rid: _cli_resource(r) for rid, r in data["resources"].items()}
    out["failed_actions"] = [{k: a[k] for k in _ACTION_KEYS} for a in data["failed_actions"]]
    out["move_constraints"] = [{k: m[k] for k in _MOVE_KEYS} for m in data["move_constraints"]]
    return out


@pytest.mark.parametrize(
    ("fixture", "cib", "exit_status", "expected"),
    [
        ("healthy.xml", "healthy.cib.xml", 0, "healthy.json"),
        ("failed-start.xml", "failed-start.constraints.xml", 0, "failed-start.json"),
        ("ban.xml", "ban.constraints.xml", None, "ban.json"),
        ("stack-down.xml", None, 102, "stack-down.json"),
        ("stack-down.as-xml.xml", None, 102, "stack-down.json"),
        ("disconnected-2.1.6.xml", None, 102, "stack-down.json"),
    ],
)
def test_cli_shape_matches_hand_written_json(
    fixture: str, cib: str | None, exit_status: int | None, expected: str
) -> None:
    """to_dict() has exactly the documented shape and values."""
    data = parse(fixture, cib=cib, exit_status=exit_status).to_dict()
    assert json.loads(json.dumps(data)) == data
    want = json.loads((FIXTURES / "expected" / expected).read_text())
    assert cli_shape(data) == want
    # Dict order follows crm_mon (and the CIB for constraints): check it explicitly.
    assert list(cli_shape(data)["resources"]) == list(want["resources"])


# ---- scenarios ----------------------------------------------------------------------------------


def test_healthy() -> None:
    """Both nodes online; DRBD promoted on ha-0 with the group."""
    status = parse("healthy.xml")
    assert status.stack_running
    assert status.error is None
    assert status.api_version == "2.25"
    assert status.request == "crm_mon --output-as=xml"
    assert status.stack_type == "corosync"
    assert status.dc == "ha-0"
    assert status.dc_version == "2.1.5-a3f44794f94"
    assert status.quorate
    assert status.last_update
    assert status.cluster_name is None  # only the CIB knows it
    assert status.options.stonith_enabled is False
    assert status.options.symmetric_cluster is True
    assert status.options.no_quorum_policy == "stop"
    assert status.options.stop_all_resources is False
    assert node_states(status) == {"ha-0": NodeState.ONLINE, "ha-1": NodeState.ONLINE}
    ha0 = status.node("ha-0")
    assert ha0 is not None
    assert ha0.is_dc
    assert ha0.node_id == "1"
    assert ha0.resources_running == 4
    assert ha0.expected_up
    assert ha0.node_type == "member"
    assert ha0.health == "green"
    assert ha0.attributes == {"master-p_drbd_home-assistant": "10000"}

    assert [r.id for r in status.resources] == [DRBD, APP]
    drbd = rsc(status, DRBD)
    assert drbd.kind is ResourceKind.PROMOTABLE
    assert drbd.role is ResourceRole.PROMOTED
    assert drbd.running_on == ("ha-0", "ha-1")
    assert drbd.promoted_on == ("ha-0",)
    assert drbd.unpromoted_on == ("ha-1",)
    assert drbd.managed
    assert drbd.active
    assert not drbd.failed
    assert not drbd.blocked
    assert not drbd.orphaned
    assert not drbd.disabled
    (child,) = drbd.members
    assert child.id == "p_drbd_home-assistant"
    assert child.agent == "ocf:linbit:drbd"
    assert child.kind is ResourceKind.PRIMITIVE
    assert child.promoted_on == ("ha-0",)

    app = rsc(status, APP)
    assert app.kind is ResourceKind.GROUP
    assert app.role is ResourceRole.STARTED
    assert app.running_on == ("ha-0",)
    assert app.agent is None
    assert [m.id for m in app.members] == APP_MEMBERS
    assert [m.agent for m in app.members] == [
        "ocf:heartbeat:Filesystem",
        "ocf:heartbeat:IPaddr2",
        "ocf:heartbeat:docker",
    ]
    assert rsc(status, "p_ip_home-assistant").running_on == ("ha-0",)
    assert status.failed_actions == ()
    assert status.fail_counts == {}
    assert status.move_constraints == ()
    assert status.colocations == ()


def test_healthy_with_full_cib() -> None:
    """The CIB adds the cluster name, colocations and orders."""
    status = parse("healthy.xml", cib="healthy.cib.xml")
    assert status.cluster_name == "ha_cluster"
    (colocation,) = status.colocations
    assert (colocation.resource, colocation.with_resource) == (APP, DRBD)
    assert colocation.with_resource_role == "Promoted"
    (order,) = status.orders
    assert (order.first, order.first_action, order.then, order.then_action) == (
        DRBD,
        "promote",
        APP,
        "start",
    )
    assert status.move_constraints == ()


def test_as_xml_gives_the_same_model() -> None:
    """The legacy --as-xml envelope holds the same content."""
    new = parse("healthy.xml")
    legacy = parse("healthy.as-xml.xml")
    assert legacy.api_version == "2.1.5"
    assert legacy.request is None
    assert legacy.nodes == new.nodes
    assert legacy.resources == new.resources
    assert legacy.options == new.options


def test_standby_of_the_active_node() -> None:
    """ha-0 in standby: everything moved to ha-1, the drbd instance on ha-0 stopped."""
    status = parse("standby.xml")
    assert node_states(status) == {"ha-0": NodeState.STANDBY, "ha-1": NodeState.ONLINE}
    ha0 = status.node("ha-0")
    assert ha0 is not None
    assert ha0.resources_running == 0
    drbd = rsc(status, DRBD)
    assert drbd.promoted_on == ("ha-1",)
    assert drbd.unpromoted_on == ()
    assert drbd.running_on == ("ha-1",)
    assert drbd.role is ResourceRole.PROMOTED
    assert rsc(status, APP).running_on == ("ha-1",)


def test_active_node_offline() -> None:
    """ha-0 failed without fencing: OFFLINE, ha-1 is DC and runs everything."""
    status = parse("node-offline.xml")
    assert node_states(status) == {"ha-0": NodeState.OFFLINE, "ha-1": NodeState.ONLINE}
    assert status.dc == "ha-1"
    assert status.quorate
    assert rsc(status, DRBD).promoted_on == ("ha-1",)
    assert rsc(status, APP).running_on == ("ha-1",)


def test_active_node_unclean() -> None:
    """With fencing enabled a lost node is UNCLEAN until fenced; its resources still show."""
    status = parse("node-unclean.xml")
    assert status.options.stonith_enabled is True
    assert node_states(status) == {"ha-0": NodeState.UNCLEAN, "ha-1": NodeState.ONLINE}
    ha0 = status.node("ha-0")
    assert ha0 is not None
    assert not ha0.online
    assert ha0.unclean
    fence = rsc(status, "st_fence")
    assert fence.kind is ResourceKind.PRIMITIVE
    assert fence.agent == "stonith:fence_dummy"
    assert fence.running_on == ("ha-1",)
    assert rsc(status, APP).running_on == ("ha-0",)
    assert [r.id for r in status.resources] == [DRBD, APP, "st_fence"]


def test_failed_monitor() -> None:
    """A failed monitor is a failed action with its exit reason, and a fail count of 1."""
    status = parse("failed-monitor.xml")
    (action,) = status.failed_actions
    assert action.resource == "p_docker_home-assistant"
    assert action.node == "ha-0"
    assert action.operation == "monitor"
    assert action.exit_reason == "container home-assistant is not running"
    assert action.exit_status == "not running"
    assert action.exit_code == 7
    assert action.status == "complete"
    assert action.interval_ms == 30000
    assert action.op_key == "p_docker_home-assistant_monitor_30000"
    assert action.call_id is not None
    assert action.last_rc_change is not None
    assert status.fail_counts == {"ha-0": {"p_docker_home-assistant": 1}}
    # Recovered in place.
    assert rsc(status, APP).running_on == ("ha-0",)
    assert not rsc(status, APP).failed


def test_failed_start_infinity() -> None:
    """A failed start sets the fail count to INFINITY (printed as 1000000): the group moved."""
    status = parse("failed-start.xml")
    assert status.fail_counts == {"ha-0": {"p_fs_home-assistant": 1_000_000}}
    (action,) = status.failed_actions
    assert (action.operation, action.interval_ms, action.exit_code) == ("start", 0, 1)
    assert rsc(status, APP).running_on == ("ha-1",)
    assert rsc(status, DRBD).promoted_on == ("ha-1",)


def test_cluster_maintenance_mode() -> None:
    """maintenance-mode=true: every resource unmanaged, nodes stay online."""
    status = parse("cluster-maintenance.xml")
    assert status.options.maintenance_mode is True
    assert status.to_dict()["maintenance_mode"] is True
    assert node_states(status) == {"ha-0": NodeState.ONLINE, "ha-1": NodeState.ONLINE}
    for resource in status.resources:
        assert resource.managed is False
        assert all(not p.managed for p in resource.iter_primitives())
    assert rsc(status, APP).running_on == ("ha-0",)


def test_node_maintenance() -> None:
    """ha-1 in maintenance: its state, and the instance on it unmanaged."""
    status = parse("node-maintenance.xml")
    assert node_states(status) == {"ha-0": NodeState.ONLINE, "ha-1": NodeState.MAINTENANCE}
    assert status.options.maintenance_mode is False
    assert rsc(status, DRBD).managed is False
    assert rsc(status, APP).managed is True


def test_move_leaves_cli_prefer_only_in_the_cib() -> None:
    """crm_mon never lists cli-prefer-*; cibadmin's constraints do."""
    without = parse("move.xml")
    assert without.move_constraints == ()
    assert rsc(without, APP).running_on == ("ha-1",)
    status = parse("move.xml", cib="move.constraints.xml")
    (move,) = status.move_constraints
    assert move.id == "cli-prefer-g_home-assistant"
    assert (move.resource, move.node, move.kind) == (APP, "ha-1", "prefer")
    assert move.score == "INFINITY"
    assert move.role == "Started"
    assert status.cluster_name is None  # constraints scope only


def test_move_with_lifetime_is_a_rule() -> None:
    """A move with --lifetime is a rule on #uname; the node still comes out."""
    status = parse("move-lifetime.xml", cib="move-lifetime.constraints.xml")
    (move,) = status.move_constraints
    assert (move.id, move.node, move.kind, move.score) == (
        "cli-prefer-g_home-assistant",
        "ha-1",
        "prefer",
        "INFINITY",
    )


def test_bans_from_crm_mon() -> None:
    """Without the CIB, bans come from crm_mon's <bans> (promoted-only -> role Promoted)."""
    status = parse("ban.xml")
    moves = {m.id: m for m in status.move_constraints}
    assert set(moves) == {
        "cli-ban-g_home-assistant-on-ha-0",
        "cli-ban-ms_drbd_home-assistant-on-ha-0",
    }
    assert moves["cli-ban-ms_drbd_home-assistant-on-ha-0"].role == "Promoted"
    assert moves["cli-ban-g_home-assistant-on-ha-0"].role is None
    assert all(m.kind == "ban" and m.score == "-1000000" for m in moves.values())


def test_bans_from_cib_win() -> None:
    """With the CIB, its constraints are used (CIB scores and roles)."""
    status = parse("ban.xml", cib="ban.constraints.xml")
    assert [(m.id, m.score, m.role) for m in status.move_constraints] == [
        ("cli-ban-g_home-assistant-on-ha-0", "-INFINITY", "Started"),
        ("cli-ban-ms_drbd_home-assistant-on-ha-0", "-INFINITY", "Promoted"),
    ]


def test_cib_without_constraints_falls_back_to_bans() -> None:
    """A crm_config-only CIB gives the name but not the constraints."""
    status = parse("ban.xml", cib="healthy.crm_config.xml")
    assert status.cluster_name == "ha_cluster"
    assert len(status.move_constraints) == 2


def test_parsed_cib_can_be_passed() -> None:
    """cib may be an already parsed CibInfo."""
    info = parse_cib(load("healthy.configuration.xml"))
    status = parse_crm_mon(load("healthy.xml"), cib=info)
    assert status.cluster_name == "ha_cluster"
    assert len(status.colocations) == 1


def test_bundle_and_cloned_group() -> None:
    """A bundle runs on cluster nodes (not its guests); a cloned group aggregates instances."""
    status = parse("bundle.xml")
    assert [r.id for r in status.resources] == [DRBD, APP, "web-bundle", "cl_base"]
    bundle = rsc(status, "web-bundle")
    assert bundle.kind is ResourceKind.BUNDLE
    assert bundle.running_on == ("ha-0", "ha-1")
    assert bundle.role is ResourceRole.STARTED
    web = rsc(status, "web")
    assert web.running_on == ("web-bundle-0", "web-bundle-1")
    assert web.agent == "ocf:heartbeat:apache"
    guests = [n for n in status.nodes if n.node_type == "remote"]
    assert [g.name for g in guests] == ["web-bundle-0", "web-bundle-1"]
    assert all(g.state is NodeState.ONLINE for g in guests)

    base = rsc(status, "cl_base")
    assert base.kind is ResourceKind.CLONE
    assert base.running_on == ("ha-0", "ha-1")
    assert base.role is ResourceRole.STARTED
    (group,) = base.members
    assert group.id == "g_base"
    assert group.kind is ResourceKind.GROUP
    assert [m.id for m in group.members] == ["p_base_a", "p_base_b"]
    assert rsc(status, "p_base_b").running_on == ("ha-0", "ha-1")
    assert group.promoted_on == ()


def test_big_cluster() -> None:
    """16 nodes, 300 instances: counts, states and the one cli-ban (rule bans are not moves)."""
    status = parse("big.xml")
    assert len(status.nodes) == 16
    states = node_states(status)
    assert states["node-16"] is NodeState.STANDBY
    assert states["node-15"] is NodeState.OFFLINE
    assert sum(s is NodeState.ONLINE for s in states.values()) == 14
    kinds = [r.kind for r in status.resources]
    assert kinds.count(ResourceKind.PROMOTABLE) == 30
    assert kinds.count(ResourceKind.GROUP) == 30
    assert kinds.count(ResourceKind.CLONE) == 2
    assert kinds.count(ResourceKind.PRIMITIVE) == 102
    assert len(list(status.iter_primitives())) == 30 * 4 + 1 + 2 + 102
    ping = rsc(status, "cl_ping")
    assert len(ping.running_on) == 14
    assert "node-15" not in ping.running_on
    for app in range(1, 31):
        drbd = rsc(status, f"ms_drbd_app{app:02d}")
        group = rsc(status, f"g_app{app:02d}")
        if app % 8 == 0:
            # Its node pair is node-15 (offline) and node-16 (standby): nowhere to run.
            assert drbd.role is ResourceRole.STOPPED
            assert group.role is ResourceRole.STOPPED
            assert drbd.running_on == group.running_on == ()
            continue
        assert len(drbd.promoted_on) == 1
        assert len(drbd.unpromoted_on) == 1
        assert group.running_on == drbd.promoted_on
    assert [m.id for m in status.move_constraints] == ["cli-ban-p_dummy_001-on-node-01"]
    (action,) = status.failed_actions
    assert (action.resource, action.node, action.operation) == ("p_dummy_010", "node-03", "monitor")
    assert status.fail_counts == {"node-03": {"p_dummy_010": 1}}
    assert "node-01" not in rsc(status, "p_dummy_001").running_on


def test_big_without_operations_is_the_same_model() -> None:
    """--exclude=operations drops the operation history but keeps fail counts."""
    full = parse("big.xml")
    lean = parse("big.no-operations.xml")
    assert lean.nodes == full.nodes
    assert lean.resources == full.resources
    assert lean.fail_counts == full.fail_counts
    assert lean.failed_actions == full.failed_actions
    assert lean.move_constraints == full.move_constraints


def test_master_slave_build() -> None:
    """A compat-2.0 build (Master/Slave, ocf::provider:type) gives the same model."""
    new = parse("failed-monitor.xml")
    old = parse("master-slave.xml")
    assert old.api_version == "2.20"
    assert old.resources == new.resources
    assert rsc(old, DRBD).promoted_on == ("ha-0",)
    assert rsc(old, "p_ip_home-assistant").agent == "ocf:heartbeat:IPaddr2"
    assert old.failed_actions == new.failed_actions


def test_legacy_1_1_content() -> None:
    """Pacemaker 1.1-style --as-xml: no group managed attribute, master_only bans."""
    old = parse("legacy-1.1.xml")
    new = parse("ban.xml")
    assert old.api_version == "1.1.24"
    assert old.resources == new.resources
    assert old.move_constraints == new.move_constraints
    assert old.options.maintenance_mode is False
    assert old.options.stop_all_resources is False
    assert [n.health for n in old.nodes] == [None, None]
    assert node_states(old) == node_states(new)


# ---- the stack is down --------------------------------------------------------------------------


@pytest.mark.parametrize("exit_status", [102, None])
def test_stack_down(exit_status: int | None) -> None:
    """The real output without a cluster: a state, with the message as error."""
    status = parse("stack-down.xml", exit_status=exit_status)
    assert status.stack_running is False
    assert status.error == "Not connected"
    assert status.api_version == "2.25"
    assert status.nodes == ()
    assert status.resources == ()


@pytest.mark.parametrize("exit_status", [102, None])
def test_stack_down_legacy_empty(exit_status: int | None) -> None:
    """--as-xml prints an empty <crm_mon/> when not connected."""
    status = parse("stack-down.as-xml.xml", exit_status=exit_status)
    assert status.stack_running is False
    assert status.api_version == "2.1.5"


def test_stack_down_ignores_the_cib() -> None:
    """With the stack down, every other field is empty, also with a CIB."""
    status = parse("stack-down.xml", cib="healthy.cib.xml", exit_status=102)
    assert status.cluster_name is None
    assert status.colocations == ()


def test_disconnected_element() -> None:
    """2.1.6+ may print <crm-mon-disconnected>; the pacemakerd state is kept in the error."""
    status = parse("disconnected-2.1.6.xml", exit_status=102)
    assert status.stack_running is False
    assert status.error == (
        "Error: cluster is not available on this node (pacemakerd: starting_daemons)"
    )
    bare = parse_crm_mon(
        '<pacemaker-result api-version="2.30"><crm-mon-disconnected/></pacemaker-result>'
    )
    assert bare.error == "Not connected"


@pytest.mark.parametrize("data", [b"", "  \n", b"\n"])
def test_empty_output_with_exit_102_is_stack_down(data: bytes | str) -> None:
    """No output at all but exit 102: the stack is down."""
    assert parse_crm_mon(data, exit_status=102).stack_running is False


@pytest.mark.parametrize("exit_status", [None, 0, 1])
def test_empty_output_otherwise_is_a_parse_error(exit_status: int | None) -> None:
    """No output and no 102: malformed."""
    with pytest.raises(ParseError) as err:
        parse_crm_mon(b"", exit_status=exit_status)
    assert err.value.command == "crm_mon"


def test_pacemakerd_element_without_summary_is_stack_down() -> None:
    """A pacemakerd state without a summary means the stack is starting."""
    data = (
        '<pacemaker-result api-version="2.25" request="crm_mon --output-as=xml">'
        '<pacemakerd state="starting_daemons" last_updated="x"/>'
        '<status code="1" message="Error"/></pacemaker-result>'
    )
    assert parse_crm_mon(data).stack_running is False


# ---- errors and hostile input -------------------------------------------------------------------


def test_other_failure_is_a_command_error() -> None:
    """A status other than 0/102 without a summary is crm_mon failing, with its messages."""
    data = (
        '<pacemaker-result api-version="2.25" request="crm_mon --output-as=xml">'
        '<status code="105" message="No such object"><errors>'
        "<error>crm_mon: something broke</error><error> </error></errors></status>"
        "</pacemaker-result>"
    )
    with pytest.raises(CommandError) as err:
        parse_crm_mon(data, exit_status=105)
    assert not isinstance(err.value, PermissionDeniedError)
    assert err.value.exit_status == 105
    assert "No such object" in str(err.value)
    assert "something broke" in str(err.value)


def test_insufficient_privileges() -> None:
    """Code 4 is a permission problem (crm_mon needs root or haclient)."""
    data = (
        '<pacemaker-result api-version="2.25"><status code="4" message="Insufficient privileges"/>'
        "</pacemaker-result>"
    )
    with pytest.raises(PermissionDeniedError):
        parse_crm_mon(data, exit_status=4)


def test_failed_status_without_message() -> None:
    """A failing status without a message still names the code."""
    with pytest.raises(CommandError, match="code 1"):
        parse_crm_mon('<pacemaker-result><status code="1"/></pacemaker-result>')


@pytest.mark.parametrize(
    ("data", "exit_status"),
    [
        (
            '<pacemaker-result api-version="2.25"><status code="0" message="OK"/>'
            "</pacemaker-result>",
            0,
        ),
        ('<pacemaker-result api-version="2.25"><status code="0"/></pacemaker-result>', None),
        ('<pacemaker-result api-version="2.25"/>', 0),
        ('<pacemaker-result api-version="2.25"/>', None),
        ('<crm_mon version="2.1.5"/>', 0),
        ('<crm_mon version="2.1.5"><nodes/></crm_mon>', None),
    ],
)
def test_no_summary_and_no_failure_is_a_parse_error(data: str, exit_status: int | None) -> None:
    """Success without content is malformed."""
    with pytest.raises(ParseError, match="no <summary>"):
        parse_crm_mon(data, exit_status=exit_status)


def test_no_status_but_exit_102_is_stack_down() -> None:
    """An envelope without status, from a crm_mon that exited 102, is a stopped stack."""
    assert not parse_crm_mon(
        '<pacemaker-result api-version="2.25"/>', exit_status=102
    ).stack_running


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<pacemaker-result><summary>&lol4;</summary></pacemaker-result>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<pacemaker-result><summary><stack type="&xxe;"/></summary></pacemaker-result>"""


@pytest.mark.parametrize(
    "data",
    [
        BILLION_LAUGHS,
        XXE,
        '<!DOCTYPE pacemaker-result SYSTEM "http://example.invalid/x.dtd"><pacemaker-result/>',
        load("healthy.xml")[: len(load("healthy.xml")) // 2],
        b"<pacemaker-result><summary></pacemaker-result>",
        b"\x00\xff\xfe garbage",
        "not xml at all",
        "<pacemaker-result>&undefined;</pacemaker-result>",
    ],
)
def test_hostile_or_malformed_xml_is_a_parse_error(data: bytes | str) -> None:
    """DTDs, entities, truncation and garbage give ParseError naming crm_mon."""
    with pytest.raises(ParseError) as err:
        parse_crm_mon(data)
    assert err.value.command == "crm_mon"


HISTORY = """<pacemaker-result api-version="2.25"><summary/>
<node_history>
  <node name="a">
    <resource_history id="r1" fail-count="2">
      <operation_history call="3" task="monitor" rc="7" rc_text="not running" interval="10000ms"/>
      <operation_history call="4" task="stop" rc="0" rc_text="ok"></operation_history>
    </resource_history>
  </node>
</node_history>
<status code="0" message="OK"/></pacemaker-result>"""


def test_node_history_is_read_without_operations() -> None:
    """Fail counts come from the node history, whatever form its operations take."""
    assert parse_crm_mon(HISTORY).fail_counts == {"a": {"r1": 2}}
    without = HISTORY.replace(' fail-count="2"', "")
    assert parse_crm_mon(without).fail_counts == {}


@pytest.mark.parametrize(
    "data",
    [
        HISTORY.replace("</node_history>", ""),
        HISTORY.replace('rc_text="ok"', 'rc_text="/>"'),
        HISTORY.replace("</resource_history>", ""),
    ],
)
def test_malformed_node_history_is_a_parse_error(data: str) -> None:
    """A broken node history is reported, not skipped."""
    with pytest.raises(ParseError):
        parse_crm_mon(data)


def test_deep_nesting_does_not_recurse() -> None:
    """Clones inside clones (never printed by Pacemaker) are ignored, at any depth."""
    depth = 20_000
    data = (
        "<pacemaker-result><summary/><resources>"
        + "".join(f'<clone id="c{i}">' for i in range(depth))
        + "</clone>" * depth
        + "</resources></pacemaker-result>"
    )
    status = parse_crm_mon(data)
    (outer,) = status.resources
    assert outer.id == "c0"
    assert outer.members == ()
    assert outer.role is ResourceRole.STOPPED


@pytest.mark.parametrize("root", ["html", "cib", "status", "crm-mon"])
def test_wrong_root_is_a_parse_error(root: str) -> None:
    """Only pacemaker-result and crm_mon are crm_mon output."""
    with pytest.raises(ParseError, match="unexpected root"):
        parse_crm_mon(f"<{root}><summary/></{root}>")


def test_malformed_cib_names_cibadmin() -> None:
    """A bad CIB is reported as cibadmin's output."""
    with pytest.raises(ParseError) as err:
        parse_crm_mon(load("healthy.xml"), cib="<cib><configuration>")
    assert err.value.command == "cibadmin"


# ---- tolerance: unknown values and odd documents ------------------------------------------------

ODD = """<crm_mon version="1.1.9">
  <summary>
    <stack type="corosync"/>
    <current_dc present="true" name="a" with_quorum="false"/>
    <cluster_options stonith-enabled="maybe" no-quorum-policy="freeze"/>
  </summary>
  <nodes>
    <node name="a" id="1" online="true" resources_running="lots" type="ping" shutdown="true"/>
    <node id="2" online="true"/>
    <node name="b" online="true" pending="true" health="purple"/>
  </nodes>
  <node_attributes>
    <node name="a"><attribute name="x" value="1"/><attribute name="broken"/></node>
    <node><attribute name="y" value="2"/></node>
  </node_attributes>
  <resources>
    <resource id="r1" resource_agent="ocf::pacemaker:Dummy" role="Hibernating"
              target_role="Sleepy" nodes_running_on="1"><node name="a"/><node/></resource>
    <resource id="r2" resource_agent="systemd:chronyd" role="Started" target_role="Stopped">
      <node name="b"/><node name="a"/><node name="b"/></resource>
    <resource resource_agent="ocf:x:y" role="Started"/>
    <template id="t1"/>
    <group id="g1" number_resources="2">
      <resource id="m1" role="Starting" managed="false"><node name="a"/></resource>
      <resource id="m2" role="Stopped" failed="true" blocked="true"/>
    </group>
    <group id="g2" number_resources="1">
      <resource id="m3" role="Stopped" target_role="Stopped" orphaned="true"/>
    </group>
    <group id="g3" number_resources="0"/>
    <clone id="c1" multi_state="true" managed="true" failed="false" target_role="Promoted">
      <resource id="p1:0" role="Started"><node name="a"/></resource>
      <resource id="p1:1" role="Slave" target_role="Master"><node name="b"/></resource>
    </clone>
    <clone id="c2" multi_state="false">
      <resource id="p2" role="Hibernating"/>
      <resource id="p2" role="Unknown"/>
    </clone>
    <clone id="c4"><description/><resource id="p4" role="Started"><node name="b"/></resource>
    </clone>
    <clone id="c3" multi_state="true">
      <group id="pg:0"><resource id="pm" role="Master"><node name="a"/></resource></group>
      <group id="pg:1"><resource id="pm" role="Slave"><node name="b"/></resource></group>
    </clone>
  </resources>
  <node_history>
    <node name="a">
      <resource_history id="r1" fail-count="INFINITY"/>
      <resource_history id="r2" fail-count="+INFINITY"/>
      <resource_history id="p1:0" fail-count="3"/>
      <resource_history id="p1:1" fail-count="5"/>
      <resource_history id="m1" fail-count="0"/>
      <resource_history id="m2" fail-count="nonsense"/>
      <resource_history id="m3" fail-count="99999999"/>
      <resource_history fail-count="2"/>
    </node>
    <node><resource_history id="x" fail-count="1"/></node>
    <node name="b"><resource_history id="r1" fail-count="-INFINITY"/></node>
  </node_history>
  <failures>
    <failure id="r1_monitor_10000" node="a" exitstatus="error" exitreason="" exitcode="x"/>
    <failure op_key="weird-key" node="a" task="stop" interval="15000ms"/>
  </failures>
  <bans>
    <ban id="cli-ban-r1-on-b" resource="r1" node="b" weight="-1000000" master_only="true"/>
    <ban id="cli-ban-r1-on-b" resource="r1" node="b" weight="-1000000" master_only="true"/>
    <ban id="cli-prefer-r2" resource="r2" node="a" weight="-5"/>
    <ban id="location-r2" resource="r2" node="a" weight="-5"/>
    <ban id="cli-ban-broken"/>
  </bans>
</crm_mon>"""


def test_tolerates_odd_values() -> None:
    """Unknown enums become unknown; bad numbers and missing attributes never crash."""
    status = parse_crm_mon(ODD)
    assert status.api_version == "1.1.9"
    assert status.dc == "a"
    assert status.quorate is False  # DC present but without quorum
    assert status.options.stonith_enabled is False
    assert status.options.no_quorum_policy == "freeze"
    assert [n.name for n in status.nodes] == ["a", "b"]
    a, b = status.nodes
    assert a.resources_running == 0
    assert a.node_type == "ping"
    assert a.state is NodeState.SHUTDOWN
    assert a.attributes == {"x": "1"}
    assert b.state is NodeState.PENDING
    assert b.health == "purple"

    assert [r.id for r in status.resources] == [
        "r1", "r2", "g1", "g2", "g3", "c1", "c2", "c4", "c3",
    ]  # fmt: skip
    assert [m.id for m in rsc(status, "c4").members] == ["p4"]
    r1 = rsc(status, "r1")
    assert r1.role is ResourceRole.UNKNOWN
    assert r1.target_role is ResourceRole.UNKNOWN
    assert r1.agent == "ocf:pacemaker:Dummy"
    assert r1.running_on == ("a",)
    assert r1.active is False  # unknown role, no "active" attribute
    r2 = rsc(status, "r2")
    assert r2.agent == "systemd:chronyd"
    assert r2.running_on == ("a", "b")  # multiple-active during recovery
    assert r2.disabled is True
    assert r2.active is True

    g1 = rsc(status, "g1")
    assert g1.role is ResourceRole.STARTING
    assert g1.managed is False
    assert g1.failed is True
    assert g1.blocked is True
    assert g1.disabled is False
    g2 = rsc(status, "g2")
    assert g2.role is ResourceRole.STOPPED
    assert g2.disabled is True
    assert g2.orphaned is True
    assert g2.target_role is ResourceRole.STOPPED
    g3 = rsc(status, "g3")
    assert g3.role is ResourceRole.STOPPED
    assert g3.orphaned is False
    assert g3.disabled is False

    c1 = rsc(status, "c1")
    assert c1.kind is ResourceKind.PROMOTABLE
    assert c1.role is ResourceRole.UNPROMOTED  # started instances of a promotable clone
    assert c1.unpromoted_on == ("a", "b")
    assert c1.promoted_on == ()
    assert c1.target_role is ResourceRole.PROMOTED
    (p1,) = c1.members
    assert p1.id == "p1"
    assert p1.target_role is None  # instances disagree
    c2 = rsc(status, "c2")
    assert c2.role is ResourceRole.UNKNOWN
    assert c2.running_on == ()
    c3 = rsc(status, "c3")
    (pg,) = c3.members
    assert pg.id == "pg"
    assert pg.kind is ResourceKind.GROUP
    assert pg.promoted_on == ("a",)
    assert pg.unpromoted_on == ("b",)
    assert c3.role is ResourceRole.PROMOTED

    assert status.fail_counts == {
        "a": {"r1": 1_000_000, "r2": 1_000_000, "p1": 5, "m3": 1_000_000},
    }
    first, second = status.failed_actions
    assert (first.resource, first.operation, first.interval_ms) == ("r1", "monitor", 10000)
    assert first.exit_reason is None
    assert first.exit_code is None
    assert first.op_key == "r1_monitor_10000"
    assert (second.resource, second.operation, second.interval_ms) == ("weird-key", "stop", 15000)
    assert [(m.id, m.kind, m.role) for m in status.move_constraints] == [
        ("cli-ban-r1-on-b", "ban", "Promoted"),
        ("cli-prefer-r2", "prefer", None),
    ]


def test_options_fall_back_to_cib_properties() -> None:
    """Attributes an old crm_mon lacks come from the CIB's properties."""
    data = (
        '<crm_mon version="1.1.24"><summary><current_dc present="false"/>'
        '<cluster_options stonith-enabled="true"/></summary></crm_mon>'
    )
    cib = (
        '<crm_config><cluster_property_set id="cib-bootstrap-options">'
        '<nvpair id="a" name="maintenance-mode" value="true"/>'
        '<nvpair id="b" name="stonith-enabled" value="false"/>'
        "</cluster_property_set></crm_config>"
    )
    status = parse_crm_mon(data, cib=cib)
    assert status.options.maintenance_mode is True
    assert status.options.stonith_enabled is True  # crm_mon's own value wins
    assert status.dc is None
    assert status.quorate is False
    assert status.nodes == ()
    assert status.resources == ()
    assert status.last_update is None
    assert status.stack_type is None


def test_minimal_summary_defaults() -> None:
    """A bare summary parses to Pacemaker's defaults."""
    status = parse_crm_mon("<pacemaker-result><summary/></pacemaker-result>")
    assert status.stack_running is True
    assert status.options.stonith_enabled is True
    assert status.options.symmetric_cluster is True
    assert status.options.no_quorum_policy == "stop"
    assert status.quorate is False
