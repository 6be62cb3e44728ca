"""HTTP polling source against a fake JSON quote endpoint on a loopback port."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from tickwire.stream.feeds import SourceConfigError, Tick
from tickwire.stream.feeds.http import HttpPollingSource, parse_retry_after

from .conftest import STOCKS
from .fakes import Consumer, FakeHttpServer, Reply, eventually, sample

QUOTES = sample("quotes.json")
YAHOO = {
    "items": "quoteResponse.result",
    "fields": {
        "symbol": "symbol",
        "price": "regularMarketPrice",
        "volume": "regularMarketVolume",
        "time": "regularMarketTime",
    },
}
MORE = STOCKS + [type(STOCKS[0])(f"S{i}", 10.0) for i in range(3)]


async def test_polls_batches_of_symbols_with_the_key_and_takes_day_volume():
    answers = iter([QUOTES["first"], QUOTES["second"]])

    def route(seen):
        if seen.path.startswith("/v7/quote?symbols=AAPL,MSFT"):
            return Reply(body=next(answers, QUOTES["second"]))
        return Reply(body={"quoteResponse": {"result": []}})

    with FakeHttpServer(route) as server:
        source = HttpPollingSource(
            MORE,
            url=server.url + "/v7/quote?symbols={symbols}",
            api_key="s3cret",
            interval=0.05,
            batch_size=2,
            **YAHOO,
        )
        consumer = Consumer(source)
        ticks = await consumer.wait_ticks(3)
        await consumer.close()
    paths = [r.path for r in server.requests[:3]]
    assert paths == [
        "/v7/quote?symbols=AAPL,MSFT",
        "/v7/quote?symbols=S0,S1",
        "/v7/quote?symbols=S2",
    ]
    assert server.requests[0].headers["Authorization"] == "Bearer s3cret"
    assert ticks[:3] == [
        Tick("AAPL", 268.61, 0.0, 1763740800.0, 48210350.0),
        Tick("MSFT", 512.4, 0.0, 1763740800.0, 21045800.0),
        # The second poll: trade volume is the day volume's increase.
        Tick("AAPL", 268.7, 600.0, 1763740815.0, 48210950.0),
    ]
    assert source.stats.malformed >= 1  # MSFT's "bad" price
    assert source.status()["url"] == f"http://127.0.0.1:{server.port}/v7/quote"


async def test_a_per_symbol_url_makes_one_request_per_symbol_and_keeps_the_symbol():
    def route(seen):
        return Reply(body={"c": 268.9 if "AAPL" in seen.path else 512.9, "t": 1763740800})

    with FakeHttpServer(route) as server:
        source = HttpPollingSource(
            STOCKS,
            url=server.url + "/quote?symbol={symbol}&token={api_key}",
            api_key="k",
            fields={"symbol": "", "price": "c", "volume": "", "time": "t"},
        )
        got = await source.fetch(["AAPL", "MSFT"])
    assert [r.path for r in server.requests] == [
        "/quote?symbol=AAPL&token=k",
        "/quote?symbol=MSFT&token=k",
    ]
    assert "Authorization" not in server.requests[0].headers  # the key went in the URL
    assert got["AAPL"].price == 268.9 and got["MSFT"].price == 512.9


async def test_rate_limit_answer_pauses_all_requests_for_retry_after():
    limited_until = []

    def route(seen):
        now = time.monotonic()
        if not limited_until:
            limited_until.append(now + 1.0)
            return Reply(429, {"error": "rate limited"}, {"Retry-After": "1"})
        if now < limited_until[0]:
            return Reply(429, {"error": "still rate limited"}, {"Retry-After": "1"})
        return Reply(body=QUOTES["first"])

    with FakeHttpServer(route) as server:
        source = HttpPollingSource(
            STOCKS, url=server.url + "/q?s={symbols}", interval=0.02, **YAHOO
        )
        consumer = Consumer(source)
        await eventually(lambda: source.rate_limited == 1, "the 429 was seen")
        assert source.status()["paused_for"] > 0
        ticks = await consumer.wait_ticks(2)
        await consumer.close()
    # Polling every 20 ms, a source that ignored Retry-After would have hit the window again.
    assert source.rate_limited == 1 and len(server.requests) >= 2
    assert [t.symbol for t in ticks[:2]] == ["AAPL", "MSFT"]


async def test_server_errors_and_bad_json_are_counted_not_fatal():
    replies = iter(
        [
            Reply(500, {"error": "boom"}),
            Reply(200, "<html>maintenance</html>"),
            Reply(body=QUOTES["first"]),
        ]
    )
    with FakeHttpServer(lambda seen: next(replies, Reply(body=QUOTES["first"]))) as server:
        source = HttpPollingSource(
            STOCKS, url=server.url + "/q?s={symbols}", interval=0.02, **YAHOO
        )
        consumer = Consumer(source)
        await consumer.wait_ticks(2)
        await consumer.close()
    assert source.stats.errors == 1 and source.stats.malformed == 1
    assert source.status()["last_error"] == "HTTP 500"


async def test_connection_refused_is_an_error_and_retried():
    with FakeHttpServer(lambda seen: Reply()) as server:
        port = server.port
    source = HttpPollingSource(
        STOCKS, url=f"http://127.0.0.1:{port}/q?s={{symbols}}", interval=0.02
    )
    consumer = Consumer(source)
    await eventually(lambda: source.stats.errors >= 2, "two failed polls")
    await consumer.close()
    assert source.status()["connected"] is False


async def test_refresh_polls_the_named_symbols_now():
    with FakeHttpServer(lambda seen: Reply(body=QUOTES["first"])) as server:
        source = HttpPollingSource(STOCKS, url=server.url + "/q?s={symbols}", **YAHOO)
        ticks = await source.refresh(["MSFT"])
        await source.aclose()
    assert server.requests[0].path == "/q?s=MSFT"
    assert {t.symbol for t in ticks} == {"AAPL", "MSFT"}  # the endpoint answered more


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(formatdate(1000.0 + 30, usegmt=True), now=1000.0) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({}, "needs a url"),
        ({"url": "ftp://x/{symbols}"}, "http://"),
        ({"url": "http://x/quotes"}, "{symbols} or {symbol}"),
        ({"url": "http://x/{symbols}", "interval": 0}, "interval"),
    ],
)
def test_bad_settings_are_config_errors(kw, message):
    with pytest.raises(SourceConfigError, match=message):
        HttpPollingSource(STOCKS, **kw)
