"""``hacluster provision``: render, plan, apply and status for one YAML cluster description.

    hacluster provision render  --config FILE DIR
    hacluster provision plan    --config FILE [SSH] [--wipe-disk NODE:DISK]... [--replace-cluster NAME] [--json]
    hacluster provision apply   --config FILE [SSH] [--wipe-disk NODE:DISK]... [--replace-cluster NAME] [--dry-run] [--timeout S]
    hacluster provision status  --config FILE [SSH]

    SSH: [--known-hosts FILE] [--key FILE] [--passphrase-file FILE] [--ssh-agent]

``plan`` exits 0 when ``apply`` could run as asked, and 13 (InterlockError) when a check failed or
a destructive step was not named. Wire it into the ``hacluster`` command with
:func:`add_provision_parser` and :func:`run_provision`.
"""  # noqa: E501

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
import sys
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, HAClusterError, HostKeyError, InterlockError
from ..render import (
    drbd_resource_path,
    render_cib_crm,
    render_cib_xml,
    render_corosync_conf,
    render_drbd_resource,
)
from .apply import Applier
from .config import load_config_file
from .connect import AccessOptions, build_access, describe_unpinned, open_sessions
from .plan import format_plan, make_plan
from .status import home_assistant_values, poll_cluster
from .steps import Permission, replace_permission, wipe_permission

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..transport import Credentials, NodeEndpoint, NodeSession
    from .config import ClusterConfig
    from .plan import Plan

__all__ = ["add_provision_parser", "render_files", "run_provision"]


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def add_provision_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Add ``provision`` and its commands to the ``hacluster`` parser's subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "provision",
        help="turn a YAML cluster description into a running cluster",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    sub = parser.add_subparsers(dest="provision_command", required=True)
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", "-c", required=True, help="the cluster description (YAML)")
    ssh = argparse.ArgumentParser(add_help=False)
    ssh.add_argument("--known-hosts", help="known_hosts file pinning every node's host key")
    ssh.add_argument("--key", help="private key file (instead of nodes[].ssh.key_file)")
    ssh.add_argument("--passphrase-file", help="file holding the key's passphrase")
    ssh.add_argument("--ssh-agent", action="store_true", help="use the ssh-agent at $SSH_AUTH_SOCK")
    allow = argparse.ArgumentParser(add_help=False)
    allow.add_argument(
        "--wipe-disk",
        action="append",
        default=[],
        metavar="NODE:DISK",
        help="allow erasing exactly this disk (repeat per disk)",
    )
    allow.add_argument(
        "--replace-cluster",
        action="append",
        default=[],
        metavar="NAME",
        help="allow replacing the configuration of the running cluster NAME",
    )
    allow.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds to wait for the application (default 300)",
    )
    render = sub.add_parser("render", parents=[config], help="write the configuration files")
    render.add_argument("dir", help="output directory")
    plan = sub.add_parser(
        "plan", parents=[config, ssh, allow], help="check the nodes and show what apply does"
    )
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    apply = sub.add_parser(
        "apply", parents=[config, ssh, allow], help="run the plan's steps (idempotent)"
    )
    apply.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    sub.add_parser(
        "status", parents=[config, ssh], help="the cluster's state and how to add it to HA"
    )
    return parser


def render_files(cfg: ClusterConfig, directory: Path) -> list[Path]:
    """Write corosync.conf, the DRBD resource file, cib.crm and cib.xml into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "corosync.conf": render_corosync_conf(cfg),
        Path(drbd_resource_path(cfg)).name: render_drbd_resource(cfg),
        "cib.crm": render_cib_crm(cfg),
        "cib.xml": render_cib_xml(cfg),
    }
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _permissions(args: argparse.Namespace) -> tuple[Permission, ...]:
    out: list[Permission] = []
    for value in args.wipe_disk:
        node, sep, disk = value.partition(":")
        if not sep or not node or not disk.startswith("/"):
            raise ConfigError(f"--wipe-disk {value!r}: write NODE:DISK, e.g. ha-0:/dev/sdb")
        out.append(wipe_permission(node, disk))
    out += [replace_permission(name) for name in args.replace_cluster]
    return tuple(out)


def _options(args: argparse.Namespace, config: Path) -> AccessOptions:
    passphrase = None
    if args.passphrase_file:
        try:
            passphrase = Path(args.passphrase_file).read_text(encoding="utf-8").rstrip("\n")
        except OSError as err:
            raise ConfigError(f"cannot read {args.passphrase_file}: {err.strerror}") from err
    agent = None
    if args.ssh_agent:
        agent = os.environ.get("SSH_AUTH_SOCK")
        if not agent:
            raise ConfigError("--ssh-agent: SSH_AUTH_SOCK is not set")
    return AccessOptions(
        config_dir=config.resolve().parent,
        known_hosts=args.known_hosts,
        key_file=args.key,
        passphrase=passphrase,
        agent_path=agent,
    )


async def _access(
    cfg: ClusterConfig, options: AccessOptions
) -> dict[str, tuple[NodeEndpoint, Credentials]]:
    access, unpinned = build_access(cfg, options)
    if unpinned:
        raise HostKeyError(await describe_unpinned(unpinned))
    return access


async def _with_sessions[T](
    access: dict[str, tuple[NodeEndpoint, Credentials]],
    options: AccessOptions,
    work: Callable[[Mapping[str, NodeSession]], Any],
) -> T:
    sessions = open_sessions(access, options)
    try:
        result: T = await work(sessions)
        return result
    finally:
        await asyncio.gather(*(s.close() for s in sessions.values()))


def _summary(plan: Plan) -> list[str]:
    lines = [
        f"  {c.level.value.upper():<4} {c.node or 'cluster'}: {c.name}: {c.message}"
        for c in plan.checks
        if c.level.value in ("warn", "fail")
    ]
    destructive = sum(1 for s in plan.steps if s.safety.value == "destructive")
    lines.append(
        f"Plan for cluster {plan.cluster}: {len(plan.steps)} step(s), {destructive} destructive."
    )
    return lines


async def _plan(args: argparse.Namespace, cfg: ClusterConfig, options: AccessOptions) -> int:
    granted = _permissions(args)
    access = await _access(cfg, options)

    async def work(sessions: Mapping[str, NodeSession]) -> Plan:
        return await make_plan(cfg, sessions, app_timeout=args.timeout)

    plan: Plan = await _with_sessions(access, options, work)
    if args.json:
        _write(json.dumps(plan.to_dict(), indent=2, sort_keys=True))
    else:
        _write(format_plan(plan, granted).rstrip("\n"))
    if plan.failed or plan.missing(granted):
        return InterlockError.exit_code
    return 0


async def _apply(args: argparse.Namespace, cfg: ClusterConfig, options: AccessOptions) -> int:
    granted = _permissions(args)
    access = await _access(cfg, options)

    async def work(sessions: Mapping[str, NodeSession]) -> int:
        plan = await make_plan(cfg, sessions, app_timeout=args.timeout)
        for line in _summary(plan):
            _write(line)
        applier = Applier(cfg, sessions, out=_write, granted=granted)
        result = await applier.apply(plan, dry_run=args.dry_run)
        if result.changed:
            _write(
                f"Next: scripts/provision status --config {args.config} shows the cluster and "
                "how to add it to Home Assistant."
            )
        return 0

    code: int = await _with_sessions(access, options, work)
    return code


async def _status(args: argparse.Namespace, cfg: ClusterConfig, options: AccessOptions) -> int:
    from ..cli import format_snapshot  # the CLI imports this package: import late

    access = await _access(cfg, options)
    snapshot = await poll_cluster(access)
    _write(format_snapshot(snapshot))
    _write("")
    key_file = options.key_file or cfg.nodes[0].ssh.key_file
    for line in home_assistant_values(cfg, access, key_file=key_file, reachable=snapshot.reachable):
        _write(line)
    return 0 if snapshot.reachable else 3


def run_provision(args: argparse.Namespace) -> int:
    """Run ``hacluster provision ...``; errors become one message and their exit code."""
    try:
        cfg = load_config_file(args.config)
        for warning in cfg.warnings:
            sys.stderr.write(f"warning: {warning}\n")
        if args.provision_command == "render":
            for path in render_files(cfg, Path(args.dir)):
                _write(f"wrote {path}")
            return 0
        options = _options(args, Path(args.config))
        runner = {"plan": _plan, "apply": _apply, "status": _status}[args.provision_command]
        return asyncio.run(runner(args, cfg, options))
    except HAClusterError as err:
        sys.stderr.write(f"hacluster provision: {err}\n")
        return err.exit_code


def main(argv: list[str] | None = None) -> int:
    """``python -m hacluster.provision.cli`` (the same as ``hacluster provision``)."""
    parser = argparse.ArgumentParser(prog="hacluster")
    add_provision_parser(parser.add_subparsers(dest="command", required=True))
    return run_provision(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
