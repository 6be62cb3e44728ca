"""The pure valuation math: Decimal values, daily change, FX routes, error states."""

from __future__ import annotations

from decimal import Decimal as D
from decimal import localcontext

import pytest

from tickwire.portfolios.valuation import (
    FX_RATE_UNAVAILABLE,
    PRICE_UNAVAILABLE,
    FxPair,
    Holding,
    Price,
    fx_route,
    parse_fx_symbol,
    required_symbols,
    to_decimal,
    value_portfolio,
)

EURUSD = FxPair("EUR-USD", "EUR", "USD")
USDJPY = FxPair("USD-JPY", "USD", "JPY")
GBPUSD = FxPair("GBP-USD", "GBP", "USD")


def test_parse_fx_symbol_forms():
    assert parse_fx_symbol("EUR-USD") == EURUSD
    assert parse_fx_symbol("eurusd") == FxPair("eurusd", "EUR", "USD")
    assert parse_fx_symbol("USD-JPY", "JPY") == USDJPY
    assert parse_fx_symbol("BTC-USDT") is None
    assert parse_fx_symbol("AAPL") is None
    assert parse_fx_symbol("USD-USD") is None


def test_fx_routes_direct_inverse_two_legs_and_none():
    pairs = [EURUSD, USDJPY, GBPUSD]
    assert fx_route("USD", "USD", pairs) == []
    assert fx_route("EUR", "USD", pairs) == [("EUR-USD", False)]
    assert fx_route("USD", "EUR", pairs) == [("EUR-USD", True)]
    assert fx_route("JPY", "EUR", pairs) == [("USD-JPY", True), ("EUR-USD", True)]
    assert fx_route("GBP", "JPY", pairs) == [("GBP-USD", False), ("USD-JPY", False)]
    assert fx_route("CHF", "USD", pairs) is None


def test_single_currency_value_and_daily_change_are_exact():
    holdings = [
        Holding("AAPL", D("10"), D("189.50"), "USD"),
        Holding("BTC-USD", D("0.12345678"), D("67250"), "USD"),
    ]
    prices = {
        "AAPL": Price(D("268.40"), D("265.12")),
        "BTC-USD": Price(D("104250.50"), D("101980.25")),
    }
    v = value_portfolio("USD", holdings, prices)
    btc = D("0.12345678") * D("104250.50")
    assert v.total_value == D("2684.00") + btc
    assert v.daily_change == D("32.80") + D("0.12345678") * (D("104250.50") - D("101980.25"))
    data = v.as_data()
    assert data["status"] == "ok" and data["errors"] == []
    assert data["total_value"] == float((D("2684") + btc).quantize(D("0.01")))
    aapl = data["positions"][0]
    assert aapl["value"] == 2684.0 and aapl["daily_change"] == 32.8
    assert aapl["daily_change_percent"] == 1.2372  # 32.80 / 2651.20 * 100 = 1.23717...
    assert aapl["fx_rate"] == 1.0


def test_foreign_holding_is_converted_with_fx_and_its_previous_close():
    holdings = [Holding("AAPL", D("10"), D("0"), "USD")]
    prices = {
        "AAPL": Price(D("268.40"), D("265.12")),
        "EUR-USD": Price(D("1.16420"), D("1.16185")),
    }
    v = value_portfolio("EUR", holdings, prices, [EURUSD])
    with localcontext(prec=80):
        value = D("2684.00") / D("1.16420")
        previous = D("2651.20") / D("1.16185")
        assert abs(v.total_value - value) < D("1e-50")
        assert abs(v.daily_change - (value - previous)) < D("1e-50")
    assert v.as_data()["total_value"] == float(value.quantize(D("0.01")))


def test_missing_fx_rate_is_a_clear_error_state_not_a_wrong_total():
    holdings = [
        Holding("AAPL", D("1"), D("0"), "USD"),
        Holding("NESN", D("5"), D("0"), "CHF"),
    ]
    prices = {"AAPL": Price(D("100"), D("99")), "NESN": Price(D("80"), D("79"))}
    data = value_portfolio("USD", holdings, prices, [EURUSD]).as_data()
    assert data["status"] == "error"
    assert data["total_value"] is None and data["daily_change"] is None
    assert data["errors"] == [
        {
            "symbol": "NESN",
            "code": FX_RATE_UNAVAILABLE,
            "message": data["positions"][1]["error"]["message"],
        }
    ]
    assert "CHF-USD" in data["errors"][0]["message"]
    assert data["positions"][0]["value"] == 100.0  # the others are still shown


def test_missing_price_is_an_error_too():
    data = value_portfolio("USD", [Holding("NEW", D("1"), D("0"), "USD")], {}).as_data()
    assert data["status"] == "error" and data["errors"][0]["code"] == PRICE_UNAVAILABLE


def test_empty_portfolio_is_worth_zero():
    data = value_portfolio("USD", [], {}).as_data()
    assert data["total_value"] == 0.0 and data["daily_change_percent"] == 0.0
    assert data["status"] == "ok"


def test_required_symbols_include_fx_legs():
    holdings = [Holding("AAPL", D("1"), D("0"), "USD"), Holding("TM", D("1"), D("0"), "JPY")]
    assert required_symbols("EUR", holdings, [EURUSD, USDJPY]) == {
        "AAPL",
        "TM",
        "EUR-USD",
        "USD-JPY",
    }


def test_to_decimal_is_exact_for_wire_floats_and_rejects_non_numbers():
    assert to_decimal(268.4) == D("268.4")
    assert to_decimal(0.1) == D("0.1")
    for bad in ("abc", float("nan"), float("inf")):
        with pytest.raises(ValueError):
            to_decimal(bad)
