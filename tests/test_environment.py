"""The test environment is the one the run claims, and the core never imports Home Assistant.

`scripts/test` runs the suite in the default environment (requirements_test.txt, Python 3.13);
`scripts/test --latest-ha` runs it against the newest Home Assistant (requirements_test_latest.txt,
Python >= 3.14.2) and sets PACEMAKER_DRBD_TEST_ENV=latest. The versions actually imported must
match the pins of the claimed environment, so a broken latest-ha environment cannot silently run
the old Home Assistant (and the default run cannot silently run the new one).
"""

from __future__ import annotations

import ast
from importlib import metadata
import json
import os
from pathlib import Path
import re
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "custom_components" / "pacemaker_drbd" / "hacluster"

# Environment name -> (requirements file, lowest Python, Python below which it must be).
ENVIRONMENTS: dict[str, tuple[str, tuple[int, ...], tuple[int, ...]]] = {
    "default": ("requirements_test.txt", (3, 13), (3, 14)),
    "latest": ("requirements_test_latest.txt", (3, 14, 2), (4,)),
}


def _claimed_env() -> str:
    return os.environ.get("PACEMAKER_DRBD_TEST_ENV", "default")


def _pins(requirements: Path) -> dict[str, str]:
    """Return the exact (==) pins of a requirements file, by normalised project name."""
    pins: dict[str, str] = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)", line)
        if m:
            pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return pins


def test_claimed_environment_is_known() -> None:
    """PACEMAKER_DRBD_TEST_ENV names an environment this file knows."""
    assert _claimed_env() in ENVIRONMENTS


def test_python_matches_environment() -> None:
    """The interpreter is the one the claimed environment is built on."""
    _, lowest, below = ENVIRONMENTS[_claimed_env()]
    assert lowest <= sys.version_info[:3] < below, (_claimed_env(), sys.version)


@pytest.mark.parametrize(
    "project",
    ["homeassistant", "pytest-homeassistant-custom-component", "asyncssh", "ruff", "mypy"],
)
def test_installed_versions_match_pins(project: str) -> None:
    """Every pinned tool and library is installed at the version the claimed environment pins."""
    requirements, _, _ = ENVIRONMENTS[_claimed_env()]
    pins = _pins(REPO / requirements)
    assert project in pins, f"{project} is not pinned in {requirements}"
    installed = metadata.version(project)
    assert installed == pins[project], (
        f"{project} {installed} is installed but {requirements} pins {pins[project]}"
        f" (PACEMAKER_DRBD_TEST_ENV={_claimed_env()})"
    )


def test_imported_homeassistant_is_the_pinned_one() -> None:
    """The Home Assistant that is really imported (not only its metadata) has the pinned version."""
    from homeassistant.const import __version__ as ha_version

    requirements, _, _ = ENVIRONMENTS[_claimed_env()]
    assert ha_version == _pins(REPO / requirements)["homeassistant"]
    expected = os.environ.get("PACEMAKER_DRBD_EXPECT_HA")
    if expected is not None:  # set by scripts/lib/latest-ha from the same file: they must agree
        assert ha_version == expected


# Runs in a fresh interpreter: a meta-path finder refuses (and records) every attempt to import
# homeassistant or the integration package, then the core and every module in it is imported.
_BLOCKED_IMPORT_PROBE = r"""
import importlib, importlib.abc, json, pkgutil, sys

BLOCKED = ("homeassistant", "custom_components")
attempts = []

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            attempts.append(name)
            raise ModuleNotFoundError(f"blocked: {name}", name=name)
        return None

sys.meta_path.insert(0, Blocker())
sys.path.insert(0, sys.argv[1])
for name in list(sys.modules):
    if name.split(".")[0] in BLOCKED:
        raise SystemExit(f"{name} was imported before the probe started")

# The blocker works: homeassistant, which is installed, cannot be imported now.
try:
    import homeassistant  # noqa: F401
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("the blocker let homeassistant through")
attempts.clear()

import hacluster
modules = ["hacluster"]
for info in pkgutil.walk_packages(hacluster.__path__, "hacluster."):
    if info.name.rsplit(".", 1)[-1] == "__main__":
        continue  # running it would start the command; the static test below covers it
    importlib.import_module(info.name)
    modules.append(info.name)
leaked = sorted(n for n in sys.modules if n.split(".")[0] in BLOCKED)
print(json.dumps({"file": hacluster.__file__, "modules": modules, "attempts": attempts,
                  "leaked": leaked}))
"""


def test_core_imports_without_homeassistant(tmp_path: Path) -> None:
    """The core and all its modules import where homeassistant cannot be imported at all.

    The probe also records attempts that a module would swallow (try/except ImportError), so a
    core that merely tolerates a missing Home Assistant fails this test too.
    """
    import homeassistant  # the positive control: here, it is importable

    assert homeassistant.__name__ == "homeassistant"
    proc = subprocess.run(
        # -I: no PYTHONPATH, user site or current directory; -B: no bytecode in the tree.
        [sys.executable, "-I", "-B", "-c", _BLOCKED_IMPORT_PROBE, str(CORE.parent)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(result["file"]).resolve() == (CORE / "__init__.py").resolve()
    assert result["attempts"] == []
    assert result["leaked"] == []
    assert "hacluster.errors" in result["modules"]
    on_disk = {
        ".".join(("hacluster", *p.relative_to(CORE).with_suffix("").parts)).removesuffix(
            ".__init__"
        )
        for p in CORE.rglob("*.py")
        if p.stem != "__main__"
    }
    assert on_disk <= set(result["modules"]), "some core modules were not imported"


def _absolute_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """Return (line, module) of every absolute import in a module, however deeply nested."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_core_sources_never_import_homeassistant() -> None:
    """No core module imports homeassistant or the integration anywhere, not even lazily inside a
    function, and the core refers to itself only by relative imports (it is imported both as
    `hacluster` and as `custom_components.pacemaker_drbd.hacluster`)."""
    sources = sorted(CORE.rglob("*.py"))
    assert sources
    offenders = [
        f"{path.relative_to(REPO)}:{line}: import {module}"
        for path in sources
        for line, module in _absolute_imports(ast.parse(path.read_bytes(), str(path)))
        if module.split(".")[0] in {"homeassistant", "custom_components", "hacluster"}
    ]
    assert offenders == []


def test_static_check_finds_offenders() -> None:
    """The static check above sees imports nested in functions and try blocks."""
    tree = ast.parse(
        "def f():\n    try:\n        from homeassistant.core import HomeAssistant\n"
        "    except ImportError:\n        import custom_components.pacemaker_drbd\n"
        "from . import errors\n"
    )
    assert _absolute_imports(tree) == [
        (3, "homeassistant.core"),
        (5, "custom_components.pacemaker_drbd"),
    ]
