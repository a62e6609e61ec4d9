"""A fake ``hass`` object for the card, to render states the lab cannot show on demand.

The card runs in the real frontend page (the real Chromium, the real HA theme variables, the
file the integration serves); only the ``hass`` object it is given is built here: the entity and
device registries, states, services and a ``callWS`` that records what the card sends and answers
service calls as the test says (success, or a ServiceValidationError as Home Assistant sends it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SERVICES_YAML = (
    Path(__file__).resolve().parents[2] / "custom_components" / "pacemaker_drbd" / "services.yaml"
)
ENTRY_ID = "01TESTENTRY0000000000000000"
CLUSTER_UID = "ha_cluster_1a2b3c"

TRANSLATIONS = {
    "online": "Online",
    "standby": "Standby",
    "maintenance": "Maintenance",
    "offline": "Offline",
    "unclean": "Unclean",
    "primary": "Primary",
    "secondary": "Secondary",
    "uptodate": "UpToDate",
    "outdated": "Outdated",
    "inconsistent": "Inconsistent",
    "diskless": "Diskless",
    "dunknown": "DUnknown",
    "connected": "Connected",
    "connecting": "Connecting",
    "standalone": "StandAlone",
    "established": "Established",
    "syncsource": "SyncSource",
    "synctarget": "SyncTarget",
    "on": "On",
    "off": "Off",
}

# Built in the page: a hass object around the scenario, the card (class "test") on top.
MOUNT_JS = """
([scn, config]) => {
  window.__calls = [];
  window.__answers = window.__answers || [];
  const hass = {
    entities: scn.entities,
    devices: scn.devices,
    states: scn.states,
    services: scn.services,
    user: { is_admin: true, name: "Test" },
    language: "en",
    formatEntityState: (s) => scn.translate[s.state] ?? s.state,
    callWS: (msg) => {
      window.__calls.push(msg);
      if (msg.type === "config/entity_registry/get_entries") {
        return Promise.resolve(Object.fromEntries(
          msg.entity_ids.map((id) => [id, { entity_id: id, unique_id: scn.unique_ids[id] }])));
      }
      if (msg.type === "config_entries/get") return Promise.resolve(scn.entries);
      if (msg.type === "call_service") {
        const answer = window.__answers.shift();
        if (answer && answer.error) return Promise.reject(answer.error);
        return Promise.resolve({ context: { id: "x" }, response: null });
      }
      return Promise.reject({ code: "unknown_command", message: msg.type });
    },
  };
  document.querySelectorAll(".pd-test").forEach((e) => e.remove());
  const holder = document.createElement("div");
  holder.className = "pd-test";
  holder.style.cssText = "position:fixed;top:8px;left:8px;z-index:99;padding:8px;"
    + "background:var(--primary-background-color);width:" + (scn.width || 480) + "px";
  const el = document.createElement("pacemaker-drbd-card");
  el.classList.add("test");
  el.setConfig(config);
  el.hass = hass;
  holder.appendChild(el);
  document.body.appendChild(holder);
  window.__card = el;
  window.__hass = hass;
  return true;
}
"""


def integration_services() -> dict[str, Any]:
    """The integration's actions as ``hass.services`` lists them (fields from services.yaml)."""
    doc: dict[str, Any] = yaml.safe_load(SERVICES_YAML.read_text())
    return {
        name: {"fields": spec.get("fields") or {}, "response": {"optional": True}}
        for name, spec in doc.items()
    }


class Scenario:
    """Registry entries and states of one fake cluster: a cluster device and node devices."""

    def __init__(self, nodes: tuple[str, ...] = ("ha-0", "ha-1"), resource: str = "r0") -> None:
        """A healthy cluster: the application on the first node, DRBD connected and UpToDate."""
        self.nodes = nodes
        self.resource = resource
        self.entities: dict[str, dict[str, Any]] = {}
        self.devices: dict[str, dict[str, Any]] = {
            "dev_cluster": {
                "id": "dev_cluster",
                "name": "ha_cluster",
                "name_by_user": None,
                "identifiers": [["pacemaker_drbd", CLUSTER_UID]],
                "config_entries": [ENTRY_ID],
                "via_device_id": None,
            }
        }
        self.states: dict[str, dict[str, Any]] = {}
        self.unique_ids: dict[str, str] = {}
        self.services: dict[str, Any] = {"pacemaker_drbd": integration_services()}
        active = nodes[0]
        self.add(
            "sensor.ha_cluster_active_node",
            None,
            "active_node",
            active,
            {"resource": "g_app", "running_on": [active]},
        )
        self.add("binary_sensor.ha_cluster_quorum", None, "quorum", "on")
        self.add("binary_sensor.ha_cluster_fencing", None, "fencing", "off", {"nodes": 2})
        self.add("binary_sensor.ha_cluster_maintenance_mode", None, "maintenance_mode", "off")
        self.add("binary_sensor.ha_cluster_stack", None, "stack_running", "on")
        self.add(
            "binary_sensor.ha_cluster_move_constraint",
            None,
            "move_constraint",
            "off",
            {"constraints": []},
        )
        self.add(
            "sensor.ha_cluster_failed_actions", None, "failed_actions", "0", {"failed_actions": []}
        )
        self.add(
            f"binary_sensor.ha_cluster_drbd_{resource}_split_brain",
            None,
            "split_brain",
            "off",
            {"evidence": [], "nodes": []},
            extra=resource,
        )
        for node in nodes:
            device = f"dev_{node}"
            self.devices[device] = {
                "id": device,
                "name": node,
                "name_by_user": None,
                "identifiers": [["pacemaker_drbd", f"{CLUSTER_UID}_{node}"]],
                "config_entries": [ENTRY_ID],
                "via_device_id": "dev_cluster",
            }
            slug = node.replace("-", "_")
            self.add(
                f"sensor.{slug}_state",
                node,
                "node_state",
                "online",
                {"is_dc": node == nodes[-1], "node_id": "1"},
            )
            self.add(
                f"binary_sensor.{slug}_reachable",
                node,
                "reachable",
                "on",
                {"host": node, "error": None},
            )
            role = "primary" if node == active else "secondary"
            self.add(f"sensor.{slug}_drbd_{resource}_role", node, "drbd_role", role, extra=resource)
            self.add(
                f"sensor.{slug}_drbd_{resource}_disk",
                node,
                "drbd_disk_state",
                "uptodate",
                extra=resource,
            )
            for peer in nodes:
                if peer == node:
                    continue
                pslug = peer.replace("-", "_")
                base = f"{slug}_drbd_{resource}_{pslug}"
                extra = f"{resource}_{peer}"
                self.add(
                    f"sensor.{base}_connection",
                    node,
                    "drbd_connection_state",
                    "connected",
                    extra=extra,
                )
                self.add(
                    f"sensor.{base}_peer_disk",
                    node,
                    "drbd_peer_disk_state",
                    "uptodate",
                    extra=extra,
                )
                self.add(
                    f"sensor.{base}_replication",
                    node,
                    "drbd_replication_state",
                    "established",
                    extra=extra,
                )
                self.add(
                    f"sensor.{base}_resync",
                    node,
                    "drbd_resync",
                    "unknown",
                    {"eta_seconds": None},
                    extra=extra,
                )

    def add(
        self,
        entity_id: str,
        node: str | None,
        key: str,
        state: str,
        attributes: dict[str, Any] | None = None,
        *,
        extra: str | None = None,
    ) -> None:
        """One entity: registry display entry, unique id as the integration builds it, state."""
        device = f"dev_{node}" if node else "dev_cluster"
        self.entities[entity_id] = {
            "entity_id": entity_id,
            "device_id": device,
            "platform": "pacemaker_drbd",
            "translation_key": key,
        }
        parts = [CLUSTER_UID, *([node] if node else []), *([extra] if extra else []), key]
        self.unique_ids[entity_id] = "_".join(parts)
        self.states[entity_id] = {
            "entity_id": entity_id,
            "state": state,
            "attributes": {"friendly_name": entity_id, **(attributes or {})},
        }

    def set(self, entity_id: str, state: str, **attributes: Any) -> Scenario:
        """Change a state (and attributes)."""
        current = self.states[entity_id]
        current["state"] = state
        current["attributes"].update(attributes)
        return self

    def all_unavailable(self) -> Scenario:
        """Every entity unavailable (the entry cannot read the cluster)."""
        for entity_id in self.states:
            self.states[entity_id]["state"] = "unavailable"
        return self

    def to_js(self, width: int = 480) -> dict[str, Any]:
        """The scenario as the page's mount function takes it."""
        return {
            "entities": self.entities,
            "devices": self.devices,
            "states": self.states,
            "services": self.services,
            "unique_ids": self.unique_ids,
            "translate": TRANSLATIONS,
            "entries": [{"entry_id": ENTRY_ID, "title": "ha_cluster", "state": "loaded"}],
            "width": width,
        }
