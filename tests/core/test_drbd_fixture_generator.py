"""The generated DRBD fixtures are exactly what generate.py renders (nobody edited them)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
import sys
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "drbd"


def load_generator() -> Any:
    """Import tests/core/fixtures/drbd/generate.py as a module."""
    spec = importlib.util.spec_from_file_location(
        "drbd_fixture_generator", FIXTURES / "generate.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_generated_files_are_current(tmp_path: Path) -> None:
    """Render every scenario into a temporary folder and compare byte for byte."""
    generator = load_generator()
    generator.HERE = tmp_path
    generator.main()
    produced = sorted(p.name for p in tmp_path.iterdir())
    assert len(produced) > 70
    for name in produced:
        assert (tmp_path / name).read_bytes() == (FIXTURES / name).read_bytes(), name


def test_wrap_printf_emulation() -> None:
    """wrap_printf: a line may run one column past the limit (col starts at -1)."""
    generator = load_generator()
    wrap = generator.Wrap(columns=22)
    wrap(0, "resource")
    wrap(4, " role:Secondary")
    wrap(4, " suspended:user")
    wrap(0, "\n")
    assert wrap.text() == "resource role:Secondary\n    suspended:user\n"
    assert len("resource role:Secondary") == 23
