"""The integration's actions against the real lab.

* In the Home Assistant test harness over real SSH (this host is outside the cluster, so
  nothing here is a self-move): ``standby_node`` with ``wait`` moves the group and returns the
  new location; ``failover`` is refused with the translated reasons when the peer is isolated;
  a forced failover goes through when the only objection is a peer we cannot reach over SSH.
* In the lab's ``--with-home-assistant`` mode (Home Assistant runs inside the group, from the
  project's venv, with its configuration on the replicated disk): the integration, set up in
  that Home Assistant through its REST API, fails its own instance over; after the restart on
  the other node the logbook shows the ``pacemaker_drbd_action_completed`` entry, the move
  constraint is gone and nothing is left pending.
"""

# ruff: noqa: E402 - custom_components is imported after the repository is put on sys.path

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
import json
from pathlib import Path
import sys
import time
from typing import TYPE_CHECKING, Any
from unittest.mock import patch
import urllib.error
import urllib.parse
import urllib.request

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `pytest` (unlike `python -m pytest`) does not add the rootdir
    sys.path.insert(0, str(REPO))

from helpers_ha import lab_entry
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.pacemaker_drbd.const import DOMAIN
from custom_components.pacemaker_drbd.hacluster.client import ClusterClient
from custom_components.pacemaker_drbd.self_move import own_addresses

if TYPE_CHECKING:
    from conftest import Lab

pytestmark = pytest.mark.e2e

APP = "g_home-assistant"
HASS = "p_docker_home-assistant"


def _entry(lab: Lab, *, ports: dict[str, int] | None = None) -> MockConfigEntry:
    """The lab as a config entry (``ports`` overrides a node's SSH port)."""
    return lab_entry(lab, ports=ports)


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def _act(hass: HomeAssistant, entry: MockConfigEntry, action: str, **data: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        action,
        {"config_entry_id": entry.entry_id, **data},
        blocking=True,
        return_response=True,
    )


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return state.state if state is not None else None


def _slug(node: str) -> str:
    return node.replace("-", "_")


def _constraints(lab: Lab, node: str) -> str:
    return lab.exec(node, "cibadmin", "--query", "--scope", "constraints").stdout


# ---- the test harness over real SSH -------------------------------------------------------------


async def test_standby_with_wait_returns_the_new_location(
    hass: HomeAssistant, enable_custom_integrations: None, healthy_lab: Lab
) -> None:
    """standby_node waits until the group left the node and says where it runs now."""
    lab = healthy_lab
    src = lab.group_node()
    dst = lab.other(src)
    assert not set(await hass.async_add_executor_job(own_addresses)) & {
        lab.vip,
        *lab.addresses.values(),
    }, "this host must be outside the cluster for this test"
    entry = _entry(lab)
    try:
        await _setup(hass, entry)
        slug = lab.env["HALAB_CLUSTER_NAME"]
        started = time.monotonic()
        response = await _act(hass, entry, "standby_node", node=src)
        took = time.monotonic() - started
        assert response["ok"] is True, response["message"]
        assert response["code"] == "ok"
        assert response["new_location"] == dst
        assert response["self_move"] is False
        assert 0 < response["cluster_seconds"] <= took
        assert "fencing_disabled" in [w["code"] for w in response["warnings"]]
        assert lab.check("group-on", dst, on=dst)
        # the coordinator was refreshed after acting
        assert _state(hass, f"sensor.{slug}_active_node") == dst
        assert _state(hass, f"switch.{_slug(src)}_standby") == "on"
        print(
            f"standby_node {src}: {took:.1f} s in Home Assistant, "
            f"{response['cluster_seconds']:.1f} s for the cluster"
        )

        back = await _act(hass, entry, "online_node", node=src)
        assert back["ok"] is True, back["message"]
        assert _state(hass, f"switch.{_slug(src)}_standby") == "off"
        assert _state(hass, f"sensor.{_slug(src)}_state") == "online"
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        await hass.async_add_executor_job(
            lambda: lab.run("exec", src, "crm", "node", "online", src, check=False)
        )
    await hass.async_add_executor_job(lambda: lab.wait("healthy", timeout=90))


async def test_failover_refused_while_the_peer_is_isolated(
    hass: HomeAssistant, enable_custom_integrations: None, healthy_lab: Lab
) -> None:
    """The refusal names the reasons in the user's language; nothing moves."""
    lab = healthy_lab
    src = lab.group_node()
    dst = lab.other(src)
    entry = _entry(lab)
    # Short SSH timeouts (as the core's own isolation test): the refusal comes before the
    # peer's half of the cluster starts the group too, which a longer cut would cause.
    quick = partial(ClusterClient, command_timeout=3.0, connect_timeout=3.0)
    try:
        with patch("custom_components.pacemaker_drbd.ClusterClient", quick):
            await _setup(hass, entry)
        await hass.async_add_executor_job(lambda: lab.run("isolate", dst))
        try:
            with pytest.raises(ServiceValidationError) as err:
                await _act(hass, entry, "failover", target=dst)
        finally:
            await hass.async_add_executor_job(lambda: lab.run("heal", dst))
        message = str(err.value)
        assert err.value.translation_key == "action_refused"
        assert message.startswith("failover refused: ")
        assert f"node {dst} cannot be reached over SSH" in message
        assert message.endswith("Set force to act anyway")
        assert lab.check("group-on", src, on=src)
        print(f"refused: {message}")
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    # healed in time: healthy within seconds; else a split brain, which only recover ends
    if lab.run("wait", "healthy", "--timeout", "15", check=False).returncode != 0:
        await hass.async_add_executor_job(lambda: lab.run("recover"))


async def test_forced_failover_goes_through(
    hass: HomeAssistant, enable_custom_integrations: None, healthy_lab: Lab
) -> None:
    """Home Assistant cannot reach the target over SSH (wrong port here) but the cluster can:
    refused, and with force the move happens, is verified and leaves no constraint."""
    lab = healthy_lab
    src = lab.group_node()
    dst = lab.other(src)
    entry = _entry(lab, ports={dst: 1})  # nothing listens on port 1: connection refused
    try:
        await _setup(hass, entry)
        with pytest.raises(ServiceValidationError) as err:
            await _act(hass, entry, "failover", target=dst)
        assert f"node {dst} cannot be reached over SSH" in str(err.value)
        response = await _act(hass, entry, "failover", target=dst, force=True)
        assert response["ok"] is True, response["message"]
        assert response["new_location"] == dst
        assert response["constraint_left"] is False
        assert [r["code"] for r in response["overridden"]] == ["target_unreachable"]
        assert lab.check("group-on", dst, on=dst)
        assert f"cli-prefer-{APP}" not in _constraints(lab, dst)
        print(f"forced failover: {response['message']}")
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    await hass.async_add_executor_job(lambda: lab.wait("healthy", timeout=90))


# ---- Home Assistant inside the cluster fails itself over ----------------------------------------


class HomeAssistantApi:
    """The lab's Home Assistant over REST, with the long-lived token the lab seeds."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout: float = 60,
        raise_http: bool = False,
    ) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the lab's own address
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                text = response.read().decode()
        except urllib.error.HTTPError as err:
            if raise_http:
                raise
            pytest.fail(f"{method} {path}: HTTP {err.code}: {err.read().decode()[:2000]}")
        return json.loads(text) if text else None

    def diagnostics(self, entry_id: str, timeout: float = 30) -> dict[str, Any]:
        """The entry's diagnostics. Home Assistant registers an integration's diagnostics
        platform in a task after the integration loaded, so right after the config flow (or a
        restart) the download can answer 404 for a moment."""
        path = f"/api/diagnostics/config_entry/{entry_id}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                return dict(self.call("GET", path, raise_http=True)["data"])
            except urllib.error.HTTPError as err:
                if err.code != 404 or time.monotonic() > deadline:
                    pytest.fail(f"GET {path}: HTTP {err.code}: {err.read().decode()[:2000]}")
            time.sleep(1)

    def up(self) -> bool:
        request = urllib.request.Request(  # noqa: S310 - the lab's own address
            self.url + "/api/", headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:  # refused, reset, timeout, HTTP errors while starting
            return False

    def wait_up(self, timeout: float) -> float:
        start = time.monotonic()
        while not self.up():
            if time.monotonic() - start > timeout:
                pytest.fail(f"Home Assistant did not answer within {timeout:.0f} s")
            time.sleep(1)
        return time.monotonic() - start


def _config_flow(api: HomeAssistantApi, lab: Lab, first: str) -> dict[str, Any]:
    """Add the cluster through the config flow, confirming every host key."""
    step = api.call("POST", "/api/config/config_entries/flow", {"handler": DOMAIN})
    flow = step["flow_id"]
    answers: dict[str, Any] = {
        "user": {"host": lab.addresses[first], "port": lab.ssh_port, "username": lab.ssh_user},
        "host_key": {},
        "auth": {"next_step_id": "auth_key"},
        "auth_key": {
            "username": lab.ssh_user,
            "private_key": lab.client_key,
            "use_sudo": False,
        },
    }
    for _ in range(10):
        if step["type"] == "create_entry":
            return dict(step["result"])
        assert not step.get("errors"), step
        step_id = step["step_id"]
        if step_id == "node_host_key":
            node = step["description_placeholders"]["node"]
            answer = {"host": lab.addresses[node], "port": lab.ssh_port, "skip": False}
        else:
            answer = answers[step_id]
        if step["type"] == "form":  # only the fields the form has (no user name but on reauth)
            names = {field["name"] for field in step.get("data_schema") or []}
            answer = {key: value for key, value in answer.items() if key in names}
        step = api.call("POST", f"/api/config/config_entries/flow/{flow}", answer)
    pytest.fail(f"the config flow did not finish: {step}")


@pytest.fixture
def hass_lab(lab: Lab) -> Iterator[Lab]:
    """The lab with Home Assistant as its application (left so: see SHAPE_ORDER in conftest)."""
    with lab.exclusive():
        hass_mode = lab.rebuild(mode="hass")
        hass_mode.wait("healthy", timeout=180)
        yield hass_mode


@pytest.mark.lab_shape("hass")
def test_home_assistant_fails_itself_over(hass_lab: Lab) -> None:
    """The integration inside the group fails its own instance over and reports it after the
    restart on the other node (logbook), with the move constraint removed."""
    try:
        _fail_itself_over(hass_lab)
    except BaseException:
        for node in hass_lab.nodes:  # what Home Assistant said, on each node
            log = hass_lab.run(
                "exec",
                node,
                "sh",
                "-c",
                "grep -v -e entity_registry -e 'Setting up' /var/log/halab-hass.log | tail -n 120",
                check=False,
            )
            print(f"---- {node}: /var/log/halab-hass.log (last 120 lines)\n{log.stdout}")
        raise


def _fail_itself_over(lab: Lab) -> None:
    api = HomeAssistantApi(lab.env["HALAB_HA_URL"], lab.env["HALAB_HA_TOKEN"])
    src = lab.group_node()
    dst = lab.other(src)
    api.wait_up(120)

    # Install the integration into the replicated config dir (and load diagnostics, which the
    # lab's minimal configuration leaves out); restart Home Assistant through the cluster so
    # that it loads them.
    config = f"{lab.env['HALAB_MOUNT']}/config"
    lab.exec(src, "mkdir", "-p", f"{config}/custom_components")
    link = f"{config}/custom_components/{DOMAIN}"
    lab.exec(src, "ln", "-sfn", str(REPO / "custom_components" / DOMAIN), link)
    lab.exec(
        src,
        "sh",
        "-c",
        f"grep -qx 'diagnostics:' {config}/configuration.yaml"
        f" || echo 'diagnostics:' >> {config}/configuration.yaml",
    )
    lab.exec(src, "crm_resource", "--restart", "--resource", HASS)
    api.wait_up(180)

    # a lab shared with an earlier test (or run) may hold an entry already: start from none
    for old in api.call("GET", f"/api/config/config_entries/entry?domain={DOMAIN}") or []:
        api.call("DELETE", f"/api/config/config_entries/entry/{old['entry_id']}")
    entry = _config_flow(api, lab, src)
    entry_id = entry["entry_id"]
    active = api.call("GET", f"/api/states/sensor.{lab.env['HALAB_CLUSTER_NAME']}_active_node")
    assert active["state"] == src
    assert active["attributes"]["self_hosted"] is True
    assert active["attributes"]["self_node"] == src
    diagnostics = api.diagnostics(entry_id)
    assert diagnostics["self"]["self_hosted"] is True, diagnostics["self"]
    assert diagnostics["self"]["node"] == src
    assert diagnostics["self"]["application_vips"] == [lab.vip]

    since = datetime.now(UTC)
    started = time.monotonic()
    try:
        answer = api.call(
            "POST",
            "/api/services/pacemaker_drbd/failover?return_response",
            {"config_entry_id": entry_id},
        )
    except (OSError, urllib.error.URLError) as err:  # it may stop before it answers
        answer = None
        print(f"the failover call got no answer: {err}")
    if answer is not None:
        response = answer["service_response"]
        assert response["self_move"] is True, response
        assert response["code"] == "accepted", response
    lab.wait("group-on", dst, on=dst, timeout=180)
    moved = time.monotonic() - started
    api.wait_up(180)
    back = time.monotonic() - started

    # The new instance reports the outcome: the logbook entry of the event.
    query = "/api/logbook/" + urllib.parse.quote(since.isoformat())
    deadline = time.monotonic() + 120
    entries: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        entries = [
            e
            for e in api.call("GET", query) or []
            if str(e.get("message", "")).startswith("failover ")
        ]
        if entries:
            break
        time.sleep(2)
    reported = time.monotonic() - started
    assert entries, "no logbook entry for the completed failover"
    assert entries[0]["message"].startswith("failover completed after Home Assistant restarted")
    assert f"cli-prefer-{APP}" not in _constraints(lab, dst)
    diagnostics = api.diagnostics(entry_id)
    assert diagnostics["pending_actions"] == []
    assert diagnostics["self"]["node"] == dst
    stored = lab.exec(dst, "cat", f"{config}/.storage/{DOMAIN}.{entry_id}.pending").stdout
    assert json.loads(stored)["data"]["actions"] == []
    print(
        f"self-move: group on {dst} after {moved:.1f} s, Home Assistant back after {back:.1f} s, "
        f"reported after {reported:.1f} s: {entries[0]['message']}"
    )
