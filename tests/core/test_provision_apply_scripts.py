"""The fixed shell scripts ``apply`` sends, run for real with ``sh`` (no SSH needed).

``WRITE_FILE_SCRIPT`` (atomic write with a backup), ``CIB_DIFF_SCRIPT`` (``crm_diff`` of two
documents sent on stdin, when Pacemaker's tools are installed) and ``CLEAR_CIB_SCRIPT``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
import shutil
import subprocess

import pytest

from hacluster.provision import load_config_file
from hacluster.provision.apply import _strip_digest
from hacluster.provision.checks import CIB_FILE
from hacluster.provision.cib import (
    desired_cib,
    parse_cib_text,
    serialize,
    summarize_patch,
    without_status,
)
from hacluster.provision.steps import (
    CIB_DIFF_SCRIPT,
    CLEAR_CIB_SCRIPT,
    WRITE_FILE_SCRIPT,
    write_file_argv,
)
from hacluster.render import render_cib_xml

ROOT = Path(__file__).resolve().parents[2]
LAB = load_config_file(ROOT / "scripts" / "examples" / "lab-cluster.yaml")


def sh(argv: tuple[str, ...], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, input=stdin, capture_output=True, check=False, timeout=60)


def test_write_file_new_same_and_changed(tmp_path: Path) -> None:
    target = tmp_path / "corosync.conf"
    argv = write_file_argv(str(target), "0644")
    assert argv[:3] == ("sh", "-c", WRITE_FILE_SCRIPT)
    first = sh(argv, b"one\n")
    assert first.returncode == 0, first.stderr
    assert first.stdout.decode() == f"{hashlib.sha256(b'one\n').hexdigest()}  {target}\n"
    assert target.read_bytes() == b"one\n"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    same = sh(argv, b"one\n")
    assert same.stdout.decode().splitlines()[0] == "unchanged"
    changed = sh(write_file_argv(str(target), "0400"), b"two\n")
    lines = changed.stdout.decode().splitlines()
    assert lines[0].startswith(f"backup {target}.hacluster-")
    backup = Path(lines[0].split(" ", 1)[1])
    assert backup.read_bytes() == b"one\n"
    assert target.read_bytes() == b"two\n"
    assert oct(target.stat().st_mode & 0o777) == "0o400"
    # no temporary file is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, backup.name])


def test_write_file_path_is_data_not_code(tmp_path: Path) -> None:
    odd = tmp_path / "a b;$(touch pwned)'"
    done = sh(write_file_argv(str(odd), "0644"), b"x")
    assert done.returncode == 0, done.stderr
    assert odd.read_bytes() == b"x"
    assert not (tmp_path / "pwned").exists()
    assert not Path("pwned").exists()


def test_write_file_fails_cleanly_without_the_directory(tmp_path: Path) -> None:
    done = sh(write_file_argv(str(tmp_path / "missing" / "f"), "0644"), b"x")
    assert done.returncode != 0
    assert not (tmp_path / "missing").exists()


def test_clear_cib_moves_files_aside(tmp_path: Path) -> None:
    cib = tmp_path / "cib"
    cib.mkdir()
    (cib / "cib.xml").write_text("<cib/>")
    (cib / "cib.xml.sig").write_text("x")
    (cib / "other").write_text("kept")
    script = CLEAR_CIB_SCRIPT.replace(CIB_FILE, str(cib / "cib.xml"))
    done = sh(("sh", "-c", script, "sh", "hacluster-1.bak"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in cib.iterdir()) == ["other"]
    assert sorted(p.name for p in (tmp_path / "cib.hacluster-1.bak").iterdir()) == [
        "cib.xml",
        "cib.xml.sig",
    ]
    assert b"moved " in done.stdout
    # nothing there: nothing to do
    empty = CLEAR_CIB_SCRIPT.replace(CIB_FILE, str(tmp_path / "nowhere" / "cib.xml"))
    assert sh(("sh", "-c", empty, "sh", "x")).returncode == 0


@pytest.mark.skipif(shutil.which("crm_diff") is None, reason="crm_diff (pacemaker-cli-utils)")
def test_cib_diff_script_with_the_real_crm_diff() -> None:
    live = without_status(parse_cib_text(render_cib_xml(LAB)))
    same = desired_cib(live, LAB)
    separator = "--hacluster-0123456789abcdef--"
    payload = f"{serialize(live)}{separator}\n{serialize(same)}".encode()
    nothing = sh(("sh", "-c", CIB_DIFF_SCRIPT, "sh", separator), payload)
    assert nothing.returncode == 0, nothing.stderr
    assert nothing.stdout == b""
    ip = same.find(".//nvpair[@id='p_ip_home-assistant-instance_attributes-ip']")
    assert ip is not None
    ip.set("value", "198.18.0.11")
    payload = f"{serialize(live)}{separator}\n{serialize(same)}".encode()
    diff = sh(("sh", "-c", CIB_DIFF_SCRIPT, "sh", separator), payload)
    assert diff.returncode == 1, diff.stderr
    patch = _strip_digest(diff.stdout.decode())
    assert 'digest="' not in patch.split(">", 1)[0]
    lines = summarize_patch(patch)
    assert lines, patch
    assert all("p_ip_home-assistant-instance_attributes-ip" in line for line in lines)
    assert any("198.18.0.11" in line for line in lines)
