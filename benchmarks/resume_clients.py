"""Load generator of the cluster benchmarks: many clients that reconnect and resume.

One process holds many picows clients, each subscribed to one symbol. Each reconnects on
its own as ``tickwire.client.Client`` does: the same :class:`~tickwire.client.Backoff`
policy (exponential, jittered; attempts counted again after ``stable_after`` seconds up,
an immediate retry on 1012), and in ``--mode resume`` the client's own sans-I/O
:class:`~tickwire.client.session.Session` decides what to subscribe after a reconnect
(``since`` and ``epoch`` of the last update seen) and what a reply means. Beside the
session each client checks its stream itself: after a ``subscribed`` that says
``recovered: true`` the next update must be the one after the last seen, and later ones
follow on; a skip that no ``recovered: false`` or ``resync`` announced is counted as
unannounced (at the resume, or within a live connection). ``--mode light`` (the
deployment path) reads only ``seq`` and ``timestamp`` of each update with orjson.

Latency is receipt time minus the update's ``timestamp`` (the time the source stamped its
tick, ISO-8601 with milliseconds, truncated: a figure is at most 1 ms high). Commands on
stdin, JSON lines on stdout (like :mod:`benchmarks.loadgen`):

* ``connect URL COUNT SYM,SYM,...``: open COUNT clients, client i on symbol i mod n;
  answers ``connected`` once each is subscribed or has failed its first attempt;
* ``reset``: start a new latency window;
* ``report``: latency of the window, counters;
* ``status T``: the clients' resumes after monotonic time T (see :mod:`benchmarks.storm`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from datetime import UTC, datetime

import orjson
import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from benchmarks.common import raise_nofile
from benchmarks.control import emit
from tickwire.client.backoff import Backoff
from tickwire.client.closes import reconnect_at_once
from tickwire.client.events import Gap
from tickwire.client.session import Session
from tickwire.stream.messages import AssetUpdate, Connected, Subscribed
from tickwire.stream.protocol import SubscribeAssets, encode_request

_seconds: dict[str, float] = {}
_UPDATE = b'{"type":"asset_update"'


def stamp_time(ts: str) -> float:
    """Epoch seconds of ``2026-11-30T08:40:00.123Z`` (seconds parsed once, then cached)."""
    head = ts[:19]
    base = _seconds.get(head)
    if base is None:
        base = datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp()
        if len(_seconds) > 4096:
            _seconds.clear()
        _seconds[head] = base
    return base + int(ts[20:23]) / 1000.0


class Window:
    """Latencies and counts since the last ``reset``."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.updates = 0
        self.started = time.monotonic()


window = Window()


class Peer:
    """One client across its connections: session, backoff and the checks."""

    __slots__ = (
        "attempt",
        "closed",
        "connected_at",
        "connects",
        "failures",
        "fresh",
        "immediate_left",
        "last",
        "link",
        "mode",
        "recovered_false",
        "recovered_true",
        "resumed_at",
        "session",
        "skips_live",
        "skips_resume",
        "subscribed",
        "symbol",
        "url",
    )

    def __init__(self, url: str, symbol: str, mode: str) -> None:
        self.url = url
        self.symbol = symbol
        self.mode = mode
        self.session = Session()
        self.session.want_symbols([symbol])
        self.attempt = 0
        self.immediate_left = True
        self.link: Link | None = None
        self.closed: asyncio.Future[int | None] | None = None
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.connected_at = 0.0
        self.resumed_at = 0.0  # monotonic time of the last ``subscribed`` reply
        self.connects = 0
        self.failures = 0
        self.last: int | None = None  # the last seq seen, None after an announced gap
        self.fresh = False  # the next update is the first after a recovered resume
        self.recovered_true = 0
        self.recovered_false = 0
        self.skips_resume = 0
        self.skips_live = 0

    async def run(self, backoff: Backoff, rng: random.Random) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.closed = loop.create_future()
            try:
                await ws_connect(
                    lambda: Link(self),
                    self.url,
                    websocket_handshake_timeout=30,
                    read_buffer_init_size=4096,
                )
            except Exception:
                self.failures += 1
                lived, code = 0.0, None
            else:
                established = time.monotonic()
                code = await self.closed
                lived = time.monotonic() - established
            if lived >= backoff.stable_after:
                self.attempt = 0
                self.immediate_left = True
            if lived > 0 and self.immediate_left and reconnect_at_once(code):
                self.immediate_left = False
                continue
            self.attempt += 1
            await asyncio.sleep(backoff.delay(self.attempt, rng))

    # -- frames (resume mode) -----------------------------------------------------------------

    def on_text(self, link: Link, data: bytes, now: float) -> None:
        session = self.session
        if data.startswith(_UPDATE):
            # The common frame, typed without validating every field (the clients share
            # one core): the session still sees each update and keeps its stream position.
            raw = orjson.loads(data)
            body = raw["data"]
            update = AssetUpdate(
                "asset_update",
                body,
                raw.get("timestamp"),
                None,
                raw.get("seq"),
                symbol=body["symbol"],
                price=body["price"],
                change=None,
                change_percent=None,
                volume=None,
                high=None,
                low=None,
                previous_close=None,
                currency=None,
            )
            if session.receive(update):
                self.on_update(update.seq, update.timestamp)
            return
        for message in session.parse(data):
            if isinstance(message, Connected):
                for out in session.subscriptions():
                    link.send(out.text.encode())
                continue
            for event in session.receive(message):
                if isinstance(event, AssetUpdate):
                    self.on_update(event.seq, event.timestamp)
                elif isinstance(event, Gap):
                    self.last = None  # announced: the stream starts again at the snapshot
            if isinstance(message, Subscribed):
                self.on_subscribed(message, now)
        if session.retry_due:
            # As Client does: ask again after one backoff delay (internal_error).
            session.retry_due = False
            asyncio.get_running_loop().call_later(Backoff().delay(1), self.resubscribe, link)

    def resubscribe(self, link: Link) -> None:
        if self.link is link:
            for out in self.session.subscriptions():
                link.send(out.text.encode())

    def on_subscribed(self, reply: Subscribed, now: float) -> None:
        pos = reply.streams.get(self.symbol)
        if pos is None:
            return
        self.resumed_at = now
        if pos.recovered is True:
            self.recovered_true += 1
            self.fresh = True
        else:
            if pos.recovered is False:
                self.recovered_false += 1
            self.last = None  # a snapshot follows: the stream starts there
            self.fresh = False
        if not self.subscribed.done():
            self.subscribed.set_result(None)

    def on_update(self, seq: int | None, timestamp: str | None) -> None:
        w = window
        w.updates += 1
        if timestamp is not None:
            w.latencies.append(time.time() - stamp_time(timestamp))
        if seq is None:
            return
        last = self.last
        if last is not None and seq > last + 1:
            if self.fresh:
                self.skips_resume += 1
            else:
                self.skips_live += 1
        self.fresh = False
        if last is None or seq > last:
            self.last = seq

    # -- frames (light mode) ------------------------------------------------------------------

    def on_light(self, link: Link, data: bytes, now: float) -> None:
        if data.startswith(b'{"type":"asset_update"'):
            message = orjson.loads(data)
            self.on_update(message.get("seq"), message.get("timestamp"))
        elif data.startswith(b'{"type":"connection"'):
            request = SubscribeAssets(None, (self.symbol,), {}, None)
            link.send(encode_request(request))
        elif data.startswith(b'{"type":"subscribed"'):
            self.resumed_at = now
            self.last = None
            if not self.subscribed.done():
                self.subscribed.set_result(None)


class Link(WSListener):
    """One connection of a :class:`Peer`."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.transport: WSTransport | None = None
        self.code: int | None = None

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.send(WSMsgType.TEXT, data)

    def on_ws_connected(self, transport: WSTransport) -> None:
        peer = self.peer
        self.transport = transport
        peer.link = self
        peer.connects += 1
        peer.connected_at = time.monotonic()
        peer.session.connected()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind == WSMsgType.TEXT:
            data = frame.get_payload_as_bytes()
            peer = self.peer
            if peer.mode == "resume":
                peer.on_text(self, data, time.monotonic())
            else:
                peer.on_light(self, data, time.monotonic())
        elif kind == WSMsgType.CLOSE:
            code = frame.get_close_code()
            self.code = int(code.value)
            transport.send_close(code)
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        peer = self.peer
        peer.session.disconnected()
        peer.session.answers()
        if peer.link is self:
            peer.link = None
        if peer.closed is not None and not peer.closed.done():
            peer.closed.set_result(self.code)


peers: list[Peer] = []
tasks: list[asyncio.Task[None]] = []


async def connect(url: str, count: int, names: list[str], mode: str) -> dict[str, object]:
    backoff = Backoff()  # tickwire.client.Client's default policy
    rng = random.Random(os.getpid())
    start = len(peers)
    new = [Peer(url, names[(start + i) % len(names)], mode) for i in range(count)]
    peers.extend(new)
    # The first connections go out 200 at a time (an orderly start); reconnects later are
    # each client's own, on its backoff.
    batch = 200
    for i in range(0, count, batch):
        group = new[i : i + batch]
        tasks.extend(asyncio.ensure_future(p.run(backoff, rng)) for p in group)
        await asyncio.wait([p.subscribed for p in group], timeout=30)
    ok = sum(1 for p in new if p.subscribed.done())
    stuck = [p for p in new if not p.subscribed.done()]
    return {
        "ok": ok,
        "failed": count - ok,
        "failed_attempts": sum(p.failures for p in new),
        "stuck": [
            {"connects": p.connects, "failures": p.failures, "open": p.link is not None}
            for p in stuck[:5]
        ],
    }


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def _ms(x: float | None) -> float | None:
    return None if x is None else round(x * 1000, 2)


def counters() -> dict[str, int]:
    return {
        "clients": len(peers),
        "connected": sum(1 for p in peers if p.link is not None),
        "recovered_true": sum(p.recovered_true for p in peers),
        "recovered_false": sum(p.recovered_false for p in peers),
        "gaps_announced": sum(p.session.gaps for p in peers),
        "skips_resume": sum(p.skips_resume for p in peers),
        "skips_live": sum(p.skips_live for p in peers),
        "duplicates": sum(p.session.duplicates for p in peers),
        "failed_attempts": sum(p.failures for p in peers),
        "connects": sum(p.connects for p in peers),
    }


def report() -> dict[str, object]:
    w = window
    lat = w.latencies
    return {
        "updates": w.updates,
        "seconds": time.monotonic() - w.started,
        "samples": len(lat),
        "p50_ms": _ms(_pct(lat, 0.50)),
        "p99_ms": _ms(_pct(lat, 0.99)),
        "max_ms": _ms(max(lat) if lat else None),
        **counters(),
    }


def status(since: float) -> dict[str, object]:
    """How many clients resumed (got ``subscribed``) after monotonic time ``since``."""
    resumed = [p.resumed_at for p in peers if p.resumed_at > since and p.link is not None]
    connected = [p.connected_at for p in peers if p.connected_at > since]
    return {
        "resumed": len(resumed),
        "last_resumed_at": max(resumed) if resumed else None,
        "first_connected_at": min(connected) if connected else None,
        "resumed_p50_at": _pct(resumed, 0.50),
        "resumed_p99_at": _pct(resumed, 0.99),
        **counters(),
    }


async def main(mode: str) -> None:
    global window
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
            url, count, names = arg.split()
            emit(event="connected", **(await connect(url, int(count), names.split(","), mode)))
        elif cmd == "reset":
            window = Window()
            emit(event="ok")
        elif cmd == "report":
            emit(event="report", **report())
        elif cmd == "status":
            emit(event="status", **status(float(arg)))
        else:
            emit(event="error", message=f"unknown command {line!r}")
    for task in tasks:
        task.cancel()
    for p in peers:
        if p.link is not None and p.link.transport is not None:
            p.link.transport.disconnect()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.resume_clients")
    parser.add_argument("--mode", choices=("resume", "light"), default="resume")
    uvloop.run(main(parser.parse_args().mode))
