"""1-minute bars from a known tick sequence, and how the feed hands them over."""

from __future__ import annotations

import pytest

from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.feeds import Bar, BarAggregator, FeedService, Instrument, SimulatorSource, Tick
from tickwire.stream.feeds.bars import merge_bars

T0 = 1763740800  # 2025-11-21 16:00:00 UTC, on the minute

TICKS = [
    Tick("AAPL", 100.0, 10, T0 + 0.5),
    Tick("MSFT", 50.0, 1, T0 + 1),
    Tick("AAPL", 101.5, 5, T0 + 20),
    Tick("AAPL", 99.0, 7, T0 + 59.999),
    Tick("AAPL", 100.5, 3, T0 + 60),  # closes AAPL's first minute
    Tick("AAPL", 98.0, 2, T0 + 45),  # late: folded into the open minute's range
    Tick("AAPL", 100.7, 1, T0 + 119),
    Tick("AAPL", 102.0, 4, T0 + 300),  # minutes without ticks make no bars
]


def test_bars_from_a_known_tick_sequence():
    agg = BarAggregator(60)
    closed = agg.add_many(TICKS)
    assert closed == [
        Bar("AAPL", 60, T0, 100.0, 101.5, 99.0, 99.0, 22, 3),
        Bar("AAPL", 60, T0 + 60, 100.5, 100.7, 98.0, 100.7, 6, 3),
    ]
    assert agg.late_ticks == 1
    # MSFT's minute closes by time once the grace period has passed, not before.
    assert agg.flush(T0 + 61) == []
    assert agg.flush(T0 + 62.5) == [Bar("MSFT", 60, T0, 50.0, 50.0, 50.0, 50.0, 1, 1)]
    assert agg.drain() == [Bar("AAPL", 60, T0 + 300, 102.0, 102.0, 102.0, 102.0, 4, 1)]
    assert agg.drain() == []


def test_merge_adds_up_parts_of_one_bar():
    a = Bar("AAPL", 60, T0, 100.0, 101.0, 99.5, 100.5, 10, 2)
    b = Bar("AAPL", 60, T0, 100.6, 102.0, 100.1, 101.8, 4, 1)
    assert merge_bars(a, b) == Bar("AAPL", 60, T0, 100.0, 102.0, 99.5, 101.8, 14, 3)
    with pytest.raises(ValueError):
        merge_bars(a, Bar("AAPL", 60, T0 + 60, 1, 1, 1, 1))


async def test_feed_hands_closed_bars_over_in_batches_and_the_rest_on_stop():
    broker = MemoryBroker()
    await broker.start(lambda p: None)
    written: list[list[Bar]] = []
    fail = [True]

    async def on_bars(bars):
        if fail[0]:
            raise RuntimeError("database down")
        written.append(bars)

    instruments = [Instrument("AAPL", 100.0), Instrument("MSFT", 50.0)]
    feed = FeedService(broker, SimulatorSource(instruments), instruments, on_bars=on_bars)
    await feed.publish(TICKS[:5])
    assert await feed.persist_bars() == 0 and feed.bar_failures == 1  # kept for later
    fail[0] = False
    assert await feed.persist_bars() == 1
    assert written == [[Bar("AAPL", 60, T0, 100.0, 101.5, 99.0, 99.0, 22, 3)]]
    await feed.stop()  # the open bars (AAPL's second minute, MSFT's) are written too
    assert sorted((b.symbol, b.start) for b in written[-1]) == [("AAPL", T0 + 60), ("MSFT", T0)]
    assert feed.status()["bars_written"] == 3
