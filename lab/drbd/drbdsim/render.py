"""drbd-utils 9.22 output formats: ``drbdsetup status`` (text, JSON) and ``events2`` lines.

Pure functions over the kernel state snapshot (plain dicts, see ``daemon.Resource.snapshot``).
The printing rules follow drbdsetup.c / drbdsetup_events2.c / wrap_printf.c of drbd-utils
(9.22 has neither ``open`` nor ``tls`` nor ``paths`` in ``status``). Sizes in snapshots are in
512-byte sectors like the kernel reports them; the printers divide by two (KiB).
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any

from .states import DISK_RANK, REPL_RANK

State = dict[str, Any]

UNKNOWN = "unknown"


# -- helpers ------------------------------------------------------------------------------


def yes_no(value: bool) -> str:
    """``yes``/``no``."""
    return "yes" if value else "no"


def json_bool(value: bool) -> str:
    """``true``/``false``."""
    return "true" if value else "false"


def susp_str(res: State) -> str:
    """drbdsetup's susp_str(): comma list of user,no-data,fencing,quorum or ``no``."""
    parts = [
        name
        for name, key in (
            ("user", "susp_user"),
            ("no-data", "susp_nod"),
            ("fencing", "susp_fen"),
            ("quorum", "susp_quorum"),
        )
        if res.get(key)
    ]
    return ",".join(parts) if parts else "no"


def resync_susp_str(pd: State) -> str:
    """resync_susp_str(): comma list of user,peer,dependency or ``no``."""
    parts = [
        name
        for name, key in (("user", "susp_user"), ("peer", "susp_peer"), ("dependency", "susp_dep"))
        if pd.get(key)
    ]
    return ",".join(parts) if parts else "no"


def any_resync_susp(pd: State) -> bool:
    """Any resync suspension flag set?"""
    return bool(pd.get("susp_user") or pd.get("susp_peer") or pd.get("susp_dep"))


def sync_details(stats: State) -> bool:
    """``has-sync-details``: a resync (or verify) with kernel details is running."""
    total = int(stats.get("rs_total", 0))
    return total not in (0, -1)


def sectors_to_go(stats: State) -> int:
    """Remaining sectors of a resync (out-of-sync minus failed)."""
    if stats.get("ov_left"):
        return int(stats["ov_left"])
    return int(stats.get("out_of_sync", 0)) - int(stats.get("rs_failed", 0))


def done_percent(stats: State) -> float:
    """Resync progress as drbdsetup computes ``done:``."""
    total = int(stats["rs_total"])
    return 100.0 * (total - sectors_to_go(stats)) / total


def c_fmt0(value: float) -> str:
    """printf("%.0f") including nan."""
    if math.isnan(value):
        return "nan"
    return f"{value:.0f}"


# -- wrap_printf --------------------------------------------------------------------------


class Wrap:
    """drbd-utils' wrap_printf(), including its column bookkeeping quirk (col = -1 + n)."""

    def __init__(self, columns: int = 80) -> None:
        """Start at column 0."""
        self.columns = columns if columns > 0 else 80
        self.col = 0
        self.out: list[str] = []

    def __call__(self, indent: int, text: str) -> None:
        """Print ``text``; wrap before it when it would cross the last column."""
        while text.startswith("\n"):
            self.out.append("\n")
            self.col = 0
            text = text[1:]
        if not text:
            return
        n = len(text)
        if self.col > 0 and self.col + n > self.columns:
            self.out.append("\n")
            self.col = 0
        if self.col == 0:
            text = text.lstrip(" ")
            self.out.append(" " * indent)
            self.col = -1  # `while (indent--) putchar(' '); col = indent;` leaves -1
        self.out.append(text)
        self.col += len(text)

    def text(self) -> str:
        """Everything printed so far."""
        return "".join(self.out)


# -- status text --------------------------------------------------------------------------


def _device_statistics(w: Wrap, indent: int, dev: State, verbose: int, statistics: bool) -> None:
    s = dev["stats"]
    if statistics:
        if verbose:
            w(indent, f" size:{s['size'] // 2}")
        w(indent, f" read:{s['read'] // 2}")
        w(indent, f" written:{s['written'] // 2}")
        if verbose:
            w(indent, f" al-writes:{s['al_writes']}")
            w(indent, f" bm-writes:{s['bm_writes']}")
            w(indent, f" upper-pending:{s['upper_pending']}")
            w(indent, f" lower-pending:{s['lower_pending']}")
            w(indent, f" al-suspended:{yes_no(s['al_suspended'])}")
    upper, lower = s.get("blocked_upper", False), s.get("blocked_lower", False)
    if verbose or upper or lower:
        parts = [p for p, on in (("upper", upper), ("lower", lower)) if on]
        w(indent, f" blocked:{','.join(parts) if parts else 'no'}")


def _peer_device_statistics(w: Wrap, indent: int, pd: State, verbose: int) -> None:
    s = pd["stats"]
    details = sync_details(s)
    togo = sectors_to_go(s) if details else 0
    w(indent, f" received:{s['received'] // 2}")
    w(indent, f" sent:{s['sent'] // 2}")
    if verbose or s["out_of_sync"]:
        w(indent, f" out-of-sync:{s['out_of_sync'] // 2}")
    if not verbose:
        return
    w(indent, f" pending:{s['pending']}")
    w(indent, f" unacked:{s['unacked']}")
    if not details:
        return
    if verbose > 1:
        for key in ("rs_total", "rs_dt_start_ms", "rs_paused_ms", "rs_dt0_ms"):
            w(indent, f" {key.replace('_', '-')}:{s[key]}")
        w(indent, f" rs-db0-sectors:{s['rs_db0_sectors']}")
        w(indent, f" rs-dt1-ms:{s['rs_dt1_ms']}")
        w(indent, f" rs-db1-sectors:{s['rs_db1_sectors']}")
        w(indent, f" rs-failed:{s['rs_failed']}")
        w(indent, f" rs-same-csum:{s['rs_same_csum']}")
        if s["rs_c_sync_rate"]:
            w(indent, f" want:{s['rs_c_sync_rate'] / 1024.0:.2f}")
        db = s["rs_total"] - togo
        dt = s["rs_dt_start_ms"] - s["rs_paused_ms"]
        w(indent, f" dbdt:{db / (dt or 1) * 1000.0 / 2048.0:.2f}")
        w(indent, f" dbdt0:{s['rs_db0_sectors'] / (s['rs_dt0_ms'] or 1) * 1000.0 / 2048.0:.2f}")
    db = s["rs_db1_sectors"]
    dt = s["rs_dt1_ms"] or 1
    w(indent, f" dbdt1:{db / dt * 1000.0 / 2048.0:.2f}")
    w(indent, f" eta:{c_fmt0(dt * 1e-3 * togo / db if db > 0 else math.nan)}")


def status_text(
    resources: list[State],
    verbose: int = 0,
    statistics: bool = False,
    columns: int = 80,
    is_tty: bool = False,
) -> str:
    """``drbdsetup status [--verbose] [--statistics]`` for the given resources."""
    w = Wrap(columns)
    if not resources:
        return "# No currently configured DRBD found.\n"
    for res in resources:
        w(0, res["name"])
        if verbose:
            w(4, f" node-id:{res['node_id']}")
        w(4, f" role:{res['role']}")
        if verbose or susp_str(res) != "no":
            w(4, f" suspended:{susp_str(res)}")
        if verbose or res.get("fail_io"):
            w(4, f" force-io-failures:{yes_no(res.get('fail_io', False))}")
        if statistics and verbose:
            w(4, "\n")
            w(4, f" write-ordering:{res['write_ordering']}")
        w(0, "\n")
        devices = res["devices"]
        single = len(devices) == 1
        for dev in devices:
            indent = 2
            if verbose or not (single and dev["volume"] == 0):
                w(indent, f"volume:{dev['volume']}")
                indent = 6
                if verbose:
                    w(indent, f" minor:{dev['minor']}")
            w(indent, f" disk:{dev['disk']}")
            if dev["disk"] == "Diskless" and (verbose or not is_tty):
                w(indent, f" client:{yes_no(dev['client'])}")
            if verbose:
                w(indent, f" backing_dev:{dev.get('backing_dev') or 'none'}")
            if verbose or not dev["quorum"]:
                w(indent, f" quorum:{yes_no(dev['quorum'])}")
            indent = 6
            if statistics:
                w(indent, "\n")
            _device_statistics(w, indent, dev, verbose, statistics)
            w(indent, "\n")
        for conn in res["connections"]:
            w(2, conn["name"])
            if verbose:
                w(6, f" node-id:{conn['peer_node_id']}")
            if verbose or conn["cstate"] != "Connected":
                w(6, f" connection:{conn['cstate']}")
            if verbose or conn["cstate"] == "Connected":
                w(6, f" role:{conn['peer_role']}")
            if verbose or conn.get("congested"):
                w(6, f" congested:{yes_no(conn.get('congested', False))}")
                w(6, f" ap-in-flight:{conn.get('ap_in_flight', 0)}")
                w(6, f" rs-in-flight:{conn.get('rs_in_flight', 0)}")
            w(0, "\n")
            if not (verbose or statistics or conn["cstate"] == "Connected"):
                continue
            for pd in conn["peer_devices"]:
                indent = 4
                if verbose or not (single and pd["volume"] == 0):
                    w(indent, f"volume:{pd['volume']}")
                    indent = 8
                if verbose or REPL_RANK[pd["repl"]] > REPL_RANK["Established"]:
                    w(indent, f" replication:{pd['repl']}")
                    indent = 8
                if verbose or statistics or pd["repl"] != "Off" or pd["pdsk"] != "DUnknown":
                    w(indent, f" peer-disk:{pd['pdsk']}")
                    if pd["pdsk"] == "Diskless" and (verbose or not is_tty):
                        w(indent, f" peer-client:{yes_no(pd['peer_client'])}")
                    indent = 8
                    if sync_details(pd["stats"]):
                        w(indent, f" done:{done_percent(pd['stats']):.2f}")
                    if verbose or any_resync_susp(pd):
                        w(indent, f" resync-suspended:{resync_susp_str(pd)}")
                    if statistics:
                        w(indent, "\n")
                        _peer_device_statistics(w, indent, pd, verbose)
                w(0, "\n")
        w(0, "\n")
    return w.text()


# -- status --json ------------------------------------------------------------------------


def _peer_device_json(pd: State, dev_size: int) -> str:
    s = pd["stats"]
    details = sync_details(s)
    oos = s["out_of_sync"]
    in_sync = 0.0 if dev_size == 0 else 100 * (1 - oos / dev_size)
    out = (
        "        {\n"
        f'          "volume": {pd["volume"]},\n'
        f'          "replication-state": "{pd["repl"]}",\n'
        f'          "peer-disk-state": "{pd["pdsk"]}",\n'
        f'          "peer-client": {json_bool(pd["peer_client"])},\n'
        f'          "resync-suspended": "{resync_susp_str(pd)}",\n'
        f'          "received": {s["received"] // 2},\n'
        f'          "sent": {s["sent"] // 2},\n'
        f'          "out-of-sync": {oos // 2},\n'
        f'          "pending": {s["pending"]},\n'
        f'          "unacked": {s["unacked"]},\n'
        f'          "has-sync-details": {json_bool(details)},\n'
        f'          "has-online-verify-details": {json_bool(details and bool(s.get("ov_left")))},\n'
        f'          "percent-in-sync": {in_sync:.2f}{"," if details else ""}\n'
    )
    if details:
        togo = sectors_to_go(s)
        out += (
            f'          "rs-total": {s["rs_total"]},\n'
            f'          "rs-dt-start-ms": {s["rs_dt_start_ms"]},\n'
            f'          "rs-paused-ms": {s["rs_paused_ms"]},\n'
            f'          "rs-dt0-ms": {s["rs_dt0_ms"]},\n'
            f'          "rs-db0-sectors": {s["rs_db0_sectors"]},\n'
            f'          "rs-dt1-ms": {s["rs_dt1_ms"]},\n'
            f'          "rs-db1-sectors": {s["rs_db1_sectors"]},\n'
            f'          "rs-failed": {s["rs_failed"]},\n'
            f'          "rs-same-csum": {s["rs_same_csum"]},\n'
        )
        want = s["rs_c_sync_rate"] / 1024.0 if s["rs_c_sync_rate"] else 0.0
        out += f'          "want": {want:.2f},\n'
        dt0 = s["rs_dt0_ms"] or 1
        out += f'          "db0/dt0 [MiB/s]": {s["rs_db0_sectors"] / dt0 * 1000.0 / 2048.0:.2f},\n'
        db = s["rs_db1_sectors"]
        dt = s["rs_dt1_ms"] or 1
        out += f'          "db1/dt1 [MiB/s]": {db / dt * 1000.0 / 2048.0:.2f},\n'
        eta = 987654321 if db <= 0 else dt * 1e-3 * togo / db
        out += f'          "estimated-seconds-to-finish": {eta:.0f},\n'
        db = s["rs_total"] - togo
        dt = s["rs_dt_start_ms"] - s["rs_paused_ms"]
        out += f'          "db/dt [MiB/s]": {db / (dt or 1) * 1000.0 / 2048.0:.2f},\n'
        pct = 0.0 if s["rs_total"] == 0 else 100.0 * db / s["rs_total"]
        out += f'          "percent-resync-done": {pct:.2f}\n'
    return out + "        }"


def status_json(resources: list[State]) -> str:
    """``drbdsetup status --json`` for the given resources (ends with ``]`` and a blank line)."""
    out = ["[\n"]
    for i, res in enumerate(resources):
        if i:
            out.append(",\n")
        out.append(
            "{\n"
            f'  "name": "{res["name"]}",\n'
            f'  "node-id": {res["node_id"]},\n'
            f'  "role": "{res["role"]}",\n'
            f'  "suspended": {json_bool(susp_str(res) != "no")},\n'
            f'  "suspended-user": {json_bool(res.get("susp_user", False))},\n'
            f'  "suspended-no-data": {json_bool(res.get("susp_nod", False))},\n'
            f'  "suspended-fencing": {json_bool(res.get("susp_fen", False))},\n'
            f'  "suspended-quorum": {json_bool(res.get("susp_quorum", False))},\n'
            f'  "force-io-failures": {json_bool(res.get("fail_io", False))},\n'
            f'  "write-ordering": "{res["write_ordering"]}",\n'
            '  "devices": [\n'
        )
        sizes = {}
        for j, dev in enumerate(res["devices"]):
            s = dev["stats"]
            sizes[dev["volume"]] = s["size"]
            if j:
                out.append(",\n")
            out.append(
                "    {\n"
                f'      "volume": {dev["volume"]},\n'
                f'      "minor": {dev["minor"]},\n'
                f'      "disk-state": "{dev["disk"]}",\n'
                f'      "client": {json_bool(dev["client"])},\n'
                f'      "quorum": {json_bool(dev["quorum"])},\n'
                f'      "size": {s["size"] // 2},\n'
                f'      "read": {s["read"] // 2},\n'
                f'      "written": {s["written"] // 2},\n'
                f'      "al-writes": {s["al_writes"]},\n'
                f'      "bm-writes": {s["bm_writes"]},\n'
                f'      "upper-pending": {s["upper_pending"]},\n'
                f'      "lower-pending": {s["lower_pending"]}\n'
                "    }"
            )
        out.append(' ],\n  "connections": [\n')
        for j, conn in enumerate(res["connections"]):
            if j:
                out.append(",\n")
            out.append(
                "    {\n"
                f'      "peer-node-id": {conn["peer_node_id"]},\n'
                f'      "name": "{conn["name"]}",\n'
                f'      "connection-state": "{conn["cstate"]}", \n'
                f'      "congested": {json_bool(conn.get("congested", False))},\n'
                f'      "peer-role": "{conn["peer_role"]}",\n'
                f'      "ap-in-flight": {conn.get("ap_in_flight", 0)},\n'
                f'      "rs-in-flight": {conn.get("rs_in_flight", 0)},\n'
                '      "peer_devices": [\n'
            )
            out.append(
                ",\n".join(
                    _peer_device_json(pd, sizes.get(pd["volume"], 0)) for pd in conn["peer_devices"]
                )
            )
            out.append(" ]\n    }")
        out.append(" ]\n}\n")
    out.append("]\n\n")
    return "".join(out)


# -- events2 ------------------------------------------------------------------------------


def promotion_info(res: State) -> tuple[bool, int]:
    """may_promote and promotion_score as drbdsetup events2 computes them."""
    devices = res["devices"]
    if not devices or res.get("fail_io"):
        return False, 0
    up_to_date_devices = 0
    all_have_disk = True
    min_replicas = -1
    all_stable = True
    for dev in devices:
        replicas = 1 if dev["disk"] == "UpToDate" else 0
        stable = dev["disk"] == "UpToDate"
        for conn in res["connections"]:
            for pd in conn["peer_devices"]:
                if pd["volume"] == dev["volume"] and pd["pdsk"] == "UpToDate":
                    replicas += 1
                    if pd.get("uuid_flags", 0) & UUID_FLAG_STABLE:
                        stable = True
        if not dev["quorum"]:
            return False, 0
        if dev["disk"] == "UpToDate":
            up_to_date_devices += 1
        elif dev["disk"] not in ("Consistent", "Inconsistent"):
            all_have_disk = False
        if min_replicas == -1 or replicas < min_replicas:
            min_replicas = replicas
        if not stable:
            all_stable = False
    if min_replicas in (-1, 0):
        return False, 0
    have_primary = res["role"] == "Primary" or any(
        c["peer_role"] == "Primary" for c in res["connections"]
    )
    may = not have_primary and all_stable
    score = (1 if all_have_disk else 0) * 10000 + min(up_to_date_devices, 99) * 100
    score += min(min_replicas, 99)
    return may, score


UUID_FLAG_STABLE = 0x100


def timestamp() -> str:
    """events2 --timestamps prefix (local time with offset)."""
    now = time.time()
    tm = time.localtime(now)
    usec = int((now - int(now)) * 1_000_000)
    off = tm.tm_gmtoff
    return (
        f"{tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d}T{tm.tm_hour:02d}:{tm.tm_min:02d}:"
        f"{tm.tm_sec:02d}.{usec:06d}{int(off / 3600):+03d}:{(abs(off) // 60) % 60:02d} "
    )


def _index(res: State) -> dict[str, Any]:
    """Objects of a resource snapshot by key."""
    idx: dict[str, Any] = {"devices": {}, "conns": {}, "pds": {}, "paths": {}}
    for dev in res["devices"]:
        idx["devices"][dev["volume"]] = dev
    for conn in res["connections"]:
        idx["conns"][conn["name"]] = conn
        for pd in conn["peer_devices"]:
            idx["pds"][(conn["name"], pd["volume"])] = pd
        for path in conn.get("paths", []):
            idx["paths"][(conn["name"], path["local"], path["peer"])] = path
    return idx


class Events2:
    """Diff printer of drbdsetup events2 (print_changes and friends)."""

    def __init__(self, statistics: bool = False, timestamps: bool = False) -> None:
        """``--statistics`` also sets verbose, as in drbdsetup."""
        self.statistics = statistics
        self.verbose = 1 if statistics else 0
        self.timestamps = timestamps

    def _prefix(self) -> str:
        return timestamp() if self.timestamps else ""

    def changes(self, old: State | None, new: State | None, action_new: str = "create") -> str:
        """Lines for the transition of one resource from ``old`` to ``new``."""
        if new is None:
            if old is None:
                return ""
            return self._destroy_all(old)
        p = self._prefix()
        out: list[str] = []
        oi = _index(old) if old else None
        ni = _index(new)
        # drbdsetup prepends to its lists: connections and volumes in reverse kernel order
        conns = sorted(new["connections"], key=lambda c: c["peer_node_id"], reverse=True)
        out.append(self._resource(p, action_new, old, new))
        for conn in conns:
            oc = oi["conns"].get(conn["name"]) if oi else None
            out.append(self._connection(p, action_new, new["name"], conn, oc))
        for dev in sorted(new["devices"], key=lambda d: d["volume"], reverse=True):
            od = oi["devices"].get(dev["volume"]) if oi else None
            out.append(self._device(p, action_new, new["name"], dev, od))
        for conn in conns:
            oc = oi["conns"].get(conn["name"]) if oi else None
            for pd in sorted(conn["peer_devices"], key=lambda d: d["volume"], reverse=True):
                opd = oi["pds"].get((conn["name"], pd["volume"])) if oi else None
                out.append(self._peer_device(p, action_new, new["name"], conn, pd, opd))
            if action_new == "exists":
                continue  # DRBD sends no initial "exists" messages for paths
            for path in conn.get("paths", []):
                key = (conn["name"], path["local"], path["peer"])
                opath = oi["paths"].get(key) if oi else None
                out.append(self._path(p, action_new, new["name"], conn, path, opath))
            if oc is not None:
                out.extend(
                    f"{p}destroy path name:{new['name']} peer-node-id:"
                    f"{conn['peer_node_id']} conn-name:{conn['name']} "
                    f"local:{path['local']} peer:{path['peer']}\n"
                    for path in oc.get("paths", [])
                    if (conn["name"], path["local"], path["peer"]) not in ni["paths"]
                )
                out.extend(
                    f"{p}destroy peer-device name:{new['name']} peer-node-id:"
                    f"{conn['peer_node_id']} conn-name:{conn['name']} volume:{pd['volume']}\n"
                    for pd in oc["peer_devices"]
                    if (conn["name"], pd["volume"]) not in ni["pds"]
                )
        if old is not None:
            out.extend(
                f"{p}destroy connection name:{new['name']} peer-node-id:"
                f"{conn['peer_node_id']} conn-name:{conn['name']}\n"
                for conn in old["connections"]
                if conn["name"] not in ni["conns"]
            )
            out.extend(
                f"{p}destroy device name:{new['name']} volume:{dev['volume']}\n"
                for dev in old["devices"]
                if dev["volume"] not in ni["devices"]
            )
        return "".join(out)

    def _destroy_all(self, old: State) -> str:
        p = self._prefix()
        name = old["name"]
        out: list[str] = []
        for conn in old["connections"]:
            head = f"name:{name} peer-node-id:{conn['peer_node_id']} conn-name:{conn['name']}"
            out.extend(
                f"{p}destroy path {head} local:{path['local']} peer:{path['peer']}\n"
                for path in conn.get("paths", [])
            )
            out.extend(
                f"{p}destroy peer-device {head} volume:{pd['volume']}\n"
                for pd in conn["peer_devices"]
            )
        out.extend(
            f"{p}destroy connection name:{name} peer-node-id:{conn['peer_node_id']} "
            f"conn-name:{conn['name']}\n"
            for conn in old["connections"]
        )
        out.extend(
            f"{p}destroy device name:{name} volume:{dev['volume']}\n" for dev in old["devices"]
        )
        out.append(f"{p}destroy resource name:{name}\n")
        return "".join(out)

    def _resource(self, p: str, action: str, old: State | None, new: State) -> str:
        role_changed = old is None or old["role"] != new["role"]
        info_changed = old is None or susp_str(old) != susp_str(new)
        fail_changed = old is None or old.get("fail_io") != new.get("fail_io")
        stats_changed = self.statistics and (
            old is None or old["write_ordering"] != new["write_ordering"]
        )
        newp = promotion_info(new)
        prom_changed = old is None or promotion_info(old) != newp
        if not (role_changed or info_changed or fail_changed or stats_changed or prom_changed):
            return ""
        line = f"{p}{'change' if old else action} resource name:{new['name']}"
        if role_changed:
            line += f" role:{new['role']}"
        if info_changed:
            line += f" suspended:{susp_str(new)}"
        if fail_changed:
            line += f" force-io-failures:{yes_no(new.get('fail_io', False))}"
        if stats_changed:
            line += f" write-ordering:{new['write_ordering']}"
        if prom_changed:
            line += f" may_promote:{yes_no(newp[0])} promotion_score:{newp[1]}"
        return line + "\n"

    def _device(self, p: str, action: str, res: str, dev: State, old: State | None) -> str:
        info_changed = old is None or (old["disk"], old["quorum"]) != (dev["disk"], dev["quorum"])
        stats_changed = self.statistics and (old is None or old["stats"] != dev["stats"])
        if not info_changed and not stats_changed:
            return ""
        line = f"{p}{'change' if old else action} device name:{res} volume:{dev['volume']} "
        line += f"minor:{dev['minor']}"
        if info_changed:
            line += (
                f" backing_dev:{dev.get('backing_dev') or 'none'} disk:{dev['disk']}"
                f" client:{yes_no(dev['client'])} quorum:{yes_no(dev['quorum'])}"
            )
        if stats_changed:
            s = dev["stats"]
            os_ = old["stats"] if old else None
            line += (
                f" size:{s['size'] // 2} read:{s['read'] // 2} written:{s['written'] // 2}"
                f" al-writes:{s['al_writes']} bm-writes:{s['bm_writes']}"
                f" upper-pending:{s['upper_pending']} lower-pending:{s['lower_pending']}"
            )
            if os_ is None or os_["al_suspended"] != s["al_suspended"]:
                line += f" al-suspended:{yes_no(s['al_suspended'])}"
            blocked = (s.get("blocked_upper", False), s.get("blocked_lower", False))
            old_blocked = (os_.get("blocked_upper"), os_.get("blocked_lower")) if os_ else None
            if old_blocked is None or old_blocked != blocked:
                parts = [n for n, on in zip(("upper", "lower"), blocked, strict=True) if on]
                line += f" blocked:{','.join(parts) if parts else 'no'}"
        return line + "\n"

    def _connection(self, p: str, action: str, res: str, conn: State, old: State | None) -> str:
        cs_changed = old is None or old["cstate"] != conn["cstate"]
        role_changed = old is None or old["peer_role"] != conn["peer_role"]
        stat_keys = ("congested", "ap_in_flight", "rs_in_flight")
        stats_changed = self.statistics and (
            old is None or any(old.get(k) != conn.get(k) for k in stat_keys)
        )
        if not (cs_changed or role_changed or stats_changed):
            return ""
        line = (
            f"{p}{'change' if old else action} connection name:{res} "
            f"peer-node-id:{conn['peer_node_id']} conn-name:{conn['name']}"
        )
        if cs_changed:
            line += f" connection:{conn['cstate']}"
        if role_changed:
            line += f" role:{conn['peer_role']}"
        if stats_changed:
            if old is None or old.get("congested") != conn.get("congested"):
                line += f" congested:{yes_no(conn.get('congested', False))}"
            line += f" ap-in-flight:{conn.get('ap_in_flight', 0)}"
            line += f" rs-in-flight:{conn.get('rs_in_flight', 0)}"
        return line + "\n"

    def _peer_device(
        self, p: str, action: str, res: str, conn: State, pd: State, old: State | None
    ) -> str:
        repl_changed = old is None or old["repl"] != pd["repl"]
        disk_changed = old is None or old["pdsk"] != pd["pdsk"]
        client_changed = old is not None and old["peer_client"] != pd["peer_client"]
        susp_changed = old is None or resync_susp_str(old) != resync_susp_str(pd)
        stats_changed = old is None or old["stats"] != pd["stats"]
        if not (repl_changed or disk_changed or client_changed or susp_changed or stats_changed):
            return ""
        line = (
            f"{p}{'change' if old else action} peer-device name:{res} "
            f"peer-node-id:{conn['peer_node_id']} conn-name:{conn['name']} volume:{pd['volume']}"
        )
        if repl_changed:
            line += f" replication:{pd['repl']}"
        if disk_changed or client_changed:
            line += f" peer-disk:{pd['pdsk']} peer-client:{yes_no(pd['peer_client'])}"
        if susp_changed:
            line += f" resync-suspended:{resync_susp_str(pd)}"
        if stats_changed:
            s = pd["stats"]
            details = sync_details(s)
            if details:
                line += f" done:{done_percent(s):.2f}"
            if self.statistics:
                line += f" received:{s['received'] // 2} sent:{s['sent'] // 2}"
                if self.verbose or s["out_of_sync"]:
                    line += f" out-of-sync:{s['out_of_sync'] // 2}"
                line += f" pending:{s['pending']} unacked:{s['unacked']}"
                if details:
                    db = s["rs_db1_sectors"]
                    dt = s["rs_dt1_ms"] or 1
                    togo = sectors_to_go(s)
                    line += f" dbdt1:{db / dt * 1000.0 / 2048.0:.2f}"
                    line += f" eta:{c_fmt0(dt * 1e-3 * togo / db if db > 0 else math.nan)}"
        return line + "\n"

    def _path(
        self, p: str, action: str, res: str, conn: State, path: State, old: State | None
    ) -> str:
        if old is not None and old["established"] == path["established"]:
            return ""
        return (
            f"{p}{'change' if old else action} path name:{res} "
            f"peer-node-id:{conn['peer_node_id']} conn-name:{conn['name']} "
            f"local:{path['local']} peer:{path['peer']} established:{yes_no(path['established'])}\n"
        )

    def end_of_initial(self) -> str:
        """The ``exists -`` line."""
        return f"{self._prefix()}exists -\n"

    def helper(self, event: State) -> str:
        """A ``call helper`` / ``response helper`` line."""
        line = f"{self._prefix()}{'response' if event['response'] else 'call'} helper"
        line += f" name:{event['name']}"
        if event.get("peer_node_id") is not None:
            line += f" peer-node-id:{event['peer_node_id']}"
        if event.get("conn_name"):
            line += f" conn-name:{event['conn_name']}"
        if event.get("volume") is not None:
            line += f" volume:{event['volume']}"
        if event.get("minor") is not None:
            line += f" minor:{event['minor']}"
        line += f" helper:{event['helper']}"
        if event["response"]:
            line += f" status:{event['status']}"
        return line + "\n"


def disk_rank(state: str) -> int:
    """Order of a disk state."""
    return DISK_RANK[state]


def merge(prev: State | None, snap: State, keys: list[list[Any]]) -> State:
    """Apply a kernel notification: copy the notified objects of ``snap`` into ``prev``.

    Objects that were not notified keep their previous values (and statistics), as in the
    user-space copy drbdsetup events2 keeps.
    """
    if prev is None:
        return copy.deepcopy(snap)
    new = copy.deepcopy(prev)
    snap_conns = {c["name"]: c for c in snap["connections"]}
    snap_conn_by_id = {c["peer_node_id"]: c for c in snap["connections"]}
    snap_devs = {d["volume"]: d for d in snap["devices"]}
    for key in keys:
        kind = key[0]
        if kind == "res":
            for field in (
                "role",
                "susp_user",
                "susp_nod",
                "susp_fen",
                "susp_quorum",
                "fail_io",
                "write_ordering",
            ):
                if field in snap:
                    new[field] = snap[field]
        elif kind == "dev":
            vnr = key[1]
            new["devices"] = [d for d in new["devices"] if d["volume"] != vnr]
            if vnr in snap_devs:
                new["devices"].append(copy.deepcopy(snap_devs[vnr]))
                new["devices"].sort(key=lambda d: d["volume"])
        elif kind in ("conn", "path", "pd"):
            sc = snap_conn_by_id.get(key[1])
            cur = next((c for c in new["connections"] if c["peer_node_id"] == key[1]), None)
            if sc is None:
                if cur is not None and kind == "conn":
                    new["connections"].remove(cur)
                continue
            if cur is None:
                new["connections"].append(copy.deepcopy(snap_conns[sc["name"]]))
                new["connections"].sort(key=lambda c: c["name"])
                continue
            if kind == "conn":
                for field in ("cstate", "peer_role", "congested", "ap_in_flight", "rs_in_flight"):
                    if field in sc:
                        cur[field] = sc[field]
            elif kind == "path":
                cur["paths"] = copy.deepcopy(sc["paths"])
            else:
                vnr = key[2]
                cur["peer_devices"] = [p for p in cur["peer_devices"] if p["volume"] != vnr]
                cur["peer_devices"] += [
                    copy.deepcopy(p) for p in sc["peer_devices"] if p["volume"] == vnr
                ]
                cur["peer_devices"].sort(key=lambda p: p["volume"])
    return new


def without_paths(state: State) -> State:
    """A snapshot without paths: DRBD's initial state has none, so events2 learns them from
    later path notifications."""
    new = copy.deepcopy(state)
    for conn in new["connections"]:
        conn["paths"] = []
    return new
