"""Tests for hacluster.commands: name validation, argv builders, batch scripts (run for real)."""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from hacluster import commands as cmds
from hacluster.commands import (
    EVENTS2_STREAM_ARGV,
    POLL_COMMANDS,
    PROBE_COMMANDS,
    BatchCommand,
    BatchResult,
    CommandResult,
    OutputFilter,
    build_batch_script,
    build_stream_script,
    parse_batch_output,
    quote_argv,
    validate_drbd_resource_name,
    validate_node_name,
    validate_pacemaker_id,
)
from hacluster.errors import (
    CommandError,
    InvalidNameError,
    NotAClusterNodeError,
    ParseError,
    PermissionDeniedError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

TOKEN = "Tok3nTok3nTok3nTok3n"

HOSTILE = (
    "a;touch CANARY",
    "$(touch CANARY)",
    "`touch CANARY`",
    "a\ntouch CANARY",
    "a'b",
    'a"b',
    "a b",
    "-rf",
    "--force",
    "a|touch CANARY",
    "a&&touch CANARY",
    "a>CANARY",
    "${IFS}touch${IFS}CANARY",
    "a\\b",
    "*",
    "~root",
    "a\tb",
    "a\rb",
    "\u00a0nbsp",
    "a:b",
    "a\x1bb",
    "a/b",
)

SHELLS = [s for s in ("sh", "bash", "dash") if shutil.which(s)]


def run_script(script: str, shell: str = "sh", cwd: Path | None = None) -> bytes:
    """Run a batch script like the transport does (``sh -s`` with the script on stdin)."""
    proc = subprocess.run(
        [shell, "-s"], input=script.encode(), capture_output=True, cwd=cwd, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def run_batch(
    batch: tuple[BatchCommand, ...], shell: str = "sh", *, parallel: bool = False, **kw: object
) -> dict[str, CommandResult]:
    token = "Z" * 8 + os.urandom(8).hex()
    script = build_batch_script(batch, sudo=False, token=token, parallel=parallel)
    out = run_script(script, shell, **kw)  # type: ignore[arg-type]
    return parse_batch_output(out, batch, token)


# --- name validation


@pytest.mark.parametrize(
    "name", ["p_drbd_home-assistant", "ms_drbd.r0", "_x", "g1", "Ünïcode_ÿ", "a·b", "ω-1"]
)
def test_pacemaker_id_valid(name: str) -> None:
    assert validate_pacemaker_id(name) == name


@pytest.mark.parametrize("name", ["1abc", "-x", ".x", "a:b", "", "a b", "é" * 256, "x\u200b"])
def test_pacemaker_id_invalid(name: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_pacemaker_id(name)


@pytest.mark.parametrize("name", ["ha-0", "node1.example.com", "N_1", "1node", "a" * 253])
def test_node_name_valid(name: str) -> None:
    assert validate_node_name(name) == name


@pytest.mark.parametrize("name", ["-x", ".x", "_x", "nöde", "a" * 254, ""])
def test_node_name_invalid(name: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_node_name(name)


@pytest.mark.parametrize("name", ["r0", "home-assistant", "_r", "a.b", "A_1-2.3", "x" * 128])
def test_drbd_name_valid(name: str) -> None:
    assert validate_drbd_resource_name(name) == name


@pytest.mark.parametrize("name", ["all", "a/b", "a b", "a\x04b", "-r", ".r", "x" * 129, "ä", ""])
def test_drbd_name_invalid(name: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_drbd_resource_name(name)


@pytest.mark.parametrize("name", [*HOSTILE, "a\0b", "x" * 5000])
@pytest.mark.parametrize(
    "validator", [validate_pacemaker_id, validate_node_name, validate_drbd_resource_name]
)
def test_hostile_names_rejected(validator: object, name: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        validator(name)  # type: ignore[operator]
    # the message is bounded and never echoes control characters raw
    assert len(str(info.value)) < 300
    assert "\n" not in str(info.value)


def test_non_string_name_rejected() -> None:
    with pytest.raises(InvalidNameError, match="must be a string"):
        validate_node_name(42)  # type: ignore[arg-type]


# --- action builders


def test_action_argv_exact() -> None:
    assert cmds.standby_node("ha-0") == (
        "crm_attribute", "--node", "ha-0", "--name", "standby", "--update", "on",
        "--lifetime", "forever",
    )  # fmt: skip
    assert cmds.online_node("ha-0")[6] == "off"
    assert cmds.move_resource("g_app", "ha-1") == (
        "crm_resource", "--resource", "g_app", "--move", "--node", "ha-1",
    )  # fmt: skip
    assert cmds.clear_resource("g_app") == ("crm_resource", "--resource", "g_app", "--clear")
    assert cmds.restart_resource("g_app") == ("crm_resource", "--resource", "g_app", "--restart")
    assert cmds.cleanup_resource("p") == ("crm_resource", "--cleanup", "--resource", "p")
    assert cmds.cleanup_resource("p", "ha-0")[-2:] == ("--node", "ha-0")
    assert cmds.set_maintenance_mode(True) == (
        "crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", "--update", "true",
    )  # fmt: skip
    assert cmds.set_maintenance_mode(False)[-1] == "false"
    assert cmds.set_node_maintenance("ha-1", True)[:7] == (
        "crm_attribute", "--node", "ha-1", "--name", "maintenance", "--update", "on",
    )  # fmt: skip
    assert cmds.set_node_maintenance("ha-1", False)[6] == "off"


@pytest.mark.parametrize("name", HOSTILE)
def test_action_builders_reject_hostile(name: str) -> None:
    builders: list[Callable[[], object]] = [
        lambda: cmds.standby_node(name),
        lambda: cmds.online_node(name),
        lambda: cmds.move_resource(name, "ha-0"),
        lambda: cmds.move_resource("r", name),
        lambda: cmds.clear_resource(name),
        lambda: cmds.restart_resource(name),
        lambda: cmds.cleanup_resource(name),
        lambda: cmds.cleanup_resource("r", name),
        lambda: cmds.set_node_maintenance(name, True),
    ]
    for build in builders:
        with pytest.raises(InvalidNameError):
            build()


@pytest.mark.skipif(not shutil.which("crm_resource"), reason="pacemaker-cli-utils not installed")
def test_action_options_accepted_by_real_tools(tmp_path: Path) -> None:
    """Every builder's argv parses with the installed Pacemaker tools (no usage error 64)."""
    cib = tmp_path / "cib.xml"
    env = {**os.environ, "CIB_file": str(cib)}
    cib.write_bytes(subprocess.run(["cibadmin", "--empty"], capture_output=True, check=True).stdout)
    for obj, xml in (
        ("nodes", '<node id="1" uname="ha-0"/>'),
        ("nodes", '<node id="2" uname="ha-1"/>'),
        ("resources", '<primitive id="p_x" class="ocf" provider="heartbeat" type="Dummy"/>'),
    ):
        subprocess.run(["cibadmin", "--create", "-o", obj, "-X", xml], env=env, check=True)
    argvs = [
        cmds.standby_node("ha-0"),
        cmds.online_node("ha-0"),
        cmds.move_resource("p_x", "ha-1"),
        cmds.clear_resource("p_x"),
        cmds.restart_resource("p_x"),
        cmds.cleanup_resource("p_x", "ha-0"),
        cmds.set_maintenance_mode(True),
        cmds.set_node_maintenance("ha-0", True),
    ]
    for argv in argvs:
        proc = subprocess.run(
            argv, env=env, capture_output=True, timeout=30, stdin=subprocess.DEVNULL, check=False
        )
        assert proc.returncode != cmds.EXIT_USAGE, (argv, proc.stderr)
        assert b"Unknown option" not in proc.stderr
        assert b"unrecognized option" not in proc.stderr
    text = cib.read_text()
    assert "cli-prefer-p_x" not in text  # moved, then cleared
    assert 'name="maintenance-mode" value="true"' in text
    # the usage error really is 64 (what the crm_mon fallback keys on)
    bogus = subprocess.run(
        ["crm_mon", "--bogus-option"], capture_output=True, stdin=subprocess.DEVNULL, check=False
    )
    assert bogus.returncode == cmds.EXIT_USAGE


# --- BatchCommand ----------------------------------------------------------------------------


def test_batch_command_normalises() -> None:
    c = BatchCommand(name="x", argv=["echo", "a"], fallback_argv=["echo", "b"], fallback_on=[1])  # type: ignore[arg-type]
    assert c.argv == ("echo", "a")
    assert c.fallback_argv == ("echo", "b")
    assert c.fallback_on == frozenset({1})


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"name": "Bad Name", "argv": ("x",)}, InvalidNameError),
        ({"name": "1x", "argv": ("x",)}, InvalidNameError),
        ({"name": "x", "argv": "echo hi"}, TypeError),
        ({"name": "x", "argv": ()}, ValueError),
        ({"name": "x", "argv": ("",)}, ValueError),
        ({"name": "x", "argv": ("echo", 1)}, TypeError),
        ({"name": "x", "argv": ("echo", "a\0b")}, InvalidNameError),
        ({"name": "x", "argv": ("echo",), "stdin": "text"}, TypeError),
        ({"name": "x", "argv": ("echo",), "stdin": b"x" * (cmds.MAX_STDIN_BYTES + 1)}, ValueError),
        ({"name": "x", "argv": ("echo",), "max_bytes": -1}, ValueError),
        ({"name": "x", "argv": ("echo",), "timeout": 0}, ValueError),
        ({"name": "x", "argv": ("echo",), "output_filter": "rm -rf /"}, ValueError),
        ({"name": "x", "argv": ("echo",), "fallback_argv": ("",)}, ValueError),
    ],
)
def test_batch_command_rejects(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        BatchCommand(**kwargs)  # type: ignore[arg-type]


def test_build_rejects_bad_token_and_batches() -> None:
    one = (BatchCommand(name="a", argv=("true",)),)
    for token in ("short", "has space in it 12345", "quote'quote'quote'q", 123):
        with pytest.raises(ValueError, match="token"):
            build_batch_script(one, sudo=False, token=token)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        build_batch_script((), sudo=False, token=TOKEN)
    with pytest.raises(ValueError, match="duplicate"):
        build_batch_script(one + one, sudo=False, token=TOKEN)
    with pytest.raises(ValueError, match="token"):
        parse_batch_output(b"", one, "bad")


# --- scripts run for real


@pytest.mark.parametrize("parallel", [False, True], ids=["in_order", "parallel"])
@pytest.mark.parametrize("shell", SHELLS)
def test_batch_roundtrip(shell: str, parallel: bool, tmp_path: Path) -> None:
    big = 3 * 1024 * 1024
    batch = (
        BatchCommand(name="binary", argv=("printf", r"\000\001\377abc")),
        BatchCommand(name="no_newline", argv=("printf", "no newline")),
        BatchCommand(name="empty", argv=("true",)),
        BatchCommand(name="missing", argv=("hacluster-no-such-program", "x")),
        BatchCommand(name="status", argv=("sh", "-c", "echo out; echo err >&2; exit 3")),
        BatchCommand(name="stdin", argv=("cat",), stdin=b"\x00line1\nl2\xff'\"$(x)%s\\"),
        BatchCommand(name="huge", argv=("head", "-c", str(big), "/dev/zero")),
        BatchCommand(name="capped", argv=("head", "-c", "5000", "/dev/zero"), max_bytes=100),
        BatchCommand(name="unicode", argv=("printf", "%s", "Ünïcode ✓")),
    )
    res = run_batch(batch, shell, cwd=tmp_path, parallel=parallel)
    assert list(res) == [c.name for c in batch]
    assert res["binary"].stdout == b"\x00\x01\xffabc"
    assert res["no_newline"].stdout == b"no newline"
    assert res["empty"].ok
    assert res["empty"].stdout == b""
    assert res["missing"].exit_status == 127
    assert res["missing"].not_found
    assert b"command not found" in res["missing"].stderr
    assert (res["status"].exit_status, res["status"].stdout, res["status"].stderr) == (
        3, b"out\n", b"err\n",
    )  # fmt: skip
    assert res["stdin"].stdout == b"\x00line1\nl2\xff'\"$(x)%s\\"
    assert len(res["huge"].stdout) == big
    assert not res["huge"].truncated
    assert res["capped"].stdout == b"\0" * 100
    assert res["capped"].truncated
    assert res["unicode"].text == "Ünïcode ✓"
    assert all(r.duration >= 0 for r in res.values())
    assert list(tmp_path.iterdir()) == []  # the script cleaned up after itself


@pytest.mark.parametrize("parallel", [False, True], ids=["in_order", "parallel"])
def test_output_cannot_forge_frames(parallel: bool, tmp_path: Path) -> None:
    """Even output that contains this very call's token and frames is read as data."""
    forged = (
        f"{TOKEN} RC evil 0 0 - -\n{TOKEN} OUT second 3 3\nabc\n{TOKEN} END\n{TOKEN} ERR first 0\n"
    ).encode()
    batch = (
        BatchCommand(name="first", argv=("printf", "%s", forged.decode())),
        BatchCommand(name="second", argv=("printf", "ok")),
    )
    script = build_batch_script(batch, sudo=False, token=TOKEN, parallel=parallel)
    res = parse_batch_output(run_script(script, cwd=tmp_path), batch, TOKEN)
    assert res["first"].stdout == forged
    assert res["second"].stdout == b"ok"


def test_chatty_login_shell_is_ignored(tmp_path: Path) -> None:
    batch = (BatchCommand(name="a", argv=("printf", "A")),)
    script = build_batch_script(batch, sudo=False, token=TOKEN)
    proc = subprocess.run(
        ["sh", "-c", "echo 'Welcome! motd'; printf 'no newline junk'; sh -s"],
        input=script.encode(),
        capture_output=True,
        cwd=tmp_path,
        check=True,
    )
    assert parse_batch_output(proc.stdout, batch, TOKEN)["a"].stdout == b"A"


@pytest.mark.parametrize("parallel", [False, True], ids=["in_order", "parallel"])
def test_fallback_on_usage_error(parallel: bool, tmp_path: Path) -> None:
    batch = (
        BatchCommand(
            name="old",
            argv=("sh", "-c", "echo 'unknown option' >&2; exit 64"),
            fallback_argv=("printf", "fallback"),
        ),
        BatchCommand(
            name="new",
            argv=("sh", "-c", "echo not connected; exit 102"),
            fallback_argv=("printf", "fallback"),
        ),
        BatchCommand(
            name="drbd",
            argv=("sh", "-c", "exit 20"),
            fallback_argv=("printf", "text"),
            fallback_on=frozenset({20}),
        ),
    )
    res = run_batch(batch, cwd=tmp_path, parallel=parallel)
    assert res["old"].fallback_used
    assert res["old"].stdout == b"fallback"
    assert res["old"].argv == ("printf", "fallback")
    assert res["old"].ok
    assert res["old"].stderr == b""  # the fallback's own stderr
    assert not res["new"].fallback_used
    assert res["new"].exit_status == 102
    assert res["new"].argv[0] == "sh"
    assert res["drbd"].fallback_used
    assert res["drbd"].stdout == b"text"


@pytest.mark.parametrize("parallel", [False, True], ids=["in_order", "parallel"])
def test_per_command_timeout(parallel: bool, tmp_path: Path) -> None:
    batch = (
        BatchCommand(name="slow", argv=("sleep", "10"), timeout=0.2),
        BatchCommand(name="after", argv=("printf", "still runs")),
    )
    started = time.monotonic()
    res = run_batch(batch, cwd=tmp_path, parallel=parallel)
    assert time.monotonic() - started < 5
    assert res["slow"].timed_out
    assert res["slow"].exit_status == cmds.EXIT_TIMEOUT
    assert res["after"].stdout == b"still runs"


def _fake_bin(tmp_path: Path, name: str, body: str) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    prog = bindir / name
    prog.write_text("#!/bin/sh\n" + body)
    prog.chmod(0o755)
    return bindir


@pytest.mark.parametrize("parallel", [False, True], ids=["in_order", "parallel"])
def test_kernel_log_filter(parallel: bool, tmp_path: Path) -> None:
    lines = [
        f"[{i}.0] drbd r0: line {i}" if i % 2 else f"[{i}.0] eth0: noise {i}" for i in range(3000)
    ]
    lines.append("[9999.0] DRBD module version 9")
    (tmp_path / "log").write_text("\n".join(lines) + "\n")
    bindir = _fake_bin(tmp_path, "dmesg", f"cat {tmp_path}/log\n")
    kernel = next(c for c in POLL_COMMANDS if c.name == cmds.CMD_KERNEL_LOG)
    batch = (kernel, BatchCommand(name="other", argv=("printf", "x")))
    token = TOKEN
    script = build_batch_script(batch, sudo=False, token=token, parallel=parallel)
    env = {**os.environ, "PATH": f"{bindir}:/usr/bin:/bin"}
    proc = subprocess.run(
        ["sh", "-s"], input=script.encode(), capture_output=True, env=env, check=True
    )
    res = parse_batch_output(proc.stdout, batch, token)[cmds.CMD_KERNEL_LOG]
    out = res.text.splitlines()
    assert res.ok
    assert len(out) == 500
    assert out[-1] == "[9999.0] DRBD module version 9"
    assert all("drbd" in line.lower() for line in out)
    assert "noise" not in res.text


@pytest.mark.parametrize("parallel", [False, True], ids=["in_order", "parallel"])
def test_sudo_prefix_only_for_privileged(parallel: bool, tmp_path: Path) -> None:
    bindir = _fake_bin(
        tmp_path, "sudo", f'printf "%s\\n" "$*" >>{tmp_path}/sudo.log\nshift 2\nexec "$@"\n'
    )
    batch = (
        BatchCommand(name="priv", argv=("printf", "p")),
        BatchCommand(name="user", argv=("printf", "u"), privileged=False),
    )
    script = build_batch_script(batch, sudo=True, token=TOKEN, parallel=parallel)
    env = {**os.environ, "PATH": f"{bindir}:/usr/bin:/bin"}
    proc = subprocess.run(
        ["sh", "-s"], input=script.encode(), capture_output=True, env=env, check=True
    )
    res = parse_batch_output(proc.stdout, batch, TOKEN)
    assert res["priv"].stdout == b"p"
    assert res["user"].stdout == b"u"
    logged = (tmp_path / "sudo.log").read_text().splitlines()
    assert len(logged) == 1
    assert logged[0].startswith("-n -- ")
    assert logged[0].endswith("printf p")


# --- parallel batches


def _sleeper(name: str, seconds: float, text: str, *, status: int = 0) -> BatchCommand:
    """Prints its start time (s since the epoch) on stderr, sleeps, prints ``text``."""
    script = f"date +%s.%N >&2; sleep {seconds}; printf %s {text}; exit {status}"
    return BatchCommand(name=name, argv=("sh", "-c", script))


def _started(result: CommandResult) -> float:
    return float(result.stderr.decode().split()[0])


@pytest.mark.parametrize("shell", SHELLS)
def test_parallel_batch_runs_side_by_side_in_order(shell: str, tmp_path: Path) -> None:
    """Sleeping commands overlap (each starts before the one listed before it has ended); the
    frames still come out in the batch's order, although the last command finishes first."""
    batch = (
        _sleeper("slow", 1.2, "A"),
        _sleeper("middle", 0.8, "B", status=3),
        _sleeper("fast", 0.4, "C"),
        BatchCommand(name="missing", argv=("hacluster-no-such-program",)),
    )
    started = time.monotonic()
    res = run_batch(batch, shell, cwd=tmp_path, parallel=True)
    elapsed = time.monotonic() - started
    assert list(res) == ["slow", "middle", "fast", "missing"]
    assert (res["slow"].stdout, res["slow"].exit_status) == (b"A", 0)
    assert (res["middle"].stdout, res["middle"].exit_status) == (b"B", 3)
    assert res["fast"].stdout == b"C"
    assert res["missing"].not_found
    # in order, "middle" would start >= 1.2 s after "slow", and "fast" >= 0.8 s after "middle"
    starts = [_started(res[n]) for n in ("slow", "middle", "fast")]
    assert max(starts) - min(starts) < 0.8
    assert elapsed < 1.2 + 0.8 + 0.4  # less than the sum
    # per-command durations are each command's own (measured on the node)
    assert res["slow"].duration >= 1.1
    assert 0.3 <= res["fast"].duration < 1.1
    assert list(tmp_path.iterdir()) == []


def test_sequential_batch_runs_in_order(tmp_path: Path) -> None:
    """The default keeps the order: the second command sees what the first one did."""
    marker = tmp_path / "marker"
    batch = (
        BatchCommand(name="write", argv=("sh", "-c", f"sleep 0.3; echo one >{marker}")),
        BatchCommand(name="read", argv=("cat", str(marker))),
    )
    res = run_batch(batch, cwd=tmp_path)
    assert res["read"].stdout == b"one\n"
    script = build_batch_script(batch, sudo=False, token=TOKEN)
    assert "wait" not in script
    assert ") >" not in script
    assert "in order" in script.splitlines()[0]


def test_parallel_script_shape() -> None:
    batch = (_sleeper("a", 0, "A"), _sleeper("b", 0, "B"))
    script = build_batch_script(batch, sudo=False, token=TOKEN, parallel=True)
    assert "in parallel" in script.splitlines()[0]
    assert script.count(" &\n") == 2
    assert script.count("\n  wait\n") == 1
    assert '  cat "$_hc_d/0.fr" "$_hc_d/1.fr"\n' in script
    # a single command gains nothing from a subshell
    single = build_batch_script(batch[:1], sudo=False, token=TOKEN, parallel=True)
    assert single == build_batch_script(batch[:1], sudo=False, token=TOKEN)


def test_parallel_timeout_stops_only_the_slow_command(tmp_path: Path) -> None:
    batch = (
        BatchCommand(name="hang", argv=("sleep", "30"), timeout=0.3),
        _sleeper("ok", 0.2, "fine"),
    )
    started = time.monotonic()
    res = run_batch(batch, cwd=tmp_path, parallel=True)
    assert time.monotonic() - started < 5
    assert res["hang"].timed_out
    assert res["ok"].ok
    assert res["ok"].stdout == b"fine"


def test_parallel_subshell_that_dies_is_damaged_output(tmp_path: Path) -> None:
    """A command that kills the subshell running it leaves no frames: a parse error, never a
    result taken from another command's files."""
    batch = (
        BatchCommand(name="first", argv=("printf", "1")),
        BatchCommand(name="killer", argv=("sh", "-c", "kill -9 $PPID")),
        BatchCommand(name="last", argv=("printf", "3")),
    )
    token = "Q" * 8 + os.urandom(8).hex()
    script = build_batch_script(batch, sudo=False, token=token, parallel=True)
    proc = subprocess.run(
        ["sh", "-s"], input=script.encode(), capture_output=True, cwd=tmp_path, check=False
    )
    with pytest.raises(ParseError, match="killer"):
        parse_batch_output(proc.stdout, batch, token)


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("name", HOSTILE)
def test_quoting_keeps_hostile_names_inert(shell: str, name: str, tmp_path: Path) -> None:
    """Bypassing validation: the name still reaches the program as one literal argument."""
    argv = ("printf", "[%s]", name)
    res = run_batch((BatchCommand(name="x", argv=argv),), shell, cwd=tmp_path)["x"]
    assert res.stdout == f"[{name}]".encode()
    # also as a plain command line through sh -c
    out = subprocess.run(
        [shell, "-c", quote_argv(argv)], capture_output=True, cwd=tmp_path, check=True
    ).stdout
    assert out == f"[{name}]".encode()
    assert not (tmp_path / "CANARY").exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_quoting_of_action_argv_bypassing_validation(tmp_path: Path) -> None:
    for name in HOSTILE:
        argv = ("printf", r"%s\000", "crm_resource", "--resource", name, "--move", "--node", name)
        res = run_batch((BatchCommand(name="x", argv=argv),), cwd=tmp_path)["x"]
        assert res.stdout.decode().split("\0")[:-1] == list(argv[2:])
    assert not (tmp_path / "CANARY").exists()


# --- parsing errors


def _frames(name: str = "a", out: bytes = b"x", err: bytes = b"", rc: int = 0) -> bytes:
    t = TOKEN.encode()
    return (
        b"\n" + t + b" BEGIN\n"
        + t + f" OUT {name} {len(out)} {len(out)}\n".encode() + out
        + b"\n" + t + f" ERR {name} {len(err)}\n".encode() + err
        + b"\n" + t + f" RC {name} {rc} 0 1.5 2.25\n".encode()
        + t + b" END\n"
    )  # fmt: skip


def test_parse_synthetic() -> None:
    one = (BatchCommand(name="a", argv=("x",)),)
    res = parse_batch_output(_frames(), one, TOKEN)["a"]
    assert res.stdout == b"x"
    assert res.duration == pytest.approx(0.75)
    # unparsable timestamps (busybox date without %N) give 0.0
    data = _frames().replace(b"1.5 2.25", b"1.%N 2.%N")
    assert parse_batch_output(data, one, TOKEN)["a"].duration == 0.0


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: b"",
        lambda d: d.replace(b"BEGIN", b"BEGUN"),
        lambda d: d[: len(d) // 2],
        lambda d: d[:-4],
        lambda d: d.replace(b" END", b" FIN"),
        lambda d: d.replace(b"OUT a 1 1", b"OUT b 1 1"),
        lambda d: d.replace(b"OUT a 1 1", b"OUT a one 1"),
        lambda d: d.replace(b"OUT a 1 1", b"OUT a 9 9"),
        lambda d: d.replace(b"ERR a", b"ERR b"),
        lambda d: d.replace(b"RC a 0", b"RC b 0"),
        lambda d: d.replace(b"RC a 0", b"RC a x"),
        lambda d: d.replace(b" RC a", b" XX a"),
        lambda d: d.replace(TOKEN.encode() + b" OUT", b"Other0123456789ab OUT"),
    ],
)
def test_parse_rejects_damaged_output(mutate: object) -> None:
    one = (BatchCommand(name="a", argv=("x",)),)
    with pytest.raises(ParseError) as info:
        parse_batch_output(mutate(_frames()), one, TOKEN)  # type: ignore[operator]
    assert info.value.command == "batch"


def test_parse_fatal_setup() -> None:
    one = (BatchCommand(name="a", argv=("x",)),)
    with pytest.raises(CommandError, match="temporary directory"):
        parse_batch_output(
            f"{TOKEN} FATAL cannot create a temporary directory\n".encode(), one, TOKEN
        )
    with pytest.raises(CommandError, match="no newline"):
        parse_batch_output(f"{TOKEN} FATAL no newline".encode(), one, TOKEN)


def test_fatal_when_no_temp_dir(tmp_path: Path) -> None:
    """The real script reports FATAL when mktemp cannot create a directory."""
    bindir = _fake_bin(tmp_path, "mktemp", "exit 1\n")
    batch = (BatchCommand(name="a", argv=("true",)),)
    script = build_batch_script(batch, sudo=False, token=TOKEN)
    env = {**os.environ, "PATH": f"{bindir}:/usr/bin:/bin"}
    proc = subprocess.run(
        ["sh", "-s"], input=script.encode(), capture_output=True, env=env, check=False
    )
    assert proc.returncode == 125
    with pytest.raises(CommandError, match="temporary directory"):
        parse_batch_output(proc.stdout, batch, TOKEN)


# --- results


def _result(status: int | None, stderr: bytes = b"", stdout: bytes = b"") -> CommandResult:
    return CommandResult(argv=("crm_mon", "-1"), exit_status=status, stdout=stdout, stderr=stderr)


def test_command_result_check() -> None:
    ok = _result(0, stdout="é".encode())
    assert ok.ok
    assert ok.check() is ok
    assert ok.text == "é"
    with pytest.raises(PermissionDeniedError) as perm:
        _result(1, b"sudo: a password is required\n").check()
    assert perm.value.exit_status == 1
    assert "password" in perm.value.stderr
    assert _result(1, b"x is not in the sudoers file.  This incident").sudo_denied
    assert not _result(2, b"sudo: a password is required").sudo_denied
    with pytest.raises(NotAClusterNodeError):
        _result(127, b"crm_mon: command not found").check(required=True)
    with pytest.raises(CommandError) as err:
        _result(127, b"crm_mon: command not found").check()
    assert not isinstance(err.value, NotAClusterNodeError)
    assert err.value.command == "crm_mon -1"
    with pytest.raises(CommandError, match="no output"):
        _result(5).check()
    assert _result(124).timed_out
    long = _result(1, b"first\n" + b"y" * 1000 + b"\n\n")
    assert long.stderr_tail().endswith("...")
    assert len(long.stderr_tail()) == 300
    assert _result(0).stderr_tail() == ""
    d = _result(3, b"e\xff", b"o").to_dict()
    assert d == {
        "argv": ["crm_mon", "-1"], "exit_status": 3, "stdout": "o", "stderr": "e\ufffd",
        "duration": 0.0, "fallback_used": False, "truncated": False,
    }  # fmt: skip


def test_batch_result_mapping() -> None:
    r = _result(0)
    batch = BatchResult(node="n1", results={"a": r}, duration=0.5, bytes_read=10)
    assert batch["a"] is r
    assert "a" in batch
    assert "b" not in batch
    assert list(batch) == ["a"]
    assert len(batch) == 1
    assert batch.get("a") is r
    assert batch.get("b") is None


# --- what a poll runs


def test_poll_commands_shape() -> None:
    names = [c.name for c in POLL_COMMANDS]
    assert names == [
        "crm_mon", "cib_constraints", "cib_crm_config", "drbd_status", "drbd_events",
        "kernel_log", "quorum", "links", "hostname",
    ]  # fmt: skip
    by = {c.name: c for c in POLL_COMMANDS}
    assert by["crm_mon"].argv == ("crm_mon", "--output-as=xml", "--exclude=operations")
    assert by["crm_mon"].fallback_argv == ("crm_mon", "--as-xml")
    assert by["crm_mon"].fallback_on == frozenset({64})
    assert by["drbd_status"].fallback_argv == ("drbdadm", "status")
    assert by["drbd_events"].argv == ("drbdsetup", "events2", "--now", "--statistics")
    assert by["kernel_log"].output_filter is OutputFilter.DRBD_KERNEL_LOG
    assert not by["hostname"].privileged
    assert all(c.timeout for c in POLL_COMMANDS)
    probe = {c.name: c for c in PROBE_COMMANDS}
    assert len(probe) == len(PROBE_COMMANDS)
    assert not probe["groups"].privileged
    assert probe["groups"].argv == ("id", "-Gn")
    assert probe["corosync_conf"].argv == ("cat", "/etc/corosync/corosync.conf")
    assert EVENTS2_STREAM_ARGV == ("drbdsetup", "events2", "--timestamps")
    # the whole poll is one script
    script = build_batch_script(POLL_COMMANDS, sudo=True, token=TOKEN)
    assert script.count("_hc_emit ") == len(POLL_COMMANDS)


def test_poll_batch_on_this_host(tmp_path: Path) -> None:
    """The real poll batch runs here (the stack is down, tools may be missing): frames hold."""
    res = run_batch(POLL_COMMANDS, cwd=tmp_path)
    assert set(res) == {c.name for c in POLL_COMMANDS}
    assert res["hostname"].ok
    assert res["hostname"].text.strip() == os.uname().nodename


# --- stream script


def _running(marker: str) -> list[int]:
    """PIDs of processes whose command line mentions ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_stream_script_kills_command_on_eof(tmp_path: Path) -> None:
    marker = f"hacluster-stream-{os.urandom(4).hex()}"
    argv = ("sh", "-c", f"echo first; while :; do sleep 0.05; done # {marker}")
    proc = subprocess.Popen(
        ["sh", "-s"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(build_stream_script(argv, sudo=False).encode())
        proc.stdin.flush()
        assert proc.stdout.readline() == b"first\n"
        assert _running(marker)
        proc.stdin.close()  # the client closed the channel
        assert proc.wait(timeout=5) != 0  # the command was killed
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 3
    while _running(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _running(marker), "the streamed command outlived its channel"


def test_stream_script_missing_program_and_sudo() -> None:
    script = build_stream_script(("hacluster-no-such-program", "x y"), sudo=True)
    assert "sudo -n -- " in script
    assert "'x y'" in script
    proc = subprocess.run(["sh", "-s"], input=script.encode(), capture_output=True, check=False)
    assert proc.returncode == 127
    assert b"command not found" in proc.stderr
    with pytest.raises(TypeError):
        build_stream_script("drbdsetup events2", sudo=False)
