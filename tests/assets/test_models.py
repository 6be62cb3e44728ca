"""Asset and PriceBar model behaviour."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tickwire.assets.models import Asset, PriceBar

from .conftest import AssetFactory

pytestmark = pytest.mark.django_db


def test_symbol_is_stored_upper_case(make_asset: AssetFactory) -> None:
    make_asset("brk.b", currency="usd")
    asset = Asset.objects.get()
    assert asset.symbol == "BRK.B"
    assert asset.currency == "USD"
    assert str(asset) == "BRK.B"


def test_clean_upper_cases_before_validation() -> None:
    asset = Asset(symbol=" btc-usd ", name="Bitcoin", kind=Asset.Kind.CRYPTO, currency="usd")
    asset.full_clean()  # would fail the symbol/currency validators if not upper-cased first
    assert asset.symbol == "BTC-USD"


def test_symbol_validation_rejects_garbage() -> None:
    asset = Asset(symbol="AA PL!", name="Bad", kind=Asset.Kind.STOCK)
    with pytest.raises(ValidationError) as excinfo:
        asset.full_clean()
    assert "symbol" in excinfo.value.message_dict


def test_symbol_is_unique_regardless_of_case(make_asset: AssetFactory) -> None:
    make_asset("AAPL")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_asset("aapl")


def test_change_and_change_percent(make_asset: AssetFactory) -> None:
    asset = make_asset(current_price=Decimal("268.40"), previous_close=Decimal("265.12"))
    assert asset.change == Decimal("3.28")
    # 3.28 / 265.12 * 100 = 1.23717...
    assert asset.change_percent == Decimal("1.2372")


def test_change_is_negative_when_price_falls(make_asset: AssetFactory) -> None:
    asset = make_asset("TSLA", current_price=Decimal("412.60"), previous_close=Decimal("420.10"))
    assert asset.change == Decimal("-7.50")
    assert asset.change_percent == Decimal("-1.7853")


def test_change_is_none_without_previous_close(make_asset: AssetFactory) -> None:
    asset = make_asset(previous_close=None)
    assert asset.change is None
    assert asset.change_percent is None


def test_change_percent_is_none_when_previous_close_is_zero(make_asset: AssetFactory) -> None:
    asset = make_asset(previous_close=Decimal("0"))
    assert asset.change == Decimal("268.40")
    assert asset.change_percent is None


def test_decimal_round_trip_keeps_every_digit(make_asset: AssetFactory) -> None:
    # Up to 15 significant digits: SQLite (the embedded default) stores NUMERIC values as
    # doubles, PostgreSQL keeps all 20.
    make_asset(
        "BTC-USD",
        kind=Asset.Kind.CRYPTO,
        current_price=Decimal("104250.12345678"),
        volume=Decimal("28415.37210000"),
    )
    make_asset("SHIB-USD", kind=Asset.Kind.CRYPTO, current_price=Decimal("0.00001234"))
    btc = Asset.objects.get(symbol="BTC-USD")
    assert isinstance(btc.current_price, Decimal)
    assert btc.current_price == Decimal("104250.12345678")
    assert btc.volume == Decimal("28415.3721")
    assert Asset.objects.get(symbol="SHIB-USD").current_price == Decimal("0.00001234")


def test_new_asset_defaults() -> None:
    asset = Asset.objects.create(symbol="eur-usd", name="Euro", kind=Asset.Kind.FX)
    assert asset.is_active is True
    assert asset.volume == Decimal("0")
    assert asset.current_price is None
    assert asset.last_updated is None  # not auto_now: only the feed sets it


def test_price_bar_unique_per_asset_interval_start(make_asset: AssetFactory) -> None:
    asset = make_asset()
    start = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    ohlc = {k: Decimal("268.40") for k in ("open", "high", "low", "close")}
    PriceBar.objects.create(asset=asset, interval=PriceBar.Interval.MINUTE, start=start, **ohlc)
    # Same start on another interval is a different bar.
    PriceBar.objects.create(asset=asset, interval=PriceBar.Interval.DAY, start=start, **ohlc)
    with pytest.raises(IntegrityError), transaction.atomic():
        PriceBar.objects.create(asset=asset, interval="1m", start=start, **ohlc)
    assert asset.bars.count() == 2


def test_price_bars_are_ordered_by_start_and_cascade(make_asset: AssetFactory) -> None:
    asset = make_asset()
    ohlc = {k: Decimal("1") for k in ("open", "high", "low", "close")}
    later = datetime(2026, 11, 20, 14, 31, tzinfo=UTC)
    earlier = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    PriceBar.objects.create(asset=asset, interval="1m", start=later, **ohlc)
    PriceBar.objects.create(asset=asset, interval="1m", start=earlier, **ohlc)
    assert [bar.start for bar in asset.bars.all()] == [earlier, later]
    asset.delete()
    assert PriceBar.objects.count() == 0
