"""Home page templates (rendered by ``tickwire.realtime.views.home``) and the market filters."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.test import Client

from tickwire.assets.models import Asset
from tickwire.assets.templatetags import market
from tickwire.portfolios.demo import DEMO_ASSETS, DemoSummary


@pytest.mark.django_db
def test_home_has_one_row_per_asset_and_loads_home_js(
    client: Client, demo_data: DemoSummary
) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    rows = re.findall(r'<tr data-symbol="([^"]+)"', html)
    assert sorted(rows) == sorted(spec.symbol for spec in DEMO_ASSETS)
    assert "/static/tickwire/home.js" in html
    assert "/static/tickwire/site.css" in html
    assert 'id="conn-badge"' in html
    for link in ("/realtime/dashboard/", "/realtime/test/", "/api/assets/", "/admin/"):
        assert f'href="{link}"' in html


@pytest.mark.django_db
def test_home_shows_initial_values_from_database(client: Client) -> None:
    Asset.objects.create(
        symbol="AAPL",
        name="Apple Inc.",
        kind=Asset.Kind.STOCK,
        current_price=Decimal("1268.4"),
        previous_close=Decimal("1265.12"),
        day_low=Decimal("1264.7"),
        day_high=Decimal("1269.85"),
        volume=Decimal("48210350"),
    )
    html = client.get("/").content.decode()
    row = re.search(r'<tr data-symbol="AAPL".*?</tr>', html, re.S)
    assert row is not None
    text = row.group(0)
    assert "Apple Inc." in text
    assert "1,268.40" in text
    assert "+3.28" in text and "+0.26%" in text
    assert "48,210,350" in text
    assert "1,264.70" in text and "1,269.85" in text


@pytest.mark.django_db
def test_home_without_assets_explains_how_to_load_demo(client: Client) -> None:
    html = client.get("/").content.decode()
    assert "load_demo_data" in html
    assert "<tr data-symbol" not in html


@pytest.mark.django_db
def test_base_shows_logged_in_username(client: Client) -> None:
    user = get_user_model().objects.create_user("alice", password="x")
    client.force_login(user)
    assert '<span class="username">alice</span>' in client.get("/").content.decode()


def test_base_template_has_nav_and_blocks() -> None:
    html = render_to_string("base.html")
    for link in (
        "/",
        "/realtime/dashboard/",
        "/realtime/test/",
        "/api/assets/",
        "/realtime/status/",
        "/admin/",
    ):
        assert f'href="{link}"' in html
    assert 'class="username"' not in html  # anonymous: no user shown


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (Decimal("104250.5"), "crypto", "104,250.50"),
        (Decimal("0.123456789"), "crypto", "0.123457"),
        (Decimal("1.16420"), "fx", "1.16420"),
        (Decimal("152.845"), "fx", "152.8450"),
        (Decimal("268.4"), "stock", "268.40"),
        (None, "stock", "\u2014"),
    ],
)
def test_price_filter_decimals_by_kind(value: Decimal | None, kind: str, expected: str) -> None:
    assert market.price(value, kind) == expected


def test_change_filters_follow_the_assets_price() -> None:
    asset = Asset(
        symbol="EUR-USD",
        kind=Asset.Kind.FX,
        current_price=Decimal("1.16420"),
        previous_close=Decimal("1.16185"),
    )
    assert market.signed_price(asset.change, asset) == "+0.00235"
    assert market.percent(asset.change_percent) == "+0.20%"
    assert market.percent(Decimal("-1.7853")) == "-1.79%"
    assert market.direction(asset.change) == "up"
    assert market.volume(Decimal("28415.3721"), "crypto") == "28,415.37"
    assert market.volume(Decimal("48210350"), asset) == "48,210,350"
