"""A portfolio's value over time: its current holdings valued at the stored bars' closes.

This is what today's holdings were worth at each past bar (the question a value chart
answers at a glance), not a record of past trades: positions carry no history of their
own. Every point is valued by :func:`tickwire.portfolios.valuation.value_portfolio` (the
REST API's function; the live valuer's book gives the same digits), with the close of each
holding and of each FX leg at that bar. A symbol without a bar at a given start keeps its
previous close (markets close, FX trades on); points before every symbol has a first close
are left out rather than drawn with a holding missing.

What it does not do: value cash or positions opened and closed in the range, or guess a
price for a symbol with no bars in the range (it is named in ``missing`` and there are no
points).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tickwire.assets.models import Asset
from tickwire.assets.rollup import bars_between

from .services import Book
from .valuation import MONEY, Price, fx_route, quantize, required_symbols, value_portfolio

__all__ = ["ValuePoint", "ValueSeries", "value_history", "value_series"]


@dataclass(frozen=True, slots=True)
class ValuePoint:
    """The portfolio's value (its currency, to the cent) at a bar start."""

    time: datetime
    value: Decimal


@dataclass(frozen=True, slots=True)
class ValueSeries:
    """Points oldest first; ``missing``: symbols the valuation needs that had no bar in the
    range (and ``BASE-QUOTE`` for a currency with no FX asset to convert it);
    ``truncated``: a symbol had more bars in the range than were read."""

    points: tuple[ValuePoint, ...]
    missing: tuple[str, ...]
    truncated: bool


def value_series(
    book: Book, closes: Mapping[str, Sequence[tuple[datetime, Decimal]]]
) -> ValueSeries:
    """Value ``book``'s holdings at every bar start in ``closes`` (symbol → (start, close)
    oldest first), carrying each symbol's last close forward. Pure: no I/O."""
    needed = sorted(required_symbols(book.currency, book.holdings, book.pairs))
    # A holding with no FX route at all: the pair it would need is missing too.
    no_route = {
        f"{h.currency}-{book.currency}"
        for h in book.holdings
        if fx_route(h.currency, book.currency, book.pairs) is None
    }
    missing = tuple(sorted({s for s in needed if not closes.get(s)} | no_route))
    if missing or not needed:
        return ValueSeries((), missing, False)
    by_time: dict[datetime, dict[str, Decimal]] = {}
    for symbol in needed:
        for start, close in closes[symbol]:
            by_time.setdefault(start, {})[symbol] = close
    last: dict[str, Price] = {}
    points: list[ValuePoint] = []
    for start in sorted(by_time):
        for symbol, close in by_time[start].items():
            last[symbol] = Price(close, close)
        if len(last) < len(needed):
            continue
        valuation = value_portfolio(book.currency, book.holdings, last, book.pairs)
        if valuation.total_value is not None:
            points.append(ValuePoint(start, quantize(valuation.total_value, MONEY)))
    return ValueSeries(tuple(points), (), False)


def _closes(
    symbols: Iterable[str], interval: str, start: datetime, end: datetime, limit: int
) -> tuple[dict[str, list[tuple[datetime, Decimal]]], bool]:
    out: dict[str, list[tuple[datetime, Decimal]]] = {}
    truncated = False
    for asset in Asset.objects.filter(symbol__in=list(symbols)):
        bars, more = bars_between(asset, interval, start, end, limit)
        out[asset.symbol] = [(bar.start, bar.close) for bar in bars]
        truncated = truncated or more
    return out, truncated


def value_history(
    book: Book, interval: str, start: datetime, end: datetime, limit: int
) -> ValueSeries:
    """``book``'s value at each ``interval`` bar starting in ``[start, end]`` (the latest
    ``limit`` bars of each symbol are read).

    Raises:
        KeyError: ``interval`` is not one of :data:`tickwire.assets.rollup.INTERVALS`.
    """
    needed = required_symbols(book.currency, book.holdings, book.pairs)
    closes, truncated = _closes(needed, interval, start, end, limit)
    series = value_series(book, closes)
    return ValueSeries(series.points, series.missing, truncated)
