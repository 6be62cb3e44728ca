"""The browser pages of the realtime app: the live dashboard and the WebSocket test console.

Both pages are server-rendered shells that a JavaScript module fills in live
(``static/tickwire/dashboard.js`` and ``console.js``, both on the shared client
``tickwire-client.js``). The views hand the page what it needs to draw at once, before the
socket is up: the assets for the default watchlist and the user's portfolios valued at the
last persisted prices, as JSON in the page (``json_script``); for a logged-in user also the
alerts API's address and the CSRF token its writes need (``static/tickwire/alerts.js``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse

from tickwire.assets.models import Asset
from tickwire.portfolios.models import Portfolio

from .views import WS_PATH

__all__ = ["dashboard", "heartbeat_interval_ms", "portfolio_summary", "test_console"]

#: The dashboard's default watchlist holds at most this many assets.
DEFAULT_WATCHLIST_SIZE = 20
#: The page ships the metadata of at most this many assets; others are fetched on demand.
EMBEDDED_ASSETS = 200
_HEARTBEAT_MAX_MS = 25_000


def heartbeat_interval_ms() -> int:
    """How often pages ping: every 25 s, or a third of ``WEBSOCKET_TIMEOUT`` if that is less,
    so two pings can go missing before the server closes an idle socket (4000)."""
    return int(min(_HEARTBEAT_MAX_MS, settings.WEBSOCKET_TIMEOUT * 1000 / 3))


def _num(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def asset_quote(asset: Asset) -> dict[str, Any]:
    """An asset with its last persisted quote, in ``asset_update`` field names."""
    return {
        "symbol": asset.symbol,
        "name": asset.name,
        "kind": asset.kind,
        "currency": asset.currency,
        "price": _num(asset.current_price),
        "previous_close": _num(asset.previous_close),
        "change": _num(asset.change),
        "change_percent": _num(asset.change_percent),
        "volume": _num(asset.volume),
        "high": _num(asset.day_high),
        "low": _num(asset.day_low),
    }


def portfolio_summary(portfolio: Portfolio) -> dict[str, Any]:
    """A portfolio valued at the last persisted prices, in ``portfolio_update`` field names.

    Each position is worth ``quantity * current_price``; the daily change compares that
    with ``quantity * previous_close``. Positions without a price count as unknown (None)
    and are left out of the totals. Prices are taken as quoted in the portfolio's currency:
    this first paint does no currency conversion; the live ``portfolio_update`` messages
    replace it as soon as they arrive.
    """
    positions = []
    total = Decimal(0)
    previous_total = Decimal(0)
    for position in portfolio.positions.all():
        asset = position.asset
        quantity = Decimal(position.quantity)
        value = position.market_value
        previous = (
            quantity * Decimal(asset.previous_close) if asset.previous_close is not None else None
        )
        if value is not None:
            total += value
            previous_total += previous if previous is not None else value
        positions.append(
            {
                "symbol": asset.symbol,
                "name": asset.name,
                "kind": asset.kind,
                "quantity": float(quantity),
                "price": _num(asset.current_price),
                "average_cost": float(position.average_cost),
                "market_value": _num(value),
                "daily_change": _num(value - previous)
                if value is not None and previous is not None
                else None,
                "unrealized_pnl": _num(value - position.cost_basis) if value is not None else None,
            }
        )
    change = total - previous_total
    return {
        "portfolio_id": portfolio.pk,
        "name": portfolio.name,
        "currency": portfolio.currency,
        "total_value": float(total),
        "daily_change": float(change),
        "daily_change_percent": float(change / previous_total * 100) if previous_total else 0.0,
        "positions": positions,
    }


def _user_portfolios(user: User | AnonymousUser) -> list[dict[str, Any]]:
    if not user.is_authenticated:
        return []
    portfolios = (
        Portfolio.objects.filter(owner=user).prefetch_related("positions__asset").order_by("name")
    )
    return [portfolio_summary(p) for p in portfolios]


# Stocks first, as on a trading screen; then funds, crypto and currencies.
_KIND_ORDER: dict[str, int] = {
    Asset.Kind.STOCK: 0,
    Asset.Kind.ETF: 1,
    Asset.Kind.CRYPTO: 2,
    Asset.Kind.FX: 3,
}


def _login_url(next_path: str) -> str:
    return f"{settings.LOGIN_URL}?next={next_path}"


def dashboard(request: HttpRequest) -> HttpResponse:
    """``/realtime/dashboard/``: live watchlist, chart and (when logged in) portfolios."""
    assets = sorted(
        Asset.objects.filter(is_active=True).order_by("symbol")[:EMBEDDED_ASSETS],
        key=lambda a: (_KIND_ORDER.get(a.kind, len(_KIND_ORDER)), a.symbol),
    )
    user = request.user
    config = {
        "wsUrl": WS_PATH,
        "heartbeatInterval": heartbeat_interval_ms(),
        "assets": [asset_quote(a) for a in assets],
        "defaultWatchlist": [a.symbol for a in assets[:DEFAULT_WATCHLIST_SIZE]],
        "portfolios": _user_portfolios(user),
        "authenticated": user.is_authenticated,
        "username": user.get_username() if user.is_authenticated else None,
        "loginUrl": _login_url(request.path),
        "assetsApi": "/api/assets/",
        # Each portfolio card's value chart starts from <id>/history/ there.
        "portfoliosApi": "/api/portfolios/",
        # Symbols and portfolios share this per-connection limit; the page keeps under it.
        "maxSubscriptions": settings.MAX_SUBSCRIPTIONS_PER_CONNECTION,
        # The alerts form and rules panel call the REST API with the session, so writes
        # carry this CSRF token (X-CSRFToken); anonymous visitors get no alerts UI.
        "alertsApi": "/api/alerts/",
        "csrfToken": get_token(request) if user.is_authenticated else None,
    }
    return render(
        request,
        "realtime/dashboard.html",
        {"config": config, "login_url": config["loginUrl"]},
    )


def test_console(request: HttpRequest) -> HttpResponse:
    """``/realtime/test/``: connect, send any JSON, watch every frame, measure ping RTT."""
    user = request.user
    portfolios = (
        list(Portfolio.objects.filter(owner=user).order_by("name").values("id", "name"))
        if user.is_authenticated
        else []
    )
    config = {
        "wsUrl": WS_PATH,
        "heartbeatInterval": heartbeat_interval_ms(),
        "authenticated": user.is_authenticated,
        "username": user.get_username() if user.is_authenticated else None,
        "portfolios": portfolios,
        "websocketInfo": reverse("websocket-info"),
        "websocketTimeout": settings.WEBSOCKET_TIMEOUT,
    }
    return render(
        request,
        "realtime/test.html",
        {"config": config, "login_url": _login_url(request.path)},
    )
