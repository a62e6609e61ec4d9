"""Config flow: one entry per cluster, every node with its own address and pinned host key.

``user`` (a node's address, port, user name) -> ``host_key`` (confirm its fingerprint) ->
``auth`` (menu: private key or password) -> the probe (``probe.py``: is it a cluster node, may we
read the cluster, which cluster is it) -> ``node_host_key`` once per other node (confirm each key;
its address comes from ``corosync.conf`` and can be changed) -> the entry.

Reauth asks for the credentials only; reconfigure asks for a node's address again, re-pins every
key with confirmation and refuses a different cluster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_SCAN_INTERVAL,
    CONF_USERNAME,
    UnitOfTime,
)
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .compat import vol
from .const import (
    CONF_APPLICATION,
    CONF_CLUSTER_NAME,
    CONF_NODE_NAME,
    CONF_NODES,
    CONF_PASSPHRASE,
    CONF_PRIVATE_KEY,
    CONF_USE_SUDO,
    DEFAULT_PORT,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    LOGGER,
    MAX_SCAN_INTERVAL,
    MIN_SCAN_INTERVAL,
)
from .entry_data import (
    credential_data,
    credentials_from_data,
    endpoints_from_data,
    node_data,
    same_cluster,
    without_credentials,
)
from .hacluster.analysis import find_application
from .hacluster.errors import (
    AuthenticationError,
    ClusterConnectionError,
    ClusterTimeoutError,
    HAClusterError,
    HostKeyError,
    NotAClusterNodeError,
    PermissionDeniedError,
)
from .hacluster.transport import Credentials, HostKeyInfo, NodeEndpoint, fetch_host_key
from .probe import ClusterNodeInfo, ProbeResult, async_probe

if TYPE_CHECKING:
    from collections.abc import Mapping

PORT_SELECTOR = NumberSelector(
    NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX)
)
PASSWORD_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))

USER_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): TextSelector(),
        vol.Required(CONF_PORT, default=DEFAULT_PORT): PORT_SELECTOR,
        vol.Required(CONF_USERNAME): TextSelector(),
    }
)
RECONFIGURE_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): TextSelector(),
        vol.Required(CONF_PORT, default=DEFAULT_PORT): PORT_SELECTOR,
    }
)
KEY_FIELDS: dict[vol.Marker, Any] = {
    vol.Required(CONF_PRIVATE_KEY): TextSelector(TextSelectorConfig(multiline=True)),
    vol.Optional(CONF_PASSPHRASE): PASSWORD_SELECTOR,
    vol.Required(CONF_USE_SUDO, default=False): BooleanSelector(),
}
PASSWORD_FIELDS: dict[vol.Marker, Any] = {
    vol.Required(CONF_PASSWORD): PASSWORD_SELECTOR,
    vol.Required(CONF_USE_SUDO, default=False): BooleanSelector(),
}


def error_key(err: Exception) -> str:
    """The translated error (``config.error.*``) for what the core raised."""
    if isinstance(err, HostKeyError):
        return "host_key_rejected"
    if isinstance(err, AuthenticationError):
        return "invalid_auth"
    if isinstance(err, ClusterTimeoutError):
        return "timeout"
    if isinstance(err, ClusterConnectionError):
        return "cannot_connect"
    if isinstance(err, PermissionDeniedError):
        return "permission_denied"
    if isinstance(err, NotAClusterNodeError):
        return "not_a_cluster_node"
    return "unknown"


def _node_names(data: Mapping[str, Any]) -> list[str]:
    return [node[CONF_NODE_NAME] for node in data[CONF_NODES]]


class PacemakerDrbdConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up one cluster."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start with nothing known."""
        self._host = ""
        self._port = DEFAULT_PORT
        self._username = ""
        self._key: HostKeyInfo | None = None
        self._auth: dict[str, Any] = {}
        self._cluster_name = ""
        self._nodes: list[dict[str, Any]] = []
        self._pending: list[ClusterNodeInfo] = []
        self._node_host = ""
        self._node_port = DEFAULT_PORT
        self._node_key: HostKeyInfo | None = None

    @property
    def _pinned_key(self) -> HostKeyInfo:
        """The first node's key as the user confirmed it (set by the user/reconfigure step)."""
        if self._key is None:  # pragma: no cover - the steps always fetch it first
            raise RuntimeError("no host key fetched yet")
        return self._key

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry[Any]) -> PacemakerDrbdOptionsFlow:
        """The options flow."""
        return PacemakerDrbdOptionsFlow()

    # --- the first node ------------------------------------------------------------------------

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for one node's address, port and the SSH user; fetch its host key."""
        errors: dict[str, str] = {}
        if user_input is not None:
            self._username = user_input[CONF_USERNAME].strip()
            if await self._async_fetch_first_key(user_input, errors):
                return await self.async_step_host_key()
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(USER_SCHEMA, user_input or {}),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for one node's address again (the credentials stay as they are)."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            self._username = entry.data[CONF_USERNAME]
            if await self._async_fetch_first_key(user_input, errors):
                return await self.async_step_host_key()
        first = entry.data[CONF_NODES][0]
        suggested = user_input or {CONF_HOST: first[CONF_HOST], CONF_PORT: first[CONF_PORT]}
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(RECONFIGURE_SCHEMA, suggested),
            errors=errors,
        )

    async def _async_fetch_first_key(
        self, user_input: dict[str, Any], errors: dict[str, str]
    ) -> bool:
        self._host = user_input[CONF_HOST].strip()
        self._port = int(user_input[CONF_PORT])
        try:
            self._key = await fetch_host_key(self._host, self._port)
        except HAClusterError as err:
            LOGGER.debug("Cannot fetch the host key of %s: %s", self._host, err)
            errors["base"] = error_key(err)
            return False
        return True

    async def async_step_host_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the first node's host key fingerprint for confirmation."""
        key = self._pinned_key
        if user_input is not None:
            if self.source == SOURCE_RECONFIGURE:
                entry = self._get_reconfigure_entry()
                return await self._async_probe_first(
                    credentials_from_data(entry.data), step_id="host_key"
                )
            return await self.async_step_auth()
        return self.async_show_form(
            step_id="host_key",
            description_placeholders={
                "host": self._host,
                "port": str(self._port),
                "key_type": key.key_type,
                "fingerprint": key.fingerprint,
            },
        )

    # --- credentials ---------------------------------------------------------------------------

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The credentials stopped working: ask for new ones."""
        self._username = entry_data[CONF_USERNAME]
        return await self.async_step_auth()

    async def async_step_auth(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose how to log in."""
        return self.async_show_menu(step_id="auth", menu_options=["auth_key", "auth_password"])

    def _auth_schema(self, fields: dict[vol.Marker, Any]) -> vol.Schema:
        if self.source == SOURCE_REAUTH:
            return vol.Schema({vol.Required(CONF_USERNAME): TextSelector(), **fields})
        return vol.Schema(fields)

    async def async_step_auth_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Log in with a private key (pasted, OpenSSH or PEM format) and optional passphrase."""
        return await self._async_step_credentials("auth_key", KEY_FIELDS, user_input)

    async def async_step_auth_password(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Log in with a password."""
        return await self._async_step_credentials("auth_password", PASSWORD_FIELDS, user_input)

    async def _async_step_credentials(
        self, step_id: str, fields: dict[vol.Marker, Any], user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        schema = self._auth_schema(fields)
        errors: dict[str, str] = {}
        if user_input is not None:
            if CONF_USERNAME in user_input:
                self._username = user_input[CONF_USERNAME].strip()
            self._auth = {
                **credential_data(
                    private_key=user_input.get(CONF_PRIVATE_KEY),
                    passphrase=user_input.get(CONF_PASSPHRASE),
                    password=user_input.get(CONF_PASSWORD),
                ),
                CONF_USE_SUDO: user_input[CONF_USE_SUDO],
            }
            credentials = credentials_from_data({CONF_USERNAME: self._username, **self._auth})
            if self.source == SOURCE_REAUTH:
                result = await self._async_reauth(credentials, errors)
                if result is not None:
                    return result
            else:
                return await self._async_probe_first(credentials, step_id=step_id, schema=schema)
        suggested = {CONF_USERNAME: self._username, **(user_input or {})}
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )

    async def _async_reauth(
        self, credentials: Credentials, errors: dict[str, str]
    ) -> ConfigFlowResult | None:
        """Try the new credentials on the entry's nodes, the first that answers decides."""
        entry = self._get_reauth_entry()
        probe: ProbeResult | None = None
        for endpoint in endpoints_from_data(entry.data):
            try:
                probe = await async_probe(endpoint, credentials)
            except (ClusterTimeoutError, ClusterConnectionError) as err:
                LOGGER.debug("Reauth: %s does not answer: %s", endpoint.name, err)
                errors["base"] = error_key(err)
                continue
            except HAClusterError as err:
                errors["base"] = error_key(err)
                return None
            except Exception:  # noqa: BLE001 - the flow must always answer
                LOGGER.exception("Unexpected error while checking the new credentials")
                errors["base"] = "unknown"
                return None
            break
        if probe is None:
            return None
        if not same_cluster(
            entry.data[CONF_CLUSTER_NAME],
            _node_names(entry.data),
            probe.cluster_name,
            probe.node_names,
        ):
            return self.async_abort(reason="wrong_cluster")
        return self.async_update_reload_and_abort(
            entry,
            data={
                **without_credentials(entry.data),
                CONF_USERNAME: self._username,
                **self._auth,
            },
        )

    # --- the probe -----------------------------------------------------------------------------

    async def _async_probe_first(
        self, credentials: Credentials, *, step_id: str, schema: vol.Schema | None = None
    ) -> ConfigFlowResult:
        """Connect to the first node with the pinned key and learn the cluster."""
        key = self._pinned_key
        endpoint = NodeEndpoint(
            name=self._host, host=self._host, port=self._port, host_key=key.public_key
        )
        errors: dict[str, str] = {}
        try:
            probe = await async_probe(endpoint, credentials)
        except HostKeyError as err:
            # The key changed since it was shown: start over with the address.
            LOGGER.warning("Host key of %s changed during setup: %s", self._host, err)
            form = "reconfigure" if self.source == SOURCE_RECONFIGURE else "user"
            return self.async_show_form(
                step_id=form,
                data_schema=self.add_suggested_values_to_schema(
                    RECONFIGURE_SCHEMA if form == "reconfigure" else USER_SCHEMA,
                    {CONF_HOST: self._host, CONF_PORT: self._port, CONF_USERNAME: self._username},
                ),
                errors={"base": "host_key_rejected"},
            )
        except HAClusterError as err:
            LOGGER.debug("Probe of %s failed: %s", self._host, err)
            errors["base"] = error_key(err)
        except Exception:  # noqa: BLE001 - the flow must always answer
            LOGGER.exception("Unexpected error while probing %s", self._host)
            errors["base"] = "unknown"
        else:
            return await self._async_identity(probe)
        if schema is None:
            return self.async_show_form(
                step_id=step_id,
                errors=errors,
                description_placeholders={
                    "host": self._host,
                    "port": str(self._port),
                    "key_type": key.key_type,
                    "fingerprint": key.fingerprint,
                },
            )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                schema, {CONF_USERNAME: self._username}
            ),
            errors=errors,
        )

    async def _async_identity(self, probe: ProbeResult) -> ConfigFlowResult:
        """Refuse a cluster that is already set up (or, on reconfigure, another cluster)."""
        if self.source == SOURCE_RECONFIGURE:
            entry = self._get_reconfigure_entry()
            if not same_cluster(
                entry.data[CONF_CLUSTER_NAME],
                _node_names(entry.data),
                probe.cluster_name,
                probe.node_names,
            ):
                return self.async_abort(reason="wrong_cluster")
        else:
            await self.async_set_unique_id(probe.unique_id)
            self._abort_if_unique_id_configured()
            for entry in self._async_current_entries(include_ignore=False):
                if CONF_CLUSTER_NAME in entry.data and same_cluster(
                    entry.data[CONF_CLUSTER_NAME],
                    _node_names(entry.data),
                    probe.cluster_name,
                    probe.node_names,
                ):
                    return self.async_abort(reason="already_configured")
        self._cluster_name = probe.cluster_name
        self._nodes = [
            node_data(probe.local_node, self._host, self._port, self._pinned_key.public_key)
        ]
        self._pending = list(probe.others)
        return await self.async_step_node_host_key()

    # --- the other nodes -----------------------------------------------------------------------

    async def async_step_node_host_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm the host key of each other node (its address can be changed first)."""
        if not self._pending:
            return self._async_finish()
        node = self._pending[0]
        errors: dict[str, str] = {}
        if user_input is not None:
            host = user_input[CONF_HOST].strip()
            port = int(user_input[CONF_PORT])
            if user_input.get("skip"):
                self._next_node()
                return await self.async_step_node_host_key()
            if self._node_key is not None and (host, port) == (self._node_host, self._node_port):
                self._nodes.append(node_data(node.name, host, port, self._node_key.public_key))
                self._next_node()
                return await self.async_step_node_host_key()
            self._node_host, self._node_port, self._node_key = host, port, None
        elif not self._node_host:
            self._node_host, self._node_port = node.address or node.name, self._port
        if self._node_key is None:
            try:
                self._node_key = await fetch_host_key(self._node_host, self._node_port)
            except HAClusterError as err:
                LOGGER.debug("Cannot fetch the host key of %s: %s", self._node_host, err)
                errors["base"] = error_key(err)
        schema = vol.Schema(
            {
                vol.Required(CONF_HOST, default=self._node_host): TextSelector(),
                vol.Required(CONF_PORT, default=self._node_port): PORT_SELECTOR,
                vol.Optional("skip", default=False): BooleanSelector(),
            }
        )
        return self.async_show_form(
            step_id="node_host_key",
            data_schema=schema,
            errors=errors,
            description_placeholders={
                "node": node.name,
                "host": self._node_host,
                "port": str(self._node_port),
                "key_type": self._node_key.key_type if self._node_key else "-",
                "fingerprint": self._node_key.fingerprint if self._node_key else "-",
            },
        )

    def _next_node(self) -> None:
        self._pending.pop(0)
        self._node_host, self._node_port, self._node_key = "", DEFAULT_PORT, None

    def _async_finish(self) -> ConfigFlowResult:
        """Create the entry (or update it on reconfigure)."""
        if self.source == SOURCE_RECONFIGURE:
            return self.async_update_reload_and_abort(
                self._get_reconfigure_entry(), data_updates={CONF_NODES: self._nodes}
            )
        return self.async_create_entry(
            title=self._cluster_name,
            data={
                CONF_NODES: self._nodes,
                CONF_USERNAME: self._username,
                **self._auth,
                CONF_CLUSTER_NAME: self._cluster_name,
            },
        )


class PacemakerDrbdOptionsFlow(OptionsFlow):
    """Scan interval and which resource is "the application"."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and store the options."""
        if user_input is not None:
            options: dict[str, Any] = {CONF_SCAN_INTERVAL: int(user_input[CONF_SCAN_INTERVAL])}
            if application := user_input.get(CONF_APPLICATION):
                options[CONF_APPLICATION] = application
            return self.async_create_entry(data=options)
        resources: list[str] = []
        detected: str | None = None
        entry = self.config_entry
        if entry.state is ConfigEntryState.LOADED:
            view = entry.runtime_data.coordinator.data.pacemaker
            if view is not None and view.stack_running:
                resources = [r.id for r in view.resources]
                found = find_application(view)
                detected = found.id if found is not None else None
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_SCAN_INTERVAL,
                    default=entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_SCAN_INTERVAL,
                        max=MAX_SCAN_INTERVAL,
                        step=1,
                        mode=NumberSelectorMode.BOX,
                        unit_of_measurement=UnitOfTime.SECONDS,
                    )
                ),
                vol.Optional(CONF_APPLICATION): SelectSelector(
                    SelectSelectorConfig(
                        options=resources, custom_value=True, mode=SelectSelectorMode.DROPDOWN
                    )
                ),
            }
        )
        suggested = {CONF_APPLICATION: entry.options.get(CONF_APPLICATION, detected)}
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            description_placeholders={"detected": detected or "-"},
        )
