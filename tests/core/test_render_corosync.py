"""corosync.conf rendering: exact text, rings, quorum by node count, determinism."""

from __future__ import annotations

from typing import Any

from hacluster.provision import config_from_mapping
from hacluster.render import COROSYNC_LOGFILE, render_corosync_conf


def _cfg(**extra: Any) -> Any:
    nodes = [
        {"name": "a", "address": "10.0.0.1", "node_id": 1, "drbd_disk": "/dev/vdb"},
        {"name": "b", "address": "10.0.0.2", "node_id": 2, "drbd_disk": "/dev/vdb"},
    ]
    data: dict[str, Any] = {"nodes": nodes, "vip": {"address": "10.0.0.10"}}
    data.update(extra)
    return config_from_mapping(data)


def test_two_nodes_exact_text() -> None:
    assert render_corosync_conf(_cfg()) == (
        "totem {\n"
        "    version: 2\n"
        "    cluster_name: ha_cluster\n"
        "    transport: knet\n"
        "    crypto_cipher: aes256\n"
        "    crypto_hash: sha256\n"
        "}\n"
        "\n"
        "nodelist {\n"
        "    node {\n"
        "        ring0_addr: 10.0.0.1\n"
        "        name: a\n"
        "        nodeid: 1\n"
        "    }\n"
        "    node {\n"
        "        ring0_addr: 10.0.0.2\n"
        "        name: b\n"
        "        nodeid: 2\n"
        "    }\n"
        "}\n"
        "\n"
        "quorum {\n"
        "    provider: corosync_votequorum\n"
        "    two_node: 1\n"
        "}\n"
        "\n"
        "logging {\n"
        "    to_logfile: yes\n"
        f"    logfile: {COROSYNC_LOGFILE}\n"
        "    to_syslog: yes\n"
        "    timestamp: on\n"
        "}\n"
    )


def test_second_ring_token_and_three_nodes() -> None:
    nodes = [
        {
            "name": f"n{i}",
            "address": f"10.0.0.{i}",
            "ring1_address": f"10.1.0.{i}",
            "node_id": i,
            "drbd_disk": "/dev/vdb",
        }
        for i in (1, 2, 3)
    ]
    text = render_corosync_conf(
        _cfg(nodes=nodes, cluster={"name": "c3", "token": 1000}, drbd={"quorum": {}})
    )
    assert "    cluster_name: c3\n" in text
    assert "    token: 1000\n}\n" in text
    assert (
        "    node {\n"
        "        ring0_addr: 10.0.0.3\n"
        "        ring1_addr: 10.1.0.3\n"
        "        name: n3\n"
        "        nodeid: 3\n"
        "    }\n"
    ) in text
    assert "two_node" not in text
    assert "quorum {\n    provider: corosync_votequorum\n}\n" in text


def test_deterministic_with_trailing_newline() -> None:
    first, second = render_corosync_conf(_cfg()), render_corosync_conf(_cfg())
    assert first == second
    assert first.endswith("}\n")
    assert not first.endswith("\n\n")
