"""Tests of the CIB parser (cibadmin --query output, whole or one scope)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hacluster.errors import ParseError
from hacluster.models.pacemaker import ResourceKind
from hacluster.parsers.cib import parse_cib

FIXTURES = Path(__file__).parent / "fixtures" / "pacemaker"


def load(name: str) -> bytes:
    """Return a fixture's bytes."""
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize("name", ["healthy.cib.xml", "healthy.configuration.xml"])
def test_full_cib_and_configuration_scope(name: str) -> None:
    """The whole CIB and --scope configuration give the same facts."""
    info = parse_cib(load(name))
    assert info.cluster_name == "ha_cluster"
    assert info.properties["stonith-enabled"] == "false"
    assert info.properties["dc-version"] == "2.1.5-a3f44794f94"
    assert info.has_constraints
    assert info.drbd_resources == {"p_drbd_home-assistant": "home-assistant"}
    assert list(info.resources) == [
        "ms_drbd_home-assistant",
        "p_drbd_home-assistant",
        "g_home-assistant",
        "p_fs_home-assistant",
        "p_ip_home-assistant",
        "p_docker_home-assistant",
    ]
    clone = info.resources["ms_drbd_home-assistant"]
    assert clone.kind is ResourceKind.PROMOTABLE
    assert clone.meta["promoted-max"] == "1"
    assert clone.children == ("p_drbd_home-assistant",)
    assert clone.parent is None
    group = info.resources["g_home-assistant"]
    assert group.kind is ResourceKind.GROUP
    assert group.children == (
        "p_fs_home-assistant",
        "p_ip_home-assistant",
        "p_docker_home-assistant",
    )
    ip = info.resources["p_ip_home-assistant"]
    assert ip.agent == "ocf:heartbeat:IPaddr2"
    assert ip.parent == "g_home-assistant"
    assert ip.params == {"ip": "198.18.0.10", "cidr_netmask": "24"}
    (colocation,) = info.colocations
    assert colocation.id == "c_home-assistant_on_drbd"
    assert colocation.score == "INFINITY"
    assert colocation.resource_role is None
    assert colocation.with_resource_role == "Promoted"
    (order,) = info.orders
    assert order.kind == "Mandatory"
    assert order.score is None
    assert info.move_constraints == ()
    assert info.to_dict()["cluster_name"] == "ha_cluster"


def test_crm_config_scope() -> None:
    """Only properties; no constraints section."""
    info = parse_cib(load("healthy.crm_config.xml"))
    assert info.cluster_name == "ha_cluster"
    assert not info.has_constraints
    assert info.resources == {}
    assert info.colocations == ()


def test_constraints_scope_with_move_and_ban() -> None:
    """cli-prefer and cli-ban constraints, once each, with role and score."""
    info = parse_cib(load("move.constraints.xml"))
    assert info.cluster_name is None
    assert info.properties == {}
    (move,) = info.move_constraints
    assert (move.id, move.resource, move.node, move.kind, move.score, move.role) == (
        "cli-prefer-g_home-assistant",
        "g_home-assistant",
        "ha-1",
        "prefer",
        "INFINITY",
        "Started",
    )
    bans = parse_cib(load("ban.constraints.xml")).move_constraints
    assert [(b.id, b.kind, b.role) for b in bans] == [
        ("cli-ban-g_home-assistant-on-ha-0", "ban", "Started"),
        ("cli-ban-ms_drbd_home-assistant-on-ha-0", "ban", "Promoted"),
    ]


def test_move_with_lifetime() -> None:
    """The rule form: node from the #uname expression, score from the rule."""
    (move,) = parse_cib(load("move-lifetime.constraints.xml")).move_constraints
    assert (move.node, move.score, move.kind) == ("ha-1", "INFINITY", "prefer")


def test_big_constraints_skip_rule_locations() -> None:
    """Only cli-* locations are moves; the 30 rule locations are not."""
    info = parse_cib(load("big.constraints.xml"))
    assert [m.id for m in info.move_constraints] == ["cli-ban-p_dummy_001-on-node-01"]
    assert len(info.colocations) == 30
    assert len(info.orders) == 30


EDGE = """<cib><configuration>
  <crm_config>
    <cluster_property_set id="extra">
      <nvpair id="e1" name="cluster-name" value="from-extra"/>
      <nvpair id="e2" name="placement-strategy" value="balanced"/>
    </cluster_property_set>
    <cluster_property_set id="cib-bootstrap-options">
      <nvpair id="b1" name="cluster-name" value="main"/>
      <nvpair id="b2" name="cluster-name" value="duplicate"/>
      <nvpair id-ref="b1"/>
    </cluster_property_set>
  </crm_config>
  <resources>
    <master id="ms_old">
      <meta_attributes id="m1"><nvpair id="m1a" name="notify" value="true"/></meta_attributes>
      <meta_attributes id="m2"><nvpair id="m2a" name="notify" value="false"/></meta_attributes>
      <primitive id="p_old" class="ocf" provider="linbit" type="drbd">
        <instance_attributes id="i1"><nvpair id="i1a" name="drbd_resource" value="r0"/>
        </instance_attributes>
        <instance_attributes id="i2"><nvpair id="i2a" name="drbd_resource" value="r9"/>
        </instance_attributes>
      </primitive>
    </master>
    <clone id="cl_plain"><primitive id="p_ping" class="ocf" provider="pacemaker" type="ping"/>
    </clone>
    <primitive id="st" class="stonith" type="fence_xvm"/>
    <primitive id="tmpl_user" template="tmpl"/>
    <primitive id="p_nodrbd_param" class="ocf" provider="linbit" type="drbd"/>
    <bundle id="b"><podman image="x"/><primitive id="inner" class="ocf" provider="heartbeat"
      type="apache"/></bundle>
    <template id="tmpl" class="ocf" provider="heartbeat" type="Dummy"/>
    <primitive class="ocf" provider="heartbeat" type="Dummy"/>
  </resources>
  <constraints>
    <rsc_location id="cli-prefer-a" rsc="a" node="n1" score="INFINITY" role="Master"/>
    <rsc_location id="cli-prefer-a" rsc="a" node="n2" score="INFINITY"/>
    <rsc_location id="cli-ban-b-on-n1" rsc="b" node="n1" score="-INFINITY" role="Slave"/>
    <rsc_location id="cli-ban-set"><resource_set id="s"><resource_ref id="x"/></resource_set>
    </rsc_location>
    <rsc_location id="cli-prefer-norule" rsc="c" role="Started">
      <rule id="r1" score="INFINITY"><expression id="e" attribute="site" operation="eq" value="x"/>
      </rule>
    </rsc_location>
    <rsc_location id="loc-plain" rsc="c" node="n1" score="50"/>
    <rsc_colocation id="col-set" score="INFINITY"><resource_set id="cs"/></rsc_colocation>
    <rsc_colocation id="col-old" rsc="g" with-rsc="ms" score-attribute="s" rsc-role="Started"
      with-rsc-role="Master"/>
    <rsc_order id="ord-set"><resource_set id="os"/></rsc_order>
    <rsc_order id="ord-default" first="a" then="b" score="0"/>
    <rsc_order id="ord-first" first="a" then="b" first-action="promote"/>
  </constraints>
</configuration></cib>"""


def test_edge_cases() -> None:
    """Legacy <master>, property set precedence, sets and rules that are not moves."""
    info = parse_cib(EDGE)
    assert info.cluster_name == "main"
    assert info.properties["placement-strategy"] == "balanced"
    old = info.resources["ms_old"]
    assert old.kind is ResourceKind.PROMOTABLE
    assert old.meta == {"notify": "true"}
    assert info.resources["p_old"].params == {"drbd_resource": "r0"}
    assert info.resources["cl_plain"].kind is ResourceKind.CLONE
    assert info.resources["st"].agent == "stonith:fence_xvm"
    assert info.resources["tmpl_user"].agent is None
    assert info.resources["b"].kind is ResourceKind.BUNDLE
    assert info.resources["inner"].parent == "b"
    assert "tmpl" not in info.resources
    assert info.drbd_resources == {"p_old": "r0", "p_nodrbd_param": ""}
    assert [(m.id, m.node, m.kind, m.role) for m in info.move_constraints] == [
        ("cli-prefer-a", "n1", "prefer", "Promoted"),
        ("cli-ban-b-on-n1", "n1", "ban", "Unpromoted"),
    ]
    (colocation,) = info.colocations
    assert colocation.score == "s"
    assert colocation.resource_role == "Started"
    assert colocation.with_resource_role == "Promoted"
    default, first = info.orders
    assert (default.first_action, default.then_action, default.score) == ("start", "start", "0")
    assert default.kind is None
    assert (first.first_action, first.then_action) == ("promote", "promote")


def test_resources_scope() -> None:
    """--scope resources alone."""
    info = parse_cib(
        '<resources><primitive id="p" class="ocf" provider="heartbeat" type="IPaddr2"/></resources>'
    )
    assert info.resources["p"].agent == "ocf:heartbeat:IPaddr2"
    assert not info.has_constraints
    assert info.cluster_name is None


def test_deep_nesting_does_not_recurse() -> None:
    """Only clone > group > primitive nesting is followed, whatever the document holds."""
    depth = 20_000
    data = (
        "<resources>"
        + "".join(f'<group id="g{i}">' for i in range(depth))
        + "</group>" * depth
        + "</resources>"
    )
    info = parse_cib(data)
    assert list(info.resources) == ["g0"]
    assert info.resources["g0"].children == ()


def test_configuration_with_missing_sections() -> None:
    """Sections a configuration lacks stay empty."""
    info = parse_cib("<configuration><crm_config/></configuration>")
    assert info.properties == {}
    assert not info.has_constraints
    assert info.resources == {}


def test_empty_cluster_name_is_none() -> None:
    """An empty cluster-name property is no name."""
    info = parse_cib(
        '<crm_config><cluster_property_set id="x"><nvpair id="a" name="cluster-name" value=""/>'
        "</cluster_property_set></crm_config>"
    )
    assert info.cluster_name is None


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("<cib/>", "without <configuration>"),
        ("<status/>", "unexpected root"),
        ("<pacemaker-result/>", "unexpected root"),
        ('<!DOCTYPE cib [<!ENTITY a "b">]><cib/>', "DTD"),
        ("<cib><configuration>", "malformed"),
        ("", "malformed"),
    ],
)
def test_bad_input(data: str, match: str) -> None:
    """Malformed or unexpected input is a ParseError naming cibadmin."""
    with pytest.raises(ParseError, match=match) as err:
        parse_cib(data)
    assert err.value.command == "cibadmin"
