"""The books of the portfolios that alert rules watch, valued at the feed's prices.

The evaluator keeps one :class:`~tickwire.portfolios.services.Book` per portfolio with a
rule (loaded with ``load_book``, reloaded on ``control.portfolio.<id>``) and values it
with the REST API's function (:func:`~tickwire.portfolios.valuation.value_portfolio`;
the live valuer's book gives the same digits), so a rule on "portfolio 12 below 9400"
sees the total a subscriber of ``portfolio.12`` sees. Prices are the feed's
latest quotes; a symbol the feed does not quote falls back to its stored price.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from tickwire.portfolios.services import Book
from tickwire.portfolios.valuation import (
    MONEY,
    PERCENT,
    Price,
    quantize,
    required_symbols,
    to_decimal,
    value_portfolio,
)
from tickwire.stream.alerts import Observation
from tickwire.stream.feeds import Quote

__all__ = ["Books", "quote_price"]

# Most ticks move no portfolio with a rule: one empty set for all of them.
_NONE: frozenset[int] = frozenset()


def quote_price(quote: Quote) -> Price:
    """A feed quote as the valuation's Decimal price (floats through their shortest text)."""
    price = to_decimal(quote.price)
    return Price(price, to_decimal(quote.previous_close) if quote.previous_close else price)


class Books:
    """Portfolios by id, and which of them read each symbol (holdings and FX legs)."""

    def __init__(self) -> None:
        self._books: dict[int, Book] = {}
        self._symbols: dict[int, frozenset[str]] = {}
        self._readers: dict[str, set[int]] = {}

    def __contains__(self, portfolio_id: object) -> bool:
        return portfolio_id in self._books

    def __len__(self) -> int:
        return len(self._books)

    def ids(self) -> list[int]:
        return sorted(self._books)

    def put(self, book: Book) -> None:
        """Hold ``book`` (a reload replaces the previous one)."""
        pid = book.portfolio_id
        self.drop(pid)
        symbols = frozenset(required_symbols(book.currency, book.holdings, book.pairs))
        self._books[pid] = book
        self._symbols[pid] = symbols
        for symbol in symbols:
            self._readers.setdefault(symbol, set()).add(pid)

    def drop(self, portfolio_id: int) -> None:
        self._books.pop(portfolio_id, None)
        for symbol in self._symbols.pop(portfolio_id, ()):
            readers = self._readers[symbol]
            readers.discard(portfolio_id)
            if not readers:
                del self._readers[symbol]

    def readers(self, symbol: str) -> Set[int]:
        """The portfolios whose value moves with ``symbol``."""
        return self._readers.get(symbol, _NONE)

    def observation(
        self, portfolio_id: int, quotes: Mapping[str, Quote], at: float
    ) -> Observation | None:
        """The portfolio's total value and daily change at ``quotes``, rounded as a
        ``portfolio_update`` shows them (cents, 4 places of percent); None while a holding
        has no price or no FX route (a total that leaves a holding out would be wrong)."""
        book = self._books[portfolio_id]
        prices = {}
        for symbol in self._symbols[portfolio_id]:
            quote = quotes.get(symbol)
            if quote is not None:
                prices[symbol] = quote_price(quote)
            elif symbol in book.stored_prices:
                prices[symbol] = book.stored_prices[symbol]
        valuation = value_portfolio(book.currency, book.holdings, prices, book.pairs)
        if valuation.total_value is None:
            return None
        change = valuation.daily_change_percent
        return Observation.portfolio(
            portfolio_id,
            quantize(valuation.total_value, MONEY),
            at,
            change_percent=None if change is None else quantize(change, PERCENT),
        )
