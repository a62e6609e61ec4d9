"""The cluster description: a typed, frozen model of the provisioning YAML, its loader and checks.

One YAML file describes a whole cluster: the nodes, the DRBD resource, the virtual IP, the
application, fencing and cluster properties. :func:`load_config` turns its text into a
:class:`ClusterConfig` and :func:`validate_config` checks it; every problem names the field it is
about with its YAML path (``nodes[1].address: ...``). Defaults follow the reference setup (LINBIT's
Home Assistant how-to): ``ha_cluster``, DRBD resource ``home-assistant`` on ``/dev/drbd0`` port
7788, ext4 on ``/mnt/home-assistant`` and the Home Assistant container.

Parsing happens in two passes. The first checks the shape of the document (mappings, lists, types,
unknown keys) and fills in defaults. The second, :func:`validate_config`, checks every value and
the relations between them on the model, collecting all errors at once, and returns warnings for
choices that are allowed but risky (no fencing on two nodes, no DRBD quorum on three).

The schema (``*`` = required; defaults in brackets)::

    version: 1
    cluster: {name [ha_cluster], crypto_cipher [aes256], crypto_hash [sha256],
              token (ms), ports [5403, 5404, 5405]}
    nodes*:  - {name*, address*, node_id*, drbd_disk*, drbd_node_id [node_id - 1],
                ring1_address, ssh: {user [root], port [22], key_file, host, known_hosts}}
    drbd:    {resource [home-assistant], device [/dev/drbd0], minor [from device], port [7788],
              protocol [C], mount_point [/mnt/home-assistant], filesystem [ext4],
              mount_options, agent [ocf:linbit:drbd],
              quorum: {quorum [majority], on_no_quorum [io-error]},
              options: {}, net: {}, disk: {}, ops: [...], filesystem_ops: [...]}
    vip*:    {address*, netmask [24], nic, ops: [...]}
    application:                     (docker is the default; give docker or ocf)
      id [p_docker_<resource> | p_app_<resource>]
      docker: {image [ghcr.io/home-assistant/home-assistant:stable],
               container_name [<resource>], run_options [--privileged, --network=host],
               env: {}, volumes [<mount_point>:/config, /run/dbus:/run/dbus:ro],
               params: {}, ports [8123], ops: [...]}
      ocf:    {agent*, params: {}, ports [], ops: [...]}
    stonith: {enabled [false], devices: [{id*, agent*, node, params: {}, ops: [...]}]}
    properties: {}  resource_defaults: {resource-stickiness: 100}  operation_defaults: {}
    ids: {drbd, clone, group, filesystem, ip, colocation, order}   (see ResourceIds)

An operation is ``{name*, interval [0s], timeout, role}``; a given ``ops`` list replaces the
defaults (the agents' advised timeouts) entirely.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import difflib
from enum import StrEnum
import ipaddress
from pathlib import Path
import re
from typing import TYPE_CHECKING, Any, Final, NoReturn

import yaml

from ..errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from yaml.nodes import MappingNode

__all__ = [
    "DEFAULT_DOCKER_IMAGE",
    "SCHEMA_VERSION",
    "Application",
    "ApplicationKind",
    "ClusterConfig",
    "CorosyncSettings",
    "DockerApplication",
    "DrbdQuorum",
    "DrbdSettings",
    "FenceDevice",
    "FirewallPort",
    "Node",
    "OcfApplication",
    "Operation",
    "Pairs",
    "ResourceIds",
    "SshSettings",
    "StonithSettings",
    "VirtualIp",
    "config_from_mapping",
    "load_config",
    "load_config_file",
    "validate_config",
]

SCHEMA_VERSION: Final = 1
DEFAULT_DOCKER_IMAGE: Final = "ghcr.io/home-assistant/home-assistant:stable"

type Pairs = tuple[tuple[str, str], ...]
"""An ordered, immutable mapping (agent parameters, environment, properties)."""


class ApplicationKind(StrEnum):
    """How the application is run by the cluster."""

    DOCKER = "docker"
    OCF = "ocf"


@dataclass(frozen=True, kw_only=True, slots=True)
class Operation:
    """One Pacemaker resource operation (``op monitor interval=29s timeout=20s role=Promoted``)."""

    name: str
    interval: str = "0s"
    timeout: str | None = None
    role: str | None = None

    def to_dict(self) -> dict[str, str]:
        """Return a JSON-safe dict; unset fields are left out."""
        out = {"name": self.name, "interval": self.interval}
        if self.timeout is not None:
            out["timeout"] = self.timeout
        if self.role is not None:
            out["role"] = self.role
        return out


def _ops(*specs: tuple[str, str, str | None, str | None]) -> tuple[Operation, ...]:
    return tuple(Operation(name=n, interval=i, timeout=t, role=r) for n, i, t, r in specs)


# Default operations: the timeouts each agent's meta-data advises, and LINBIT's usual 29 s / 31 s
# monitors for the two DRBD roles (different intervals, as Pacemaker requires).
DRBD_OPS: Final = _ops(
    ("start", "0s", "240s", None),
    ("stop", "0s", "100s", None),
    ("promote", "0s", "90s", None),
    ("demote", "0s", "90s", None),
    ("notify", "0s", "90s", None),
    ("monitor", "29s", "20s", "Promoted"),
    ("monitor", "31s", "20s", "Unpromoted"),
)
FILESYSTEM_OPS: Final = _ops(
    ("start", "0s", "60s", None),
    ("stop", "0s", "60s", None),
    ("monitor", "20s", "40s", None),
)
IP_OPS: Final = _ops(("monitor", "10s", "20s", None))
DOCKER_OPS: Final = _ops(
    ("start", "0s", "90s", None),
    ("stop", "0s", "90s", None),
    ("monitor", "30s", "30s", None),
)
OCF_APP_OPS: Final = _ops(("monitor", "30s", "30s", None))
FENCE_OPS: Final = _ops(("monitor", "60s", "20s", None))


@dataclass(frozen=True, kw_only=True, slots=True)
class SshSettings:
    """How provisioning reaches a node over SSH."""

    user: str = "root"
    port: int = 22
    key_file: str | None = None
    host: str | None = None
    known_hosts: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (paths only, never key material)."""
        return {
            "user": self.user,
            "port": self.port,
            "key_file": self.key_file,
            "host": self.host,
            "known_hosts": self.known_hosts,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Node:
    """A cluster node: its name (``uname -n``), addresses, ids and DRBD backing disk."""

    name: str
    address: str
    node_id: int
    drbd_node_id: int
    drbd_disk: str
    ring1_address: str | None = None
    ssh: SshSettings = field(default_factory=SshSettings)

    @property
    def ssh_host(self) -> str:
        """The host to connect to: ``ssh.host`` when set, else the ring0 address."""
        return self.ssh.host or self.address

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "name": self.name,
            "address": self.address,
            "node_id": self.node_id,
            "drbd_node_id": self.drbd_node_id,
            "drbd_disk": self.drbd_disk,
            "ring1_address": self.ring1_address,
            "ssh": self.ssh.to_dict(),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class CorosyncSettings:
    """Corosync's totem settings and the ports its links use."""

    crypto_cipher: str = "aes256"
    crypto_hash: str = "sha256"
    token: int | None = None
    ports: tuple[int, ...] = (5403, 5404, 5405)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "crypto_cipher": self.crypto_cipher,
            "crypto_hash": self.crypto_hash,
            "token": self.token,
            "ports": list(self.ports),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class DrbdQuorum:
    """DRBD's own quorum (``options { quorum majority; on-no-quorum io-error; }``)."""

    quorum: str = "majority"
    on_no_quorum: str = "io-error"

    def to_dict(self) -> dict[str, str]:
        """Return a JSON-safe dict."""
        return {"quorum": self.quorum, "on_no_quorum": self.on_no_quorum}


@dataclass(frozen=True, kw_only=True, slots=True)
class DrbdSettings:
    """The replicated DRBD resource, the file system on it and their Pacemaker operations."""

    resource: str = "home-assistant"
    device: str = "/dev/drbd0"
    minor: int = 0
    port: int = 7788
    protocol: str = "C"
    mount_point: str = "/mnt/home-assistant"
    filesystem: str = "ext4"
    mount_options: str | None = None
    agent: str = "ocf:linbit:drbd"
    quorum: DrbdQuorum | None = None
    options: Pairs = ()
    net: Pairs = ()
    disk: Pairs = ()
    ops: tuple[Operation, ...] = DRBD_OPS
    filesystem_ops: tuple[Operation, ...] = FILESYSTEM_OPS

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "resource": self.resource,
            "device": self.device,
            "minor": self.minor,
            "port": self.port,
            "protocol": self.protocol,
            "mount_point": self.mount_point,
            "filesystem": self.filesystem,
            "mount_options": self.mount_options,
            "agent": self.agent,
            "quorum": None if self.quorum is None else self.quorum.to_dict(),
            "options": dict(self.options),
            "net": dict(self.net),
            "disk": dict(self.disk),
            "ops": [op.to_dict() for op in self.ops],
            "filesystem_ops": [op.to_dict() for op in self.filesystem_ops],
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class VirtualIp:
    """The floating IP address (``ocf:heartbeat:IPaddr2``)."""

    address: str
    netmask: int = 24
    nic: str | None = None
    ops: tuple[Operation, ...] = IP_OPS

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "address": self.address,
            "netmask": self.netmask,
            "nic": self.nic,
            "ops": [op.to_dict() for op in self.ops],
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class DockerApplication:
    """The application as a Docker container (``ocf:heartbeat:docker``)."""

    id: str
    image: str = DEFAULT_DOCKER_IMAGE
    container_name: str = "home-assistant"
    run_options: tuple[str, ...] = ("--privileged", "--network=host")
    env: Pairs = ()
    volumes: tuple[str, ...] = ("/mnt/home-assistant:/config", "/run/dbus:/run/dbus:ro")
    params: Pairs = ()
    ports: tuple[int, ...] = (8123,)
    ops: tuple[Operation, ...] = DOCKER_OPS

    @property
    def kind(self) -> ApplicationKind:
        """Always :attr:`ApplicationKind.DOCKER`."""
        return ApplicationKind.DOCKER

    @property
    def agent(self) -> str:
        """The resource agent that runs the container."""
        return "ocf:heartbeat:docker"

    @property
    def run_opts(self) -> str:
        """The agent's ``run_opts``: run options, then ``-e`` per variable, then ``-v``."""
        words = [*self.run_options]
        words += [f"-e {name}={value}" for name, value in self.env]
        words += [f"-v {volume}" for volume in self.volumes]
        return " ".join(words)

    @property
    def agent_params(self) -> Pairs:
        """The agent's instance attributes, in rendering order."""
        base: Pairs = (("image", self.image), ("name", self.container_name))
        if self.run_opts:
            base += (("run_opts", self.run_opts),)
        return base + self.params

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "kind": self.kind.value,
            "id": self.id,
            "image": self.image,
            "container_name": self.container_name,
            "run_options": list(self.run_options),
            "env": dict(self.env),
            "volumes": list(self.volumes),
            "params": dict(self.params),
            "ports": list(self.ports),
            "ops": [op.to_dict() for op in self.ops],
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class OcfApplication:
    """The application as any other OCF resource agent (``ocf:provider:type``)."""

    id: str
    agent: str
    params: Pairs = ()
    ports: tuple[int, ...] = ()
    ops: tuple[Operation, ...] = OCF_APP_OPS

    @property
    def kind(self) -> ApplicationKind:
        """Always :attr:`ApplicationKind.OCF`."""
        return ApplicationKind.OCF

    @property
    def agent_params(self) -> Pairs:
        """The agent's instance attributes, in rendering order."""
        return self.params

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "kind": self.kind.value,
            "id": self.id,
            "agent": self.agent,
            "params": dict(self.params),
            "ports": list(self.ports),
            "ops": [op.to_dict() for op in self.ops],
        }


type Application = DockerApplication | OcfApplication

_SECRET_PARAM = re.compile(r"pass|secret|token|community", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True, slots=True)
class FenceDevice:
    """A fence (STONITH) device; ``node`` is the node it fences, if it fences only one."""

    id: str
    agent: str
    params: Pairs = ()
    node: str | None = None
    ops: tuple[Operation, ...] = FENCE_OPS

    @property
    def agent_params(self) -> Pairs:
        """Instance attributes; a per-node device also gets ``pcmk_host_list``."""
        if self.node is not None and "pcmk_host_list" not in dict(self.params):
            return (*self.params, ("pcmk_host_list", self.node))
        return self.params

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict; parameters that look like secrets are masked."""
        return {
            "id": self.id,
            "agent": self.agent,
            "params": {k: ("***" if _SECRET_PARAM.search(k) else v) for k, v in self.params},
            "node": self.node,
            "ops": [op.to_dict() for op in self.ops],
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class StonithSettings:
    """Fencing: whether it is on and the devices that do it."""

    enabled: bool = False
    devices: tuple[FenceDevice, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {"enabled": self.enabled, "devices": [d.to_dict() for d in self.devices]}


@dataclass(frozen=True, kw_only=True, slots=True)
class ResourceIds:
    """The Pacemaker ids of the resources and constraints (the application's is on it)."""

    drbd: str
    clone: str
    group: str
    filesystem: str
    ip: str
    colocation: str
    order: str

    @classmethod
    def for_resource(cls, resource: str) -> ResourceIds:
        """Return the reference setup's naming scheme for DRBD resource ``resource``."""
        return cls(
            drbd=f"p_drbd_{resource}",
            clone=f"ms_drbd_{resource}",
            group=f"g_{resource}",
            filesystem=f"p_fs_{resource}",
            ip=f"p_ip_{resource}",
            colocation=f"c_{resource}_on_drbd",
            order=f"o_drbd_before_{resource}",
        )

    def to_dict(self) -> dict[str, str]:
        """Return a JSON-safe dict."""
        return {
            "drbd": self.drbd,
            "clone": self.clone,
            "group": self.group,
            "filesystem": self.filesystem,
            "ip": self.ip,
            "colocation": self.colocation,
            "order": self.order,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class FirewallPort:
    """A port the cluster needs open between the nodes (or, for the application, to clients)."""

    port: int
    protocol: str
    purpose: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {"port": self.port, "protocol": self.protocol, "purpose": self.purpose}


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterConfig:
    """The whole cluster description, validated (see :func:`load_config`)."""

    name: str
    nodes: tuple[Node, ...]
    drbd: DrbdSettings
    vip: VirtualIp
    application: Application
    ids: ResourceIds
    corosync: CorosyncSettings = field(default_factory=CorosyncSettings)
    stonith: StonithSettings = field(default_factory=StonithSettings)
    properties: Pairs = ()
    resource_defaults: Pairs = (("resource-stickiness", "100"),)
    operation_defaults: Pairs = ()
    warnings: tuple[str, ...] = ()

    @property
    def two_node(self) -> bool:
        """True for a two-node cluster (corosync ``two_node: 1``)."""
        return len(self.nodes) == 2

    @property
    def has_second_ring(self) -> bool:
        """True when every node has a ring1 address (a second knet link)."""
        return bool(self.nodes) and all(n.ring1_address for n in self.nodes)

    def node(self, name: str) -> Node:
        """Return the node called ``name`` (KeyError when there is none)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def firewall_ports(self) -> tuple[FirewallPort, ...]:
        """The ports to open: corosync (UDP), DRBD and the application (TCP), sorted."""
        ports = [
            FirewallPort(port=p, protocol="udp", purpose="corosync") for p in self.corosync.ports
        ]
        ports.append(FirewallPort(port=self.drbd.port, protocol="tcp", purpose="drbd"))
        ports += [
            FirewallPort(port=p, protocol="tcp", purpose="application")
            for p in self.application.ports
        ]
        return tuple(sorted(ports, key=lambda p: (p.port, p.protocol)))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict of the whole description (fence secrets masked)."""
        return {
            "name": self.name,
            "corosync": self.corosync.to_dict(),
            "nodes": [n.to_dict() for n in self.nodes],
            "drbd": self.drbd.to_dict(),
            "vip": self.vip.to_dict(),
            "application": self.application.to_dict(),
            "stonith": self.stonith.to_dict(),
            "properties": dict(self.properties),
            "resource_defaults": dict(self.resource_defaults),
            "operation_defaults": dict(self.operation_defaults),
            "ids": self.ids.to_dict(),
            "two_node": self.two_node,
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------------------------
# Loading: YAML text -> plain data -> model (shape and types only).
# --------------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise ConfigError(f"line {line}: duplicate key {key!r}")
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def load_config(text: str) -> ClusterConfig:
    """Parse and validate a YAML cluster description.

    Raises :class:`~hacluster.errors.ConfigError` naming the bad field(s); allowed but risky
    choices are returned in :attr:`ClusterConfig.warnings`.
    """
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"not valid YAML: {where}{err.problem}") from err
    except yaml.YAMLError as err:  # pragma: no cover - every PyYAML parse error is marked
        raise ConfigError(f"not valid YAML: {err}") from err
    return config_from_mapping(data)


def load_config_file(path: str | Path) -> ClusterConfig:
    """Read ``path`` and return :func:`load_config` of its text."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the cluster description: {err}") from err
    return load_config(text)


def config_from_mapping(data: object) -> ClusterConfig:
    """Build and validate a :class:`ClusterConfig` from already parsed YAML data."""
    cfg = _Reader().read(data)
    return replace(cfg, warnings=validate_config(cfg))


def _fail(path: str, message: str) -> NoReturn:
    raise ConfigError(f"{path}: {message}" if path else message)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _type_name(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


class _Reader:
    """Turns plain YAML data into the model, checking shapes, types and keys only."""

    def read(self, data: object) -> ClusterConfig:
        top = self.mapping(
            data,
            "",
            (
                "version",
                "cluster",
                "nodes",
                "drbd",
                "vip",
                "application",
                "stonith",
                "properties",
                "resource_defaults",
                "operation_defaults",
                "ids",
            ),
            what="the cluster description",
        )
        version = self.get_int(top, "version", "", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            _fail("version", f"unsupported schema version {version} (this is {SCHEMA_VERSION})")
        cluster = self.mapping(
            top.get("cluster", {}),
            "cluster",
            ("name", "crypto_cipher", "crypto_hash", "token", "ports"),
        )
        drbd = self.drbd(top.get("drbd", {}))
        ids = self.ids(top.get("ids", {}), drbd.resource)
        return ClusterConfig(
            name=self.get_str(cluster, "name", "cluster", "ha_cluster"),
            corosync=CorosyncSettings(
                crypto_cipher=self.get_str(cluster, "crypto_cipher", "cluster", "aes256"),
                crypto_hash=self.get_str(cluster, "crypto_hash", "cluster", "sha256"),
                token=self.opt_int(cluster, "token", "cluster"),
                ports=self.int_list(cluster, "ports", "cluster", (5403, 5404, 5405)),
            ),
            nodes=self.nodes(top),
            drbd=drbd,
            vip=self.vip(top),
            application=self.application(top.get("application", {}), drbd),
            stonith=self.stonith(top.get("stonith", {})),
            properties=self.pairs(top, "properties", "", ()),
            resource_defaults=self.pairs(
                top, "resource_defaults", "", (("resource-stickiness", "100"),)
            ),
            operation_defaults=self.pairs(top, "operation_defaults", "", ()),
            ids=ids,
        )

    # -- sections ----------------------------------------------------------------------------

    def nodes(self, top: Mapping[str, object]) -> tuple[Node, ...]:
        if "nodes" not in top:
            _fail("nodes", "missing (list every cluster node)")
        raw = top["nodes"]
        if not isinstance(raw, list) or not raw:
            _fail("nodes", f"must be a non-empty list of nodes, not {_type_name(raw)}")
        nodes = []
        for index, item in enumerate(raw):
            path = _join("nodes", index)
            m = self.mapping(
                item,
                path,
                (
                    "name",
                    "address",
                    "node_id",
                    "drbd_node_id",
                    "drbd_disk",
                    "ring1_address",
                    "ssh",
                ),
            )
            ssh = self.mapping(
                m.get("ssh", {}),
                _join(path, "ssh"),
                ("user", "port", "key_file", "host", "known_hosts"),
            )
            ssh_path = _join(path, "ssh")
            if m.get("node_id") is None:
                _fail(_join(path, "node_id"), "missing (corosync node id, 1..65535)")
            node_id = self.get_int(m, "node_id", path, 0)
            nodes.append(
                Node(
                    name=self.req_str(m, "name", path),
                    address=self.req_str(m, "address", path),
                    node_id=node_id,
                    drbd_node_id=self.get_int(m, "drbd_node_id", path, node_id - 1),
                    drbd_disk=self.req_str(m, "drbd_disk", path),
                    ring1_address=self.opt_str(m, "ring1_address", path),
                    ssh=SshSettings(
                        user=self.get_str(ssh, "user", ssh_path, "root"),
                        port=self.get_int(ssh, "port", ssh_path, 22),
                        key_file=self.opt_str(ssh, "key_file", ssh_path),
                        host=self.opt_str(ssh, "host", ssh_path),
                        known_hosts=self.opt_str(ssh, "known_hosts", ssh_path),
                    ),
                )
            )
        return tuple(nodes)

    def drbd(self, raw: object) -> DrbdSettings:
        path = "drbd"
        m = self.mapping(
            raw,
            path,
            (
                "resource",
                "device",
                "minor",
                "port",
                "protocol",
                "mount_point",
                "filesystem",
                "mount_options",
                "agent",
                "quorum",
                "options",
                "net",
                "disk",
                "ops",
                "filesystem_ops",
            ),
        )
        device = self.get_str(m, "device", path, "/dev/drbd0")
        found = re.fullmatch(r"/dev/drbd(\d+)", device)
        minor_default = int(found.group(1)) if found else None
        minor = self.opt_int(m, "minor", path)
        if minor is None:
            if minor_default is None:
                _fail(_join(path, "minor"), f"missing (required when the device is {device})")
            minor = minor_default
        quorum: DrbdQuorum | None = None
        if m.get("quorum") is not None:
            q_path = _join(path, "quorum")
            q = self.mapping(m["quorum"], q_path, ("quorum", "on_no_quorum"))
            quorum = DrbdQuorum(
                # YAML 1.1 reads an unquoted `off` as false
                quorum="off"
                if q.get("quorum") is False
                else self.opt_scalar(q, "quorum", q_path, "majority"),
                on_no_quorum=self.get_str(q, "on_no_quorum", q_path, "io-error"),
            )
        return DrbdSettings(
            resource=self.get_str(m, "resource", path, "home-assistant"),
            device=device,
            minor=minor,
            port=self.get_int(m, "port", path, 7788),
            protocol=self.get_str(m, "protocol", path, "C"),
            mount_point=self.get_str(m, "mount_point", path, "/mnt/home-assistant"),
            filesystem=self.get_str(m, "filesystem", path, "ext4"),
            mount_options=self.opt_str(m, "mount_options", path),
            agent=self.get_str(m, "agent", path, "ocf:linbit:drbd"),
            quorum=quorum,
            options=self.pairs(m, "options", path, (), yes_no=True),
            net=self.pairs(m, "net", path, (), yes_no=True),
            disk=self.pairs(m, "disk", path, (), yes_no=True),
            ops=self.ops(m, "ops", path, DRBD_OPS),
            filesystem_ops=self.ops(m, "filesystem_ops", path, FILESYSTEM_OPS),
        )

    def vip(self, top: Mapping[str, object]) -> VirtualIp:
        if "vip" not in top:
            _fail("vip", "missing (the virtual IP address clients use)")
        m = self.mapping(top["vip"], "vip", ("address", "netmask", "nic", "ops"))
        return VirtualIp(
            address=self.req_str(m, "address", "vip"),
            netmask=self.get_int(m, "netmask", "vip", 24),
            nic=self.opt_str(m, "nic", "vip"),
            ops=self.ops(m, "ops", "vip", IP_OPS),
        )

    def application(self, raw: object, drbd: DrbdSettings) -> Application:
        path = "application"
        m = self.mapping(raw, path, ("id", "docker", "ocf"))
        if "docker" in m and "ocf" in m:
            _fail(path, "give either 'docker' or 'ocf', not both")
        if "ocf" in m:
            o_path = _join(path, "ocf")
            o = self.mapping(m["ocf"], o_path, ("agent", "params", "ports", "ops"))
            return OcfApplication(
                id=self.get_str(m, "id", path, f"p_app_{drbd.resource}"),
                agent=self.req_str(o, "agent", o_path),
                params=self.pairs(o, "params", o_path, ()),
                ports=self.int_list(o, "ports", o_path, ()),
                ops=self.ops(o, "ops", o_path, OCF_APP_OPS),
            )
        d_path = _join(path, "docker")
        d = self.mapping(
            m.get("docker", {}),
            d_path,
            (
                "image",
                "container_name",
                "run_options",
                "env",
                "volumes",
                "params",
                "ports",
                "ops",
            ),
        )
        return DockerApplication(
            id=self.get_str(m, "id", path, f"p_docker_{drbd.resource}"),
            image=self.get_str(d, "image", d_path, DEFAULT_DOCKER_IMAGE),
            container_name=self.get_str(d, "container_name", d_path, drbd.resource),
            run_options=self.str_list(d, "run_options", d_path, ("--privileged", "--network=host")),
            env=self.pairs(d, "env", d_path, ()),
            volumes=self.str_list(
                d,
                "volumes",
                d_path,
                (f"{drbd.mount_point}:/config", "/run/dbus:/run/dbus:ro"),
            ),
            params=self.pairs(d, "params", d_path, ()),
            ports=self.int_list(d, "ports", d_path, (8123,)),
            ops=self.ops(d, "ops", d_path, DOCKER_OPS),
        )

    def stonith(self, raw: object) -> StonithSettings:
        path = "stonith"
        m = self.mapping(raw, path, ("enabled", "devices"))
        enabled = m.get("enabled", False)
        if not isinstance(enabled, bool):
            _fail(_join(path, "enabled"), f"must be true or false, not {_type_name(enabled)}")
        raw_devices = m.get("devices", [])
        if not isinstance(raw_devices, list):
            _fail(_join(path, "devices"), f"must be a list, not {_type_name(raw_devices)}")
        devices = []
        for index, item in enumerate(raw_devices):
            d_path = _join(_join(path, "devices"), index)
            d = self.mapping(item, d_path, ("id", "agent", "params", "node", "ops"))
            agent = self.req_str(d, "agent", d_path)
            devices.append(
                FenceDevice(
                    id=self.req_str(d, "id", d_path),
                    agent=agent.removeprefix("stonith:"),
                    params=self.pairs(d, "params", d_path, ()),
                    node=self.opt_str(d, "node", d_path),
                    ops=self.ops(d, "ops", d_path, FENCE_OPS),
                )
            )
        return StonithSettings(enabled=enabled, devices=tuple(devices))

    def ids(self, raw: object, resource: str) -> ResourceIds:
        defaults = ResourceIds.for_resource(resource)
        names = tuple(defaults.to_dict())
        m = self.mapping(raw, "ids", names)
        values = {k: self.get_str(m, k, "ids", v) for k, v in defaults.to_dict().items()}
        return ResourceIds(**values)

    # -- building blocks ---------------------------------------------------------------------

    def mapping(
        self, raw: object, path: str, allowed: Iterable[str], *, what: str = ""
    ) -> dict[str, object]:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            _fail(path, f"{what} must be a mapping, not {_type_name(raw)}".strip())
        allowed = tuple(allowed)
        for key in raw:
            if not isinstance(key, str):
                _fail(path, f"key {key!r} must be a string")
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                suffix = (
                    f"did you mean {hint[0]!r}?"
                    if hint
                    else f"expected one of: {', '.join(allowed)}"
                )
                _fail(_join(path, key), f"unknown key, {suffix}")
        return raw

    def req_str(self, m: Mapping[str, object], key: str, path: str) -> str:
        if m.get(key) is None:
            _fail(_join(path, key), "missing")
        value = self.opt_str(m, key, path)
        assert value is not None  # noqa: S101 (checked just above)
        return value

    def opt_str(self, m: Mapping[str, object], key: str, path: str) -> str | None:
        value = m.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            _fail(_join(path, key), f"must be a string, not {_type_name(value)} (quote it)")
        return value

    def get_str(self, m: Mapping[str, object], key: str, path: str, default: str) -> str:
        value = self.opt_str(m, key, path)
        return default if value is None else value

    def opt_scalar(self, m: Mapping[str, object], key: str, path: str, default: str) -> str:
        value = m.get(key)
        if value is None:
            return default
        return self.scalar(value, _join(path, key))

    def opt_int(self, m: Mapping[str, object], key: str, path: str) -> int | None:
        value = m.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(_join(path, key), f"must be a whole number, not {_type_name(value)}")
        return value

    def get_int(self, m: Mapping[str, object], key: str, path: str, default: int) -> int:
        value = self.opt_int(m, key, path)
        return default if value is None else value

    def str_list(
        self, m: Mapping[str, object], key: str, path: str, default: tuple[str, ...]
    ) -> tuple[str, ...]:
        value = m.get(key)
        if value is None:
            return default
        if not isinstance(value, list):
            _fail(_join(path, key), f"must be a list, not {_type_name(value)}")
        out = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                _fail(_join(_join(path, key), index), f"must be a string, not {_type_name(item)}")
            out.append(item)
        return tuple(out)

    def int_list(
        self, m: Mapping[str, object], key: str, path: str, default: tuple[int, ...]
    ) -> tuple[int, ...]:
        value = m.get(key)
        if value is None:
            return default
        if not isinstance(value, list):
            _fail(_join(path, key), f"must be a list of numbers, not {_type_name(value)}")
        out = []
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int):
                _fail(_join(_join(path, key), index), f"must be a number, not {_type_name(item)}")
            out.append(item)
        return tuple(out)

    def scalar(self, value: object, path: str, *, yes_no: bool = False) -> str:
        if isinstance(value, bool):
            if yes_no:  # DRBD's booleans
                return "yes" if value else "no"
            return "true" if value else "false"
        if isinstance(value, int | str):
            return str(value)
        _fail(path, f"must be a string, number or boolean, not {_type_name(value)}")

    def pairs(
        self,
        m: Mapping[str, object],
        key: str,
        path: str,
        default: Pairs,
        *,
        yes_no: bool = False,
    ) -> Pairs:
        value = m.get(key)
        if value is None:
            return default
        sub = _join(path, key)
        if not isinstance(value, dict):
            _fail(sub, f"must be a mapping, not {_type_name(value)}")
        out = []
        for name, item in value.items():
            if not isinstance(name, str):
                _fail(sub, f"key {name!r} must be a string")
            out.append((name, self.scalar(item, _join(sub, name), yes_no=yes_no)))
        return tuple(out)

    def ops(
        self, m: Mapping[str, object], key: str, path: str, default: tuple[Operation, ...]
    ) -> tuple[Operation, ...]:
        value = m.get(key)
        if value is None:
            return default
        sub = _join(path, key)
        if not isinstance(value, list):
            _fail(sub, f"must be a list of operations, not {_type_name(value)}")
        out = []
        for index, item in enumerate(value):
            o_path = _join(sub, index)
            o = self.mapping(item, o_path, ("name", "interval", "timeout", "role"))
            out.append(
                Operation(
                    name=self.req_str(o, "name", o_path),
                    interval=self.opt_scalar(o, "interval", o_path, "0s"),
                    timeout=(
                        None
                        if o.get("timeout") is None
                        else self.opt_scalar(o, "timeout", o_path, "")
                    ),
                    role=self.opt_str(o, "role", o_path),
                )
            )
        return tuple(out)


# --------------------------------------------------------------------------------------------
# Validation: every value and the relations between them.
# --------------------------------------------------------------------------------------------

_NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,254}")
_HOSTNAME = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_CLUSTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_DRBD_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")
_DEV_PATH = re.compile(r"/dev/[A-Za-z0-9_][A-Za-z0-9_./+:-]*")
_DRBD_DEVICE = re.compile(r"/dev/drbd(?:\d+|_[A-Za-z0-9_.-]+)")
_ABS_PATH = re.compile(r"/[A-Za-z0-9_./+@:-]*")
_FSTYPE = re.compile(r"[a-z][a-z0-9]{0,15}")
_MOUNT_OPTIONS = re.compile(r"[A-Za-z0-9_=,.:/+-]+")
_OCF_AGENT = re.compile(r"ocf:[A-Za-z0-9_.-]+:[A-Za-z0-9_.+-]+")
_FENCE_AGENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+/-]*")
_NIC = re.compile(r"[A-Za-z0-9_.:@-]{1,15}")
_OPTION_NAME = re.compile(r"[a-z][a-z0-9-]*")
_DRBD_VALUE = re.compile(r"[A-Za-z0-9_.:/@%+-]+")
_CRYPTO = re.compile(r"[a-z0-9]+")
_USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}\$?")
_DURATION = re.compile(r"\d+(?:ms|msec|us|usec|s|sec|m|min|h|hr)?")
_IMAGE = re.compile(r"[a-z0-9][A-Za-z0-9._/:@-]*")
_CONTAINER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The docker agent splits run_opts on blanks and the shell globs them: no blanks, quotes,
# backslashes or glob characters in any word of it.
_RUN_WORD = re.compile(r"[^\s'\"\\*?\[\]`$]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_OP_NAMES: Final = frozenset(
    {"start", "stop", "monitor", "promote", "demote", "notify", "reload", "reload-agent"}
    | {"migrate_to", "migrate_from"}
)
_ROLES: Final = ("Promoted", "Unpromoted", "Started", "Stopped")
_OLD_ROLES: Final = {"Master": "Promoted", "Slave": "Unpromoted"}
_QUORUM_WORDS: Final = ("majority", "all", "off")
_ON_NO_QUORUM: Final = ("io-error", "suspend-io")
_RESERVED_PROPERTIES: Final = {
    "stonith-enabled": "set stonith.enabled instead",
    "maintenance-mode": "provisioning switches maintenance mode itself",
    "dc-version": "it is maintained by Pacemaker",
    "cluster-infrastructure": "it is maintained by Pacemaker",
    "cluster-name": "it is maintained by Pacemaker (from cluster.name)",
    "have-watchdog": "it is maintained by Pacemaker",
    "last-lrm-refresh": "it is maintained by Pacemaker",
}
_TYPED_DRBD_OPTIONS: Final = {
    ("options", "quorum"): "drbd.quorum",
    ("options", "on-no-quorum"): "drbd.quorum",
    ("net", "protocol"): "drbd.protocol",
}
_DOCKER_OWN_PARAMS: Final = {
    "image": "image",
    "name": "container_name",
    "run_opts": "run_options, env and volumes",
}


class _Checker:
    """Collects errors and warnings about a :class:`ClusterConfig`."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{path}: {message}")

    def match(self, pattern: re.Pattern[str], value: str, path: str, what: str) -> bool:
        if pattern.fullmatch(value):
            return True
        self.error(path, f"{value!r} is not {what}")
        return False

    def port(self, value: int, path: str) -> None:
        if not 1 <= value <= 65535:
            self.error(path, f"{value} is not a port number (1..65535)")

    def ipv4(self, value: str, path: str) -> ipaddress.IPv4Address | None:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            self.error(path, f"{value!r} is not an IP address")
            return None
        if not isinstance(address, ipaddress.IPv4Address):
            self.error(path, f"{value} is an IPv6 address; only IPv4 is supported")
            return None
        if _usable_ipv4(value) is None:
            self.error(path, f"{value} cannot be a cluster address")
            return None
        return address

    def pacemaker_id(self, value: str, path: str) -> None:
        self.match(
            _NCNAME,
            value,
            path,
            "a valid Pacemaker id (a letter or _, then letters, digits, _ . -)",
        )

    def text(self, value: str, path: str) -> None:
        if _CONTROL.search(value):
            self.error(path, "must not contain control characters or line breaks")

    def params(self, params: Pairs, path: str) -> None:
        for name, value in params:
            if self.match(_NCNAME, name, _join(path, name), "a valid parameter name"):
                self.text(value, _join(path, name))

    def ops(self, ops: tuple[Operation, ...], path: str) -> None:
        seen: dict[tuple[str, str], int] = {}
        for index, op in enumerate(ops):
            o_path = _join(path, index)
            if op.name not in _OP_NAMES:
                self.error(
                    _join(o_path, "name"),
                    f"{op.name!r} is not an operation (one of {', '.join(sorted(_OP_NAMES))})",
                )
            self.match(_DURATION, op.interval, _join(o_path, "interval"), "a duration like 30s")
            if op.timeout is not None:
                self.match(_DURATION, op.timeout, _join(o_path, "timeout"), "a duration like 30s")
            if op.role is not None and op.role not in _ROLES:
                new = _OLD_ROLES.get(op.role)
                hint = f"use {new!r}" if new else f"one of {', '.join(_ROLES)}"
                self.error(_join(o_path, "role"), f"{op.role!r} is not a role ({hint})")
            key = (op.name, _seconds(op.interval))
            if key in seen:
                self.error(
                    o_path,
                    f"a second {op.name!r} operation with interval {op.interval} "
                    f"(Pacemaker needs distinct intervals; see {_join(path, seen[key])})",
                )
            else:
                seen[key] = index


def _usable_ipv4(value: str) -> ipaddress.IPv4Address | None:
    """``value`` as an IPv4 address a node or the VIP can have, or None."""
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        return None
    if address.is_unspecified or address.is_multicast or address.is_loopback:
        return None
    return address


def _seconds(duration: str) -> str:
    """Normalise a duration for duplicate detection (``30``, ``30s`` and ``30sec`` are equal)."""
    found = re.fullmatch(r"(\d+)([a-z]*)", duration)
    if not found:
        return duration
    number, unit = int(found.group(1)), found.group(2)
    factor = {"": 1000, "s": 1000, "sec": 1000, "ms": 1, "msec": 1, "m": 60000, "min": 60000}
    factor |= {"h": 3600000, "hr": 3600000}
    if unit in factor:
        return f"{number * factor[unit]}ms"
    return duration  # microseconds: rare enough to compare as written


def validate_config(cfg: ClusterConfig) -> tuple[str, ...]:
    """Check every value of ``cfg`` and the relations between them.

    Raises :class:`~hacluster.errors.ConfigError` listing every error (one per line, each
    starting with the field's YAML path); returns the warnings (allowed but risky choices).
    """
    check = _Checker()
    _check_cluster(cfg, check)
    _check_nodes(cfg, check)
    _check_drbd(cfg, check)
    _check_vip(cfg, check)
    _check_application(cfg, check)
    _check_stonith(cfg, check)
    _check_cib_options(cfg, check)
    _check_ids(cfg, check)
    if len(check.errors) == 1:
        raise ConfigError(check.errors[0])
    if check.errors:
        lines = "\n".join(f"- {e}" for e in check.errors)
        raise ConfigError(f"{len(check.errors)} problems in the cluster description:\n{lines}")
    return tuple(check.warnings)


def _check_cluster(cfg: ClusterConfig, check: _Checker) -> None:
    check.match(_CLUSTER_NAME, cfg.name, "cluster.name", "a valid cluster name")
    co = cfg.corosync
    check.match(_CRYPTO, co.crypto_cipher, "cluster.crypto_cipher", "a corosync cipher name")
    check.match(_CRYPTO, co.crypto_hash, "cluster.crypto_hash", "a corosync hash name")
    if co.token is not None and not 100 <= co.token <= 600_000:
        check.error("cluster.token", f"{co.token} is not a token timeout in ms (100..600000)")
    for index, port in enumerate(co.ports):
        check.port(port, _join("cluster.ports", index))


def _check_nodes(cfg: ClusterConfig, check: _Checker) -> None:
    nodes = cfg.nodes
    if not 2 <= len(nodes) <= 32:
        check.error("nodes", f"a cluster needs 2 to 32 nodes, not {len(nodes)}")
    names: dict[str, int] = {}
    node_ids: dict[int, int] = {}
    drbd_ids: dict[int, int] = {}
    addresses: dict[str, str] = {}
    for index, node in enumerate(nodes):
        path = _join("nodes", index)
        check.match(_HOSTNAME, node.name, _join(path, "name"), "a valid host name (uname -n)")
        _unique(check, names, node.name, index, _join(path, "name"), "node name")
        if not 1 <= node.node_id <= 65535:
            check.error(_join(path, "node_id"), f"{node.node_id} is not a node id (1..65535)")
        _unique(check, node_ids, node.node_id, index, _join(path, "node_id"), "node id")
        if not 0 <= node.drbd_node_id <= 31:
            check.error(
                _join(path, "drbd_node_id"),
                f"{node.drbd_node_id} is not a DRBD node id (0..31; it defaults to node_id - 1)",
            )
        _unique(
            check, drbd_ids, node.drbd_node_id, index, _join(path, "drbd_node_id"), "DRBD node id"
        )
        check.match(
            _DEV_PATH, node.drbd_disk, _join(path, "drbd_disk"), "a block device path under /dev"
        )
        for key, value in (("address", node.address), ("ring1_address", node.ring1_address)):
            if value is None:
                continue
            a_path = _join(path, key)
            address = check.ipv4(value, a_path)
            if address is None:
                continue
            if str(address) in addresses:
                check.error(a_path, f"{address} is already used by {addresses[str(address)]}")
            else:
                addresses[str(address)] = a_path
        _check_ssh(node.ssh, _join(path, "ssh"), check)
    rings = [n.ring1_address is not None for n in nodes]
    if any(rings) and not all(rings):
        missing = [n.name for n in nodes if n.ring1_address is None]
        check.error(
            "nodes",
            f"either every node has a ring1_address or none does (missing on {', '.join(missing)})",
        )


def _unique[K](
    check: _Checker, seen: dict[K, int], key: K, index: int, path: str, what: str
) -> None:
    if key in seen:
        check.error(path, f"duplicate {what} {key!r} (also nodes[{seen[key]}])")
    else:
        seen[key] = index


def _check_ssh(ssh: SshSettings, path: str, check: _Checker) -> None:
    check.match(_USER, ssh.user, _join(path, "user"), "a valid user name")
    check.port(ssh.port, _join(path, "port"))
    for key, value in (("key_file", ssh.key_file), ("known_hosts", ssh.known_hosts)):
        if value is not None and (not value.strip() or _CONTROL.search(value)):
            check.error(_join(path, key), "must be a file path")
    if ssh.host is not None and not _HOSTNAME.fullmatch(ssh.host):
        try:
            ipaddress.ip_address(ssh.host)
        except ValueError:
            check.error(_join(path, "host"), f"{ssh.host!r} is not a host name or IP address")


def _check_drbd(cfg: ClusterConfig, check: _Checker) -> None:
    d = cfg.drbd
    check.match(_DRBD_NAME, d.resource, "drbd.resource", "a valid DRBD resource name")
    if check.match(_DRBD_DEVICE, d.device, "drbd.device", "a DRBD device (/dev/drbd<minor>)"):
        found = re.fullmatch(r"/dev/drbd(\d+)", d.device)
        if found and int(found.group(1)) != d.minor:
            check.error("drbd.minor", f"{d.minor} does not match the device {d.device}")
    if not 0 <= d.minor <= 1048575:
        check.error("drbd.minor", f"{d.minor} is not a DRBD minor (0..1048575)")
    check.port(d.port, "drbd.port")
    if d.protocol not in ("A", "B", "C"):
        check.error("drbd.protocol", f"{d.protocol!r} is not a DRBD protocol (A, B or C)")
    mount_ok = check.match(_ABS_PATH, d.mount_point, "drbd.mount_point", "an absolute path")
    if mount_ok and (
        d.mount_point == "/"
        or d.mount_point.endswith("/")
        or "//" in d.mount_point
        or "/../" in f"{d.mount_point}/"
        or "/./" in f"{d.mount_point}/"
    ):
        check.error("drbd.mount_point", f"{d.mount_point!r} must be a normalised directory, not /")
    check.match(_FSTYPE, d.filesystem, "drbd.filesystem", "a file system type (ext4, xfs, ...)")
    if d.mount_options is not None:
        check.match(_MOUNT_OPTIONS, d.mount_options, "drbd.mount_options", "a mount option list")
    check.match(_OCF_AGENT, d.agent, "drbd.agent", "an OCF agent (ocf:provider:type)")
    if d.quorum is not None:
        q = d.quorum
        if q.quorum not in _QUORUM_WORDS and (
            not q.quorum.isdigit() or not 1 <= int(q.quorum) <= len(cfg.nodes)
        ):
            check.error(
                "drbd.quorum.quorum",
                f"{q.quorum!r} is not majority, all, off or a node count (1..{len(cfg.nodes)})",
            )
        if q.on_no_quorum not in _ON_NO_QUORUM:
            check.error(
                "drbd.quorum.on_no_quorum", f"{q.on_no_quorum!r} is not io-error or suspend-io"
            )
    for section, pairs in (("options", d.options), ("net", d.net), ("disk", d.disk)):
        for name, value in pairs:
            path = f"drbd.{section}.{name}"
            if (section, name) in _TYPED_DRBD_OPTIONS:
                check.error(path, f"set {_TYPED_DRBD_OPTIONS[section, name]} instead")
                continue
            check.match(_OPTION_NAME, name, path, "a DRBD option name")
            check.match(_DRBD_VALUE, value, path, "a plain DRBD option value")
    check.ops(d.ops, "drbd.ops")
    check.ops(d.filesystem_ops, "drbd.filesystem_ops")
    count = len(cfg.nodes)
    if count >= 3 and (d.quorum is None or d.quorum.quorum == "off"):
        check.warn(
            "drbd.quorum",
            f"not set on a cluster of {count} nodes; DRBD quorum is recommended "
            "(quorum: majority, on_no_quorum: io-error)",
        )
    if count == 2 and d.quorum is not None and d.quorum.quorum != "off":
        check.warn(
            "drbd.quorum",
            "DRBD quorum on two nodes makes the survivor of a node failure lose access to "
            "its data; use three nodes (or a diskless tiebreaker) for DRBD quorum",
        )


def _check_vip(cfg: ClusterConfig, check: _Checker) -> None:
    vip = cfg.vip
    if vip.nic is not None:
        check.match(_NIC, vip.nic, "vip.nic", "a network interface name")
    check.ops(vip.ops, "vip.ops")
    address = check.ipv4(vip.address, "vip.address")
    if not 1 <= vip.netmask <= 32:
        check.error("vip.netmask", f"{vip.netmask} is not a netmask length (1..32)")
        return
    if address is None:
        return
    network = ipaddress.IPv4Network(f"{address}/{vip.netmask}", strict=False)
    if vip.netmask <= 30 and address in (network.network_address, network.broadcast_address):
        check.error("vip.address", f"{address} is the network or broadcast address of {network}")
    for index, node in enumerate(cfg.nodes):
        for key, value in (("address", node.address), ("ring1_address", node.ring1_address)):
            if value == str(address):
                check.error("vip.address", f"{address} is also nodes[{index}].{key}")
    outside = []
    for node in cfg.nodes:
        node_address = _usable_ipv4(node.address)
        if node_address is not None and node_address not in network:  # bad ones: see nodes
            outside.append(node.name)
    if outside:
        message = f"{address}/{vip.netmask} is not in the network of {', '.join(outside)}"
        if vip.nic is None:
            check.error(
                "vip.address",
                f"{message}; IPaddr2 could not pick an interface (fix the address or set vip.nic)",
            )
        else:
            check.warn("vip.address", f"{message} (it will be added to {vip.nic} anyway)")


def _check_application(cfg: ClusterConfig, check: _Checker) -> None:
    app = cfg.application
    if _DRBD_NAME.fullmatch(cfg.drbd.resource) or cfg.drbd.resource not in app.id:
        check.pacemaker_id(app.id, "application.id")
    if isinstance(app, DockerApplication):
        path = "application.docker"
        check.match(_IMAGE, app.image, f"{path}.image", "a container image reference")
        check.match(_CONTAINER, app.container_name, f"{path}.container_name", "a container name")
        for index, word in enumerate(app.run_options):
            w_path = f"{path}.run_options[{index}]"
            plain = check.match(_RUN_WORD, word, w_path, "one word without blanks, quotes or globs")
            if plain and (word == "--name" or word.startswith("--name=")):
                check.error(w_path, "set container_name instead (the agent names the container)")
        for name, value in app.env:
            e_path = f"{path}.env.{name}"
            check.match(_ENV_NAME, name, e_path, "an environment variable name")
            check.match(_RUN_WORD, value, e_path, "a value without blanks, quotes or globs")
        for index, volume in enumerate(app.volumes):
            v_path = f"{path}.volumes[{index}]"
            parts = volume.split(":")
            if (
                not _RUN_WORD.fullmatch(volume)
                or len(parts) not in (2, 3)
                or not parts[0].startswith("/")
                or not parts[1].startswith("/")
            ):
                check.error(v_path, f"{volume!r} is not HOST_PATH:CONTAINER_PATH[:OPTIONS]")
        check.params(app.params, f"{path}.params")
        for name, _ in app.params:
            if name in _DOCKER_OWN_PARAMS:
                check.error(f"{path}.params.{name}", f"set {_DOCKER_OWN_PARAMS[name]} instead")
        mount = cfg.drbd.mount_point
        hosts = [v.split(":", 1)[0] for v in app.volumes]
        if not any(h == mount or h.startswith(f"{mount}/") for h in hosts):
            check.warn(
                f"{path}.volumes",
                f"no volume is on the replicated {mount}; the application's data "
                "would not fail over with it",
            )
    else:
        path = "application.ocf"
        check.match(_OCF_AGENT, app.agent, f"{path}.agent", "an OCF agent (ocf:provider:type)")
        check.params(app.params, f"{path}.params")
    for index, port in enumerate(app.ports):
        check.port(port, f"{path}.ports[{index}]")
        if port == cfg.drbd.port:
            check.error(f"{path}.ports[{index}]", f"{port} is also drbd.port")
    check.ops(app.ops, f"{path}.ops")


def _check_stonith(cfg: ClusterConfig, check: _Checker) -> None:
    st = cfg.stonith
    names = {n.name for n in cfg.nodes}
    for index, device in enumerate(st.devices):
        path = f"stonith.devices[{index}]"
        check.pacemaker_id(device.id, f"{path}.id")
        check.match(_FENCE_AGENT, device.agent, f"{path}.agent", "a fence agent (fence_xxx)")
        check.params(device.params, f"{path}.params")
        if device.node is not None and device.node not in names:
            check.error(f"{path}.node", f"{device.node!r} is not one of the nodes")
        check.ops(device.ops, f"{path}.ops")
    if st.enabled and not st.devices:
        check.error("stonith.devices", "fencing is enabled but no fence device is configured")
    if not st.enabled and st.devices:
        check.warn("stonith.enabled", "fence devices are configured but fencing is disabled")
    if not st.enabled and cfg.two_node:
        check.warn(
            "stonith.enabled",
            "fencing is disabled on a two-node cluster: a network split can run the "
            "application on both nodes (split brain); configure fence devices",
        )


def _check_cib_options(cfg: ClusterConfig, check: _Checker) -> None:
    for key, pairs in (
        ("properties", cfg.properties),
        ("resource_defaults", cfg.resource_defaults),
        ("operation_defaults", cfg.operation_defaults),
    ):
        for name, value in pairs:
            path = f"{key}.{name}"
            if key == "properties" and name in _RESERVED_PROPERTIES:
                check.error(path, f"cannot be set here: {_RESERVED_PROPERTIES[name]}")
                continue
            if check.match(_OPTION_NAME, name, path, "a valid option name"):
                check.text(value, path)


def _check_ids(cfg: ClusterConfig, check: _Checker) -> None:
    owners: list[tuple[str, str]] = [(f"ids.{k}", v) for k, v in cfg.ids.to_dict().items()]
    # Ids derived from a bad DRBD resource name are reported once, with drbd.resource.
    resource_ok = _DRBD_NAME.fullmatch(cfg.drbd.resource) is not None
    for path, value in owners:
        if resource_ok or cfg.drbd.resource not in value:
            check.pacemaker_id(value, path)
    owners.append(("application.id", cfg.application.id))
    for index, device in enumerate(cfg.stonith.devices):
        owners.append((f"stonith.devices[{index}].id", device.id))
        if device.node is not None:
            owners.append((f"stonith.devices[{index}].node", f"l_{device.id}_avoid_{device.node}"))
    seen: dict[str, str] = {}
    for path, value in owners:
        if value in seen:
            check.error(path, f"id {value!r} is also used by {seen[value]}")
        else:
            seen[value] = path
