"""The incremental book gives value_portfolio's data digit for digit, and only for what moved."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.portfolios.test_valuer import CURRENCY, HOLDINGS, STORED, TICKS, assert_matches
from tickwire.portfolios.book import ValuationBook
from tickwire.portfolios.valuation import Holding, Price, parse_fx_symbol, value_portfolio

PAIRS = [parse_fx_symbol(s) for s in ("EUR-USD", "USD-JPY", "GBP-USD")]
FX = [p for p in PAIRS if p is not None]
SYMBOLS = {"AAA": "USD", "BBB": "EUR", "CCC": "JPY", "DDD": "GBP", "EEE": "USD", "FFF": "CHF"}


def reference(currency, holdings, prices):
    return value_portfolio(currency, holdings, prices, FX).as_data()


def test_replayed_ticks_match_exact_fractions():
    book = ValuationBook(FX)
    holdings = [Holding(s, Decimal(q), Decimal(0), CURRENCY[s]) for s, q in HOLDINGS.items()]
    for symbol, (_, _, price, prev) in STORED.items():
        book.set_price(symbol, price, prev)
    book.add_portfolio("global", "EUR", holdings)
    prices = {s: (Fraction(Decimal(p)), Fraction(Decimal(c))) for s, (_, _, p, c) in STORED.items()}
    for symbol, price, prev in [(None, None, None), *TICKS]:
        if symbol is not None:
            book.set_price(symbol, price, prev)
            prices[symbol] = (Fraction(Decimal(repr(price))), Fraction(Decimal(repr(prev))))
        # The valuer's own check of a portfolio_update, on the book's data.
        assert_matches({"data": book.flush()["global"]}, prices)


def test_only_portfolios_holding_a_moved_symbol_are_emitted():
    book = ValuationBook(FX)
    book.set_price("AAA", "10", "9")
    book.set_price("BBB", "20", "21")
    book.set_price("EUR-USD", "1.1", "1.2")
    book.add_portfolio(1, "USD", [Holding("AAA", Decimal(1), Decimal(0), "USD")])
    book.add_portfolio(2, "USD", [Holding("BBB", Decimal(1), Decimal(0), "EUR")])
    book.add_portfolio(3, "EUR", [Holding("BBB", Decimal(1), Decimal(0), "EUR")])
    assert set(book.flush()) == {1, 2, 3}
    assert book.flush() == {}
    book.set_price("AAA", "10.5", "9")
    assert set(book.flush()) == {1}
    book.set_price("EUR-USD", "1.15", "1.2")  # converts portfolio 2 only
    assert set(book.flush()) == {2}
    book.remove_portfolio(2)
    book.set_price("BBB", "20.5", "21")
    assert set(book.flush()) == {3}


def test_too_many_decimals_is_a_clear_error_and_changes_nothing():
    book = ValuationBook(price_decimals=4)
    book.set_price("AAA", "10.1234", "10")
    book.add_portfolio(1, "USD", [Holding("AAA", Decimal(3), Decimal(0), "USD")])
    before = book.flush()[1]
    with pytest.raises(ValueError, match="price of AAA has more than 4 decimals"):
        book.set_price("AAA", "10.12345", "10")
    with pytest.raises(ValueError, match="quantity of AAA has more than 8 decimals"):
        book.add_portfolio(2, "USD", [Holding("AAA", Decimal("0.000000001"), Decimal(0), "USD")])
    with pytest.raises(ValueError, match="not a number"):
        book.set_price("AAA", "ten", "10")
    assert book.flush() == {} and book.data(1) == before and len(book) == 1


def test_signed_zeros_are_decimals_signed_zeros():
    # A short position at a zero price is worth -0; an unchanged short book's change is
    # 0 / negative = -0 %. The JSON text shows the sign, so it must match.
    short = [Holding("AAA", Decimal("-2"), Decimal(1), "USD")]
    book = ValuationBook(FX)
    book.set_price("AAA", "0", "1")
    book.add_portfolio(1, "USD", short)
    want = reference("USD", short, {"AAA": Price(Decimal(0), Decimal(1))})
    assert orjson.dumps(book.data(1)) == orjson.dumps(want)
    book.set_price("AAA", "3", "3")
    want = reference("USD", short, {"AAA": Price(Decimal(3), Decimal(3))})
    assert want["daily_change_percent"] == 0 and str(want["daily_change_percent"]) == "-0.0"
    assert orjson.dumps(book.flush()[1]) == orjson.dumps(want)


def test_missing_price_and_missing_fx_rate_match_the_reference_errors():
    book = ValuationBook(FX)
    holdings = [
        Holding("AAA", Decimal(2), Decimal(1), "USD"),
        Holding("FFF", Decimal(1), Decimal(1), "CHF"),
    ]
    book.add_portfolio(1, "EUR", holdings)
    assert book.data(1) == reference("EUR", holdings, {})
    book.set_price("AAA", "3", "2")
    book.set_price("FFF", "4", "2")
    prices = {"AAA": Price(Decimal(3), Decimal(2)), "FFF": Price(Decimal(4), Decimal(2))}
    assert book.flush()[1] == reference("EUR", holdings, prices)
    book.set_price("EUR-USD", "0", "1")  # a zero rate cannot convert either
    prices["EUR-USD"] = Price(Decimal(0), Decimal(1))
    assert book.flush()[1] == reference("EUR", holdings, prices)


prices_st = st.decimals(min_value="0", max_value="5000", places=4, allow_nan=False)
quantities = st.decimals(min_value="-1000", max_value="100000", places=8, allow_nan=False)
holding_st = st.builds(
    lambda s, q, c: Holding(s, q, c, SYMBOLS[s]),
    st.sampled_from(sorted(SYMBOLS)),
    quantities,
    st.decimals(min_value="0", max_value="1000", places=2, allow_nan=False),
)
fx_prices = st.decimals(min_value="0.0001", max_value="300", places=5, allow_nan=False)
every_symbol = sorted(SYMBOLS) + sorted(p.symbol for p in FX)


@settings(max_examples=150, deadline=None)
@given(
    portfolios=st.lists(
        st.tuples(st.sampled_from(["USD", "EUR", "JPY", "GBP"]), st.lists(holding_st, max_size=8)),
        min_size=1,
        max_size=4,
    ),
    ticks=st.lists(
        st.tuples(
            st.sampled_from(every_symbol),
            st.one_of(prices_st, st.floats(0.01, 5000).map(lambda f: round(f, 3))),
            fx_prices,
        ),
        max_size=25,
    ),
    flush_every=st.integers(1, 5),
)
def test_random_books_and_ticks_equal_value_portfolio(portfolios, ticks, flush_every):
    book = ValuationBook(FX)
    prices: dict[str, Price] = {}
    for key, (currency, holdings) in enumerate(portfolios):
        book.add_portfolio(key, currency, holdings)
    shown = book.flush()  # what each portfolio's watchers last received
    for n, (symbol, price, prev) in enumerate(ticks, 1):
        book.set_price(symbol, price, prev)
        prices[symbol] = Price(Decimal(repr(price)) if isinstance(price, float) else price, prev)
        if n % flush_every == 0:
            emitted = book.flush()
            for key, (currency, holdings) in enumerate(portfolios):
                want = reference(currency, holdings, prices)
                shown.update(emitted)
                # The JSON text, so even a -0.0 against 0.0 would show.
                assert orjson.dumps(shown[key]) == orjson.dumps(want), (shown[key], want)
                assert book.data(key) == want
