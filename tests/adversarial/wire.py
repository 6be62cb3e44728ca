"""Small helpers to talk to a real server the way a hostile or careless client does.

:class:`RawSocket` speaks WebSocket by hand over a blocking socket, so a test can stop
reading (the kernel buffers fill), send control frames the client libraries would never
send, and read back exactly what arrived, close frame included. Every wait is bounded.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def get_json(url: str, timeout: float = 5.0) -> tuple[int, Any]:
    """(status, parsed body) of a GET; the body is None when it is not JSON."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def active_connections(base_url: str) -> int | None:
    """The server's own count of open WebSocket connections (``/realtime/health/``)."""
    try:
        _, body = get_json(base_url + "/realtime/health/")
    except OSError:
        return None
    return body.get("active_connections") if isinstance(body, dict) else None


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455 §5.2)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


@dataclass
class Frame:
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        if self.opcode != OP_CLOSE or len(self.payload) < 2:
            return None
        return int(struct.unpack("!H", self.payload[:2])[0])

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class RawSocket:
    """A WebSocket client written by hand: it reads only when told to."""

    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)

    @classmethod
    def connect(
        cls, port: int, *, rcvbuf: int | None = None, path: str = "/ws/realtime/"
    ) -> RawSocket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Before connect, so the advertised window is small from the start.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        raw = cls(sock)
        while b"\r\n\r\n" not in raw.buffer:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            raw.buffer += chunk
        head, _, rest = bytes(raw.buffer).partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(head.decode(errors="replace"))
        raw.buffer = bytearray(rest)
        return raw

    def send(self, opcode: int, payload: bytes) -> None:
        self.sock.sendall(encode_frame(opcode, payload))

    def send_json(self, message: dict[str, Any]) -> None:
        self.send(OP_TEXT, json.dumps(message).encode())

    def _parse_one(self) -> Frame | None:
        buf = self.buffer
        if len(buf) < 2:
            return None
        opcode, n, pos = buf[0] & 0x0F, buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                return None
            n, pos = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n, pos = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < pos + n:
            return None
        frame = Frame(opcode, bytes(buf[pos : pos + n]))
        del buf[: pos + n]
        return frame

    def recv(self, timeout: float = 10.0) -> Frame:
        """The next frame; raises TimeoutError, or ConnectionError at end of stream."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._parse_one()
            if frame is not None:
                return frame
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("end of stream")
            self.buffer += chunk

    def recv_json(self, kind: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """The next text message (of type ``kind``, skipping others)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.recv(max(0.01, deadline - time.monotonic()))
            if frame.opcode == OP_CLOSE:
                raise ConnectionError(f"closed with {frame.close_code}")
            if frame.opcode == OP_TEXT:
                message = frame.json()
                if kind is None or (isinstance(message, dict) and message.get("type") == kind):
                    return message

    def drain(self, timeout: float = 30.0) -> tuple[int, int | None, str]:
        """Read everything left, bounded in time: (text frames, close code, how it ended)."""
        deadline = time.monotonic() + timeout
        texts = 0
        while time.monotonic() < deadline:
            try:
                frame = self.recv(max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                return texts, None, "still open"
            except ConnectionError:
                return texts, None, "end of stream"
            except OSError as exc:  # a reset: the server aborted the connection
                return texts, None, type(exc).__name__
            if frame.opcode == OP_TEXT:
                texts += 1
            elif frame.opcode == OP_CLOSE:
                return texts, frame.close_code, "close frame"
        return texts, None, "still open"

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
