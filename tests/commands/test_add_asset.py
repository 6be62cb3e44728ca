"""add_asset: what it writes, and its refusals naming the field."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tickwire.assets.models import Asset

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("add_asset", *args, stdout=out)
    return out.getvalue()


def test_adds_an_asset_with_its_fields() -> None:
    out = run("toyota", "--name", "Toyota Motor", "--exchange", "TSE", "--currency", "jpy")
    asset = Asset.objects.get(symbol="TOYOTA")
    assert (asset.name, asset.kind, asset.exchange, asset.currency) == (
        "Toyota Motor",
        "stock",
        "TSE",
        "JPY",
    )
    assert asset.current_price is None and asset.is_active
    assert out.strip() == "added TOYOTA: Toyota Motor, stock, TSE, JPY, no price yet"


def test_a_first_price_is_also_the_previous_close() -> None:
    run("EUR-USD", "--kind", "fx", "--price", "1.0832")
    asset = Asset.objects.get(symbol="EUR-USD")
    assert asset.current_price == asset.previous_close == Decimal("1.0832")
    assert asset.day_high == asset.day_low == Decimal("1.0832")
    assert asset.last_updated is not None


def test_an_existing_asset_is_refused_without_update_and_changed_with_it() -> None:
    run("TOYOTA", "--price", "2900")
    with pytest.raises(CommandError, match=r"asset TOYOTA exists .* use --update"):
        run("TOYOTA")
    out = run("TOYOTA", "--update", "--name", "Toyota", "--price", "2950")
    asset = Asset.objects.get(symbol="TOYOTA")
    assert asset.name == "Toyota" and asset.current_price == Decimal("2950")
    assert asset.previous_close == Decimal("2900")  # the close is the feed's to roll
    assert out.startswith("updated TOYOTA: Toyota")


def test_update_of_a_missing_asset_is_refused() -> None:
    with pytest.raises(CommandError, match="no asset NOPE; add it without --update"):
        run("NOPE", "--update", "--name", "x")
    assert not Asset.objects.filter(symbol="NOPE").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["BAD SYMBOL"], "invalid asset BAD SYMBOL: symbol:"),
        (["TOYOTA", "--currency", "YENS"], "currency:"),
        (["TOYOTA", "--price", "cheap"], "--price 'cheap' is not a number"),
        (["TOYOTA", "--price", "-1"], "must be a positive number"),
        (["TOYOTA", "--price", "NaN"], "must be a positive number"),
    ],
)
def test_bad_values_are_refused_naming_the_field(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        run(*args)
    assert not Asset.objects.filter(symbol__in=["TOYOTA", "BAD SYMBOL"]).exists()


def test_bad_kind_is_a_usage_error() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'bond'"):
        run("TOYOTA", "--kind", "bond")
