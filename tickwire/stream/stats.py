"""Rolling statistics in bounded memory: mean, standard deviation, min, max, VWAP, EWMA.

Seed 000 appends every price to a list and recomputes the mean over all of it — memory
and time grow without bound. A :class:`RollingWindow` keeps only the last ``size``
observations and/or the last ``seconds`` of them, and updates every statistic in O(1)
amortized time per observation: running sums for mean, variance and VWAP (recomputed
exactly from the window once per window length, so rounding error cannot build up, and
re-centred when the price level jumps far relative to its spread), and monotonic deques
for min and max. Pure computation: no I/O, no clock unless you pass none.

:meth:`RollingWindow.export_state` and :meth:`RollingWindow.from_state` carry a window
across a restart bit for bit (floats survive JSON exactly), so a window rebuilt from its
state computes the very same numbers as one that never stopped: the alert engine relies on
that for its windowed conditions.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tickwire.stream.messages import AssetUpdate, parse_timestamp

__all__ = ["RollingStats", "RollingWindow", "WindowStats"]


@dataclass(frozen=True, slots=True)
class WindowStats:
    """The statistics of one window at one moment. Fields are None while undefined
    (``std`` needs two observations, ``vwap`` some volume)."""

    symbol: str
    count: int
    last: float | None
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    vwap: float | None
    ewma: float | None
    #: ``last - first`` over the window, and the same in percent of ``first``.
    change: float | None
    change_percent: float | None
    #: Time of the oldest and newest observation in the window (seconds since the epoch).
    first_at: float | None
    last_at: float | None


class RollingWindow:
    """The last ``size`` observations and/or those of the last ``seconds``.

    At least one bound is required. A time window also keeps at most ``max_size``
    observations so that memory stays bounded whatever the rate; when that cap evicts an
    observation still inside ``seconds``, :attr:`truncated` becomes True. ``span`` sets the
    EWMA's smoothing ``alpha = 2 / (span + 1)`` (default: ``size``, or 20); the EWMA runs
    over every observation, like ``pandas.Series.ewm(span=..., adjust=False)``.

    Standard deviation is the sample one (``ddof=1``), as ``statistics.stdev`` and pandas.
    Raises ``ValueError`` for a missing or non-positive bound.
    """

    __slots__ = (
        "_at",
        "_index",
        "_maxq",
        "_minq",
        "_moved",
        "_moved_pv",
        "_moved_v",
        "_n_removed",
        "_n_volume",
        "_prices",
        "_shift",
        "_sum",
        "_sum_pv",
        "_sum_sq",
        "_sum_v",
        "_volumes",
        "alpha",
        "ewma",
        "max_size",
        "seconds",
        "size",
        "symbol",
        "truncated",
    )

    def __init__(
        self,
        size: int | None = None,
        *,
        seconds: float | None = None,
        max_size: int = 100_000,
        span: float | None = None,
        symbol: str = "",
    ) -> None:
        if size is None and seconds is None:
            raise ValueError("a rolling window needs a size (count) or seconds (time), or both")
        if size is not None and (isinstance(size, bool) or size < 1):
            raise ValueError("window size must be a positive integer")
        if seconds is not None and not seconds > 0:
            raise ValueError("window seconds must be positive")
        if max_size < 1:
            raise ValueError("max_size must be positive")
        span = float(span if span is not None else (size or 20))
        if span < 1:
            raise ValueError("EWMA span must be >= 1")
        self.size = size
        self.seconds = seconds
        self.max_size = min(max_size, size) if size is not None else max_size
        self.alpha = 2.0 / (span + 1.0)
        self.symbol = symbol
        self.truncated = False
        self.ewma: float | None = None
        self._prices: deque[float] = deque()
        self._volumes: deque[float] = deque()
        self._at: deque[float] = deque()
        # (index, price) with prices increasing (min) / decreasing (max) from the front.
        self._minq: deque[tuple[int, float]] = deque()
        self._maxq: deque[tuple[int, float]] = deque()
        self._index = 0  # index of the next observation
        self._n_removed = 0
        self._n_volume = 0  # observations in the window with volume > 0
        # Sum of the squares added to and taken from _sum_sq since the last recompute:
        # their rounding errors are what the variance could have lost. The same for VWAP.
        self._moved = self._moved_pv = self._moved_v = 0.0
        self._shift = 0.0
        self._sum = 0.0
        self._sum_sq = 0.0
        self._sum_pv = 0.0
        self._sum_v = 0.0

    def __len__(self) -> int:
        return len(self._prices)

    def add(self, price: float, volume: float = 0.0, at: float | None = None) -> None:
        """Add one observation: ``price``, the ``volume`` traded at it (for VWAP), and its
        time ``at`` in seconds (default: now). Times should not decrease; an earlier one is
        taken as the latest time seen, so the window's order holds.

        Raises ``ValueError`` for a price or volume that is not a finite number, or a
        negative volume.
        """
        if not math.isfinite(price):
            raise ValueError(f"price must be a finite number, not {price!r}")
        if not math.isfinite(volume) or volume < 0:
            raise ValueError(f"volume must be a finite number >= 0, not {volume!r}")
        now = time.time() if at is None else at
        if self._at and now < self._at[-1]:
            now = self._at[-1]
        if not self._prices:
            self._shift = price
        self._prices.append(price)
        self._volumes.append(volume)
        self._at.append(now)
        d = price - self._shift
        self._sum += d
        self._sum_sq += d * d
        self._moved += d * d
        self._sum_pv += price * volume
        self._sum_v += volume
        self._moved_pv += abs(price * volume)
        self._moved_v += volume
        if volume > 0:
            self._n_volume += 1
        i = self._index
        self._index += 1
        while self._minq and self._minq[-1][1] >= price:
            self._minq.pop()
        self._minq.append((i, price))
        while self._maxq and self._maxq[-1][1] <= price:
            self._maxq.pop()
        self._maxq.append((i, price))
        self.ewma = price if self.ewma is None else self.ewma + self.alpha * (price - self.ewma)
        while len(self._prices) > self.max_size:
            if self.size is None:
                self.truncated = True
            self._pop()
        self.expire(now)

    def _check_precision(self) -> None:
        if self._n_volume and (
            self._moved_pv * 1e-7 > abs(self._sum_pv) or self._moved_v * 1e-7 > self._sum_v
        ):
            self._recompute()
            return
        n = len(self._prices)
        if n < 2:
            return
        # The sums are taken around ``_shift``. When the window's level is far from it, or
        # a value far from the others has just left (a jump in price), the rounding error
        # of those large terms could swamp the variance: then recompute and re-centre.
        # Ordinary noise and trends stay many orders of magnitude below these ratios.
        offset = self._sum * self._sum / n
        spread = self._sum_sq - offset
        if offset > 1e4 * spread or self._moved * 1e-7 > spread:
            self._recompute()

    def expire(self, now: float | None = None) -> None:
        """Drop observations older than ``seconds`` before ``now`` (time windows only)."""
        if self.seconds is not None:
            cutoff = (time.time() if now is None else now) - self.seconds
            while self._at and self._at[0] <= cutoff:
                self._pop()
        self._check_precision()

    def _pop(self) -> None:
        price = self._prices.popleft()
        volume = self._volumes.popleft()
        self._at.popleft()
        first = self._index - len(self._prices)  # index of the new oldest observation
        if self._minq and self._minq[0][0] < first:
            self._minq.popleft()
        if self._maxq and self._maxq[0][0] < first:
            self._maxq.popleft()
        d = price - self._shift
        self._sum -= d
        self._sum_sq -= d * d
        self._moved += d * d
        self._sum_pv -= price * volume
        self._sum_v -= volume
        self._moved_pv += abs(price * volume)
        self._moved_v += volume
        if volume > 0:
            self._n_volume -= 1
            if self._n_volume == 0:
                # No volume left: make that exact rather than a rounding residue.
                self._sum_pv = self._sum_v = 0.0
        self._n_removed += 1
        if self._n_removed >= max(len(self._prices), 64):
            self._recompute()

    def _recompute(self) -> None:
        """Exact sums from the window, re-centred on its mean: amortized O(1), and it keeps
        the subtraction of removed values from drifting."""
        self._n_removed = 0
        self._moved = self._moved_pv = self._moved_v = 0.0
        prices = self._prices
        if not prices:
            self._shift = self._sum = self._sum_sq = self._sum_pv = self._sum_v = 0.0
            return
        self._shift = math.fsum(prices) / len(prices)
        shift = self._shift
        self._sum = math.fsum(p - shift for p in prices)
        self._sum_sq = math.fsum((p - shift) ** 2 for p in prices)
        self._sum_pv = math.fsum(p * v for p, v in zip(prices, self._volumes, strict=True))
        self._sum_v = math.fsum(self._volumes)

    @property
    def count(self) -> int:
        return len(self._prices)

    @property
    def mean(self) -> float | None:
        n = len(self._prices)
        return self._shift + self._sum / n if n else None

    @property
    def variance(self) -> float | None:
        """Sample variance (``ddof=1``); None with fewer than two observations."""
        n = len(self._prices)
        if n < 2:
            return None
        return max(0.0, (self._sum_sq - self._sum * self._sum / n) / (n - 1))

    @property
    def std(self) -> float | None:
        var = self.variance
        return None if var is None else math.sqrt(var)

    @property
    def min(self) -> float | None:
        return self._minq[0][1] if self._minq else None

    @property
    def max(self) -> float | None:
        return self._maxq[0][1] if self._maxq else None

    @property
    def vwap(self) -> float | None:
        """Volume-weighted average price over the window; None without volume."""
        return self._sum_pv / self._sum_v if self._n_volume and self._sum_v > 0 else None

    @property
    def last(self) -> float | None:
        return self._prices[-1] if self._prices else None

    @property
    def first(self) -> float | None:
        return self._prices[0] if self._prices else None

    def values(self) -> list[float]:
        """The prices in the window, oldest first."""
        return list(self._prices)

    def rows(self) -> Iterator[tuple[float, float, float]]:
        """``(at, price, volume)`` for each observation in the window, oldest first."""
        return zip(self._at, self._prices, self._volumes, strict=True)

    def export_state(self) -> dict[str, Any]:
        """The window's contents and running sums as a JSON-able dict (see
        :meth:`from_state`). The bounds are not included: they belong to whoever made it."""
        return {
            "rows": [[at, price, volume] for at, price, volume in self.rows()],
            "index": self._index,
            "n_removed": self._n_removed,
            "sums": [
                self._shift,
                self._sum,
                self._sum_sq,
                self._sum_pv,
                self._sum_v,
                self._moved,
                self._moved_pv,
                self._moved_v,
            ],
            "ewma": self.ewma,
            "truncated": self.truncated,
        }

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        size: int | None = None,
        *,
        seconds: float | None = None,
        max_size: int = 100_000,
        span: float | None = None,
        symbol: str = "",
    ) -> RollingWindow:
        """A window with the given bounds holding what :meth:`export_state` exported: it
        goes on exactly as the exported one would have. Raises ``ValueError`` for a state
        that is not one (naming the part that is wrong) or bad bounds."""
        win = cls(size, seconds=seconds, max_size=max_size, span=span, symbol=symbol)
        try:
            rows = [(float(at), float(p), float(v)) for at, p, v in state["rows"]]
            index = int(state["index"])
            n_removed = int(state["n_removed"])
            sums = [float(x) for x in state["sums"]]
            ewma = None if state["ewma"] is None else float(state["ewma"])
            truncated = bool(state["truncated"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"window state is malformed: {exc!r}") from None
        if len(sums) != 8 or index < len(rows) or len(rows) > win.max_size:
            raise ValueError("window state does not fit these bounds")
        if not all(math.isfinite(x) for row in rows for x in row):
            raise ValueError("window state rows must be finite numbers")
        first = index - len(rows)
        for offset, (at, price, volume) in enumerate(rows):
            win._at.append(at)
            win._prices.append(price)
            win._volumes.append(volume)
            if volume > 0:
                win._n_volume += 1
            i = first + offset
            while win._minq and win._minq[-1][1] >= price:
                win._minq.pop()
            win._minq.append((i, price))
            while win._maxq and win._maxq[-1][1] <= price:
                win._maxq.pop()
            win._maxq.append((i, price))
        win._index = index
        win._n_removed = n_removed
        (
            win._shift,
            win._sum,
            win._sum_sq,
            win._sum_pv,
            win._sum_v,
            win._moved,
            win._moved_pv,
            win._moved_v,
        ) = sums
        win.ewma = ewma
        win.truncated = truncated
        return win

    def stats(self) -> WindowStats:
        """All statistics at once."""
        first, last = self.first, self.last
        change = None if first is None or last is None else last - first
        pct = None if change is None or not first else change / first * 100.0
        return WindowStats(
            symbol=self.symbol,
            count=len(self._prices),
            last=last,
            mean=self.mean,
            std=self.std,
            min=self.min,
            max=self.max,
            vwap=self.vwap,
            ewma=self.ewma,
            change=change,
            change_percent=pct,
            first_at=self._at[0] if self._at else None,
            last_at=self._at[-1] if self._at else None,
        )


class RollingStats:
    """One :class:`RollingWindow` per symbol, fed with :class:`AssetUpdate` objects.

    The window arguments are those of :class:`RollingWindow`. ``asset_update.volume`` is the
    day's cumulative volume, so the volume traded between two updates — what VWAP weighs
    by — is its increase (a decrease is a new trading day: the new total counts). The first
    update of a symbol carries no traded volume. Times come from the updates' timestamps.
    """

    def __init__(
        self,
        size: int | None = None,
        *,
        seconds: float | None = None,
        max_size: int = 100_000,
        span: float | None = None,
    ) -> None:
        RollingWindow(size, seconds=seconds, max_size=max_size, span=span)  # validate now
        self._args = (size, seconds, max_size, span)
        self._windows: dict[str, RollingWindow] = {}
        self._volume: dict[str, float] = {}

    def window(self, symbol: str) -> RollingWindow:
        """The window of ``symbol``, created empty if new."""
        win = self._windows.get(symbol)
        if win is None:
            size, seconds, max_size, span = self._args
            win = RollingWindow(size, seconds=seconds, max_size=max_size, span=span, symbol=symbol)
            self._windows[symbol] = win
        return win

    def __getitem__(self, symbol: str) -> RollingWindow:
        return self._windows[symbol]

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._windows

    def __iter__(self) -> Iterator[str]:
        return iter(self._windows)

    def __len__(self) -> int:
        return len(self._windows)

    def update(self, update: AssetUpdate, at: float | None = None) -> WindowStats:
        """Add an asset update to its symbol's window; return the window's statistics."""
        traded = 0.0
        if update.volume is not None:
            before = self._volume.get(update.symbol)
            if before is not None:
                traded = update.volume - before if update.volume >= before else update.volume
            self._volume[update.symbol] = update.volume
        when = at if at is not None else parse_timestamp(update.timestamp)
        return self.add(update.symbol, update.price, traded, when)

    def add(
        self, symbol: str, price: float, volume: float = 0.0, at: float | None = None
    ) -> WindowStats:
        """Add one observation to ``symbol``'s window; return its statistics."""
        win = self.window(symbol)
        win.add(price, volume, at)
        return win.stats()

    def stats(self) -> dict[str, WindowStats]:
        """Every symbol's statistics."""
        return {symbol: win.stats() for symbol, win in self._windows.items()}
