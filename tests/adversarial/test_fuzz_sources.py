"""Property-based fuzzing of the price sources' payload parsers.

A provider can send anything. Each source's documented contract: ``parse`` returns ticks
(``[]`` for acks and heartbeats) or raises :class:`MalformedMessage`; one bad item of an
otherwise good message is counted and skipped. The HTTP poller never raises for a body
(only :class:`RateLimited` for the provider's rate-limit statuses); the replay reader
skips bad rows and raises only :class:`SourceConfigError` for a file it cannot read.
Every tick that comes out is one of ours, with a positive finite price and a
non-negative volume.
"""

from __future__ import annotations

import asyncio
import json
import math
import time

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tickwire.stream.feeds import Instrument, Tick
from tickwire.stream.feeds.base import MalformedMessage, SourceConfigError
from tickwire.stream.feeds.http import HttpPollingSource, RateLimited
from tickwire.stream.feeds.kabu import KabuStationSource
from tickwire.stream.feeds.replay import read_ticks
from tickwire.stream.feeds.websocket import (
    BinanceSource,
    CoinbaseSource,
    FinnhubSource,
    GenericWebSocketSource,
)

from .strategies import FUZZ, json_scalars, json_values

STOCKS = [Instrument("AAPL", 268.4, 265.12), Instrument("MSFT", 512.3, 508.75)]
CRYPTO = [Instrument("BTC-USD", 104250.5, 101980.25, kind="crypto")]
JP = [Instrument("7203", 2400.0, kind="stock", currency="JPY")]
OURS = {"AAPL", "MSFT", "BTC-USD", "7203"}


def sources():
    return [
        FinnhubSource(STOCKS + CRYPTO, api_key="k", symbol_map={"BTC-USD": "BINANCE:BTCUSDT"}),
        BinanceSource(CRYPTO, streams=("trade", "ticker")),
        CoinbaseSource(CRYPTO),
        GenericWebSocketSource(STOCKS, url="ws://127.0.0.1:1/", items="data"),
        GenericWebSocketSource(
            STOCKS,
            url="ws://127.0.0.1:1/",
            match="type=trade",
            fields={"symbol": "s", "price": "p", "volume": "v", "time": "t"},
        ),
        KabuStationSource(JP, password="pw"),
    ]


SOURCES = sources()


def check_ticks(ticks: object) -> None:
    assert isinstance(ticks, list)
    for tick in ticks:
        assert isinstance(tick, Tick)
        assert tick.symbol in OURS
        assert math.isfinite(tick.price) and tick.price > 0
        assert math.isfinite(tick.volume) and tick.volume >= 0


def check_parse(source, message: object) -> None:
    try:
        ticks = source.parse(message, time.time())
    except MalformedMessage:
        return
    check_ticks(ticks)


# Values in the shapes the providers use, so the fuzzer reaches past the first check.
field_values = st.one_of(
    json_values,
    st.sampled_from(["AAPL", "MSFT", "BINANCE:BTCUSDT", "btcusdt", "BTCUSDT", "BTC-USD", "7203"]),
    st.floats(),  # NaN and infinities are JSON a provider can send as text
    st.text(alphabet="0123456789.-eE+ ", max_size=12),
    st.sampled_from(["2025-11-21T17:00:00Z", "2025-11-21T17:00:00.123456789+09:00", "Z"]),
)
item = st.dictionaries(
    st.sampled_from(
        [
            "s", "p", "v", "t", "q", "T", "E", "e", "c", "symbol", "price", "volume",
            "timestamp", "product_id", "Symbol", "CurrentPrice", "TradingVolume",
            "CurrentPriceTime", "type",
        ]
    ),
    field_values,
    max_size=8,
)  # fmt: skip
provider_message = st.one_of(
    json_values,
    item,
    st.fixed_dictionaries(
        {"type": st.sampled_from(["trade", "error", "ping", "news", "x"])},
        optional={"data": st.one_of(st.lists(item, max_size=4), json_values), "msg": json_values},
    ),
    st.fixed_dictionaries(
        {"stream": st.text(max_size=10)},
        optional={"data": st.one_of(item, json_values), "id": json_scalars},
    ),
    st.fixed_dictionaries(
        {"channel": st.sampled_from(["ticker", "heartbeats", "subscriptions", "level2"])},
        optional={
            "timestamp": field_values,
            "events": st.one_of(
                st.lists(
                    st.one_of(
                        st.fixed_dictionaries({"tickers": st.lists(item, max_size=3)}),
                        json_values,
                    ),
                    max_size=3,
                ),
                json_values,
            ),
        },
    ),
)


@FUZZ
@given(st.sampled_from(range(len(SOURCES))), provider_message)
# Found by the soak run: Coinbase's parser iterated a non-list "events" (TypeError).
@example(2, {"channel": "ticker", "events": True})
@example(2, {"channel": "ticker", "events": [{"tickers": 5}]})
def test_websocket_sources_parse_or_reject_as_malformed(index, message):
    check_parse(SOURCES[index], message)


@FUZZ
@given(st.sampled_from(range(len(SOURCES))), st.one_of(st.binary(max_size=120), provider_message))
def test_handle_raw_never_raises(index, raw):
    # The connection loop's entry point: decoding and parsing together, counted not fatal.
    source = SOURCES[index]
    frame = raw if isinstance(raw, bytes) else json.dumps(raw, allow_nan=True).encode()
    check_ticks(source.handle_raw(frame))


@FUZZ
@given(
    status=st.sampled_from([200, 200, 200, 404, 429, 500, 503]),
    body=st.one_of(
        st.binary(max_size=120),
        provider_message.map(lambda v: json.dumps(v, allow_nan=True).encode()),
        st.fixed_dictionaries(
            {"quoteResponse": st.fixed_dictionaries({"result": st.lists(item, max_size=3)})}
        ).map(lambda v: json.dumps(v).encode()),
    ),
    retry_after=st.one_of(st.none(), st.text(max_size=30)),
    items=st.sampled_from(["", "quoteResponse.result", "data.0"]),
)
def test_http_poll_returns_ticks_or_signals_a_rate_limit(status, body, retry_after, items):
    headers = {} if retry_after is None else {"Retry-After": retry_after.encode("utf-8")}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    source = HttpPollingSource(
        STOCKS,
        url="http://127.0.0.1:1/quote?symbols={symbols}",
        items=items,
        transport=httpx.MockTransport(answer),
    )

    async def poll():
        try:
            return await source.poll(["AAPL", "MSFT"])
        except RateLimited as exc:
            assert status in (429, 503)
            assert exc.retry_after is None or exc.retry_after >= 0
            return []
        finally:
            if source._client is not None:
                await source._client.aclose()

    check_ticks(asyncio.run(poll()))


csv_cell = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["AAPL", "268.5", "-1", "nan", "inf", "1e400", "1763740800", "0"]),
    st.sampled_from(["2025-11-21T17:00:00Z", "2025-11-21 17:00", "1763740800123456789"]),
)


@FUZZ
@given(
    header=st.lists(
        st.sampled_from(["symbol", "price", "volume", "ts", "time", "timestamp", "x"]),
        max_size=5,
    ),
    rows=st.lists(st.lists(csv_cell, max_size=6), max_size=6),
    garbage=st.text(max_size=40),
)
def test_replay_reads_ticks_or_refuses_the_file(tmp_path_factory, header, rows, garbage):
    path = tmp_path_factory.mktemp("replay") / "ticks.csv"
    lines = [",".join(header)] + [",".join(json.dumps(c) for c in row) for row in rows]
    path.write_bytes("\n".join([*lines, garbage]).encode("utf-8", "surrogatepass"))
    try:
        ticks = list(read_ticks(path))
    except SourceConfigError:
        return
    for tick in ticks:
        assert isinstance(tick, Tick) and tick.symbol
        assert math.isfinite(tick.price) and tick.price > 0


@pytest.mark.parametrize("garbage", [b"\x80", b"AAPL,\xff\xfe,1,1763740800"])
def test_replay_file_with_bytes_that_are_not_utf8_is_refused(tmp_path, garbage):
    path = tmp_path / "ticks.csv"
    path.write_bytes(b"symbol,price,volume,ts\nAAPL,268.5,1,1763740800\n" + garbage + b"\n")
    try:
        ticks = list(read_ticks(path))
    except SourceConfigError:
        return
    assert [t.symbol for t in ticks] == ["AAPL"]
