"""quality_scale.yaml, translations and icons are complete and consistent.

hassfest skips custom integrations, so these checks stand in for it.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass
import pytest
import yaml

from custom_components.pacemaker_drbd import const
from custom_components.pacemaker_drbd.binary_sensor import BINARY_SENSORS
from custom_components.pacemaker_drbd.config_flow import error_key
from custom_components.pacemaker_drbd.hacluster import errors
from custom_components.pacemaker_drbd.sensor import SENSORS

INTEGRATION = Path(__file__).resolve().parents[2] / "custom_components" / "pacemaker_drbd"
EN: dict[str, Any] = json.loads((INTEGRATION / "translations" / "en.json").read_text())
ICONS: dict[str, Any] = json.loads((INTEGRATION / "icons.json").read_text())

# The rules of the Integration Quality Scale, as listed by Home Assistant's
# script/hassfest/quality_scale.py (ALL_RULES; docs-conditions and docs-triggers are the newest).
RULES = {
    "bronze": [
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-conditions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "docs-triggers",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ],
    "silver": [
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ],
    "gold": [
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ],
    "platinum": ["async-dependency", "inject-websession", "strict-typing"],
}
ALL_RULES = {rule for rules in RULES.values() for rule in rules}
TIERS = ["bronze", "silver", "gold", "platinum"]


def _quality_scale() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text())
    return data["rules"]


def test_quality_scale_rules() -> None:
    """Only known rule ids, all of them present, a comment on every exemption and todo."""
    rules = _quality_scale()
    assert set(rules) <= ALL_RULES, set(rules) - ALL_RULES
    assert set(rules) == ALL_RULES, ALL_RULES - set(rules)
    for rule, value in rules.items():
        status = value if isinstance(value, str) else value["status"]
        assert status in {"done", "todo", "exempt"}, rule
        if status in {"exempt", "todo"}:
            assert isinstance(value, dict), rule
            assert str(value.get("comment", "")).strip(), f"{rule} needs a comment"


def test_manifest_tier_is_honest() -> None:
    """Every rule of the claimed tier and below is done or exempt."""
    manifest = json.loads((INTEGRATION / "manifest.json").read_text())
    tier = manifest["quality_scale"]
    rules = _quality_scale()
    for level in TIERS[: TIERS.index(tier) + 1]:
        for rule in RULES[level]:
            value = rules[rule]
            status = value if isinstance(value, str) else value["status"]
            assert status in {"done", "exempt"}, f"{tier}: {rule} is {status}"


def test_brand_images() -> None:
    """The brand icon the quality scale claims exists (PNG, square, 256 and 512 px)."""
    for name, size in (("icon.png", 256), ("icon@2x.png", 512)):
        data = (INTEGRATION / "brand" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert (width, height) == (size, size)


@pytest.mark.parametrize(
    ("platform", "descriptions"), [("sensor", SENSORS), ("binary_sensor", BINARY_SENSORS)]
)
def test_entity_translations(platform: str, descriptions: tuple[Any, ...]) -> None:
    """Every entity has a translated name; enum sensors translate exactly their options;
    every translation key has an icon."""
    names = EN["entity"][platform]
    icons = ICONS["entity"][platform]
    keys = {d.translation_key for d in descriptions}
    assert keys == set(names), keys ^ set(names)
    assert set(icons) <= keys
    assert keys <= set(icons), keys - set(icons)
    for description in descriptions:
        assert description.name is not None  # UNDEFINED: the name comes from translation_key
        entry = names[description.translation_key]
        placeholders = set(re.findall(r"{(\w+)}", entry["name"]))
        assert placeholders <= {"resource", "peer", "link"}
        if getattr(description, "device_class", None) is SensorDeviceClass.ENUM:
            assert set(entry["state"]) == set(description.options), description.key
            state_icons = set(icons[description.translation_key].get("state", {}))
            assert state_icons <= set(description.options), description.key


def test_exception_and_issue_translations() -> None:
    """Every translation_key raised or used for an issue is translated."""
    source = "\n".join(p.read_text() for p in INTEGRATION.glob("*.py"))
    raised = set(re.findall(r'translation_domain=DOMAIN,\s*translation_key="(\w+)"', source))
    assert raised
    assert raised <= set(EN["exceptions"]), raised - set(EN["exceptions"])
    kinds = {v for k, v in vars(const).items() if k.startswith("ISSUE_")}
    assert kinds == set(EN["issues"])
    for kind in ("move_constraint", "host_key_changed"):
        assert "confirm" in EN["issues"][kind]["fix_flow"]["step"]
    for kind in ("split_brain", "fencing_disabled", "stack_not_running"):
        assert EN["issues"][kind]["description"]


def test_config_errors_translated() -> None:
    """Every error the config flow can show exists in en.json, and every step is described."""
    classes = [
        errors.HostKeyError("x"),
        errors.AuthenticationError("x"),
        errors.ClusterTimeoutError("x"),
        errors.ClusterConnectionError("x"),
        errors.PermissionDeniedError("x"),
        errors.NotAClusterNodeError("x"),
        errors.HAClusterError("x"),
    ]
    keys = {error_key(e) for e in classes}
    assert keys == set(EN["config"]["error"])
    source = (INTEGRATION / "config_flow.py").read_text()
    steps = set(re.findall(r'step_id="(\w+)"', source)) - {"init"}
    steps |= {"auth_key", "auth_password"}
    assert "init" in EN["options"]["step"]
    assert steps <= set(EN["config"]["step"]), steps - set(EN["config"]["step"])
    reasons = set(re.findall(r'reason="(\w+)"', source))
    assert reasons <= set(EN["config"]["abort"])
