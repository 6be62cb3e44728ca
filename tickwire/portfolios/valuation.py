"""Portfolio valuation: Decimal math over holdings, prices and FX rates.

Framework-free and without I/O, so the live valuer, the REST API and the tests all value a
portfolio with the same function. Everything is ``Decimal`` computed in a 50-digit
context (quantity * price * rate never rounds before the final quantization); money is
quantized to cents and percentages to 4 places, half-up, only when it is presented.

* Value of a position: ``quantity * price * fx`` in the portfolio's currency.
* Daily change: against each holding's previous close, converted with the FX rates'
  previous closes too, so a portfolio's daily change includes the currency's move:
  ``quantity * (price * fx - previous_close * fx_previous_close)``.
* FX: a holding quoted in another currency is converted with an FX asset named
  ``BASE-QUOTE`` (e.g. ``EUR-USD``): directly, inverted, or through one intermediate
  currency (``GBP → USD → JPY``). With no route, or with a price missing, the position
  carries an error and the portfolio's totals are ``None``: a total that silently leaves
  a holding out would be wrong, not approximate.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

__all__ = [
    "MONEY",
    "PERCENT",
    "RATE",
    "FxLeg",
    "FxPair",
    "Holding",
    "PositionValue",
    "Price",
    "Valuation",
    "fx_route",
    "parse_fx_symbol",
    "quantize",
    "required_symbols",
    "to_decimal",
    "value_portfolio",
]

MONEY: Final = Decimal("0.01")
PERCENT: Final = Decimal("0.0001")
RATE: Final = Decimal("0.0000000001")
_ZERO: Final = Decimal(0)
_HUNDRED: Final = Decimal(100)
# Wide enough that 28-digit quantities times 20-digit prices times rates stay exact.
_CONTEXT: Final = decimal.Context(prec=60, rounding=ROUND_HALF_UP)

PRICE_UNAVAILABLE: Final = "price_unavailable"
FX_RATE_UNAVAILABLE: Final = "fx_rate_unavailable"


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """An exact Decimal of a wire number: floats via their shortest repr (268.4 → "268.4").

    Raises:
        ValueError: the value is not a finite number.
    """
    if isinstance(value, Decimal):
        out = value
    elif isinstance(value, float):
        out = Decimal(repr(value))
    else:
        try:
            out = Decimal(value)
        except decimal.InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    if not out.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return out


@dataclass(frozen=True, slots=True)
class Holding:
    """One position: ``quantity`` of ``symbol``, quoted in ``currency``."""

    symbol: str
    quantity: Decimal
    average_cost: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Price:
    """The latest price of an asset and its previous close (same currency)."""

    price: Decimal
    previous_close: Decimal


@dataclass(frozen=True, slots=True)
class FxPair:
    """An FX asset: one unit of ``base`` costs ``price`` units of ``quote``."""

    symbol: str
    base: str
    quote: str


#: One conversion step: the FX asset's symbol, and whether to divide by its price.
FxLeg = tuple[str, bool]


def parse_fx_symbol(symbol: str, quote_currency: str | None = None) -> FxPair | None:
    """The pair of an FX symbol such as ``EUR-USD`` or ``EURUSD``; None if it is not one.

    ``quote_currency`` (the asset's currency) wins over the symbol's second leg.
    """
    text = symbol.replace("/", "-").upper()
    if "-" in text:
        base, _, quote = text.partition("-")
    elif len(text) == 6:
        base, quote = text[:3], text[3:]
    else:
        return None
    quote = quote_currency or quote
    if len(base) != 3 or len(quote) != 3 or not (base + quote).isalpha() or base == quote:
        return None
    return FxPair(symbol, base, quote)


def fx_route(source: str, target: str, pairs: Iterable[FxPair]) -> list[FxLeg] | None:
    """How to convert an amount in ``source`` to ``target``: [] if equal, None if no route.

    Prefers a direct pair (``SOURCE-TARGET``), then the inverse (``TARGET-SOURCE``), then
    two legs through one intermediate currency. Ties go to the alphabetically first symbol,
    so the route (and the value) is deterministic.
    """
    if source == target:
        return []
    edges: dict[str, list[tuple[str, str, bool]]] = {}
    for pair in sorted(pairs, key=lambda p: p.symbol):
        edges.setdefault(pair.base, []).append((pair.quote, pair.symbol, False))
        edges.setdefault(pair.quote, []).append((pair.base, pair.symbol, True))

    def step(frm: str, to: str) -> FxLeg | None:
        options = [(inv, sym) for dest, sym, inv in edges.get(frm, ()) if dest == to]
        if not options:
            return None
        inverted, symbol = min(options)  # direct (False) before inverted (True)
        return (symbol, inverted)

    direct = step(source, target)
    if direct is not None:
        return [direct]
    for middle in sorted({dest for dest, _, _ in edges.get(source, ())}):
        first, second = step(source, middle), step(middle, target)
        if first is not None and second is not None:
            return [first, second]
    return None


@dataclass(frozen=True, slots=True)
class PositionValue:
    """One position valued in the portfolio's currency (unrounded; ``None`` on error)."""

    symbol: str
    quantity: Decimal
    average_cost: Decimal
    currency: str
    price: Decimal | None
    previous_close: Decimal | None
    fx_rate: Decimal | None
    value: Decimal | None
    previous_value: Decimal | None
    error_code: str | None = None
    error: str | None = None

    @property
    def daily_change(self) -> Decimal | None:
        if self.value is None or self.previous_value is None:
            return None
        return _CONTEXT.subtract(self.value, self.previous_value)

    @property
    def daily_change_percent(self) -> Decimal | None:
        return _percent(self.daily_change, self.previous_value)

    def as_data(self) -> dict[str, Any]:
        """The position's entry in a ``portfolio_update`` (numbers as JSON numbers)."""
        return {
            "symbol": self.symbol,
            "quantity": float(self.quantity),
            "average_cost": float(self.average_cost),
            "currency": self.currency,
            "price": _num(self.price),
            "previous_close": _num(self.previous_close),
            "fx_rate": _num(self.fx_rate, RATE),
            "value": _num(self.value, MONEY),
            "daily_change": _num(self.daily_change, MONEY),
            "daily_change_percent": _num(self.daily_change_percent, PERCENT),
            "error": (
                None
                if self.error_code is None
                else {"code": self.error_code, "message": self.error}
            ),
        }


@dataclass(frozen=True, slots=True)
class Valuation:
    """A portfolio's value. Totals are ``None`` when any position could not be valued."""

    currency: str
    positions: tuple[PositionValue, ...]
    total_value: Decimal | None
    previous_value: Decimal | None

    @property
    def ok(self) -> bool:
        return all(p.error_code is None for p in self.positions)

    @property
    def daily_change(self) -> Decimal | None:
        if self.total_value is None or self.previous_value is None:
            return None
        return _CONTEXT.subtract(self.total_value, self.previous_value)

    @property
    def daily_change_percent(self) -> Decimal | None:
        return _percent(self.daily_change, self.previous_value)

    @property
    def errors(self) -> list[dict[str, str]]:
        return [
            {"symbol": p.symbol, "code": p.error_code, "message": p.error or ""}
            for p in self.positions
            if p.error_code is not None
        ]

    def as_data(self) -> dict[str, Any]:
        """Totals, status and positions as in ``portfolio_update`` (without id and name)."""
        return {
            "currency": self.currency,
            "total_value": _num(self.total_value, MONEY),
            "daily_change": _num(self.daily_change, MONEY),
            "daily_change_percent": _num(self.daily_change_percent, PERCENT),
            "status": "ok" if self.ok else "error",
            "errors": self.errors,
            "positions": [p.as_data() for p in self.positions],
        }


def quantize(value: Decimal, step: Decimal) -> Decimal:
    """Round half-up to ``step`` (``MONEY``, ``PERCENT``, ``RATE``)."""
    return value.quantize(step, rounding=ROUND_HALF_UP, context=_CONTEXT)


def _num(value: Decimal | None, step: Decimal | None = None) -> float | None:
    # A quantized Decimal with at most 15 significant digits round-trips through float
    # exactly, so the JSON text shows the same digits as the Decimal.
    if value is None:
        return None
    return float(quantize(value, step) if step is not None else value)


def _sum(values: Iterable[Decimal | None]) -> Decimal:
    total = _ZERO
    for value in values:
        if value is not None:
            total = _CONTEXT.add(total, value)
    return total


def _percent(change: Decimal | None, base: Decimal | None) -> Decimal | None:
    if change is None or base is None:
        return None
    if not base:
        return _ZERO
    return _CONTEXT.multiply(_CONTEXT.divide(change, base), _HUNDRED)


def _rate(route: Sequence[FxLeg], prices: Mapping[str, Price]) -> tuple[Decimal, Decimal] | None:
    rate = prev = Decimal(1)
    for symbol, inverted in route:
        quote = prices.get(symbol)
        if quote is None or not quote.price or not quote.previous_close:
            return None
        if inverted:
            rate = _CONTEXT.divide(rate, quote.price)
            prev = _CONTEXT.divide(prev, quote.previous_close)
        else:
            rate = _CONTEXT.multiply(rate, quote.price)
            prev = _CONTEXT.multiply(prev, quote.previous_close)
    return rate, prev


def required_symbols(
    currency: str, holdings: Iterable[Holding], pairs: Iterable[FxPair]
) -> set[str]:
    """Every asset whose price the valuation reads: the holdings and their FX legs."""
    pairs = list(pairs)
    out: set[str] = set()
    for holding in holdings:
        out.add(holding.symbol)
        for symbol, _ in fx_route(holding.currency, currency, pairs) or ():
            out.add(symbol)
    return out


def value_portfolio(
    currency: str,
    holdings: Iterable[Holding],
    prices: Mapping[str, Price],
    pairs: Iterable[FxPair] = (),
) -> Valuation:
    """Value ``holdings`` in ``currency`` at ``prices`` (symbol → latest price).

    Never raises for missing data: a position without a price or an FX route gets an
    ``error_code`` (``price_unavailable`` or ``fx_rate_unavailable``) and the totals become
    ``None``.
    """
    pairs = list(pairs)
    mul = _CONTEXT.multiply
    out: list[PositionValue] = []
    for h in holdings:
        quote = prices.get(h.symbol)
        if quote is None:
            out.append(
                PositionValue(
                    h.symbol,
                    h.quantity,
                    h.average_cost,
                    h.currency,
                    None,
                    None,
                    None,
                    None,
                    None,
                    PRICE_UNAVAILABLE,
                    f"no price for {h.symbol} yet",
                )
            )
            continue
        route = fx_route(h.currency, currency, pairs)
        rates = _rate(route, prices) if route is not None else None
        if rates is None:
            out.append(
                PositionValue(
                    h.symbol,
                    h.quantity,
                    h.average_cost,
                    h.currency,
                    quote.price,
                    quote.previous_close,
                    None,
                    None,
                    None,
                    FX_RATE_UNAVAILABLE,
                    f"no {h.currency}→{currency} exchange rate: add an active FX asset "
                    f"such as {h.currency}-{currency} (or {currency}-{h.currency})",
                )
            )
            continue
        rate, prev_rate = rates
        value = mul(mul(h.quantity, quote.price), rate)
        previous = mul(mul(h.quantity, quote.previous_close), prev_rate)
        out.append(
            PositionValue(
                h.symbol,
                h.quantity,
                h.average_cost,
                h.currency,
                quote.price,
                quote.previous_close,
                rate,
                value,
                previous,
            )
        )
    if all(p.value is not None for p in out):
        total = _sum(p.value for p in out)
        previous_total = _sum(p.previous_value for p in out)
        return Valuation(currency, tuple(out), total, previous_total)
    return Valuation(currency, tuple(out), None, None)
