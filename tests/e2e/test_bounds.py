"""What one client can make a real server hold: raw sockets that misbehave on purpose."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
import urllib.request

import pytest

pytestmark = pytest.mark.e2e

SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "SPY", "BTC-USD", "ETH-USD"]


def open_raw(port: int, rcvbuf: int | None = None) -> socket.socket:
    """A WebSocket opened by hand, so the test decides when (and whether) to read."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/realtime/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (mask of zeros: the payload goes as is)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    else:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    return header + b"\0\0\0\0" + payload


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    def exact(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("EOF before a close frame")
            data += chunk
        return data

    b0, b1 = exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", exact(8))[0]
    return b0 & 0x0F, exact(n)


def read_until_close(sock: socket.socket, max_frames: int = 200_000) -> int:
    """Read frames until the close frame; its code."""
    for _ in range(max_frames):
        opcode, payload = read_frame(sock)
        if opcode == 0x8:
            return struct.unpack("!H", payload[:2])[0]
    raise AssertionError("no close frame")


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def active_connections(server) -> int:
    with urllib.request.urlopen(server.url + "/realtime/health/", timeout=5) as r:
        return json.loads(r.read())["active_connections"]


def test_pings_from_a_client_that_never_reads_are_bounded(make_server):
    server = make_server({"TICKWIRE_SLOW_CLIENT_SECONDS": "2"})
    before = vm_rss_kib(server.proc.pid)
    sock = open_raw(server.port, rcvbuf=4096)
    ping = frame(0x9, b"p" * 125)
    burst = ping * 2000  # ~260 KB of pings per send
    sock.settimeout(3)
    sent = 0
    with pytest.raises((TimeoutError, ConnectionError)):
        while sent < 128 * 1024 * 1024:  # bounded: the server must stop us long before
            sent += sock.send(burst)
    # The server stopped reading once its pongs filled the send buffer: what got in is
    # what the kernel buffers on both sides hold, not everything the client sent.
    # (About 4 MB and 2 MB here; unbounded, 128 MB went in and the server grew by as much.)
    assert sent < 16 * 1024 * 1024
    assert vm_rss_kib(server.proc.pid) - before < 24 * 1024
    sock.close()


def test_a_reader_that_stalls_gets_the_4001_close_when_it_reads_again(make_server):
    server = make_server({"TICKWIRE_SLOW_CLIENT_SECONDS": "0.5"})
    sock = open_raw(server.port, rcvbuf=4096)
    request = {"type": "subscribe_asset", "data": {"symbols": SYMBOLS}}
    sock.sendall(frame(0x1, json.dumps(request).encode()))
    # Stall: read nothing while updates keep coming. The client's small receive buffer
    # fills, the server's bytes stop being acknowledged, and the server notices.
    time.sleep(4)
    assert read_until_close(sock) == 4001
    sock.close()
    for _ in range(100):
        if active_connections(server) == 0:
            break
        time.sleep(0.05)
    assert active_connections(server) == 0


def test_more_messages_in_one_read_than_the_receive_queue_holds_is_a_flood(make_server):
    server = make_server(
        {
            "TICKWIRE_RECEIVE_QUEUE_LIMIT": "16",
            # The message rate limit must not be what closes it.
            "TICKWIRE_RATE_LIMIT_PER_SECOND": "100000",
            "TICKWIRE_RATE_LIMIT_BURST": "100000",
        }
    )
    sock = open_raw(server.port)
    opcode, hello = read_frame(sock)
    assert json.loads(hello)["type"] == "connection"
    sock.sendall(frame(0x1, b'{"type":"ping"}') * 200)  # one segment, one read
    opcode, payload = 0, b""
    for _ in range(300):
        opcode, payload = read_frame(sock)
        if opcode == 0x8:
            break
    assert opcode == 0x8 and struct.unpack("!H", payload[:2])[0] == 1008
    assert b"TICKWIRE_RECEIVE_QUEUE_LIMIT" in payload
    sock.close()
