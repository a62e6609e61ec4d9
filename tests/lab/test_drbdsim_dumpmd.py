"""``drbdmeta ... dump-md`` of the DRBD simulator against Debian's real drbdmeta 9.22.

* the renderer against outputs recorded from the real program (``fixtures/drbdmeta``, see its
  ``generate.py``): fresh meta data, attached and dirty ones, three and four nodes (interleaved
  bitmaps, ``# at`` comments, run-length encoding), byte for byte but the time stamp;
* the view of the simulator's superblock (flags, peers, bitmaps, sizes before/after attach);
* the command line: refusals (no meta data, unclean activity log, not a block device, missing)
  and a dump of a loop device (root only).
"""

from __future__ import annotations

from collections.abc import Iterator
import importlib.util
import os
from pathlib import Path
import shutil
import subprocess
import sys
from types import ModuleType
from typing import TYPE_CHECKING

from conftest import wait_for
import pytest

if TYPE_CHECKING:
    from conftest import SimLab

LAB = Path(__file__).resolve().parents[1].parent / "lab" / "drbd"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "drbdmeta"
sys.path.insert(0, str(LAB))

from drbdsim import dumpmd, meta  # noqa: E402

MiB = 1 << 20


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("drbdmeta_fixture_gen", FIXTURES / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["drbdmeta_fixture_gen"] = mod
    spec.loader.exec_module(mod)
    return mod


GEN = _generator()


def _untimed(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    assert lines[1].startswith("# 20")
    lines[1] = "# <time>\n"
    return lines


@pytest.mark.parametrize("case", [c for c in GEN.CASES if c != "unclean"])
def test_render_matches_real_drbdmeta(case: str) -> None:
    """Same meta data -> the bytes Debian's drbdmeta 9.22 printed (the time stamp aside)."""
    real = (FIXTURES / f"{case}.out").read_text(encoding="ascii")
    assert (FIXTURES / f"{case}.rc").read_text() == "0\n"
    mine = dumpmd.render(GEN.CASES[case](), GEN.ARGV, GEN.HOST)
    assert _untimed(mine) == _untimed(real)


def test_recorded_refusals() -> None:
    """What the real program says for the refusals the simulator reproduces."""
    recorded = {
        name: (
            (FIXTURES / f"{name}.rc").read_text().strip(),
            (FIXTURES / f"{name}.out").read_text(),
            (FIXTURES / f"{name}.err").read_text(),
        )
        for name in ("no-md", "unclean", "busy")
    }
    assert recorded["no-md"] == ("1", "", dumpmd.NO_MD)
    assert recorded["unclean"] == ("1", "", dumpmd.UNCLEAN)
    assert recorded["busy"] == (
        "20",
        "Operation canceled.\n",
        "open(/dev/vdb) failed: Device or resource busy\n\nExclusive open failed. Do it anyways?\n"
        "stdin not a TTY, not waiting for confirmation\n",
    )


def test_unclean_forced_dump_is_marked() -> None:
    """``--force`` dumps unclean meta data with drbdmeta's poison line for restore-md."""
    text = dumpmd.render(GEN.unclean(), ["drbdmeta", "--force", *GEN.ARGV[1:]], "vm", now=0.0)
    assert text.splitlines()[2] == "# vm> drbdmeta --force 0 v09 /dev/vdb internal dump-md"
    assert 'version "v09";\n\nThis_is_an_unclean_meta_data_dump.' in text
    assert "\nmax-peers 1;\n" in text


def test_bm_bytes() -> None:
    """drbdmeta's bm_bytes: 64-bit words per slot, all slots, rounded up to 4 KiB."""
    assert dumpmd.bm_bytes(0, 1) == 0
    assert dumpmd.bm_bytes(524200, 1) == 8192
    assert dumpmd.bm_bytes(8, 1) == 4096
    assert dumpmd.bm_bytes(4193000, 3) == 196608


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A 256 MiB sparse file with fresh simulator meta data (one peer slot)."""
    path = tmp_path / "disk"
    with path.open("wb") as fh:
        fh.truncate(256 * MiB)
    fd = os.open(path, os.O_RDWR)
    try:
        meta.Meta.create(fd, 256 * MiB, 1, [], -1)
        yield fd, 256 * MiB
    finally:
        os.close(fd)


def test_superblock_view_before_and_after_attach(disk: tuple[int, int]) -> None:
    """Fresh: node-id -1, no slots, nothing agreed; attached: ids, flags, sizes, bitmap."""
    fd, size = disk
    sb = meta.read_superblock(fd, size)
    assert sb is not None
    fresh = dumpmd.from_superblock(sb, size, {})
    assert (fresh.node_id, fresh.current_uuid, fresh.flags) == (-1, 4, dumpmd.MDF_AL_CLEAN)
    assert (fresh.peers, fresh.la_size_sect, fresh.al_nr_extents) == ({}, 0, 257)
    real = (FIXTURES / "fresh.out").read_text(encoding="ascii")
    assert _untimed(dumpmd.render(fresh, GEN.ARGV, GEN.HOST)) == _untimed(real)

    m = meta.Meta(fd, size, sb)
    m.sb.update(node_id=1, consistent=True, was_up_to_date=True, history=[0x10, 0])
    m.set_peer(0, bitmap_uuid=0xABC0, outdated=True, seen=True)
    m.mark_bits(0, 0, 63, True)
    m.mark_bits(0, 100, 100, True)
    image = dumpmd.from_superblock(m.sb, size, {0: m.bitmap_bytes(0)})
    flags = dumpmd.MDF_CONSISTENT | dumpmd.MDF_WAS_UP_TO_DATE | dumpmd.MDF_AL_CLEAN
    assert (image.node_id, image.flags) == (1, flags)
    assert image.peers[0] == dumpmd.PeerMd(
        bitmap_index=0,
        bitmap_uuid=0xABC0,
        flags=dumpmd.MDF_NODE_EXISTS | dumpmd.MDF_PEER_OUTDATED | dumpmd.MDF_PEER_DEVICE_SEEN,
    )
    assert image.la_size_sect == meta.geometry(size, 1)["data_size"] // 512 == 524200
    text = dumpmd.render(image, GEN.ARGV, GEN.HOST)
    assert "node-id 1;\n" in text
    assert "    flags 0x00010012; # <=outdated | seen | exists\n" in text
    assert "bitmap[0] {\n   # at 0kB\n    0xFFFFFFFFFFFFFFFF; 0x0000001000000000;" in text
    assert text.endswith("}\n# bits-set 65;\n")

    m.sb.update(al=[3], primary_ind=True, crashed_primary=True, outdated=True)
    dirty = dumpmd.from_superblock(m.sb, size, {})
    assert dirty.flags == dumpmd.MDF_CONSISTENT | dumpmd.MDF_PRIMARY_IND | 1 << 6
    assert not dirty.al_clean


def _drbdmeta(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LAB / "bin" / "drbdmeta"), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A private simulator runtime directory (no daemons)."""
    run = tmp_path / "run"
    run.mkdir()
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DRBDSIM_RUN": str(run)}


def test_cli_refusals_without_a_block_device(tmp_path: Path, env: dict[str, str]) -> None:
    """A missing disk and a regular file are refused like the real drbdmeta (exit 20)."""
    p = _drbdmeta("0", "v09", str(tmp_path / "nope"), "internal", "dump-md", env=env)
    assert (p.returncode, p.stdout) == (20, "")
    assert p.stderr == f"open({tmp_path / 'nope'}) failed: No such file or directory\n"
    (tmp_path / "file").write_bytes(b"\0" * 4096)
    p = _drbdmeta("0", "v09", str(tmp_path / "file"), "internal", "dump-md", "x", env=env)
    assert (p.returncode, p.stdout) == (20, "")
    assert (
        p.stderr == f"Ignoring additional arguments\n'{tmp_path / 'file'}' is not a block device!\n"
    )


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[str]:
    """A 64 MiB loop device (root and losetup needed); detached afterwards."""
    if os.geteuid() != 0 or shutil.which("losetup") is None:
        pytest.skip("root and losetup needed")
    img = tmp_path / "loop.img"
    with img.open("wb") as fh:
        fh.truncate(64 * MiB)
    dev = subprocess.run(
        ["losetup", "-f", "--show", str(img)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


def test_cli_dump_of_a_loop_device(loop: str, env: dict[str, str]) -> None:
    """No meta data -> exit 1; after create-md the fresh dump; unclean -> exit 1 or --force."""
    args = ("0", "v09", loop, "internal", "dump-md")
    p = _drbdmeta(*args, env=env)
    assert (p.returncode, p.stdout, p.stderr) == (1, "", dumpmd.NO_MD)
    created = _drbdmeta("0", "v09", loop, "internal", "create-md", "1", env=env)
    assert created.returncode == 0, created.stderr
    p = _drbdmeta(*args, env=env)
    assert (p.returncode, p.stderr) == (0, "")
    lines = p.stdout.splitlines()
    assert lines[2] == f"# {os.uname().nodename}> drbdmeta {' '.join(args)}"
    assert "node-id -1;" in lines
    assert "current-uuid 0x0000000000000004;" in lines
    assert "la-size-sect 0;" in lines
    fd = os.open(loop, os.O_RDWR)
    try:
        m = meta.Meta(fd, 64 * MiB, meta.read_superblock(fd, 64 * MiB) or {})
        m.sb["al"] = [0]
        m.write_superblock()
    finally:
        os.close(fd)
    p = _drbdmeta(*args, env=env)
    assert (p.returncode, p.stdout, p.stderr) == (1, "", dumpmd.UNCLEAN)
    p = _drbdmeta("--force", *args, env=env)
    assert (p.returncode, p.stderr) == (0, dumpmd.UNCLEAN)
    assert "This_is_an_unclean_meta_data_dump." in p.stdout


@pytest.mark.e2e
def test_dump_md_on_simulated_nodes(simlab: SimLab) -> None:
    """create-md leaves node-id -1; an attached disk is busy; after down the ids are written."""
    a = simlab.a
    cmd = "drbdmeta 0 v09 /dev/vdb internal dump-md"
    p = a.sh(cmd)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[2] == f"# {a.hostname}> {cmd}"
    assert {"node-id -1;", "current-uuid 0x0000000000000004;", "la-size-sect 0;"} <= set(lines)
    assert "    bitmap-index 0;" not in lines
    for node in simlab.nodes:
        node.sh("drbdadm up home-assistant", check=True)
    for node in simlab.nodes:
        wait_for(lambda n=node: n.conn_state() == "Connected", what=f"{node.hostname} connected")
    a.sh("drbdadm new-current-uuid --clear-bitmap home-assistant", check=True)
    wait_for(lambda: a.disk_state() == "UpToDate", what="UpToDate")
    p = a.sh(cmd)
    assert (p.returncode, p.stdout) == (20, "Operation canceled.\n")
    assert p.stderr.startswith("open(/dev/vdb) failed: Device or resource busy\n")
    a.sh("drbdadm down home-assistant", check=True)
    p = a.sh(cmd)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    size = int(a.sh("blockdev --getsize64 /dev/vdb", check=True).stdout)
    la = meta.geometry(size, 1)["data_size"] // 512
    assert {"node-id 0;", "flags 0x00000091;", f"la-size-sect {la};"} <= set(lines)
    peer1 = lines.index("peer[1] {")
    assert lines[peer1 + 1] == "    bitmap-index 0;"
    assert lines[peer1 + 4].endswith("exists")  # flags of a configured peer
