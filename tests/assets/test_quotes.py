"""The feed's batched quote write: every field of every quote, one statement, no read."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tickwire.assets.models import Asset
from tickwire.assets.quotes import save_quotes
from tickwire.stream.feeds import Instrument, Tick
from tickwire.stream.feeds.service import Quote

pytestmark = pytest.mark.django_db


def quote(symbol: str, price: float, ts: float) -> Quote:
    q = Quote.from_instrument(Instrument(symbol, 100.0, 98.5, kind="stock"), now=ts)
    q.apply(Tick(symbol, price, 12.5, ts))
    return q


def test_quotes_are_written_in_one_statement_and_unknown_symbols_skipped(
    make_asset, django_assert_max_num_queries
):
    make_asset("AAPL")
    make_asset("MSFT")
    ts = 1763740800.25
    quotes = [quote("AAPL", 101.23456789, ts), quote("MSFT", 99.5, ts), quote("NOPE", 1.0, ts)]
    with django_assert_max_num_queries(3):  # the UPDATE, within its transaction
        assert save_quotes(quotes) == 2
    aapl = Asset.objects.get(symbol="AAPL")
    assert (aapl.current_price, aapl.previous_close, aapl.day_high, aapl.day_low) == (
        Decimal("101.23456789"),
        Decimal("98.5"),
        Decimal("101.23456789"),
        Decimal("100"),
    )
    assert aapl.volume == Decimal("12.5")
    assert aapl.last_updated == datetime.fromtimestamp(ts, UTC)
    assert Asset.objects.get(symbol="MSFT").current_price == Decimal("99.5")
    assert not Asset.objects.filter(symbol="NOPE").exists()


def test_the_latest_quote_of_a_symbol_wins_and_nothing_is_no_write(make_asset):
    make_asset("AAPL")
    assert save_quotes([]) == 0
    assert save_quotes([quote("AAPL", 101.0, 1000.0), quote("AAPL", 102.0, 1001.0)]) == 1
    assert Asset.objects.get(symbol="AAPL").current_price == Decimal("102")
