"""A stateful fake of a cluster's nodes for the provisioning tests (no SSH, no lab).

Each :class:`FakeNode` answers the exact argv that ``hacluster.provision`` sends (``run`` and
``run_batch``, like :class:`hacluster.transport.NodeSession`) from a small model of a Debian node:
files, packages, the backing disk, DRBD, corosync/pacemaker and a shared CIB. Every call is
recorded in ``calls`` (argv tuples) so tests can assert the exact commands and their order.
Commands it does not know fail with exit status 127, so a typo in the code cannot pass.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
import hashlib
import json
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, SubElement, tostring

from hacluster.commands import BatchCommand, BatchResult, CommandResult
from hacluster.errors import HAClusterError
from hacluster.parsers.xmlsafe import parse_xml
from hacluster.provision.steps import CIB_DIFF_SCRIPT, CLEAR_CIB_SCRIPT, WRITE_FILE_SCRIPT

if TYPE_CHECKING:
    from collections.abc import Sequence

KERNEL = "6.1.0-18-amd64"
PACKAGES = {
    "corosync": "3.1.7-1+deb12u2",
    "pacemaker": "2.1.5-1+deb12u1",
    "resource-agents": "1:4.12.0-2",
    "drbd-utils": "9.22.0-1",
}
DRBD_CONF = b'include "drbd.d/global_common.conf";\ninclude "drbd.d/*.res";\n'
EMPTY_CIB = (
    '<cib crm_feature_set="3.16.2" validate-with="pacemaker-3.9" epoch="1" num_updates="0" '
    'admin_epoch="0"><configuration><crm_config/><nodes/><resources/><constraints/>'
    "</configuration><status/></cib>"
)


def result(
    argv: Sequence[str], status: int = 0, out: bytes | str = b"", err: bytes | str = b""
) -> CommandResult:
    """A CommandResult."""
    return CommandResult(
        argv=tuple(argv),
        exit_status=status,
        stdout=out.encode() if isinstance(out, str) else out,
        stderr=err.encode() if isinstance(err, str) else err,
    )


@dataclass
class FakeNode:
    """One node; ``cluster`` holds what the nodes share."""

    name: str
    cluster: FakeCluster
    address: str = ""
    kernel: str = KERNEL
    packages: dict[str, str] = field(default_factory=lambda: dict(PACKAGES))
    proc_drbd: str | None = None
    modinfo: str | None = "9.2.12"
    files: dict[str, bytes] = field(default_factory=lambda: {"/etc/drbd.conf": DRBD_CONF})
    disk: str = "/dev/sdb"
    disk_exists: bool = True
    signatures: list[str] = field(default_factory=list)
    mounted: list[str] = field(default_factory=list)
    metadata: bool = False
    dump_md: str = "unsupported"  # unsupported | real
    md_node: int | None = None  # the meta data's node id (None: this node's, -1: never attached)
    md_uuid: int = 0x6E1F2C1A9B3D4F50  # its current UUID (4: just created)
    md_consistent: bool = True
    drbd_up: bool = False
    disk_state: str = "Inconsistent"
    role: str = "Secondary"
    corosync: bool = False
    pacemaker: bool = False
    stored_cib: str | None = None
    mount_point: bool = True
    image: bool = True
    ufw: str | None = None
    uid: str = "0"
    hostname: str | None = None
    skew: float = 0.0
    unreachable: HAClusterError | None = None
    fail: dict[tuple[str, ...], CommandResult] = field(default_factory=dict)
    raises: dict[tuple[str, ...], HAClusterError] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    stdins: dict[int, bytes] = field(default_factory=dict)

    def dump_md_text(self, argv: tuple[str, ...]) -> str:
        """``drbdmeta ... dump-md`` in drbd-utils 9.22's layout (the fields the plan reads)."""
        node = self.cluster.node_ids[self.name] if self.md_node is None else self.md_node
        flags = 0x80 | (0x11 if self.md_consistent else 0)
        peer = "".join(
            f"peer[{i}] {{\n    bitmap-index {0 if i != node and node >= 0 else -1};\n"
            f"    bitmap-uuid 0x0000000000000000;\n    bitmap-dagtag 0x0000000000000000;\n"
            f"    flags 0x{0x10010 if i != node and node >= 0 else 0:08X};\n}}\n"
            for i in range(2)
        )
        return (
            "# DRBD meta data dump\n# 2026-12-07 06:10:16 +0000 [1796623816]\n"
            f"# {self.name}> {' '.join(argv)}\n#\n\n"
            'version "v09";\n\nmax-peers 1;\n# md_size_sect 88\n# md_offset 268431360\n'
            f"# al_offset 268398592\n# bm_offset 268390400\n\nnode-id {node};\n"
            f"current-uuid 0x{self.md_uuid:016X};\nflags 0x{flags:08X};\n{peer}"
            f"la-size-sect {0 if node < 0 else 524200};\n"
        )

    # -- the session interface ---------------------------------------------------------------

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Answer one command."""
        if self.unreachable is not None:
            raise self.unreachable
        args = tuple(argv)
        self.calls.append(args)
        if stdin is not None:
            self.stdins[len(self.calls) - 1] = stdin
        for prefix, error in self.raises.items():
            if args[: len(prefix)] == prefix:
                raise error
        for prefix, canned in self.fail.items():
            if args[: len(prefix)] == prefix:
                return canned
        return self.answer(args, stdin)

    async def run_batch(
        self, commands: Sequence[BatchCommand], *, timeout: float | None = None
    ) -> BatchResult:
        """Answer a batch, command by command."""
        if self.unreachable is not None:
            raise self.unreachable
        results = {}
        for command in commands:
            results[command.name] = await self.run(command.argv, stdin=command.stdin)
        return BatchResult(node=self.name, results=results, duration=0.01, bytes_read=1)

    async def close(self) -> None:
        """Like NodeSession.close (records that it was called)."""
        self.closed = True

    closed: bool = False

    # -- the model ---------------------------------------------------------------------------

    @property
    def res_path(self) -> str:
        return f"/etc/drbd.d/{self.cluster.resource}.res"

    def drbd_json(self) -> str:
        peers = [n for n in self.cluster.nodes.values() if n is not self]
        connections = []
        for peer in peers:
            connected = peer.drbd_up and not self.cluster.isolated
            connections.append(
                {
                    "peer-node-id": list(self.cluster.nodes).index(peer.name),
                    "name": peer.name,
                    "connection-state": "Connected" if connected else "Connecting",
                    "congested": False,
                    "peer-role": peer.role if connected else "Unknown",
                    "peer_devices": [
                        {
                            "volume": 0,
                            "replication-state": "Established" if connected else "Off",
                            "peer-disk-state": peer.disk_state if connected else "DUnknown",
                            "peer-client": False,
                            "resync-suspended": "no",
                        }
                    ],
                }
            )
        doc = [
            {
                "name": self.cluster.resource,
                "node-id": list(self.cluster.nodes).index(self.name),
                "role": self.role,
                "suspended": False,
                "devices": [
                    {"volume": 0, "minor": 0, "disk-state": self.disk_state, "client": False}
                ],
                "connections": connections,
            }
        ]
        return json.dumps(doc)

    def answer(self, args: tuple[str, ...], stdin: bytes | None) -> CommandResult:
        c = self.cluster
        match args:
            case ("id", "-un"):
                return result(args, out="root\n")
            case ("id", "-u"):
                return result(args, out=f"{self.uid}\n")
            case ("uname", "-n"):
                return result(args, out=f"{self.hostname or self.name}\n")
            case ("uname", "-r"):
                return result(args, out=f"{self.kernel}\n")
            case ("dpkg-query", "-W", "-f", _, *names):
                lines = [
                    f"{n}\tinstalled\t{self.packages[n]}\n" for n in names if n in self.packages
                ]
                return result(args, 0 if len(lines) == len(names) else 1, "".join(lines))
            case ("cat", "/proc/drbd"):
                if self.proc_drbd is None:
                    return result(args, 1, err="cat: /proc/drbd: No such file or directory")
                return result(args, out=self.proc_drbd)
            case ("modinfo", "-F", "version", "drbd"):
                if self.modinfo is None:
                    return result(args, 1, err="modinfo: ERROR: Module drbd not found.")
                return result(args, out=f"{self.modinfo}\n")
            case ("drbdadm", "--version"):
                return result(
                    args, out="DRBD_KERNEL_VERSION_CODE=0x000000\nDRBD_KERNEL_VERSION=0\n"
                )
            case ("getent", "hosts", *names):
                lines = [f"{c.nodes[n].address}  {n}\n" for n in names if n in c.nodes]
                return result(args, 0, "".join(lines))
            case ("stat", "-L", "-c", "%F", disk):
                if not self.disk_exists or disk != self.disk:
                    return result(args, 1, err=f"stat: cannot statx '{disk}': No such file")
                return result(args, out="block special file\n")
            case ("blockdev", "--getsize64", _):
                return result(args, out="1073741824\n")
            case ("lsblk", "-rno", "MOUNTPOINT", _):
                return result(args, out="".join(f"{m}\n" for m in self.mounted))
            case ("findmnt", "-rn", "-o", "TARGET", "-S", _):
                return result(
                    args, 0 if self.mounted else 1, "".join(f"{m}\n" for m in self.mounted)
                )
            case ("blkid", "-p", "-o", "export", path):
                if path == c.device:
                    fs = c.device_fs
                    return result(args, 0, f"TYPE={fs}\n") if fs else result(args, 2)
                sigs = [s for s in self.signatures if s != "drbd"] + (
                    ["drbd"] if self.metadata and c.blkid_sees_drbd else []
                )
                if not sigs:
                    return result(args, 2)
                return result(args, 0, "".join(f"TYPE={s}\n" for s in sigs))
            case ("wipefs", "--no-act", "--json", _):
                found = [{"type": s, "offset": "0x438"} for s in self.signatures]
                return result(args, 0, json.dumps({"signatures": found}))
            case ("drbdmeta", _, "v09", _, "internal", "dump-md"):
                if self.dump_md == "unsupported":
                    return result(args, 20, err="USAGE: drbdmeta DEVICE FORMAT ...")
                if self.metadata:
                    return result(args, 0, self.dump_md_text(args))
                return result(args, 1, err="No valid meta data found\n")
            case ("drbdsetup", "status", _, "--json"):
                if not self.drbd_up:
                    return result(args, 10, err=f"{c.resource}: No such resource")
                return result(args, out=self.drbd_json())
            case ("ufw", "status"):
                if self.ufw is None:
                    return result(args, 127, err="ufw: command not found")
                return result(args, out=self.ufw)
            case ("cat", path):
                if path not in self.files:
                    return result(args, 1, err=f"cat: {path}: No such file or directory")
                return result(args, out=self.files[path])
            case ("sha256sum", path):
                if path not in self.files:
                    return result(args, 1, err=f"sha256sum: {path}: No such file or directory")
                return result(args, out=f"{hashlib.sha256(self.files[path]).hexdigest()}  {path}\n")
            case ("pidof", "corosync"):
                return result(args, 0 if self.corosync else 1, "101\n" if self.corosync else "")
            case ("pidof", "pacemakerd"):
                return result(args, 0 if self.pacemaker else 1, "102\n" if self.pacemaker else "")
            case ("cibadmin", "--query"):
                if not self.pacemaker:
                    return result(args, 102, err="Could not connect to the CIB: Transport endpoint")
                return result(args, out=tostring(c.live_cib(), encoding="unicode"))
            case ("crm_mon", "--output-as=xml"):
                if not self.pacemaker:
                    return result(args, 102)
                return result(args, out=c.crm_mon_xml())
            case ("test", "-d", _):
                return result(args, 0 if self.mount_point else 1)
            case ("test", "-x", path):
                return result(args, 1 if path in c.missing_agents else 0)
            case ("docker", "image", "inspect", "--format", _, _):
                return result(args, 0 if self.image else 1, "sha256:abc\n" if self.image else "")
            case ("docker", "pull", _):
                self.image = True
                return result(args)
            case ("date", "+%s.%N"):
                return result(args, out=f"{c.clock + self.skew:.6f}\n")
            case ("sh", "-c", script, "sh", *rest):
                return self.script(args, script, rest, stdin or b"")
            case ("systemctl", "start", "corosync", "pacemaker"):
                self.corosync = self.pacemaker = True
                c.stack_started(self)
                return result(args)
            case ("systemctl", "stop", "pacemaker", "corosync"):
                self.corosync = self.pacemaker = False
                return result(args)
            case ("drbdadm", "create-md", *opts, _):
                force = "--force" in opts
                if self.metadata and not force:
                    return result(
                        args,
                        1,
                        "Operation cancelled.\n",
                        "There appears to be a v09 flexible-size internal meta data block\n"
                        "already in place on /dev/sdb at byte offset 1\n",
                    )
                if self.signatures and not force:
                    return result(args, 40, "Found ext3 filesystem\nOperation refused.\n")
                self.metadata = True
                self.md_node, self.md_uuid, self.md_consistent = -1, 4, False
                self.disk_state = "Inconsistent"
                return result(args, 0, "New drbd meta data block successfully created.\n")
            case ("drbdadm", "up", _):
                if not self.metadata:
                    return result(args, 10, err="No valid meta data found")
                self.drbd_up = True
                if self.md_node == -1:  # the first attach writes the node id
                    self.md_node = c.node_ids[self.name]
                return result(args)
            case ("drbdadm", "down", _):
                self.drbd_up = False
                self.role = "Secondary"
                return result(args)
            case ("drbdadm", "adjust", _):
                return result(args)
            case ("drbdadm", "new-current-uuid", "--clear-bitmap", _):
                for node in c.nodes.values():
                    if node.drbd_up:
                        node.disk_state = "UpToDate"
                        node.md_uuid, node.md_consistent = 0x2B5E0F6C3A1D9E84, True
                return result(args)
            case ("drbdadm", "primary", _):
                self.role = "Primary"
                return result(args)
            case ("drbdadm", "secondary", _):
                self.role = "Secondary"
                return result(args)
            case ("mkfs.ext4", _):
                c.device_fs = "ext4"
                return result(args, out="Creating filesystem with 262100 1k blocks\n")
            case ("wipefs", "--all", disk):
                erased = [
                    f"{disk}: 2 bytes were erased at offset 0x438 ({s})\n" for s in self.signatures
                ]
                self.signatures = []
                self.metadata = False
                return result(args, out="".join(erased))
            case ("crm_resource", "--wait", _):
                if c.never_settles:
                    return result(args, 124, err="Timed out waiting for the cluster to settle")
                return result(args)
            case ("chown", "hacluster:haclient", _):
                return result(args)
            case ("mkdir", "-p", _):
                self.mount_point = True
                return result(args)
            case ("crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", *rest):
                c.maintenance = rest == ["--update", "true"]
                c.set_property("maintenance-mode", "true" if c.maintenance else None)
                return result(args)
            case ("cibadmin", "--patch", "--xml-pipe"):
                c.patches.append((stdin or b"").decode())
                if c.pending is not None and not c.patch_is_noop:
                    c.set_configuration(c.pending)
                c.pending = None
                return result(args)
            case ("cibadmin", "--replace", "--scope", "configuration", "--xml-pipe"):
                c.replaced.append((stdin or b"").decode())
                c.set_configuration(parse_xml(stdin or b"", command="cibadmin"))
                return result(args)
        return result(args, 127, err=f"{args[0]}: command not found (fake)")

    def script(
        self, args: tuple[str, ...], script: str, rest: list[str], stdin: bytes
    ) -> CommandResult:
        c = self.cluster
        if script == WRITE_FILE_SCRIPT:
            path, _mode = rest
            out = []
            if path in self.files and self.files[path] == stdin:
                out.append("unchanged")
            elif path in self.files:
                backup = f"{path}.hacluster-20250101-000000.bak"
                self.files[backup] = self.files[path]
                out.append(f"backup {backup}")
            self.files[path] = stdin
            if c.corrupt_writes:
                self.files[path] = stdin + b"x"
            digest = hashlib.sha256(self.files[path]).hexdigest()
            out.append(f"{digest}  {path}")
            return result(args, out="\n".join(out) + "\n")
        if script == CLEAR_CIB_SCRIPT:
            had = self.stored_cib is not None
            self.stored_cib = None
            c.cib = None
            return result(args, out="moved /var/lib/pacemaker/cib/cib.xml to x/\n" if had else "")
        if script == CIB_DIFF_SCRIPT:
            (separator,) = rest
            old, _, new = stdin.decode().partition(f"\n{separator}\n")
            old_doc = parse_xml(old, command="crm_diff")
            new_doc = parse_xml(new, command="crm_diff")
            same = tostring(old_doc) == tostring(new_doc)
            if same:
                return result(args, 0)
            c.pending = new_doc
            patch = (
                '<diff crm_feature_set="3.16.2" format="1" digest="0123abcd">\n'
                "  <diff-added><cib><configuration><crm_config>"
                '<cluster_property_set id="cib-bootstrap-options">'
                '<nvpair id="x" name="y" value="z" __crm_diff_marker__="added:top"/>'
                "</cluster_property_set></crm_config></configuration></cib></diff-added>\n"
                "</diff>\n"
            )
            return result(args, 1, patch)
        return result(args, 127, err="unknown script (fake)")


@dataclass
class FakeCluster:
    """The nodes and what they share (the CIB, the DRBD device's file system, the clock)."""

    resource: str = "home-assistant"
    device: str = "/dev/drbd0"
    app_id: str = "p_docker_home-assistant"
    clone_id: str = "ms_drbd_home-assistant"
    nodes: dict[str, FakeNode] = field(default_factory=dict)
    node_ids: dict[str, int] = field(default_factory=dict)
    cib: Element | None = None
    maintenance: bool = False
    device_fs: str | None = None
    clock: float = 1_700_000_000.0
    pending: Element | None = None
    patches: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    patch_is_noop: bool = False
    corrupt_writes: bool = False
    blkid_sees_drbd: bool = True
    isolated: bool = False
    missing_agents: set[str] = field(default_factory=set)
    app_fails: bool = False
    never_settles: bool = False

    def add(self, name: str, address: str, drbd_node_id: int, **kw: object) -> FakeNode:
        node = FakeNode(name=name, cluster=self, address=address, **kw)  # type: ignore[arg-type]
        self.nodes[name] = node
        self.node_ids[name] = drbd_node_id
        return node

    def __getitem__(self, name: str) -> FakeNode:
        return self.nodes[name]

    # -- Pacemaker ----------------------------------------------------------------------------

    def stack_started(self, node: FakeNode) -> None:
        if self.cib is None:
            stored = next(
                (
                    n.stored_cib or n.files.get("/var/lib/pacemaker/cib/cib.xml", b"").decode()
                    for n in self.nodes.values()
                    if n.stored_cib or "/var/lib/pacemaker/cib/cib.xml" in n.files
                ),
                None,
            )
            self.cib = parse_xml(stored or EMPTY_CIB, command="cibadmin")
        self.set_property("dc-version", "2.1.5-a3f44794f94")
        self.set_property("cluster-infrastructure", "corosync")

    def live_cib(self) -> Element:
        assert self.cib is not None
        return self.cib

    def crm_config_set(self) -> Element:
        assert self.cib is not None
        conf = self.cib.find("configuration")
        assert conf is not None
        crm = conf.find("crm_config")
        if crm is None:
            crm = SubElement(conf, "crm_config")
        found = crm.find("cluster_property_set[@id='cib-bootstrap-options']")
        if found is None:
            found = SubElement(crm, "cluster_property_set", {"id": "cib-bootstrap-options"})
        return found

    def set_property(self, name: str, value: str | None) -> None:
        if self.cib is None:
            return
        props = self.crm_config_set()
        for nv in props.findall("nvpair"):
            if nv.get("name") == name:
                if value is None:
                    props.remove(nv)
                else:
                    nv.set("value", value)
                return
        if value is not None:
            SubElement(
                props,
                "nvpair",
                {"id": f"cib-bootstrap-options-{name}", "name": name, "value": value},
            )

    def set_configuration(self, doc: Element) -> None:
        conf = doc if doc.tag == "configuration" else doc.find("configuration")
        assert conf is not None
        assert self.cib is not None
        old = self.cib.find("configuration")
        assert old is not None
        index = list(self.cib).index(old)
        self.cib.remove(old)
        self.cib.insert(index, copy.deepcopy(conf))

    def configured(self) -> bool:
        return self.cib is not None and any(
            e.get("id") == self.app_id for e in self.cib.iter("primitive")
        )

    def crm_mon_xml(self) -> str:
        running = [n for n in self.nodes.values() if n.pacemaker]
        dc = running[0].name
        nodes = "".join(
            f'<node name="{n.name}" id="{i + 1}" online="{str(n.pacemaker).lower()}" '
            f'standby="false" maintenance="false" pending="false" unclean="false" '
            f'shutdown="false" expected_up="true" is_dc="{str(n.name == dc).lower()}" '
            f'resources_running="0" type="member"/>'
            for i, n in enumerate(self.nodes.values())
        )
        resources = ""
        if self.configured() and not self.maintenance:
            # what Pacemaker does: DRBD up everywhere, promoted on the first node, group there
            first = running[0]
            for n in running:
                n.drbd_up = True
                if n.disk_state == "Inconsistent" and self.device_fs:
                    n.disk_state = "UpToDate"
                n.role = "Primary" if n is first else "Secondary"
            clone = "".join(
                f'<resource id="p_drbd_{self.resource}" resource_agent="ocf:linbit:drbd" '
                f'role="{"Promoted" if n is first else "Unpromoted"}" active="true" '
                f'orphaned="false" blocked="false" managed="true" failed="false" '
                f'failure_ignored="false" nodes_running_on="1"><node name="{n.name}" id="1" '
                f'cached="true"/></resource>'
                for n in running
            )
            failed = str(self.app_fails).lower()
            resources = (
                f'<clone id="{self.clone_id}" multi_state="true" unique="false" managed="true" '
                f'disabled="false" failed="false" failure_ignored="false">{clone}</clone>'
                f'<group id="g_{self.resource}" number_resources="1" managed="true" '
                f'disabled="false"><resource id="{self.app_id}" resource_agent="ocf:x:y" '
                f'role="Started" active="true" orphaned="false" blocked="false" managed="true" '
                f'failed="{failed}" failure_ignored="false" nodes_running_on="1">'
                f'<node name="{first.name}" id="1" cached="true"/></resource></group>'
            )
        return (
            '<pacemaker-result api-version="2.25" request="crm_mon --output-as=xml">'
            '<summary><stack type="corosync"/>'
            f'<current_dc present="true" version="2.1.5" name="{dc}" id="1" with_quorum="true"/>'
            '<cluster_options stonith-enabled="false" symmetric-cluster="true" '
            f'no-quorum-policy="stop" maintenance-mode="{str(self.maintenance).lower()}" '
            'stop-all-resources="false"/></summary>'
            f"<nodes>{nodes}</nodes><resources>{resources}</resources>"
            '<status code="0" message="OK"/></pacemaker-result>'
        )


def two_nodes(**kw: object) -> FakeCluster:
    """ha-0 and ha-1 as the reference setup has them (bare: packages, no cluster)."""
    cluster = FakeCluster()
    cluster.add("ha-0", "192.168.222.30", 0, **kw)
    cluster.add("ha-1", "192.168.222.31", 1, **kw)
    return cluster
