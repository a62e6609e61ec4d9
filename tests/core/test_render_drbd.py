"""DRBD resource file rendering: exact text, option sections, per-node disks, the path."""

from __future__ import annotations

from typing import Any

from hacluster.provision import config_from_mapping
from hacluster.render import drbd_resource_path, render_drbd_resource


def _cfg(disks: tuple[str, str] = ("/dev/vdb", "/dev/vdb"), **extra: Any) -> Any:
    nodes = [
        {"name": "a", "address": "10.0.0.1", "node_id": 1, "drbd_disk": disks[0]},
        {"name": "b", "address": "10.0.0.2", "node_id": 2, "drbd_disk": disks[1]},
    ]
    data: dict[str, Any] = {"nodes": nodes, "vip": {"address": "10.0.0.10"}}
    data.update(extra)
    return config_from_mapping(data)


def test_shared_disk_exact_text() -> None:
    cfg = _cfg()
    assert drbd_resource_path(cfg) == "/etc/drbd.d/home-assistant.res"
    assert render_drbd_resource(cfg) == (
        "resource home-assistant {\n"
        "    net {\n"
        "        protocol C;\n"
        "    }\n"
        "\n"
        "    device /dev/drbd0 minor 0;\n"
        "    disk /dev/vdb;\n"
        "    meta-disk internal;\n"
        "\n"
        "    on a {\n"
        "        node-id 0;\n"
        "        address 10.0.0.1:7788;\n"
        "    }\n"
        "\n"
        "    on b {\n"
        "        node-id 1;\n"
        "        address 10.0.0.2:7788;\n"
        "    }\n"
        "\n"
        "    connection-mesh {\n"
        "        hosts a b;\n"
        "    }\n"
        "}\n"
    )


def test_per_node_disks_quorum_and_extra_sections() -> None:
    cfg = _cfg(
        disks=("/dev/vdb", "/dev/sdc"),
        drbd={
            "resource": "r0",
            "device": "/dev/drbd_r0",
            "minor": 5,
            "port": 7000,
            "protocol": "B",
            "quorum": {"quorum": "all", "on_no_quorum": "suspend-io"},
            "options": {"auto-promote": "no"},
            "disk": {"al-extents": 6007},
        },
    )
    text = render_drbd_resource(cfg)
    assert drbd_resource_path(cfg) == "/etc/drbd.d/r0.res"
    assert text.startswith(
        "resource r0 {\n"
        "    options {\n"
        "        quorum all;\n"
        "        on-no-quorum suspend-io;\n"
        "        auto-promote no;\n"
        "    }\n"
        "\n"
        "    net {\n"
        "        protocol B;\n"
        "    }\n"
        "\n"
        "    disk {\n"
        "        al-extents 6007;\n"
        "    }\n"
        "\n"
        "    device /dev/drbd_r0 minor 5;\n"
        "    meta-disk internal;\n"
    )
    assert "\n    disk /dev/" not in text  # not at resource level ...
    assert "    on b {\n        node-id 1;\n        address 10.0.0.2:7000;\n" in text
    assert "        disk /dev/sdc;\n    }\n" in text  # ... but per node


def test_deterministic() -> None:
    assert render_drbd_resource(_cfg()) == render_drbd_resource(_cfg())
