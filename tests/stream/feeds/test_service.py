"""The feed service and its quotes: the numbers users see."""

import asyncio

import orjson

from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.feeds import FeedService, Instrument, SimulatorSource, Tick
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
