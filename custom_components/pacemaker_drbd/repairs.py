"""Fix flows for the fixable repair issues: a changed host key and a leftover move constraint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.helpers import issue_registry as ir

from .actions import async_clear_move_constraints
from .compat import RepairsFlowResult, vol
from .const import CONF_HOST_KEY, CONF_NODE_NAME, CONF_NODES, DEFAULT_PORT, DOMAIN, LOGGER
from .hacluster.errors import HAClusterError
from .hacluster.transport import HostKeyInfo, fetch_host_key, host_key_fingerprint

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant


class HostKeyRepairFlow(RepairsFlow):
    """Show the pinned and the presented host key fingerprints; re-pin only on confirmation."""

    def __init__(self, issue_id: str, entry_id: str, node: str) -> None:
        """Remember which entry and node the issue is about."""
        self._issue_id = issue_id
        self._entry_id = entry_id
        self._node = node
        self._info: HostKeyInfo | None = None

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Start with the confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Fetch the presented key, show both fingerprints, re-pin on confirmation."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        nodes: list[dict[str, Any]] = [dict(n) for n in entry.data[CONF_NODES]]
        node = next((n for n in nodes if n[CONF_NODE_NAME] == self._node), None)
        if node is None:
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id)
            return self.async_abort(reason="node_removed")
        if user_input is not None and self._info is not None:
            node[CONF_HOST_KEY] = self._info.public_key
            self.hass.config_entries.async_update_entry(
                entry, data={**entry.data, CONF_NODES: nodes}
            )
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id)
            LOGGER.info(
                "Pinned the new host key of node %s (%s)", self._node, self._info.fingerprint
            )
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
            return self.async_create_entry(data={})
        try:
            self._info = await fetch_host_key(
                node[CONF_HOST], int(node.get(CONF_PORT, DEFAULT_PORT))
            )
        except HAClusterError as err:
            LOGGER.debug("Cannot fetch the host key of %s: %s", self._node, err)
            return self.async_abort(
                reason="cannot_connect", description_placeholders={"node": self._node}
            )
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema({}),
            description_placeholders={
                "node": self._node,
                "host": str(node[CONF_HOST]),
                "old_fingerprint": host_key_fingerprint(node[CONF_HOST_KEY]),
                "new_fingerprint": self._info.fingerprint,
                "key_type": self._info.key_type,
            },
        )


class MoveConstraintRepairFlow(RepairsFlow):
    """Clear the move/ban constraints of one resource after confirmation."""

    def __init__(self, entry_id: str, resource: str) -> None:
        """Remember which entry and resource the issue is about."""
        self._entry_id = entry_id
        self._resource = resource

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Start with the confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Explain, and clear the constraints once the user confirms."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="not_loaded")
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                await async_clear_move_constraints(entry, self._resource)
            except HAClusterError as err:
                LOGGER.warning(
                    "Clearing the move constraints of %s failed: %s", self._resource, err
                )
                errors["base"] = "clear_failed"
            else:
                await entry.runtime_data.coordinator.async_refresh()
                return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema({}),
            errors=errors,
            description_placeholders={"resource": self._resource},
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Create the fix flow of a fixable issue."""
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    kind = issue.translation_key if issue is not None else None
    if data is not None and kind == "host_key_changed":
        return HostKeyRepairFlow(issue_id, str(data["entry_id"]), str(data["node"]))
    if data is not None and kind == "move_constraint":
        return MoveConstraintRepairFlow(str(data["entry_id"]), str(data["resource"]))
    return ConfirmRepairFlow()
