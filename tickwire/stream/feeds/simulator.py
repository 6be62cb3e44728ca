"""The built-in simulated market: a geometric random walk with volume.

Each interval (``REALTIME_UPDATE_INTERVAL`` seconds, fractional allowed) every instrument
takes one log-normal step ``p *= exp(sigma * z - sigma**2 / 2)`` (zero drift in
expectation) and trades a log-normally distributed volume. Volatility per step depends on
the asset kind (crypto moves more than FX). Ticks are yielded in batches of
``batch_size`` instruments. With a ``seed`` the sequence is reproducible, for tests.

History (:meth:`SimulatorSource.history_pages`, :meth:`SimulatorSource.history`) is the
same walk run backwards from the current price, so the last bar closes where the live
stream goes on. It is invented data: it belongs under simulated prices only, never under
a real provider's (the demo backfill writes it only when the feed's source is this one).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Collection, Iterator, Sequence

from .base import Bar, Instrument, Source, Tick

__all__ = ["HISTORY_PAGE_BARS", "MEAN_TRADE_VALUE", "STEP_VOLATILITY", "SimulatorSource"]

#: Standard deviation of one step's log return, by asset kind.
STEP_VOLATILITY = {"stock": 0.0012, "etf": 0.0006, "crypto": 0.0025, "fx": 0.0002}
#: Mean traded value (price * volume) of one step, by kind, to size simulated volume.
MEAN_TRADE_VALUE = {"stock": 250_000.0, "etf": 400_000.0, "crypto": 80_000.0, "fx": 1_000_000.0}
#: Bars per page of :meth:`SimulatorSource.history_pages`.
HISTORY_PAGE_BARS = 1000
#: Seconds of trading a simulated daily bar stands for (a 6.5 h session).
_SESSION_SECONDS = 23_400


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
        self._seed = seed
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

    def adopt(self, ticks: Sequence[Tick]) -> None:
        """Walk on from prices the feed published from elsewhere (one-off quotes), so a
        price set by ``update_asset_prices`` is where the simulation continues."""
        for tick in ticks:
            if tick.symbol in self._prices and tick.price > 0:
                self._prices[tick.symbol] = tick.price

    async def refresh(self, symbols: Sequence[str]) -> list[Tick]:
        """Step just these instruments now (a forced update)."""
        return self.step(symbols=set(symbols))

    async def fetch(self, symbols: Sequence[str], timeout: float = 15.0) -> dict[str, Tick]:
        return {t.symbol: t for t in self.step(symbols=set(symbols))}

    async def history(self, symbols: Sequence[str], days: int) -> list[Bar]:
        """Simulated daily bars for the last ``days`` days (today included), ending at
        today's price: :meth:`history_pages` at 86400 s for each symbol."""
        today = int(time.time() // 86400) * 86400
        bars: list[Bar] = []
        for symbol in sorted(set(symbols)):
            async for page in self.history_pages(
                symbol, 86400, today - (days - 1) * 86400, today + 86400
            ):
                bars.extend(page)
        return bars

    async def history_pages(
        self, symbol: str, interval: int, start: int, end: int
    ) -> AsyncIterator[list[Bar]]:
        """Simulated bars of ``symbol`` (see :meth:`Source.history_pages`): the walk runs
        backwards from the current price, so the bar just before ``end`` closes at it.

        One bar has the volatility of the live steps it stands for: ``interval /
        self.interval`` of them for 1-minute bars, a 6.5 h session of 1 s steps for daily
        bars; volume is the live steps' volume summed the same way (daily FX volume is 0, as
        FX has no consolidated volume). With a ``seed`` the same arguments give the same
        bars, and the live walk's sequence is not disturbed. Pages hold
        :data:`HISTORY_PAGE_BARS` bars. An unknown symbol gives no pages.

        Raises:
            ValueError: ``interval`` is not 60 or 86400, or ``start``/``end`` are not
                multiples of it.
        """
        if interval not in (60, 86400):
            raise ValueError(f"interval must be 60 or 86400 seconds, not {interval}")
        for name, value in (("start", start), ("end", end)):
            if value % interval:
                raise ValueError(f"{name} ({value}) is not a multiple of interval ({interval})")
        bars = list(self._walk_back(symbol, interval, start, end))
        bars.reverse()
        for first in range(0, len(bars), HISTORY_PAGE_BARS):
            yield bars[first : first + HISTORY_PAGE_BARS]

    def _walk_back(self, symbol: str, interval: int, start: int, end: int) -> Iterator[Bar]:
        inst = next((i for i in self._instruments if i.symbol == symbol), None)
        if inst is None or end <= start:
            return
        rng = (
            random.Random(f"{self._seed}/{symbol}/{interval}/{start}/{end}")
            if self._seed is not None
            else random.Random()
        )
        steps = _SESSION_SECONDS if interval == 86400 else max(1.0, interval / self.interval)
        sigma = STEP_VOLATILITY.get(inst.kind, 0.001) * math.sqrt(steps)
        d = inst.decimals
        close = self._prices[inst.symbol]
        for bar_start in range(end - interval, start - 1, -interval):
            open_ = close / math.exp(sigma * rng.gauss(0.0, 1.0) - 0.5 * sigma * sigma)
            high = max(open_, close) * math.exp(abs(rng.gauss(0.0, sigma / 2)))
            low = min(open_, close) / math.exp(abs(rng.gauss(0.0, sigma / 2)))
            mean_units = MEAN_TRADE_VALUE.get(inst.kind, 100_000.0) / max(close, 1e-9)
            # The sum of `steps` live volumes (each lognormal with mean 1 x mean_units).
            volume = mean_units * steps * rng.lognormvariate(-0.125, 0.5)
            if interval == 86400 and inst.kind == "fx":
                volume = 0.0
            elif inst.kind in ("stock", "etf"):
                volume = float(max(1, round(volume)))
            else:
                volume = round(volume, 6)
            o, c = round(open_, d), round(close, d)
            yield Bar(
                inst.symbol,
                interval,
                bar_start,
                o,
                max(round(high, d), o, c),
                min(round(low, d), o, c),
                c,
                volume,
            )
            close = open_

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
