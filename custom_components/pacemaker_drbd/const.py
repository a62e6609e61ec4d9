"""Constants of the Pacemaker & DRBD Cluster integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "pacemaker_drbd"
LOGGER = logging.getLogger(__package__)

# Config entry data
CONF_NODES: Final = "nodes"
CONF_HOST_KEY: Final = "host_key"
CONF_PRIVATE_KEY: Final = "private_key"
CONF_PASSPHRASE: Final = "passphrase"  # noqa: S105 - a key name
CONF_USE_SUDO: Final = "use_sudo"
CONF_CLUSTER_NAME: Final = "cluster_name"
CONF_NODE_NAME: Final = "name"

# Options
CONF_APPLICATION: Final = "application"
DEFAULT_PORT: Final = 22
DEFAULT_SCAN_INTERVAL: Final = 15
MIN_SCAN_INTERVAL: Final = 5
MAX_SCAN_INTERVAL: Final = 3600

# Events on the bus
EVENT_FAILOVER: Final = f"{DOMAIN}_failover"
EVENT_SPLIT_BRAIN: Final = f"{DOMAIN}_split_brain"
EVENT_NODE_STATE: Final = f"{DOMAIN}_node_state"

# Repair issue kinds (the issue id is f"{entry_id}_{kind}[_{subject}]")
ISSUE_SPLIT_BRAIN: Final = "split_brain"
ISSUE_FENCING_DISABLED: Final = "fencing_disabled"
ISSUE_MOVE_CONSTRAINT: Final = "move_constraint"
ISSUE_HOST_KEY_CHANGED: Final = "host_key_changed"
ISSUE_STACK_NOT_RUNNING: Final = "stack_not_running"

# Actions (services; the names are the core's ActionKind values)
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_NODE: Final = "node"
ATTR_TARGET: Final = "target"
ATTR_RESOURCE: Final = "resource"
ATTR_WAIT: Final = "wait"
ATTR_FORCE: Final = "force"
ATTR_ENABLED: Final = "enabled"

# Reported after an action that stopped this Home Assistant instance (or sent without waiting)
EVENT_ACTION_COMPLETED: Final = f"{DOMAIN}_action_completed"
ISSUE_ACTION_FAILED: Final = "action_failed"
