"""Fixtures for the end-to-end tests: the lab (scripts/lab) as a Python object.

* ``lab`` (session): makes sure the default lab (2 nodes, DRBD simulator, application
  stand-in) is up, once per session, under a file lock so pytest-xdist workers do not race.
  Skips with the reason when this machine cannot run the lab (not root, no namespaces) or when
  the run is the latest-Home-Assistant environment (the lab is machine-wide; it is exercised by
  the default run).
* ``healthy_lab`` (function): holds the e2e lock for the whole test (tests that break the
  cluster must not overlap) and makes the lab healthy first (``scripts/lab recover`` when
  ``wait healthy`` fails; ``down`` + ``up`` as the last resort).
* An autouse fixture lifts pytest-socket's block (installed by
  pytest-homeassistant-custom-component for every test) for the lab's addresses only, so tests
  can talk TCP to 198.18.0.0/24 and loopback and nowhere else.

Test modules cannot import from this conftest (tests/ has no packages; a root conftest would
shadow it): they use the fixtures, and ``Lab.exclusive()`` / ``Lab.rebuild()`` / ``Lab.healthy()``.
``ensure_lab(mode=..., nodes=...)`` (``Lab.rebuild``) is there for suites that need another lab
(``--with-home-assistant``, ``--bare``, 3 nodes): it tears a lab of a different shape down first.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
import fcntl
import json
import os
from pathlib import Path
import shlex
import subprocess
import time
from typing import TYPE_CHECKING, Any
import urllib.request

import pytest
import pytest_socket

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "scripts" / "lab"
LOCK = REPO / "lab" / "run" / "e2e.lock"
LOG = REPO / "lab" / "run" / "e2e.log"
LAB_NET = "198.18.0"
LAB_HOSTS = [
    "127.0.0.1",
    f"{LAB_NET}.1",
    f"{LAB_NET}.10",
    *(f"{LAB_NET}.{i}" for i in range(30, 33)),
]


def lab_why_not() -> str | None:
    """Why the lab cannot run here, or None."""
    if os.environ.get("PACEMAKER_DRBD_TEST_ENV", "default") != "default":
        return "the lab's e2e tests run in the default environment only"
    if os.geteuid() != 0:
        return "the lab needs root"
    try:
        rc = subprocess.run(
            ["unshare", "--net", "--mount", "--uts", "--ipc", "--pid", "--fork", "true"],
            capture_output=True,
            check=False,
            timeout=30,
        ).returncode
    except (OSError, subprocess.TimeoutExpired):
        rc = 1
    return None if rc == 0 else "no namespaces (unshare --net --mount --pid failed)"


@contextlib.contextmanager
def e2e_lock() -> Iterator[None]:
    """Exclusive lock shared by every pytest process that uses the lab."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_lab(
    *args: str, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run scripts/lab; on failure with check=True, fail with its output."""
    start = time.monotonic()
    proc = subprocess.run(
        [str(LAB), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    # every lab command with its time and output, for post-mortems (lab/run/ is gitignored)
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a", encoding="utf-8") as fh:
        fh.write(
            f"{time.strftime('%T')} pid {os.getpid()} scripts/lab {shlex.join(args)}: "
            f"rc {proc.returncode} in {time.monotonic() - start:.2f}s\n"
            + "".join(f"    {line}\n" for line in proc.stderr.splitlines()[-30:])
        )
    if check and proc.returncode != 0:
        pytest.fail(
            f"scripts/lab {shlex.join(args)} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


@dataclass(frozen=True, kw_only=True)
class Lab:
    """The running lab as tests see it (values from ``scripts/lab env --json``)."""

    nodes: tuple[str, ...]
    addresses: dict[str, str]
    vip: str
    ssh_user: str
    ssh_port: int
    client_key: str
    client_key_path: Path
    ssh_config: Path
    host_keys: dict[str, str]
    mode: str
    env: dict[str, str] = field(repr=False)

    @classmethod
    def load(cls) -> Lab:
        """Read the lab's description from ``scripts/lab env --json``."""
        env: dict[str, str] = json.loads(run_lab("env", "--json").stdout)
        nodes = tuple(env["HALAB_NODES"].split())
        key_path = Path(env["HALAB_SSH_KEY"])
        return cls(
            nodes=nodes,
            addresses={n: env[f"HALAB_IP_{n.replace('-', '_')}"] for n in nodes},
            vip=env["HALAB_VIP"],
            ssh_user=env["HALAB_SSH_USER"],
            ssh_port=int(env["HALAB_SSH_PORT"]),
            client_key=key_path.read_text(),
            client_key_path=key_path,
            ssh_config=Path(env["HALAB_SSH_CONFIG"]),
            host_keys={n: env[f"HALAB_HOSTKEY_{n.replace('-', '_')}"] for n in nodes},
            mode=env["HALAB_MODE"],
            env=env,
        )

    script = LAB

    @staticmethod
    def exclusive() -> contextlib.AbstractContextManager[None]:
        """The e2e lock: hold it while the lab is down or in another shape."""
        return e2e_lock()

    @staticmethod
    def rebuild(*, mode: str = "cluster", nodes: int = 2) -> Lab:
        """``ensure_lab``: up in this shape (tearing down another shape first)."""
        return ensure_lab(mode=mode, nodes=nodes)

    @staticmethod
    def healthy(*, mode: str = "cluster", nodes: int = 2) -> Lab:
        """``ensure_healthy``: a healthy lab of this shape (call it holding ``exclusive()``)."""
        return ensure_healthy(mode=mode, nodes=nodes)

    def known_hosts(self, *, vip: bool = True) -> list[str]:
        """OpenSSH known_hosts lines pinning each node's host key (and the VIP's)."""
        lines = [f"{self.addresses[n]} {self.host_keys[n]}" for n in self.nodes]
        if vip:
            lines += [f"{self.vip} {self.host_keys[n]}" for n in self.nodes]
        return lines

    def run(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run ``scripts/lab ARGS``."""
        return run_lab(*args, check=check, timeout=timeout)

    def wait(self, cond: str, *args: str, timeout: float = 60, on: str | None = None) -> float:
        """``scripts/lab wait``: seconds it took; fails the test on timeout."""
        extra = ["--on", on] if on else []
        proc = self.run("wait", cond, *args, *extra, "--timeout", str(timeout), check=False)
        if proc.returncode != 0:
            state = self.run("state", check=False).stdout
            pytest.fail(f"wait {cond} {' '.join(args)}: {proc.stderr.strip()}\n{state}")
        return float(proc.stdout.strip() or 0)

    def check(self, cond: str, *args: str, on: str | None = None) -> bool:
        """True when the condition holds right now."""
        extra = ["--on", on] if on else []
        return self.run("wait", cond, *args, *extra, "--timeout", "0", check=False).returncode == 0

    def exec(self, node: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command inside a node (nsenter, not ssh)."""
        return self.run("exec", node, *cmd, check=check)

    def ssh(
        self, node: str, command: str, *, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run a command over real ssh (pinned host keys, the lab's client key)."""
        proc = subprocess.run(
            ["ssh", "-F", str(self.ssh_config), node, command],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"ssh {node} {command!r} exited {proc.returncode}: {proc.stderr}")
        return proc

    def state(self) -> dict[str, Any]:
        """``scripts/lab state --json``: running nodes, crm view, DRBD view per node."""
        doc: dict[str, Any] = json.loads(self.run("state", "--json").stdout)
        return doc

    def group_node(self) -> str:
        """The node that runs the application group."""
        crm = self.state()["crm"]
        assert crm is not None, "no node answers crm_mon"
        node = crm["group_node"]
        assert node in self.nodes, crm
        return str(node)

    def other(self, node: str) -> str:
        """Another node than node (the first one)."""
        return next(n for n in self.nodes if n != node)

    # the application stand-in (ocf:halab:app), through the VIP or a node address
    def app(self, path: str, *, host: str | None = None, post: bool = False) -> Any:
        """GET/POST the application stand-in; returns the decoded JSON (or text)."""
        url = f"http://{host or self.vip}:8123{path}"
        req = urllib.request.Request(url, method="POST" if post else "GET")  # noqa: S310
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            body = resp.read().decode()
            if resp.headers.get_content_type() == "application/json":
                return json.loads(body)
            return body

    def app_write(self, data: str, *, host: str | None = None) -> int:
        """One acknowledged write; returns its sequence number."""
        doc = self.app(f"/write?data={data}", host=host, post=True)
        return int(doc["seq"])

    def app_records(self, node: str) -> list[str]:
        """The record payloads on node's mounted file system (read inside the node)."""
        text = self.exec(node, "cat", "/mnt/home-assistant/app/records").stdout
        return [line.split("\t")[3] for line in text.splitlines() if line.count("\t") >= 3]


def ensure_lab(*, mode: str = "cluster", nodes: int = 2) -> Lab:
    """Bring up a lab of this shape (tearing down one of another shape). Call under e2e_lock."""
    env = json.loads(run_lab("env", "--json").stdout)
    if env["HALAB_UP"] == "1" and (env["HALAB_MODE"], env["HALAB_NODE_COUNT"]) != (
        mode,
        str(nodes),
    ):
        run_lab("down")
    args = ["up", "--nodes", str(nodes)]
    args += {"cluster": [], "bare": ["--bare"], "hass": ["--with-home-assistant"]}[mode]
    run_lab(*args)
    return Lab.load()


@pytest.fixture(autouse=True)
def _lab_sockets() -> None:
    """Allow TCP to the lab and loopback only (pytest-socket blocks everything else)."""
    pytest_socket.enable_socket()
    pytest_socket.socket_allow_hosts(LAB_HOSTS, allow_unix_socket=True)


# The tests that need the lab in another shape (Home Assistant as the application, three nodes,
# bare nodes) are marked ``lab_shape(...)`` and run after the others, grouped by shape: the lab is
# rebuilt once per shape instead of there and back around each of them (they do not restore the
# default shape; the next test that needs it rebuilds it, and so does the end of the session).
SHAPE_ORDER = {"cluster": 0, "hass": 1, "three": 2, "bare": 3}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Default-shape tests first, then one group per shape (stable within each group).

    A hook of this conftest sees every collected item (browser and lab tests too).
    """

    def rank(item: pytest.Item) -> int:
        marker = item.get_closest_marker("lab_shape")
        return SHAPE_ORDER[marker.args[0]] if marker is not None else 0

    items.sort(key=rank)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The default lab, up and described (once per session and worker); the default shape is
    put back at the end of the session."""
    why = lab_why_not()
    if why:
        pytest.skip(f"e2e tests skipped: {why}")
    with e2e_lock():
        described = ensure_lab()
    yield described
    with e2e_lock():
        env = json.loads(run_lab("env", "--json").stdout)
        if (env["HALAB_UP"], env["HALAB_MODE"], env["HALAB_NODE_COUNT"]) != ("1", "cluster", "2"):
            ensure_lab()


def ensure_healthy(*, mode: str = "cluster", nodes: int = 2) -> Lab:
    """A healthy lab of this shape: recover it, or rebuild it as the last resort."""
    env = json.loads(run_lab("env", "--json").stdout)
    if (env["HALAB_UP"], env["HALAB_MODE"], env["HALAB_NODE_COUNT"]) != ("1", mode, str(nodes)):
        return ensure_lab(mode=mode, nodes=nodes)
    healthy = run_lab("wait", "healthy", "--timeout", "3", check=False).returncode == 0
    if not healthy and run_lab("recover", check=False).returncode != 0:
        run_lab("down")
        return ensure_lab(mode=mode, nodes=nodes)
    return Lab.load()


@pytest.fixture
def healthy_lab(lab: Lab) -> Iterator[Lab]:
    """The lab, healthy at the start of the test, and reserved for it alone."""
    with e2e_lock():
        yield ensure_healthy()
