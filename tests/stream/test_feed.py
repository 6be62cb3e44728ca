"""Simulator and feed service: the numbers users see."""

import math
import statistics

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


def test_simulator_is_reproducible_with_a_seed():
    a = SimulatorSource(INSTRUMENTS, seed=7)
    b = SimulatorSource(INSTRUMENTS, seed=7)
    c = SimulatorSource(INSTRUMENTS, seed=8)
    ra = [a.step(now=1.0) for _ in range(20)]
    rb = [b.step(now=1.0) for _ in range(20)]
    rc = [c.step(now=1.0) for _ in range(20)]
    assert ra == rb and ra != rc


def test_simulator_is_a_zero_drift_geometric_walk_with_kind_volatility():
    sim = SimulatorSource([Instrument("X", 100.0, kind="stock", decimals=8)], seed=1)
    prices = [100.0] + [sim.step(now=1.0)[0].price for _ in range(20000)]
    log_returns = [math.log(b / a) for a, b in zip(prices, prices[1:], strict=False)]
    sd = statistics.pstdev(log_returns)
    assert 0.0011 < sd < 0.0013  # stock step volatility 0.0012
    assert abs(statistics.fmean(log_returns)) < 3 * sd / math.sqrt(len(log_returns)) + 1e-6
    assert all(p > 0 for p in prices)


def test_simulator_rounds_to_tick_size_and_trades_volume():
    sim = SimulatorSource(INSTRUMENTS, seed=3)
    ticks = sim.step(now=1.0)
    fx = next(t for t in ticks if t.symbol == "EUR-USD")
    assert round(fx.price, 5) == fx.price
    stock = next(t for t in ticks if t.symbol == "AAPL")
    assert stock.volume >= 1 and stock.volume == int(stock.volume)


async def test_simulator_yields_batches_of_batch_size():
    many = [Instrument(f"S{i}", 10.0) for i in range(7)]
    sim = SimulatorSource(many, interval=0.01, batch_size=3, seed=1)
    gen = sim.ticks()
    sizes = [len(await gen.__anext__()) for _ in range(3)]
    await gen.aclose()
    assert sizes == [3, 3, 1]


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
