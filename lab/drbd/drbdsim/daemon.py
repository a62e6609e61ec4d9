"""The per-resource daemon: the simulated kernel plus its control socket.

Started by ``drbdadm up``/``adjust`` (``python3 -m drbdsim.daemon RES CONFIG``), it lives until
``down`` (or until the node dies). Requests are JSON lines on ``<run>/<res>.ctl``; ``events``
turns the connection into a stream of JSON lines.
"""
# ruff: noqa: PTH108, PTH118, PTH123
# (os-level code: file descriptors, device nodes and syscalls; stdlib on Debian's python3)

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import sys
import threading
import traceback
from typing import Any

from . import paths
from .kernel import Kernel, OpError

OPS = (
    "up",
    "attach",
    "connect",
    "disconnect",
    "primary",
    "secondary",
    "detach",
    "new-current-uuid",
    "outdate",
    "adjust",
    "down",
)


def _send(conn: socket.socket, obj: dict[str, Any]) -> None:
    conn.sendall((json.dumps(obj) + "\n").encode())


def _run_op(kernel: Kernel, req: dict[str, Any]) -> dict[str, Any]:
    op = req["op"]
    pid = int(req.get("pid", 0))
    try:
        if op == "up":
            kernel.op_up(pid)
        elif op == "attach":
            kernel.op_attach(int(req["volume"]))
        elif op == "connect":
            kernel.op_connect(req.get("peer"), bool(req.get("discard")), pid)
        elif op == "disconnect":
            kernel.op_disconnect(req.get("peer"))
        elif op == "primary":
            kernel.op_primary(bool(req.get("force")))
        elif op == "secondary":
            kernel.op_secondary()
        elif op == "detach":
            kernel.op_detach(req.get("volume"))
        elif op == "new-current-uuid":
            kernel.op_new_current_uuid(req.get("volume"), bool(req.get("clear_bitmap")))
        elif op == "outdate":
            kernel.op_outdate()
        elif op == "adjust":
            kernel.op_adjust(pid)
        elif op == "down":
            kernel.op_down()
    except OpError as exc:
        return {"rc": exc.rc, "err": exc.text, "cmd": exc.cmd}
    return {"rc": 0}


def _client(kernel: Kernel, conn: socket.socket) -> None:
    with conn:
        f = conn.makefile("r", encoding="utf-8")
        line = f.readline()
        if not line:
            return
        try:
            req = json.loads(line)
        except ValueError:
            return
        op = req.get("op")
        if op == "status":
            _send(conn, {"rc": 0, "state": kernel.snapshot()})
        elif op == "ping":
            _send(conn, {"rc": 0, "pid": os.getpid()})
        elif op == "events":
            q, snap = kernel.subscribe()
            try:
                _send(conn, {"type": "snapshot", "state": snap})
                while True:
                    try:
                        msg = q.get(timeout=1.0)
                    except queue.Empty:
                        if kernel.destroyed.is_set():
                            return
                        continue
                    _send(conn, msg)
                    if msg.get("type") == "destroy":
                        return
            except OSError:
                return
            finally:
                kernel.unsubscribe(q)
        elif op in OPS:
            _send(conn, _run_op(kernel, req))
        else:
            _send(conn, {"rc": 20, "err": f"unknown op {op}\n"})


def main(argv: list[str]) -> int:
    """``daemon.py RESOURCE CONFIG``."""
    name, cfgpath = argv[1], argv[2]
    run = paths.ensure_run_dir()
    sock_path = paths.ctl_socket(name)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(sock_path)
        running = True
    except OSError:
        running = False
    finally:
        probe.close()
    if running:
        sys.stderr.write(f"{name}: a daemon is already running\n")
        return 1
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sock_path)
    kernel = Kernel(name, cfgpath, socket.gethostname())
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(64)
    with open(os.path.join(run, f"{name}.pid"), "w", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()}\n")

    def accept() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=_client, args=(kernel, conn), daemon=True).start()

    threading.Thread(target=accept, daemon=True, name="ctl").start()
    kernel.destroyed.wait()
    srv.close()
    for path in (sock_path, os.path.join(run, f"{name}.pid")):
        with contextlib.suppress(OSError):
            os.unlink(path)
    # let streaming clients read their destroy message
    threading.Event().wait(0.3)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception:  # noqa: BLE001 - log, then die like a crashed module would
        traceback.print_exc()
        sys.exit(1)
