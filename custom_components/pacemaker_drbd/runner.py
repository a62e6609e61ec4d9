"""Run the core's actions for one entry: interlocks, self-moves, translated errors, refresh.

Services, switches and buttons all call :meth:`ActionRunner.async_run`. It polls the cluster,
lets the core's interlocks judge the request, and then either runs it through
:class:`~.hacluster.control.ClusterController` (waiting and verifying as the request says), or,
when the action will stop this very Home Assistant instance (``self_move.py``), records it as
pending (``pending.py``), sends it without waiting and returns once the cluster accepted it.
Actions of one entry run one at a time. The coordinator is refreshed after every action that
reached the cluster.

Errors: :func:`translated_errors` maps the core's exceptions for every action: a refusal
(:class:`~.hacluster.errors.InterlockError`) becomes a :class:`ServiceValidationError` that
lists every reason, each translated from its reason code and placeholders; a failed action or
a lost connection a :class:`HomeAssistantError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from functools import wraps
import string
import time
from typing import TYPE_CHECKING, Any, Final
import uuid

from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.translation import async_get_translations

from .const import CONF_APPLICATION, DOMAIN, LOGGER
from .hacluster.control import ClusterController, PendingAction, ResultCode, choose_command_nodes
from .hacluster.errors import (
    ActionFailedError,
    ClusterConnectionError,
    HAClusterError,
    InterlockError,
    InvalidNameError,
)
from .hacluster.interlocks import (
    ActionRequest,
    Assessment,
    CleanupResourceRequest,
    Reason,
    RestartResourceRequest,
    assess,
    request_to_dict,
    stops_self,
)
from .pending import PendingRecord, PendingStore, async_report
from .self_move import SelfState, async_read_vips, locate_self, own_addresses, own_hostname

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .coordinator import PacemakerDrbdConfigEntry, PacemakerDrbdCoordinator
    from .hacluster.client import ClusterClient, ClusterSnapshot
    from .hacluster.control import ActionResult
    from .hacluster.models.pacemaker import PacemakerStatus

COMPLETE_WITHIN: Final = 120.0
"""Seconds to wait for a pending action's expected state when finishing it."""


class _Placeholders(dict[str, str]):
    """Format mapping that leaves unknown placeholders as they are."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


async def async_reason_texts(hass: HomeAssistant, reasons: tuple[Reason, ...]) -> list[str]:
    """Each reason in the user's language (``exceptions.reason_<code>``), else the core's text."""
    translations = await async_get_translations(hass, hass.config.language, "exceptions", [DOMAIN])
    texts: list[str] = []
    for reason in reasons:
        template = translations.get(f"component.{DOMAIN}.exceptions.reason_{reason.code}.message")
        if template is None:
            texts.append(reason.message)
            continue
        texts.append(string.Formatter().vformat(template, (), _Placeholders(reason.placeholders)))
    return texts


async def async_translate_error(
    hass: HomeAssistant, action: str, err: HAClusterError
) -> HomeAssistantError:
    """The Home Assistant error for a core error raised by ``action``."""
    if isinstance(err, InterlockError):
        reasons = tuple(r for r in err.reasons if isinstance(r, Reason))
        texts = await async_reason_texts(hass, reasons) if reasons else [str(err)]
        forceable = bool(reasons) and all(r.forceable for r in reasons)
        return ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="action_refused" if forceable else "action_invalid",
            translation_placeholders={"action": action, "reasons": "; ".join(texts)},
        )
    if isinstance(err, InvalidNameError):
        return ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="action_invalid",
            translation_placeholders={"action": action, "reasons": str(err)},
        )
    if isinstance(err, ActionFailedError):
        key = "action_failed"
    elif isinstance(err, ClusterConnectionError):
        key = "action_connection"
    else:
        key = "action_error"
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={"action": action, "error": str(err)},
    )


def translated_errors[R](
    func: Callable[[ActionRunner, ActionRequest], Awaitable[R]],
) -> Callable[[ActionRunner, ActionRequest], Awaitable[R]]:
    """Map the core's exceptions of an action to translated Home Assistant errors."""

    @wraps(func)
    async def wrapper(runner: ActionRunner, request: ActionRequest) -> R:
        try:
            return await func(runner, request)
        except HAClusterError as err:
            raise await async_translate_error(runner.hass, str(request.action), err) from err

    return wrapper


def failed_resources(status: PacemakerStatus | None) -> list[str]:
    """Resources with failed actions or fail counts (clone instance suffixes removed)."""
    if status is None or not status.stack_running:
        return []
    names = {f.resource.split(":")[0] for f in status.failed_actions if f.resource}
    for counts in status.fail_counts.values():
        names |= {name.split(":")[0] for name, count in counts.items() if count}
    return sorted(names)


def _before(snapshot: ClusterSnapshot, request: ActionRequest) -> tuple[str, ...]:
    """Where a resource to restart runs now (a restart must bring it back there)."""
    if isinstance(request, RestartResourceRequest) and snapshot.pacemaker is not None:
        rsc = snapshot.pacemaker.resource(request.resource)
        if rsc is not None:
            return tuple(sorted(rsc.running_on))
    return ()


class ActionRunner:
    """The actions of one config entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PacemakerDrbdConfigEntry,
        client: ClusterClient,
        coordinator: PacemakerDrbdCoordinator,
    ) -> None:
        """Bind the runner to an entry's client and coordinator."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self.coordinator = coordinator
        self.pending = PendingStore(hass, entry.entry_id)
        self.addresses: tuple[str, ...] = ()
        self.hostname: str | None = None
        self.vips: tuple[str, ...] = ()
        self._lock = asyncio.Lock()

    @property
    def application(self) -> str | None:
        """The application chosen in the options (None: auto-detected by the core)."""
        return self.entry.options.get(CONF_APPLICATION) or None

    def controller(self) -> ClusterController:
        """A controller for the entry's client (cheap: it keeps no state between actions)."""
        return ClusterController(
            self.client, application=self.application, vip=self.vips[0] if self.vips else None
        )

    # -- where this instance runs ----------------------------------------------------------

    async def async_detect(self) -> None:
        """Read this host's addresses and name, and the application's virtual IPs (setup)."""
        await self._async_read_addresses()
        self.hostname = own_hostname()
        snapshot = self.coordinator.data
        application = self.coordinator.application
        nodes = choose_command_nodes(snapshot) or snapshot.reachable
        self.vips = await async_read_vips(
            self.client, nodes, application.id if application is not None else None
        )
        state = self.self_state()
        LOGGER.debug("This instance: %s", state.to_dict())

    async def _async_read_addresses(self) -> None:
        try:
            self.addresses = await self.hass.async_add_executor_job(own_addresses)
        except OSError as err:  # keep the last known addresses
            LOGGER.debug("Cannot list this host's addresses: %s", err)

    def self_state(self, snapshot: ClusterSnapshot | None = None) -> SelfState:
        """Where this instance runs, judged on ``snapshot`` (default: the latest poll)."""
        return locate_self(
            snapshot if snapshot is not None else self.coordinator.data,
            self.addresses,
            self.hostname,
            self.vips,
            self.application,
        )

    # -- actions ---------------------------------------------------------------------------

    @translated_errors
    async def async_run(self, request: ActionRequest) -> dict[str, Any]:
        """Run ``request``; return the service response (the core's result, ``self_move``).

        Raises a translated ServiceValidationError when refused, HomeAssistantError on failure.
        """
        async with self._lock:
            snapshot = await self.client.poll()
            assessment = assess(snapshot, request, application=self.application)
            assessment.raise_if_refused()
            await self._async_read_addresses()
            state = self.self_state(snapshot)
            self_move = state.self_hosted and stops_self(
                snapshot, request, state.node, in_application=True, application=self.application
            )
            if self_move:
                result = await self._async_self_move(
                    replace(request, wait=False), snapshot, assessment, state
                )
            else:
                result = await self.controller().execute(request, snapshot=snapshot)
            if not self.hass.is_stopping:  # e.g. the cluster stops it after a self-move
                await self.coordinator.async_refresh()
        if not result.ok:
            raise ActionFailedError(result.message)
        return {**result.to_dict(), "self_move": self_move}

    async def async_cleanup_failed(self) -> list[dict[str, Any]]:
        """Clean up every resource with failed actions or fail counts (the button)."""
        resources = failed_resources(self.coordinator.data.pacemaker)
        if not resources:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="nothing_to_clean_up"
            )
        return [
            await self.async_run(CleanupResourceRequest(resource=resource))
            for resource in resources
        ]

    async def _async_self_move(
        self,
        request: ActionRequest,
        snapshot: ClusterSnapshot,
        assessment: Assessment,
        state: SelfState,
    ) -> ActionResult:
        """Record, send without waiting, and return once the cluster accepted it."""
        now = time.time()
        record = PendingRecord(
            id=uuid.uuid4().hex,
            pending=PendingAction(
                request=request_to_dict(request),
                application=assessment.application,
                source=assessment.source,
                target=assessment.target,
                before=_before(snapshot, request),
                sent_at=now,
            ),
            node=state.node,
            recorded_at=now,
        )
        await self.pending.async_put(record)
        LOGGER.warning(
            "%s will stop this Home Assistant instance (%s): it is sent without waiting and "
            "its outcome is reported after the restart",
            request.action,
            state.location.evidence,
        )
        try:
            result = await self.controller().execute(request, snapshot=snapshot)
        except InterlockError:
            await self.pending.async_remove(record.id)
            raise
        except HAClusterError:
            self._finish_later(record)  # it may have reached the cluster
            raise
        if result.code in (ResultCode.COMMAND_FAILED, ResultCode.NOOP):
            await self.pending.async_remove(record.id)  # nothing happened
            return result
        if result.ok:
            record = record.accepted(result.pending)
            await self.pending.async_put(record)
        self._finish_later(record)
        return result

    def _finish_later(self, record: PendingRecord) -> None:
        """Finish ``record`` in the background (if this instance is not stopped before)."""
        if self.hass.is_stopping:
            return
        self.entry.async_create_background_task(
            self.hass,
            self.async_finish(record, restarted=False),
            f"{DOMAIN} finish {record.action}",
        )

    async def async_finish(
        self,
        record: PendingRecord,
        *,
        restarted: bool,
        snapshot: ClusterSnapshot | None = None,
    ) -> dict[str, Any]:
        """Check the outcome of a pending action, report it, forget it; return the event data."""
        result: ActionResult | None = None
        error: str | None = None
        try:
            result = await self.controller().complete(
                record.pending, within=COMPLETE_WITHIN, snapshot=snapshot
            )
        except HAClusterError as err:
            error = str(err)
        data = async_report(self.hass, self.entry, record, result, error=error, restarted=restarted)
        await self.pending.async_remove(record.id)
        await self.coordinator.async_request_refresh()
        return data

    async def async_process_pending(self) -> None:
        """After a (re)start: finish what the previous instance left pending (first poll)."""
        for record in await self.pending.async_load():
            await self.async_finish(record, restarted=True, snapshot=self.coordinator.data)

    def pending_dicts(self) -> list[Mapping[str, Any]]:
        """The pending actions (diagnostics)."""
        return [record.to_dict() for record in self.pending.records]


__all__ = [
    "ActionRunner",
    "async_reason_texts",
    "async_translate_error",
    "failed_resources",
    "translated_errors",
]
