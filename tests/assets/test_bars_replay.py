"""Every interval of the bars API equals pandas' resampling of the same ticks.

A recorded tick file (tests/assets/data/replay_ticks.csv: two symbols, 9 days, gaps of
hours and days) is played through the real pipeline — ReplaySource → FeedService →
BarAggregator → save_bars — and what GET /api/assets/<symbol>/bars/ returns at 1m, 5m,
15m, 1h and 1d is compared bar by bar with ``DataFrame.resample`` of the file: open =
first, high = max, low = min, close = last, volume = sum, UTC-aligned intervals, empty
intervals absent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest

from tickwire.assets.bars import save_bars_async
from tickwire.portfolios.demo import load_demo_data
from tickwire.stream.brokers.memory import MemoryBroker
from tickwire.stream.feeds import FeedService, Instrument
from tickwire.stream.feeds.replay import ReplaySource

pytestmark = pytest.mark.django_db(transaction=True)

TICKS = Path(__file__).parent / "data" / "replay_ticks.csv"
INSTRUMENTS = [
    Instrument("AAPL", 268.40, kind="stock"),
    Instrument("EUR-USD", 1.16420, kind="fx", decimals=5),
]
RULES = {"1m": "1min", "5m": "5min", "15m": "15min", "1h": "1h", "1d": "1D"}


def reference(symbol: str, rule: str) -> pd.DataFrame:
    ticks = pd.read_csv(TICKS)
    ticks = ticks[ticks.symbol == symbol]
    ticks.index = pd.to_datetime(ticks.ts, unit="s", utc=True)
    # Intraday buckets from the epoch; days from UTC midnight (pandas' default origin).
    bars = ticks.resample(rule, **({} if rule == "1D" else {"origin": "epoch"})).agg(
        {"price": ["first", "max", "min", "last"], "volume": "sum"}
    )
    bars.columns = ["open", "high", "low", "close", "volume"]
    return bars.dropna(subset=["open"])


async def replay() -> FeedService:
    source = ReplaySource(INSTRUMENTS, file=TICKS, speed=0, original_time=True)
    # The bars are written when the feed stops at the end of the file, in one batch: a
    # periodic write still in flight when the feed is stopped would be cancelled with it.
    feed = FeedService(
        MemoryBroker(), source, INSTRUMENTS, on_bars=save_bars_async, persist_interval=3600
    )
    await asyncio.wait_for(feed.run(), timeout=120)  # ends with the file
    return feed


def test_every_interval_matches_pandas_resample_of_the_ticks(client) -> None:
    load_demo_data()
    feed = asyncio.run(replay())
    assert feed.bars_written > 0 and feed.bar_failures == 0
    ticks = pd.read_csv(TICKS)
    start = int(ticks.ts.min()) - 86400
    end = int(ticks.ts.max()) + 86400
    checked = 0
    for symbol in ("AAPL", "EUR-USD"):
        for interval, rule in RULES.items():
            body = client.get(
                f"/api/assets/{symbol}/bars/?interval={interval}&start={start}&end={end}"
            ).json()
            assert body["truncated"] is False
            want = reference(symbol, rule)
            got = pd.DataFrame(body["bars"])
            assert list(pd.to_datetime(got.start, utc=True)) == list(want.index), (
                symbol,
                interval,
            )
            for column in ("open", "high", "low", "close"):
                assert got[column].astype(float).tolist() == pytest.approx(
                    want[column].tolist(), rel=1e-12
                ), (symbol, interval, column)
            assert got.volume.astype(float).tolist() == pytest.approx(
                want.volume.tolist(), rel=1e-9
            ), (symbol, interval)
            checked += len(want)
    assert checked > 3000
    # The file has empty intervals at every length up to hours, and they are absent.
    for rule in ("1min", "5min", "15min", "1h"):
        index = reference("AAPL", rule).index
        assert len(index) < (index[-1] - index[0]) / pd.Timedelta(rule), rule
