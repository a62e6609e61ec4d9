"""The data update coordinator: one poll of every node per scan interval.

The core's :meth:`ClusterClient.poll` runs one SSH exec per node, all nodes at once, and never
raises for a single node: a node that cannot be reached is a :class:`NodeReport` with
``reachable=False``. The coordinator turns the whole poll into Home Assistant's terms:

* some node answered: the snapshot is the data (a node that did not answer only makes its own
  SSH-derived entities unavailable);
* no node answered: ``UpdateFailed`` (``ConfigEntryNotReady`` at startup), or
  ``ConfigEntryAuthFailed`` when every node that could be tried refused the credentials;
* a node presented a host key other than the pinned one: a repair issue and
  ``ConfigEntryError``; the entry stops and does not connect again until the key is re-pinned.

After each good poll it fires the bus events and updates the repair issues.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_SCAN_INTERVAL
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import CONF_APPLICATION, DEFAULT_SCAN_INTERVAL, DOMAIN, LOGGER
from .events import EventTracker
from .hacluster.analysis import find_application
from .hacluster.client import ClusterClient, ClusterSnapshot, NodeReport
from .hacluster.errors import HAClusterError
from .issues import async_create_host_key_issue, async_update_issues

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .hacluster.models.pacemaker import Resource
    from .runner import ActionRunner

#: error kinds that mean "we never got to try the credentials on that node"
_NOT_TRIED = frozenset({"connection", "timeout"})


@dataclass(kw_only=True)
class PacemakerDrbdRuntimeData:
    """What a loaded entry keeps at runtime."""

    client: ClusterClient
    coordinator: PacemakerDrbdCoordinator
    options: dict[str, Any]
    """The options the entry was set up with (a change reloads the entry)."""
    cluster_device_id: str
    """Device registry id of the cluster (hub) device; node devices link to it."""
    runner: ActionRunner
    """Runs the actions (services, switches, buttons) and reports pending ones."""


type PacemakerDrbdConfigEntry = ConfigEntry[PacemakerDrbdRuntimeData]


def _describe(reports: tuple[NodeReport, ...]) -> str:
    return "; ".join(f"{r.name}: {r.error or r.error_kind or 'no answer'}" for r in reports)


class PacemakerDrbdCoordinator(DataUpdateCoordinator[ClusterSnapshot]):
    """Poll the cluster through the core and keep the latest snapshot."""

    config_entry: PacemakerDrbdConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: PacemakerDrbdConfigEntry, client: ClusterClient
    ) -> None:
        """Create the coordinator for ``entry`` polling through ``client``."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title}",
            update_interval=timedelta(
                seconds=entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL)
            ),
        )
        self.client = client
        self.events = EventTracker(hass, entry)
        self._unreachable: set[str] = set()

    @property
    def application(self) -> Resource | None:
        """The resource that is "the application" (options, else auto-detected)."""
        if (
            self.data is None
            or self.data.pacemaker is None
            or not self.data.pacemaker.stack_running
        ):
            return None
        return find_application(
            self.data.pacemaker, self.config_entry.options.get(CONF_APPLICATION)
        )

    async def _async_update_data(self) -> ClusterSnapshot:
        """Poll every node; map the outcome to Home Assistant's errors."""
        try:
            snapshot = await self.client.poll()
        except HAClusterError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="poll_failed",
                translation_placeholders={"error": str(err)},
            ) from err

        self._log_reachability(snapshot)

        if bad_keys := [n for n in snapshot.nodes if n.error_kind == "host_key"]:
            for report in bad_keys:
                async_create_host_key_issue(self.hass, self.config_entry, report.name)
            if self.config_entry.state is ConfigEntryState.LOADED:
                # Stop polling: the reload refuses to start while the issue is open.
                self.hass.config_entries.async_schedule_reload(self.config_entry.entry_id)
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="host_key_changed",
                translation_placeholders={"nodes": ", ".join(r.name for r in bad_keys)},
            )

        if not snapshot.reachable:
            tried = [n for n in snapshot.nodes if n.error_kind not in _NOT_TRIED]
            if tried and all(n.error_kind == "auth" for n in tried):
                raise ConfigEntryAuthFailed(
                    translation_domain=DOMAIN,
                    translation_key="auth_failed",
                    translation_placeholders={"nodes": ", ".join(n.name for n in tried)},
                )
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="no_node_reachable",
                translation_placeholders={"errors": _describe(snapshot.nodes)},
            )

        application = (
            find_application(snapshot.pacemaker, self.config_entry.options.get(CONF_APPLICATION))
            if snapshot.pacemaker is not None and snapshot.pacemaker.stack_running
            else None
        )
        self.events.process(snapshot, application)
        async_update_issues(self.hass, self.config_entry, snapshot)
        return snapshot

    def _log_reachability(self, snapshot: ClusterSnapshot) -> None:
        """Log once when a node becomes unreachable and once when it is back."""
        for report in snapshot.nodes:
            if not report.reachable and report.name not in self._unreachable:
                self._unreachable.add(report.name)
                LOGGER.info(
                    "Node %s (%s) of cluster %s is unreachable: %s",
                    report.name,
                    report.host,
                    self.config_entry.title,
                    report.error,
                )
            elif report.reachable and report.name in self._unreachable:
                self._unreachable.discard(report.name)
                LOGGER.info(
                    "Node %s of cluster %s is reachable again", report.name, self.config_entry.title
                )
