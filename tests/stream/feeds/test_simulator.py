"""The simulator: reproducible, a zero-drift geometric walk, tick sizes, batches."""

import math
import statistics

from tickwire.stream.feeds import Instrument, SimulatorSource

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
