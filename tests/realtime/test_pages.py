"""The dashboard and test-console views (``tickwire.realtime.pages``), without a browser."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tickwire.assets.models import Asset
from tickwire.portfolios.models import Portfolio, Position
from tickwire.realtime import pages

pytestmark = pytest.mark.django_db


def page_config(html: str, element_id: str) -> dict:
    match = re.search(
        rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, f"no {element_id} in the page"
    return json.loads(match.group(1))


def make_asset(
    symbol: str, kind: str = "stock", price: str | None = "100", prev: str | None = "90"
):
    return Asset.objects.create(
        symbol=symbol,
        name=f"{symbol} name",
        kind=kind,
        current_price=Decimal(price) if price is not None else None,
        previous_close=Decimal(prev) if prev is not None else None,
        day_high=Decimal("110"),
        day_low=Decimal("85"),
        volume=Decimal("1000"),
    )


@pytest.fixture
def user():
    return get_user_model().objects.create_user("alice", password="pw-alice-123")


def test_dashboard_for_a_guest_has_assets_watchlist_and_a_login_link(client: Client) -> None:
    make_asset("EUR-USD", kind="fx", price="1.1", prev="1.0")
    make_asset("BTC-USD", kind="crypto")
    make_asset("SPY", kind="etf")
    make_asset("AAPL")
    Asset.objects.create(symbol="OLD", name="Delisted", is_active=False, current_price=Decimal(1))
    response = client.get("/realtime/dashboard/")
    assert response.status_code == 200
    html = response.content.decode()
    config = page_config(html, "dashboard-config")
    # Stocks first, then funds, crypto and currencies; inactive assets are left out.
    assert config["defaultWatchlist"] == ["AAPL", "SPY", "BTC-USD", "EUR-USD"]
    aapl = next(a for a in config["assets"] if a["symbol"] == "AAPL")
    assert aapl["price"] == 100.0 and aapl["change"] == 10.0
    assert aapl["change_percent"] == pytest.approx(11.1111)
    assert aapl["high"] == 110.0 and aapl["low"] == 85.0
    assert config["portfolios"] == [] and config["authenticated"] is False
    assert config["wsUrl"] == "/ws/realtime/"
    assert config["maxSubscriptions"] == 50
    assert 'href="/accounts/login/?next=/realtime/dashboard/"' in html
    assert re.search(r'<script type="module" src="/static/tickwire/dashboard\.js">', html)
    assert "/static/tickwire/realtime.css" in html
    # Everything ships with the project: no page pulls a script or style from elsewhere.
    # The one link out is the attribution the charting library's licence asks for.
    assert not re.search(r'(src|<link[^>]*href)="(https?:)?//', html)
    assert re.findall(r'<a [^>]*href="((?:https?:)?//[^"]*)"', html) == [
        "https://www.tradingview.com/"
    ]


def test_dashboard_values_only_the_users_own_portfolios(client: Client, user) -> None:
    aapl = make_asset("AAPL", price="200", prev="190")
    btc = make_asset("BTC-USD", kind="crypto", price="50000", prev="52000")
    unpriced = make_asset("NEW", price=None, prev=None)
    mine = Portfolio.objects.create(owner=user, name="Mine")
    Position.objects.create(
        portfolio=mine, asset=aapl, quantity=Decimal("10"), average_cost=Decimal("150")
    )
    Position.objects.create(
        portfolio=mine, asset=btc, quantity=Decimal("0.5"), average_cost=Decimal("0")
    )
    Position.objects.create(portfolio=mine, asset=unpriced, quantity=Decimal("3"))
    other = get_user_model().objects.create_user("bob", password="pw-bob-123")
    Portfolio.objects.create(owner=other, name="Not mine")
    client.force_login(user)

    config = page_config(client.get("/realtime/dashboard/").content.decode(), "dashboard-config")
    assert config["authenticated"] is True and config["username"] == "alice"
    [summary] = config["portfolios"]
    assert summary["portfolio_id"] == mine.pk and summary["name"] == "Mine"
    # 10 x 200 + 0.5 x 50000; yesterday 10 x 190 + 0.5 x 52000; the unpriced one is unknown.
    assert summary["total_value"] == 27000.0
    assert summary["daily_change"] == 27000.0 - 27900.0
    assert summary["daily_change_percent"] == pytest.approx(-900 / 27900 * 100)
    by_symbol = {p["symbol"]: p for p in summary["positions"]}
    assert by_symbol["AAPL"]["market_value"] == 2000.0
    assert by_symbol["AAPL"]["daily_change"] == 100.0
    assert by_symbol["AAPL"]["unrealized_pnl"] == 500.0
    assert by_symbol["NEW"]["market_value"] is None and by_symbol["NEW"]["price"] is None


def test_test_console_page(client: Client, user) -> None:
    response = client.get("/realtime/test/")
    assert response.status_code == 200
    html = response.content.decode()
    config = page_config(html, "console-config")
    assert config["wsUrl"] == "/ws/realtime/" and config["portfolios"] == []
    assert config["websocketInfo"] == "/realtime/websocket-info/"
    assert re.search(r'<script type="module" src="/static/tickwire/console\.js">', html)
    for kind in (
        "ping",
        "subscribe_asset",
        "unsubscribe_asset",
        "subscribe_portfolio",
        "unsubscribe_portfolio",
        "authenticate",
        "configure",
    ):
        assert f'data-send="{kind}"' in html, kind

    portfolio = Portfolio.objects.create(owner=user, name="Mine")
    client.force_login(user)
    html = client.get("/realtime/test/").content.decode()
    assert page_config(html, "console-config")["portfolios"] == [
        {"id": portfolio.pk, "name": "Mine"}
    ]
    assert f'id="q-portfolio" type="text" inputmode="numeric" value="{portfolio.pk}"' in html


@pytest.mark.parametrize(("timeout", "expected"), [(300, 25_000), (60, 20_000), (4, 1333)])
def test_heartbeat_is_a_third_of_the_idle_timeout_at_most_25_s(settings, timeout, expected) -> None:
    settings.WEBSOCKET_TIMEOUT = timeout
    assert pages.heartbeat_interval_ms() == expected


def test_static_files_the_pages_use_exist() -> None:
    from django.contrib.staticfiles import finders

    for name in (
        "tickwire-client.js",
        "dashboard.js",
        "console.js",
        "chart.js",
        "format.js",
        "realtime.css",
        "favicon.svg",
        "home.js",
        "site.css",
    ):
        assert finders.find(f"tickwire/{name}"), name
