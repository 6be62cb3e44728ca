"""Binance klines history against a fake Binance on a loopback port."""

import pytest

from tickwire.stream.feeds import Instrument, SourceConfigError, build_source
from tickwire.stream.feeds.history import BinanceHistory, HistoryError
from tickwire.stream.feeds.websocket import BinanceSource

from .fakes import Reply
from .history_fakes import FakeBinance, Sleeps, as_tuples, bars_in, collect

DAY = 86400
T0 = 1_700_000_000 // DAY * DAY  # a UTC midnight


async def test_pages_of_a_thousand_then_the_rest_exact_and_ascending():
    with FakeBinance() as fake:
        history = BinanceHistory(fake.url)
        pages = await collect(history.pages("BTC-USD", "btcusdt", 60, T0, T0 + 1500 * 60))
    assert [len(p) for p in pages] == [1000, 500]
    assert as_tuples([b for p in pages for b in p]) == as_tuples(
        bars_in("BTC-USD", 60, T0, T0 + 1500 * 60)
    )
    first, second = fake.queries
    assert first == {
        "symbol": "BTCUSDT",
        "interval": "1m",
        "startTime": str(T0 * 1000),
        "endTime": str((T0 + 1500 * 60) * 1000 - 1),
        "limit": "1000",
    }
    assert second["startTime"] == str((T0 + 1000 * 60) * 1000)  # after the last open time


async def test_a_full_page_that_ends_the_range_is_the_last_request():
    with FakeBinance() as fake:
        pages = await collect(BinanceHistory(fake.url).pages("X", "XUSDT", 60, T0, T0 + 60_000))
    assert [len(p) for p in pages] == [1000]
    assert len(fake.requests) == 1


async def test_a_full_page_before_the_data_ends_is_followed_by_an_empty_one():
    # The provider's data stops 1000 minutes in; the range asked for goes on.
    with FakeBinance() as fake:
        history = BinanceHistory(fake.url)
        pages = await collect(history.pages("X", "XUSDT", 60, T0 - 1000 * 60, T0 + 500 * 60))
    assert [len(p) for p in pages] == [1000, 500]
    assert len(fake.requests) == 2


@pytest.mark.parametrize("status", [429, 418])
async def test_rate_limit_answers_are_waited_out_for_their_retry_after(status):
    sleeps = Sleeps()
    faults = {1: Reply(status, {"code": -1003, "msg": "Too many requests"}, {"Retry-After": "7"})}
    with FakeBinance(faults=faults) as fake:
        history = BinanceHistory(fake.url, sleep=sleeps)
        pages = await collect(history.pages("X", "XUSDT", DAY, T0, T0 + 10 * DAY))
    assert sleeps.delays == [7.0]
    assert sum(len(p) for p in pages) == 10 and len(fake.requests) == 2


async def test_a_used_weight_near_the_limit_waits_for_the_next_minute():
    sleeps = Sleeps()
    minute = 29_000_000 * 60
    # The first answer reports 5999 of 6000 used: the next request (weight 2) would pass it.
    with FakeBinance(weight=5997) as fake:
        history = BinanceHistory(fake.url, sleep=sleeps, clock=lambda: minute + 20.0)
        pages = await collect(history.pages("X", "XUSDT", 60, T0, T0 + 1500 * 60))
    assert sleeps.delays == [40.5]  # the rest of the minute and half a second
    assert [len(p) for p in pages] == [1000, 500]


async def test_a_used_weight_under_the_limit_does_not_wait():
    sleeps = Sleeps()
    with FakeBinance(weight=100) as fake:
        await collect(
            BinanceHistory(fake.url, sleep=sleeps).pages("X", "XUSDT", 60, T0, T0 + 90_000)
        )
    assert sleeps.delays == [] and len(fake.requests) == 2


async def test_a_malformed_kline_is_an_error_naming_it_after_the_good_pages():
    bad = [[T0 * 1000, "1", "2", "0.5", "oops", "3", 0]]
    with FakeBinance(faults={2: Reply(200, bad)}) as fake:
        history = BinanceHistory(fake.url)
        got = []
        with pytest.raises(
            HistoryError, match="binance X: kline 0: close: price is 'oops', not a number"
        ):
            async for page in history.pages("X", "XUSDT", 60, T0, T0 + 1500 * 60):
                got.append(page)
    assert [len(p) for p in got] == [1000]


async def test_an_http_error_names_the_status():
    fault = Reply(400, {"code": -1121, "msg": "Invalid symbol."})
    with (
        FakeBinance(faults={1: fault}) as fake,
        pytest.raises(HistoryError, match=r"HTTP 400.*Invalid symbol"),
    ):
        await collect(BinanceHistory(fake.url).pages("X", "XUSDT", DAY, T0, T0 + DAY))


async def test_the_preset_maps_the_symbol_and_takes_rest_url_and_weight_limit():
    with FakeBinance() as fake:
        source = build_source(
            "binance",
            [Instrument("BTC-USD", 1.0, kind="crypto")],
            interval=1,
            batch_size=10,
            options={"rest_url": fake.url, "weight_limit": "1200"},
        )
        assert isinstance(source, BinanceSource) and source.weight_limit == 1200
        pages = await collect(source.history_pages("BTC-USD", DAY, T0, T0 + 3 * DAY))
    assert fake.queries[0]["symbol"] == "BTCUSDT"
    assert [(b.symbol, b.start) for b in pages[0]] == [("BTC-USD", T0 + i * DAY) for i in range(3)]


def test_bad_history_options_name_the_option():
    inst = [Instrument("BTC-USD", 1.0, kind="crypto")]
    with pytest.raises(SourceConfigError, match="weight_limit"):
        build_source("binance", inst, interval=1, batch_size=1, options={"weight_limit": "lots"})
    with pytest.raises(SourceConfigError, match="rest_url 'ftp://x' is not a valid URL"):
        build_source("binance", inst, interval=1, batch_size=1, options={"rest_url": "ftp://x"})
