"""The YAML cluster description: loading, defaults, shape errors, value checks and warnings."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from hacluster.errors import ConfigError
from hacluster.provision import (
    ApplicationKind,
    ClusterConfig,
    DockerApplication,
    OcfApplication,
    Operation,
    config_from_mapping,
    load_config,
    load_config_file,
    validate_config,
)
from hacluster.provision.config import _seconds

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "scripts" / "examples" / "reference-cluster.yaml"
LAB = ROOT / "scripts" / "examples" / "lab-cluster.yaml"
THREE_NODE = ROOT / "tests" / "core" / "fixtures" / "render" / "configs" / "three-node.yaml"


def base() -> dict[str, Any]:
    """The smallest valid description: two nodes and a VIP; everything else defaults."""
    return {
        "nodes": [
            {"name": "ha-0", "address": "192.168.222.30", "node_id": 1, "drbd_disk": "/dev/sdb"},
            {"name": "ha-1", "address": "192.168.222.31", "node_id": 2, "drbd_disk": "/dev/sdb"},
        ],
        "vip": {"address": "192.168.222.10"},
    }


def error_of(data: object) -> str:
    """The ConfigError message ``data`` produces."""
    with pytest.raises(ConfigError) as info:
        config_from_mapping(data)
    return str(info.value)


def with_changes(**sections: Any) -> dict[str, Any]:
    data = base()
    data.update(copy.deepcopy(sections))
    return data


# -- the examples ----------------------------------------------------------------------------


def test_reference_example_is_the_reference_setup() -> None:
    cfg = load_config_file(REFERENCE)
    assert cfg.name == "ha_cluster"
    assert [(n.name, n.address, n.node_id, n.drbd_node_id, n.drbd_disk) for n in cfg.nodes] == [
        ("ha-0", "192.168.222.30", 1, 0, "/dev/sdb"),
        ("ha-1", "192.168.222.31", 2, 1, "/dev/sdb"),
    ]
    assert cfg.two_node
    assert not cfg.has_second_ring
    assert (cfg.vip.address, cfg.vip.netmask, cfg.vip.nic) == ("192.168.222.10", 24, None)
    d = cfg.drbd
    assert (d.resource, d.device, d.minor, d.port, d.protocol) == (
        "home-assistant",
        "/dev/drbd0",
        0,
        7788,
        "C",
    )
    assert (d.mount_point, d.filesystem, d.agent, d.quorum) == (
        "/mnt/home-assistant",
        "ext4",
        "ocf:linbit:drbd",
        None,
    )
    app = cfg.application
    assert isinstance(app, DockerApplication)
    assert app.kind is ApplicationKind.DOCKER
    assert app.agent == "ocf:heartbeat:docker"
    assert app.id == "p_docker_home-assistant"
    assert app.image == "ghcr.io/home-assistant/home-assistant:stable"
    assert app.run_opts == (
        "--privileged --network=host -e TZ=America/Los_Angeles "
        "-v /mnt/home-assistant:/config -v /run/dbus:/run/dbus:ro"
    )
    assert app.agent_params[:2] == (
        ("image", "ghcr.io/home-assistant/home-assistant:stable"),
        ("name", "home-assistant"),
    )
    assert cfg.stonith.enabled is False
    assert cfg.resource_defaults == ()  # the how-to sets no stickiness (see the example)
    assert cfg.ids.clone == "ms_drbd_home-assistant"
    assert cfg.ids.group == "g_home-assistant"
    assert [(p.port, p.protocol, p.purpose) for p in cfg.firewall_ports()] == [
        (5403, "udp", "corosync"),
        (5404, "udp", "corosync"),
        (5405, "udp", "corosync"),
        (7788, "tcp", "drbd"),
        (8123, "tcp", "application"),
    ]
    assert len(cfg.warnings) == 1
    assert cfg.warnings[0].startswith("stonith.enabled: fencing is disabled on a two-node cluster")


def test_defaults_follow_the_reference_setup() -> None:
    """Only nodes and the VIP given: the rest is the reference setup (minus the time zone)."""
    ref = load_config_file(REFERENCE)
    cfg = config_from_mapping(base())
    assert cfg.name == ref.name
    assert cfg.drbd == ref.drbd
    assert cfg.corosync == ref.corosync
    assert cfg.ids == ref.ids
    # the one default that is not the how-to's: stickiness keeps the group where it runs
    assert (cfg.resource_defaults, ref.resource_defaults) == (
        (("resource-stickiness", "100"),),
        (),
    )
    app = cfg.application
    assert isinstance(app, DockerApplication)
    assert app.run_opts == (
        "--privileged --network=host -v /mnt/home-assistant:/config -v /run/dbus:/run/dbus:ro"
    )
    assert app.container_name == "home-assistant"
    assert app.ports == (8123,)


def test_lab_example() -> None:
    cfg = load_config_file(LAB)
    assert [(n.name, n.address, n.drbd_disk) for n in cfg.nodes] == [
        ("ha-0", "198.18.0.30", "/dev/vdb"),
        ("ha-1", "198.18.0.31", "/dev/vdb"),
    ]
    assert (cfg.vip.address, cfg.vip.netmask, cfg.vip.nic) == ("198.18.0.10", 24, "eth0")
    app = cfg.application
    assert isinstance(app, OcfApplication)
    assert app.kind is ApplicationKind.OCF
    assert (app.agent, app.id, app.ports) == ("ocf:halab:app", "p_docker_home-assistant", (8123,))
    # no checkout path: ocf:halab:app finds lab/app/appd.py itself
    assert app.agent_params == (("directory", "/mnt/home-assistant"), ("port", "8123"))
    assert [(op.name, op.interval, op.timeout) for op in app.ops] == [
        ("start", "0s", "30s"),
        ("stop", "0s", "30s"),
        ("monitor", "10s", "20s"),
    ]
    assert cfg.nodes[0].ssh.key_file == "../../lab/keys/id_ed25519"  # beside the YAML file
    assert cfg.properties == (("dc-deadtime", "5s"),)
    assert cfg.drbd.agent == "ocf:linbit:drbd"


def test_three_node_fixture() -> None:
    cfg = load_config_file(THREE_NODE)
    assert cfg.warnings == ()
    assert not cfg.two_node
    assert cfg.has_second_ring
    assert cfg.node("n1").ssh_host == "n1.example.net"
    assert cfg.node("n2").ssh_host == "10.10.0.12"
    assert cfg.node("n1").ssh.port == 2222
    with pytest.raises(KeyError):
        cfg.node("n9")
    assert cfg.drbd.minor == 7
    assert cfg.drbd.net == (("max-buffers", "8000"), ("verify-alg", "sha256"))
    device = cfg.stonith.devices[0]
    assert device.agent == "external/ipmi"  # the stonith: prefix is optional
    assert device.agent_params[-1] == ("pcmk_host_list", "n1")
    # pcmk_host_list given explicitly is not doubled
    assert [k for k, _ in cfg.stonith.devices[2].agent_params].count("pcmk_host_list") == 1
    assert cfg.ids.group == "g_app"
    assert cfg.ids.order == "o_drbd_before_r_data"
    app = cfg.application
    assert isinstance(app, DockerApplication)
    assert app.params == (("reuse", "true"), ("force_kill", "false"))


def test_to_dict_is_json_safe_and_masks_fence_secrets() -> None:
    cfg = load_config_file(THREE_NODE)
    data = cfg.to_dict()
    text = json.dumps(data)
    assert "p@ss" not in text
    assert "secret" not in text
    assert data["stonith"]["devices"][0]["params"]["passwd"] == "***"
    assert data["stonith"]["devices"][0]["params"]["userid"] == "admin"
    assert data["nodes"][0]["ssh"]["key_file"] == "~/.ssh/cluster"
    assert data["drbd"]["quorum"] == {"quorum": "majority", "on_no_quorum": "suspend-io"}
    assert data["application"]["kind"] == "docker"
    assert data["two_node"] is False
    lab = load_config_file(LAB).to_dict()
    assert lab["application"]["kind"] == "ocf"
    assert lab["application"]["params"]["port"] == "8123"
    assert lab["application"]["ops"][0] == {"name": "start", "interval": "0s", "timeout": "30s"}
    assert lab["drbd"]["quorum"] is None
    json.dumps(lab)


def test_operation_to_dict() -> None:
    assert Operation(name="start").to_dict() == {"name": "start", "interval": "0s"}
    op = Operation(name="monitor", interval="29s", timeout="20s", role="Promoted")
    assert op.to_dict() == {
        "name": "monitor",
        "interval": "29s",
        "timeout": "20s",
        "role": "Promoted",
    }


def test_load_is_deterministic() -> None:
    text = REFERENCE.read_text()
    assert load_config(text) == load_config(text)


def test_validate_config_on_a_built_model() -> None:
    cfg = load_config_file(REFERENCE)
    assert validate_config(cfg) == cfg.warnings
    bad = ClusterConfig(
        name=cfg.name,
        nodes=cfg.nodes,
        drbd=cfg.drbd,
        vip=cfg.vip,
        application=cfg.application,
        ids=cfg.ids,
        properties=(("maintenance-mode", "true"),),
    )
    with pytest.raises(ConfigError, match=r"^properties\.maintenance-mode: cannot be set here"):
        validate_config(bad)


# -- reading: YAML and shape errors ----------------------------------------------------------


def test_unknown_key_with_suggestion() -> None:
    data = base()
    data["nodes"][1]["adress"] = data["nodes"][1].pop("address")
    assert error_of(data) == "nodes[1].adress: unknown key, did you mean 'address'?"


def test_unknown_key_without_suggestion_lists_the_keys() -> None:
    message = error_of(with_changes(vip={"address": "192.168.222.10", "zzz": 1}))
    assert message == "vip.zzz: unknown key, expected one of: address, netmask, nic, ops"


def test_unknown_top_level_key() -> None:
    assert error_of(with_changes(stonit={})) == "stonit: unknown key, did you mean 'stonith'?"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nodes: [", "not valid YAML: line 1, column 9: expected the node content"),
        ("a: 1\na: 2\n", "line 2: duplicate key 'a'"),
        ("- 1\n- 2\n", "the cluster description must be a mapping, not a list"),
        ("", "nodes: missing (list every cluster node)"),
        ("version: 2\n", "version: unsupported schema version 2 (this is 1)"),
    ],
)
def test_yaml_level_errors(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(text)
    assert str(info.value).startswith(expected)


def test_load_config_file_unreadable(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read the cluster description"):
        load_config_file(missing)


def _node(index: int, **changes: Any) -> dict[str, Any]:
    data = base()
    data["nodes"][index].update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"vip": {"address": "192.168.222.10"}}, "nodes: missing (list every cluster node)"),
        (with_changes(nodes=[]), "nodes: must be a non-empty list of nodes, not a list"),
        (with_changes(nodes={"a": 1}), "nodes: must be a non-empty list of nodes, not a mapping"),
        (with_changes(nodes=["ha-0"]), "nodes[0]: must be a mapping, not a string"),
        ({"nodes": base()["nodes"]}, "vip: missing (the virtual IP address clients use)"),
        (with_changes(vip={"netmask": 24}), "vip.address: missing"),
        (_node(0, node_id="1"), "nodes[0].node_id: must be a whole number, not a string"),
        (_node(0, node_id=True), "nodes[0].node_id: must be a whole number, not a boolean"),
        (_node(0, node_id=None), "nodes[0].node_id: missing (corosync node id, 1..65535)"),
        (_node(1, drbd_disk=None), "nodes[1].drbd_disk: missing"),
        (_node(0, name=7), "nodes[0].name: must be a string, not a number (quote it)"),
        (_node(0, ssh=[1]), "nodes[0].ssh: must be a mapping, not a list"),
        (_node(0, ssh={"prot": 22}), "nodes[0].ssh.prot: unknown key, did you mean 'port'?"),
        (with_changes(cluster={"ports": 5405}), "cluster.ports: must be a list of numbers"),
        (
            with_changes(cluster={"ports": ["x"]}),
            "cluster.ports[0]: must be a number, not a string",
        ),
        (with_changes(cluster={1: "x"}), "cluster: key 1 must be a string"),
        (with_changes(drbd={"device": "/dev/drbd_data"}), "drbd.minor: missing (required when"),
        (with_changes(drbd={"quorum": "majority"}), "drbd.quorum: must be a mapping, not a string"),
        (with_changes(drbd={"quorum": {"quorum": [1]}}), "drbd.quorum.quorum: must be a string,"),
        (with_changes(drbd={"net": ["x"]}), "drbd.net: must be a mapping, not a list"),
        (with_changes(drbd={"net": {1: "x"}}), "drbd.net: key 1 must be a string"),
        (with_changes(drbd={"net": {"a": 1.5}}), "drbd.net.a: must be a string, number or boolean"),
        (
            with_changes(drbd={"net": {"a": None}}),
            "drbd.net.a: must be a string, number or boolean",
        ),
        (with_changes(drbd={"ops": {"name": "start"}}), "drbd.ops: must be a list of operations"),
        (with_changes(drbd={"ops": [{"interval": "0s"}]}), "drbd.ops[0].name: missing"),
        (with_changes(drbd={"ops": [{"name": "x", "tmeout": 1}]}), "drbd.ops[0].tmeout: unknown"),
        (
            with_changes(application={"docker": {}, "ocf": {}}),
            "application: give either 'docker' or 'ocf', not both",
        ),
        (with_changes(application={"ocf": {}}), "application.ocf.agent: missing"),
        (
            with_changes(application={"docker": {"volumes": "/a:/b"}}),
            "application.docker.volumes: must be a list, not a string",
        ),
        (
            with_changes(application={"docker": {"run_options": [1]}}),
            "application.docker.run_options[0]: must be a string, not a number",
        ),
        (with_changes(stonith={"enabled": "no"}), "stonith.enabled: must be true or false"),
        (with_changes(stonith={"devices": {}}), "stonith.devices: must be a list, not a mapping"),
        (with_changes(stonith={"devices": [{"agent": "x"}]}), "stonith.devices[0].id: missing"),
        (with_changes(ids={"grp": "g"}), "ids.grp: unknown key, did you mean 'group'?"),
        (with_changes(properties=[1]), "properties: must be a mapping, not a list"),
        (with_changes(cluster=None), None),
    ],
)
def test_shape_errors(data: dict[str, Any], expected: str | None) -> None:
    if expected is None:
        assert config_from_mapping(data).name == "ha_cluster"
        return
    assert error_of(data).startswith(expected)


def test_yaml_scalars_become_strings() -> None:
    cfg = config_from_mapping(
        with_changes(properties={"symmetric-cluster": True, "batch-limit": 30, "x-y": False})
    )
    assert cfg.properties == (
        ("symmetric-cluster", "true"),
        ("batch-limit", "30"),
        ("x-y", "false"),
    )


def test_quorum_defaults_and_integer_quorum() -> None:
    data = load_config_file(THREE_NODE).to_dict()  # not used as input: just a sanity anchor
    assert data["drbd"]["quorum"]["quorum"] == "majority"
    cfg = config_from_mapping(with_changes(drbd={"quorum": {}}))
    assert cfg.drbd.quorum is not None
    assert (cfg.drbd.quorum.quorum, cfg.drbd.quorum.on_no_quorum) == ("majority", "io-error")
    cfg = config_from_mapping(with_changes(drbd={"quorum": {"quorum": 2}}))
    assert cfg.drbd.quorum is not None
    assert cfg.drbd.quorum.quorum == "2"


def test_yaml_booleans_in_drbd_settings() -> None:
    """YAML 1.1 turns unquoted no/off into false: DRBD gets its own words back."""
    text = (
        "nodes:\n"
        "  - {name: a, address: 10.0.0.1, node_id: 1, drbd_disk: /dev/vdb}\n"
        "  - {name: b, address: 10.0.0.2, node_id: 2, drbd_disk: /dev/vdb}\n"
        "vip: {address: 10.0.0.10}\n"
        "drbd:\n"
        "  quorum: {quorum: off}\n"
        "  options: {auto-promote: no}\n"
        "  net: {allow-two-primaries: yes}\n"
    )
    cfg = load_config(text)
    assert cfg.drbd.quorum is not None
    assert cfg.drbd.quorum.quorum == "off"
    assert cfg.drbd.options == (("auto-promote", "no"),)
    assert cfg.drbd.net == (("allow-two-primaries", "yes"),)


def test_firewall_port_to_dict() -> None:
    port = config_from_mapping(base()).firewall_ports()[-1]
    assert port.to_dict() == {"port": 8123, "protocol": "tcp", "purpose": "application"}


def test_named_drbd_device_with_minor() -> None:
    cfg = config_from_mapping(with_changes(drbd={"device": "/dev/drbd_data", "minor": 3}))
    assert (cfg.drbd.device, cfg.drbd.minor) == ("/dev/drbd_data", 3)


# -- validation: values and relations --------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_node(0, name="ha_0"), "nodes[0].name: 'ha_0' is not a valid host name (uname -n)"),
        (_node(1, name="ha-0"), "nodes[1].name: duplicate node name 'ha-0' (also nodes[0])"),
        (_node(1, node_id=1), "nodes[1].node_id: duplicate node id 1 (also nodes[0])"),
        (_node(0, node_id=70000), "nodes[0].node_id: 70000 is not a node id (1..65535)"),
        (_node(0, node_id=0), "nodes[0].node_id: 0 is not a node id (1..65535)"),
        (
            _node(0, node_id=40),
            "nodes[0].drbd_node_id: 39 is not a DRBD node id (0..31; it defaults to node_id - 1)",
        ),
        (_node(1, drbd_node_id=0), "nodes[1].drbd_node_id: duplicate DRBD node id 0"),
        (_node(0, drbd_disk="sdb"), "nodes[0].drbd_disk: 'sdb' is not a block device path"),
        (_node(1, address="192.168.222.30"), "nodes[1].address: 192.168.222.30 is already used"),
        (_node(0, address="ha-0.lan"), "nodes[0].address: 'ha-0.lan' is not an IP address"),
        (_node(0, address="fe80::1"), "nodes[0].address: fe80::1 is an IPv6 address"),
        (_node(0, address="127.0.0.1"), "nodes[0].address: 127.0.0.1 cannot be a cluster address"),
        (_node(0, address="224.0.0.1"), "nodes[0].address: 224.0.0.1 cannot be a cluster address"),
        (
            _node(0, ring1_address="10.0.0.1"),
            "nodes: either every node has a ring1_address or none does (missing on ha-1)",
        ),
        (
            _node(0, ring1_address="192.168.222.31"),
            "nodes[1].address: 192.168.222.31 is already used by nodes[0].ring1_address",
        ),
        (_node(0, ssh={"user": "Root"}), "nodes[0].ssh.user: 'Root' is not a valid user name"),
        (_node(0, ssh={"port": 0}), "nodes[0].ssh.port: 0 is not a port number (1..65535)"),
        (_node(0, ssh={"key_file": " "}), "nodes[0].ssh.key_file: must be a file path"),
        (_node(0, ssh={"known_hosts": "a\nb"}), "nodes[0].ssh.known_hosts: must be a file path"),
        (_node(0, ssh={"host": "bad host"}), "nodes[0].ssh.host: 'bad host' is not a host name"),
        (with_changes(cluster={"name": "ha cluster"}), "cluster.name: 'ha cluster' is not a valid"),
        (with_changes(cluster={"crypto_cipher": "AES"}), "cluster.crypto_cipher: 'AES' is not"),
        (with_changes(cluster={"crypto_hash": "sha-1"}), "cluster.crypto_hash: 'sha-1' is not"),
        (with_changes(cluster={"token": 50}), "cluster.token: 50 is not a token timeout in ms"),
        (with_changes(cluster={"ports": [70000]}), "cluster.ports[0]: 70000 is not a port number"),
        (with_changes(drbd={"resource": "home assistant"}), "drbd.resource: 'home assistant'"),
        (
            with_changes(drbd={"device": "/dev/sdc", "minor": 1}),
            "drbd.device: '/dev/sdc' is not a DRBD device",
        ),
        (with_changes(drbd={"device": "/dev/drbd1", "minor": 2}), "drbd.minor: 2 does not match"),
        (
            with_changes(drbd={"device": "/dev/drbd_x", "minor": 2_000_000}),
            "drbd.minor: 2000000 is not a DRBD minor",
        ),
        (with_changes(drbd={"port": 70000}), "drbd.port: 70000 is not a port number"),
        (with_changes(drbd={"protocol": "D"}), "drbd.protocol: 'D' is not a DRBD protocol"),
        (with_changes(drbd={"mount_point": "mnt/x"}), "drbd.mount_point: 'mnt/x' is not an abs"),
        (with_changes(drbd={"mount_point": "/"}), "drbd.mount_point: '/' must be a normalised"),
        (with_changes(drbd={"mount_point": "/mnt/x/"}), "drbd.mount_point: '/mnt/x/' must be"),
        (with_changes(drbd={"mount_point": "/mnt//x"}), "drbd.mount_point: '/mnt//x' must be"),
        (with_changes(drbd={"mount_point": "/mnt/../x"}), "drbd.mount_point: '/mnt/../x' must"),
        (with_changes(drbd={"mount_point": "/mnt/."}), "drbd.mount_point: '/mnt/.' must be"),
        (with_changes(drbd={"filesystem": "EXT4"}), "drbd.filesystem: 'EXT4' is not a file sys"),
        (with_changes(drbd={"mount_options": "a b"}), "drbd.mount_options: 'a b' is not a mount"),
        (with_changes(drbd={"agent": "linbit:drbd"}), "drbd.agent: 'linbit:drbd' is not an OCF"),
        (
            with_changes(drbd={"quorum": {"quorum": "most"}}),
            "drbd.quorum.quorum: 'most' is not majority, all, off or a node count (1..2)",
        ),
        (
            with_changes(drbd={"quorum": {"quorum": 3}}),
            "drbd.quorum.quorum: '3' is not majority, all, off or a node count (1..2)",
        ),
        (
            with_changes(drbd={"quorum": {"on_no_quorum": "panic"}}),
            "drbd.quorum.on_no_quorum: 'panic' is not io-error or suspend-io",
        ),
        (with_changes(drbd={"options": {"quorum": "majority"}}), "drbd.options.quorum: set drbd"),
        (with_changes(drbd={"net": {"protocol": "A"}}), "drbd.net.protocol: set drbd.protocol"),
        (with_changes(drbd={"disk": {"Bad": "1"}}), "drbd.disk.Bad: 'Bad' is not a DRBD option"),
        (with_changes(drbd={"disk": {"x": "a;b"}}), "drbd.disk.x: 'a;b' is not a plain DRBD"),
        (
            with_changes(drbd={"ops": [{"name": "begin"}]}),
            "drbd.ops[0].name: 'begin' is not an operation",
        ),
        (
            with_changes(drbd={"ops": [{"name": "start", "interval": "soon"}]}),
            "drbd.ops[0].interval: 'soon' is not a duration like 30s",
        ),
        (
            with_changes(drbd={"ops": [{"name": "start", "timeout": "1 min"}]}),
            "drbd.ops[0].timeout: '1 min' is not a duration like 30s",
        ),
        (
            with_changes(drbd={"ops": [{"name": "monitor", "interval": 10, "role": "Master"}]}),
            "drbd.ops[0].role: 'Master' is not a role (use 'Promoted')",
        ),
        (
            with_changes(drbd={"ops": [{"name": "monitor", "role": "Boss"}]}),
            "drbd.ops[0].role: 'Boss' is not a role (one of Promoted, Unpromoted,",
        ),
        (
            with_changes(
                drbd={
                    "filesystem_ops": [
                        {"name": "monitor", "interval": "30s", "role": "Promoted"},
                        {"name": "monitor", "interval": 30, "role": "Unpromoted"},
                    ]
                }
            ),
            "drbd.filesystem_ops[1]: a second 'monitor' operation with interval 30",
        ),
        (with_changes(vip={"address": "192.168.222.10", "netmask": 33}), "vip.netmask: 33 is not"),
        (with_changes(vip={"address": "192.168.222.10", "netmask": 0}), "vip.netmask: 0 is not"),
        (with_changes(vip={"address": "192.168.222.30"}), "vip.address: 192.168.222.30 is also"),
        (with_changes(vip={"address": "192.168.222.0"}), "vip.address: 192.168.222.0 is the net"),
        (with_changes(vip={"address": "192.168.222.255"}), "vip.address: 192.168.222.255 is the"),
        (with_changes(vip={"address": "10.9.9.9"}), "vip.address: 10.9.9.9/24 is not in the net"),
        (with_changes(vip={"address": "10.9.9.9.9"}), "vip.address: '10.9.9.9.9' is not an IP"),
        (
            with_changes(vip={"address": "192.168.222.10", "nic": "a very long nic name"}),
            "vip.nic: 'a very long nic name' is not a network interface name",
        ),
        (with_changes(application={"id": "9app"}), "application.id: '9app' is not a valid Pace"),
        (
            with_changes(application={"docker": {"image": "Bad Image"}}),
            "application.docker.image: 'Bad Image' is not a container image reference",
        ),
        (
            with_changes(application={"docker": {"container_name": "a"}}),
            "application.docker.container_name: 'a' is not a container name",
        ),
        (
            with_changes(application={"docker": {"run_options": ["-e A=b c"]}}),
            "application.docker.run_options[0]: '-e A=b c' is not one word",
        ),
        (
            with_changes(application={"docker": {"run_options": ["--name=x"]}}),
            "application.docker.run_options[0]: set container_name instead",
        ),
        (
            with_changes(application={"docker": {"env": {"1TZ": "x"}}}),
            "application.docker.env.1TZ: '1TZ' is not an environment variable name",
        ),
        (
            with_changes(application={"docker": {"env": {"TZ": "a*"}}}),
            "application.docker.env.TZ: 'a*' is not a value without blanks",
        ),
        (
            with_changes(application={"docker": {"volumes": ["/mnt/home-assistant"]}}),
            "application.docker.volumes[0]: '/mnt/home-assistant' is not HOST_PATH:CONTAINER_PATH",
        ),
        (
            with_changes(application={"docker": {"volumes": ["data:/config"]}}),
            "application.docker.volumes[0]: 'data:/config' is not HOST_PATH",
        ),
        (
            with_changes(application={"docker": {"params": {"name": "x"}}}),
            "application.docker.params.name: set container_name instead",
        ),
        (
            with_changes(application={"docker": {"params": {"-x": "1"}}}),
            "application.docker.params.-x: '-x' is not a valid parameter name",
        ),
        (
            with_changes(application={"docker": {"ports": [7788]}}),
            "application.docker.ports[0]: 7788 is also drbd.port",
        ),
        (
            with_changes(application={"docker": {"ports": [0]}}),
            "application.docker.ports[0]: 0 is not a port number",
        ),
        (
            with_changes(application={"ocf": {"agent": "systemd:app"}}),
            "application.ocf.agent: 'systemd:app' is not an OCF agent",
        ),
        (
            with_changes(application={"ocf": {"agent": "ocf:x:y", "params": {"a": "1\n2"}}}),
            "application.ocf.params.a: must not contain control characters",
        ),
        (
            with_changes(stonith={"enabled": True}),
            "stonith.devices: fencing is enabled but no fence device is configured",
        ),
        (
            with_changes(
                stonith={"enabled": True, "devices": [{"id": "f", "agent": "x y", "node": "ha-9"}]}
            ),
            "2 problems in the cluster description:\n"
            "- stonith.devices[0].agent: 'x y' is not a fence agent (fence_xxx)\n"
            "- stonith.devices[0].node: 'ha-9' is not one of the nodes",
        ),
        (
            with_changes(properties={"maintenance-mode": "false"}),
            "properties.maintenance-mode: can",
        ),
        (
            with_changes(properties={"stonith-enabled": "true"}),
            "properties.stonith-enabled: cannot",
        ),
        (
            with_changes(properties={"No_Quorum": "stop"}),
            "properties.No_Quorum: 'No_Quorum' is not",
        ),
        (with_changes(resource_defaults={"x": "a\tb"}), "resource_defaults.x: must not contain"),
        (with_changes(ids={"group": "g x"}), "ids.group: 'g x' is not a valid Pacemaker id"),
        (
            with_changes(application={"id": "g_home-assistant"}),
            "application.id: id 'g_home-assistant' is also used by ids.group",
        ),
        (
            with_changes(
                stonith={
                    "enabled": True,
                    "devices": [
                        {"id": "f0", "agent": "fence_x", "node": "ha-0"},
                        {"id": "l_f0_avoid_ha-0", "agent": "fence_x"},
                    ],
                }
            ),
            "stonith.devices[1].id: id 'l_f0_avoid_ha-0' is also used by stonith.devices[0].node",
        ),
    ],
)
def test_value_errors(data: dict[str, Any], expected: str) -> None:
    message = error_of(data)
    if message.startswith(expected):
        return
    assert "\n- " + expected in message, message


def test_node_count_limits() -> None:
    one = base()
    one["nodes"] = one["nodes"][:1]
    assert error_of(one).startswith("nodes: a cluster needs 2 to 32 nodes, not 1")
    many = base()
    many["nodes"] = [
        {"name": f"n{i}", "address": f"192.168.222.{100 + i}", "node_id": i, "drbd_disk": "/dev/x"}
        for i in range(1, 34)
    ]
    message = error_of(many)
    assert message.startswith("2 problems in the cluster description:\n")
    assert "- nodes: a cluster needs 2 to 32 nodes, not 33" in message
    assert "- nodes[32].drbd_node_id: 32 is not a DRBD node id (0..31;" in message


def test_every_error_is_reported_at_once() -> None:
    data = _node(1, name="ha-0", node_id=1)
    data["vip"]["netmask"] = 40
    message = error_of(data)
    assert message.splitlines() == [
        "4 problems in the cluster description:",
        "- nodes[1].name: duplicate node name 'ha-0' (also nodes[0])",
        "- nodes[1].node_id: duplicate node id 1 (also nodes[0])",
        "- nodes[1].drbd_node_id: duplicate DRBD node id 0 (also nodes[0])",
        "- vip.netmask: 40 is not a netmask length (1..32)",
    ]


def test_ssh_host_may_be_an_address() -> None:
    cfg = config_from_mapping(_node(0, ssh={"host": "10.1.1.1", "known_hosts": "/k"}))
    assert cfg.nodes[0].ssh_host == "10.1.1.1"
    assert cfg.nodes[0].ssh.known_hosts == "/k"


# -- warnings --------------------------------------------------------------------------------


def _three_nodes(**changes: Any) -> dict[str, Any]:
    data = with_changes(**changes)
    data["nodes"].append(
        {"name": "ha-2", "address": "192.168.222.32", "node_id": 3, "drbd_disk": "/dev/sdb"}
    )
    return data


def test_three_nodes_without_drbd_quorum_warn() -> None:
    cfg = config_from_mapping(_three_nodes())
    assert not cfg.two_node
    assert cfg.warnings == (
        "drbd.quorum: not set on a cluster of 3 nodes; DRBD quorum is recommended "
        "(quorum: majority, on_no_quorum: io-error)",
    )
    off = config_from_mapping(_three_nodes(drbd={"quorum": {"quorum": "off"}}))
    assert off.warnings[0].startswith("drbd.quorum: not set on a cluster of 3 nodes")
    quiet = config_from_mapping(_three_nodes(drbd={"quorum": {"quorum": 2}}))
    assert quiet.warnings == ()


def test_two_node_warnings() -> None:
    cfg = config_from_mapping(with_changes(drbd={"quorum": {}}))
    assert [w.split(":")[0] for w in cfg.warnings] == ["drbd.quorum", "stonith.enabled"]
    assert "use three nodes" in cfg.warnings[0]
    off = config_from_mapping(with_changes(drbd={"quorum": {"quorum": "off"}}))
    assert [w.split(":")[0] for w in off.warnings] == ["stonith.enabled"]


def test_fencing_warnings() -> None:
    device = {"id": "fence_ha-0", "agent": "fence_ipmilan", "node": "ha-0"}
    disabled = config_from_mapping(with_changes(stonith={"devices": [device]}))
    assert disabled.warnings[0] == (
        "stonith.enabled: fence devices are configured but fencing is disabled"
    )
    enabled = config_from_mapping(with_changes(stonith={"enabled": True, "devices": [device]}))
    assert enabled.warnings == ()


def test_vip_outside_the_subnet_with_a_nic_only_warns() -> None:
    cfg = config_from_mapping(with_changes(vip={"address": "10.9.9.9", "nic": "eth1"}))
    assert cfg.warnings[0] == (
        "vip.address: 10.9.9.9/24 is not in the network of ha-0, ha-1 (it will be added to eth1 "
        "anyway)"
    )


def test_docker_volume_off_the_replicated_disk_warns() -> None:
    cfg = config_from_mapping(with_changes(application={"docker": {"volumes": ["/srv:/config"]}}))
    assert any(
        w.startswith("application.docker.volumes: no volume is on the replicated")
        for w in cfg.warnings
    )
    nested = config_from_mapping(
        with_changes(application={"docker": {"volumes": ["/mnt/home-assistant/ha:/config"]}})
    )
    assert not any(w.startswith("application.docker.volumes") for w in nested.warnings)


def test_durations_compare_in_one_unit() -> None:
    assert _seconds("30") == _seconds("30s") == _seconds("30sec") == "30000ms"
    assert _seconds("1m") == _seconds("60s")
    assert _seconds("1h") == _seconds("60min")
    assert _seconds("500ms") == "500ms"
    assert _seconds("10us") == "10us"
    assert _seconds("soon") == "soon"
