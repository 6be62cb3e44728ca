"""The direct-write fan-out path of a real server: batching, slow consumers, frame format."""

import asyncio
import base64
import json
import os
import socket
import struct
import time
import urllib.request

import pytest
from websockets.asyncio.client import connect

from tickwire.realtime.fastws import text_frame

pytestmark = pytest.mark.e2e


async def recv(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def test_text_frame_headers_for_each_length_class():
    for size, header in ((5, b"\x81\x05"), (300, b"\x81\x7e\x01\x2c")):
        payload = b"x" * size
        assert text_frame(payload) == header + payload
    big = b"y" * 70_000
    assert text_frame(big) == b"\x81\x7f" + struct.pack("!Q", 70_000) + big
    assert text_frame(big) is text_frame(big)  # one shared frame: built once for all clients


async def test_batching_client_gets_arrays_of_every_update_others_get_objects(server):
    # close_timeout: neither client reads to the end, so do not wait on closing handshakes.
    async with (
        connect(server.ws_url, close_timeout=0.2) as batched,
        connect(server.ws_url, close_timeout=0.2) as plain,
    ):
        for ws in (batched, plain):
            assert (await recv(ws))["type"] == "connection"
        await batched.send(json.dumps({"type": "configure", "data": {"batch": True}}))
        assert (await recv(batched)) | {"timestamp": None} == {
            "type": "configured",
            "data": {"batch": True},
            "timestamp": None,
        }
        for ws in (batched, plain):
            await ws.send(json.dumps({"type": "subscribe_asset", "data": {"symbol": "AAPL"}}))
        seqs: list[int] = []
        arrays = 0
        deadline = time.monotonic() + 20
        while len(seqs) < 30 and time.monotonic() < deadline:
            msg = await recv(batched)
            if isinstance(msg, list):
                arrays += 1
                seqs.extend(m["seq"] for m in msg if m["type"] == "asset_update")
            elif msg["type"] == "asset_update":
                seqs.append(msg["seq"])
        assert arrays > 0
        # Batching never conflates: after the snapshot, every seq arrives, in order.
        assert seqs[1:] == list(range(seqs[1], seqs[1] + len(seqs) - 1))
        for _ in range(10):
            msg = await recv(plain)
            assert isinstance(msg, dict)


def _raw_websocket(port: int, rcvbuf: int) -> socket.socket:
    """A client socket with a tiny receive buffer that we can stop reading from."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/realtime/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _send_text(sock: socket.socket, text: str) -> None:
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    if len(payload) < 126:
        header = bytes((0x81, 0x80 | len(payload)))
    else:
        header = bytes((0x81, 0x80 | 126)) + struct.pack("!H", len(payload))
    sock.sendall(header + mask + masked)


def _read_until_close(sock: socket.socket, limit: float = 30) -> int | None:
    """Read frames until the close frame; returns its code (None if the socket ended)."""
    buf = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        while len(buf) >= 2:
            opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
            at = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, at = struct.unpack("!H", buf[2:4])[0], 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, at = struct.unpack("!Q", buf[2:10])[0], 10
            if len(buf) < at + n:
                break
            if opcode == 0x8:
                return struct.unpack("!H", buf[at : at + 2])[0]
            buf = buf[at + n :]
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return None
        if not chunk:
            return None
        buf += chunk
    return None


def _total_connections(server) -> int:
    with urllib.request.urlopen(server.url + "/realtime/status/", timeout=5) as r:
        return json.loads(r.read())["global_stats"]["total_connections"]


async def test_slow_client_is_closed_with_4001_while_a_fast_one_keeps_receiving(make_server):
    srv = make_server(
        env={
            "REALTIME_UPDATE_INTERVAL": "0.002",
            "REALTIME_BATCH_SIZE": "100",
            "TICKWIRE_SLOW_CLIENT_SECONDS": "1",
        }
    )
    with urllib.request.urlopen(srv.url + "/api/assets/", timeout=5) as r:
        listing = json.loads(r.read())
    symbols = [a["symbol"] for a in listing.get("results", listing)]
    slow = await asyncio.to_thread(_raw_websocket, srv.port, 4096)
    try:
        _send_text(slow, json.dumps({"type": "subscribe", "symbols": symbols[:10]}))
        async with connect(srv.ws_url) as fast:
            await recv(fast)
            await fast.send(json.dumps({"type": "subscribe_asset", "data": {"symbol": "AAPL"}}))
            # The slow client reads nothing: its socket buffers fill, the server stops
            # writing to it, and it falls behind until the server drops it.
            received = 0
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                msg = await recv(fast)
                received += msg["type"] == "asset_update"
                if received % 20 == 0 and await asyncio.to_thread(_total_connections, srv) == 1:
                    break
            assert await asyncio.to_thread(_total_connections, srv) == 1
            # Drain the slow socket now: the close frame sits behind the updates already in
            # the buffers, and the server aborts a peer that has not read it within its
            # close timeout, which a loaded machine could otherwise let pass.
            closing = asyncio.ensure_future(asyncio.to_thread(_read_until_close, slow))
            before = received
            for _ in range(10):  # the fast client is unaffected, before and after
                received += (await recv(fast))["type"] == "asset_update"
            assert before > 0 and received > before
        code = await closing
        assert code == 4001
    finally:
        slow.close()
