"""Fixtures for the card's browser tests: Home Assistant on the lab, and a real headless Chromium.

* ``dev_hass`` (module): holds the lab's e2e lock for the whole module (these tests break and
  restore the cluster, and read it in between), makes the lab healthy, starts Home Assistant with
  ``scripts/develop --no-lab --background`` in a temporary config directory on a free port, sets
  the entry's scan interval to 5 s through the real options flow, and stops it afterwards
  (``scripts/develop --stop``).
* ``browser`` (per test): Debian's Chromium driven by Playwright (never a downloaded browser),
  headless, with every request that is not for loopback sent to a closed proxy port.
* ``open_page(path, *, dark=False, width=1000)``: a logged-in page (the tokens the login flow
  gives, in localStorage as the frontend keeps them); it fails the test on a page error.

The lab helpers come from tests/e2e/conftest.py (loaded as a module: tests/ has no packages).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass, field
import importlib.util
import json
import os
from pathlib import Path
import shutil
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any
import urllib.error
import urllib.parse
import urllib.request

import pytest
import pytest_socket

if TYPE_CHECKING:
    from types import ModuleType

    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[2]
DEVELOP = REPO / "scripts" / "develop"
SCREENSHOTS = REPO / "docs" / "screenshots"
TIMINGS = REPO / "tests" / "e2e" / "artifacts" / "browser-timings.txt"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Nothing leaves this machine: every non-loopback request goes to a closed port.
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
DOMAIN = "pacemaker_drbd"


def _load_e2e() -> ModuleType:
    """tests/e2e/conftest.py as a module (its lab helpers; its fixtures stay there)."""
    spec = importlib.util.spec_from_file_location(
        "pacemaker_drbd_e2e_helpers", REPO / "tests" / "e2e" / "conftest.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


E2E = _load_e2e()
Lab = E2E.Lab


def _allow_loopback_and_lab() -> None:
    """Allow TCP to loopback and the lab only (pytest-socket blocks everything else)."""
    pytest_socket.enable_socket()
    pytest_socket.socket_allow_hosts(E2E.LAB_HOSTS, allow_unix_socket=True)


@pytest.fixture(autouse=True)
def _loopback_and_lab_sockets() -> None:
    """For every test (the module fixtures call it themselves: they run first)."""
    _allow_loopback_and_lab()


# --- Home Assistant ----------------------------------------------------------------------------


@dataclass(kw_only=True)
class DevHass:
    """The Home Assistant instance the tests use (values from scripts/develop --background)."""

    url: str
    username: str
    password: str
    token: str
    entry_id: str
    dashboard: str
    config: Path
    lab: Any
    started_in: float
    services_seen: set[str] = field(default_factory=set)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """A REST call with the long-lived token; the decoded JSON answer."""
        _allow_loopback_and_lab()
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310 - loopback only
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
            text = resp.read().decode()
        return json.loads(text) if text else None

    def has_service(self, service: str) -> bool:
        """Does Home Assistant offer pacemaker_drbd.<service> (the control issue's actions)?"""
        domains = self.api("GET", "/api/services")
        return any(d["domain"] == DOMAIN and service in d.get("services", {}) for d in domains)

    def active_node_attributes(self) -> dict[str, Any]:
        """The attributes of the active node sensor: ``resource`` and ``running_on``, no ``kind``.

        (A resource's state sensor has ``kind`` too.)
        """
        for state in self.api("GET", "/api/states"):
            attributes: dict[str, Any] = state["attributes"]
            if {"resource", "running_on"} <= attributes.keys() and "kind" not in attributes:
                return attributes
        return {}

    def login_tokens(self) -> dict[str, Any]:
        """Tokens for the frontend, through the login flow as the login page does it."""
        _allow_loopback_and_lab()
        client_id = self.url + "/"

        def post(path: str, body: dict[str, Any], form: bool = False) -> Any:
            if form:
                data = urllib.parse.urlencode(body).encode()
                kind = "application/x-www-form-urlencoded"
            else:
                data, kind = json.dumps(body).encode(), "application/json"
            req = urllib.request.Request(  # noqa: S310 - loopback only
                self.url + path, data=data, headers={"Content-Type": kind}
            )
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                return json.load(resp)

        flow = post(
            "/auth/login_flow",
            {"client_id": client_id, "handler": ["homeassistant", None], "redirect_uri": client_id},
        )
        result = post(
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": client_id, "username": self.username, "password": self.password},
        )
        assert result["type"] == "create_entry", result
        tokens: dict[str, Any] = post(
            "/auth/token",
            {"grant_type": "authorization_code", "code": result["result"], "client_id": client_id},
            form=True,
        )
        return {
            **tokens,
            "hassUrl": self.url,
            "clientId": client_id,
            "expires": int(time.time() * 1000) + int(tokens["expires_in"]) * 1000,
        }

    def set_scan_interval(self, seconds: int) -> None:
        """The entry's options through the real options flow (the entry reloads)."""
        step = self.api(
            "POST", "/api/config/config_entries/options/flow", {"handler": self.entry_id}
        )
        assert step["type"] == "form", step
        done = self.api(
            "POST",
            f"/api/config/config_entries/options/flow/{step['flow_id']}",
            {"scan_interval": seconds},
        )
        assert done["type"] == "create_entry", done
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            entries = self.api("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
            if any(e["entry_id"] == self.entry_id and e["state"] == "loaded" for e in entries):
                return
            time.sleep(0.5)
        pytest.fail("the entry did not load again after the options changed")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _card_loader(config: Path) -> None:
    """Until ``async_setup`` calls ``frontend.async_register_card`` itself: a test-only loader.

    A two-line integration in the test's config directory that calls the same function, so the
    card is served and added exactly as the integration will do it.
    """
    init = (REPO / "custom_components" / DOMAIN / "__init__.py").read_text()
    if "async_register_card" in init:
        return
    loader = config / "custom_components" / "pacemaker_drbd_card_loader"
    loader.mkdir(parents=True, exist_ok=True)
    (loader / "manifest.json").write_text(
        json.dumps(
            {
                "domain": "pacemaker_drbd_card_loader",
                "name": "pacemaker_drbd card loader (tests only)",
                "version": "0.0.0",
                "after_dependencies": ["frontend"],
                "codeowners": [],
                "documentation": "https://github.com/pacemaker-drbd/pacemaker_drbd",
                "iot_class": "local_polling",
                "requirements": [],
            }
        )
    )
    (loader / "__init__.py").write_text(
        '"""Test-only: register the card the way the integration\'s async_setup will."""\n'
        "from custom_components.pacemaker_drbd.frontend import async_register_card\n\n\n"
        "async def async_setup(hass, config):\n"
        "    await async_register_card(hass)\n"
        "    return True\n"
    )
    packages = config / "packages"
    packages.mkdir(exist_ok=True)
    (packages / "card_loader.yaml").write_text("pacemaker_drbd_card_loader:\n")


def _develop(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DEVELOP), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def dev_hass(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHass]:
    """Home Assistant with the integration on the lab; the lab reserved for this module."""
    why = E2E.lab_why_not()
    if why:
        pytest.skip(f"browser tests skipped: {why}")
    _allow_loopback_and_lab()
    asked = time.monotonic()
    with E2E.e2e_lock():
        locked = time.monotonic()
        lab = E2E.ensure_healthy()
        healthy = time.monotonic()
        config = tmp_path_factory.mktemp("hass")
        _card_loader(config)
        port = _free_port()
        start = time.monotonic()
        proc = _develop("--no-lab", "--background", "--config", str(config), "--port", str(port))
        started_in = time.monotonic() - start
        if proc.returncode != 0:
            _develop("--stop", "--config", str(config))
            pytest.fail(f"scripts/develop --background failed:\n{proc.stderr[-4000:]}")
        facts = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
        hass = DevHass(
            url=facts["URL"],
            username=facts["USERNAME"],
            password=facts["PASSWORD"],
            token=facts["TOKEN"],
            entry_id=facts["ENTRY_ID"],
            dashboard=facts["DASHBOARD_URL"].removeprefix(facts["URL"]),
            config=config,
            lab=lab,
            started_in=started_in,
        )
        try:
            hass.set_scan_interval(5)
            ready = time.monotonic()
            yield hass
        finally:
            done = time.monotonic()
            _develop("--stop", "--config", str(config), timeout=120)
            E2E.ensure_healthy()
            TIMINGS.parent.mkdir(parents=True, exist_ok=True)
            TIMINGS.write_text(
                f"waiting for the lab lock {locked - asked:.1f} s\n"
                f"lab healthy {healthy - locked:.1f} s\n"
                f"scripts/develop --background {started_in:.1f} s\n"
                f"options flow (scan interval 5 s) {ready - healthy - started_in:.1f} s\n"
                f"tests {done - ready:.1f} s\n"
                f"stop + lab healthy again {time.monotonic() - done:.1f} s\n"
                f"total without the lock wait {time.monotonic() - locked:.1f} s\n"
            )


# --- the browser -------------------------------------------------------------------------------


def _ensure_chromium() -> None:
    """Debian's chromium (installed with apt when missing and root), or skip."""
    if CHROMIUM.exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("browser tests need Debian's chromium (apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    if subprocess.run(install, capture_output=True, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, check=False)
        subprocess.run(install, capture_output=True, env=env, check=True)


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium through Playwright, for one test.

    Per test, not per module: Playwright's synchronous API keeps its event loop marked as running
    while it is started, and the Home Assistant test plugin closes the test's own event loop at
    the end of every test; so Playwright stops before that (a launch takes about a second).
    """
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (requirements_test.txt)"
    )
    _ensure_chromium()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass(kw_only=True)
class PageErrors:
    """Uncaught errors and console errors of a page (the tests assert there are none)."""

    errors: list[str] = field(default_factory=list)


@pytest.fixture
def open_page(
    browser: Browser, dev_hass: DevHass
) -> Iterator[Callable[..., tuple[Page, PageErrors]]]:
    """Open a Home Assistant page logged in as the development user."""
    contexts: list[Any] = []

    def _open(
        path: str, *, dark: bool = False, width: int = 1000, height: int = 900
    ) -> tuple[Page, PageErrors]:
        tokens = dev_hass.login_tokens()
        context = browser.new_context(
            viewport={"width": width, "height": height},
            color_scheme="dark" if dark else "light",
            device_scale_factor=1,
        )
        contexts.append(context)
        context.add_init_script(
            f"window.localStorage.setItem('hassTokens', {json.dumps(json.dumps(tokens))});"
        )
        page = context.new_page()
        errors = PageErrors()
        page.on("pageerror", lambda exc: errors.errors.append(f"pageerror: {exc}"))
        page.goto(dev_hass.url + path)
        return page, errors

    yield _open
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()


def screenshot(target: Any, name: str, **options: Any) -> Path:
    """Write a screenshot of a locator or page to docs/screenshots/<name>.png (committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    target.screenshot(path=str(path), animations="disabled", **options)
    return path


@pytest.fixture
def shoot() -> Callable[..., Path]:
    """The screenshot helper, as a fixture (test modules cannot import from conftest)."""
    return screenshot
