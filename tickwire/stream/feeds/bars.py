"""Rolling ticks up into OHLCV bars (pure: ticks in, closed bars out, no I/O).

A bar covers ``[start, start + interval)`` in Unix time, aligned to the interval (so
1-minute bars start on the minute, UTC). A symbol's bar closes when a tick of a later
period arrives, or when :meth:`BarAggregator.flush` is called after its period (plus a
grace period for late ticks) has passed. A tick older than the symbol's open bar is
folded into that bar (it moves high/low and volume, not open/close) and counted as late;
ticks do not reopen closed bars. Persistence merges bars with the same key, so a bar
closed early and continued later (after a restart) still adds up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .base import Bar, Tick

__all__ = ["BarAggregator", "merge_bars"]


@dataclass(slots=True)
class _Open:
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    ticks: int

    def bar(self, symbol: str, interval: int) -> Bar:
        return Bar(
            symbol, interval, self.start, self.open, self.high, self.low, self.close,
            self.volume, self.ticks,
        )  # fmt: skip


class BarAggregator:
    """Builds ``interval``-second bars per symbol from ticks."""

    def __init__(self, interval: int = 60, *, grace: float = 2.0) -> None:
        if interval < 1:
            raise ValueError("bar interval must be at least 1 second")
        self.interval = interval
        self.grace = grace
        self._open: dict[str, _Open] = {}
        self.late_ticks = 0

    def period(self, ts: float) -> int:
        """The start of the period containing Unix time ``ts``."""
        return int(ts // self.interval) * self.interval

    def add(self, tick: Tick) -> Bar | None:
        """Fold ``tick`` in; returns the symbol's previous bar if this tick closed it."""
        # Once per tick of the feed: the period inline, comparisons instead of max/min.
        interval = self.interval
        start = int(tick.ts // interval) * interval
        price = tick.price
        cur = self._open.get(tick.symbol)
        if cur is None or start > cur.start:
            self._open[tick.symbol] = _Open(start, price, price, price, price, tick.volume, 1)
            return cur.bar(tick.symbol, interval) if cur is not None else None
        if start < cur.start:
            self.late_ticks += 1
        else:
            cur.close = price
        if price > cur.high:
            cur.high = price
        if price < cur.low:
            cur.low = price
        cur.volume += tick.volume
        cur.ticks += 1
        return None

    def add_many(self, ticks: Iterable[Tick]) -> list[Bar]:
        """Fold several ticks in; returns the bars they closed, in order."""
        closed = []
        for tick in ticks:
            bar = self.add(tick)
            if bar is not None:
                closed.append(bar)
        return closed

    def flush(self, now: float) -> list[Bar]:
        """Close and return the bars whose period (plus grace) ended before ``now``."""
        cutoff = now - self.grace
        done = [s for s, b in self._open.items() if b.start + self.interval <= cutoff]
        return [self._open.pop(s).bar(s, self.interval) for s in done]

    def drain(self) -> list[Bar]:
        """Close and return every open bar (on shutdown; they may be partial)."""
        bars = [b.bar(s, self.interval) for s, b in self._open.items()]
        self._open.clear()
        return bars


def merge_bars(earlier: Bar, later: Bar) -> Bar:
    """Combine two parts of the same bar: first open, last close, extremes, summed volume.

    Raises ValueError if they are not the same symbol, interval and start.
    """
    if (earlier.symbol, earlier.interval, earlier.start) != (
        later.symbol,
        later.interval,
        later.start,
    ):
        raise ValueError("only parts of the same bar can be merged")
    return Bar(
        earlier.symbol,
        earlier.interval,
        earlier.start,
        earlier.open,
        max(earlier.high, later.high),
        min(earlier.low, later.low),
        later.close,
        earlier.volume + later.volume,
        earlier.ticks + later.ticks,
    )
