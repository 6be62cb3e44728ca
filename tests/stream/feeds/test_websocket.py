"""WebSocket sources against fake providers on loopback ports (tests/stream/feeds/fakes.py)."""

from __future__ import annotations

import asyncio

import pytest

from tickwire.stream.feeds import SourceConfigError, Tick
from tickwire.stream.feeds.websocket import (
    BinanceSource,
    CoinbaseSource,
    FinnhubSource,
    GenericWebSocketSource,
)

from .conftest import CRYPTO, STOCKS
from .fakes import Consumer, FakeWsServer, eventually, sample

FINNHUB = sample("finnhub.json")
BINANCE = sample("binance.json")
COINBASE = sample("coinbase.json")


def finnhub(server: FakeWsServer, fast: dict, **kw) -> FinnhubSource:
    return FinnhubSource(
        STOCKS + CRYPTO[:1],
        url=server.url("/"),
        api_key="k3y",
        symbol_map={"BTC-USD": "BINANCE:BTCUSDT"},
        **{**fast, **kw},
    )


async def test_finnhub_subscribes_each_symbol_with_token_and_yields_trades(fast):
    async with FakeWsServer() as server:
        source = finnhub(server, fast)
        consumer = Consumer(source)
        conn = await server.next_connection()
        assert conn.path == "/?token=k3y"
        subs = await conn.wait_received(3)
        assert subs == [
            {"type": "subscribe", "symbol": "AAPL"},
            {"type": "subscribe", "symbol": "MSFT"},
            {"type": "subscribe", "symbol": "BINANCE:BTCUSDT"},
        ]
        for message in FINNHUB["messages"]:
            await conn.send(message)
        ticks = await consumer.wait_ticks(4)
        await consumer.close()
    assert ticks == [
        Tick("AAPL", 268.52, 100, 1763740800.123),
        Tick("MSFT", 512.1, 35, 1763740800.456),
        Tick("BTC-USD", 104250.5, 0.011467, 1763740801.001),
        Tick("AAPL", 268.55, 20, 1763740801.5),
    ]
    status = source.status()
    assert status["ticks"] == 4 and status["ignored"] == 1 and status["malformed"] == 0
    assert status["url"] == f"ws://127.0.0.1:{server.port}/"  # the token is not shown
    assert status["last_message_at"] is not None


async def test_finnhub_malformed_messages_are_counted_and_the_stream_goes_on(fast):
    async with FakeWsServer() as server:
        source = finnhub(server, fast)
        consumer = Consumer(source)
        conn = await server.next_connection()
        await conn.wait_received(3)
        for message in FINNHUB["malformed"]:
            await conn.send(message)
        await conn.send(FINNHUB["error"])
        await conn.send(FINNHUB["messages"][1])
        ticks = await consumer.wait_ticks(3)
        await consumer.close()
    # The good MSFT item of the half-bad message survives; the bad AAPL item does not.
    assert [t.symbol for t in ticks] == ["MSFT", "AAPL", "MSFT"]
    assert source.stats.malformed == 4
    assert source.stats.provider_errors == 1
    assert "too many symbols" in source.status()["last_error"]
    assert len(server.connections) == 1  # nothing there was worth a reconnect


async def test_dropped_connection_reconnects_and_resubscribes(fast):
    async with FakeWsServer() as server:
        source = finnhub(server, fast)
        consumer = Consumer(source)
        first = await server.next_connection()
        await first.wait_received(3)
        await first.send(FINNHUB["messages"][1])
        await consumer.wait_ticks(2)
        first.drop()
        second = await server.next_connection()
        assert await second.wait_received(3) == first.received
        await second.send(FINNHUB["messages"][2])
        ticks = await consumer.wait_ticks(3)
        await eventually(lambda: source.stats.connected)
        await consumer.close()
    assert ticks[-1].symbol == "BTC-USD"
    status = source.status()
    assert status["reconnects"] == 1 and status["errors"] == 1
    assert "without a close frame" in status["last_error"] or "closed" in status["last_error"]
    assert status["connected"] is False  # after close


async def test_a_black_holed_connection_is_found_dead_and_reconnected(fast):
    async with FakeWsServer() as server:
        source = finnhub(server, fast, silence_timeout=0.3)
        consumer = Consumer(source)
        first = await server.next_connection()
        await first.wait_received(3)
        await first.wait_client_pings(1)
        # The TCP connection stays open, but nothing comes back: not even pongs.
        first.black_hole()
        second = await server.next_connection()
        await second.wait_received(3)
        await second.send(FINNHUB["messages"][2])
        await consumer.wait_ticks(1)
        status = source.status()
        await consumer.close()
    assert source.stats.silent_reconnects == 1 and status["reconnects"] == 1
    assert "no message, ping or pong for 0.3s" in (status["last_error"] or "")
    assert status["connected"] is True and status["state"] == "live"


async def test_a_quiet_market_that_answers_pings_is_not_reconnected(fast):
    async with FakeWsServer() as server:
        source = BinanceSource(CRYPTO, url=server.url("/stream"), silence_timeout=0.5, **fast)
        consumer = Consumer(source)
        conn = await server.next_connection()
        await conn.wait_received(1)
        await conn.send(BINANCE["messages"][0])
        await consumer.wait_ticks(1)
        # Twelve keepalive pings, one every silence_timeout / 3: four silence timeouts
        # without a single data message, each ping answered.
        await conn.wait_client_pings(12)
        quiet = source.status()
        await conn.send(BINANCE["messages"][1])
        await consumer.wait_ticks(2)
        live = source.status()
        await consumer.close()
    assert len(server.connections) == 1
    assert quiet["reconnects"] == 0 and quiet["silent_reconnects"] == 0
    assert quiet["connected"] is True and quiet["state"] == "quiet"
    assert quiet["quiet_since"] == quiet["last_data_at"] == quiet["last_tick_by_symbol"]["BTC-USD"]
    assert quiet["last_alive_at"] > quiet["last_data_at"]
    assert quiet["pongs_received"] >= 10
    assert live["state"] == "live" and live["quiet_since"] is None
    assert set(live["last_tick_by_symbol"]) == {"BTC-USD", "ETH-USD"}


async def test_pings_from_the_server_keep_a_connection_alive(fast):
    async with FakeWsServer() as server:
        source = BinanceSource(CRYPTO, url=server.url("/stream"), silence_timeout=0.5, **fast)
        consumer = Consumer(source)
        conn = await server.next_connection()
        await conn.wait_received(1)
        # The server never answers our pings, but pings us every 0.1 s.
        conn.black_hole()
        conn.send_pings(0.1)
        await eventually(lambda: source.status()["pings_received"] >= 20, "20 server pings")
        status = source.status()
        await consumer.close()
    assert len(server.connections) == 1 and status["silent_reconnects"] == 0
    assert status["connected"] is True and status["state"] == "quiet"
    assert status["pongs_received"] == 0


async def test_server_refusing_the_handshake_is_retried_with_backoff(fast):
    refused = []

    async def refuse(conn):
        if len(refused) < 2:
            refused.append(conn)
            await conn.ws.close(1011, "overloaded")

    async with FakeWsServer(on_connect=refuse) as server:
        source = finnhub(server, fast)
        consumer = Consumer(source)
        for _ in range(3):
            conn = await server.next_connection()
        await conn.wait_received(3)
        await conn.send(FINNHUB["messages"][2])
        await consumer.wait_ticks(1)
        await consumer.close()
    assert source.stats.reconnects == 2
    assert source.backoff.attempt == 0  # data flowed again, so the backoff starts over


def test_finnhub_needs_a_key():
    with pytest.raises(SourceConfigError, match="API key"):
        FinnhubSource(STOCKS)


def test_bad_url_is_a_config_error():
    with pytest.raises(SourceConfigError, match="not a valid URL"):
        BinanceSource(CRYPTO, url="http://example.com")


async def test_binance_subscribes_trade_and_ticker_streams_and_parses_combined_messages(fast):
    async with FakeWsServer() as server:
        source = BinanceSource(
            CRYPTO + STOCKS, url=server.url("/stream"), streams=["trade", "ticker"], **fast
        )
        consumer = Consumer(source)
        conn = await server.next_connection()
        assert conn.path == "/stream"
        (sub,) = await conn.wait_received(1)
        assert sub == {
            "method": "SUBSCRIBE",
            "params": ["btcusdt@trade", "btcusdt@ticker", "ethusdt@trade", "ethusdt@ticker"],
            "id": 1,
        }
        await conn.send(BINANCE["ack"])
        for message in BINANCE["messages"]:
            await conn.send(message)
        ticks = await consumer.wait_ticks(3)
        await conn.send(BINANCE["error"])
        for message in BINANCE["malformed"]:
            await conn.send(message)
        await conn.send(BINANCE["messages"][0])
        await consumer.wait_ticks(4)
        await consumer.close()
    assert ticks[:3] == [
        Tick("BTC-USD", 104251.37, 0.00412, 1763740800.124),
        Tick("ETH-USD", 3685.12, 1.25, 1763740800.232),
        Tick("BTC-USD", 104260.01, 0.0, 1763740801.0),  # ticker: price only
    ]
    assert source.stats.provider_errors == 1 and source.stats.malformed == 3
    assert source.status()["symbols"] == 2  # the stocks are not Binance instruments


async def test_binance_resubscribes_on_a_new_connection_with_a_new_request_id(fast):
    async with FakeWsServer() as server:
        source = BinanceSource(CRYPTO, url=server.url("/stream"), **fast)
        consumer = Consumer(source)
        first = await server.next_connection()
        await first.wait_received(1)
        await first.ws.close()
        second = await server.next_connection()
        (sub,) = await second.wait_received(1)
        await consumer.close()
    assert sub["params"] == ["btcusdt@trade", "ethusdt@trade"] and sub["id"] == 2


async def test_coinbase_subscribes_ticker_and_heartbeats_with_product_ids(fast):
    async with FakeWsServer() as server:
        source = CoinbaseSource(CRYPTO + STOCKS, url=server.url("/"), **fast)
        consumer = Consumer(source)
        conn = await server.next_connection()
        subs = await conn.wait_received(2)
        # No key: the public channels, unauthenticated (signed ones: test_coinbase_auth.py).
        assert subs == [
            {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "ticker"},
            {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "heartbeats"},
        ]
        for message in COINBASE["messages"]:
            await conn.send(message)
        ticks = await consumer.wait_ticks(3)
        await conn.send(COINBASE["error"])
        for message in COINBASE["malformed"]:
            await conn.send(message)
        await conn.send(COINBASE["messages"][3])
        await consumer.wait_ticks(5)
        await consumer.close()
    assert [(t.symbol, t.price) for t in ticks] == [
        ("BTC-USD", 104250.5),
        ("ETH-USD", 3685.4),
        ("BTC-USD", 104262.1),
        ("ETH-USD", 3686.0),
        ("BTC-USD", 104262.1),
    ]
    assert ticks[0].ts == pytest.approx(1795276800.167359)
    assert source.stats.malformed == 2 and source.stats.provider_errors == 1
    assert source.stats.messages == 8


async def test_heartbeats_keep_a_quiet_coinbase_product_alive(fast):
    async with FakeWsServer() as server:
        source = CoinbaseSource(CRYPTO, url=server.url("/"), silence_timeout=1.0, **fast)
        consumer = Consumer(source)
        conn = await server.next_connection()
        await conn.wait_received(2)
        for _ in range(15):  # 1.5 s of heartbeats only: longer than the silence timeout
            await conn.send(COINBASE["messages"][2])
            await asyncio.sleep(0.1)
        await conn.send(COINBASE["messages"][3])
        await consumer.wait_ticks(1)
        await consumer.close()
    assert len(server.connections) == 1 and source.stats.silent_reconnects == 0


async def test_generic_source_speaks_seed_000s_subscribe_pattern(fast):
    async with FakeWsServer() as server:
        source = GenericWebSocketSource(STOCKS, url=server.url("/econ"), **fast)
        consumer = Consumer(source)
        conn = await server.next_connection()
        assert await conn.wait_received(2) == [
            {"type": "subscribe", "symbol": "AAPL"},
            {"type": "subscribe", "symbol": "MSFT"},
        ]
        await conn.send({"symbol": "AAPL", "price": 150.05, "timestamp": "2026-11-21T10:30:00Z"})
        await conn.send({"symbol": "MSFT", "price": "512.5", "volume": 7, "timestamp": 1763740800})
        await conn.send({"symbol": "AAPL", "price": None})
        ticks = await consumer.wait_ticks(2)
        await consumer.close()
    assert ticks == [
        Tick("AAPL", 150.05, 0.0, 1795257000.0),
        Tick("MSFT", 512.5, 7.0, 1763740800.0),
    ]
    assert source.stats.malformed == 1


async def test_generic_source_with_symbols_template_items_path_fields_and_match(fast):
    async with FakeWsServer() as server:
        source = GenericWebSocketSource(
            STOCKS,
            url=server.url("/"),
            subscribe='{"action": "sub", "params": {"tickers": "{symbols}"}}',
            items="payload.trades",
            fields={"symbol": "sym", "price": "px", "volume": "qty", "time": "ts"},
            match="ev=T",
            **fast,
        )
        consumer = Consumer(source)
        conn = await server.next_connection()
        assert await conn.wait_received(1) == [
            {"action": "sub", "params": {"tickers": ["AAPL", "MSFT"]}}
        ]
        await conn.send({"ev": "status", "message": "subscribed"})
        await conn.send(
            {
                "ev": "T",
                "payload": {
                    "trades": [{"sym": "MSFT", "px": 512.7, "qty": 3, "ts": 1763740800500}]
                },
            }
        )
        ticks = await consumer.wait_ticks(1)
        await consumer.close()
    assert ticks == [Tick("MSFT", 512.7, 3.0, 1763740800.5)]
    assert source.stats.malformed == 0


def test_generic_source_rejects_a_template_that_is_not_json():
    with pytest.raises(SourceConfigError, match="not JSON"):
        GenericWebSocketSource(STOCKS, url="ws://127.0.0.1:1/", subscribe="{type: subscribe}")


async def test_fetch_waits_for_one_quote_per_symbol(fast):
    async with FakeWsServer() as server:
        source = finnhub(server, fast)
        task = asyncio.ensure_future(source.fetch(["AAPL", "MSFT"], timeout=10))
        conn = await server.next_connection()
        await conn.wait_received(3)
        await conn.send(FINNHUB["messages"][1])
        got = await task
    assert set(got) == {"AAPL", "MSFT"} and got["MSFT"].price == 512.1
