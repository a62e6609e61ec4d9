"""Diagnostics: the entry (credentials and pinned keys redacted) and the latest poll's models."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME

from .const import CONF_HOST_KEY, CONF_PASSPHRASE, CONF_PRIVATE_KEY
from .hacluster import __version__ as core_version
from .hacluster.commands import PROBE_COMMANDS
from .hacluster.errors import HAClusterError

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .coordinator import PacemakerDrbdConfigEntry

VERSION_COMMANDS = tuple(c for c in PROBE_COMMANDS if c.name.endswith("_version"))
"""``crm_mon --version``, ``drbdadm --version``, ``drbdsetup --version``, ``corosync -v``."""

TO_REDACT = frozenset(
    {CONF_PRIVATE_KEY, CONF_PASSPHRASE, CONF_PASSWORD, CONF_HOST_KEY, CONF_USERNAME}
)


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PacemakerDrbdConfigEntry
) -> dict[str, Any]:
    """Return the diagnostics of a loaded entry."""
    coordinator = entry.runtime_data.coordinator
    snapshot = coordinator.data
    nodes = snapshot.reachable
    versions = await asyncio.gather(*(_tool_versions(entry, node) for node in nodes))
    view = snapshot.pacemaker
    application = coordinator.application
    return {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "versions": {
            "hacluster": core_version,
            "pacemaker": view.dc_version if view is not None else None,
            "crm_mon_api": view.api_version if view is not None else None,
            "stack": view.stack_type if view is not None else None,
            "tools": dict(zip(nodes, versions, strict=True)),
        },
        "application": application.id if application is not None else None,
        "self": entry.runtime_data.runner.self_state().to_dict(),
        "pending_actions": entry.runtime_data.runner.pending_dicts(),
        "last_update_success": coordinator.last_update_success,
        "snapshot": async_redact_data(snapshot.to_dict(), TO_REDACT),
    }


async def _tool_versions(entry: PacemakerDrbdConfigEntry, node: str) -> dict[str, str | None]:
    """What the cluster tools on ``node`` say about their versions (one exec, on demand)."""
    session = entry.runtime_data.client.transport.session(node)
    try:
        batch = await session.run_batch(VERSION_COMMANDS)
    except HAClusterError as err:
        return {"error": str(err)}
    return {
        name: result.text.strip()[:500] if result.ok else None
        for name, result in batch.results.items()
    }
