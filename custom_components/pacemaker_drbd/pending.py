"""Actions whose outcome is still to be reported: stored before this instance stops, reported after.

An action that stops this Home Assistant instance (see ``self_move.py``) is recorded in the
entry's storage (``.storage/pacemaker_drbd.<entry_id>.pending``, written atomically with fsync)
*before* the command is sent, and updated once the cluster accepted it. Whoever finishes it
(this instance when it was not stopped after all, or the instance that starts after the move,
on the other node) checks the outcome against the cluster, then:

* fires ``pacemaker_drbd_action_completed`` (data: ``config_entry_id``, ``cluster``,
  ``action``, ``ok``, ``code``, ``message``, ``new_location``, ``constraint_left``,
  ``requested_at``, ``node`` (where the sending instance ran), ``restarted`` (finished by a
  new instance), ``request`` and ``result`` (the core's result, or None after an error));
  the logbook shows it (``logbook.py``);
* opens a repair issue when it failed (one per action kind, dismissed by the user);
* removes the record.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store

from .const import DOMAIN, EVENT_ACTION_COMPLETED, ISSUE_ACTION_FAILED, LOGGER
from .hacluster.control import PendingAction
from .issues import issue_id

if TYPE_CHECKING:
    from .coordinator import PacemakerDrbdConfigEntry
    from .hacluster.control import ActionResult

STORAGE_VERSION: Final = 1
STATE_SENDING: Final = "sending"
"""Recorded before the command went out: it may or may not have reached the cluster."""
STATE_ACCEPTED: Final = "accepted"
"""The cluster accepted the change."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingRecord:
    """One action waiting for its outcome to be reported."""

    id: str
    pending: PendingAction
    state: str = STATE_SENDING
    node: str | None = None
    """The node the sending instance ran on."""
    recorded_at: float = 0.0

    @property
    def action(self) -> str:
        """The action (service) name."""
        return str(self.pending.action)

    def accepted(self, pending: PendingAction | None) -> PendingRecord:
        """This record once the cluster accepted the change (with the core's own details)."""
        return replace(self, state=STATE_ACCEPTED, pending=pending or self.pending)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (storage and diagnostics)."""
        return {
            "id": self.id,
            "state": self.state,
            "node": self.node,
            "recorded_at": self.recorded_at,
            "pending": self.pending.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingRecord:
        """Rebuild from :meth:`to_dict` output (raises KeyError/TypeError/ValueError if bad)."""
        pending = PendingAction.from_dict(data["pending"])
        _ = pending.action  # an unknown action raises ValueError here, not later
        return cls(
            id=str(data["id"]),
            pending=pending,
            state=str(data.get("state", STATE_SENDING)),
            node=data.get("node"),
            recorded_at=float(data.get("recorded_at") or 0.0),
        )


class PendingStore:
    """The entry's pending actions, kept in memory and in the entry's storage file."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Use the storage file of ``entry_id``."""
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.pending", atomic_writes=True
        )
        self._records: dict[str, PendingRecord] = {}
        self._loaded = False

    @property
    def records(self) -> tuple[PendingRecord, ...]:
        """The pending actions, oldest first."""
        return tuple(sorted(self._records.values(), key=lambda r: r.recorded_at))

    async def async_load(self) -> tuple[PendingRecord, ...]:
        """Read the storage file (once); records that cannot be read are dropped with a log."""
        if not self._loaded:
            self._loaded = True
            data = await self._store.async_load() or {}
            for raw in data.get("actions", []):
                try:
                    record = PendingRecord.from_dict(raw)
                except (KeyError, TypeError, ValueError) as err:
                    LOGGER.warning("Dropping an unreadable pending action %r: %s", raw, err)
                    continue
                self._records[record.id] = record
        return self.records

    async def async_put(self, record: PendingRecord) -> None:
        """Add or replace ``record`` and write the file now (atomically, with fsync)."""
        await self.async_load()
        self._records[record.id] = record
        await self._async_write()

    async def async_remove(self, record_id: str) -> None:
        """Forget ``record_id`` and write the file now."""
        await self.async_load()
        if self._records.pop(record_id, None) is not None:
            await self._async_write()

    async def async_delete(self) -> None:
        """Delete the storage file (the entry was removed)."""
        self._records.clear()
        await self._store.async_remove()

    async def _async_write(self) -> None:
        await self._store.async_save({"actions": [r.to_dict() for r in self.records]})


def _iso(timestamp: float) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).isoformat() if timestamp else None


@callback
def async_report(
    hass: HomeAssistant,
    entry: PacemakerDrbdConfigEntry,
    record: PendingRecord,
    result: ActionResult | None,
    *,
    error: str | None = None,
    restarted: bool,
) -> dict[str, Any]:
    """Fire the completion event and open a repair when it failed; return the event data."""
    ok = result is not None and result.ok
    message = result.message if result is not None else (error or "unknown error")
    data: dict[str, Any] = {
        "config_entry_id": entry.entry_id,
        "cluster": entry.title,
        "action": record.action,
        "ok": ok,
        "code": str(result.code) if result is not None else "error",
        "message": message,
        "new_location": result.new_location if result is not None else None,
        "constraint_left": result.constraint_left if result is not None else False,
        "requested_at": _iso(record.pending.sent_at or record.recorded_at),
        "node": record.node,
        "restarted": restarted,
        "request": dict(record.pending.request),
        "result": result.to_dict() if result is not None else None,
    }
    hass.bus.async_fire(EVENT_ACTION_COMPLETED, data)
    if ok:
        LOGGER.info("%s (sent without waiting) completed: %s", record.action, message)
        return data
    LOGGER.warning("%s (sent without waiting) failed: %s", record.action, message)
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(entry, ISSUE_ACTION_FAILED, record.action),
        is_fixable=True,
        is_persistent=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_ACTION_FAILED,
        translation_placeholders={
            "action": record.action,
            "cluster": entry.title,
            "message": message,
            "requested_at": data["requested_at"] or "-",
        },
        data={"entry_id": entry.entry_id, "action": record.action},
    )
    return data
