"""Commands the core runs on cluster nodes: name validation, argv builders, one-exec batches.

Everything here is pure (no I/O). The transport sends the scripts built here over SSH.

Safety rules:

* Commands are argv tuples. Every element is quoted with :func:`shlex.quote` when a script is
  built, so even a name that slipped past validation reaches the program as one inert argument.
* Names that come from a user or from cluster output go through :func:`validate_pacemaker_id`,
  :func:`validate_node_name` or :func:`validate_drbd_resource_name` first; the action builders
  below call them.
* Output filters (a fixed shell pipeline applied to a command's output, e.g. the kernel log) can
  only be the constants of :class:`OutputFilter`; their shell text lives in this module only.

A batch runs many commands in ONE exec: :func:`build_batch_script` writes a POSIX ``sh`` script
that is fed to ``sh -s`` on the node's standard input (so the remote user's login shell, be it
bash, dash, zsh or fish, only ever sees the two words ``sh -s``). The script runs each command
with its own stdout, stderr and exit status captured in a private temporary directory, and
prints them in length-prefixed frames whose marker lines contain a random per-call token.
:func:`parse_batch_output` is the inverse. The commands run one after the other, or (for
read-only batches such as a poll, ``parallel=True``) all at once, each in a background subshell
with its own files, their frames printed in the batch's order once the last one has ended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
import re
import shlex
from typing import TYPE_CHECKING, Any, Final

from .errors import (
    CommandError,
    InvalidNameError,
    NotAClusterNodeError,
    ParseError,
    PermissionDeniedError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

__all__ = [
    "CMD_CIB_CONSTRAINTS",
    "CMD_CIB_CRM_CONFIG",
    "CMD_CRM_MON",
    "CMD_DRBD_EVENTS",
    "CMD_DRBD_STATUS",
    "CMD_HOSTNAME",
    "CMD_KERNEL_LOG",
    "CMD_LINKS",
    "CMD_QUORUM",
    "EVENTS2_STREAM_ARGV",
    "EXIT_NOT_FOUND",
    "EXIT_TIMEOUT",
    "POLL_COMMANDS",
    "PROBE_COMMANDS",
    "SHELL_COMMAND",
    "BatchCommand",
    "BatchResult",
    "CommandResult",
    "OutputFilter",
    "build_batch_script",
    "build_stream_script",
    "cleanup_resource",
    "clear_resource",
    "move_resource",
    "online_node",
    "parse_batch_output",
    "quote_argv",
    "restart_resource",
    "set_maintenance_mode",
    "set_node_maintenance",
    "standby_node",
    "validate_drbd_resource_name",
    "validate_node_name",
    "validate_pacemaker_id",
]

#: The only command line the transport ever hands to the remote login shell; the script
#: itself travels on standard input.
SHELL_COMMAND: Final = "sh -s"

#: Exit status of a shell (and of our batch runner) for "command not found".
EXIT_NOT_FOUND: Final = 127
#: Exit status of coreutils ``timeout`` when a command ran out of time.
EXIT_TIMEOUT: Final = 124
#: ``crm_mon`` (and every Pacemaker tool) exits with 64 (EX_USAGE) for an unknown option.
EXIT_USAGE: Final = 64
#: ``drbdsetup`` exits with 20 for usage errors (and for most other failures).
EXIT_DRBDSETUP_ERROR: Final = 20

#: stderr is capped at this many bytes per command (error messages, not data).
MAX_STDERR_BYTES: Final = 65536
#: Per-command stdin payloads are limited (they travel inside the script, octal-encoded).
MAX_STDIN_BYTES: Final = 1024 * 1024

# --------------------------------------------------------------------------------------------
# Name validation
# --------------------------------------------------------------------------------------------

#: Longest Pacemaker id we accept (Pacemaker has no limit; ids this long are a mistake).
MAX_ID_LENGTH: Final = 255
#: Longest node name we accept (a DNS name).
MAX_NODE_NAME_LENGTH: Final = 253
#: DRBD's config scanner accepts unquoted names of up to 128 characters.
MAX_DRBD_NAME_LENGTH: Final = 128

# XML 1.0 (5th edition) NameStartChar without ':' (an NCName), and NameChar additions.
_NC_START = (
    "A-Z_a-z"
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c-\u200d"
    "\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
)
_NC_CHAR = _NC_START + r"\-.0-9\u00b7\u0300-\u036f\u203f-\u2040"
_NCNAME_RE: Final = re.compile(f"[{_NC_START}][{_NC_CHAR}]*")
_NODE_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_DRBD_NAME_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_BATCH_NAME_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9]{16,128}")


def _describe(name: object) -> str:
    """A safe, bounded rendering of a rejected name for error messages."""
    text = repr(name)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_str(name: object, what: str, max_length: int) -> str:
    if not isinstance(name, str):
        raise InvalidNameError(f"{what} must be a string, got {type(name).__name__}")
    if not name:
        raise InvalidNameError(f"{what} must not be empty")
    if len(name) > max_length:
        raise InvalidNameError(f"{what} {_describe(name)} is longer than {max_length} characters")
    return name


def validate_pacemaker_id(name: str) -> str:
    """Return ``name`` if it is a valid Pacemaker id (an XML NCName), else raise.

    An NCName starts with a letter or ``_`` (Unicode letters allowed) and continues with
    letters, digits, ``.``, ``-``, ``_`` and combining marks; no colon, no whitespace, no control
    or shell characters. Raises :class:`~hacluster.errors.InvalidNameError`.
    """
    _check_str(name, "Pacemaker id", MAX_ID_LENGTH)
    if _NCNAME_RE.fullmatch(name) is None:
        raise InvalidNameError(
            f"Pacemaker id {_describe(name)} is not an XML NCName: it must start with a letter "
            "or '_' and contain only letters, digits, '.', '-' and '_'"
        )
    return name


def validate_node_name(name: str) -> str:
    """Return ``name`` if it is a valid Pacemaker node name (hostname-like), else raise.

    ASCII letters, digits, ``.``, ``-`` and ``_``; the first character is a letter or digit
    (so never a leading dash that a tool could take for an option).
    """
    _check_str(name, "node name", MAX_NODE_NAME_LENGTH)
    if _NODE_NAME_RE.fullmatch(name) is None:
        raise InvalidNameError(
            f"node name {_describe(name)} is invalid: use letters, digits, '.', '-' and '_', "
            "starting with a letter or digit"
        )
    return name


def validate_drbd_resource_name(name: str) -> str:
    """Return ``name`` if it is a valid DRBD resource name, else raise.

    DRBD's own rules (kernel ``drbd_check_resource_name`` and the drbd9-tests ``invalid-names``
    test: not empty, no ``/``, and since 9.1 no spaces or control characters) and drbd-utils'
    config scanner (``user/v9/drbdadm_scanner.fl``: an unquoted name is ``[a-zA-Z0-9/._-]{1,128}``)
    give ASCII letters, digits, ``.``, ``-`` and ``_`` up to 128 characters. We also refuse a
    leading ``-`` or ``.`` (option-like, hidden names) and ``all``, which drbdadm reads as "every
    resource".
    """
    _check_str(name, "DRBD resource name", MAX_DRBD_NAME_LENGTH)
    if _DRBD_NAME_RE.fullmatch(name) is None:
        raise InvalidNameError(
            f"DRBD resource name {_describe(name)} is invalid: use letters, digits, '.', '-' "
            "and '_', starting with a letter, digit or '_'"
        )
    if name == "all":
        raise InvalidNameError("'all' is reserved by drbdadm and cannot name a DRBD resource")
    return name


def quote_argv(argv: Sequence[str]) -> str:
    """Quote an argv for a POSIX shell (each element becomes exactly one word)."""
    return " ".join(shlex.quote(arg) for arg in argv)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------

_SUDO_DENIED_MARKERS: Final = (
    b"sudo: a password is required",
    b"sudo: a terminal is required",
    b"sudo: no tty present",
    b"is not in the sudoers file",
    b"is not allowed to execute",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class CommandResult:
    """How one command ended on one node.

    ``exit_status`` is ``None`` only when the command produced no exit status (killed without
    a status). ``argv`` is what actually ran (the fallback when ``fallback_used``), without the
    ``sudo`` prefix.
    """

    argv: tuple[str, ...]
    exit_status: int | None
    stdout: bytes
    stderr: bytes
    duration: float = 0.0
    fallback_used: bool = False
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0."""
        return self.exit_status == 0

    @property
    def not_found(self) -> bool:
        """True when the program does not exist on the node (exit status 127)."""
        return self.exit_status == EXIT_NOT_FOUND

    @property
    def timed_out(self) -> bool:
        """True when the per-command time limit killed the command (exit status 124)."""
        return self.exit_status == EXIT_TIMEOUT

    @property
    def sudo_denied(self) -> bool:
        """True when ``sudo -n`` refused to run the command (it wanted a password)."""
        return self.exit_status == 1 and any(m in self.stderr for m in _SUDO_DENIED_MARKERS)

    @property
    def text(self) -> str:
        """stdout decoded as UTF-8 (invalid bytes replaced)."""
        return self.stdout.decode("utf-8", "replace")

    def stderr_tail(self, limit: int = 300) -> str:
        """The last non-empty stderr line, bounded, for error messages."""
        lines = [ln for ln in self.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        tail = lines[-1].strip() if lines else ""
        return tail if len(tail) <= limit else tail[: limit - 3] + "..."

    def check(self, *, required: bool = False) -> CommandResult:
        """Return ``self`` when the command succeeded, else raise the matching error.

        * sudo wanted a password: :class:`~hacluster.errors.PermissionDeniedError`;
        * exit 127 and ``required``: :class:`~hacluster.errors.NotAClusterNodeError`;
        * any other non-zero exit: :class:`~hacluster.errors.CommandError`.
        """
        if self.ok:
            return self
        command = quote_argv(self.argv)
        stderr = self.stderr_tail()
        if self.sudo_denied:
            raise PermissionDeniedError(
                f"sudo refused to run {self.argv[0]}: {stderr}",
                command=command,
                exit_status=self.exit_status,
                stderr=stderr,
            )
        if self.not_found and required:
            raise NotAClusterNodeError(
                f"{self.argv[0]} is not installed on this host",
                command=command,
                exit_status=self.exit_status,
                stderr=stderr,
            )
        raise CommandError(
            f"{self.argv[0]} failed with exit status {self.exit_status}: {stderr or 'no output'}",
            command=command,
            exit_status=self.exit_status,
            stderr=stderr,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (outputs decoded, for diagnostics)."""
        return {
            "argv": list(self.argv),
            "exit_status": self.exit_status,
            "stdout": self.text,
            "stderr": self.stderr.decode("utf-8", "replace"),
            "duration": round(self.duration, 4),
            "fallback_used": self.fallback_used,
            "truncated": self.truncated,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchResult:
    """The results of one batch (one exec) on one node, by command name."""

    node: str
    results: Mapping[str, CommandResult]
    duration: float
    bytes_read: int

    def __getitem__(self, name: str) -> CommandResult:
        """The result of the command called ``name``."""
        return self.results[name]

    def __contains__(self, name: object) -> bool:
        """Whether a command called ``name`` ran."""
        return name in self.results

    def __iter__(self) -> Iterator[str]:
        """Command names, in the order they ran."""
        return iter(self.results)

    def __len__(self) -> int:
        """Number of commands in the batch."""
        return len(self.results)

    def get(self, name: str) -> CommandResult | None:
        """The result of ``name``, or ``None``."""
        return self.results.get(name)


# --------------------------------------------------------------------------------------------
# Batch commands
# --------------------------------------------------------------------------------------------


class OutputFilter(StrEnum):
    """Fixed post-filters for a command's stdout. Their shell text lives in this module only."""

    DRBD_KERNEL_LOG = "drbd_kernel_log"
    """Keep the kernel log lines that mention DRBD, the last 500 of them."""


_FILTER_SHELL: Final[Mapping[OutputFilter, str]] = {
    OutputFilter.DRBD_KERNEL_LOG: "grep -a -i -F -e drbd | tail -n 500",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchCommand:
    """One command of a batch.

    * ``name``: id-like key of its result (``[a-z][a-z0-9_]*``).
    * ``argv``: the command; quoted element by element.
    * ``fallback_argv``: run instead when ``argv`` exits with a status in ``fallback_on`` (an
      "unknown option" usage error, e.g. ``crm_mon --output-as=xml`` on Pacemaker < 2.0.3).
    * ``stdin``: bytes fed to the command (None: ``/dev/null``).
    * ``max_bytes``: keep at most this many bytes of stdout (``truncated`` tells).
    * ``output_filter``: one of the fixed :class:`OutputFilter` pipelines.
    * ``timeout``: seconds before coreutils ``timeout`` stops the command on the node (exit 124);
      skipped where ``timeout`` is not installed.
    * ``privileged``: prefix ``sudo -n --`` when the session uses sudo (False for commands that
      must run as the login user, such as ``id -Gn``).
    """

    name: str
    argv: tuple[str, ...]
    fallback_argv: tuple[str, ...] | None = None
    fallback_on: frozenset[int] = field(default_factory=lambda: frozenset({EXIT_USAGE}))
    stdin: bytes | None = None
    max_bytes: int | None = None
    output_filter: OutputFilter | None = None
    timeout: float | None = None
    privileged: bool = True

    def __post_init__(self) -> None:
        """Normalise sequences to tuples and refuse what cannot be run safely."""
        if not isinstance(self.name, str) or _BATCH_NAME_RE.fullmatch(self.name) is None:
            raise InvalidNameError(f"batch command name {_describe(self.name)} is not id-like")
        object.__setattr__(self, "argv", _check_argv(self.argv, self.name))
        if self.fallback_argv is not None:
            object.__setattr__(self, "fallback_argv", _check_argv(self.fallback_argv, self.name))
        object.__setattr__(self, "fallback_on", frozenset(int(x) for x in self.fallback_on))
        if self.stdin is not None:
            if not isinstance(self.stdin, bytes):
                raise TypeError(f"{self.name}: stdin must be bytes")
            if len(self.stdin) > MAX_STDIN_BYTES:
                raise ValueError(f"{self.name}: stdin is larger than {MAX_STDIN_BYTES} bytes")
        if self.max_bytes is not None and (
            not isinstance(self.max_bytes, int) or self.max_bytes < 0
        ):
            raise ValueError(f"{self.name}: max_bytes must be a non-negative int")
        if self.output_filter is not None and self.output_filter not in _FILTER_SHELL:
            raise ValueError(f"{self.name}: unknown output filter {self.output_filter!r}")
        if self.timeout is not None and not 0 < self.timeout <= 86400:
            raise ValueError(f"{self.name}: timeout must be within (0, 86400] seconds")


def _check_argv(argv: Sequence[str], name: str) -> tuple[str, ...]:
    if isinstance(argv, str | bytes):
        raise TypeError(f"{name}: argv must be a sequence of strings, not a single string")
    args = tuple(argv)
    if not args or not args[0]:
        raise ValueError(f"{name}: argv must name a program")
    for arg in args:
        if not isinstance(arg, str):
            raise TypeError(f"{name}: argv elements must be str, got {type(arg).__name__}")
        if "\0" in arg:
            raise InvalidNameError(f"{name}: argv element {_describe(arg)} contains a NUL byte")
    return args


# --------------------------------------------------------------------------------------------
# Script building and parsing
# --------------------------------------------------------------------------------------------

_PRELUDE: Final = r"""PATH="${PATH:-/usr/bin:/bin}:/usr/local/sbin:/usr/sbin:/sbin"
LC_ALL=C
export PATH LC_ALL"""

# _hc_run TIMEOUT SUDO PROGRAM [ARG...]: run PROGRAM (resolved in PATH, 127 when missing),
# through sudo -n when SUDO is 1, under coreutils timeout when TIMEOUT is set and available.
_RUN_FUNCTION: Final = r"""_hc_run() {
  _hc_t=$1
  _hc_s=$2
  shift 2
  _hc_p=$(command -v "$1" 2>/dev/null) || _hc_p=
  if [ -z "$_hc_p" ]; then
    printf '%s: command not found\n' "$1" >&2
    return 127
  fi
  shift
  set -- "$_hc_p" "$@"
  if [ "$_hc_s" = 1 ]; then
    set -- sudo -n -- "$@"
  fi
  if [ -n "$_hc_t" ] && [ -n "$_hc_to" ]; then
    set -- timeout -k 5 "$_hc_t" "$@"
  fi
  "$@"
}"""

# _hc_emit NAME MAX: print the frames of the command that just ran (its files are $_hc_x.*).
_EMIT_FUNCTION: Final = r"""_hc_emit() {
  _hc_n=$(wc -c <"$_hc_x.o")
  _hc_n=$((_hc_n + 0))
  _hc_full=$_hc_n
  if [ -n "$2" ] && [ "$_hc_n" -gt "$2" ]; then
    _hc_n=$2
  fi
  _hc_m=$(wc -c <"$_hc_x.e")
  _hc_m=$((_hc_m + 0))
  if [ "$_hc_m" -gt MAX_STDERR ]; then
    _hc_m=MAX_STDERR
  fi
  printf '%s OUT %s %s %s\n' "$_hc_tok" "$1" "$_hc_n" "$_hc_full"
  head -c "$_hc_n" <"$_hc_x.o"
  printf '\n%s ERR %s %s\n' "$_hc_tok" "$1" "$_hc_m"
  head -c "$_hc_m" <"$_hc_x.e"
  printf '\n%s RC %s %s %s %s %s\n' "$_hc_tok" "$1" "$_hc_rc" "$_hc_fb" "${_hc_t0:--}" \
    "${_hc_t1:--}"
}""".replace("MAX_STDERR", str(MAX_STDERR_BYTES))

_SETUP: Final = r"""_hc_d=$(mktemp -d 2>/dev/null || mktemp -d /dev/shm/hc.XXXXXX 2>/dev/null) ||
  _hc_d=
if [ -z "$_hc_d" ] || [ ! -d "$_hc_d" ]; then
  printf '%s FATAL cannot create a temporary directory\n' "$_hc_tok"
  exit 125
fi
trap 'rm -rf "$_hc_d"' 0
trap 'exit 129' 1
trap 'exit 130' 2
trap 'exit 143' 15
_hc_to=
if command -v timeout >/dev/null 2>&1; then
  _hc_to=1
fi
printf '\n%s BEGIN\n' "$_hc_tok"
"""


def _stdin_redirect(data: bytes | None) -> tuple[str, str]:
    """Shell text that feeds ``data`` to a command: (prefix, suffix) around the command."""
    if data is None:
        return "", " </dev/null"
    chunks = [
        "printf '" + "".join(f"\\{b:03o}" for b in data[i : i + 2048]) + "'"
        for i in range(0, len(data), 2048)
    ]
    return "{ " + "; ".join(chunks or [":"]) + "; } | ", ""


def _run_line(cmd: BatchCommand, argv: tuple[str, ...], *, sudo: bool) -> str:
    timeout = "" if cmd.timeout is None else f"{cmd.timeout:g}"
    use_sudo = "1" if sudo and cmd.privileged else "0"
    prefix, suffix = _stdin_redirect(cmd.stdin)
    return (
        f"{prefix}_hc_run {shlex.quote(timeout)} {use_sudo} {quote_argv(argv)}"
        f'{suffix} >"$_hc_x.o" 2>"$_hc_x.e"'
    )


def _command_lines(cmd: BatchCommand, *, sudo: bool) -> list[str]:
    """Run one command with its files at ``$_hc_x.*``, then print its frames."""
    lines = [
        "_hc_t0=$(date +%s.%N 2>/dev/null)",
        _run_line(cmd, cmd.argv, sudo=sudo),
        "_hc_rc=$?",
        "_hc_fb=0",
    ]
    if cmd.fallback_argv is not None and cmd.fallback_on:
        codes = "|".join(str(c) for c in sorted(cmd.fallback_on))
        lines += [
            f'case "$_hc_rc" in {codes})',
            "  _hc_fb=1",
            "  " + _run_line(cmd, cmd.fallback_argv, sudo=sudo),
            "  _hc_rc=$?",
            "  ;;",
            "esac",
        ]
    if cmd.output_filter is not None:
        lines += [
            f'{{ {_FILTER_SHELL[cmd.output_filter]}; }} <"$_hc_x.o" >"$_hc_x.f" 2>>"$_hc_x.e"',
            'mv -f "$_hc_x.f" "$_hc_x.o"',
        ]
    max_bytes = "" if cmd.max_bytes is None else str(cmd.max_bytes)
    lines += [
        "_hc_t1=$(date +%s.%N 2>/dev/null)",
        f"_hc_emit {cmd.name} {shlex.quote(max_bytes)}",
    ]
    return lines


def _sequential_body(cmds: Sequence[BatchCommand], *, sudo: bool) -> str:
    """One command after the other; each prints its frames as soon as it ended."""
    lines = ['_hc_x="$_hc_d/c"']
    for cmd in cmds:
        lines += _command_lines(cmd, sudo=sudo)
    return "\n".join("  " + line for line in lines)


def _parallel_body(cmds: Sequence[BatchCommand], *, sudo: bool) -> str:
    """Every command at once, each in a background subshell with its own files.

    Command ``i`` keeps its stdout, stderr and filter output in ``$_hc_d/i.*`` and writes its
    frames to ``$_hc_d/i.fr``; after ``wait`` one ``cat`` prints the frame files in the order
    of ``cmds``, so the output is exactly what the sequential script prints (frame for frame;
    only the timestamps differ). A subshell that died without its frames leaves its file
    missing or short, which the parser reports as damaged output.
    """
    lines: list[str] = []
    for index, cmd in enumerate(cmds):
        lines.append("(")
        lines.append(f'  _hc_x="$_hc_d/{index}"')
        lines += ["  " + line for line in _command_lines(cmd, sudo=sudo)]
        lines.append(f') >"$_hc_d/{index}.fr" &')
    lines.append("wait")
    frames = " ".join(f'"$_hc_d/{index}.fr"' for index in range(len(cmds)))
    lines.append(f"cat {frames}")
    return "\n".join("  " + line for line in lines)


def _check_token(token: str) -> None:
    if not isinstance(token, str) or _TOKEN_RE.fullmatch(token) is None:
        raise ValueError("token must be 16 to 128 ASCII letters and digits")


def build_batch_script(
    commands: Sequence[BatchCommand], *, sudo: bool, token: str, parallel: bool = False
) -> str:
    """Build the POSIX ``sh`` script that runs ``commands`` in one exec (feed it to ``sh -s``).

    ``token`` is a fresh random string per call (letters and digits, 16 or more): it marks
    the frame lines, so no command output can forge a frame. With ``sudo``, privileged commands
    run as ``sudo -n -- PROGRAM ...``. Missing programs report exit status 127.

    ``parallel=False`` (the default) runs the commands one after the other, in order: for
    batches whose commands depend on each other (actions, provisioning steps). ``parallel=True``
    starts them all at once and waits for the last one, so the batch takes as long as its
    slowest command instead of the sum: only for commands that do not depend on each other and
    change nothing (a poll). Either way the frames come out in the order of ``commands``, so
    :func:`parse_batch_output` reads both.
    """
    _check_token(token)
    cmds = tuple(commands)
    if not cmds:
        raise ValueError("a batch needs at least one command")
    names = [c.name for c in cmds]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate command names in batch: {names}")
    if parallel and len(cmds) > 1:
        body = _parallel_body(cmds, sudo=sudo)
        mode = "in parallel"
    else:
        body = _sequential_body(cmds, sudo=sudo)
        mode = "in order"
    return (
        f"# hacluster batch ({len(cmds)} commands, {mode})\n"
        f"{_RUN_FUNCTION}\n{_EMIT_FUNCTION}\n"
        "_hc_main() {\n"
        f"{_PRELUDE}\n"
        f"_hc_tok='{token}'\n"
        f"{_SETUP}\n"
        f"{body}\n"
        """  printf '%s END\\n' "$_hc_tok"\n"""
        "}\n"
        "_hc_main\n"
    )


def build_stream_script(argv: Sequence[str], *, sudo: bool) -> str:
    """Build the ``sh -s`` script that runs a long-lived command (e.g. ``drbdsetup events2``).

    The command's stdout is the channel's stdout. The script keeps reading its own standard
    input: when the client closes the channel (or the connection dies) that read ends and the
    command is killed, so no orphaned watcher stays behind on the node.
    """
    args = _check_argv(argv, "stream")
    run = "sudo -n -- " if sudo else ""
    rest = quote_argv(args[1:])
    program = shlex.quote(args[0])
    return (
        "# hacluster stream\n"
        "_hc_main() {\n"
        f"{_PRELUDE}\n"
        f"_hc_p=$(command -v {program} 2>/dev/null) || _hc_p=\n"
        'if [ -z "$_hc_p" ]; then\n'
        f"  printf '%s: command not found\\n' {program} >&2\n"
        "  exit 127\n"
        "fi\n"
        "exec 3<&0\n"
        f'{run}"$_hc_p" {rest} </dev/null 3<&- &\n'
        "_hc_c=$!\n"
        '( cat <&3 >/dev/null 2>&1; kill "$_hc_c" 2>/dev/null ) >/dev/null 2>&1 &\n'
        "_hc_w=$!\n"
        "exec 3<&-\n"
        'wait "$_hc_c"\n'
        "_hc_rc=$?\n"
        'kill "$_hc_w" 2>/dev/null\n'
        'exit "$_hc_rc"\n'
        "}\n"
        "_hc_main\n"
    )


class _Reader:
    """Sequential reader over the framed batch output."""

    def __init__(self, data: bytes, pos: int, token: bytes) -> None:
        self.data = data
        self.pos = pos
        self.token = token

    def line(self, what: str) -> list[bytes]:
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            raise ParseError(f"output ends before the {what} frame", command="batch")
        fields = self.data[self.pos : end].split(b" ")
        self.pos = end + 1
        if not fields or fields[0] != self.token:
            raise ParseError(f"expected the {what} frame", command="batch")
        return fields[1:]

    def take(self, size: int, what: str) -> bytes:
        end = self.pos + size
        if end + 1 > len(self.data) or self.data[end : end + 1] != b"\n":
            raise ParseError(f"{what} is shorter than announced", command="batch")
        chunk = self.data[self.pos : end]
        self.pos = end + 1
        return chunk


def _int_field(raw: bytes, what: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ParseError(f"bad number {raw[:20]!r} in the {what} frame", command="batch") from None


def _duration(start: bytes, end: bytes) -> float:
    try:
        return max(0.0, float(end) - float(start))
    except ValueError:
        return 0.0


def parse_batch_output(
    stdout: bytes, commands: Sequence[BatchCommand], token: str
) -> dict[str, CommandResult]:
    """Split the stdout of a batch script into one :class:`CommandResult` per command.

    Anything printed before the ``BEGIN`` frame (a chatty ``.bashrc``) is ignored. Raises
    :class:`~hacluster.errors.ParseError` when the frames are incomplete or inconsistent, and
    :class:`~hacluster.errors.CommandError` when the script could not start (no temporary
    directory).
    """
    _check_token(token)
    tok = token.encode("ascii")
    fatal = stdout.find(tok + b" FATAL ")
    begin_marker = tok + b" BEGIN\n"
    begin = stdout.find(begin_marker)
    if begin < 0:
        if fatal >= 0:
            end = stdout.find(b"\n", fatal)
            message = stdout[fatal + len(tok) + 7 : end if end >= 0 else None]
            raise CommandError(
                f"the batch could not start on the node: {message.decode('utf-8', 'replace')}",
                command="batch",
            )
        raise ParseError("no batch output (BEGIN frame missing)", command="batch")
    reader = _Reader(stdout, begin + len(begin_marker), tok)
    results: dict[str, CommandResult] = {}
    for cmd in commands:
        name = cmd.name.encode("ascii")
        out = reader.line(f"{cmd.name} OUT")
        if len(out) != 4 or out[0] != b"OUT" or out[1] != name:
            raise ParseError(f"expected the OUT frame of {cmd.name}", command="batch")
        size = _int_field(out[2], "OUT")
        full = _int_field(out[3], "OUT")
        data = reader.take(size, f"stdout of {cmd.name}")
        err = reader.line(f"{cmd.name} ERR")
        if len(err) != 3 or err[0] != b"ERR" or err[1] != name:
            raise ParseError(f"expected the ERR frame of {cmd.name}", command="batch")
        errdata = reader.take(_int_field(err[2], "ERR"), f"stderr of {cmd.name}")
        rc = reader.line(f"{cmd.name} RC")
        if len(rc) != 6 or rc[0] != b"RC" or rc[1] != name:
            raise ParseError(f"expected the RC frame of {cmd.name}", command="batch")
        status = _int_field(rc[2], "RC")
        fallback = rc[3] == b"1" and cmd.fallback_argv is not None
        argv = cmd.fallback_argv if fallback and cmd.fallback_argv is not None else cmd.argv
        results[cmd.name] = CommandResult(
            argv=argv,
            exit_status=status,
            stdout=data,
            stderr=errdata,
            duration=_duration(rc[4], rc[5]),
            fallback_used=fallback,
            truncated=full > size,
        )
    if reader.line("END") != [b"END"]:
        raise ParseError("expected the END frame", command="batch")
    return results


# --------------------------------------------------------------------------------------------
# What a poll and a setup probe run
# --------------------------------------------------------------------------------------------

CMD_CRM_MON: Final = "crm_mon"
CMD_CIB_CONSTRAINTS: Final = "cib_constraints"
CMD_CIB_CRM_CONFIG: Final = "cib_crm_config"
CMD_DRBD_STATUS: Final = "drbd_status"
CMD_DRBD_EVENTS: Final = "drbd_events"
CMD_KERNEL_LOG: Final = "kernel_log"
CMD_QUORUM: Final = "quorum"
CMD_LINKS: Final = "links"
CMD_HOSTNAME: Final = "hostname"

_POLL_TIMEOUT: Final = 15.0
_MIB: Final = 1024 * 1024

POLL_COMMANDS: Final[tuple[BatchCommand, ...]] = (
    # Pacemaker >= 2.0.3; older builds exit 64 for the unknown option and get --as-xml.
    # Exit 102 ("Not connected") means the stack is down or starting: a state, not an error.
    # --exclude=operations drops the operation history (45 % of the bytes on a big cluster)
    # and keeps the fail counts.
    BatchCommand(
        name=CMD_CRM_MON,
        argv=("crm_mon", "--output-as=xml", "--exclude=operations"),
        fallback_argv=("crm_mon", "--as-xml"),
        fallback_on=frozenset({EXIT_USAGE}),
        timeout=_POLL_TIMEOUT,
        max_bytes=16 * _MIB,
    ),
    # crm_mon never lists cli-prefer-* constraints; the CIB does.
    BatchCommand(
        name=CMD_CIB_CONSTRAINTS,
        argv=("cibadmin", "--query", "--scope", "constraints"),
        timeout=_POLL_TIMEOUT,
        max_bytes=8 * _MIB,
    ),
    BatchCommand(
        name=CMD_CIB_CRM_CONFIG,
        argv=("cibadmin", "--query", "--scope", "crm_config"),
        timeout=_POLL_TIMEOUT,
        max_bytes=_MIB,
    ),
    # drbd-utils without --json for status (exit 20) fall back to the text form.
    BatchCommand(
        name=CMD_DRBD_STATUS,
        argv=("drbdsetup", "status", "--json"),
        fallback_argv=("drbdadm", "status"),
        fallback_on=frozenset({EXIT_DRBDSETUP_ERROR}),
        timeout=_POLL_TIMEOUT,
        max_bytes=8 * _MIB,
    ),
    BatchCommand(
        name=CMD_DRBD_EVENTS,
        argv=("drbdsetup", "events2", "--now", "--statistics"),
        timeout=_POLL_TIMEOUT,
        max_bytes=8 * _MIB,
    ),
    # Needs root (or CAP_SYSLOG) where kernel.dmesg_restrict=1, i.e. sudo for a non-root user;
    # without it the command fails and the split-brain verdict loses that piece of evidence.
    BatchCommand(
        name=CMD_KERNEL_LOG,
        argv=("dmesg",),
        output_filter=OutputFilter.DRBD_KERNEL_LOG,
        timeout=_POLL_TIMEOUT,
        max_bytes=_MIB,
    ),
    BatchCommand(
        name=CMD_QUORUM, argv=("corosync-quorumtool", "-s"), timeout=_POLL_TIMEOUT, max_bytes=_MIB
    ),
    BatchCommand(
        name=CMD_LINKS, argv=("corosync-cfgtool", "-s"), timeout=_POLL_TIMEOUT, max_bytes=_MIB
    ),
    BatchCommand(name=CMD_HOSTNAME, argv=("uname", "-n"), timeout=_POLL_TIMEOUT, privileged=False),
)
"""One poll of one node: all of this runs in a single SSH exec."""

PROBE_COMMANDS: Final[tuple[BatchCommand, ...]] = (
    BatchCommand(name="crm_mon_version", argv=("crm_mon", "--version"), timeout=_POLL_TIMEOUT),
    BatchCommand(name="drbdadm_version", argv=("drbdadm", "--version"), timeout=_POLL_TIMEOUT),
    BatchCommand(name="drbdsetup_version", argv=("drbdsetup", "--version"), timeout=_POLL_TIMEOUT),
    BatchCommand(name="corosync_version", argv=("corosync", "-v"), timeout=_POLL_TIMEOUT),
    BatchCommand(
        name="corosync_conf",
        argv=("cat", "/etc/corosync/corosync.conf"),
        timeout=_POLL_TIMEOUT,
        max_bytes=_MIB,
        privileged=False,
    ),
    BatchCommand(name="groups", argv=("id", "-Gn"), timeout=_POLL_TIMEOUT, privileged=False),
    BatchCommand(name=CMD_HOSTNAME, argv=("uname", "-n"), timeout=_POLL_TIMEOUT, privileged=False),
)
"""First contact: which tools and versions a host has, its corosync nodes, our groups."""

#: The long-running DRBD event stream (``NodeSession.stream_lines``).
EVENTS2_STREAM_ARGV: Final = ("drbdsetup", "events2", "--timestamps")

# --------------------------------------------------------------------------------------------
# Actions (argv builders for the control feature)
# --------------------------------------------------------------------------------------------


def _on_off(value: bool) -> str:
    return "on" if value else "off"


def standby_node(node: str) -> tuple[str, ...]:
    """Put ``node`` in standby (persistent): its resources move away."""
    return (
        "crm_attribute",
        "--node",
        validate_node_name(node),
        "--name",
        "standby",
        "--update",
        "on",
        "--lifetime",
        "forever",
    )


def online_node(node: str) -> tuple[str, ...]:
    """Take ``node`` out of standby."""
    return (
        "crm_attribute",
        "--node",
        validate_node_name(node),
        "--name",
        "standby",
        "--update",
        "off",
        "--lifetime",
        "forever",
    )


def move_resource(resource: str, node: str) -> tuple[str, ...]:
    """Move ``resource`` to ``node`` (leaves a ``cli-prefer-<resource>`` constraint)."""
    return (
        "crm_resource",
        "--resource",
        validate_pacemaker_id(resource),
        "--move",
        "--node",
        validate_node_name(node),
    )


def clear_resource(resource: str) -> tuple[str, ...]:
    """Remove the move/ban constraints (``cli-prefer-*``, ``cli-ban-*``) of ``resource``."""
    return ("crm_resource", "--resource", validate_pacemaker_id(resource), "--clear")


def restart_resource(resource: str) -> tuple[str, ...]:
    """Restart ``resource`` through the cluster (stop, then start where it ran)."""
    return ("crm_resource", "--resource", validate_pacemaker_id(resource), "--restart")


def cleanup_resource(resource: str, node: str | None = None) -> tuple[str, ...]:
    """Clear the failure history of ``resource`` (on ``node`` only, when given)."""
    argv: tuple[str, ...] = (
        "crm_resource",
        "--cleanup",
        "--resource",
        validate_pacemaker_id(resource),
    )
    if node is not None:
        argv += ("--node", validate_node_name(node))
    return argv


def set_maintenance_mode(on: bool) -> tuple[str, ...]:
    """Switch the cluster-wide ``maintenance-mode`` property."""
    return (
        "crm_attribute",
        "--type",
        "crm_config",
        "--name",
        "maintenance-mode",
        "--update",
        "true" if on else "false",
    )


def set_node_maintenance(node: str, on: bool) -> tuple[str, ...]:
    """Switch the ``maintenance`` node attribute of ``node`` (persistent)."""
    return (
        "crm_attribute",
        "--node",
        validate_node_name(node),
        "--name",
        "maintenance",
        "--update",
        _on_off(on),
        "--lifetime",
        "forever",
    )
