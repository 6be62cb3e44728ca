"""Every streaming preset survives a dropped connection and a silent (black-holed) one: it
reconnects, subscribes again, and goes on delivering ticks."""

from __future__ import annotations

import time

import pytest

from tickwire.stream.feeds.http import HttpPollingSource
from tickwire.stream.feeds.kabu import KabuStationSource
from tickwire.stream.feeds.websocket import (
    BinanceSource,
    CoinbaseSource,
    FinnhubSource,
    GenericWebSocketSource,
)

from .conftest import CRYPTO, STOCKS
from .fakes import Consumer, FakeHttpServer, FakeWsServer, sample
from .test_kabu import JP, FakeKabuRest

FAST = {"backoff_initial": 0.01, "backoff_max": 0.05}


def finnhub(ws, rest, **kw):
    return (
        FinnhubSource(STOCKS, url=ws.url(), api_key="k", **FAST, **kw),
        2,
        sample("finnhub.json")["messages"][1],
    )


def binance(ws, rest, **kw):
    return (
        BinanceSource(CRYPTO, url=ws.url("/stream"), **FAST, **kw),
        1,
        sample("binance.json")["messages"][0],
    )


def coinbase(ws, rest, **kw):
    return (
        CoinbaseSource(CRYPTO, url=ws.url(), **FAST, **kw),
        2,
        sample("coinbase.json")["messages"][1],
    )


def generic(ws, rest, **kw):
    return (
        GenericWebSocketSource(STOCKS, url=ws.url(), **FAST, **kw),
        2,
        {"symbol": "AAPL", "price": 1.5},
    )


def kabu(ws, rest, **kw):
    source = KabuStationSource(
        JP,
        api_url=rest.url + "/kabusapi",
        url=ws.url("/kabusapi/websocket"),
        password="pw",
        symbol_map={"TOYOTA": "7203"},
        **FAST,
        **kw,
    )
    return source, 0, sample("kabu.json")["messages"][1]


PRESETS = [finnhub, binance, coinbase, generic, kabu]


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.__name__)
@pytest.mark.parametrize("failure", ["dropped", "silent"])
async def test_reconnects_resubscribes_and_delivers_again(preset, failure):
    with FakeHttpServer(FakeKabuRest().route) as rest:
        async with FakeWsServer() as ws:
            kw = {"silence_timeout": 0.2} if failure == "silent" else {}
            source, n_subs, message = preset(ws, rest, **kw)
            consumer = Consumer(source)
            first = await ws.next_connection()
            subs = await first.wait_received(n_subs)
            await first.send(message)
            await consumer.wait_ticks(1)
            if failure == "dropped":
                first.drop()
            else:
                first.black_hole()  # open, but not a frame back: not even a pong
            second = await ws.next_connection()
            assert len(await second.wait_received(n_subs)) == len(subs)
            got = len(consumer.ticks)
            await second.send(message)
            await consumer.wait_ticks(got + 1)
            await consumer.close()
    status = source.status()
    assert status["reconnects"] >= 1
    if failure == "silent":
        assert status["silent_reconnects"] >= 1
    # The subscription was sent again (Binance renumbers its request id).
    strip = lambda m: {k: v for k, v in m.items() if k != "id"}  # noqa: E731
    assert [strip(m) for m in second.received[:n_subs]] == [strip(m) for m in subs]


async def test_http_source_times_out_a_silent_endpoint_and_retries():
    calls = []

    def route(seen):
        calls.append(seen)
        if len(calls) == 1:
            time.sleep(0.5)  # answers too late: the client has given up
        return __import__("tests.stream.feeds.fakes", fromlist=["Reply"]).Reply(
            body=sample("quotes.json")["first"]
        )

    with FakeHttpServer(route) as server:
        source = HttpPollingSource(
            STOCKS,
            url=server.url + "/q?s={symbols}",
            interval=0.02,
            timeout=0.1,
            items="quoteResponse.result",
            fields={"price": "regularMarketPrice", "time": "regularMarketTime", "volume": ""},
        )
        consumer = Consumer(source)
        await consumer.wait_ticks(2)
        await consumer.close()
    assert source.stats.errors >= 1 and "Timeout" in source.stats.last_error
