"""Replay of recorded tick files (CSV and Parquet)."""

from __future__ import annotations

import time

import pytest

from tickwire.stream.feeds import Instrument, SourceConfigError, Tick
from tickwire.stream.feeds.replay import ReplaySource

from .fakes import Consumer

ROWS = """symbol,price,volume,ts
AAPL,268.40,100,1763740800
MSFT,512.30,10,1763740800.5
AAPL,268.45,50,2025-11-21T16:00:01Z
AAPL,oops,1,1763740802
NOPE,1.0,1,1763740802
MSFT,512.35,5,1763740803
"""
INSTRUMENTS = [Instrument("AAPL", 268.4), Instrument("MSFT", 512.3)]


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "ticks.csv"
    path.write_text(ROWS)
    return path


async def drain(source) -> list[Tick]:
    out = []
    async for batch in source.ticks():
        out.extend(batch)
    return out


async def test_plays_the_file_with_original_times_and_ends(csv_file):
    source = ReplaySource(INSTRUMENTS, file=csv_file, speed=0, original_time=True)
    ticks = await drain(source)
    assert ticks == [
        Tick("AAPL", 268.40, 100, 1763740800.0),
        Tick("MSFT", 512.30, 10, 1763740800.5),
        Tick("AAPL", 268.45, 50, 1763740801.0),
        Tick("MSFT", 512.35, 5, 1763740803.0),
    ]
    status = source.status()
    assert status["finished"] is True and status["played"] == 4
    assert status["malformed"] == 1  # the "oops" row; NOPE is simply not ours


async def test_played_ticks_are_stamped_now_with_gaps_divided_by_speed(csv_file):
    started = time.time()
    source = ReplaySource(INSTRUMENTS, file=csv_file, speed=100)
    ticks = await drain(source)
    gaps = [round(b.ts - a.ts, 6) for a, b in zip(ticks, ticks[1:], strict=False)]
    assert gaps == [0.005, 0.005, 0.02]
    assert ticks[0].ts >= started


async def test_loop_starts_over(csv_file):
    source = ReplaySource(INSTRUMENTS, file=csv_file, speed=0, loop=True, batch_size=3)
    consumer = Consumer(source)
    ticks = await consumer.wait_ticks(8)
    await consumer.close()
    assert [t.price for t in ticks[:8]] == [268.40, 512.30, 268.45, 512.35] * 2
    assert source.rounds >= 2
    assert all(len(b) <= 3 for b in consumer.batches)


async def test_parquet_file(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "ticks.parquet"
    table = pa.table(
        {
            "symbol": ["AAPL", "MSFT", "AAPL"],
            "price": [268.4, 512.3, 268.5],
            "volume": [1.0, 2.0, 3.0],
            "ts": [1763740800.0, 1763740801.0, 1763740802.0],
        }
    )
    pq.write_table(table, path)
    source = ReplaySource(INSTRUMENTS, file=path, speed=0, original_time=True)
    ticks = await drain(source)
    assert ticks == [
        Tick("AAPL", 268.4, 1.0, 1763740800.0),
        Tick("MSFT", 512.3, 2.0, 1763740801.0),
        Tick("AAPL", 268.5, 3.0, 1763740802.0),
    ]


async def test_history_rolls_the_file_into_daily_bars(csv_file):
    source = ReplaySource(INSTRUMENTS, file=csv_file)
    bars = await source.history(["AAPL"], days=5)
    assert [(b.symbol, b.start, b.open, b.high, b.low, b.close, b.volume) for b in bars] == [
        ("AAPL", 1763683200, 268.40, 268.45, 268.40, 268.45, 150.0)
    ]


async def test_history_pages_roll_the_file_into_bars_of_either_interval(tmp_path):
    path = tmp_path / "ticks.csv"
    path.write_text(
        "symbol,price,volume,ts\n"
        "AAPL,10,1,1763740800\nMSFT,99,1,1763740801\nAAPL,12,2,1763740830\n"
        "AAPL,9,3,1763740861\nAAPL,11,4,1763827300\n"
    )
    source = ReplaySource(INSTRUMENTS, file=path)
    assert source.history_until() == 1763827300.0
    minutes = [b async for page in source.history_pages("AAPL", 60, 1763740800, 1763740920)
               for b in page]  # fmt: skip
    assert [(b.start, b.open, b.high, b.low, b.close, b.volume) for b in minutes] == [
        (1763740800, 10, 12, 10, 12, 3),
        (1763740860, 9, 9, 9, 9, 3),
    ]
    days = [b async for page in source.history_pages("AAPL", 86400, 0, 1763913600) for b in page]
    assert [(b.start, b.open, b.close, b.volume) for b in days] == [
        (1763683200, 10, 9, 6),
        (1763769600, 11, 11, 4),
    ]


def test_missing_file_and_columns_are_config_errors(tmp_path):
    with pytest.raises(SourceConfigError, match="does not exist"):
        ReplaySource(INSTRUMENTS, file=tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("sym,px\nAAPL,1\n")
    with pytest.raises(SourceConfigError, match=r"missing columns \['price', 'symbol', 'ts"):
        ReplaySource(INSTRUMENTS, file=bad)
