"""The load generator: many WebSocket clients in one process, the same for every server.

It uses picows (a Cython WebSocket client) so that one core can receive what the fastest
server sends. Each client subscribes to the benchmark symbol; every received update is
counted, and for every frame the latency of its oldest update (now minus the ``ts`` the
publisher put in it) is recorded. Commands come on stdin, answers go to stdout as JSON
lines (see :mod:`benchmarks.run`).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from collections import Counter
from typing import Any

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from benchmarks.common import SYMBOL, raise_nofile
from benchmarks.control import emit

UPDATE = b'"asset_update"'
TS = b'"ts":'


class Stats:
    def __init__(self) -> None:
        self.updates = 0
        self.frames = 0
        self.latencies: list[float] = []
        self.started = time.monotonic()


stats = Stats()
clients: list[Client] = []
close_codes: Counter[int] = Counter()


class Client(WSListener):
    def __init__(self) -> None:
        self.transport: WSTransport | None = None
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.configured: asyncio.Future[None] | None = None
        self.open = False

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.open = True
        msg = {"type": "subscribe_asset", "data": {"symbol": SYMBOL}}
        transport.send(WSMsgType.TEXT, json.dumps(msg).encode())

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind == WSMsgType.TEXT:
            data = frame.get_payload_as_bytes()
            if data[:1] == b"[":
                n = data.count(UPDATE)
            elif UPDATE in data[:40]:
                n = 1
            else:
                head = data[:40]
                if b'"subscribed"' in head and not self.subscribed.done():
                    self.subscribed.set_result(None)
                elif b'"configured"' in head and self.configured and not self.configured.done():
                    self.configured.set_result(None)
                return
            s = stats
            s.updates += n
            s.frames += 1
            i = data.find(TS)
            if i > 0:
                j = data.find(b"}", i)
                s.latencies.append(time.time() - float(data[i + 5 : j]))
        elif kind == WSMsgType.CLOSE:
            close_codes[frame.get_close_code()] += 1
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.open = False


async def connect(
    url: str,
    count: int,
    concurrency: int = 200,
    sources: list[str] | None = None,
    buffer: int = 16 * 1024,
    timeout: float = 30.0,
) -> dict[str, object]:
    """Open ``count`` clients to ``url``, at most ``concurrency`` handshakes in flight, each
    subscribed before it counts. With ``sources``, client ``i`` binds to source address
    ``sources[i % len(sources)]`` before it connects: each loopback address has its own
    ephemeral ports, so one address's ~28,000 do not cap the count. ``buffer`` is each
    client's initial read buffer (idle clients need little); ``timeout`` bounds each
    client's handshake and its subscribe reply.

    Reports ``seconds``: from the first connect to the last subscribed reply.
    """
    ok = 0
    errors: Counter[str] = Counter()
    sem = asyncio.Semaphore(concurrency)
    started = time.monotonic()
    last = started

    async def one(index: int) -> None:
        nonlocal ok, last
        extra: dict[str, object] = {}
        if sources:
            extra["local_addr"] = (sources[index % len(sources)], 0)
        async with sem:
            try:
                _, client = await ws_connect(
                    Client,
                    url,
                    websocket_handshake_timeout=timeout,
                    read_buffer_init_size=buffer,
                    **extra,
                )
                if client is None:  # picows: the server closed it before the handshake's end
                    raise ConnectionResetError("closed by the server during the handshake")
                await asyncio.wait_for(client.subscribed, timeout)
                clients.append(client)
                ok += 1
                last = time.monotonic()
            except Exception as exc:  # counted and reported: the harness decides
                errors[type(exc).__name__ + ": " + str(exc)[:80]] += 1

    await asyncio.gather(*(one(i) for i in range(count)))
    return {
        "ok": ok,
        "failed": sum(errors.values()),
        "errors": dict(errors.most_common(3)),
        "seconds": last - started,
    }


def connect_options(args: list[str]) -> dict[str, Any]:
    """``key=value`` words after ``connect URL COUNT``: concurrency, sources (comma
    separated addresses), buffer, timeout."""
    opts: dict[str, Any] = {}
    for word in args:
        key, _, value = word.partition("=")
        if key == "sources":
            opts[key] = value.split(",")
        elif key in ("concurrency", "buffer"):
            opts[key] = int(value)
        elif key == "timeout":
            opts[key] = float(value)
        else:
            raise ValueError(f"unknown connect option {key!r}")
    return opts


async def configure_batch() -> int:
    loop = asyncio.get_running_loop()
    waits = []
    msg = json.dumps({"type": "configure", "data": {"batch": True}}).encode()
    for c in clients:
        if c.open and c.transport is not None:
            c.configured = loop.create_future()
            c.transport.send(WSMsgType.TEXT, msg)
            waits.append(c.configured)
    done, _ = await asyncio.wait(waits, timeout=30) if waits else (set(), set())
    return len(done)


def report() -> dict[str, object]:
    s = stats
    lat = sorted(s.latencies)
    n = len(lat)

    def pct(p: float) -> float | None:
        return round(lat[min(n - 1, int(p * n))] * 1000, 2) if n else None

    return {
        "updates": s.updates,
        "frames": s.frames,
        "seconds": time.monotonic() - s.started,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000, 2) if n else None,
        "open": sum(1 for c in clients if c.open),
        "close_codes": dict(close_codes),
    }


async def main() -> None:
    global stats
    raise_nofile()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    emit(event="ready", pid=os.getpid())
    while True:
        line = (await reader.readline()).decode().strip()
        if not line or line == "quit":
            break
        cmd, _, arg = line.partition(" ")
        if cmd == "connect":
            url, count, *rest = arg.split()
            try:
                options = connect_options(rest)
            except ValueError as exc:
                emit(event="error", message=str(exc))
                continue
            emit(event="connected", **(await connect(url, int(count), **options)))
        elif cmd == "limits":
            emit(event="limits", fd_limit=resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        elif cmd == "batch":
            emit(event="batch", configured=await configure_batch())
        elif cmd == "reset":
            stats = Stats()
            emit(event="ok")
        elif cmd == "count":
            emit(event="count", updates=stats.updates)
        elif cmd == "report":
            emit(event="report", **report())
        else:
            emit(event="error", message=f"unknown command {line!r}")
    for c in clients:
        if c.open and c.transport is not None:
            c.transport.disconnect()


if __name__ == "__main__":
    uvloop.run(main())
