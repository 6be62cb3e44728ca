"""The built-in simulated market: a geometric random walk with volume.

Each interval (``REALTIME_UPDATE_INTERVAL`` seconds, fractional allowed) every instrument
takes one log-normal step ``p *= exp(sigma * z - sigma**2 / 2)`` (zero drift in
expectation) and trades a log-normally distributed volume. Volatility per step depends on
the asset kind (crypto moves more than FX). Ticks are yielded in batches of
``batch_size`` instruments. With a ``seed`` the sequence is reproducible, for tests.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Collection, Sequence

from .base import Bar, Instrument, Source, Tick

__all__ = ["MEAN_TRADE_VALUE", "STEP_VOLATILITY", "SimulatorSource"]

#: Standard deviation of one step's log return, by asset kind.
STEP_VOLATILITY = {"stock": 0.0012, "etf": 0.0006, "crypto": 0.0025, "fx": 0.0002}
#: Mean traded value (price * volume) of one step, by kind, to size simulated volume.
MEAN_TRADE_VALUE = {"stock": 250_000.0, "etf": 400_000.0, "crypto": 80_000.0, "fx": 1_000_000.0}


class SimulatorSource(Source):
    name = "simulator"

    def __init__(
        self,
        instruments: Sequence[Instrument],
        *,
        interval: float = 1.0,
        batch_size: int = 50,
        seed: int | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.interval = interval
        self.batch_size = batch_size
        self._rng = random.Random(seed)
        self._prices = {i.symbol: i.price for i in instruments}
        self._instruments = list(instruments)
        self.steps = 0
        self.last_tick_at: float | None = None

    def step(self, now: float | None = None, symbols: Collection[str] | None = None) -> list[Tick]:
        """Advance every instrument (or only ``symbols``) one step; return the ticks."""
        ts = time.time() if now is None else now
        out: list[Tick] = []
        rng = self._rng
        for inst in self._instruments:
            if symbols is not None and inst.symbol not in symbols:
                continue
            sigma = STEP_VOLATILITY.get(inst.kind, 0.001)
            price = self._prices[inst.symbol]
            price *= math.exp(sigma * rng.gauss(0.0, 1.0) - 0.5 * sigma * sigma)
            self._prices[inst.symbol] = price
            mean_units = MEAN_TRADE_VALUE.get(inst.kind, 100_000.0) / max(price, 1e-9)
            volume = mean_units * rng.lognormvariate(-0.5, 1.0)
            if inst.kind in ("stock", "etf"):
                volume = float(max(1, round(volume)))
            else:
                volume = round(volume, 6)
            out.append(Tick(inst.symbol, round(price, inst.decimals), volume, ts))
        self.steps += 1
        self.last_tick_at = ts
        return out

    async def ticks(self) -> AsyncIterator[Sequence[Tick]]:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            ticks = self.step()
            for start in range(0, len(ticks), self.batch_size):
                yield ticks[start : start + self.batch_size]
            # Fixed-rate schedule: a slow batch does not stretch the interval, and a long
            # stall does not cause a burst of catch-up steps.
            next_at = max(next_at + self.interval, loop.time())
            await asyncio.sleep(next_at - loop.time())

    async def refresh(self, symbols: Sequence[str]) -> list[Tick]:
        """Step just these instruments now (a forced update)."""
        return self.step(symbols=set(symbols))

    async def fetch(self, symbols: Sequence[str], timeout: float = 15.0) -> dict[str, Tick]:
        return {t.symbol: t for t in self.step(symbols=set(symbols))}

    async def history(self, symbols: Sequence[str], days: int) -> list[Bar]:
        """Simulated daily bars for the last ``days`` days, ending at today's price.

        The walk runs backwards from the current price with daily volatility
        ``sqrt(6.5 h of 1 s steps)`` times the step volatility, so the history has the
        character of the live simulation; with a seed it is reproducible.
        """
        wanted = set(symbols)
        today = int(time.time() // 86400) * 86400
        rng = self._rng
        bars: list[Bar] = []
        for inst in self._instruments:
            if inst.symbol not in wanted:
                continue
            sigma = STEP_VOLATILITY.get(inst.kind, 0.001) * math.sqrt(23_400)
            close = self._prices[inst.symbol]
            for back in range(days):
                open_ = close / math.exp(sigma * rng.gauss(0.0, 1.0) - 0.5 * sigma * sigma)
                spread = abs(rng.gauss(0.0, sigma / 2))
                high = max(open_, close) * math.exp(spread)
                low = min(open_, close) / math.exp(abs(rng.gauss(0.0, sigma / 2)))
                mean_units = MEAN_TRADE_VALUE.get(inst.kind, 100_000.0) / max(close, 1e-9)
                volume = (
                    0.0
                    if inst.kind == "fx"
                    else round(mean_units * 23_400 * rng.lognormvariate(-0.5, 1.0))
                )
                d = inst.decimals
                bars.append(
                    Bar(
                        inst.symbol,
                        86400,
                        today - back * 86400,
                        round(open_, d),
                        round(high, d),
                        round(low, d),
                        round(close, d),
                        float(volume),
                    )
                )
                close = open_
        return sorted(bars, key=lambda b: (b.symbol, b.start))

    def status(self) -> dict[str, object]:
        return {
            "source": self.name,
            "connected": True,
            "instruments": len(self._instruments),
            "interval": self.interval,
            "steps": self.steps,
            "last_message_at": self.last_tick_at,
            "errors": 0,
        }
