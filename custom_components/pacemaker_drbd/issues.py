"""Repair issues raised from what a poll shows (and from a changed host key).

Issue ids are ``{entry_id}_{kind}`` or ``{entry_id}_{kind}_{subject}``; each issue's ``data``
names the entry, so the fix flows in ``repairs.py`` know what to act on. Issues derived from a
poll are re-evaluated after every successful poll and deleted when their condition ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import (
    DOMAIN,
    ISSUE_FENCING_DISABLED,
    ISSUE_HOST_KEY_CHANGED,
    ISSUE_MOVE_CONSTRAINT,
    ISSUE_SPLIT_BRAIN,
    ISSUE_STACK_NOT_RUNNING,
)

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

    from .hacluster.client import ClusterSnapshot
    from .hacluster.models.drbd import SplitBrainVerdict

#: issue kinds that a poll re-evaluates
POLL_ISSUES = (
    ISSUE_SPLIT_BRAIN,
    ISSUE_FENCING_DISABLED,
    ISSUE_MOVE_CONSTRAINT,
    ISSUE_STACK_NOT_RUNNING,
)

FENCING_URL = "https://clusterlabs.org/pacemaker/doc/2.1/Pacemaker_Explained/html/fencing.html"


def issue_id(entry: ConfigEntry[Any], kind: str, subject: str | None = None) -> str:
    """The id of an issue of ``kind`` (about ``subject``) for ``entry``."""
    base = f"{entry.entry_id}_{kind}"
    return f"{base}_{subject}" if subject else base


def entry_issue_ids(hass: HomeAssistant, entry: ConfigEntry[Any]) -> list[str]:
    """Ids of every open issue of ``entry``."""
    prefix = f"{entry.entry_id}_"
    return [
        issue
        for (domain, issue) in ir.async_get(hass).issues
        if domain == DOMAIN and issue.startswith(prefix)
    ]


def host_key_issue_nodes(hass: HomeAssistant, entry: ConfigEntry[Any]) -> list[str]:
    """Nodes of ``entry`` with an open "host key changed" issue."""
    registry = ir.async_get(hass)
    nodes: list[str] = []
    for issue in entry_issue_ids(hass, entry):
        entry_issue = registry.async_get_issue(DOMAIN, issue)
        if (
            entry_issue is not None
            and entry_issue.translation_key == ISSUE_HOST_KEY_CHANGED
            and entry_issue.data is not None
        ):
            nodes.append(str(entry_issue.data["node"]))
    return sorted(nodes)


@callback
def async_create_host_key_issue(hass: HomeAssistant, entry: ConfigEntry[Any], node: str) -> None:
    """Open the fixable "host key changed" issue for ``node``."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(entry, ISSUE_HOST_KEY_CHANGED, node),
        is_fixable=True,
        is_persistent=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_HOST_KEY_CHANGED,
        translation_placeholders={"node": node, "cluster": entry.title},
        data={"entry_id": entry.entry_id, "node": node},
    )


@callback
def async_delete_entry_issues(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Delete every issue of ``entry`` (when it is removed)."""
    for issue in entry_issue_ids(hass, entry):
        ir.async_delete_issue(hass, DOMAIN, issue)


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines) if lines else "-"


def _split_brain_placeholders(
    snapshot: ClusterSnapshot, resource: str, verdict: SplitBrainVerdict
) -> dict[str, str]:
    """Which node holds which data: each node's DRBD role, disk and connections."""
    holders: list[str] = []
    for report in snapshot.nodes:
        if report.drbd is None or (res := report.drbd.resource(resource)) is None:
            continue
        conns = ", ".join(f"{c.name}: {c.connection_state}" for c in res.connections)
        holders.append(
            f"{report.name}: {res.role}, disk {res.disk_state}" + (f", {conns}" if conns else "")
        )
    return {
        "resource": resource,
        "nodes": ", ".join(verdict.peers) or "-",
        "evidence": _bullets(list(verdict.evidence)),
        "holders": _bullets(holders),
    }


def _wanted_issues(entry: ConfigEntry[Any], snapshot: ClusterSnapshot) -> dict[str, dict[str, Any]]:
    """The poll-derived issues that should be open now, by issue id."""
    wanted: dict[str, dict[str, Any]] = {}
    for resource, verdict in sorted(snapshot.split_brain.items()):
        if verdict.split_brain:
            wanted[issue_id(entry, ISSUE_SPLIT_BRAIN, resource)] = {
                "translation_key": ISSUE_SPLIT_BRAIN,
                "severity": ir.IssueSeverity.CRITICAL,
                "placeholders": _split_brain_placeholders(snapshot, resource, verdict),
            }
    view = snapshot.pacemaker
    if view is not None and view.stack_running:
        if not view.options.stonith_enabled and len(view.nodes) == 2:
            wanted[issue_id(entry, ISSUE_FENCING_DISABLED)] = {
                "translation_key": ISSUE_FENCING_DISABLED,
                "severity": ir.IssueSeverity.WARNING,
                "placeholders": {"cluster": entry.title},
                "learn_more_url": FENCING_URL,
            }
        by_resource: dict[str, list[str]] = {}
        for constraint in view.move_constraints:
            by_resource.setdefault(constraint.resource, []).append(
                f"{constraint.id} ({constraint.kind} {constraint.node})"
            )
        for resource, constraints in sorted(by_resource.items()):
            wanted[issue_id(entry, ISSUE_MOVE_CONSTRAINT, resource)] = {
                "translation_key": ISSUE_MOVE_CONSTRAINT,
                "severity": ir.IssueSeverity.WARNING,
                "placeholders": {"resource": resource, "constraints": ", ".join(constraints)},
                "fixable": True,
                "data": {"entry_id": entry.entry_id, "resource": resource},
            }
    for report in snapshot.nodes:
        own = report.pacemaker
        if report.reachable and own is not None and not own.stack_running:
            wanted[issue_id(entry, ISSUE_STACK_NOT_RUNNING, report.name)] = {
                "translation_key": ISSUE_STACK_NOT_RUNNING,
                "severity": ir.IssueSeverity.ERROR,
                "placeholders": {"node": report.name, "error": own.error or "-"},
            }
    return wanted


@callback
def async_update_issues(
    hass: HomeAssistant, entry: ConfigEntry[Any], snapshot: ClusterSnapshot
) -> None:
    """Open the issues the poll shows and delete the poll-derived ones that ended."""
    wanted = _wanted_issues(entry, snapshot)
    registry = ir.async_get(hass)
    for issue in entry_issue_ids(hass, entry):
        existing = registry.async_get_issue(DOMAIN, issue)
        if existing is not None and existing.translation_key in POLL_ISSUES and issue not in wanted:
            ir.async_delete_issue(hass, DOMAIN, issue)
    for issue, spec in wanted.items():
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue,
            is_fixable=spec.get("fixable", False),
            severity=spec["severity"],
            translation_key=spec["translation_key"],
            translation_placeholders=spec["placeholders"],
            learn_more_url=spec.get("learn_more_url"),
            data=spec.get("data"),
        )
