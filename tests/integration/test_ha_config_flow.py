"""The config flow (every branch), reauth, reconfigure and the options flow."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, patch

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_SCAN_INTERVAL,
    CONF_USERNAME,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pacemaker_drbd.config_flow import error_key
from custom_components.pacemaker_drbd.const import (
    CONF_APPLICATION,
    CONF_CLUSTER_NAME,
    CONF_NODES,
    CONF_PASSPHRASE,
    CONF_PRIVATE_KEY,
    CONF_USE_SUDO,
    DOMAIN,
)
from custom_components.pacemaker_drbd.entry_data import cluster_unique_id
from custom_components.pacemaker_drbd.hacluster.errors import (
    AuthenticationError,
    ClusterConnectionError,
    ClusterTimeoutError,
    HAClusterError,
    HostKeyError,
    NotAClusterNodeError,
    PermissionDeniedError,
)
from custom_components.pacemaker_drbd.probe import ClusterNodeInfo, ProbeResult

NODES = (
    ClusterNodeInfo(name="ha-0", node_id="1", address="198.18.0.30"),
    ClusterNodeInfo(name="ha-1", node_id="2", address="198.18.0.31"),
)
PROBE = ProbeResult(cluster_name="ha_cluster", local_node="ha-0", nodes=NODES)
USER_INPUT = {CONF_HOST: "198.18.0.30", CONF_PORT: 22, CONF_USERNAME: "hacluster"}


@pytest.fixture
def flow_mocks(h: SimpleNamespace) -> Iterator[SimpleNamespace]:
    """Patch the network: fetch_host_key (by address), the probe and the entry setup."""
    by_host = {h.ADDRESSES[n]: h.host_key_info(k) for n, k in h.HOST_KEYS.items()}
    by_host["10.0.0.31"] = h.host_key_info(h.NEW_HOST_KEY)

    async def _fetch(host: str, port: int = 22, **_: Any) -> Any:
        if host not in by_host:
            raise ClusterConnectionError(f"{host}: connection refused")
        return by_host[host]

    with (
        patch(
            "custom_components.pacemaker_drbd.config_flow.fetch_host_key",
            AsyncMock(side_effect=_fetch),
        ) as fetch,
        patch(
            "custom_components.pacemaker_drbd.config_flow.async_probe",
            AsyncMock(return_value=PROBE),
        ) as probe,
        patch(
            "custom_components.pacemaker_drbd.async_setup_entry", AsyncMock(return_value=True)
        ) as setup,
    ):
        yield SimpleNamespace(fetch=fetch, probe=probe, setup=setup, keys=by_host, impl=_fetch)


async def _to_auth(hass: HomeAssistant, method: str) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], USER_INPUT)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "host_key"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "auth"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": method}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == method
    return result


async def _confirm_other_node(hass: HomeAssistant, result: dict[str, Any]) -> dict[str, Any]:
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "node_host_key"
    assert result["description_placeholders"]["node"] == "ha-1"
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "198.18.0.31", CONF_PORT: 22}
    )


async def test_full_flow_private_key(
    hass: HomeAssistant, flow_mocks: SimpleNamespace, h: SimpleNamespace
) -> None:
    """Key login: both host keys pinned, the entry created with the cluster's identity."""
    result = await _to_auth(hass, "auth_key")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_PRIVATE_KEY: h.CLIENT_KEY, CONF_PASSPHRASE: "secret", CONF_USE_SUDO: True},
    )
    result = await _confirm_other_node(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "ha_cluster"
    assert result["result"].unique_id == h.UNIQUE_ID
    data = result["data"]
    assert data[CONF_USERNAME] == "hacluster"
    assert data[CONF_PRIVATE_KEY] == h.CLIENT_KEY
    assert data[CONF_PASSPHRASE] == "secret"
    assert CONF_PASSWORD not in data
    assert data[CONF_USE_SUDO] is True
    assert data[CONF_CLUSTER_NAME] == "ha_cluster"
    assert data[CONF_NODES] == [
        {
            "name": "ha-0",
            "host": "198.18.0.30",
            "port": 22,
            "host_key": h.public_line(h.HOST_KEYS["ha-0"]),
        },
        {
            "name": "ha-1",
            "host": "198.18.0.31",
            "port": 22,
            "host_key": h.public_line(h.HOST_KEYS["ha-1"]),
        },
    ]
    endpoint, credentials = flow_mocks.probe.await_args.args
    assert endpoint.host_key == h.public_line(h.HOST_KEYS["ha-0"])
    assert credentials.private_key == h.CLIENT_KEY
    assert credentials.use_sudo is True


async def test_full_flow_password(hass: HomeAssistant, flow_mocks: SimpleNamespace) -> None:
    """Password login stores only the password."""
    result = await _to_auth(hass, "auth_password")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "pw", CONF_USE_SUDO: False}
    )
    result = await _confirm_other_node(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PASSWORD] == "pw"
    assert CONF_PRIVATE_KEY not in result["data"]


async def test_host_key_form_shows_fingerprint(
    hass: HomeAssistant, flow_mocks: SimpleNamespace, h: SimpleNamespace
) -> None:
    """The first node's key type and SHA256 fingerprint are shown for confirmation."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], USER_INPUT)
    info = h.host_key_info(h.HOST_KEYS["ha-0"])
    assert result["description_placeholders"] == {
        "host": "198.18.0.30",
        "port": "22",
        "key_type": "ssh-ed25519",
        "fingerprint": info.fingerprint,
    }
    assert info.fingerprint.startswith("SHA256:")


@pytest.mark.parametrize(
    ("error", "key"),
    [
        (ClusterConnectionError("refused"), "cannot_connect"),
        (ClusterTimeoutError("slow"), "timeout"),
        (HAClusterError("odd"), "unknown"),
    ],
)
async def test_user_step_errors(
    hass: HomeAssistant, flow_mocks: SimpleNamespace, error: Exception, key: str
) -> None:
    """Fetching the first host key fails, then works."""
    flow_mocks.fetch.side_effect = [error, flow_mocks.keys["198.18.0.30"]]
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], USER_INPUT)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": key}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], USER_INPUT)
    assert result["step_id"] == "host_key"


@pytest.mark.parametrize(
    ("error", "key"),
    [
        (AuthenticationError("no"), "invalid_auth"),
        (ClusterTimeoutError("slow"), "timeout"),
        (ClusterConnectionError("refused"), "cannot_connect"),
        (PermissionDeniedError("haclient"), "permission_denied"),
        (NotAClusterNodeError("no crm_mon"), "not_a_cluster_node"),
        (HAClusterError("odd"), "unknown"),
        (RuntimeError("bug"), "unknown"),
    ],
)
async def test_auth_errors_recover(
    hass: HomeAssistant, flow_mocks: SimpleNamespace, error: Exception, key: str
) -> None:
    """Every probe error is shown on the auth form, and a retry creates the entry."""
    result = await _to_auth(hass, "auth_password")
    flow_mocks.probe.side_effect = [error, PROBE]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "wrong", CONF_USE_SUDO: False}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "auth_password"
    assert result["errors"] == {"base": key}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "right", CONF_USE_SUDO: False}
    )
    result = await _confirm_other_node(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PASSWORD] == "right"


async def test_host_key_rejected_recovers(hass: HomeAssistant, flow_mocks: SimpleNamespace) -> None:
    """The node presents another key than the confirmed one: back to the address."""
    result = await _to_auth(hass, "auth_password")
    flow_mocks.probe.side_effect = [HostKeyError("changed"), PROBE]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "pw", CONF_USE_SUDO: False}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": "host_key_rejected"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], USER_INPUT)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "auth_password"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "pw", CONF_USE_SUDO: False}
    )
    result = await _confirm_other_node(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_duplicate_cluster_aborts(
    hass: HomeAssistant, flow_mocks: SimpleNamespace, mock_config_entry: MockConfigEntry
) -> None:
    """The same cluster cannot be added twice."""
    mock_config_entry.add_to_hass(hass)
    result = await _to_auth(hass, "auth_password")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "pw", CONF_USE_SUDO: False}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_same_cluster_with_another_node_set_aborts(
    hass: HomeAssistant, flow_mocks: SimpleNamespace, h: SimpleNamespace
) -> None:
    """A cluster that gained a node (new unique id) is still recognised as configured."""
    MockConfigEntry(
        domain=DOMAIN,
        unique_id=cluster_unique_id("ha_cluster", [("1", "ha-0")]),
        data={**h.entry_data(), CONF_NODES: h.entry_data()[CONF_NODES][:1]},
    ).add_to_hass(hass)
    result = await _to_auth(hass, "auth_password")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "pw", CONF_USE_SUDO: False}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_other_node_address_change_fetch_error_and_skip(
    hass: HomeAssistant, flow_mocks: SimpleNamespace, h: SimpleNamespace
) -> None:
    """The other node's address can be changed (new key shown), a failed fetch is an error,
    and a node that is down can be skipped."""
    three = ProbeResult(
        cluster_name="ha_cluster",
        local_node="ha-0",
        nodes=(*NODES, ClusterNodeInfo(name="ha-2", node_id="3", address="198.18.0.32")),
    )
    flow_mocks.probe.return_value = three
    result = await _to_auth(hass, "auth_password")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "pw", CONF_USE_SUDO: False}
    )
    assert result["step_id"] == "node_host_key"
    assert result["description_placeholders"]["host"] == "198.18.0.31"
    # Use another address for ha-1: its key is fetched and shown, not yet pinned.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "10.0.0.31", CONF_PORT: 22}
    )
    assert result["step_id"] == "node_host_key"
    assert result["description_placeholders"]["node"] == "ha-1"
    assert result["description_placeholders"]["fingerprint"] == (
        h.host_key_info(h.NEW_HOST_KEY).fingerprint
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "10.0.0.31", CONF_PORT: 22}
    )
    # ha-2 does not answer: an error; then it is skipped.
    assert result["step_id"] == "node_host_key"
    assert result["description_placeholders"]["node"] == "ha-2"
    assert result["errors"] == {"base": "cannot_connect"}
    assert result["description_placeholders"]["fingerprint"] == "-"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "198.18.0.32", CONF_PORT: 22}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "198.18.0.32", CONF_PORT: 22, "skip": True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    nodes = result["data"][CONF_NODES]
    assert [(n["name"], n["host"]) for n in nodes] == [
        ("ha-0", "198.18.0.30"),
        ("ha-1", "10.0.0.31"),
    ]
    assert nodes[1]["host_key"] == h.public_line(h.NEW_HOST_KEY)
    assert result["result"].unique_id == three.unique_id


def test_error_key_defaults_to_unknown() -> None:
    """Anything the core did not classify is "unknown"."""
    assert error_key(ValueError("x")) == "unknown"


# --- reauth ----------------------------------------------------------------------------------


async def test_reauth(
    hass: HomeAssistant, flow_mocks: SimpleNamespace, mock_config_entry: MockConfigEntry
) -> None:
    """New credentials replace the old method; the first node that answers decides."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "auth_password"}
    )
    assert result["step_id"] == "auth_password"
    flow_mocks.probe.side_effect = [AuthenticationError("no")]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: "admin", CONF_PASSWORD: "bad", CONF_USE_SUDO: True}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    flow_mocks.probe.side_effect = [ClusterTimeoutError("ha-0 slow"), PROBE]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: "admin", CONF_PASSWORD: "good", CONF_USE_SUDO: True}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert mock_config_entry.data[CONF_USERNAME] == "admin"
    assert mock_config_entry.data[CONF_PASSWORD] == "good"
    assert CONF_PRIVATE_KEY not in mock_config_entry.data
    assert mock_config_entry.data[CONF_USE_SUDO] is True
    assert mock_config_entry.data[CONF_NODES][0]["name"] == "ha-0"
    probed = [c.args[0].name for c in flow_mocks.probe.await_args_list[-2:]]
    assert probed == ["ha-0", "ha-1"]


async def test_reauth_errors(
    hass: HomeAssistant, flow_mocks: SimpleNamespace, mock_config_entry: MockConfigEntry
) -> None:
    """No node answering, an unexpected error, then another cluster."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "auth_key"}
    )
    flow_mocks.probe.side_effect = [ClusterConnectionError("a"), ClusterTimeoutError("b")]
    user = {CONF_USERNAME: "hacluster", CONF_PRIVATE_KEY: "KEY", CONF_USE_SUDO: False}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user)
    assert result["errors"] == {"base": "timeout"}
    flow_mocks.probe.side_effect = [RuntimeError("bug")]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user)
    assert result["errors"] == {"base": "unknown"}
    flow_mocks.probe.side_effect = None
    flow_mocks.probe.return_value = ProbeResult(
        cluster_name="other", local_node="x", nodes=(ClusterNodeInfo(name="x", node_id="1"),)
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_cluster"


# --- reconfigure -----------------------------------------------------------------------------


async def test_reconfigure(
    hass: HomeAssistant,
    flow_mocks: SimpleNamespace,
    mock_config_entry: MockConfigEntry,
    h: SimpleNamespace,
) -> None:
    """New addresses and re-pinned keys; credentials and unique id stay."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    flow_mocks.fetch.side_effect = [ClusterTimeoutError("slow")]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "198.18.0.30", CONF_PORT: 22}
    )
    assert result["errors"] == {"base": "timeout"}
    flow_mocks.fetch.side_effect = flow_mocks.impl
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "198.18.0.30", CONF_PORT: 22}
    )
    assert result["step_id"] == "host_key"
    flow_mocks.probe.side_effect = [ClusterConnectionError("flap"), PROBE]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "host_key"
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "node_host_key"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "10.0.0.31", CONF_PORT: 2222}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "10.0.0.31", CONF_PORT: 2222}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.unique_id == h.UNIQUE_ID
    assert mock_config_entry.data[CONF_NODES][1] == {
        "name": "ha-1",
        "host": "10.0.0.31",
        "port": 2222,
        "host_key": h.public_line(h.NEW_HOST_KEY),
    }
    assert mock_config_entry.data[CONF_PRIVATE_KEY] == h.CLIENT_KEY
    _, credentials = flow_mocks.probe.await_args.args
    assert credentials.private_key == h.CLIENT_KEY


async def test_reconfigure_refuses_other_cluster(
    hass: HomeAssistant, flow_mocks: SimpleNamespace, mock_config_entry: MockConfigEntry
) -> None:
    """A node of another cluster is refused."""
    mock_config_entry.add_to_hass(hass)
    flow_mocks.probe.return_value = ProbeResult(
        cluster_name="ha_cluster",
        local_node="db-0",
        nodes=(ClusterNodeInfo(name="db-0", node_id="1"),),
    )
    result = await mock_config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "198.18.0.30", CONF_PORT: 22}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_cluster"


async def test_reconfigure_host_key_rejected(
    hass: HomeAssistant, flow_mocks: SimpleNamespace, mock_config_entry: MockConfigEntry
) -> None:
    """A key that changes between confirmation and login sends the user back."""
    mock_config_entry.add_to_hass(hass)
    flow_mocks.probe.side_effect = [HostKeyError("changed")]
    result = await mock_config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "198.18.0.30", CONF_PORT: 22}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {"base": "host_key_rejected"}


# --- options ---------------------------------------------------------------------------------


async def test_options_flow(
    hass: HomeAssistant, init_integration: MockConfigEntry, cluster: Any
) -> None:
    """Scan interval and application; the resources of the live cluster are offered."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["description_placeholders"] == {"detected": "g_home-assistant"}
    schema = result["data_schema"].schema
    application = next(k for k in schema if k == CONF_APPLICATION)
    options = schema[application].config["options"]
    assert options == ["ms_drbd_home-assistant", "g_home-assistant"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 5, CONF_APPLICATION: "ms_drbd_home-assistant"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options == {
        CONF_SCAN_INTERVAL: 5,
        CONF_APPLICATION: "ms_drbd_home-assistant",
    }
    await hass.async_block_till_done()
    state = hass.states.get("sensor.ha_cluster_active_node")
    assert state is not None
    assert state.attributes["resource"] == "ms_drbd_home-assistant"


async def test_options_flow_minimum_and_not_loaded(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """Below 5 s is refused; an entry that is not loaded offers no resources."""
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    assert result["description_placeholders"] == {"detected": "-"}
    with pytest.raises(InvalidData, match="scan_interval"):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_SCAN_INTERVAL: 2}
        )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 60}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert mock_config_entry.options == {CONF_SCAN_INTERVAL: 60}
