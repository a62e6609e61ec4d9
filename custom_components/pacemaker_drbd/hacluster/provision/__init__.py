"""Provisioning: turn one YAML cluster description into a running cluster.

This package holds the pure half: :mod:`.config` (the typed description, its loader and checks).
The renderers live in :mod:`hacluster.render`.
"""

from __future__ import annotations

from .config import (
    Application,
    ApplicationKind,
    ClusterConfig,
    CorosyncSettings,
    DockerApplication,
    DrbdQuorum,
    DrbdSettings,
    FenceDevice,
    FirewallPort,
    Node,
    OcfApplication,
    Operation,
    ResourceIds,
    SshSettings,
    StonithSettings,
    VirtualIp,
    config_from_mapping,
    load_config,
    load_config_file,
    validate_config,
)

__all__ = [
    "Application",
    "ApplicationKind",
    "ClusterConfig",
    "CorosyncSettings",
    "DockerApplication",
    "DrbdQuorum",
    "DrbdSettings",
    "FenceDevice",
    "FirewallPort",
    "Node",
    "OcfApplication",
    "Operation",
    "ResourceIds",
    "SshSettings",
    "StonithSettings",
    "VirtualIp",
    "config_from_mapping",
    "load_config",
    "load_config_file",
    "validate_config",
]
