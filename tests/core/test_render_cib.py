"""CIB rendering: the shared model, crm text quoting, XML escaping and optional parts."""

from __future__ import annotations

from typing import Any

from hacluster.provision import config_from_mapping
from hacluster.render import build_cib, render_cib_crm, render_cib_xml
from hacluster.render.cib import CIB_SCHEMA, CibPrimitive


def _cfg(**extra: Any) -> Any:
    nodes = [
        {"name": "a", "address": "10.0.0.1", "node_id": 1, "drbd_disk": "/dev/vdb"},
        {"name": "b", "address": "10.0.0.2", "node_id": 2, "drbd_disk": "/dev/vdb"},
    ]
    data: dict[str, Any] = {"nodes": nodes, "vip": {"address": "10.0.0.10"}}
    data.update(extra)
    return config_from_mapping(data)


def test_model_shape() -> None:
    model = build_cib(_cfg())
    assert model.nodes == ((1, "a"), (2, "b"))
    assert [p.id for p in model.primitives] == [
        "p_drbd_home-assistant",
        "p_fs_home-assistant",
        "p_ip_home-assistant",
        "p_docker_home-assistant",
    ]
    assert model.clone.child.agent_parts == ("ocf", "linbit", "drbd")
    assert dict(model.clone.meta)["clone-max"] == "2"
    assert model.fencing == ()
    assert model.locations == ()
    assert model.properties == (("stonith-enabled", "false"),)
    assert model.op_defaults == ()
    assert CibPrimitive(id="f", agent="stonith:external/ssh").agent_parts == (
        "stonith",
        None,
        "external/ssh",
    )


def test_crm_quoting_and_xml_escaping() -> None:
    cfg = _cfg(
        application={
            "ocf": {
                "agent": "ocf:acme:app",
                "params": {"plain": "a/b:c=d", "spaced": "x y", "tricky": 'q"<&>\\', "empty": ""},
            }
        }
    )
    crm = render_cib_crm(cfg)
    assert ('params plain=a/b:c=d spaced="x y" tricky="q\\"<&>\\\\" empty=""') in crm
    xml = render_cib_xml(cfg)
    assert 'name="tricky" value="q&quot;&lt;&amp;&gt;\\"' in xml
    assert 'name="empty" value=""' in xml


def test_resources_without_params_or_ops_and_ops_without_timeout() -> None:
    cfg = _cfg(
        application={"ocf": {"agent": "ocf:acme:app", "ops": []}},
        vip={"address": "10.0.0.10", "ops": [{"name": "monitor", "interval": "15s"}]},
        resource_defaults={},
    )
    crm = render_cib_crm(cfg)
    assert "primitive p_app_home-assistant ocf:acme:app\n" in crm
    assert "    op monitor interval=15s\n" in crm
    assert "rsc_defaults" not in crm
    assert "op_defaults" not in crm
    assert crm.endswith("property cib-bootstrap-options: \\\n    stonith-enabled=false\n")
    xml = render_cib_xml(cfg)
    assert '<primitive id="p_app_home-assistant" class="ocf" provider="acme" type="app"/>' in xml
    assert '<op id="p_ip_home-assistant-monitor-15s" name="monitor" interval="15s"/>' in xml
    assert "<rsc_defaults>" not in xml
    assert "<op_defaults>" not in xml


def test_fencing_properties_and_defaults() -> None:
    cfg = _cfg(
        stonith={
            "enabled": True,
            "devices": [
                {
                    "id": "fence_a",
                    "agent": "external/ssh",
                    "node": "a",
                    "params": {"hostlist": "a"},
                },
                {"id": "fence_all", "agent": "fence_watchdog"},
            ],
        },
        properties={"no-quorum-policy": "freeze"},
        operation_defaults={"timeout": "60s"},
        drbd={"mount_options": "noatime"},
        vip={"address": "10.0.0.10", "nic": "eth0"},
    )
    crm = render_cib_crm(cfg)
    assert (
        "primitive fence_a stonith:external/ssh \\\n"
        "    params hostlist=a pcmk_host_list=a \\\n"
        "    op monitor interval=60s timeout=20s\n"
    ) in crm
    assert "primitive fence_all stonith:fence_watchdog \\\n    op monitor" in crm
    assert "location l_fence_a_avoid_a fence_a -inf: a\n" in crm
    assert "l_fence_all" not in crm
    assert (
        "property cib-bootstrap-options: \\\n"
        "    stonith-enabled=true \\\n"
        "    no-quorum-policy=freeze\n"
    ) in crm
    assert crm.endswith("op_defaults op-options: \\\n    timeout=60s\n")
    assert (
        "params device=/dev/drbd0 directory=/mnt/home-assistant fstype=ext4 options=noatime" in crm
    )
    assert "params ip=10.0.0.10 cidr_netmask=24 nic=eth0" in crm
    xml = render_cib_xml(cfg)
    assert '<primitive id="fence_a" class="stonith" type="external/ssh">' in xml
    assert '<rsc_location id="l_fence_a_avoid_a" rsc="fence_a" score="-INFINITY" node="a"/>' in xml
    assert '<nvpair id="op-options-timeout" name="timeout" value="60s"/>' in xml


def test_xml_envelope_is_fixed_and_deterministic() -> None:
    xml = render_cib_xml(_cfg())
    assert xml.startswith(
        f'<cib validate-with="{CIB_SCHEMA}" admin_epoch="0" epoch="1" num_updates="0">\n'
        "  <configuration>\n"
        "    <crm_config>\n"
    )
    assert xml.endswith("  </configuration>\n  <status/>\n</cib>\n")
    assert xml == render_cib_xml(_cfg())
    assert render_cib_crm(_cfg()) == render_cib_crm(_cfg())


def test_docker_without_run_options() -> None:
    cfg = _cfg(application={"docker": {"run_options": [], "volumes": [], "image": "nginx"}})
    crm = render_cib_crm(cfg)
    assert "params image=nginx name=home-assistant \\\n" in crm
    assert "run_opts" not in crm
