"""Talk to a fresh Home Assistant the way its frontend does: onboarding, login, config flows.

Used by ``scripts/lib/develop.py`` (``scripts/develop``) and the browser tests. Everything goes
through Home Assistant's own REST and WebSocket APIs on loopback: the onboarding views
(``/api/onboarding/*``), the login flow and token endpoint (``/auth/*``), the config entry flow
API (``/api/config/config_entries/*``) and WebSocket commands (long-lived tokens, dashboards).
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
import hashlib
from pathlib import Path
import time
from typing import Any, cast

import aiohttp

DOMAIN = "pacemaker_drbd"
# Integrations that onboarding's core-config step sets up by itself. Under ``hass --skip-pip``
# their libraries are missing (nothing reaches the internet) and their entries would only show as
# failed, so the development instance removes them.
ONBOARDING_LEFTOVERS = ("google_translate", "met", "radio_browser")
ONBOARDING_STEPS = ("user", "core_config", "analytics", "integration")


class BootstrapError(Exception):
    """Home Assistant answered something this script cannot continue from."""


def ssh_fingerprint(public_key: str) -> str:
    """The SHA256 fingerprint of an OpenSSH public key line, as ``ssh-keygen -l`` prints it."""
    fields = public_key.split()
    blob = next((f for f in fields if f.startswith("AAAA")), None)
    if blob is None:
        raise BootstrapError(f"not an OpenSSH public key: {public_key!r}")
    digest = hashlib.sha256(base64.b64decode(blob)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True, kw_only=True, slots=True)
class LabNode:
    """One lab node as the config flow must see it."""

    name: str
    host: str
    host_key: str

    @property
    def fingerprint(self) -> str:
        """The SHA256 fingerprint of the pinned host key."""
        return ssh_fingerprint(self.host_key)


@dataclass(frozen=True, kw_only=True, slots=True)
class LabTarget:
    """What the config flow is given: the nodes (first = the one to enter), user, port, key."""

    nodes: tuple[LabNode, ...]
    port: int
    username: str
    private_key: str

    @classmethod
    def from_env(cls, env: dict[str, str]) -> LabTarget:
        """From ``scripts/lab env --json``."""
        names = env["HALAB_NODES"].split()
        nodes = tuple(
            LabNode(
                name=name,
                host=env[f"HALAB_IP_{name.replace('-', '_')}"],
                host_key=env[f"HALAB_HOSTKEY_{name.replace('-', '_')}"],
            )
            for name in names
        )
        key = Path(env["HALAB_SSH_KEY"]).read_text(encoding="ascii")
        return cls(
            nodes=nodes,
            port=int(env["HALAB_SSH_PORT"]),
            username=env["HALAB_SSH_USER"],
            private_key=key,
        )

    def node(self, name: str) -> LabNode:
        """A node by name."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise BootstrapError(f"the config flow asks about {name!r}, which is not a lab node")


class HomeAssistantClient:
    """A small REST + WebSocket client for one Home Assistant instance."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        """Bind to ``url`` (``http://127.0.0.1:8123``)."""
        self.session = session
        self.url = url.rstrip("/")
        self.client_id = self.url + "/"
        self.access_token: str | None = None

    # --- plain HTTP -----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        if self.access_token is None:
            return {}
        return {"Authorization": f"Bearer {self.access_token}"}

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> Any:
        """One request; the decoded JSON answer (or None); BootstrapError on another status."""
        async with self.session.request(
            method,
            self.url + path,
            json=json,
            data=data,
            headers=self._headers(),
            timeout=aiohttp.ClientTimeout(total=60),
        ) as resp:
            text = await resp.text()
            if resp.status not in ok:
                raise BootstrapError(f"{method} {path}: HTTP {resp.status}: {text[:300]}")
            if resp.content_type == "application/json" and text:
                return await resp.json()
            return None

    async def wait_up(self, limit: float, alive: Any = None) -> float:
        """Wait until the HTTP server answers; seconds waited. ``alive()`` False aborts."""
        start = time.monotonic()
        while True:
            if alive is not None and not alive():
                raise BootstrapError("Home Assistant exited while starting")
            try:
                # Any answer will do (401 without a token): the HTTP server is up.
                await self.request("GET", "/api/", ok=(200, 401))
            except (aiohttp.ClientError, BootstrapError, TimeoutError):
                if time.monotonic() - start > limit:
                    raise BootstrapError(
                        f"Home Assistant did not answer on {self.url} within {limit:.0f} s"
                    ) from None
                await asyncio.sleep(0.5)
            else:
                return time.monotonic() - start

    # --- onboarding and login -----------------------------------------------------------------

    async def onboarding_done(self) -> set[str]:
        """The onboarding steps that are done (all of them: the views are gone after onboarding)."""
        steps = await self.request("GET", "/api/onboarding", ok=(200, 404))
        if steps is None:
            return set(ONBOARDING_STEPS)
        return {step["step"] for step in steps if step["done"]}

    async def _token(self, code: str) -> dict[str, Any]:
        tokens = await self.request(
            "POST",
            "/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
        )
        self.access_token = tokens["access_token"]
        return cast("dict[str, Any]", tokens)

    async def create_owner(self, name: str, username: str, password: str) -> dict[str, Any]:
        """Onboarding's first step: the owner account; logs in as it."""
        answer = await self.request(
            "POST",
            "/api/onboarding/users",
            json={
                "client_id": self.client_id,
                "name": name,
                "username": username,
                "password": password,
                "language": "en",
            },
        )
        return await self._token(answer["auth_code"])

    async def login(self, username: str, password: str) -> dict[str, Any]:
        """Log in through the login flow (as the login page does); returns the tokens."""
        flow = await self.request(
            "POST",
            "/auth/login_flow",
            json={
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self.client_id,
            },
        )
        result = await self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            json={"client_id": self.client_id, "username": username, "password": password},
        )
        if result.get("type") != "create_entry":
            raise BootstrapError(f"login as {username!r} failed: {result.get('errors')}")
        return await self._token(result["result"])

    async def finish_onboarding(self, done: set[str]) -> None:
        """The remaining onboarding steps after the user: core config, analytics, integration."""
        if "core_config" not in done:
            await self.request("POST", "/api/onboarding/core_config", json={})
        if "analytics" not in done:
            await self.request("POST", "/api/onboarding/analytics", json={})
        if "integration" not in done:
            await self.request(
                "POST",
                "/api/onboarding/integration",
                json={"client_id": self.client_id, "redirect_uri": self.client_id},
            )

    async def token_valid(self, token: str) -> bool:
        """Does this access token work?"""
        async with self.session.get(
            self.url + "/api/", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            return resp.status == 200

    # --- WebSocket ------------------------------------------------------------------------------

    async def ws(self, *messages: dict[str, Any]) -> list[Any]:
        """Send WebSocket commands in order; their results. BootstrapError on an error answer."""
        results: list[Any] = []
        ws_url = "ws" + self.url.removeprefix("http") + "/api/websocket"
        async with self.session.ws_connect(ws_url) as sock:
            hello = await sock.receive_json()
            if hello.get("type") != "auth_required":
                raise BootstrapError(f"unexpected WebSocket greeting {hello}")
            await sock.send_json({"type": "auth", "access_token": self.access_token})
            auth = await sock.receive_json()
            if auth.get("type") != "auth_ok":
                raise BootstrapError(f"WebSocket authentication failed: {auth}")
            for number, message in enumerate(messages, start=1):
                await sock.send_json({"id": number, **message})
                while True:
                    answer = await sock.receive_json()
                    if answer.get("id") == number and answer.get("type") == "result":
                        break
                if not answer.get("success"):
                    raise BootstrapError(f"{message['type']}: {answer.get('error')}")
                results.append(answer.get("result"))
        return results

    async def long_lived_token(self, name: str) -> str:
        """A new long-lived access token (one year)."""
        (token,) = await self.ws(
            {"type": "auth/long_lived_access_token", "client_name": name, "lifespan": 365}
        )
        return str(token)

    async def ensure_dashboard(
        self, url_path: str, title: str, views: list[dict[str, Any]], *, replace: bool = False
    ) -> bool:
        """A storage-mode dashboard with these views; True when its config was written.

        An existing dashboard keeps the user's edits unless ``replace`` is set.
        """
        (dashboards,) = await self.ws({"type": "lovelace/dashboards/list"})
        if not any(d["url_path"] == url_path for d in dashboards):
            await self.ws(
                {
                    "type": "lovelace/dashboards/create",
                    "url_path": url_path,
                    "title": title,
                    "icon": "mdi:server-network",
                    "show_in_sidebar": True,
                    "require_admin": False,
                    "mode": "storage",
                }
            )
        elif not replace:
            try:
                await self.ws({"type": "lovelace/config", "url_path": url_path})
            except BootstrapError:
                pass  # created but never saved: write it below
            else:
                return False
        await self.ws(
            {
                "type": "lovelace/config/save",
                "url_path": url_path,
                "config": {"title": title, "views": views},
            }
        )
        return True

    # --- config entries -------------------------------------------------------------------------

    async def entries(self, domain: str) -> list[dict[str, Any]]:
        """The config entries of a domain."""
        found = await self.request("GET", f"/api/config/config_entries/entry?domain={domain}")
        return cast("list[dict[str, Any]]", found)

    async def remove_onboarding_leftovers(self) -> list[str]:
        """Delete the entries onboarding created for integrations that cannot work here."""
        removed: list[str] = []
        for domain in ONBOARDING_LEFTOVERS:
            for entry in await self.entries(domain):
                path = f"/api/config/config_entries/entry/{entry['entry_id']}"
                await self.request("DELETE", path)
                removed.append(domain)
        return removed

    async def wait_entry_loaded(self, entry_id: str, limit: float) -> dict[str, Any]:
        """Wait until a config entry is loaded; BootstrapError with its reason otherwise."""
        start = time.monotonic()
        entry: dict[str, Any] = {}
        while time.monotonic() - start < limit:
            entry = next((e for e in await self.entries(DOMAIN) if e["entry_id"] == entry_id), {})
            if entry.get("state") == "loaded":
                return entry
            if entry.get("state") in {"setup_error", "migration_error", "failed_unload"}:
                break
            await asyncio.sleep(0.5)
        raise BootstrapError(
            f"the {DOMAIN} entry is {entry.get('state', 'missing')!r}: "
            f"{entry.get('reason') or 'see home-assistant.log'}"
        )

    async def add_cluster(self, lab: LabTarget) -> str:
        """Add the lab cluster through the real config flow; returns the new entry id.

        Every host key the flow shows is compared with the key the lab pinned for that node
        before it is confirmed.
        """
        first = lab.nodes[0]
        step = await self.request(
            "POST",
            "/api/config/config_entries/flow",
            json={"handler": DOMAIN, "show_advanced_options": False},
        )
        flow = f"/api/config/config_entries/flow/{step['flow_id']}"
        try:
            return await self._drive_flow(flow, step, lab, first)
        except BaseException:
            await self.request("DELETE", flow, ok=(200, 404))
            raise

    async def _drive_flow(
        self, flow: str, step: dict[str, Any], lab: LabTarget, first: LabNode
    ) -> str:
        """Answer the flow's steps until it creates the entry."""
        for _ in range(4 + 3 * len(lab.nodes)):
            step = await self.request("POST", flow, json=self._answer(step, lab, first))
            if step["type"] == "create_entry":
                return str(step["result"]["entry_id"])
            if step["type"] not in {"form", "menu"}:
                raise BootstrapError(f"config flow ended with {step}")
        raise BootstrapError(f"config flow did not finish: {step}")

    @staticmethod
    def _answer(step: dict[str, Any], lab: LabTarget, first: LabNode) -> dict[str, Any]:
        """The user's answer to one step of the config flow."""
        if step.get("errors"):
            raise BootstrapError(
                f"config flow step {step['step_id']!r}: {step['errors']} "
                "(is the lab healthy? scripts/lab state; scripts/lab recover)"
            )
        placeholders: dict[str, str] = step.get("description_placeholders") or {}
        step_id = step["step_id"]
        if step_id == "user":
            return {"host": first.host, "port": lab.port, "username": lab.username}
        if step_id == "host_key":
            _check_key(first, placeholders)
            return {}
        if step_id == "auth":
            return {"next_step_id": "auth_key"}
        if step_id == "auth_key":
            return {"private_key": lab.private_key, "use_sudo": False}
        if step_id == "node_host_key":
            node = lab.node(placeholders["node"])
            if placeholders.get("host") != node.host:
                # The flow proposes another address: give it the lab's; it shows that key next.
                return {"host": node.host, "port": lab.port, "skip": False}
            _check_key(node, placeholders)
            return {"host": node.host, "port": lab.port, "skip": False}
        raise BootstrapError(f"unexpected config flow step {step_id!r}")


def _check_key(node: LabNode, placeholders: dict[str, str]) -> None:
    """Refuse to confirm a host key that is not the one the lab pinned for this node."""
    shown = placeholders.get("fingerprint", "")
    if shown != node.fingerprint:
        raise BootstrapError(
            f"host key of {node.name} ({node.host}) is {shown!r}, the lab pinned "
            f"{node.fingerprint!r}: not confirming it"
        )
