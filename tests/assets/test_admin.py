"""Admin pages of assets, price bars, portfolios and positions load for a superuser."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from tickwire.assets.models import Asset, PriceBar
from tickwire.portfolios.demo import DemoSummary
from tickwire.portfolios.models import Portfolio

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_bar(demo_data: DemoSummary) -> PriceBar:
    ohlc = {k: Decimal("268.40") for k in ("open", "high", "low", "close")}
    return PriceBar.objects.create(
        asset=Asset.objects.get(symbol="AAPL"),
        interval="1m",
        start=datetime(2026, 11, 20, 14, 30, tzinfo=UTC),
        **ohlc,
    )


@pytest.mark.parametrize(
    ("url_name", "expected_text"),
    [
        ("admin:assets_asset_changelist", "BTC-USD"),
        ("admin:assets_pricebar_changelist", "AAPL"),
        ("admin:portfolios_portfolio_changelist", "Demo Portfolio"),
        ("admin:portfolios_position_changelist", "NVDA"),
    ],
)
def test_changelists_load_and_show_rows(
    admin_client_logged_in: Client, with_bar: PriceBar, url_name: str, expected_text: str
) -> None:
    response = admin_client_logged_in.get(reverse(url_name))
    assert response.status_code == 200
    assert expected_text in response.content.decode()


def test_asset_changelist_search_and_filter(
    admin_client_logged_in: Client, demo_data: DemoSummary
) -> None:
    url = reverse("admin:assets_asset_changelist")
    found = admin_client_logged_in.get(url, {"q": "nvidia"}).context["cl"].result_list
    assert [a.symbol for a in found] == ["NVDA"]
    fx = admin_client_logged_in.get(url, {"kind__exact": "fx"}).context["cl"].result_list
    assert {a.symbol for a in fx} == {"EUR-USD", "GBP-USD", "USD-JPY"}


def test_portfolio_change_page_shows_positions_inline(
    admin_client_logged_in: Client, demo_data: DemoSummary
) -> None:
    portfolio = Portfolio.objects.get(name="Demo Portfolio")
    response = admin_client_logged_in.get(
        reverse("admin:portfolios_portfolio_change", args=[portfolio.pk])
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="positions-group"' in content
    assert "BTC-USD" in content


def test_asset_autocomplete_finds_by_symbol(
    admin_client_logged_in: Client, demo_data: DemoSummary
) -> None:
    response = admin_client_logged_in.get(
        reverse("admin:autocomplete"),
        {
            "term": "eth",
            "app_label": "portfolios",
            "model_name": "position",
            "field_name": "asset",
        },
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["ETH-USD"]


def test_admin_requires_login(client: Client) -> None:
    response = client.get(reverse("admin:assets_asset_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
