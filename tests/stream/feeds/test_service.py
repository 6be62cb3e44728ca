"""The feed service and its quotes: the numbers users see."""

import asyncio

import orjson
import pytest

from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.feeds import FeedService, Instrument, SimulatorSource, Source, Tick
from tickwire.stream.feeds.service import Quote
from tickwire.stream.protocol import seal

INSTRUMENTS = [
    Instrument("AAPL", 200.0, 198.0, kind="stock"),
    Instrument("BTC-USD", 60000.0, 59000.0, kind="crypto"),
    Instrument("EUR-USD", 1.08, 1.079, kind="fx", decimals=5),
]


def test_quote_change_high_low_volume():
    q = Quote.from_instrument(Instrument("A", 100.0, 95.0, kind="stock"), now=86400 * 10 + 5)
    for price, vol in [(101.0, 10), (99.0, 5), (102.5, 1)]:
        q.apply(Tick("A", price, vol, 86400 * 10 + 6))
    assert q.price == 102.5 and q.high == 102.5 and q.low == 99.0 and q.volume == 16
    assert q.change == 7.5 and q.change_percent == round(7.5 / 95 * 100, 4)
    data = orjson.loads(seal(q.body(), 1))["data"]
    assert data == {
        "symbol": "A",
        "price": 102.5,
        "change": 7.5,
        "change_percent": 7.8947,
        "volume": 16,
        "high": 102.5,
        "low": 99.0,
        "previous_close": 95.0,
        "currency": "USD",
    }


def test_quote_rolls_the_day_over_at_utc_midnight():
    q = Quote.from_instrument(Instrument("A", 100.0, 90.0), now=86400 * 10 + 100)
    q.apply(Tick("A", 110.0, 50, 86400 * 10 + 200))
    q.apply(Tick("A", 108.0, 7, 86400 * 11 + 1))
    assert q.previous_close == 110.0 and q.high == q.low == 108.0 and q.volume == 7
    assert q.change == -2.0


async def test_feed_publishes_updates_with_seq_and_rejects_bad_ticks():
    broker = MemoryBroker()
    got = []
    await broker.start(got.append)
    await broker.subscribe("asset.AAPL")
    feed = FeedService(broker, SimulatorSource(INSTRUMENTS, seed=1), INSTRUMENTS)
    n = await feed.publish(
        [
            Tick("AAPL", 201.0, 3, 1.0),
            Tick("NOPE", 1.0),
            Tick("AAPL", -5.0),
            Tick("AAPL", float("nan")),
            Tick("AAPL", 202.0, 2, 1.0),
        ]
    )
    assert n == 2 and feed.rejected == 3
    msgs = [orjson.loads(p.frame) for p in got]
    assert [m["seq"] for m in msgs] == [1, 2]
    assert msgs[1]["type"] == "asset_update"
    assert msgs[1]["data"]["price"] == 202.0 and msgs[1]["data"]["change"] == 4.0
    assert msgs[1]["data"]["volume"] == 5


async def test_persist_is_batched_and_retried_after_failure():
    broker = MemoryBroker()
    await broker.start(lambda p: None)
    calls = []
    fail = [True]

    async def persist(quotes):
        calls.append(sorted(q.symbol for q in quotes))
        if fail[0]:
            raise RuntimeError("db down")

    feed = FeedService(broker, SimulatorSource(INSTRUMENTS), INSTRUMENTS, on_persist=persist)
    await feed.publish([Tick("AAPL", 201.0, 1, 1.0), Tick("EUR-USD", 1.1, 1, 1.0)])
    assert await feed.persist() == 0 and feed.persist_failures == 1
    fail[0] = False
    assert await feed.persist() == 2
    assert await feed.persist() == 0  # nothing dirty any more
    assert calls == [["AAPL", "EUR-USD"], ["AAPL", "EUR-USD"]]


async def test_stop_waits_for_a_write_under_way_instead_of_cutting_it_off():
    written: list[list[str]] = []
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_persist(quotes):
        started.set()
        await release.wait()  # a database write taking its time
        written.append([q.symbol for q in quotes])

    broker = MemoryBroker()
    await broker.start(lambda pub: None)
    insts = [Instrument("AAPL", 100.0)]
    feed = FeedService(
        broker, SimulatorSource(insts, seed=1), insts, on_persist=slow_persist,
        persist_interval=0.01,
    )  # fmt: skip
    await feed.publish([Tick("AAPL", 101.0, 1.0, 1.0)])
    feed.start()
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.ensure_future(feed.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done(), "stop() must wait for the write under way"
    release.set()
    await asyncio.wait_for(stopping, 10)
    # The write finished and counted; the quote is clean, not lost and not written twice.
    assert written[0] == ["AAPL"] and feed.persist_failures == 0
    assert not feed.quotes["AAPL"].dirty
    await broker.close()


class _Batches(Source):
    """A source that yields the given batches, then ends."""

    name = "batches"

    def __init__(self, batches):
        self.batches = batches

    async def ticks(self):
        for batch in self.batches:
            yield batch
            await asyncio.sleep(0)


async def test_the_source_loop_keeps_batches_in_flight_and_publishes_every_tick_in_order(
    make_broker,
):
    broker = make_broker()
    got = []
    await broker.start(got.append)
    await broker.subscribe("asset.AAPL")
    prices = [round(150 + i * 0.01, 2) for i in range(600)]
    batches = [
        [Tick("AAPL", p, 1.0, 1000.0 + i), Tick("EUR-USD", 1.1, 1.0, 1000.0 + i)]
        for i, p in enumerate(prices)
    ]
    feed = FeedService(broker, _Batches(batches), INSTRUMENTS, publish_window=8)
    await asyncio.wait_for(feed.run(), 30)
    # Every update confirmed and counted, each channel's seqs in the ticks' order.
    assert feed.published == 1200 and feed.batches == 600
    assert await broker.top("asset.EUR-USD") == (600, (await broker.top("asset.EUR-USD"))[1])
    for _ in range(500):
        if len(got) == 600:
            break
        await asyncio.sleep(0.01)
    msgs = [orjson.loads(p.frame) for p in got]
    assert [m["seq"] for m in msgs] == list(range(1, 601))
    assert [m["data"]["price"] for m in msgs] == prices


def test_publish_window_must_not_be_negative():
    with pytest.raises(ValueError, match="publish_window"):
        FeedService(MemoryBroker(), SimulatorSource(INSTRUMENTS), INSTRUMENTS, publish_window=-1)


async def test_write_lag_is_the_age_of_the_oldest_change_not_yet_in_the_database():
    broker = MemoryBroker()
    await broker.start(lambda p: None)
    fail = [True]

    async def write(_items):
        if fail[0]:
            raise RuntimeError("db down")

    feed = FeedService(
        broker, SimulatorSource(INSTRUMENTS), INSTRUMENTS, on_persist=write, on_bars=write
    )
    feed.started_at = 1000.0
    assert feed.write_lag(now=1001.0) == 0.0  # nothing published, nothing to write
    await feed.publish([Tick("AAPL", 201.0, 1, 60.0)])
    feed.last_publish_at = 1002.0
    # The quote changed and was never written: behind since the feed started.
    assert feed.write_lag(now=1005.0) == 5.0
    await feed.publish([Tick("AAPL", 202.0, 1, 125.0)])  # closes the 60-119 bar
    since = feed._bars_waiting_since
    assert since is not None and feed.status()["bars_pending"] == 1
    assert await feed.persist() == 0 and await feed.persist_bars() == 0
    # Failed writes keep the bar waiting since it closed, not since the retry.
    assert feed._bars_waiting_since == since
    assert feed.write_lag(now=since + 30.0) >= 30.0
    fail[0] = False
    assert await feed.persist() == 1 and await feed.persist_bars() == 1
    assert feed.write_lag(now=feed.last_publish_at) == 0.0
    assert feed.status()["write_lag"] == 0.0


async def test_bars_waiting_for_a_slow_database_are_bounded_newest_kept():
    broker = MemoryBroker()
    await broker.start(lambda p: None)
    written = []

    async def write(bars):
        written.extend(b.start for b in bars)

    feed = FeedService(
        broker, SimulatorSource(INSTRUMENTS), INSTRUMENTS, on_bars=write, max_pending_bars=2
    )
    # Five minutes close before the writer gets a turn (a database slower than the bars).
    await feed.publish([Tick("AAPL", 200.0 + i, 1, 60.0 * (i + 1)) for i in range(6)])
    assert feed.status()["bars_pending"] == 5
    assert await feed.persist_bars() == 2
    assert written == [240, 300] and feed.bars_dropped == 3
