"""Plan-time checks: read every node (nothing is changed), turn the answers into facts, judge them.

:func:`probe_commands` is the read-only batch run on each node (one SSH exec per node);
:func:`node_facts` turns its results into :class:`NodeFacts` (pure); :func:`node_checks` and
:func:`cluster_checks` judge the facts against the description and return :class:`Check` lines.
The planner (:mod:`.plan`) decides the steps from the same facts.

What is checked: SSH and root (directly or through ``sudo -n``), the host name, the packages and
their versions (``dpkg-query``), the DRBD 9 kernel module (``/proc/drbd``, ``modinfo``, and what
``drbdadm --version`` reports), the kernel, the clock, name resolution, the backing disk (exists,
is a block device, is not mounted, holds no file system, partition table or foreign DRBD meta
data: ``blkid -p``, ``wipefs --no-act``, ``drbdmeta ... dump-md``), the resource agents, the
firewall (``ufw`` when active) and any existing cluster configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
import json
import re
from typing import TYPE_CHECKING, Any, Final

from ..commands import BatchCommand, CommandResult
from ..errors import HAClusterError
from ..models.drbd import DrbdResource
from ..models.pacemaker import PacemakerStatus
from ..parsers.crm_mon import parse_crm_mon
from ..parsers.drbd import parse_drbd_status_json
from .config import DockerApplication

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from .config import ClusterConfig, Node

__all__ = [
    "AUTHKEY_PATH",
    "CIB_FILE",
    "COROSYNC_CONF",
    "Check",
    "DiskFacts",
    "DiskState",
    "Level",
    "MetaDataDump",
    "NodeFacts",
    "cluster_checks",
    "corosync_cluster_name",
    "node_checks",
    "node_facts",
    "parse_dump_md",
    "probe_commands",
    "required_agents",
    "unreachable_facts",
]

COROSYNC_CONF: Final = "/etc/corosync/corosync.conf"
AUTHKEY_PATH: Final = "/etc/corosync/authkey"
CIB_FILE: Final = "/var/lib/pacemaker/cib/cib.xml"
DRBD_CONF: Final = "/etc/drbd.conf"
OCF_ROOT: Final = "/usr/lib/ocf/resource.d"

REQUIRED_PACKAGES: Final = ("corosync", "pacemaker", "resource-agents", "drbd-utils")
DOCKER_PACKAGES: Final = ("docker.io", "docker-ce")
#: Oldest versions we provision: knet needs corosync 3, Promoted/Unpromoted needs Pacemaker 2.1.
MIN_VERSIONS: Final = {"corosync": (3, 0), "pacemaker": (2, 1), "drbd-utils": (9, 0)}
#: Clocks further apart than this are reported.
MAX_CLOCK_SKEW: Final = 1.0

_PROBE_TIMEOUT: Final = 20.0
_MAX_FILE: Final = 1024 * 1024
_DPKG_FORMAT: Final = "${Package}\t${db:Status-Status}\t${Version}\n"


class Level(StrEnum):
    """How a check ended. ``fail`` blocks ``apply``."""

    OK = "ok"
    INFO = "info"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, kw_only=True, slots=True)
class Check:
    """One verdict about one node (or, with ``node`` None, about the whole cluster)."""

    name: str
    level: Level
    message: str
    node: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "name": self.name,
            "level": self.level.value,
            "message": self.message,
            "node": self.node,
        }


class DiskState(StrEnum):
    """What the DRBD backing disk holds, as far as the probes can tell."""

    MISSING = "missing"
    NOT_BLOCK = "not_block_device"
    MOUNTED = "mounted"
    EMPTY = "empty"
    ATTACHED = "attached"
    """Our DRBD resource is up on the node: the disk holds our meta data and the data."""
    OURS = "ours"
    """DRBD meta data for this node's DRBD node id (kept as it is)."""
    NEW_DRBD = "new_drbd"
    """DRBD meta data that ``create-md`` wrote and nothing ever attached (no node id, no data)."""
    DRBD = "drbd"
    """DRBD meta data whose node id could not be read (kept: create-md is not run)."""
    FOREIGN_DRBD = "foreign_drbd"
    HAS_DATA = "has_data"
    UNKNOWN = "unknown"


@dataclass(frozen=True, kw_only=True, slots=True)
class DiskFacts:
    """The backing disk of one node."""

    path: str
    state: DiskState
    size: int | None = None
    signatures: tuple[str, ...] = ()
    mounts: tuple[str, ...] = ()
    md_node_id: int | None = None
    md_fresh: bool = False
    """The meta data never held data (just-created generation UUID, never consistent)."""
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "path": self.path,
            "state": self.state.value,
            "size": self.size,
            "signatures": list(self.signatures),
            "mounts": list(self.mounts),
            "md_node_id": self.md_node_id,
            "md_fresh": self.md_fresh,
            "detail": self.detail,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeFacts:
    """Everything the read-only probe learned about one node."""

    name: str
    reachable: bool
    error: str | None = None
    login_user: str | None = None
    uid: str | None = None
    hostname: str | None = None
    kernel: str | None = None
    dpkg: bool = True
    packages: Mapping[str, str] = field(default_factory=dict)
    drbd_kernel: str | None = None
    drbd_kernel_source: str | None = None
    resolves: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    disk: DiskFacts | None = None
    drbd: DrbdResource | None = None
    ufw: str | None = None
    files: Mapping[str, bytes | None] = field(default_factory=dict)
    authkey_sha256: str | None = None
    corosync_running: bool = False
    pacemaker_running: bool = False
    cib: str | None = None
    cib_source: str | None = None
    crm: PacemakerStatus | None = None
    missing_agents: tuple[str, ...] = ()
    mount_point_exists: bool = True
    image_present: bool | None = None
    drbd_conf_includes: bool = True
    clock_offset: float | None = None
    clock_error: float = 0.0

    @property
    def stack_running(self) -> bool:
        """Corosync or Pacemaker runs on the node."""
        return self.corosync_running or self.pacemaker_running

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (file contents as sizes only: the CIB may hold secrets)."""
        return {
            "name": self.name,
            "reachable": self.reachable,
            "error": self.error,
            "login_user": self.login_user,
            "uid": self.uid,
            "hostname": self.hostname,
            "kernel": self.kernel,
            "packages": dict(self.packages),
            "drbd_kernel": self.drbd_kernel,
            "drbd_kernel_source": self.drbd_kernel_source,
            "resolves": {k: list(v) for k, v in self.resolves.items()},
            "disk": None if self.disk is None else self.disk.to_dict(),
            "drbd_up": self.drbd is not None,
            "ufw": self.ufw,
            "files": {k: None if v is None else len(v) for k, v in self.files.items()},
            "authkey": self.authkey_sha256 is not None,
            "corosync_running": self.corosync_running,
            "pacemaker_running": self.pacemaker_running,
            "cib_source": self.cib_source,
            "missing_agents": list(self.missing_agents),
            "mount_point_exists": self.mount_point_exists,
            "image_present": self.image_present,
            "clock_offset": self.clock_offset,
        }


# --------------------------------------------------------------------------------------------
# The probe
# --------------------------------------------------------------------------------------------


def required_agents(cfg: ClusterConfig) -> tuple[str, ...]:
    """The OCF agents the configuration uses, as ``provider/type`` paths under ``OCF_ROOT``."""
    agents = [cfg.drbd.agent, "ocf:heartbeat:Filesystem", "ocf:heartbeat:IPaddr2"]
    agents.append(cfg.application.agent)
    out: list[str] = []
    for agent in agents:
        _, provider, kind = agent.split(":", 2)
        path = f"{provider}/{kind}"
        if path not in out:
            out.append(path)
    return tuple(out)


def probe_commands(cfg: ClusterConfig, node: Node) -> tuple[BatchCommand, ...]:
    """The read-only batch for ``node`` (names are the keys :func:`node_facts` reads)."""
    disk, res = node.drbd_disk, cfg.drbd.resource
    packages = list(REQUIRED_PACKAGES)
    if isinstance(cfg.application, DockerApplication):
        packages += DOCKER_PACKAGES

    def cmd(name: str, *argv: str, privileged: bool = True, max_bytes: int | None = None) -> Any:
        return BatchCommand(
            name=name,
            argv=argv,
            privileged=privileged,
            timeout=_PROBE_TIMEOUT,
            max_bytes=max_bytes,
        )

    cmds = [
        cmd("login_user", "id", "-un", privileged=False),
        cmd("uid", "id", "-u"),
        cmd("hostname", "uname", "-n", privileged=False),
        cmd("kernel", "uname", "-r", privileged=False),
        cmd("packages", "dpkg-query", "-W", "-f", _DPKG_FORMAT, *packages, privileged=False),
        cmd("proc_drbd", "cat", "/proc/drbd", privileged=False),
        cmd("modinfo", "modinfo", "-F", "version", "drbd", privileged=False),
        cmd("drbdadm_version", "drbdadm", "--version"),
        cmd("getent", "getent", "hosts", *(n.name for n in cfg.nodes), privileged=False),
        cmd("disk_type", "stat", "-L", "-c", "%F", disk),
        cmd("disk_size", "blockdev", "--getsize64", disk),
        cmd("disk_mounts", "lsblk", "-rno", "MOUNTPOINT", disk),
        cmd("disk_findmnt", "findmnt", "-rn", "-o", "TARGET", "-S", disk),
        cmd("blkid", "blkid", "-p", "-o", "export", disk),
        cmd("wipefs", "wipefs", "--no-act", "--json", disk),
        cmd(
            "dump_md",
            "drbdmeta",
            str(cfg.drbd.minor),
            "v09",
            disk,
            "internal",
            "dump-md",
            max_bytes=65536,
        ),  # fmt: skip
        cmd("drbd_status", "drbdsetup", "status", res, "--json"),
        cmd("ufw", "ufw", "status"),
        cmd("corosync_conf", "cat", COROSYNC_CONF, max_bytes=_MAX_FILE),
        cmd("drbd_res", "cat", f"/etc/drbd.d/{res}.res", max_bytes=_MAX_FILE),
        cmd("drbd_conf", "cat", DRBD_CONF, max_bytes=_MAX_FILE),
        cmd("authkey", "sha256sum", AUTHKEY_PATH),
        cmd("pidof_corosync", "pidof", "corosync", privileged=False),
        cmd("pidof_pacemaker", "pidof", "pacemakerd", privileged=False),
        cmd("cib", "cibadmin", "--query", max_bytes=16 * _MAX_FILE),
        cmd("cib_file", "cat", CIB_FILE, max_bytes=16 * _MAX_FILE),
        cmd("crm_mon", "crm_mon", "--output-as=xml", max_bytes=16 * _MAX_FILE),
        cmd("mount_point", "test", "-d", cfg.drbd.mount_point, privileged=False),
    ]
    cmds += [
        cmd(f"agent_{i}", "test", "-x", f"{OCF_ROOT}/{path}", privileged=False)
        for i, path in enumerate(required_agents(cfg))
    ]
    if isinstance(cfg.application, DockerApplication):
        cmds.append(
            cmd("image", "docker", "image", "inspect", "--format", "{{.Id}}", cfg.application.image)
        )
    return tuple(cmds)


# --------------------------------------------------------------------------------------------
# Facts (pure)
# --------------------------------------------------------------------------------------------


def unreachable_facts(name: str, err: HAClusterError) -> NodeFacts:
    """The facts of a node the probe could not reach."""
    return NodeFacts(name=name, reachable=False, error=str(err) or type(err).__name__)


def _line(res: CommandResult | None) -> str | None:
    if res is None or not res.ok:
        return None
    text = res.text.strip()
    return text.splitlines()[0].strip() if text else None


def _content(res: CommandResult | None) -> bytes | None:
    """A file's bytes, or None when it does not exist (or cannot be read)."""
    return res.stdout if res is not None and res.ok else None


def _packages(res: CommandResult | None) -> tuple[bool, dict[str, str]]:
    if res is None or res.not_found:
        return False, {}
    out: dict[str, str] = {}
    for line in res.text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1] == "installed":
            out[parts[0]] = parts[2]
    return True, out


_PROC_VERSION = re.compile(r"^version:\s*(\S+)", re.MULTILINE)
_ADM_KERNEL = re.compile(r"^DRBD_KERNEL_VERSION=(\S+)", re.MULTILINE)


def _drbd_kernel(results: Mapping[str, CommandResult]) -> tuple[str | None, str | None]:
    proc = results.get("proc_drbd")
    if proc is not None and proc.ok and (m := _PROC_VERSION.search(proc.text)):
        return m.group(1), "/proc/drbd"
    if (version := _line(results.get("modinfo"))) is not None:
        return version, "modinfo"
    adm = results.get("drbdadm_version")
    found = _ADM_KERNEL.search(adm.text) if adm is not None and adm.ok else None
    if found and any(_version_tuple(found.group(1))):  # 0 (or 0.0.0): no module loaded
        return found.group(1), "drbdadm"
    return None, None


def _resolves(res: CommandResult | None) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    if res is None:
        return {}
    for line in res.text.splitlines():
        words = line.split()
        for name in words[1:]:
            out.setdefault(name, [])
            if words[0] not in out[name]:
                out[name].append(words[0])
    return {k: tuple(v) for k, v in out.items()}


UUID_JUST_CREATED = 4
"""The current UUID ``drbdmeta create-md`` writes; DRBD replaces it when data is first written."""
MDF_CONSISTENT = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class MetaDataDump:
    """What ``drbdmeta MINOR v09 DISK internal dump-md`` (drbd-utils 9.x) told about a disk."""

    present: bool | None
    """True: DRBD meta data; False: none; None: unknown (the command failed otherwise)."""
    node_id: int | None = None
    """The DRBD node id it belongs to; -1 until a DRBD device first attached it."""
    current_uuid: int | None = None
    flags: int | None = None
    max_peers: int | None = None
    la_size_sect: int | None = None
    unclean: bool = False
    """The activity log was not applied (a crashed Primary); dump-md then prints nothing."""

    @property
    def fresh(self) -> bool:
        """Created by ``create-md`` and never written through DRBD: it holds no data yet."""
        return (
            self.present is True
            and not self.unclean
            and self.current_uuid == UUID_JUST_CREATED
            and self.flags is not None
            and not self.flags & MDF_CONSISTENT
        )


_DUMP_FIELD = re.compile(
    r"^(node-id|current-uuid|flags|max-peers|la-size-sect)\s+(-?\d+|0x[0-9A-Fa-f]+)\s*;",
    re.MULTILINE,
)


def parse_dump_md(res: CommandResult | None) -> MetaDataDump:
    """Read ``drbdmeta ... dump-md``.

    ``# DRBD meta data dump`` with exit 0 is meta data (its top-level ``node-id``,
    ``current-uuid``, ``flags``, ``max-peers``, ``la-size-sect``; the per-peer fields are
    indented and not read); "No valid meta data found" (exit 1) is none; unclean meta data
    ("please apply-al first", exit 1) is meta data of unknown owner; anything else (the disk is
    busy, missing, drbdmeta absent) is unknown, never a green light.
    """
    if res is None:
        return MetaDataDump(present=None)
    text = res.text + res.stderr.decode("utf-8", "replace")
    if res.ok and "# DRBD meta data dump" in res.text:
        fields = {k: int(v, 0) for k, v in _DUMP_FIELD.findall(res.text)}
        return MetaDataDump(
            present=True,
            node_id=fields.get("node-id"),
            current_uuid=fields.get("current-uuid"),
            flags=fields.get("flags"),
            max_peers=fields.get("max-peers"),
            la_size_sect=fields.get("la-size-sect"),
        )
    if "No valid meta data found" in text:
        return MetaDataDump(present=False)
    if "apply-al" in text and "unclean" in text:
        return MetaDataDump(present=True, unclean=True)
    return MetaDataDump(present=None)


def _signatures(results: Mapping[str, CommandResult]) -> tuple[tuple[str, ...], bool]:
    """(signature types found, whether both probes answered)."""
    found: list[str] = []
    answered = True
    blkid = results.get("blkid")
    if blkid is not None and blkid.ok:
        for line in blkid.text.splitlines():
            key, _, value = line.partition("=")
            if key in ("TYPE", "PTTYPE") and value and value not in found:
                found.append(value)
    elif blkid is None or blkid.exit_status != 2:  # 2: nothing found
        answered = False
    wipefs = results.get("wipefs")
    if wipefs is not None and wipefs.ok:
        try:
            doc = json.loads(wipefs.text or "{}")
            for sig in doc.get("signatures", []):
                kind = str(sig.get("type") or "")
                if kind and kind not in found:
                    found.append(kind)
        except (ValueError, AttributeError):
            answered = False
    else:
        answered = False
    return tuple(found), answered


def _disk(node: Node, results: Mapping[str, CommandResult], drbd_up: bool) -> DiskFacts:
    path = node.drbd_disk
    kind = results.get("disk_type")
    if kind is None or not kind.ok:
        detail = kind.stderr_tail() if kind is not None else "not probed"
        return DiskFacts(path=path, state=DiskState.MISSING, detail=detail)
    if kind.text.strip() != "block special file":
        return DiskFacts(path=path, state=DiskState.NOT_BLOCK, detail=kind.text.strip())
    size_line = _line(results.get("disk_size"))
    size = int(size_line) if size_line and size_line.isdigit() else None
    mounts: list[str] = []
    for key in ("disk_mounts", "disk_findmnt"):
        res = results.get(key)
        if res is not None and res.ok:
            mounts += [m for m in res.text.split() if m and m not in mounts]
    if drbd_up:
        return DiskFacts(
            path=path, state=DiskState.ATTACHED, size=size, detail="our DRBD resource is up"
        )
    if mounts:
        return DiskFacts(path=path, state=DiskState.MOUNTED, size=size, mounts=tuple(mounts))
    signatures, answered = _signatures(results)
    dump = parse_dump_md(results.get("dump_md"))
    md, md_node = dump.present, dump.node_id
    # "no data yet" only when nothing but DRBD's own signature is on the disk: a file system
    # made before create-md would still be in the data area
    fresh = dump.fresh and not set(signatures) - {"drbd"}
    if md or "drbd" in signatures:
        if md_node == -1 and fresh:
            state, detail = DiskState.NEW_DRBD, "new DRBD meta data, never attached"
        elif md_node is None or md_node == -1:
            state = DiskState.DRBD
            detail = "DRBD meta data of an unknown node id"
            if dump.unclean:
                detail += " (its activity log was not applied: a crashed Primary?)"
        else:
            state = DiskState.OURS if md_node == node.drbd_node_id else DiskState.FOREIGN_DRBD
            detail = f"DRBD meta data of node id {md_node}"
        return DiskFacts(
            path=path,
            state=state,
            size=size,
            signatures=signatures,
            md_node_id=md_node,
            md_fresh=fresh,
            detail=detail,
        )
    if signatures:
        return DiskFacts(
            path=path,
            state=DiskState.HAS_DATA,
            size=size,
            signatures=signatures,
            detail=", ".join(signatures),
        )
    if not answered:
        return DiskFacts(
            path=path,
            state=DiskState.UNKNOWN,
            size=size,
            detail="blkid -p or wipefs did not answer",
        )
    detail = "no signature found"
    if md is None:
        detail += " (DRBD meta data not checked: drbdmeta dump-md did not answer)"
    return DiskFacts(path=path, state=DiskState.EMPTY, size=size, detail=detail)


def _drbd_resource(res: CommandResult | None, name: str) -> DrbdResource | None:
    if res is None or not res.ok:
        return None
    try:
        status = parse_drbd_status_json(res.stdout)
    except HAClusterError:
        return None
    return next((r for r in status.resources if r.name == name), None)


_INCLUDE_RES = re.compile(r'^\s*include\s+"(?:/etc/)?drbd\.d/\*\.res"\s*;', re.MULTILINE)


def node_facts(
    cfg: ClusterConfig,
    node: Node,
    results: Mapping[str, CommandResult],
    *,
    clock_offset: float | None = None,
    clock_error: float = 0.0,
) -> NodeFacts:
    """Turn the probe's results on ``node`` into facts (pure)."""
    dpkg, packages = _packages(results.get("packages"))
    kernel_version, kernel_source = _drbd_kernel(results)
    drbd = _drbd_resource(results.get("drbd_status"), cfg.drbd.resource)
    ufw = results.get("ufw")
    ufw_text = None if ufw is None or ufw.not_found else ufw.text + ufw.stderr_tail()
    authkey = _line(results.get("authkey"))
    cib, cib_source = None, None
    if (live := results.get("cib")) is not None and live.ok and live.stdout.strip():
        cib, cib_source = live.text, "live"
    elif (stored := results.get("cib_file")) is not None and stored.ok and stored.stdout.strip():
        cib, cib_source = stored.text, "stored"
    agents = required_agents(cfg)
    missing_agents = tuple(
        path
        for i, path in enumerate(agents)
        if (r := results.get(f"agent_{i}")) is not None and not r.ok
    )
    image = results.get("image")
    drbd_conf = _content(results.get("drbd_conf"))
    return NodeFacts(
        name=node.name,
        reachable=True,
        login_user=_line(results.get("login_user")),
        uid=_line(results.get("uid")),
        hostname=_line(results.get("hostname")),
        kernel=_line(results.get("kernel")),
        dpkg=dpkg,
        packages=packages,
        drbd_kernel=kernel_version,
        drbd_kernel_source=kernel_source,
        resolves=_resolves(results.get("getent")),
        disk=_disk(node, results, drbd is not None),
        drbd=drbd,
        ufw=ufw_text,
        files={
            COROSYNC_CONF: _content(results.get("corosync_conf")),
            f"/etc/drbd.d/{cfg.drbd.resource}.res": _content(results.get("drbd_res")),
        },
        authkey_sha256=authkey.split()[0] if authkey else None,
        corosync_running=_running(results.get("pidof_corosync")),
        pacemaker_running=_running(results.get("pidof_pacemaker")),
        cib=cib,
        cib_source=cib_source,
        crm=_crm(results.get("crm_mon")),
        missing_agents=missing_agents,
        mount_point_exists=(m := results.get("mount_point")) is None or m.ok,
        image_present=None if image is None else image.ok,
        drbd_conf_includes=drbd_conf is None
        or _INCLUDE_RES.search(drbd_conf.decode("utf-8", "replace")) is not None,
        clock_offset=clock_offset,
        clock_error=clock_error,
    )


def _crm(res: CommandResult | None) -> PacemakerStatus | None:
    if res is None or not res.ok:
        return None
    try:
        status = parse_crm_mon(res.stdout, exit_status=res.exit_status)
    except HAClusterError:
        return None
    return status if status.stack_running else None


def _running(res: CommandResult | None) -> bool:
    return res is not None and res.ok and bool(res.text.strip())


_CLUSTER_NAME = re.compile(r"^\s*cluster_name\s*:\s*(\S+)", re.MULTILINE)


def corosync_cluster_name(text: bytes | None) -> str | None:
    """``totem.cluster_name`` of a corosync.conf (None when absent)."""
    if text is None:
        return None
    found = _CLUSTER_NAME.search(text.decode("utf-8", "replace"))
    return found.group(1) if found else None


# --------------------------------------------------------------------------------------------
# Verdicts (pure)
# --------------------------------------------------------------------------------------------


def _version_tuple(version: str) -> tuple[int, ...]:
    upstream = version.split(":", 1)[-1].split("-", 1)[0].split("+", 1)[0]
    parts = []
    for piece in upstream.split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def _package_checks(cfg: ClusterConfig, facts: NodeFacts) -> Iterable[Check]:
    name = facts.name
    if not facts.dpkg:
        yield Check(
            name="packages",
            level=Level.WARN,
            node=name,
            message="dpkg-query is not available: package versions not checked",
        )
        return
    missing = [p for p in REQUIRED_PACKAGES if p not in facts.packages]
    wants_docker = isinstance(cfg.application, DockerApplication)
    if wants_docker and not any(p in facts.packages for p in DOCKER_PACKAGES):
        missing.append(" or ".join(DOCKER_PACKAGES))
    old = [
        f"{pkg} {facts.packages[pkg]} (need {'.'.join(map(str, least))} or newer)"
        for pkg, least in MIN_VERSIONS.items()
        if pkg in facts.packages and _version_tuple(facts.packages[pkg]) < least
    ]
    found = ", ".join(f"{p} {v}" for p, v in sorted(facts.packages.items()))
    if missing or old:
        problems = []
        if missing:
            problems.append(f"missing: {', '.join(missing)} (apt-get install them)")
        if old:
            problems.append(f"too old: {', '.join(old)}")
        yield Check(name="packages", level=Level.FAIL, node=name, message="; ".join(problems))
    else:
        yield Check(name="packages", level=Level.OK, node=name, message=found)


def _kernel_module_check(facts: NodeFacts) -> Check:
    name, version, source = facts.name, facts.drbd_kernel, facts.drbd_kernel_source
    if version is None:
        return Check(
            name="drbd_module",
            level=Level.FAIL,
            node=name,
            message="no DRBD kernel module: /proc/drbd, modinfo drbd and drbdadm --version "
            "show none (install DRBD 9, e.g. drbd-dkms)",
        )
    if _version_tuple(version)[:1] != (9,):
        return Check(
            name="drbd_module",
            level=Level.FAIL,
            node=name,
            message=f"the DRBD kernel module is version {version} ({source}); DRBD 9 is needed",
        )
    if source == "/proc/drbd":
        return Check(
            name="drbd_module", level=Level.OK, node=name, message=f"loaded, version {version}"
        )
    if source == "modinfo":
        return Check(
            name="drbd_module",
            level=Level.OK,
            node=name,
            message=f"version {version} installed, not loaded yet (drbdadm up loads it)",
        )
    return Check(
        name="drbd_module",
        level=Level.WARN,
        node=name,
        message=f"neither /proc/drbd nor modinfo shows a DRBD module; drbdadm reports kernel "
        f"version {version}",
    )


def _disk_check(facts: NodeFacts) -> Check:
    disk = facts.disk
    assert disk is not None  # noqa: S101 (reachable nodes always have disk facts)
    where = disk.path
    size = f", {disk.size // (1024 * 1024)} MiB" if disk.size else ""
    level, message = {
        DiskState.MISSING: (Level.FAIL, f"{where} does not exist ({disk.detail})"),
        DiskState.NOT_BLOCK: (Level.FAIL, f"{where} is not a block device ({disk.detail})"),
        DiskState.MOUNTED: (
            Level.FAIL,
            f"{where} is mounted on {', '.join(disk.mounts)}: unmount it (and remove it from "
            "/etc/fstab) first",
        ),
        DiskState.EMPTY: (Level.OK, f"{where}: empty{size} ({disk.detail})"),
        DiskState.ATTACHED: (Level.OK, f"{where}: in use by our DRBD resource{size}"),
        DiskState.OURS: (
            Level.OK,
            f"{where}: holds our DRBD meta data{size}"
            + (" (no data written yet)" if disk.md_fresh else "")
            + ", kept",
        ),
        DiskState.NEW_DRBD: (
            Level.OK,
            f"{where}: holds new DRBD meta data (created, never attached){size}, kept",
        ),
        DiskState.DRBD: (
            Level.WARN,
            f"{where}: holds DRBD meta data whose node id could not be read{size}; kept as it "
            "is (if it is not this resource's, wipe it yourself)",
        ),
        DiskState.FOREIGN_DRBD: (
            Level.WARN,
            f"{where}: holds other DRBD meta data ({disk.detail}); only --wipe-disk "
            f"{facts.name}:{where} lets apply overwrite it",
        ),
        DiskState.HAS_DATA: (
            Level.WARN,
            f"{where}: holds {disk.detail}; only --wipe-disk {facts.name}:{where} lets apply "
            "erase it",
        ),
        DiskState.UNKNOWN: (
            Level.FAIL,
            f"{where}: cannot tell what it holds ({disk.detail}); install util-linux",
        ),
    }[disk.state]
    return Check(name="disk", level=level, node=facts.name, message=message)


_UFW_RULE = re.compile(r"^(\d+)(?::(\d+))?(?:/(tcp|udp))?\s+(?:\(v6\)\s+)?ALLOW\b", re.I)


def _ufw_check(cfg: ClusterConfig, facts: NodeFacts) -> Check:
    name = facts.name
    text = facts.ufw
    if text is None:
        return Check(name="firewall", level=Level.INFO, node=name, message="ufw not installed")
    if "Status: active" not in text:
        if "Status: inactive" in text:
            return Check(name="firewall", level=Level.OK, node=name, message="ufw inactive")
        return Check(
            name="firewall",
            level=Level.WARN,
            node=name,
            message=f"cannot read the ufw status: {text.strip()[:120]}",
        )
    allowed: list[tuple[int, int, str | None]] = []
    for line in text.splitlines():
        if m := _UFW_RULE.match(line.strip()):
            low = int(m.group(1))
            allowed.append((low, int(m.group(2) or low), m.group(3)))
    missing = [
        p
        for p in cfg.firewall_ports()
        if not any(lo <= p.port <= hi and proto in (None, p.protocol) for lo, hi, proto in allowed)
    ]
    if not missing:
        return Check(
            name="firewall", level=Level.OK, node=name, message="ufw active, cluster ports allowed"
        )
    fixes = "; ".join(f"ufw allow {p.port}/{p.protocol}" for p in missing)
    return Check(
        name="firewall",
        level=Level.WARN,
        node=name,
        message=f"ufw is active and does not allow {', '.join(f'{p.port}/{p.protocol} ({p.purpose})' for p in missing)}: {fixes}",  # noqa: E501
    )


def node_checks(cfg: ClusterConfig, facts: NodeFacts) -> list[Check]:
    """The verdicts about one node."""
    name = facts.name
    if not facts.reachable:
        return [Check(name="ssh", level=Level.FAIL, node=name, message=f"{facts.error}")]
    node = cfg.node(name)
    out: list[Check] = []
    user = facts.login_user or node.ssh.user
    if facts.uid == "0":
        how = "root" if user == "root" else f"{user} with sudo -n"
        out.append(Check(name="ssh", level=Level.OK, node=name, message=f"connected as {how}"))
    else:
        out.append(
            Check(
                name="ssh",
                level=Level.FAIL,
                node=name,
                message=f"connected as {user}, but commands do not run as root (uid "
                f"{facts.uid or '?'}): log in as root or allow {user} passwordless sudo",
            )
        )
    if facts.hostname == name:
        out.append(Check(name="hostname", level=Level.OK, node=name, message=name))
    else:
        out.append(
            Check(
                name="hostname",
                level=Level.FAIL,
                node=name,
                message=f"uname -n is {facts.hostname!r}, the description says {name!r} (DRBD "
                "and Pacemaker need the node's own name)",
            )
        )
    out += _package_checks(cfg, facts)
    out.append(_kernel_module_check(facts))
    if facts.missing_agents:
        out.append(
            Check(
                name="agents",
                level=Level.FAIL,
                node=name,
                message=f"missing OCF agents: {', '.join(facts.missing_agents)} (under {OCF_ROOT})",
            )
        )
    else:
        out.append(
            Check(
                name="agents",
                level=Level.OK,
                node=name,
                message=", ".join(required_agents(cfg)),
            )
        )
    unresolved = [n.name for n in cfg.nodes if n.name not in facts.resolves]
    elsewhere = [
        f"{n.name} -> {', '.join(facts.resolves[n.name])} (not {n.address})"
        for n in cfg.nodes
        if n.name in facts.resolves and n.address not in facts.resolves[n.name]
    ]
    if unresolved:
        out.append(
            Check(
                name="resolve",
                level=Level.WARN,
                node=name,
                message=f"getent hosts does not resolve {', '.join(unresolved)} (add them to "
                "/etc/hosts)",
            )
        )
    elif elsewhere:
        out.append(
            Check(
                name="resolve",
                level=Level.WARN,
                node=name,
                message=f"resolves {'; '.join(elsewhere)}",
            )
        )
    else:
        out.append(
            Check(name="resolve", level=Level.OK, node=name, message="every node name resolves")
        )
    out.append(_disk_check(facts))
    out.append(_ufw_check(cfg, facts))
    if not facts.drbd_conf_includes:
        out.append(
            Check(
                name="drbd_conf",
                level=Level.FAIL,
                node=name,
                message=f'{DRBD_CONF} does not include "drbd.d/*.res"',
            )
        )
    existing = corosync_cluster_name(facts.files.get(COROSYNC_CONF))
    parts = []
    if facts.files.get(COROSYNC_CONF) is not None:
        parts.append(f"corosync.conf of cluster {existing or '?'}")
    if facts.stack_running:
        daemons = (("corosync", facts.corosync_running), ("pacemaker", facts.pacemaker_running))
        running = [daemon for daemon, on in daemons if on]
        parts.append(f"{' and '.join(running)} running")
    if facts.cib_source is not None:
        parts.append(f"{facts.cib_source} CIB")
    out.append(
        Check(
            name="existing",
            level=Level.INFO,
            node=name,
            message=", ".join(parts) if parts else "no cluster configured",
        )
    )
    return out


def cluster_checks(cfg: ClusterConfig, facts: Sequence[NodeFacts]) -> list[Check]:
    """Verdicts that compare the nodes (kernel, clocks, authkey)."""
    up = [f for f in facts if f.reachable]
    out: list[Check] = []
    kernels = {f.kernel for f in up if f.kernel}
    if len(kernels) > 1:
        listing = ", ".join(f"{f.name} {f.kernel}" for f in up)
        out.append(
            Check(
                name="kernel",
                level=Level.WARN,
                message=f"the nodes run different kernels ({listing}); the DRBD module must "
                "match each",
            )
        )
    elif kernels:
        out.append(Check(name="kernel", level=Level.OK, message=f"{kernels.pop()} on every node"))
    offsets = [(f.name, f.clock_offset, f.clock_error) for f in up if f.clock_offset is not None]
    if len(offsets) >= 2:
        values = [o for _, o, _ in offsets]
        spread = max(values) - min(values)
        slack = sum(sorted(e for _, _, e in offsets)[-2:])
        level = Level.WARN if spread - slack > MAX_CLOCK_SKEW else Level.OK
        out.append(
            Check(
                name="time",
                level=level,
                message=f"clocks differ by {spread:.2f} s (± {slack:.2f} s)"
                + (
                    "; synchronise them (chrony or systemd-timesyncd)"
                    if level == Level.WARN
                    else ""
                ),
            )
        )
    keys = {f.authkey_sha256 for f in up if f.authkey_sha256}
    if len(keys) > 1:
        out.append(
            Check(
                name="authkey",
                level=Level.WARN,
                message="the nodes have different corosync authkeys",
            )
        )
    return out
