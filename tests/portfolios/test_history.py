"""/api/portfolios/<id>/history/: today's holdings valued at the stored bars' closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tickwire.assets.models import Asset, PriceBar
from tickwire.portfolios.history import value_series
from tickwire.portfolios.models import Portfolio, Position
from tickwire.portfolios.services import load_book

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def asset(symbol: str, kind: str = Asset.Kind.STOCK, currency: str = "USD") -> Asset:
    return Asset.objects.create(
        symbol=symbol, name=symbol, kind=kind, currency=currency, current_price=Decimal("1")
    )


def minutes(target: Asset, closes: list[str], first: datetime = T0) -> None:
    PriceBar.objects.bulk_create(
        PriceBar(
            asset=target,
            interval=PriceBar.Interval.MINUTE,
            start=first + timedelta(minutes=i),
            open=Decimal(c),
            high=Decimal(c),
            low=Decimal(c),
            close=Decimal(c),
            volume=Decimal(1),
        )
        for i, c in enumerate(closes)
        if c
    )


@pytest.fixture
def owner() -> APIClient:
    user = get_user_model().objects.create_user("owner", password="pw")
    client = APIClient()
    client.force_authenticate(user)
    return client


def portfolio(currency: str = "USD", **holdings: str) -> Portfolio:
    user = get_user_model().objects.get(username="owner")
    p = Portfolio.objects.create(owner=user, name=f"P {currency}", currency=currency)
    for symbol, quantity in holdings.items():
        Position.objects.create(
            portfolio=p,
            asset=Asset.objects.get(symbol=symbol.replace("_", "-")),
            quantity=Decimal(quantity),
            average_cost=Decimal("1"),
        )
    return p


def history(client: APIClient, p: Portfolio, **params: str) -> dict:
    query = {"start": T0.isoformat(), "end": (T0 + timedelta(minutes=10)).isoformat(), **params}
    response = client.get(f"/api/portfolios/{p.pk}/history/", query)
    assert response.status_code == 200, response.content
    return response.json()


def test_points_value_the_current_holdings_at_each_close(owner: APIClient) -> None:
    minutes(asset("AAPL"), ["100", "101", "102"])
    minutes(asset("MSFT"), ["400", "", "410"])  # no bar in the second minute: 400 carries
    p = portfolio(AAPL="10", MSFT="2")
    body = history(owner, p, interval="1m")
    assert body["currency"] == "USD" and body["interval"] == "1m" and body["missing"] == []
    assert body["count"] == 3
    assert [(pt["time"], pt["value"]) for pt in body["points"]] == [
        (T0.isoformat(), "1800.00"),  # 10 * 100 + 2 * 400
        ((T0 + timedelta(minutes=1)).isoformat(), "1810.00"),  # 10 * 101 + 2 * 400
        ((T0 + timedelta(minutes=2)).isoformat(), "1840.00"),  # 10 * 102 + 2 * 410
    ]


def test_points_start_once_every_holding_has_a_close(owner: APIClient) -> None:
    minutes(asset("AAPL"), ["100", "101", "102"])
    minutes(asset("MSFT"), ["", "", "410"])
    body = history(owner, portfolio(AAPL="1", MSFT="1"), interval="1m")
    assert [pt["value"] for pt in body["points"]] == ["512.00"]


def test_rolled_up_intervals_use_each_buckets_last_close(owner: APIClient) -> None:
    minutes(asset("AAPL"), [str(100 + i) for i in range(10)])
    body = history(owner, portfolio(AAPL="2"), interval="5m")
    assert [(pt["time"], pt["value"]) for pt in body["points"]] == [
        (T0.isoformat(), "208.00"),
        ((T0 + timedelta(minutes=5)).isoformat(), "218.00"),
    ]


def test_foreign_holdings_are_converted_with_the_fx_closes(owner: APIClient) -> None:
    minutes(asset("SAP", currency="EUR"), ["200", "210"])
    minutes(asset("EUR-USD", kind=Asset.Kind.FX), ["1.10", "1.20"])
    body = history(owner, portfolio(SAP="3"), interval="1m")
    assert [pt["value"] for pt in body["points"]] == ["660.00", "756.00"]
    # And the other way round: a EUR portfolio holding a USD stock divides by the rate.
    minutes(asset("AAPL"), ["110", "120"])
    body = history(owner, portfolio("EUR", AAPL="1"), interval="1m")
    assert [pt["value"] for pt in body["points"]] == ["100.00", "100.00"]


def test_a_symbol_without_bars_is_named_and_no_points_are_made_up(owner: APIClient) -> None:
    minutes(asset("AAPL"), ["100"])
    asset("MSFT")
    minutes(asset("SAP", currency="EUR"), ["200"])
    body = history(owner, portfolio(AAPL="1", MSFT="1", SAP="1"), interval="1m")
    # No EUR-USD asset at all, so SAP cannot be converted: the pair it needs is named.
    assert body["missing"] == ["EUR-USD", "MSFT"] and body["points"] == []
    assert body["count"] == 0


def test_an_empty_portfolio_has_no_points(owner: APIClient) -> None:
    body = history(owner, portfolio())
    assert body["points"] == [] and body["missing"] == []


def test_default_range_is_the_bars_apis_for_the_interval(owner: APIClient) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    minutes(asset("AAPL"), ["100", "100"], first=now - timedelta(days=3))  # before 1 day
    minutes(asset("MSFT"), ["5"], first=now - timedelta(days=3))
    p = portfolio(AAPL="1", MSFT="1")
    response = owner.get(f"/api/portfolios/{p.pk}/history/", {"interval": "1m"})
    assert response.status_code == 200
    body = response.json()
    start, end = datetime.fromisoformat(body["start"]), datetime.fromisoformat(body["end"])
    assert end - start == timedelta(days=1)
    assert body["points"] == [] and body["missing"] == ["AAPL", "MSFT"]
    assert owner.get(f"/api/portfolios/{p.pk}/history/").json()["interval"] == "5m"


def test_bad_parameters_are_400s_naming_the_field(owner: APIClient) -> None:
    p = portfolio()
    url = f"/api/portfolios/{p.pk}/history/"
    bad = owner.get(url, {"interval": "2m"})
    assert bad.status_code == 400 and "Unknown interval '2m'" in bad.json()["interval"][0]
    assert "1m, 5m, 15m, 1h, 1d" in bad.json()["interval"][0]
    bad = owner.get(url, {"start": "yesterday"})
    assert bad.status_code == 400 and "start" in bad.json()
    bad = owner.get(url, {"start": "2026-03-02", "end": "2026-03-01"})
    assert bad.status_code == 400 and bad.json()["start"] == ["start is after end."]


def test_only_the_owner_sees_it(owner: APIClient) -> None:
    p = portfolio()
    other = get_user_model().objects.create_user("other", password="pw")
    client = APIClient()
    client.force_authenticate(other)
    assert client.get(f"/api/portfolios/{p.pk}/history/").status_code == 404
    assert client.get("/api/portfolios/999999/history/").status_code == 404
    assert APIClient().get(f"/api/portfolios/{p.pk}/history/").status_code in (401, 403)


def test_value_series_is_the_valuation_at_each_start() -> None:
    """The pure part, without the database's bars: FX through an inverted pair."""
    user = get_user_model().objects.create_user("solo", password="pw")
    asset("TM", currency="JPY")
    asset("USD-JPY", kind=Asset.Kind.FX, currency="JPY")
    p = Portfolio.objects.create(owner=user, name="JPY holder", currency="USD")
    Position.objects.create(
        portfolio=p,
        asset=Asset.objects.get(symbol="TM"),
        quantity=Decimal("3"),
        average_cost=Decimal(1),
    )
    book = load_book(p.pk)
    assert book is not None
    series = value_series(
        book,
        {
            "TM": [(T0, Decimal("3000")), (T0 + timedelta(minutes=1), Decimal("3100"))],
            "USD-JPY": [(T0, Decimal("150"))],
        },
    )
    assert [(pt.time, pt.value) for pt in series.points] == [
        (T0, Decimal("60.00")),
        (T0 + timedelta(minutes=1), Decimal("62.00")),
    ]
