"""REST API: ``/api/assets/`` and ``/api/assets/<symbol>/``."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from tickwire.assets.models import Asset
from tickwire.portfolios.demo import DEMO_ASSETS, DemoSummary

from .conftest import AssetFactory

pytestmark = pytest.mark.django_db

FIELDS = {
    "symbol",
    "name",
    "kind",
    "exchange",
    "currency",
    "price",
    "previous_close",
    "change",
    "change_percent",
    "day_high",
    "day_low",
    "volume",
    "last_updated",
}


def test_url_names() -> None:
    assert reverse("asset-list") == "/api/assets/"
    assert reverse("asset-detail", args=["AAPL"]) == "/api/assets/AAPL/"


def test_list_returns_active_assets_sorted_with_prices(
    client: Client, demo_data: DemoSummary, make_asset: AssetFactory
) -> None:
    make_asset("ZZZZ", is_active=False)
    response = client.get("/api/assets/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(DEMO_ASSETS)  # the inactive one is hidden
    symbols = [row["symbol"] for row in body["results"]]
    assert symbols == sorted(spec.symbol for spec in DEMO_ASSETS)
    assert "ZZZZ" not in symbols
    assert set(body["results"][0]) == FIELDS


def test_list_is_paginated_with_limit_offset(client: Client, demo_data: DemoSummary) -> None:
    body = client.get("/api/assets/?limit=5&offset=5").json()
    assert body["count"] == len(DEMO_ASSETS)
    assert len(body["results"]) == 5
    assert body["results"][0]["symbol"] == sorted(s.symbol for s in DEMO_ASSETS)[5]
    assert body["next"] and body["previous"]


@pytest.mark.parametrize("kind", ["stock", "etf", "crypto", "fx"])
def test_filter_by_kind(client: Client, demo_data: DemoSummary, kind: str) -> None:
    body = client.get(f"/api/assets/?kind={kind}").json()
    expected = sorted(spec.symbol for spec in DEMO_ASSETS if spec.kind == kind)
    assert [row["symbol"] for row in body["results"]] == expected
    assert {row["kind"] for row in body["results"]} == {kind}


def test_filter_by_unknown_kind_is_a_400_naming_the_choices(
    client: Client, demo_data: DemoSummary
) -> None:
    response = client.get("/api/assets/?kind=bond")
    assert response.status_code == 400
    message = response.json()["kind"][0]
    assert "bond" in message
    for kind in ("stock", "etf", "crypto", "fx"):
        assert kind in message


def test_search_matches_symbol_or_name_case_insensitively(
    client: Client, demo_data: DemoSummary
) -> None:
    by_symbol = client.get("/api/assets/?search=btc").json()
    assert [row["symbol"] for row in by_symbol["results"]] == ["BTC-USD"]
    by_name = client.get("/api/assets/?search=microsoft").json()
    assert [row["symbol"] for row in by_name["results"]] == ["MSFT"]
    combined = client.get("/api/assets/?kind=fx&search=usd").json()
    assert [row["symbol"] for row in combined["results"]] == ["EUR-USD", "GBP-USD", "USD-JPY"]


def test_detail_is_case_insensitive_and_matches_database(
    client: Client, make_asset: AssetFactory
) -> None:
    make_asset(
        "AAPL",
        name="Apple Inc.",
        current_price=Decimal("268.40"),
        previous_close=Decimal("265.12"),
        volume=Decimal("48210350"),
    )
    response = client.get("/api/assets/aapl/")
    assert response.status_code == 200
    body = response.json()
    asset = Asset.objects.get(symbol="AAPL")
    assert body["symbol"] == "AAPL" and body["name"] == "Apple Inc."
    # Decimals come back as strings carrying the stored precision.
    assert body["price"] == "268.40000000"
    assert Decimal(body["price"]) == asset.current_price
    assert Decimal(body["previous_close"]) == asset.previous_close
    assert Decimal(body["change"]) == asset.change == Decimal("3.28")
    assert body["change_percent"] == "1.2372"
    assert Decimal(body["volume"]) == Decimal("48210350")
    assert body["last_updated"] is not None


def test_detail_accepts_dotted_symbols(client: Client, make_asset: AssetFactory) -> None:
    make_asset("BRK.B")
    assert client.get("/api/assets/brk.b/").json()["symbol"] == "BRK.B"


def test_detail_without_prices_renders_nulls(client: Client) -> None:
    Asset.objects.create(symbol="NEW", name="Newly listed", kind=Asset.Kind.STOCK)
    body = client.get("/api/assets/NEW/").json()
    assert body["price"] is None
    assert body["change"] is None and body["change_percent"] is None


def test_unknown_symbol_is_a_404_with_detail(client: Client) -> None:
    response = client.get("/api/assets/xyz/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Unknown symbol 'XYZ'."}


def test_inactive_asset_is_not_found(client: Client, make_asset: AssetFactory) -> None:
    make_asset("OLD", is_active=False)
    assert client.get("/api/assets/OLD/").status_code == 404


@pytest.mark.parametrize("url", ["/api/assets/", "/api/assets/AAPL/"])
def test_api_is_read_only(client: Client, make_asset: AssetFactory, url: str) -> None:
    make_asset("AAPL")
    response = client.post(url, {"symbol": "HACK"}, content_type="application/json")
    assert response.status_code == 405
    assert client.delete("/api/assets/AAPL/").status_code == 405
    assert Asset.objects.filter(symbol="AAPL").exists()
    assert not Asset.objects.filter(symbol="HACK").exists()
