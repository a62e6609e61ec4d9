"""The ``hacluster`` command: the core without Home Assistant.

    hacluster status --host HOST [--host HOST ...] --user USER (--key FILE | --password-file FILE)
                     --known-hosts FILE [--port N] [--sudo] [--json]
    hacluster parse crm-mon FILE [--cib FILE]
    hacluster parse drbd-status FILE [--events2 FILE] [--kernel-log FILE]
    hacluster parse corosync-quorum FILE
    hacluster parse corosync-links FILE
    hacluster provision render|plan|apply|status ...   (see hacluster provision --help)

``parse`` reads captured outputs (so a user can attach them to a bug report and anyone can replay
what the integration would show) and prints JSON. Every library error becomes a one-line message
on stderr and the error class's own exit code (see :mod:`hacluster.errors`).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
import json
from pathlib import Path
import sys
from typing import Any

from .client import ClusterClient, ClusterSnapshot
from .errors import HAClusterError
from .parsers.corosync import parse_cfgtool, parse_quorumtool
from .parsers.crm_mon import parse_crm_mon
from .parsers.drbd import parse_drbd_status, parse_events2, parse_kernel_log
from .provision.cli import add_provision_parser, run_provision
from .split_brain import analyze_split_brain
from .transport import Credentials, NodeEndpoint

EXIT_USAGE = 2


class CliError(HAClusterError):
    """A problem with the command line or the files it names."""

    exit_code = EXIT_USAGE


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise CliError(f"cannot read {path}: {err.strerror}") from err


def _emit(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def known_host_key(known_hosts: bytes, host: str, port: int = 22) -> str:
    """Find ``host``'s key in an OpenSSH known_hosts file (plain, comma-listed names).

    Hashed entries (``|1|...``) and wildcards are not supported: pin keys explicitly.
    """
    wanted = {host, f"[{host}]:{port}"} if port != 22 else {host}
    for raw in known_hosts.decode(errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "|", "@")):
            continue
        fields = line.split()
        if len(fields) < 3:
            continue
        if wanted & set(fields[0].split(",")):
            return f"{fields[1]} {fields[2]}"
    raise CliError(f"no host key for {host} in the known_hosts file (pin it first)")


def _parse_hosts(values: Sequence[str]) -> list[tuple[str, str]]:
    """``NAME=ADDRESS`` or ``ADDRESS`` (the address then also names the node)."""
    out = []
    for value in values:
        name, sep, address = value.partition("=")
        out.append((name, address) if sep else (value, value))
    return out


def _credentials(args: argparse.Namespace) -> Credentials:
    if args.key:
        return Credentials(
            username=args.user,
            private_key=_read(args.key).decode(),
            passphrase=(
                _read(args.passphrase_file).decode().rstrip("\n") if args.passphrase_file else None
            ),
            use_sudo=args.sudo,
        )
    return Credentials(
        username=args.user,
        password=_read(args.password_file).decode().rstrip("\n"),
        use_sudo=args.sudo,
    )


def format_snapshot(snap: ClusterSnapshot) -> str:
    """A person-readable summary of a snapshot."""
    lines: list[str] = []
    pcmk = snap.pacemaker
    if pcmk is None or not pcmk.stack_running:
        lines.append("Cluster: stack not running on any reachable node")
    else:
        quorum = "with quorum" if pcmk.quorate else "WITHOUT quorum"
        lines.append(
            f"Cluster {pcmk.cluster_name or '?'}: DC {pcmk.dc or 'none'} ({quorum}), "
            f"view from {snap.view_from}"
        )
        opts = pcmk.options
        flags = [
            "maintenance mode" if opts.maintenance_mode else "",
            "fencing disabled" if not opts.stonith_enabled else "",
            "PARTITIONED (members disagree on the DC)" if snap.partitioned else "",
        ]
        if extra := ", ".join(f for f in flags if f):
            lines.append(f"  ! {extra}")
        lines.append("Nodes:")
        lines.extend(
            f"  {n.name:<16} {n.state.value:<12}"
            f"{' DC' if n.is_dc else ''} resources: {n.resources_running}"
            for n in pcmk.nodes
        )
        lines.append("Resources:")
        for r in pcmk.resources:
            where = ", ".join(r.running_on) or "stopped"
            promoted = f" promoted: {', '.join(r.promoted_on)}" if r.promoted_on else ""
            state = " FAILED" if r.failed else ("" if r.managed else " unmanaged")
            lines.append(f"  {r.id:<28} {r.kind.value:<10} {where}{promoted}{state}")
        lines.extend(
            f"  ! failed {f.operation} of {f.resource} on {f.node}: "
            f"{f.exit_reason or f.exit_status}"
            for f in pcmk.failed_actions
        )
        lines.extend(
            f"  ! leftover {m.kind} constraint {m.id} ({m.resource} -> {m.node})"
            for m in pcmk.move_constraints
        )
    lines.append("Per node:")
    for node in snap.nodes:
        if not node.reachable:
            lines.append(f"  {node.name:<16} UNREACHABLE ({node.error_kind}: {node.error})")
            continue
        lines.append(f"  {node.name:<16} reachable ({node.host})")
        for res in node.drbd.resources if node.drbd else ():
            peers = ", ".join(
                f"{c.name} {c.connection_state.value}/{c.peer_role.value}" for c in res.connections
            )
            lines.append(
                f"    drbd {res.name}: {res.role.value} {res.disk_state.value}; peers: {peers}"
            )
        if node.quorum is not None:
            lines.append(f"    corosync quorate: {node.quorum.quorate}")
    for name, verdict in sorted(snap.split_brain.items()):
        if verdict.split_brain:
            lines.append(f"SPLIT BRAIN on DRBD resource {name}: {'; '.join(verdict.evidence)}")
    return "\n".join(lines)


async def _status(args: argparse.Namespace) -> int:
    known = _read(args.known_hosts)
    endpoints = [
        NodeEndpoint(
            name=name,
            host=address,
            port=args.port,
            host_key=known_host_key(known, address, args.port),
        )
        for name, address in _parse_hosts(args.host)
    ]
    client = ClusterClient(endpoints, _credentials(args))
    try:
        snap = await client.poll()
    finally:
        await client.close()
    if not snap.reachable:
        first = snap.nodes[0]
        raise _unreachable_error(first.error_kind, first.error or "unreachable")
    if args.json:
        _emit(snap.to_dict())
    else:
        print(format_snapshot(snap))
    return 0


def _unreachable_error(kind: str | None, message: str) -> HAClusterError:
    from . import errors

    cls: type[HAClusterError] = {
        "host_key": errors.HostKeyError,
        "auth": errors.AuthenticationError,
        "timeout": errors.ClusterTimeoutError,
        "permission": errors.PermissionDeniedError,
    }.get(kind or "", errors.ClusterConnectionError)
    return cls(f"no node answered: {message}")


def _parse(args: argparse.Namespace) -> int:
    data = _read(args.file)
    if args.what == "crm-mon":
        cib = _read(args.cib) if args.cib else None
        _emit(parse_crm_mon(data, cib=cib).to_dict())
    elif args.what == "drbd-status":
        events = parse_events2(_read(args.events2)) if args.events2 else ()
        kernel = parse_kernel_log(_read(args.kernel_log)) if args.kernel_log else ()
        _emit(
            analyze_split_brain(parse_drbd_status(data), events=events, kernel_log=kernel).to_dict()
        )
    elif args.what == "corosync-quorum":
        _emit(parse_quorumtool(data).to_dict())
    else:
        _emit(parse_cfgtool(data).to_dict())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="hacluster", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    status = sub.add_parser("status", help="read a live cluster over SSH")
    status.add_argument(
        "--host", action="append", required=True, help="node address, or NAME=ADDRESS (repeat)"
    )
    status.add_argument("--port", type=int, default=22)
    status.add_argument("--user", required=True)
    auth = status.add_mutually_exclusive_group(required=True)
    auth.add_argument("--key", help="private key file")
    auth.add_argument("--password-file", help="file holding the password")
    status.add_argument("--passphrase-file", help="file holding the key's passphrase")
    status.add_argument(
        "--known-hosts", required=True, help="OpenSSH known_hosts file with each node's key"
    )
    status.add_argument("--sudo", action="store_true", help="run commands with sudo -n")
    status.add_argument("--json", action="store_true", help="print the snapshot as JSON")

    parse = sub.add_parser("parse", help="parse a captured output and print JSON")
    what = parse.add_subparsers(dest="what", required=True)
    crm = what.add_parser("crm-mon", help="crm_mon --output-as=xml")
    crm.add_argument("file")
    crm.add_argument("--cib", help="cibadmin --query (or --scope constraints) output")
    drbd = what.add_parser("drbd-status", help="drbdsetup status --json, or drbdadm status")
    drbd.add_argument("file")
    drbd.add_argument("--events2", help="drbdsetup events2 output")
    drbd.add_argument("--kernel-log", help="dmesg / journalctl -k output")
    what.add_parser("corosync-quorum", help="corosync-quorumtool -s").add_argument("file")
    what.add_parser("corosync-links", help="corosync-cfgtool -s").add_argument("file")
    add_provision_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hacluster`` console script."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "provision":
            return run_provision(args)
        if args.command == "status":
            return asyncio.run(_status(args))
        return _parse(args)
    except HAClusterError as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"hacluster: {message}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
