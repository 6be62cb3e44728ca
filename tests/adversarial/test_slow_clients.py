"""Slow and never-reading clients beside normal ones, on one real server.

The protocol's promise (docs/protocol.md, close 4001): a client that does not read is
closed with 4001 once it stays behind for ``TICKWIRE_SLOW_CLIENT_SECONDS``, and nothing
waits on it — the other clients keep getting every update (``seq`` strictly increasing;
a skip is the documented conflation of a client that itself fell behind) at the same
latency. Latency is the update's receive time minus its tick ``timestamp`` (one clock:
the same machine); it is reported, and bounded only generously.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.servers import ServerProcess, wait_until

from .figures import describe_latencies, report
from .wire import RawSocket, active_connections, get_json

pytestmark = pytest.mark.e2e

SLOW_SECONDS = 2.0
#: uvicorn's close timeout: how long a graceful close may wait before the transport is
#: aborted (a client that never reads never answers the close frame).
CLOSE_TIMEOUT = 10.0
NEVER_READERS = 20
NORMAL = 10
#: A generous bound for a normal client's p99 latency beside the never-readers; today's
#: code stays far below it (see the reported figures).
P99_BOUND_MS = 1000.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(
        tmp_path_factory.mktemp("slow"),
        env={"TICKWIRE_SLOW_CLIENT_SECONDS": str(SLOW_SECONDS)},
    ).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def symbols(server) -> list[str]:
    _, body = get_json(server.url + "/api/assets/")
    rows = body["results"] if isinstance(body, dict) else body
    found = sorted(row["symbol"] for row in rows)
    assert len(found) >= 10
    return found


def never_reader(port: int, symbols: list[str]) -> RawSocket:
    """Subscribed to everything, with a 4 KiB receive buffer, and never reads again."""
    raw = RawSocket.connect(port, rcvbuf=4096)
    raw.recv_json("connection")
    raw.send_json({"type": "subscribe_asset", "data": {"symbols": symbols}})
    raw.recv_json("subscribed")
    return raw


SLOW_READERS = 5


def slow_reader(port: int, symbols: list[str], seconds: float) -> dict:
    """Subscribed to everything, reading one frame every 20 ms (the updates come at ~300/s):
    it falls behind, and the server may conflate its updates or close it with 4001."""
    raw = RawSocket.connect(port, rcvbuf=4096)
    seqs: dict[str, list[int]] = {}
    latencies: list[float] = []
    close_code = None
    ended = "still open"
    try:
        raw.recv_json("connection")
        raw.send_json({"type": "subscribe_asset", "data": {"symbols": symbols}})
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            try:
                frame = raw.recv(timeout=10)
            except OSError as exc:  # end of stream or reset: the server gave up on it
                ended = type(exc).__name__
                break
            if frame.opcode == 0x8:
                close_code, ended = frame.close_code, "close frame"
                break
            message = frame.json()
            if message.get("type") == "asset_update":
                seqs.setdefault(message["data"]["symbol"], []).append(message["seq"])
                sent = datetime.fromisoformat(message["timestamp"]).timestamp()
                latencies.append((time.time() - sent) * 1000)
            time.sleep(0.02)
    finally:
        raw.close()
    return {"seqs": seqs, "latencies": latencies, "close_code": close_code, "ended": ended}


class Reader:
    """A normal client: reads everything, as fast as it arrives."""

    def __init__(self) -> None:
        self.ws: ClientConnection | None = None
        self.seqs: dict[str, list[int]] = {}
        self.latencies: list[float] = []

    async def start(self, url: str, symbols: list[str]) -> None:
        self.ws = await connect(url, ping_interval=None, max_queue=None)
        await self.ws.send(json.dumps({"type": "subscribe_asset", "data": {"symbols": symbols}}))

    async def read_until(self, done) -> None:
        assert self.ws is not None
        while not done(self):
            frame = await asyncio.wait_for(self.ws.recv(), 10)
            now = time.time()
            message = json.loads(frame)
            if message["type"] != "asset_update":
                continue
            self.seqs.setdefault(message["data"]["symbol"], []).append(message["seq"])
            sent = datetime.fromisoformat(message["timestamp"]).timestamp()
            self.latencies.append((now - sent) * 1000)


async def test_normal_clients_keep_up_beside_slow_and_never_reading_ones(server, symbols):
    stalled = [
        await asyncio.to_thread(never_reader, server.port, symbols) for _ in range(NEVER_READERS)
    ]
    readers = [Reader() for _ in range(NORMAL)]
    try:
        for r in readers:
            await r.start(server.ws_url, symbols)
        until = time.monotonic() + 8
        slow_results, *_ = await asyncio.gather(
            asyncio.gather(
                *(
                    asyncio.to_thread(slow_reader, server.port, symbols, 8)
                    for _ in range(SLOW_READERS)
                )
            ),
            *(r.read_until(lambda _: time.monotonic() > until) for r in readers),
        )
        # Where every stream stands now, from a fresh subscriber: each normal client must
        # reach it — not stuck behind the stalled sockets.
        probe = Reader()
        await probe.start(server.ws_url, symbols)
        async with asyncio.timeout(10):
            while True:
                reply = json.loads(await probe.ws.recv())
                if reply["type"] == "subscribed":
                    break
        tops = {s: p["seq"] for s, p in reply["data"]["streams"].items()}
        await probe.ws.close()

        def current(r: Reader) -> bool:
            return all(r.seqs.get(s, [0])[-1] >= top for s, top in tops.items())

        await asyncio.gather(*(r.read_until(current) for r in readers))
    finally:
        for r in readers:
            if r.ws is not None:
                await r.ws.close()
        for raw in stalled:
            raw.close()
    skipped = 0
    delivered = 0
    for r in readers:
        assert set(r.seqs) == set(symbols)
        for symbol, seqs in r.seqs.items():
            assert all(a < b for a, b in zip(seqs, seqs[1:], strict=False)), (
                f"{symbol}: seqs not strictly increasing"
            )
            skipped += (seqs[-1] - seqs[0] + 1) - len(seqs)
            delivered += len(seqs)
    latencies = [ms for r in readers for ms in r.latencies]
    ordered = sorted(latencies)
    p99 = ordered[int(len(ordered) * 0.99)]
    # The slow readers: in order, and if closed, closed as slow consumers.
    for result in slow_results:
        assert result["close_code"] in (None, 4001)
        for symbol, seqs in result["seqs"].items():
            assert all(a < b for a, b in zip(seqs, seqs[1:], strict=False)), symbol
    slow_latencies = [ms for result in slow_results for ms in result["latencies"]]
    report(
        "normal clients beside slow and never-reading ones",
        f"{NORMAL} normal + {SLOW_READERS} slow (one frame per 20 ms) + {NEVER_READERS} "
        f"never-reading clients, {len(symbols)} symbols at 20 updates/s each, 8 s: normal "
        f"clients got {delivered} updates, {skipped} conflated, latency "
        f"{describe_latencies(latencies)}; slow readers: "
        f"{sum(1 for r in slow_results if r['close_code'] == 4001)} closed 4001, latency "
        f"{describe_latencies(slow_latencies)}",
    )
    assert p99 < P99_BOUND_MS


async def test_never_reading_clients_are_closed_within_the_slow_client_bound(server, symbols):
    base = await asyncio.to_thread(active_connections, server.url)
    stalled = [await asyncio.to_thread(never_reader, server.port, symbols) for _ in range(5)]
    # Behind within a second or two of the buffers filling; closed 4001 after
    # TICKWIRE_SLOW_CLIENT_SECONDS; aborted after the close timeout at the latest.
    bound = SLOW_SECONDS + CLOSE_TIMEOUT + 8
    try:
        await asyncio.to_thread(
            wait_until,
            lambda: (active_connections(server.url) or 0) <= base,
            bound,
            "the server closing every never-reading client",
        )
        endings = [await asyncio.to_thread(raw.drain, 10) for raw in stalled]
    finally:
        for raw in stalled:
            raw.close()
    # A close frame, if it got through the full buffers before the abort, says 4001.
    assert all(code in (4001, None) for _, code, _ in endings), endings
    assert all(how != "still open" for _, _, how in endings), endings


@pytest.mark.xfail(
    strict=True,
    reason="defect: a client that reads, but slower than its updates arrive, is never "
    "closed: updates conflate only in the outbox, behind the transport's and the kernel's "
    "buffers of already-written (stale) frames, so its latency grows to the depth of those "
    "buffers instead of being bounded by TICKWIRE_SLOW_CLIENT_SECONDS",
)
async def test_slow_readers_are_closed_within_the_slow_client_bound(server, symbols):
    bound = SLOW_SECONDS + CLOSE_TIMEOUT + 8
    slow_results = await asyncio.gather(
        *(asyncio.to_thread(slow_reader, server.port, symbols, bound) for _ in range(2))
    )
    assert all(r["close_code"] in (4001, None) for r in slow_results)
    assert all(r["ended"] != "still open" for r in slow_results)
