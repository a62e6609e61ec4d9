"""Framing of the replication protocol between two simulated kernels (TCP, port 7788).

Every frame is ``!BIQQI`` (type, volume, sequence, offset, payload length) followed by the
payload: raw block data for DATA/RS_DATA/READ_REPLY, zlib-compressed bitmaps for BITMAP and
JSON for the control frames.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from typing import Any

HEADER = struct.Struct("!BIQQI")

HELLO = 1
STATE = 2
BITMAP = 3
DECISION = 4
DATA = 5
DATA_ACK = 6
FLUSH = 7
FLUSH_ACK = 8
READ_REQ = 9
READ_REPLY = 10
RS_DATA = 11
RS_ACK = 12
RS_DONE = 13
PEER_STATE = 14
PING = 15
PING_ACK = 16
DISCONNECT = 17
TWOPC = 18
TWOPC_REPLY = 19
NEW_UUID = 20
DISCARD = 21


class Closed(Exception):  # noqa: N818 - reads like the state it names
    """The connection is gone."""


class Frame:
    """A received frame."""

    __slots__ = ("kind", "length", "offset", "payload", "seq", "vnr")

    def __init__(self, kind: int, vnr: int, seq: int, offset: int, payload: bytes) -> None:
        """Store the fields."""
        self.kind = kind
        self.vnr = vnr
        self.seq = seq
        self.offset = offset
        self.payload = payload
        self.length = len(payload)

    def json(self) -> Any:
        """The payload decoded as JSON."""
        return json.loads(self.payload.decode())


class Wire:
    """A connected socket with a send lock."""

    def __init__(self, sock: socket.socket) -> None:
        """Wrap a connected TCP socket."""
        self.sock = sock
        self.send_lock = threading.Lock()
        self.closed = False
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(
        self, kind: int, vnr: int = 0, seq: int = 0, offset: int = 0, payload: bytes = b""
    ) -> None:
        """Send one frame (raises Closed)."""
        data = HEADER.pack(kind, vnr, seq, offset, len(payload)) + payload
        with self.send_lock:
            if self.closed:
                raise Closed
            try:
                self.sock.sendall(data)
            except OSError as exc:
                raise Closed from exc

    def send_json(self, kind: int, obj: Any, vnr: int = 0, seq: int = 0) -> None:
        """Send a JSON control frame."""
        self.send(kind, vnr, seq, 0, json.dumps(obj).encode())

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except TimeoutError:
                raise
            except OSError as exc:
                raise Closed from exc
            if not chunk:
                raise Closed
            buf += chunk
        return bytes(buf)

    def recv(self) -> Frame:
        """Receive one frame (raises Closed, TimeoutError with a socket timeout)."""
        head = self._recv_exact(HEADER.size)
        kind, vnr, seq, offset, length = HEADER.unpack(head)
        payload = self._recv_exact(length) if length else b""
        return Frame(kind, vnr, seq, offset, payload)

    def close(self) -> None:
        """Close the socket (idempotent)."""
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()
