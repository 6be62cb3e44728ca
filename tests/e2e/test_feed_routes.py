"""A real server started with TICKWIRE_FEED_SOURCES: stocks from a Finnhub-shaped provider
with a generic one as backup, crypto from a Binance-shaped one, all fake servers on
loopback; a real WebSocket client sees both kinds, and the stocks' backup take over when
their provider dies — with no gap in the seqs."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest
from websockets.asyncio.client import connect

from tests.stream.feeds.fakes import FakeConn, FakeWsServer
from tests.stream.feeds.providers import Provider

pytestmark = pytest.mark.e2e

WAIT = 20.0
FAST = {"backoff_initial": 0.05, "backoff_max": 0.2}


async def recv(ws, timeout=WAIT):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def update_with(ws, symbol: str, price: float) -> list[dict]:
    """Every asset_update of ``symbol`` up to the one at ``price`` (bounded wait)."""
    seen = []
    async with asyncio.timeout(WAIT):
        while True:
            msg = await recv(ws)
            if msg["type"] == "asset_update" and msg["data"]["symbol"] == symbol:
                seen.append(msg)
                if msg["data"]["price"] == price:
                    return seen


def finnhub_trade(symbol: str, price: float) -> dict:
    return {"type": "trade", "data": [{"s": symbol, "p": price, "v": 1, "t": time.time() * 1e3}]}


def binance_trade(price: float) -> dict:
    now = int(time.time() * 1e3)
    data = {"e": "trade", "E": now, "s": "BTCUSDT", "p": str(price), "q": "0.5", "T": now}
    return {"stream": "btcusdt@trade", "data": data}


async def keep_sending(send, *, every: float = 0.05) -> None:
    n = 0
    while True:
        n += 1
        await send(n)
        await asyncio.sleep(every)


def metric(url: str, name: str, **labels: str) -> float | None:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_two_providers_serve_two_kinds_and_the_backup_takes_over(make_server):
    async with Provider() as stocks, Provider() as spare, FakeWsServer() as crypto:
        routes = [
            {
                "name": "stocks",
                "source": "finnhub",
                "kinds": ["stock", "etf"],
                "options": {"url": stocks.url("/"), "api_key": "k", **FAST},
                "backup": "stocks-backup",
            },
            {
                "name": "stocks-backup",
                "source": "websocket",
                "options": {"url": spare.url("/"), **FAST},
            },
            {
                "name": "crypto",
                "source": "binance",
                "kinds": ["crypto"],
                "options": {"url": crypto.url("/stream"), **FAST},
            },
            {"name": "fx", "source": "simulator", "kinds": ["fx"]},
        ]
        env = {"TICKWIRE_FEED_SOURCES": json.dumps(routes)}
        server = await asyncio.to_thread(make_server, env)
        main: FakeConn = await stocks.next_connection()
        standby: FakeConn = await spare.next_connection()
        binance: FakeConn = await crypto.next_connection()
        async with connect(server.ws_url) as ws:
            assert (await recv(ws))["type"] == "connection"
            for symbol in ("AAPL", "BTC-USD"):
                await ws.send(json.dumps({"type": "subscribe_asset", "data": {"symbol": symbol}}))
            await main.send(finnhub_trade("AAPL", 301.25))
            await binance.send(binance_trade(105123.5))
            first = await update_with(ws, "AAPL", 301.25)
            await update_with(ws, "BTC-USD", 105123.5)

            # The backup quotes AAPL all along; only after the primary dies does it show.
            async def backup_quote(n: int) -> None:
                await spare.trade(standby, "AAPL", 400.0 + n, time.time())

            pusher = asyncio.ensure_future(keep_sending(backup_quote))
            try:
                await main.send(finnhub_trade("AAPL", 302.5))
                after = await update_with(ws, "AAPL", 302.5)
                assert all(m["data"]["price"] < 400 for m in after)
                await stocks.go_down()
                async with asyncio.timeout(WAIT):
                    while True:
                        msg = await recv(ws)
                        if msg["type"] != "asset_update" or msg["data"]["symbol"] != "AAPL":
                            continue
                        after.append(msg)
                        if msg["data"]["price"] > 400:
                            break
            finally:
                pusher.cancel()
                await asyncio.gather(pusher, return_exceptions=True)
        seqs = [m["seq"] for m in first + after]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        failovers = await asyncio.to_thread(
            metric,
            server.url,
            "tickwire_feed_failovers_total",
            route="stocks",
            direction="to_backup",
        )
        assert failovers is not None and failovers >= 10  # the demo's stocks and ETFs
        up = await asyncio.to_thread(
            metric, server.url, "tickwire_feed_route_up", route="stocks-backup"
        )
        assert up == 1
