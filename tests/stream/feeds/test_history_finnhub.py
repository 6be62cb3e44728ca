"""Finnhub stock candles history against a fake Finnhub on a loopback port."""

import pytest

from tickwire.stream.feeds import Instrument, build_source
from tickwire.stream.feeds.history import FinnhubHistory, HistoryError

from .fakes import Reply
from .history_fakes import FakeFinnhub, Sleeps, as_tuples, bars_in, collect

DAY = 86400
T0 = 1_700_000_000 // DAY * DAY


async def test_time_windows_of_1000_days_exact():
    with FakeFinnhub() as fake:
        history = FinnhubHistory(fake.url, api_key="secret")
        pages = await collect(history.pages("AAPL", "AAPL", DAY, T0, T0 + 2500 * DAY))
    assert [len(p) for p in pages] == [1000, 1000, 500]
    assert as_tuples([b for p in pages for b in p]) == as_tuples(
        bars_in("AAPL", DAY, T0, T0 + 2500 * DAY)
    )
    assert fake.queries[0] == {
        "symbol": "AAPL",
        "resolution": "D",
        "from": str(T0),
        "to": str(T0 + 1000 * DAY - 1),
        "token": "secret",
    }


async def test_no_data_windows_are_skipped():
    with FakeFinnhub(first=T0 + 7 * DAY) as fake:
        history = FinnhubHistory(fake.url, api_key="secret")
        pages = await collect(history.pages("AAPL", "AAPL", 60, T0, T0 + 8 * DAY))
    assert [len(p) for p in pages] == [1440]  # the first 7-day window was no_data
    assert len(fake.requests) == 2


async def test_a_429_without_retry_after_backs_off_and_retries():
    sleeps = Sleeps()
    with FakeFinnhub(faults={1: Reply(429, {"error": "API limit reached"})}) as fake:
        history = FinnhubHistory(fake.url, api_key="secret", sleep=sleeps)
        pages = await collect(history.pages("AAPL", "AAPL", DAY, T0, T0 + 5 * DAY))
    assert len(sleeps.delays) == 1 and 0.5 <= sleeps.delays[0] <= 1.0
    assert sum(map(len, pages)) == 5


async def test_a_bad_token_and_an_error_answer_are_named():
    with FakeFinnhub() as fake, pytest.raises(HistoryError, match=r"HTTP 401.*Invalid API key"):
        await collect(FinnhubHistory(fake.url, api_key="wrong").pages("A", "A", DAY, T0, T0 + DAY))
    short = Reply(200, {"s": "ok", "t": [T0], "o": [1], "h": [1]})
    with (
        FakeFinnhub(faults={1: short}) as fake,
        pytest.raises(HistoryError, match="without the l, c arrays"),
    ):
        await collect(FinnhubHistory(fake.url, api_key="secret").pages("A", "A", DAY, T0, T0 + DAY))


async def test_the_preset_sends_its_api_key_as_the_token():
    with FakeFinnhub(token="k1") as fake:
        source = build_source(
            "finnhub",
            [Instrument("AAPL", 1.0)],
            interval=1,
            batch_size=10,
            options={"rest_url": fake.url, "api_key": "k1"},
        )
        pages = await collect(source.history_pages("AAPL", DAY, T0, T0 + 3 * DAY))
    assert [b.start for b in pages[0]] == [T0, T0 + DAY, T0 + 2 * DAY]
