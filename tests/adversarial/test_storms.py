"""Connection and reconnect storms against one real server on loopback.

A connection storm: thousands of clients open at once, each is greeted and answered, the
server counts every one, and after they all leave its count is back to zero. A reconnect
storm: hundreds of subscribed clients drop together and come back together, round after
round, each resuming from its last ``seq`` — every resume is recovered with the missed
updates in order, and nothing is left behind on the server. Sizes grow under ``soak``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.servers import ServerProcess, wait_until

from .figures import describe_latencies, report, rss_mib
from .wire import active_connections

pytestmark = pytest.mark.e2e

SYMBOLS = ["AAPL", "MSFT"]
#: Handshakes in flight at once: a burst, not a queue of one.
PARALLEL = 200


@pytest.fixture(scope="module")
def storm_server(tmp_path_factory):
    srv = ServerProcess(
        tmp_path_factory.mktemp("storm"),
        # Two updates per second per symbol: enough to resume across, and cheap for the
        # test's own single process to read at thousands of clients.
        env={"REALTIME_UPDATE_INTERVAL": "0.5"},
    ).start()
    yield srv
    srv.stop()


async def recv(ws: ClientConnection, kind: str, timeout: float = 30.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


async def open_and_ping(
    url: str, gate: asyncio.Semaphore, n: int
) -> tuple[ClientConnection, float]:
    async with gate:
        started = time.monotonic()
        ws = await connect(url, open_timeout=60, ping_interval=None, max_queue=None)
        hello = await recv(ws, "connection")
        assert hello["data"]["status"] == "connected"
        await ws.send(json.dumps({"type": "ping", "id": n}))
        pong = await recv(ws, "pong")
        assert pong["id"] == n
        return ws, (time.monotonic() - started) * 1000


async def connection_storm(server, clients: int) -> None:
    base = await asyncio.to_thread(active_connections, server.url)
    gate = asyncio.Semaphore(PARALLEL)
    rss_before = rss_mib(server.proc.pid)
    started = time.monotonic()
    opened = await asyncio.gather(
        *(open_and_ping(server.ws_url, gate, n) for n in range(clients)), return_exceptions=True
    )
    took = time.monotonic() - started
    sockets = [o[0] for o in opened if not isinstance(o, BaseException)]
    errors = [o for o in opened if isinstance(o, BaseException)]
    try:
        assert not errors, f"{len(errors)} of {clients} failed, e.g. {errors[0]!r}"
        await asyncio.to_thread(
            wait_until,
            lambda: active_connections(server.url) == base + clients,
            30,
            f"the server counting {clients} connections",
        )
        rss_open = rss_mib(server.proc.pid)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    await asyncio.to_thread(
        wait_until, lambda: active_connections(server.url) == base, 30, "the count back to zero"
    )
    report(
        "connection storm",
        f"{clients} clients connected, greeted and answered in {took:.2f} s "
        f"({PARALLEL} handshakes in flight); per client {describe_latencies([o[1] for o in opened])}; "
        f"server RSS {rss_before:.0f} -> {rss_open:.0f} MiB while open, "
        f"{rss_mib(server.proc.pid):.0f} MiB after",
    )


async def test_connection_storm(storm_server):
    await connection_storm(storm_server, 3000)


@pytest.mark.soak
async def test_connection_storm_soak(storm_server):
    await connection_storm(storm_server, int(os.environ.get("TICKWIRE_STORM_CLIENTS", "5000")))


class Resumer:
    """One subscribed client that drops and resumes from its last seq."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: ClientConnection | None = None
        self.last: dict[str, int] = {}
        self.epoch: dict[str, str] = {}

    async def subscribe(self, gate: asyncio.Semaphore, resume: bool) -> dict[str, bool]:
        async with gate:
            self.ws = await connect(self.url, open_timeout=60, ping_interval=None, max_queue=None)
            await recv(self.ws, "connection")
            data: dict = {"symbols": SYMBOLS}
            if resume:
                data["since"] = dict(self.last)
                data["epoch"] = dict(self.epoch)
            await self.ws.send(json.dumps({"type": "subscribe_asset", "data": data}))
            streams = (await recv(self.ws, "subscribed"))["data"]["streams"]
        tops = {s: streams[s]["seq"] for s in SYMBOLS}
        recovered = {s: bool(streams[s].get("recovered")) for s in SYMBOLS}
        for symbol in SYMBOLS:
            self.epoch[symbol] = streams[symbol]["epoch"]
        # Read until every symbol reached the top the reply named. On a resume the updates
        # in between must be exactly last+1 .. top, in order; a fresh subscription starts
        # at its snapshot (the top, or newer).
        want = {s: (self.last[s] + 1 if resume else tops[s]) for s in SYMBOLS}
        while any(want[s] <= tops[s] for s in SYMBOLS):
            update = await recv(self.ws, "asset_update")
            symbol, seq = update["data"]["symbol"], update["seq"]
            if resume and want[symbol] <= tops[symbol]:
                assert seq == want[symbol], f"{symbol}: expected seq {want[symbol]}, got {seq}"
            want[symbol] = max(want[symbol], seq + 1)
            self.last[symbol] = seq
        return recovered

    async def drop(self) -> None:
        assert self.ws is not None
        await self.ws.close()


async def reconnect_storm(server, clients: int, rounds: int) -> None:
    base = await asyncio.to_thread(active_connections, server.url)
    gate = asyncio.Semaphore(PARALLEL)
    resumers = [Resumer(server.ws_url) for _ in range(clients)]
    await asyncio.gather(*(r.subscribe(gate, resume=False) for r in resumers))
    rss = [rss_mib(server.proc.pid)]
    times = []
    try:
        for _ in range(rounds):
            await asyncio.gather(*(r.drop() for r in resumers))
            await asyncio.sleep(1.2)  # updates go on while everyone is away
            started = time.monotonic()
            results = await asyncio.gather(*(r.subscribe(gate, resume=True) for r in resumers))
            times.append(time.monotonic() - started)
            not_recovered = [res for res in results if not all(res.values())]
            assert not not_recovered, f"{len(not_recovered)} of {clients} resumes not recovered"
            rss.append(rss_mib(server.proc.pid))
        await asyncio.to_thread(
            wait_until,
            lambda: active_connections(server.url) == base + clients,
            30,
            "the server counting every resumed client once",
        )
    finally:
        await asyncio.gather(*(r.drop() for r in resumers if r.ws), return_exceptions=True)
    await asyncio.to_thread(
        wait_until, lambda: active_connections(server.url) == base, 30, "the count back to zero"
    )
    report(
        "reconnect storm",
        f"{clients} clients x {rounds} rounds dropped and resumed (all recovered, replays "
        f"gap-free); per round {', '.join(f'{t:.2f}' for t in times)} s; server RSS by round "
        f"{' -> '.join(f'{m:.0f}' for m in rss)} MiB",
    )


async def test_reconnect_storm(storm_server):
    await reconnect_storm(storm_server, clients=500, rounds=4)


@pytest.mark.soak
async def test_reconnect_storm_soak(storm_server):
    await reconnect_storm(storm_server, clients=1000, rounds=10)
