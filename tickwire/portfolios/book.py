"""Incremental, exact portfolio valuation: many portfolios, revalued only where a price moved.

``value_portfolio`` values one portfolio from scratch with Decimals; this module keeps the
same numbers for many portfolios at once and, on each flush, touches only the positions
whose inputs changed. Its output is ``value_portfolio(...).as_data()`` digit for digit.

How it stays exact without Decimal:

* Quantities and prices are integers scaled by ``10**quantity_decimals`` and
  ``10**price_decimals``. A number with more decimals than its scale is rejected with a
  ``ValueError`` naming it, before anything changes: it is never rounded to fit.
* An FX rate is a rational (numerator, denominator) of scaled FX prices: an inverted leg
  swaps them, so ``1 / 1.1642`` is held exactly rather than to 60 digits.
* Each portfolio keeps a running sum of ``quantity * price`` (and of the previous close) per
  holding currency, updated by delta when a position is revalued. Its totals are those sums
  times their currency's rate, combined over a common denominator, and rounded half-up only
  when presented (cents, 4 places for percentages, 10 for rates), as ``valuation`` does.
* ``value_portfolio`` rounds a quotient to 60 significant digits before presenting it; the
  exact rational rounds to the same cents unless a value lies within 1e-50 of a half-cent,
  which no real price produces.

A symbol → holders index means a tick touches only the positions that hold the symbol (or
convert through it, for an FX pair); ``set_price`` only records the price, so ten ticks on a
symbol between two flushes cost one revaluation. ``flush`` returns the data of the
portfolios whose inputs changed since the last flush, and nothing for the others.

What it does not do: read the database, subscribe to feeds, or throttle; the caller decides
when to flush. Not thread-safe.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from decimal import Context, Decimal
from math import copysign, lcm
from typing import Any, Final

from .valuation import (
    FX_RATE_UNAVAILABLE,
    PRICE_UNAVAILABLE,
    FxPair,
    Holding,
    fx_route,
    to_decimal,
)

__all__ = ["PriceEntry", "ValuationBook"]

_WIDE: Final = Context(prec=80)

#: A price as the book holds it: scaled price and previous close, and both as floats.
PriceEntry = tuple[int, int, float, float]

#: A rate and its previous-close rate as rationals (num, den, prev_num, prev_den), then what
#: every position converted with it needs: the rate at 10 places, num * prev_den,
#: prev_num * den, 2 * den * scale and 2 * den * prev_den * scale, and the last two halved.
_Rate = tuple[int, int, int, int, float, int, int, int, int, int, int]
#: What a flush's holders of one symbol share (ValuationBook._move).
_Move = tuple[
    int, int, float, float, float, int, int, int, int, int, int, float, bool, bool, int, int
]
#: Rates into one currency over a common denominator: den, prev_den, currency →
#: (num * den / rate_den, prev_num * prev_den / rate_prev_den), den * scale,
#: den * prev_den * scale.
_Factors = tuple[int, int, dict[str, tuple[int, int]], int, int]


def _scaled(value: Decimal, decimals: int, what: str) -> int:
    scaled = value.scaleb(decimals, context=_WIDE)
    if scaled != scaled.to_integral_value(context=_WIDE):
        raise ValueError(f"{what} has more than {decimals} decimals: {value}")
    return int(scaled)


def _rounded(num: int, den: int, scale: int) -> float:
    """``num / den`` (den > 0) rounded half away from zero to ``1/scale``, as a float.

    ``int / int`` is correctly rounded in Python, so this is the float of the quantized
    Decimal: the same JSON digits.
    """
    if num >= 0:
        return ((2 * num * scale + den) // (2 * den)) / scale
    return -(((-2 * num * scale + den) // (2 * den)) / scale)


def _percent(change: int, base: int) -> float:
    """``change / base * 100`` at 4 places (0 when the base is 0, as ``valuation`` does)."""
    if not base:
        return 0.0
    if base < 0:  # Decimal: 0 / -x is -0, so the sign comes from the base
        return -_rounded(100 * change, -base, 10**4)
    return _rounded(100 * change, base, 10**4)


def _moved(route: list[tuple[str, bool]], symbols: set[str]) -> bool:
    return any(symbol in symbols for symbol, _ in route)


def _signed(quantity_signed: bool, price: float, num: int, den: int) -> bool:
    """The sign Decimal gives ``quantity * price * rate``: the parity of negative factors."""
    return (quantity_signed != (copysign(1, price) < 0)) != ((num < 0) != (den < 0))


class _Position:
    __slots__ = (
        "book",
        "currency",
        "data",
        "error",
        "index",
        "key",
        "previous",
        "quantity",
        "signed",
        "stamp",
        "static",
        "symbol",
        "value",
    )

    def __init__(self, book: _Book, holding: Holding, quantity: int) -> None:
        self.book = book
        self.symbol = holding.symbol
        self.currency = holding.currency
        #: What its revaluation shares with other holders: see ValuationBook._move. (The
        #: book gives every holder the same tuple: one per key, not one per position.)
        self.key = (holding.symbol, holding.currency, book.currency)
        self.quantity = quantity
        self.signed = holding.quantity.is_signed()  # for Decimal's signed zeros
        self.static = (float(holding.quantity), float(holding.average_cost))
        self.value = 0  # quantity * price (scaled), 0 while in error
        self.previous = 0
        self.error: str | None = "new"
        self.data: dict[str, Any] = {}
        self.index = len(book.rows)
        book.rows.append(self.data)
        self.stamp = -1


class _Book:
    __slots__ = ("converted", "currency", "errors", "key", "positions", "rows", "sums")

    def __init__(self, key: Hashable, currency: str) -> None:
        self.key = key
        self.currency = currency
        self.positions: list[_Position] = []
        # Each position's data in order: an emit copies this list instead of visiting
        # twenty position objects.
        self.rows: list[dict[str, Any]] = []
        self.errors = 0
        # holding currency → [sum of quantity * price, sum of quantity * previous close]
        self.sums: dict[str, list[int]] = {}
        # The sums converted with the factors of one generation: [generation, value
        # numerator, previous numerator]; kept up by delta while the rates stand still.
        self.converted = [-1, 0, 0]


class ValuationBook:
    """Portfolios valued incrementally; ``flush`` gives the changed ones' ``as_data``.

    Args:
        pairs: the FX assets that conversions may route through.
        price_decimals: decimals a price (or FX rate) may carry; more raises ``ValueError``.
        quantity_decimals: decimals a quantity may carry (the database keeps 8).
    """

    def __init__(
        self,
        pairs: Iterable[FxPair] = (),
        *,
        price_decimals: int = 10,
        quantity_decimals: int = 8,
    ) -> None:
        if price_decimals < 0 or quantity_decimals < 0:
            raise ValueError("price_decimals and quantity_decimals must not be negative")
        self._pairs = sorted(pairs, key=lambda p: p.symbol)
        self._price_decimals = price_decimals
        self._quantity_decimals = quantity_decimals
        self._unit = 10**price_decimals
        self._scale = 10 ** (price_decimals + quantity_decimals)
        self._books: dict[Hashable, _Book] = {}
        self._prices: dict[str, tuple[int, int, float, float]] = {}
        self._holders: dict[str, list[_Position]] = {}
        self._routes: dict[tuple[str, str], list[tuple[str, bool]] | None] = {}
        self._rates: dict[tuple[str, str], _Rate | None] = {}
        self._fx_symbols = {p.symbol for p in self._pairs}
        self._dirty_symbols: set[str] = set()
        self._dirty_books: dict[Hashable, _Book] = {}
        self._generation = 0
        self._positions = 0  # positions held, to choose between following holders and a sweep
        #: (symbol, holding currency, portfolio currency) → what every holder's revaluation
        #: shares in this flush (see _move); False: the general path (errors, zeros).
        self._moves: dict[tuple[str, str, str], _Move | bool] = {}
        #: portfolio currency → the rates of every currency into it over one denominator.
        self._factors_cache: dict[str, _Factors] = {}
        self._factors_generation = 0
        self._keys: dict[tuple[str, str, str], tuple[str, str, str]] = {}

    # -- inputs ---------------------------------------------------------------------------

    def add_portfolio(self, key: Hashable, currency: str, holdings: Iterable[Holding]) -> None:
        """Hold (or replace) portfolio ``key``; it is valued at the current prices now.

        Raises:
            ValueError: a quantity has more decimals than ``quantity_decimals``.
        """
        book = _Book(key, currency)
        for holding in holdings:
            what = f"quantity of {holding.symbol}"
            quantity = _scaled(to_decimal(holding.quantity), self._quantity_decimals, what)
            position = _Position(book, holding, quantity)
            position.key = self._keys.setdefault(position.key, position.key)
            book.positions.append(position)
        if key in self._books:
            self.remove_portfolio(key)
        self._books[key] = book
        self._factors_cache.pop(currency, None)  # its holdings may need another route
        self._factors_generation += 1
        self._positions += len(book.positions)
        for position in book.positions:
            for symbol in self._symbols_of(position.currency, currency) | {position.symbol}:
                self._holders.setdefault(symbol, []).append(position)
            book.errors += 1  # the "new" state; _revalue settles it
            book.sums.setdefault(position.currency, [0, 0])
            self._revalue(position, self._rate(position.currency, currency))
        self._dirty_books[key] = book

    def remove_portfolio(self, key: Hashable) -> None:
        """Forget portfolio ``key`` (no error if it is not held)."""
        book = self._books.pop(key, None)
        self._dirty_books.pop(key, None)
        if book is None:
            return
        self._positions -= len(book.positions)
        for position in book.positions:
            symbols = self._symbols_of(position.currency, book.currency) | {position.symbol}
            for symbol in symbols:
                holders = self._holders.get(symbol, [])
                holders[:] = [p for p in holders if p is not position]

    def set_price(
        self, symbol: str, price: float | str | Decimal, previous_close: float | str | Decimal
    ) -> None:
        """Record the latest price of ``symbol``; the holders are revalued on ``flush``.

        Raises:
            ValueError: not a finite number, or more decimals than ``price_decimals``
                (the book is unchanged).
        """
        self.set_entry(symbol, self.price_entry(symbol, price, previous_close))

    def price_entry(
        self, symbol: str, price: float | str | Decimal, previous_close: float | str | Decimal
    ) -> PriceEntry:
        """The price as ``set_price`` holds it, checked once for several books of the same
        decimals (``set_entry`` on each).

        Raises:
            ValueError: as ``set_price``.
        """
        exact, prev = to_decimal(price), to_decimal(previous_close)
        digits = self._price_decimals
        return (
            _scaled(exact, digits, f"price of {symbol}"),
            _scaled(prev, digits, f"previous_close of {symbol}"),
            float(exact),
            float(prev),
        )

    def set_entry(self, symbol: str, entry: PriceEntry) -> None:
        """``set_price`` with a ``price_entry`` of a book of the same decimals."""
        if self._prices.get(symbol) == entry:
            return  # the same price again moves nothing: nobody is emitted for it
        self._prices[symbol] = entry
        self._dirty_symbols.add(symbol)

    # -- outputs --------------------------------------------------------------------------

    def flush(self) -> dict[Hashable, dict[str, Any]]:
        """Revalue what changed since the last flush; the data of each changed portfolio."""
        self._apply()
        books, self._dirty_books = self._dirty_books, {}
        return {key: self._data(book) for key, book in books.items()}

    def data(self, key: Hashable) -> dict[str, Any]:
        """Portfolio ``key``'s current data, as ``value_portfolio(...).as_data()``.

        It stays due for the next ``flush`` if its inputs changed.

        Raises:
            KeyError: the portfolio is not held.
        """
        self._apply()
        return self._data(self._books[key])

    def __len__(self) -> int:
        return len(self._books)

    def holds(self, symbol: str) -> bool:
        """True if a held portfolio's value reads ``symbol`` (a holding or an FX leg)."""
        return bool(self._holders.get(symbol))

    def has_price(self, symbol: str) -> bool:
        return symbol in self._prices

    def price(self, symbol: str) -> tuple[Decimal, Decimal] | None:
        """The exact price and previous close last set for ``symbol`` (None: never set)."""
        entry = self._prices.get(symbol)
        if entry is None:
            return None
        unit = -self._price_decimals
        return Decimal(entry[0]).scaleb(unit), Decimal(entry[1]).scaleb(unit)

    def prices(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Every price set, exact (``price``'s form)."""
        return {symbol: p for symbol in self._prices if (p := self.price(symbol)) is not None}

    def __contains__(self, key: object) -> bool:
        return key in self._books

    # -- internals ------------------------------------------------------------------------

    def _apply(self) -> None:
        dirty = self._dirty_symbols
        if not dirty:
            return
        self._dirty_symbols = set()
        if dirty & self._fx_symbols:
            self._rates.clear()
            self._factors_cache.clear()
            self._factors_generation += 1
        self._moves.clear()
        self._generation += 1
        generation = self._generation
        revalue, books = self._revalue_moved, self._dirty_books
        holders = self._holders
        touched = sum(len(holders.get(symbol, ())) for symbol in dirty)
        if touched * 2 > self._positions:
            # Most positions moved (every symbol ticked within the throttle): one sweep in
            # portfolio order reads memory in the order it was allocated, where following
            # each symbol's holders jumps across every portfolio.
            routes = {key for key, route in self._routes.items() if route and _moved(route, dirty)}
            for key, book in self._books.items():
                target, moved = book.currency, False
                for position in book.positions:
                    currency = position.currency
                    if position.symbol in dirty or (
                        currency != target and (currency, target) in routes
                    ):
                        revalue(position)
                        moved = True
                if moved:
                    books[key] = book
            return
        for symbol in dirty:
            for position in holders.get(symbol, ()):
                if position.stamp != generation:
                    position.stamp = generation
                    book = position.book
                    revalue(position)
                    books[book.key] = book

    def _symbols_of(self, source: str, target: str) -> set[str]:
        return {symbol for symbol, _ in self._route(source, target) or ()}

    def _route(self, source: str, target: str) -> list[tuple[str, bool]] | None:
        key = (source, target)
        if key not in self._routes:
            self._routes[key] = fx_route(source, target, self._pairs)
        return self._routes[key]

    def _rate(self, source: str, target: str) -> _Rate | None:
        key = (source, target)
        try:
            return self._rates[key]
        except KeyError:
            pass
        route = self._route(source, target)
        out: _Rate | None = None
        if route is not None:
            num = den = prev_num = prev_den = 1
            for symbol, inverted in route:
                quote = self._prices.get(symbol)
                if quote is None or not quote[0] or not quote[1]:
                    break
                price, prev = quote[0], quote[1]
                if inverted:
                    num, den = num * self._unit, den * price
                    prev_num, prev_den = prev_num * self._unit, prev_den * prev
                else:
                    num, den = num * price, den * self._unit
                    prev_num, prev_den = prev_num * prev, prev_den * self._unit
            else:
                scale = self._scale
                out = (
                    num,
                    den,
                    prev_num,
                    prev_den,
                    _rounded(num, den, 10**10),
                    num * prev_den,
                    prev_num * den,
                    2 * den * scale,
                    2 * den * prev_den * scale,
                    den * scale,
                    den * prev_den * scale,
                )
        self._rates[key] = out
        return out

    def _move(self, symbol: str, currency: str, target: str) -> _Move | bool:
        """What every holder of ``symbol`` (quoted in ``currency``, valued in ``target``)
        shares in this flush, so that a holder's revaluation is a few integer products.

        With ``now = q * P * nf`` and ``before = q * PC * bf`` (q the scaled quantity),
        ``200 * now * ...`` rounds through ``q * W`` and the change through ``q * D``; the
        percentage ``change / before`` does not depend on q at all, so it is rounded here,
        once. False (the general path) when a price or rate is missing or a price is zero:
        that is where Decimal's signed zeros and the errors live.
        """
        quote = self._prices.get(symbol)
        rate = self._rate(currency, target)
        if quote is None or rate is None or not quote[0] or not quote[1]:
            return False
        multipliers = self._factors(target)[2].get(currency)
        if multipliers is None:
            return False
        price, previous = quote[0], quote[1]
        num, now_factor, before_factor = rate[0], rate[5], rate[6]
        delta = price * now_factor - previous * before_factor
        base = previous * before_factor
        if delta:
            magnitude = ((2_000_000 * abs(delta) + abs(base)) // (2 * abs(base))) / 10_000
            percent = magnitude if (delta > 0) == (base > 0) else -magnitude
        else:
            percent = 0.0
        return (
            price,
            previous,
            quote[2],
            quote[3],
            rate[4],
            200 * price * num,
            rate[7],
            rate[9],
            200 * delta,
            rate[8],
            rate[10],
            percent,
            not delta,
            base < 0,
            multipliers[0],
            multipliers[1],
        )

    def _revalue_moved(self, position: _Position) -> None:
        """Revalue a position whose price or rate moved, through the flush's shared part."""
        book = position.book
        key = position.key
        move = self._moves.get(key)
        if move is None:
            move = self._moves[key] = self._move(*key)
        quantity = position.quantity
        if move is False or move is True or not quantity:
            self._revalue(position, self._rate(position.currency, book.currency))
            return
        (
            price,
            previous_close,
            price_f,
            previous_f,
            fx_rate,
            worth_factor,
            twice,
            half,
            change_factor,
            common,
            common_half,
            percent,
            unchanged,
            base_negative,
            multiplier,
            prev_multiplier,
        ) = move
        value = quantity * price
        previous = quantity * previous_close
        if position.error is not None:
            book.errors -= 1
            position.error = None
        moved, moved_before = value - position.value, previous - position.previous
        sums = book.sums[position.currency]
        sums[0] += moved
        sums[1] += moved_before
        converted = book.converted
        if converted[0] == self._factors_generation:
            converted[1] += moved * multiplier
            converted[2] += moved_before * prev_multiplier
        position.value, position.previous = value, previous
        worth = quantity * worth_factor
        if worth >= 0:
            value_text = ((worth + half) // twice) / 100
        else:
            value_text = -(((half - worth) // twice) / 100)
        change_x = quantity * change_factor
        if change_x >= 0:
            change_text = ((change_x + common_half) // common) / 100
        else:
            change_text = -(((common_half - change_x) // common) / 100)
        if unchanged:  # 0 / before: Decimal's zero takes the sign of before
            percent = 0.0 if (quantity > 0) != base_negative else -0.0
        static = position.static
        position.data = book.rows[position.index] = {
            "symbol": position.symbol,
            "quantity": static[0],
            "average_cost": static[1],
            "currency": position.currency,
            "price": price_f,
            "previous_close": previous_f,
            "fx_rate": fx_rate,
            "value": value_text,
            "daily_change": change_text,
            "daily_change_percent": percent,
            "error": None,
        }

    def _factors(self, target: str) -> _Factors:
        """Every rate into ``target`` over one denominator (and the previous closes' over
        another), so a portfolio's total is one product per holding currency."""
        cached = self._factors_cache.get(target)
        if cached is not None:
            return cached
        rates: dict[str, _Rate] = {}
        for source, into in list(self._routes):
            if into == target:
                rate = self._rate(source, target)
                if rate is not None:
                    rates[source] = rate
        den = lcm(*(abs(r[1]) for r in rates.values())) if rates else 1
        prev_den = lcm(*(abs(r[3]) for r in rates.values())) if rates else 1
        multipliers = {
            source: (r[0] * (den // r[1]), r[2] * (prev_den // r[3])) for source, r in rates.items()
        }
        scale = self._scale
        factors = (den, prev_den, multipliers, den * scale, den * prev_den * scale)
        self._factors_cache[target] = factors
        return factors

    def _revalue(self, position: _Position, rate: _Rate | None) -> None:
        book = position.book
        quote = self._prices.get(position.symbol)
        quantity, average_cost = position.static
        if quote is None or rate is None:
            error = PRICE_UNAVAILABLE if quote is None else FX_RATE_UNAVAILABLE
            self._settle(position, error, 0, 0)
            if quote is None:
                message = f"no price for {position.symbol} yet"
                price = previous_close = None
            else:
                message = (
                    f"no {position.currency}→{book.currency} exchange rate: add an active FX "
                    f"asset such as {position.currency}-{book.currency} "
                    f"(or {book.currency}-{position.currency})"
                )
                price, previous_close = quote[2], quote[3]
            position.data = book.rows[position.index] = {
                "symbol": position.symbol,
                "quantity": quantity,
                "average_cost": average_cost,
                "currency": position.currency,
                "price": price,
                "previous_close": previous_close,
                "fx_rate": None,
                "value": None,
                "daily_change": None,
                "daily_change_percent": None,
                "error": {"code": error, "message": message},
            }
            return
        value = position.quantity * quote[0]
        previous = position.quantity * quote[1]
        if position.error is not None:
            book.errors -= 1
            position.error = None
        book.converted[0] = -1  # converted again from the sums when next presented
        sums = book.sums[position.currency]
        sums[0] += value - position.value
        sums[1] += previous - position.previous
        position.value, position.previous = value, previous
        # value * num / (den * scale) and previous * prev_num / (prev_den * scale), over the
        # common denominator den * prev_den * scale for the change; rounded half away from
        # zero as n // d on twice the numbers.
        (num, den, prev_num, prev_den, fx_rate, now_factor, before_factor, twice, common) = rate[:9]
        half, common_half = rate[9], rate[10]
        now = value * now_factor
        before = previous * before_factor
        change = now - before
        worth = 200 * value * num
        if worth >= 0:
            value_text = ((worth + half) // twice) / 100
        else:
            value_text = -(((half - worth) // twice) / 100)
        change_x = 200 * change
        if change_x >= 0:
            change_text = ((change_x + common_half) // common) / 100
        else:
            change_text = -(((common_half - change_x) // common) / 100)
        if not before:
            percent = 0.0
        elif (change >= 0) == (before > 0):
            percent = ((2_000_000 * abs(change) + abs(before)) // (2 * abs(before))) / 10_000
        else:
            percent = -(((2_000_000 * abs(change) + abs(before)) // (2 * abs(before))) / 10_000)
        if not now and _signed(position.signed, quote[2], num, den):
            # Decimal keeps the sign of a zero product (-5 * 0 is -0) and -0 - 0 is -0.
            value_text = -0.0
            if not before and not _signed(position.signed, quote[3], prev_num, prev_den):
                change_text = -0.0
        position.data = book.rows[position.index] = {
            "symbol": position.symbol,
            "quantity": quantity,
            "average_cost": average_cost,
            "currency": position.currency,
            "price": quote[2],
            "previous_close": quote[3],
            "fx_rate": fx_rate,
            "value": value_text,
            "daily_change": change_text,
            "daily_change_percent": percent,
            "error": None,
        }

    @staticmethod
    def _settle(position: _Position, error: str | None, value: int, previous: int) -> None:
        book = position.book
        was = position.error
        if (was is None) != (error is None):
            book.errors += 1 if error is not None else -1
        book.converted[0] = -1
        sums = book.sums[position.currency]
        sums[0] += value - position.value
        sums[1] += previous - position.previous
        position.value, position.previous, position.error = value, previous, error

    def _data(self, book: _Book) -> dict[str, Any]:
        positions = book.rows.copy()
        if book.errors:
            return {
                "currency": book.currency,
                "total_value": None,
                "daily_change": None,
                "daily_change_percent": None,
                "status": "error",
                "errors": [
                    {"symbol": p.symbol, "code": p.error, "message": p.data["error"]["message"]}
                    for p in book.positions
                    if p.error is not None
                ],
                "positions": positions,
            }
        # Every position is valued, so every holding currency has a rate (a multiplier).
        den, prev_den, multipliers, value_den, change_den = self._factors(book.currency)
        converted = book.converted
        if converted[0] != self._factors_generation:
            num = prev_num = 0
            for currency, (value, previous) in book.sums.items():
                multiplier, prev_multiplier = multipliers[currency]
                num += value * multiplier
                prev_num += previous * prev_multiplier
            converted[:] = (self._factors_generation, num, prev_num)
        else:
            num, prev_num = converted[1], converted[2]
        change = num * prev_den - prev_num * den
        before = prev_num * den
        # Rounded half away from zero to cents, as _rounded (inline: this runs per emit).
        if num >= 0:
            total = ((200 * num + value_den) // (2 * value_den)) / 100
        else:
            total = -(((-200 * num + value_den) // (2 * value_den)) / 100)
        if change >= 0:
            daily = ((200 * change + change_den) // (2 * change_den)) / 100
        else:
            daily = -(((-200 * change + change_den) // (2 * change_den)) / 100)
        return {
            "currency": book.currency,
            "total_value": total,
            "daily_change": daily,
            "daily_change_percent": _percent(change, before),
            "status": "ok",
            "errors": [],
            "positions": positions,
        }
