"""SimulatorSource.history_pages / history: the live walk run backwards from the price."""

from __future__ import annotations

import asyncio

import pytest

from tickwire.stream.feeds import Instrument, SimulatorSource
from tickwire.stream.feeds.simulator import HISTORY_PAGE_BARS

END = 1763769600  # 2025-11-22 00:00 UTC
INSTRUMENTS = [
    Instrument("AAPL", 268.40, kind="stock"),
    Instrument("EUR-USD", 1.16420, kind="fx", decimals=5),
    Instrument("BTC-USD", 104250.50, kind="crypto"),
]


def pages(source, symbol, interval, start, end):
    async def collect():
        return [page async for page in source.history_pages(symbol, interval, start, end)]

    return asyncio.run(collect())


def test_minute_pages_are_oldest_first_contiguous_and_close_at_the_current_price():
    source = SimulatorSource(INSTRUMENTS, seed=7)
    got = pages(source, "AAPL", 60, END - 2 * 86400, END)
    assert [len(p) for p in got] == [HISTORY_PAGE_BARS, HISTORY_PAGE_BARS, 880]
    bars = [b for p in got for b in p]
    assert [b.start for b in bars] == list(range(END - 2 * 86400, END, 60))
    assert bars[-1].close == 268.40
    for before, after in zip(bars, bars[1:], strict=False):
        assert after.open == before.close  # one walk: each bar opens where the last closed
    for b in bars:
        assert b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high
        assert b.volume >= 1 and b.volume == int(b.volume)  # whole shares, like live ticks
        assert (b.symbol, b.interval) == ("AAPL", 60)


def test_the_walk_moves_like_the_live_simulation():
    source = SimulatorSource(INSTRUMENTS, seed=7)
    bars = [b for p in pages(source, "EUR-USD", 60, END - 86400, END) for b in p]
    closes = {b.close for b in bars}
    assert len(closes) > 100  # it moves
    # A day of 1 s steps at FX volatility (0.0002): a standard deviation of about 6 %.
    assert all(abs(c / 1.16420 - 1) < 0.3 for c in closes)
    moves = [abs(b.close / b.open - 1) for b in bars]
    assert 0.0005 < sum(moves) / len(moves) < 0.005  # about 0.0002 x sqrt(60) a minute
    assert all(b.volume > 0 for b in bars)  # live FX steps trade volume too


def test_same_seed_same_bars_and_the_live_walk_is_untouched():
    a = SimulatorSource(INSTRUMENTS, seed=11)
    b = SimulatorSource(INSTRUMENTS, seed=11)
    assert pages(a, "BTC-USD", 60, END - 3600, END) == pages(b, "BTC-USD", 60, END - 3600, END)
    assert a.step(now=1.0) == SimulatorSource(INSTRUMENTS, seed=11).step(now=1.0)
    other = SimulatorSource(INSTRUMENTS, seed=12)
    assert pages(other, "BTC-USD", 60, END - 3600, END) != pages(a, "BTC-USD", 60, END - 3600, END)


def test_daily_pages_and_history_still_serve_days_ending_today():
    source = SimulatorSource(INSTRUMENTS, seed=3)
    (page,) = pages(source, "EUR-USD", 86400, END - 5 * 86400, END)
    assert [b.start for b in page] == list(range(END - 5 * 86400, END, 86400))
    assert all(b.volume == 0 for b in page)  # no consolidated FX volume
    days = asyncio.run(source.history(["AAPL", "EUR-USD", "NOPE"], days=3))
    assert [(b.symbol, b.interval) for b in days] == [("AAPL", 86400)] * 3 + [
        ("EUR-USD", 86400)
    ] * 3
    assert days[2].close == 268.40 and days[2].start == days[0].start + 2 * 86400


@pytest.mark.parametrize(
    ("interval", "start", "end", "message"),
    [
        (300, END - 3000, END, "interval must be 60 or 86400"),
        (60, END - 30, END, "start (1763769570) is not a multiple of interval (60)"),
        (86400, END - 86400, END + 60, "end"),
    ],
)
def test_bad_arguments_say_which(interval, start, end, message):
    source = SimulatorSource(INSTRUMENTS, seed=1)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pages(source, "AAPL", interval, start, end)


def test_unknown_symbol_gives_no_pages():
    assert pages(SimulatorSource(INSTRUMENTS, seed=1), "NOPE", 60, END - 600, END) == []
