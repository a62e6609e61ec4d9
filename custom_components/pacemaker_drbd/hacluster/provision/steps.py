"""The steps ``apply`` runs: what each does, where, whether it is destructive, and its commands.

A step is a frozen description; :mod:`.apply` runs it. :meth:`Step.commands` lists what it will
run (``apply --dry-run`` prints it): :class:`Command` lines, or plain text for what is decided
while running (waits, the CIB patch). Every command is an argv list; writing a file runs the
fixed :data:`WRITE_FILE_SCRIPT` with the path as an argument and the content on stdin, so no
text from the description ever reaches a shell as code.

A destructive step names the :class:`Permission` that allows it (``--wipe-disk ha-0:/dev/sdb``,
``--replace-cluster ha_cluster``); ``apply`` refuses it unless the user gave exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Final

from ..commands import quote_argv
from .checks import CIB_FILE

__all__ = [
    "CIB_DIFF_SCRIPT",
    "CLEAR_CIB_SCRIPT",
    "WRITE_FILE_SCRIPT",
    "ClearCib",
    "Command",
    "CopyAuthkey",
    "CreateMetadata",
    "DrbdAdjust",
    "DrbdDown",
    "DrbdUp",
    "InitialSync",
    "LoadCib",
    "Maintenance",
    "MakeFilesystem",
    "MakeMountPoint",
    "Permission",
    "PullImage",
    "Safety",
    "SeedCib",
    "StartStack",
    "Step",
    "StopStack",
    "WaitApplication",
    "WaitCluster",
    "WaitDrbd",
    "WipeDisk",
    "WriteFile",
    "write_file_argv",
]

#: Atomic write with a backup: ``sh -c SCRIPT sh PATH MODE`` with the content on stdin. Prints
#: ``unchanged`` or ``backup BACKUP_PATH``, then ``sha256sum`` of the result.
WRITE_FILE_SCRIPT: Final = r"""set -eu
dst=$1
mode=$2
tmp=$(mktemp "$dst.hacluster-new.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat >"$tmp"
chmod "$mode" "$tmp"
if [ -e "$dst" ] && cmp -s "$tmp" "$dst"; then
  echo unchanged
else
  if [ -e "$dst" ]; then
    bak="$dst.hacluster-$(date +%Y%m%d-%H%M%S).bak"
    cp -p "$dst" "$bak"
    echo "backup $bak"
  fi
  sync -- "$tmp" 2>/dev/null || :
  mv -f "$tmp" "$dst"
fi
sha256sum "$dst"
"""

#: ``sh -c SCRIPT sh SEPARATOR`` with the old CIB, a line SEPARATOR and the new CIB on stdin:
#: prints crmsh-style ``crm_diff --no-version`` output; exit 0 = no difference, 1 = a patch.
CIB_DIFF_SCRIPT: Final = r"""set -u
d=$(mktemp -d) || exit 125
awk -v sep="$1" -v old="$d/old.xml" -v new="$d/new.xml" \
  '$0 == sep { f = 1; next } { if (f) print > new; else print > old }'
crm_diff --no-version -o "$d/old.xml" -n "$d/new.xml"
rc=$?
rm -rf "$d"
exit $rc
"""

#: ``sh -c SCRIPT sh SUFFIX``: move the stored CIB files aside into ``cib.SUFFIX`` (a backup).
CLEAR_CIB_SCRIPT: Final = r"""set -eu
dir=$(dirname "$CIB")
[ -d "$dir" ] || exit 0
bak="$dir.$1"
mkdir -p "$bak"
for f in "$dir"/cib*; do
  [ -e "$f" ] || continue
  mv -f "$f" "$bak/"
  echo "moved $f to $bak/"
done
""".replace('"$CIB"', f'"{CIB_FILE}"')


def write_file_argv(path: str, mode: str) -> tuple[str, ...]:
    """The argv that writes stdin to ``path`` atomically (see :data:`WRITE_FILE_SCRIPT`)."""
    return ("sh", "-c", WRITE_FILE_SCRIPT, "sh", path, mode)


class Safety(StrEnum):
    """Whether a step can destroy data or disrupt a running cluster."""

    SAFE = "safe"
    DESTRUCTIVE = "destructive"


@dataclass(frozen=True, kw_only=True, slots=True)
class Permission:
    """What the user must write on the command line to allow a destructive step."""

    flag: str
    value: str

    def __str__(self) -> str:
        """``--wipe-disk ha-0:/dev/sdb``."""
        return f"{self.flag} {self.value}"


def wipe_permission(node: str, disk: str) -> Permission:
    """``--wipe-disk NODE:DISK``."""
    return Permission(flag="--wipe-disk", value=f"{node}:{disk}")


def replace_permission(cluster: str) -> Permission:
    """``--replace-cluster NAME``."""
    return Permission(flag="--replace-cluster", value=cluster)


@dataclass(frozen=True, kw_only=True, slots=True)
class Command:
    """One command a step runs on one node (for ``--dry-run``)."""

    node: str
    argv: tuple[str, ...]
    stdin: str | None = None

    def display(self) -> str:
        """``ha-0$ drbdadm up home-assistant`` (scripts shown by name, stdin by label)."""
        argv = self.argv
        if argv[:2] == ("sh", "-c") and len(argv) > 3:
            name = {
                WRITE_FILE_SCRIPT: "<write-file script>",
                CIB_DIFF_SCRIPT: "<cib-diff script>",
                CLEAR_CIB_SCRIPT: "<clear-cib script>",
            }.get(argv[2], "<script>")
            text = f"sh -c {name} {quote_argv(argv[4:])}"
        else:
            text = quote_argv(argv)
        return f"{self.node}$ {text}" + (f" < {self.stdin}" if self.stdin else "")


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """One step of the plan."""

    kind: ClassVar[str] = "step"
    title: str
    nodes: tuple[str, ...]
    reason: str = ""
    safety: Safety = Safety.SAFE
    permission: Permission | None = None

    def commands(self) -> tuple[Command | str, ...]:
        """What the step runs (text lines for what is decided while running)."""
        return ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return {
            "kind": self.kind,
            "title": self.title,
            "nodes": list(self.nodes),
            "reason": self.reason,
            "safety": self.safety.value,
            "permission": None if self.permission is None else str(self.permission),
            "commands": [c if isinstance(c, str) else c.display() for c in self.commands()],
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class StopStack(Step):
    """Stop Pacemaker and Corosync (to replace their configuration)."""

    kind: ClassVar[str] = "stop_stack"

    def commands(self) -> tuple[Command | str, ...]:
        """``systemctl stop pacemaker corosync`` on each node."""
        return tuple(Command(node=n, argv=STOP_ARGV) for n in self.nodes)


STOP_ARGV: Final = ("systemctl", "stop", "pacemaker", "corosync")
START_ARGV: Final = ("systemctl", "start", "corosync", "pacemaker")


@dataclass(frozen=True, kw_only=True, slots=True)
class ClearCib(Step):
    """Move the stored CIB of another cluster aside (into a backup directory)."""

    kind: ClassVar[str] = "clear_cib"
    suffix: str

    def commands(self) -> tuple[Command | str, ...]:
        """The clear-cib script on each node."""
        return tuple(
            Command(node=n, argv=("sh", "-c", CLEAR_CIB_SCRIPT, "sh", self.suffix))
            for n in self.nodes
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class CopyAuthkey(Step):
    """Give every node the same corosync authkey: ``source``'s, or a new random one."""

    kind: ClassVar[str] = "authkey"
    path: str
    source: str | None

    def commands(self) -> tuple[Command | str, ...]:
        """Read the key on the source (never shown), write it on the others."""
        key = (
            f"the authkey of {self.source}"
            if self.source
            else "a new 256-byte random key (made here)"
        )
        out: list[Command | str] = []
        if self.source:
            out.append(Command(node=self.source, argv=("cat", self.path)))
        out += [
            Command(node=n, argv=write_file_argv(self.path, "0400"), stdin=key)
            for n in self.nodes
            if n != self.source
        ]
        return tuple(out)


@dataclass(frozen=True, kw_only=True, slots=True, repr=False)
class WriteFile(Step):
    """Write one rendered file (identical on every node), atomically, with a backup."""

    kind: ClassVar[str] = "write_file"
    path: str
    content: bytes
    mode: str = "0644"

    def commands(self) -> tuple[Command | str, ...]:
        """The write-file script on each node."""
        label = f"{self.path.rsplit('/', 1)[-1]} ({len(self.content)} bytes)"
        return tuple(
            Command(node=n, argv=write_file_argv(self.path, self.mode), stdin=label)
            for n in self.nodes
        )

    def __repr__(self) -> str:
        """Name the file, not its content."""
        return f"WriteFile({self.path!r}, nodes={self.nodes!r}, {len(self.content)} bytes)"


@dataclass(frozen=True, kw_only=True, slots=True)
class DrbdAdjust(Step):
    """Apply a changed resource file to a running DRBD resource."""

    kind: ClassVar[str] = "drbd_adjust"
    resource: str

    def commands(self) -> tuple[Command | str, ...]:
        """``drbdadm adjust RES`` on each node."""
        return tuple(Command(node=n, argv=("drbdadm", "adjust", self.resource)) for n in self.nodes)


@dataclass(frozen=True, kw_only=True, slots=True)
class WipeDisk(Step):
    """Erase every signature (file system, partition table, DRBD meta data) on a disk."""

    kind: ClassVar[str] = "wipe_disk"
    disk: str

    def commands(self) -> tuple[Command | str, ...]:
        """``wipefs --all DISK``."""
        return tuple(Command(node=n, argv=("wipefs", "--all", self.disk)) for n in self.nodes)


@dataclass(frozen=True, kw_only=True, slots=True)
class CreateMetadata(Step):
    """``drbdadm create-md``: without ``--force`` it never overwrites meta data."""

    kind: ClassVar[str] = "create_md"
    resource: str
    force: bool = False

    def argv(self) -> tuple[str, ...]:
        """The command."""
        force = ("--force",) if self.force else ()
        return ("drbdadm", "create-md", *force, self.resource)

    def commands(self) -> tuple[Command | str, ...]:
        """The command on each node."""
        return tuple(Command(node=n, argv=self.argv()) for n in self.nodes)


@dataclass(frozen=True, kw_only=True, slots=True)
class DrbdUp(Step):
    """Bring the resource up on every node (before Pacemaker manages it)."""

    kind: ClassVar[str] = "drbd_up"
    resource: str

    def commands(self) -> tuple[Command | str, ...]:
        """``drbdadm up RES`` on each node."""
        return tuple(Command(node=n, argv=("drbdadm", "up", self.resource)) for n in self.nodes)


@dataclass(frozen=True, kw_only=True, slots=True)
class WaitDrbd(Step):
    """Wait until every node's resource is Connected to every peer."""

    kind: ClassVar[str] = "wait_drbd"
    resource: str
    timeout: float = 60.0

    def commands(self) -> tuple[Command | str, ...]:
        """A polling description."""
        return (
            f"poll `drbdsetup status {self.resource} --json` on {', '.join(self.nodes)} until "
            f"every connection is Connected (at most {self.timeout:g} s)",
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class InitialSync(Step):
    """On a fresh resource (Inconsistent everywhere): skip the initial sync on one node."""

    kind: ClassVar[str] = "initial_sync"
    resource: str
    peers: tuple[str, ...]
    timeout: float = 120.0

    def commands(self) -> tuple[Command | str, ...]:
        """``new-current-uuid --clear-bitmap`` on the one node, then a wait."""
        return (
            "only when every node's disk is Inconsistent (fresh meta data):",
            Command(
                node=self.nodes[0],
                argv=("drbdadm", "new-current-uuid", "--clear-bitmap", self.resource),
            ),
            f"poll until every disk is UpToDate (at most {self.timeout:g} s)",
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class MakeFilesystem(Step):
    """Make the file system on the fresh device (on one node, as Primary)."""

    kind: ClassVar[str] = "mkfs"
    resource: str
    device: str
    filesystem: str

    def commands(self) -> tuple[Command | str, ...]:
        """primary, a blkid guard, mkfs, secondary."""
        node = self.nodes[0]
        return (
            "only when the initial sync was skipped above (a fresh resource):",
            Command(node=node, argv=("drbdadm", "primary", self.resource)),
            Command(node=node, argv=("blkid", "-p", "-o", "export", self.device)),
            "  (refuses when blkid finds a file system)",
            Command(node=node, argv=(f"mkfs.{self.filesystem}", self.device)),
            Command(node=node, argv=("drbdadm", "secondary", self.resource)),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class DrbdDown(Step):
    """Take the resource down again: Pacemaker's agent brings it up."""

    kind: ClassVar[str] = "drbd_down"
    resource: str

    def commands(self) -> tuple[Command | str, ...]:
        """``drbdadm down RES`` on each node."""
        return tuple(Command(node=n, argv=("drbdadm", "down", self.resource)) for n in self.nodes)


@dataclass(frozen=True, kw_only=True, slots=True)
class MakeMountPoint(Step):
    """Create the mount point directory."""

    kind: ClassVar[str] = "mount_point"
    path: str

    def commands(self) -> tuple[Command | str, ...]:
        """``mkdir -p PATH`` on each node."""
        return tuple(Command(node=n, argv=("mkdir", "-p", self.path)) for n in self.nodes)


@dataclass(frozen=True, kw_only=True, slots=True)
class PullImage(Step):
    """Pull the application's container image (the first start would otherwise time out)."""

    kind: ClassVar[str] = "pull_image"
    image: str

    def commands(self) -> tuple[Command | str, ...]:
        """``docker pull IMAGE`` on each node."""
        return tuple(Command(node=n, argv=("docker", "pull", self.image)) for n in self.nodes)


@dataclass(frozen=True, kw_only=True, slots=True, repr=False)
class SeedCib(Step):
    """A new cluster's first CIB: our cluster properties only (``dc-deadtime`` then applies to
    the very first DC election); the resources are loaded later, in maintenance mode."""

    kind: ClassVar[str] = "seed_cib"
    path: str
    content: bytes

    def commands(self) -> tuple[Command | str, ...]:
        """Write the file (mode 0600) and hand it to Pacemaker's user on each node."""
        label = f"a CIB with the cluster properties ({len(self.content)} bytes)"
        out: list[Command | str] = []
        for node in self.nodes:
            out.append(Command(node=node, argv=write_file_argv(self.path, "0600"), stdin=label))
            out.append(Command(node=node, argv=("chown", CIB_OWNER, self.path)))
        return tuple(out)

    def __repr__(self) -> str:
        """Name the file, not its content."""
        return f"SeedCib({self.path!r}, nodes={self.nodes!r})"


CIB_OWNER: Final = "hacluster:haclient"


@dataclass(frozen=True, kw_only=True, slots=True)
class StartStack(Step):
    """Start Corosync and Pacemaker."""

    kind: ClassVar[str] = "start_stack"

    def commands(self) -> tuple[Command | str, ...]:
        """``systemctl start corosync pacemaker`` on each node (at once)."""
        return tuple(Command(node=n, argv=START_ARGV) for n in self.nodes)


@dataclass(frozen=True, kw_only=True, slots=True)
class WaitCluster(Step):
    """Wait until every node is online in Pacemaker and a DC is elected."""

    kind: ClassVar[str] = "wait_cluster"
    timeout: float = 180.0

    def commands(self) -> tuple[Command | str, ...]:
        """A polling description."""
        return (
            f"poll `crm_mon --output-as=xml` until {', '.join(self.nodes)} are online and a DC "
            f"is elected (at most {self.timeout:g} s)",
        )


MAINTENANCE_ON_ARGV: Final = (
    "crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", "--update", "true",
)  # fmt: skip
MAINTENANCE_OFF_ARGV: Final = (
    "crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", "--delete",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True, slots=True)
class Maintenance(Step):
    """Switch the cluster's maintenance mode (on around loading the CIB)."""

    kind: ClassVar[str] = "maintenance"
    on: bool

    def commands(self) -> tuple[Command | str, ...]:
        """``crm_attribute`` on one running node."""
        argv = MAINTENANCE_ON_ARGV if self.on else MAINTENANCE_OFF_ARGV
        return (Command(node="<a running node>", argv=argv),)


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadCib(Step):
    """Patch the live CIB: our sections in, Pacemaker's properties and node attributes kept."""

    kind: ClassVar[str] = "load_cib"
    preview: tuple[str, ...] = ()

    def commands(self) -> tuple[Command | str, ...]:
        """Query, diff against the merged target, patch, verify."""
        node = "<a running node>"
        return (
            Command(node=node, argv=("cibadmin", "--query")),
            "merge: our resources, constraints, properties and defaults into the live CIB",
            Command(
                node=node,
                argv=("sh", "-c", CIB_DIFF_SCRIPT, "sh", "<separator>"),
                stdin="live CIB, separator, merged CIB",
            ),
            Command(node=node, argv=("cibadmin", "--patch", "--xml-pipe"), stdin="the patch"),
            "verify with `cibadmin --query` (a patch that cannot express a reordering falls back "
            "to `cibadmin --replace --scope configuration` of the merged CIB)",
            *(f"  {line}" for line in self.preview),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class WaitApplication(Step):
    """Wait until the application runs and DRBD is Connected and UpToDate everywhere."""

    kind: ClassVar[str] = "wait_application"
    resource_id: str
    timeout: float = 300.0

    def settle_argv(self) -> tuple[str, ...]:
        """Wait until the cluster has no pending actions (the scheduler's view)."""
        return ("crm_resource", "--wait", f"--timeout={self.timeout:g}s")

    def commands(self) -> tuple[Command | str, ...]:
        """Settle, then poll."""
        return (
            Command(node="<a running node>", argv=self.settle_argv()),
            f"poll `crm_mon --output-as=xml` and `drbdsetup status --json` until "
            f"{self.resource_id} runs, DRBD is Promoted with it and UpToDate on "
            f"{', '.join(self.nodes)} (at most {self.timeout:g} s)",
        )
