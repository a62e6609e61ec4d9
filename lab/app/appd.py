#!/usr/bin/python3
"""The lab's application stand-in: durable, acknowledged writes on the replicated disk.

Started by the OCF agent ``ocf:halab:app`` (lab/app/ocf/app) inside the node that runs the group,
with Debian's /usr/bin/python3 (stdlib only). It appends records to ``DIR/app/records`` and
answers over HTTP on port 8123 (so the VIP serves it like Home Assistant would):

    GET  /status          {"node", "pid", "started", "records", "last_seq", "directory", "device"}
    POST /write?data=TXT  append "seq<TAB>time<TAB>node<TAB>TXT", fsync file (and directory on
                          creation), then answer {"seq": N, "node": ...}: an answer means the
                          record is on disk (on DRBD protocol C: on both nodes)
    GET  /records         the records file as text/plain
    GET  /check           exit-code style health for the agent's monitor (200 or 500)

    appd.py --dir /mnt/home-assistant --port 8123 --pidfile FILE   (runs in the foreground)
    appd.py --probe --port 8123                                  (exit 0 when /check answers 200)
"""
# ruff: noqa: T201, INP001, S104

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
import json
import os
from pathlib import Path
import signal
import socket
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit
import urllib.request


class Store:
    """The append-only records file."""

    def __init__(self, directory: Path) -> None:
        """Open (create) DIR/app/records and count what is there."""
        self.directory = directory
        self.path = directory / "app" / "records"
        created = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if created:
            self._fsync_dir(directory)
        new = not self.path.exists()
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if new:
            os.fsync(self.fd)
            self._fsync_dir(self.path.parent)
        self.last_seq = 0
        self.count = 0
        with self.path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # a torn last line (cannot happen with fsync'ed appends, but be safe)
                seq = line.split("\t", 1)[0]
                if seq.isdigit():
                    self.last_seq = max(self.last_seq, int(seq))
                    self.count += 1

    @staticmethod
    def _fsync_dir(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, node: str, data: str) -> int:
        """Append one record durably; return its sequence number."""
        seq = self.last_seq + 1
        clean = data.replace("\t", " ").replace("\n", " ")
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        line = f"{seq}\t{stamp}\t{node}\t{clean}\n".encode()
        written = os.write(self.fd, line)
        if written != len(line):
            raise OSError(f"short write ({written} of {len(line)} bytes)")
        os.fsync(self.fd)
        self.last_seq = seq
        self.count += 1
        return seq


def mount_source(directory: Path) -> str:
    """The device mounted on directory (from /proc/mounts), or ''."""
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 1 and fields[1] == str(directory):
                return fields[0]
    except OSError:
        pass
    return ""


def make_handler(store: Store, node: str, started: str) -> type[BaseHTTPRequestHandler]:
    """The HTTP handler bound to one store."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "halab-app/1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: the agent's log would fill up with monitor probes."""

        def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, doc: dict[str, Any]) -> None:
            self._send(code, (json.dumps(doc, sort_keys=True) + "\n").encode())

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            """Status, records, check."""
            url = urlsplit(self.path)
            if url.path == "/status":
                self._json(
                    200,
                    {
                        "node": node,
                        "pid": os.getpid(),
                        "started": started,
                        "records": store.count,
                        "last_seq": store.last_seq,
                        "directory": str(store.directory),
                        "device": mount_source(store.directory),
                    },
                )
            elif url.path == "/records":
                self._send(200, store.path.read_bytes(), "text/plain; charset=utf-8")
            elif url.path == "/check":
                ok = store.path.exists()
                self._json(200 if ok else 500, {"ok": ok})
            elif url.path == "/write":
                self.do_POST()
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            """Append one record."""
            url = urlsplit(self.path)
            if url.path != "/write":
                self._json(404, {"error": "not found"})
                return
            data = parse_qs(url.query).get("data", [""])[0]
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                data = self.rfile.read(length).decode("utf-8", "replace") or data
            try:
                seq = store.append(node, data)
            except OSError as err:
                self._json(500, {"error": str(err)})
                return
            self._json(200, {"seq": seq, "node": node})

    return Handler


def probe(port: int) -> int:
    """Exit status 0 when the local daemon answers /check with 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/check", timeout=5) as resp:
            return 0 if resp.status == 200 else 1
    except OSError:
        return 1


def main() -> int:
    """Command line entry."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dir", default="/mnt/home-assistant")
    ap.add_argument("--port", type=int, default=8123)
    ap.add_argument("--pidfile", default="")
    ap.add_argument("--probe", action="store_true")
    ns = ap.parse_args()
    if ns.probe:
        return probe(ns.port)
    node = socket.gethostname()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    store = Store(Path(ns.dir))
    HTTPServer.allow_reuse_address = True
    server = HTTPServer(("0.0.0.0", ns.port), make_handler(store, node, started))

    def stop(_sig: int, _frame: object) -> None:
        os.close(store.fd)
        if ns.pidfile:
            Path(ns.pidfile).unlink(missing_ok=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if ns.pidfile:
        Path(ns.pidfile).write_text(f"{os.getpid()}\n")
    print(f"{started} appd on {node}: {store.path} ({store.count} records), port {ns.port}")
    sys.stdout.flush()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
