"""scripts/develop's engine: a Home Assistant development instance configured against the lab.

    develop.py run [--background] [--config DIR] [--port PORT]
    develop.py stop [--config DIR]

``run`` starts ``hass -c DIR --skip-pip`` on 127.0.0.1:PORT (its own session, so a Ctrl-C in
the terminal reaches this script, which then stops exactly that process), completes onboarding
through Home Assistant's onboarding API (owner ``dev``, password generated once and kept in
``DIR/.develop-credentials.json``), adds the lab cluster through the integration's real config
flow (each host key compared with the lab's pinned key before it is confirmed), creates a
"Cluster" dashboard with the card, prints how to log in and then waits for Ctrl-C.
``--background`` returns once the entry is loaded and prints ``KEY=VALUE`` lines
(URL, USERNAME, PASSWORD, TOKEN, ENTRY_ID, DASHBOARD_URL, PID, CONFIG_DIR, LOG); ``stop`` ends
that instance (the PID in ``DIR/.develop.json``). A second ``run`` reuses DIR: the same user, the
same entry, the same dashboard.
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import suppress
import json
import os
from pathlib import Path
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import aiohttp
from ha_bootstrap import (
    DOMAIN,
    ONBOARDING_STEPS,
    BootstrapError,
    HomeAssistantClient,
    LabTarget,
)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "config"
DEFAULT_PORT = 8123
USERNAME = "dev"
DASHBOARD = "pacemaker-cluster"
CARD_TYPE = "custom:pacemaker-drbd-card"
START_TIMEOUT = 240.0
ENTRY_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


def log(message: str) -> None:
    """Progress for the person at the terminal (stderr; stdout carries KEY=VALUE lines)."""
    print(f"{time.strftime('%H:%M:%S')} [develop] {message}", file=sys.stderr, flush=True)


class DevelopError(Exception):
    """A clear reason to stop."""


# --- the config directory ------------------------------------------------------------------------


def prepare_config(config: Path) -> None:
    """configuration.yaml and the integration (a symlink to this checkout) in ``config``."""
    config.mkdir(parents=True, exist_ok=True)
    source = DEFAULT_CONFIG / "configuration.yaml"
    target = config / "configuration.yaml"
    if config.resolve() != DEFAULT_CONFIG.resolve():
        shutil.copyfile(source, target)
    elif not target.exists():
        raise DevelopError(f"{target} is missing (it is part of the repository)")
    custom = config / "custom_components"
    custom.mkdir(exist_ok=True)
    link = custom / DOMAIN
    want = REPO / "custom_components" / DOMAIN
    if link.is_symlink() and link.resolve() == want.resolve():
        return
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        raise DevelopError(f"{link} is a directory, expected a link to {want}: remove it")
    link.symlink_to(os.path.relpath(want, custom))


def credentials(config: Path) -> dict[str, Any]:
    """The stored development credentials (username, password, token), created once."""
    path = config / ".develop-credentials.json"
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    data = {"username": USERNAME, "password": secrets.token_urlsafe(12), "token": None}
    save_credentials(config, data)
    return data


def save_credentials(config: Path, data: dict[str, Any]) -> None:
    """Write the credentials file, readable by its owner only."""
    path = config / ".develop-credentials.json"
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


# --- the process ---------------------------------------------------------------------------------


def pid_file(config: Path) -> Path:
    """Where the running instance is recorded."""
    return config / ".develop.json"


def running_instance(config: Path) -> dict[str, Any] | None:
    """The recorded instance when its process is still the ``hass`` this script started."""
    path = pid_file(config)
    if not path.exists():
        return None
    info: dict[str, Any] = json.loads(path.read_text())
    if is_our_hass(int(info["pid"]), config):
        return info
    path.unlink()
    return None


def is_our_hass(pid: int, config: Path) -> bool:
    """Is ``pid`` alive and a Home Assistant started on ``config``?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in cmdline]
    return "homeassistant" in args and str(config.resolve()) in args


def port_in_use(port: int) -> bool:
    """Does something accept connections on 127.0.0.1:port?"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_hass(config: Path, port: int, url: str) -> subprocess.Popen[bytes]:
    """Start Home Assistant in its own session; its console output goes to develop.out."""
    env = {
        **os.environ,
        "PACEMAKER_DRBD_DEV_PORT": str(port),
        "PACEMAKER_DRBD_DEV_URL": url,
    }
    out = (config / "develop.out").open("wb")
    with out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "homeassistant", "-c", str(config.resolve()), "--skip-pip"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            cwd=config,
        )
    pid_file(config).write_text(
        json.dumps({"pid": proc.pid, "port": port, "url": url, "started": time.time()}) + "\n"
    )
    return proc


def stop_pid(pid: int, config: Path, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM the hass started on ``config``, SIGKILL after ``timeout``; True if it was ours."""
    if not is_our_hass(pid, config):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # A zombie has an empty cmdline: stopped (its parent, if that is us, reaps it).
        if not is_our_hass(pid, config):
            return True
        time.sleep(0.2)
    log(f"Home Assistant (PID {pid}) did not stop within {timeout:.0f} s: SIGKILL")
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def tail(path: Path, lines: int = 25) -> str:
    """The end of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def lab_env() -> dict[str, str]:
    """``scripts/lab env --json``; DevelopError when the lab is not up."""
    proc = subprocess.run(
        [str(REPO / "scripts" / "lab"), "env", "--json"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise DevelopError(f"scripts/lab env failed: {proc.stderr.strip()}")
    env: dict[str, str] = json.loads(proc.stdout)
    if env.get("HALAB_UP") != "1":
        raise DevelopError("the lab is not up: run `scripts/lab up` (or drop --no-lab)")
    return env


# --- the set-up through Home Assistant's APIs --------------------------------------------------


async def bootstrap(
    client: HomeAssistantClient, config: Path, lab: LabTarget, alive: Any
) -> dict[str, str]:
    """Onboarding, login, the cluster's entry and the dashboard; the facts to print."""
    started = time.monotonic()
    waited = await client.wait_up(START_TIMEOUT, alive)
    log(f"Home Assistant answers on {client.url} ({waited:.1f} s)")
    creds = credentials(config)
    done = await client.onboarding_done()
    if "user" not in done:
        log(f"onboarding: creating the owner user {creds['username']!r}")
        await client.create_owner("Developer", creds["username"], creds["password"])
    else:
        await client.login(creds["username"], creds["password"])
    if len(done) < len(ONBOARDING_STEPS):
        log(
            "onboarding: core config, analytics, integration steps (the log's errors about "
            "met, radio_browser and google_translate are expected: their libraries are left out)"
        )
        await client.finish_onboarding(done)
    token = creds.get("token")
    if not token or not await client.token_valid(token):
        token = await client.long_lived_token("scripts/develop")
        creds["token"] = token
        save_credentials(config, creds)

    entries = await client.entries(DOMAIN)
    if entries:
        entry_id = str(entries[0]["entry_id"])
        log(f"reusing the {DOMAIN} entry {entries[0]['title']!r} ({entry_id})")
    else:
        log(
            "config flow: adding the lab cluster via "
            f"{lab.nodes[0].host}:{lab.port} as {lab.username} (host keys checked against the lab)"
        )
        entry_id = await client.add_cluster(lab)
    entry_start = time.monotonic()
    await client.wait_entry_loaded(entry_id, ENTRY_TIMEOUT)
    log(f"the cluster entry is loaded ({time.monotonic() - entry_start:.1f} s)")
    card = {"type": CARD_TYPE, "entry_id": entry_id}
    if await client.ensure_dashboard(
        DASHBOARD, "Cluster", [{"title": "Cluster", "path": "cluster", "cards": [card]}]
    ):
        log(f"dashboard /{DASHBOARD} created with the cluster card")
    if removed := await client.remove_onboarding_leftovers():
        log(f"removed onboarding's offline-useless entries: {', '.join(sorted(set(removed)))}")
    log(f"ready after {time.monotonic() - started:.1f} s")
    return {
        "URL": client.url,
        "USERNAME": str(creds["username"]),
        "PASSWORD": str(creds["password"]),
        "TOKEN": token,
        "ENTRY_ID": entry_id,
        "DASHBOARD_URL": f"{client.url}/{DASHBOARD}/cluster",
    }


def next_steps(facts: dict[str, str], config: Path, background: bool) -> str:
    """What to do now, for a person."""
    stop = (
        "scripts/develop --stop" + ("" if config == DEFAULT_CONFIG else f" --config {config}")
        if background
        else "Ctrl-C here"
    )
    return f"""
Home Assistant is running with the lab cluster configured.

  Open       {facts["URL"]}
  Log in as  {facts["USERNAME"]} / {facts["PASSWORD"]}
  Cluster    {facts["DASHBOARD_URL"]}  (the card; Settings > Devices & services for entities)
  Logs       {config / "home-assistant.log"}

  Stop Home Assistant: {stop}.   Remove the lab: scripts/lab down.
  Break the cluster and watch: scripts/lab isolate ha-1 / heal ha-1, crash ha-0 / boot ha-0.
"""


async def run(config: Path, port: int, background: bool) -> int:
    """Start (or reuse) the instance and set it up; foreground: wait for Ctrl-C."""
    config = config.resolve()
    lab = LabTarget.from_env(lab_env())
    prepare_config(config)
    url = f"http://127.0.0.1:{port}"
    proc: subprocess.Popen[bytes] | None = None
    if (info := running_instance(config)) is not None:
        if not background:
            raise DevelopError(
                f"Home Assistant already runs on {config} (PID {info['pid']}, {info['url']}): "
                "use it, or stop it with scripts/develop --stop"
            )
        pid = int(info["pid"])
        url = str(info["url"])
        log(f"reusing the running Home Assistant (PID {pid})")
    else:
        if port_in_use(port):
            raise DevelopError(f"something else listens on 127.0.0.1:{port} (--port to choose)")
        proc = start_hass(config, port, url)
        pid = proc.pid
        log(f"started Home Assistant (PID {pid}), log: {config / 'home-assistant.log'}")

    def alive() -> bool:
        return proc is None or proc.poll() is None

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with aiohttp.ClientSession() as session:
            client = HomeAssistantClient(session, url)
            setup = asyncio.create_task(bootstrap(client, config, lab, alive))
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({setup, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not setup.done():
                setup.cancel()
                log("interrupted")
            facts = await setup
    except BaseException as err:
        if isinstance(err, asyncio.CancelledError):
            err = DevelopError("interrupted during set-up")
        if proc is not None:
            log(f"stopping Home Assistant (PID {proc.pid})")
            stop_pid(proc.pid, config)
            pid_file(config).unlink(missing_ok=True)
        if isinstance(err, BootstrapError):
            out = tail(config / "home-assistant.log") or tail(config / "develop.out")
            raise DevelopError(f"{err}\n--- end of the log:\n{out}") from err
        raise err from None
    facts |= {"PID": str(pid), "CONFIG_DIR": str(config), "LOG": str(config / "home-assistant.log")}
    if background:
        for key, value in facts.items():
            print(f"{key}={value}", flush=True)
        print(next_steps(facts, config, background=True), file=sys.stderr, flush=True)
        return 0
    print(next_steps(facts, config, background=False), file=sys.stderr, flush=True)
    while proc is not None and proc.poll() is None and not stop.is_set():
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1)
    if proc is not None and proc.poll() is None:
        log(f"stopping Home Assistant (PID {proc.pid})")
        await asyncio.to_thread(stop_pid, proc.pid, config)
        proc.wait()
    pid_file(config).unlink(missing_ok=True)
    code = proc.returncode if proc is not None else 0
    log(f"Home Assistant exited ({code}); the lab keeps running (scripts/lab down removes it)")
    return 0 if stop.is_set() else (code or 0)


def stop_instance(config: Path) -> int:
    """Stop the instance recorded in ``config``."""
    config = config.resolve()
    info = running_instance(config)
    if info is None:
        log(f"no development instance runs on {config}")
        return 0
    pid = int(info["pid"])
    log(f"stopping Home Assistant (PID {pid})")
    stop_pid(pid, config)
    pid_file(config).unlink(missing_ok=True)
    log("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry."""
    parser = argparse.ArgumentParser(prog="scripts/develop", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run")
    run_p.add_argument("--background", action="store_true")
    run_p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    run_p.add_argument("--port", type=int, default=DEFAULT_PORT)
    stop_p = sub.add_parser("stop")
    stop_p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    args = parser.parse_args(argv)
    try:
        if args.command == "stop":
            return stop_instance(args.config)
        return asyncio.run(run(args.config, args.port, args.background))
    except DevelopError as err:
        log(f"ERROR: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
