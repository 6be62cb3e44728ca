"""Coinbase Advanced Trade candles history against a fake Coinbase on a loopback port."""

import pytest

from tickwire.stream.feeds import Instrument, build_source
from tickwire.stream.feeds.history import CoinbaseHistory, HistoryError

from .fakes import Reply
from .history_fakes import FakeCoinbase, Sleeps, as_tuples, bars_in, collect

DAY = 86400
T0 = 1_700_000_000 // DAY * DAY


async def test_windows_of_350_candles_sorted_oldest_first_and_exact():
    with FakeCoinbase() as fake:  # the fake refuses more than 350 candles a request
        pages = await collect(
            CoinbaseHistory(fake.url).pages("ETH-USD", "ETH-USD", 60, T0, T0 + 800 * 60)
        )
    assert [len(p) for p in pages] == [350, 350, 100]
    assert as_tuples([b for p in pages for b in p]) == as_tuples(
        bars_in("ETH-USD", 60, T0, T0 + 800 * 60)
    )
    assert fake.queries[0] == {
        "start": str(T0),
        "end": str(T0 + 349 * 60),
        "granularity": "ONE_MINUTE",
    }
    assert fake.queries[1]["start"] == str(T0 + 350 * 60)
    assert fake.requests[0].path.startswith("/api/v3/brokerage/market/products/ETH-USD/candles?")


async def test_windows_without_candles_yield_no_page_and_the_next_window_is_asked():
    with FakeCoinbase(first=T0 + 400 * DAY) as fake:
        pages = await collect(
            CoinbaseHistory(fake.url).pages("B", "B-USD", DAY, T0, T0 + 800 * DAY)
        )
    assert [len(p) for p in pages] == [300, 100]
    assert pages[0][0].start == T0 + 400 * DAY and len(fake.requests) == 3


async def test_a_429_is_waited_out_and_a_500_is_an_error():
    sleeps = Sleeps()
    faults = {1: Reply(429, {"error": "rate limited"}, {"Retry-After": "3"}), 3: Reply(500, "boom")}
    with FakeCoinbase(faults=faults) as fake:
        got = []
        with pytest.raises(HistoryError, match=r"coinbase: .*candles answered HTTP 500: boom"):
            async for page in CoinbaseHistory(fake.url, sleep=sleeps).pages(
                "B", "B-USD", 60, T0, T0 + 700 * 60
            ):
                got.append(page)
    assert sleeps.delays == [3.0] and [len(p) for p in got] == [350]


async def test_a_candle_without_a_price_is_named():
    with (
        FakeCoinbase(
            faults={1: Reply(200, {"candles": [{"start": str(T0), "open": "1"}]})}
        ) as fake,
        pytest.raises(HistoryError, match="candle 0: candle without high, low, close"),
    ):
        await collect(CoinbaseHistory(fake.url).pages("B", "B-USD", DAY, T0, T0 + DAY))


async def test_the_preset_uses_rest_url_and_the_product_id():
    with FakeCoinbase() as fake:
        source = build_source(
            "coinbase",
            [Instrument("BTC-USD", 1.0, kind="crypto")],
            interval=1,
            batch_size=10,
            options={"rest_url": fake.url, "symbol_map": "BTC-USD=BTC-USDC"},
        )
        pages = await collect(source.history_pages("BTC-USD", DAY, T0, T0 + 2 * DAY))
    assert "/products/BTC-USDC/candles" in fake.requests[0].path
    assert [(b.symbol, b.start) for b in pages[0]] == [("BTC-USD", T0), ("BTC-USD", T0 + DAY)]
