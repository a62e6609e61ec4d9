"""Unit tests of the DRBD simulator's pure parts (no root needed).

* the renderers against the core's independently generated drbd-utils 9.22 fixtures
  (``tests/core/fixtures/drbd``, same states -> same bytes);
* wrap_printf's column quirk, events2 diffs, the events2 merge of kernel notifications;
* the sync handshake decisions (split brain, policies, discard-my-data);
* the configuration parser and ``drbdadm dump`` against the real drbdadm 9.22 when installed;
* the meta data geometry (drbdmeta v09: 256 MiB -> 262100 KiB).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
import shutil
import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest

LAB = Path(__file__).resolve().parents[2] / "lab" / "drbd"
FIXTURES = Path(__file__).resolve().parents[1] / "core" / "fixtures" / "drbd"
sys.path.insert(0, str(LAB))

from drbdsim import config, handshake, meta, render  # noqa: E402


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("drbd_fixture_gen", FIXTURES / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["drbd_fixture_gen"] = mod
    spec.loader.exec_module(mod)
    return mod


def _convert(res: Any) -> dict[str, Any]:
    """The fixture generator's scenario -> the simulator's kernel snapshot."""
    devices = [
        {
            "volume": d.volume,
            "minor": d.minor,
            "disk": d.disk,
            "client": d.client,
            "quorum": d.quorum,
            "backing_dev": d.backing_dev or None,
            "stats": {
                "size": d.size,
                "read": d.read,
                "written": d.written,
                "al_writes": d.al_writes,
                "bm_writes": d.bm_writes,
                "upper_pending": 0,
                "lower_pending": 0,
                "al_suspended": False,
                "blocked_upper": d.upper_blocked,
                "blocked_lower": False,
            },
        }
        for d in res.devices
    ]
    conns = []
    for c in res.connections:
        pds = []
        for p in c.peer_devices:
            s = p.sync
            stats = {
                "received": p.received,
                "sent": p.sent,
                "out_of_sync": p.oos,
                "pending": p.pending,
                "unacked": p.unacked,
                "ov_left": 0,
                "rs_total": s.rs_total if s else 0,
                "rs_dt_start_ms": s.dt_start_ms if s else 0,
                "rs_paused_ms": s.paused_ms if s else 0,
                "rs_dt0_ms": s.dt0_ms if s else 0,
                "rs_db0_sectors": s.db0_sectors if s else 0,
                "rs_dt1_ms": s.dt1_ms if s else 0,
                "rs_db1_sectors": s.db1_sectors if s else 0,
                "rs_failed": s.failed if s else 0,
                "rs_same_csum": s.same_csum if s else 0,
                "rs_c_sync_rate": s.c_sync_rate if s else 0,
            }
            pds.append(
                {
                    "volume": p.volume,
                    "repl": p.repl,
                    "pdsk": p.pdisk,
                    "peer_client": p.pclient,
                    "susp_user": "user" in p.susp,
                    "susp_peer": "peer" in p.susp,
                    "susp_dep": "dependency" in p.susp,
                    "uuid_flags": 0x100 if c.role != "Primary" else 0,
                    "stats": stats,
                }
            )
        conns.append(
            {
                "peer_node_id": c.peer_node_id,
                "name": c.name,
                "cstate": c.cstate,
                "peer_role": c.role,
                "congested": c.congested,
                "ap_in_flight": 0,
                "rs_in_flight": 0,
                "paths": [],
                "peer_devices": pds,
            }
        )
    return {
        "name": res.name,
        "node_id": res.node_id,
        "role": res.role,
        "susp_user": res.susp_user,
        "susp_nod": res.susp_nod,
        "susp_fen": res.susp_fen,
        "susp_quorum": res.susp_quorum,
        "fail_io": res.fail_io,
        "write_ordering": res.write_ordering,
        "devices": devices,
        "connections": conns,
    }


def _cases() -> list[tuple[str, str, str]]:
    if not (FIXTURES / "generate.py").exists():
        return []
    gen = _generator()
    cases = []
    for name, resources in gen.scenarios().items():
        states = sorted((_convert(r) for r in resources), key=lambda s: s["name"])
        ev = render.Events2(statistics=True)
        outputs = {
            f"status-json-9.22-{name}.json": render.status_json(states),
            f"status-text-9.22-{name}.txt": render.status_text(states),
            f"events2-now-statistics-9.22-{name}.txt": "".join(
                ev.changes(None, s, "exists") for s in (_convert(r) for r in resources)
            )
            + ev.end_of_initial(),
        }
        for fname, text in outputs.items():
            if (FIXTURES / fname).exists():
                cases.append((fname, text, (FIXTURES / fname).read_text()))
    return cases


CASES = _cases()


@pytest.mark.parametrize(("fname", "mine", "want"), CASES, ids=[c[0] for c in CASES])
def test_renderers_match_core_fixtures(fname: str, mine: str, want: str) -> None:
    """Same kernel state -> same bytes as the core's 9.22 fixtures."""
    assert mine == want


def test_fixture_comparison_covers_all_formats() -> None:
    """The comparison is not vacuous: JSON, text and events2 fixtures are all exercised."""
    if not CASES:
        pytest.skip("core fixtures not present")
    kinds = {name.split("-9.22")[0] for name, _, _ in CASES}
    assert kinds == {"status-json", "status-text", "events2-now-statistics"}
    assert len(CASES) >= 30


def test_wrap_printf_column_quirk() -> None:
    """After an indentation the column counter is -1 + n: lines may run past 80 columns."""
    w = render.Wrap(20)
    w(0, "x" * 15)  # col = -1 + 15 = 14
    w(4, " y" * 3)  # 14 + 6 = 20: still fits
    w(4, " y")  # 20 + 2 > 20: wraps, the leading space is eaten
    w(0, "\n")
    w(2, " " + "z" * 20)  # at column 0: leading space eaten, indent printed
    w(2, " a")  # col = -1 + 20 = 19; 19 + 2 > 20 -> wraps
    assert w.text() == "x" * 15 + " y y y\n    y\n  " + "z" * 20 + "\n  a"


def _snap(
    role: str = "Secondary", cstate: str = "Connected", pdsk: str = "UpToDate"
) -> dict[str, Any]:
    stats = dict.fromkeys(
        (
            "received",
            "sent",
            "out_of_sync",
            "pending",
            "unacked",
            "rs_total",
            "rs_dt_start_ms",
            "rs_paused_ms",
            "rs_dt0_ms",
            "rs_db0_sectors",
            "rs_dt1_ms",
            "rs_db1_sectors",
            "rs_failed",
            "rs_same_csum",
            "rs_c_sync_rate",
            "ov_left",
        ),
        0,
    )
    return {
        "name": "r0",
        "node_id": 0,
        "role": role,
        "write_ordering": "flush",
        "devices": [
            {
                "volume": 0,
                "minor": 0,
                "disk": "UpToDate",
                "client": False,
                "quorum": True,
                "backing_dev": "/dev/vdb",
                "stats": {
                    "size": 100,
                    "read": 0,
                    "written": 0,
                    "al_writes": 0,
                    "bm_writes": 0,
                    "upper_pending": 0,
                    "lower_pending": 0,
                    "al_suspended": False,
                },
            }
        ],
        "connections": [
            {
                "peer_node_id": 1,
                "name": "b",
                "cstate": cstate,
                "peer_role": "Secondary" if cstate == "Connected" else "Unknown",
                "paths": [
                    {
                        "local": "ipv4:1.1.1.1:7788",
                        "peer": "ipv4:1.1.1.2:7788",
                        "established": cstate == "Connected",
                    }
                ],
                "peer_devices": [
                    {
                        "volume": 0,
                        "repl": "Established" if cstate == "Connected" else "Off",
                        "pdsk": pdsk,
                        "peer_client": False,
                        "stats": stats,
                    }
                ],
            }
        ],
    }


def test_events2_exists_has_no_paths_and_changes_carry_only_changed_fields() -> None:
    """Initial state without path lines; a change line names only what changed."""
    ev = render.Events2()
    first = render.without_paths(_snap())
    text = ev.changes(None, _snap(), "exists") + ev.end_of_initial()
    assert "path" not in text
    assert text.endswith("exists -\n")
    lost = _snap(cstate="Connecting", pdsk="DUnknown")
    new = render.merge(first, lost, [["conn", 1], ["pd", 1, 0], ["path", 1]])
    out = ev.changes(first, new)
    assert out.splitlines() == [
        "change resource name:r0 may_promote:yes promotion_score:10101",
        "change connection name:r0 peer-node-id:1 conn-name:b connection:Connecting role:Unknown",
        "change peer-device name:r0 peer-node-id:1 conn-name:b volume:0 replication:Off "
        "peer-disk:DUnknown peer-client:no",
        "create path name:r0 peer-node-id:1 conn-name:b local:ipv4:1.1.1.1:7788 "
        "peer:ipv4:1.1.1.2:7788 established:no",
    ]
    # a role change alone notifies only the resource; may_promote follows from the copy
    promoted = render.merge(
        new, _snap(role="Primary", cstate="Connecting", pdsk="DUnknown"), [["res"]]
    )
    assert ev.changes(new, promoted) == (
        "change resource name:r0 role:Primary may_promote:no promotion_score:10101\n"
    )
    assert ev.changes(promoted, None).splitlines()[-1] == "destroy resource name:r0"


def test_events2_helper_line() -> None:
    """call/response helper lines with the fields of print_helper."""
    ev = render.Events2()
    call = {
        "name": "r0",
        "peer_node_id": 1,
        "conn_name": "b",
        "volume": 0,
        "minor": 0,
        "helper": "split-brain",
        "response": False,
    }
    assert ev.helper(call) == (
        "call helper name:r0 peer-node-id:1 conn-name:b volume:0 minor:0 helper:split-brain\n"
    )
    assert ev.helper(dict(call, response=True, status=0)).endswith(" status:0\n")


def _info(**kw: Any) -> dict[str, Any]:
    base = {
        "node_id": 0,
        "name": "a",
        "role": "Secondary",
        "disk": "UpToDate",
        "cu": 0x10,
        "bu": 0,
        "hist": [0, 0],
        "crashed": False,
        "bits": 0,
        "discard": False,
    }
    base.update(kw)
    return base


def test_handshake_decisions() -> None:
    """Generation identifiers decide direction, split brain and its manual resolution."""
    pol: dict[str, str] = {}
    # peer tracked changes since my current UUID: I am the sync target
    v = handshake.decide(_info(cu=0x10), _info(node_id=1, cu=0x20, bu=0x10, bits=5), pol)
    assert (v["outcome"], v["hg"]) == ("sync", -1)
    assert handshake.names(v["raw"], v["rule"], True) == ("target-use-bitmap", "bitmap-peer")
    # both diverged from the same ancestor: split brain, unresolved with default policies
    a = _info(cu=0x30, bu=0x10, role="Primary", bits=3)
    b = _info(node_id=1, name="b", cu=0x40, bu=0x10, role="Primary", bits=7)
    v = handshake.decide(a, b, pol)
    assert v["outcome"] == "splitbrain"
    assert v["initial_sb"] is True
    assert "Split-Brain detected but unresolved, dropping connection!" in [
        t for _, t in v["notes"][0]
    ]
    # the victim connects with --discard-my-data: resolved, the victim becomes target
    v = handshake.decide(a, dict(b, role="Secondary", discard=True), pol)
    assert (v["outcome"], v["hg"]) == ("sync", 1)
    # after-sb-0pri discard-zero-changes resolves when one side did not write
    v = handshake.decide(
        dict(a, role="Secondary", bits=0),
        dict(b, role="Secondary"),
        {"after-sb-0pri": "discard-zero-changes"},
    )
    assert (v["outcome"], v["hg"]) == ("sync", -1)
    # unrelated data
    v = handshake.decide(_info(cu=0x50), _info(node_id=1, cu=0x60), pol)
    assert v["outcome"] == "unrelated"
    # a primary may not become sync target
    v = handshake.decide(_info(cu=0x10, role="Primary"), _info(node_id=1, cu=0x20, bu=0x10), pol)
    assert v["outcome"] == "drop"
    # inconsistent disk: becomes target by disk state, full sync from just-created peer UUID
    v = handshake.decide(_info(cu=4, disk="Inconsistent"), _info(node_id=1, cu=0x20), pol)
    assert (v["outcome"], v["hg"], v["full"]) == ("sync", -2, True)


def test_meta_geometry_matches_drbdmeta() -> None:
    """drbdmeta v09 internal meta data of a 256 MiB disk: offsets and 262100 KiB usable."""
    geo = meta.geometry(256 << 20, 1)
    assert geo["md_offset"] == 268431360
    assert geo["al_offset"] == 268398592
    assert geo["bm_offset"] == 268390400
    assert geo["data_size"] // 1024 == 262100


CONF = """resource home-assistant {
    device /dev/drbd0;
    disk /dev/vdb;
    meta-disk internal;
    options { quorum off; auto-promote no; }
    net {
        protocol C;
        after-sb-0pri discard-zero-changes;
        after-sb-2pri disconnect;
        allow-two-primaries no;
    }
    disk { on-io-error detach; }
    handlers { split-brain "/usr/lib/drbd/notify-split-brain.sh root"; fence-peer /bin/true; }
    on ha-0 { address 198.18.0.30:7788; node-id 0; }
    on ha-1 { node-id 1; address ipv4 198.18.0.31:7788; device /dev/drbd1; }
    connection-mesh { hosts ha-0 ha-1; }
}
"""


def _write_conf(tmp_path: Path) -> Path:
    (tmp_path / "drbd.d").mkdir()
    (tmp_path / "drbd.d" / "global_common.conf").write_text(
        "global { usage-count no; }\ncommon { net { protocol C; } }\n"
    )
    (tmp_path / "drbd.d" / "home-assistant.res").write_text(CONF)
    conf = tmp_path / "drbd.conf"
    conf.write_text('include "drbd.d/global_common.conf";\ninclude "drbd.d/*.res";\n')
    return conf


def test_config_view(tmp_path: Path) -> None:
    """The resolved per-host view: node ids, addresses, peers, net options with common."""
    cfg = config.load(str(_write_conf(tmp_path)))
    view = config.resolve(cfg.resources["home-assistant"], "ha-1")
    assert (view.node_id, str(view.address)) == (1, "ipv4:198.18.0.31:7788")
    assert [(p.name, p.node_id) for p in view.peers] == [("ha-0", 0)]
    assert view.volumes[0].device == "/dev/drbd1"
    assert view.net_option(view.peers[0], "after-sb-0pri") == "discard-zero-changes"
    with pytest.raises(config.ConfigError, match="not defined in your config"):
        config.resolve(cfg.resources["home-assistant"], "elsewhere")


@pytest.mark.skipif(
    shutil.which("drbdadm") is None or os.geteuid() != 0, reason="real drbdadm + root needed"
)
def test_dump_matches_real_drbdadm(tmp_path: Path) -> None:
    """``drbdadm dump RES`` and ``dump`` (all) equal Debian's drbdadm 9.22 byte for byte."""
    conf = _write_conf(tmp_path)
    cfg = config.load(str(conf))
    for names, args in ((["home-assistant"], ["dump", "home-assistant"]), ([], ["dump"])):
        real = subprocess.run(
            [
                "unshare",
                "--uts",
                "--net",
                "sh",
                "-c",
                "hostname ha-0; ip link set lo up; ip addr add 198.18.0.30/32 dev lo; "
                f"DRBD_DRIVER_VERSION_OVERRIDE=9.2.12 drbdadm -c {conf} {' '.join(args)}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert real.returncode == 0, real.stderr
        assert config.dump(cfg, names, "ha-0") == real.stdout


@pytest.mark.skipif(
    shutil.which("drbdadm") is None or os.geteuid() != 0, reason="real drbdadm + root needed"
)
@pytest.mark.parametrize(
    "command",
    [
        "up home-assistant",
        "primary home-assistant",
        "connect --discard-my-data home-assistant",
        "new-current-uuid --clear-bitmap home-assistant",
        "down home-assistant",
    ],
)
def test_dry_run_matches_real_drbdadm(tmp_path: Path, command: str) -> None:
    """``drbdadm -d CMD`` prints the drbdsetup/drbdmeta calls the real drbdadm 9.22 would make."""
    conf = _write_conf(tmp_path)
    outputs = []
    for prog in (
        "DRBD_DRIVER_VERSION_OVERRIDE=9.2.12 drbdadm",
        f"{sys.executable} {LAB}/bin/drbdadm",
    ):
        proc = subprocess.run(
            ["unshare", "--uts", "sh", "-c", f"hostname ha-0; {prog} -c {conf} -d {command}"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].startswith("drbdsetup ") or outputs[0].startswith("drbdmeta ")
