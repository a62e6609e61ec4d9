"""Home Assistant side of the e2e tests: the lab as a config entry of the integration.

Shared by ``test_integration_lab.py`` and ``test_ha_control_lab.py`` (test modules cannot
import from ``conftest.py``; this directory is on ``sys.path`` like ``helpers_core``).
"""

# ruff: noqa: E402 - custom_components is imported after the repository is put on sys.path

from __future__ import annotations

from pathlib import Path
import sys
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `pytest` (unlike `python -m pytest`) does not add the rootdir
    sys.path.insert(0, str(REPO))

from homeassistant.const import CONF_USERNAME
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pacemaker_drbd.const import (
    CONF_CLUSTER_NAME,
    CONF_NODES,
    CONF_PRIVATE_KEY,
    CONF_USE_SUDO,
    DOMAIN,
)
from custom_components.pacemaker_drbd.entry_data import cluster_unique_id, node_data

if TYPE_CHECKING:
    from conftest import Lab


def lab_entry(
    lab: Lab, *, ports: dict[str, int] | None = None, options: dict[str, Any] | None = None
) -> MockConfigEntry:
    """The lab as a config entry: every node at its own address with its pinned host key, the
    lab's client key, no sudo (``ports`` overrides a node's SSH port)."""
    ids = {name: str(index + 1) for index, name in enumerate(lab.nodes)}
    ports = ports or {}
    cluster = lab.env["HALAB_CLUSTER_NAME"]
    return MockConfigEntry(
        domain=DOMAIN,
        title=cluster,
        unique_id=cluster_unique_id(cluster, [(ids[n], n) for n in lab.nodes]),
        data={
            CONF_NODES: [
                node_data(n, lab.addresses[n], ports.get(n, lab.ssh_port), lab.host_keys[n])
                for n in lab.nodes
            ],
            CONF_USERNAME: lab.ssh_user,
            CONF_PRIVATE_KEY: lab.client_key,
            CONF_USE_SUDO: False,
            CONF_CLUSTER_NAME: cluster,
        },
        options=options or {},
    )
