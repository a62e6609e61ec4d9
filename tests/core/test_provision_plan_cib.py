"""The CIB merge: our sections in, Pacemaker's and the operator's kept; diffs, patch summaries."""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess
from xml.etree.ElementTree import Element, SubElement

import pytest

from hacluster.errors import ParseError
from hacluster.provision import load_config_file
from hacluster.provision.cib import (
    config_diff,
    config_lines,
    desired_cib,
    foreign_ids,
    parse_cib_text,
    same_configuration,
    seed_cib,
    serialize,
    summarize_patch,
)
from hacluster.provision.config import ClusterConfig
from hacluster.render import render_cib_xml

ROOT = Path(__file__).resolve().parents[2]
LAB = load_config_file(ROOT / "scripts" / "examples" / "lab-cluster.yaml")
REFERENCE = load_config_file(ROOT / "scripts" / "examples" / "reference-cluster.yaml")
HEALTHY = ROOT / "tests" / "core" / "fixtures" / "pacemaker" / "healthy.cib.xml"

LIVE = """<cib crm_feature_set="3.16.2" validate-with="pacemaker-3.9" epoch="7" num_updates="3"
 admin_epoch="0" dc-uuid="1">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-have-watchdog" name="have-watchdog" value="false"/>
        <nvpair id="cib-bootstrap-options-dc-version" name="dc-version" value="2.1.5"/>
        <nvpair id="cib-bootstrap-options-cluster-infrastructure" name="cluster-infrastructure"
          value="corosync"/>
        <nvpair id="cib-bootstrap-options-no-quorum-policy" name="no-quorum-policy"
          value="ignore"/>
        <nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" value="true"/>
        <nvpair id="cib-bootstrap-options-maintenance-mode" name="maintenance-mode" value="true"/>
      </cluster_property_set>
      <cluster_property_set id="other-set">
        <nvpair id="other-set-x" name="x" value="1"/>
      </cluster_property_set>
    </crm_config>
    <nodes>
      <node id="1" uname="ha-0">
        <instance_attributes id="nodes-1">
          <nvpair id="nodes-1-standby" name="standby" value="on"/>
        </instance_attributes>
      </node>
    </nodes>
    <resources>
      <primitive id="p_old" class="ocf" provider="heartbeat" type="Dummy"/>
    </resources>
    <constraints>
      <rsc_location id="cli-prefer-g_home-assistant" rsc="g_home-assistant" node="ha-1"
        score="INFINITY"/>
      <rsc_location id="l_old" rsc="p_old" node="ha-1" score="100"/>
    </constraints>
    <rsc_defaults>
      <meta_attributes id="rsc-options">
        <nvpair id="rsc-options-resource-stickiness" name="resource-stickiness" value="1"/>
      </meta_attributes>
      <meta_attributes id="other-defaults">
        <nvpair id="other-defaults-x" name="x" value="1"/>
      </meta_attributes>
    </rsc_defaults>
    <op_defaults>
      <meta_attributes id="op-options">
        <nvpair id="op-options-timeout" name="timeout" value="1s"/>
      </meta_attributes>
    </op_defaults>
  </configuration>
  <status><node_state id="1" uname="ha-0"/></status>
</cib>
"""


def need(element: Element | None) -> Element:
    """The element (the test fails when it is missing)."""
    assert element is not None
    return element


def props(root: Element, set_id: str = "cib-bootstrap-options") -> dict[str, str]:
    found = need(root.find(f".//cluster_property_set[@id='{set_id}']"))
    return {nv.get("name", ""): nv.get("value", "") for nv in found.findall("nvpair")}


def test_merge_keeps_pacemaker_and_operator_state() -> None:
    live = parse_cib_text(LIVE)
    target = desired_cib(live, LAB)
    assert target.get("epoch") == "7"
    assert target.get("dc-uuid") == "1"
    assert target.find("status") is None
    assert live.find("status") is not None  # the input is not changed
    assert props(target) == {
        "have-watchdog": "false",
        "dc-version": "2.1.5",
        "cluster-infrastructure": "corosync",
        "stonith-enabled": "false",
        "maintenance-mode": "true",
        "dc-deadtime": "5s",
    }
    assert props(target, "other-set") == {"x": "1"}
    nodes = target.findall("configuration/nodes/node")
    assert [(n.get("id"), n.get("uname")) for n in nodes] == [("1", "ha-0"), ("2", "ha-1")]
    assert nodes[0].find("instance_attributes") is not None  # standby kept
    resources = [e.get("id") for e in need(target.find("configuration/resources"))]
    assert resources == ["ms_drbd_home-assistant", "g_home-assistant"]
    constraints = [e.get("id") for e in need(target.find("configuration/constraints"))]
    assert constraints == [
        "c_home-assistant_on_drbd",
        "o_drbd_before_home-assistant",
        "cli-prefer-g_home-assistant",
    ]
    defaults = need(target.find("configuration/rsc_defaults"))
    assert [m.get("id") for m in defaults] == ["rsc-options", "other-defaults"]
    assert need(defaults.find("*/nvpair")).get("value") == "100"
    assert target.find("configuration/op_defaults") is None  # ours has none, theirs was ours
    assert foreign_ids(live, target) == ("p_old", "l_old")


def test_merge_is_stable() -> None:
    once = desired_cib(parse_cib_text(LIVE), LAB)
    twice = desired_cib(once, LAB)
    assert serialize(once) == serialize(twice)
    assert same_configuration(once, twice)
    assert foreign_ids(once, twice) == ()


def test_merge_into_an_empty_and_a_sparse_cib() -> None:
    empty = parse_cib_text(
        '<cib validate-with="pacemaker-3.9" epoch="1" admin_epoch="0" num_updates="0">'
        "<configuration><crm_config/><nodes/><resources/><constraints/></configuration>"
        "<status/></cib>"
    )
    target = desired_cib(empty, LAB)
    assert props(target) == {"stonith-enabled": "false", "dc-deadtime": "5s"}
    assert [n.get("uname") for n in target.iter("node")] == ["ha-0", "ha-1"]
    sparse = parse_cib_text("<cib><configuration/></cib>")
    assert same_configuration(desired_cib(sparse, LAB), target)
    bare = parse_cib_text("<cib/>")
    assert same_configuration(desired_cib(bare, LAB), target)
    # with no live CIB at all, the rendered one (without status)
    rendered = desired_cib(None, LAB)
    assert rendered.find("status") is None
    assert same_configuration(rendered, parse_cib_text(render_cib_xml(LAB)))
    assert foreign_ids(None, rendered) == ()


def test_merge_without_our_defaults_removes_only_our_set() -> None:
    from dataclasses import replace

    cfg = replace(LAB, resource_defaults=(), operation_defaults=(("timeout", "30s"),))
    target = desired_cib(parse_cib_text(LIVE), cfg)
    assert [m.get("id") for m in need(target.find("configuration/rsc_defaults"))] == [
        "other-defaults"
    ]
    op = need(target.find("configuration/op_defaults/meta_attributes"))
    assert op.get("id") == "op-options"
    assert need(op.find("nvpair")).get("value") == "30s"
    # a section that only had our set disappears with it
    only_ours = parse_cib_text(LIVE.replace(
        '<meta_attributes id="other-defaults">\n        <nvpair id="other-defaults-x" name="x" '
        'value="1"/>\n      </meta_attributes>', ""))  # fmt: skip
    target = desired_cib(only_ours, cfg)
    assert target.find("configuration/rsc_defaults") is None
    # live without the section gets ours appended
    none = parse_cib_text("<cib><configuration/></cib>")
    assert desired_cib(none, cfg).find("configuration/op_defaults") is not None


def test_duplicate_property_in_the_live_set_is_dropped() -> None:
    live = parse_cib_text(LIVE)
    props_set = need(live.find(".//cluster_property_set[@id='cib-bootstrap-options']"))
    SubElement(props_set, "nvpair", {"id": "dup", "name": "stonith-enabled", "value": "true"})
    target = desired_cib(live, LAB)
    names = [nv.get("name") for nv in target.iter("nvpair") if nv.get("name") == "stonith-enabled"]
    assert names == ["stonith-enabled"]


def test_recorded_pacemaker_cib_merges() -> None:
    live = parse_cib_text(HEALTHY.read_bytes())
    target = desired_cib(live, REFERENCE)
    diff = config_diff(live, target, live_label="live CIB (ha-0)")
    assert diff[:2] == ["--- live CIB (ha-0)", "+++ rendered"]
    assert foreign_ids(live, target) == ()


def test_config_lines_sort_attributes_with_id_first() -> None:
    root = parse_cib_text(
        '<cib><configuration><resources><primitive type="T" id="p" class="ocf">text'
        "</primitive></resources></configuration></cib>"
    )
    assert config_lines(root) == [
        "<resources>",
        '  <primitive id="p" class="ocf" type="T">text',
    ]
    assert config_lines(None) == []
    assert config_lines(parse_cib_text("<cib/>")) == []


def test_parse_cib_text_refuses_other_documents() -> None:
    with pytest.raises(ParseError, match="expected <cib>"):
        parse_cib_text("<configuration/>")
    with pytest.raises(ParseError):
        parse_cib_text("<cib")


def test_summarize_v1_patch() -> None:
    patch = """<diff crm_feature_set="3.16.1" format="1">
  <diff-removed>
    <cib>
      <configuration>
        <resources>
          <group id="g">
            <primitive id="p_ip">
              <instance_attributes id="p_ip-ia">
                <nvpair id="p_ip-ia-ip" value="198.18.0.10"/>
              </instance_attributes>
            </primitive>
            <primitive id="p_old" class="ocf" __crm_diff_marker__="removed:top"><x/></primitive>
          </group>
        </resources>
      </configuration>
    </cib>
  </diff-removed>
  <diff-added>
    <cib validate-with="pacemaker-3.7">
      <configuration>
        <resources>
          <group id="g">
            <primitive id="p_ip" class="ocf" provider="heartbeat" type="IPaddr2">
              <instance_attributes id="p_ip-ia">
                <nvpair id="p_ip-ia-ip" name="ip" value="198.18.0.11"/>
              </instance_attributes>
            </primitive>
          </group>
          <primitive id="p_new" class="ocf" __crm_diff_marker__="added:top"/>
        </resources>
      </configuration>
    </cib>
  </diff-added>
</diff>"""
    assert summarize_patch(patch) == [
        "- /cib/configuration/resources/group[@id='g']/primitive[@id='p_ip']/"
        "instance_attributes[@id='p_ip-ia']/nvpair[@id='p_ip-ia-ip']: value=198.18.0.10",
        "- /cib/configuration/resources/group[@id='g']/primitive[@id='p_old'] (whole element)",
        "+ /cib/configuration/resources/group[@id='g']/primitive[@id='p_ip']/"
        "instance_attributes[@id='p_ip-ia']/nvpair[@id='p_ip-ia-ip']: name=ip, value=198.18.0.11",
        "+ /cib/configuration/resources/primitive[@id='p_new'] (whole element)",
    ]
    assert summarize_patch('<diff format="1"/>') == []


def test_summarize_v2_patch() -> None:
    patch = """<diff format="2">
  <change operation="modify" path="/cib/configuration/x/nvpair[@id='ip']">
    <change-list>
      <change-attr name="value" operation="set" value="198.18.0.11"/>
      <change-attr name="old" operation="unset"/>
    </change-list>
  </change>
  <change operation="create" path="/cib/configuration/resources" position="1">
    <primitive id="p_new" class="ocf"/>
  </change>
  <change operation="delete" path="/cib/configuration/resources/primitive[@id='p_old']"/>
</diff>"""
    assert summarize_patch(patch) == [
        "modify /cib/configuration/x/nvpair[@id='ip'] value=198.18.0.11, -old",
        "create /cib/configuration/resources/primitive[@id='p_new']",
        "delete /cib/configuration/resources/primitive[@id='p_old']",
    ]


@pytest.mark.skipif(shutil.which("crm_verify") is None, reason="crm_verify (pacemaker-cli-utils)")
@pytest.mark.parametrize("cfg", [LAB, REFERENCE], ids=["lab", "reference"])
def test_seed_and_merged_cibs_pass_crm_verify(cfg: ClusterConfig, tmp_path: Path) -> None:
    seed = tmp_path / "seed.xml"
    seed.write_text(seed_cib(cfg))
    root = parse_cib_text(seed.read_text())
    assert list(need(root.find("configuration/resources"))) == []
    assert list(need(root.find("configuration/constraints"))) == []
    assert props(root)["stonith-enabled"] == "false"
    merged = tmp_path / "merged.xml"
    target = desired_cib(parse_cib_text(LIVE.replace("p_old", "p_gone")), cfg)
    SubElement(target, "status")
    merged.write_text(serialize(target))
    broken = tmp_path / "broken.xml"  # negative control: crm_verify does check
    broken.write_text(serialize(target).replace('type="IPaddr2"', 'type="IPaddr2" bogus="1"'))
    assert (
        subprocess.run(
            ["crm_verify", "--xml-file", str(broken)], capture_output=True, check=False, timeout=60
        ).returncode
        != 0
    )
    for path in (seed, merged):
        done = subprocess.run(
            ["crm_verify", "--xml-file", str(path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
