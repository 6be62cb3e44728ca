"""Bars in the database (merging batched upserts) and GET /api/assets/<symbol>/bars/."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tickwire.assets.bars import rollup_daily, save_bars
from tickwire.assets.models import Asset, PriceBar
from tickwire.portfolios.demo import load_demo_data
from tickwire.stream.feeds import Bar

pytestmark = pytest.mark.django_db
T0 = 1763740800  # 2025-11-21 16:00 UTC


@pytest.fixture
def demo():
    return load_demo_data()


def row(symbol, start, interval="1m"):
    return PriceBar.objects.get(
        asset__symbol=symbol, interval=interval, start=datetime.fromtimestamp(start, UTC)
    )


def test_bars_are_written_in_one_batch_and_parts_merge(demo, django_assert_max_num_queries):
    first = [Bar("AAPL", 60, T0, 100, 101, 99, 100.5, 10), Bar("MSFT", 60, T0, 50, 51, 49, 50, 3)]
    with django_assert_max_num_queries(6):  # no per-bar queries
        assert save_bars(first) == 2
    # The same minute continued (after a restart): merged, not overwritten.
    save_bars([Bar("AAPL", 60, T0, 100.6, 102, 100.1, 101.8, 4), Bar("NOPE", 60, T0, 1, 1, 1, 1)])
    aapl = row("AAPL", T0)
    assert (aapl.open, aapl.high, aapl.low, aapl.close, aapl.volume) == (
        Decimal("100"),
        Decimal("102"),
        Decimal("99"),
        Decimal("101.8"),
        Decimal("14"),
    )
    assert PriceBar.objects.count() == 2


def test_history_replaces_instead_of_merging(demo):
    save_bars([Bar("AAPL", 86400, T0 - 57600, 1, 2, 0.5, 1.5, 100)], merge=False)
    save_bars([Bar("AAPL", 86400, T0 - 57600, 3, 4, 2.5, 3.5, 7)], merge=False)
    day = row("AAPL", T0 - 57600, "1d")
    assert (day.open, day.volume) == (Decimal("3"), Decimal("7"))


def test_rollup_of_minute_bars_into_days(demo):
    save_bars(
        [
            Bar("AAPL", 60, T0, 100, 101, 99, 100.5, 10),
            Bar("AAPL", 60, T0 + 60, 100.5, 103, 100, 102, 5),
        ]
    )
    (day,) = rollup_daily(["AAPL"], 3, now=datetime.fromtimestamp(T0 + 3600, UTC))
    assert day == Bar("AAPL", 86400, T0 - 57600, 100, 103, 99, 102, 15)


def test_bars_endpoint_serves_a_range_in_order(client, demo):
    save_bars(
        [Bar("AAPL", 60, T0 + 60 * i, 100 + i, 101 + i, 99 + i, 100.5 + i, i) for i in range(5)]
    )
    body = client.get(
        f"/api/assets/aapl/bars/?interval=1m&start={T0 + 60}&end=2025-11-21T16:03:00Z"
    ).json()
    assert body["symbol"] == "AAPL" and body["interval"] == "1m" and body["count"] == 3
    assert [b["start"] for b in body["bars"]] == [
        "2025-11-21T16:01:00Z",
        "2025-11-21T16:02:00Z",
        "2025-11-21T16:03:00Z",
    ]
    assert body["bars"][0] == {
        "start": "2025-11-21T16:01:00Z",
        "open": "101.00000000",
        "high": "102.00000000",
        "low": "100.00000000",
        "close": "101.50000000",
        "volume": "1.00000000",
    }
    assert body["truncated"] is False


def test_bars_endpoint_daily_with_date_range(client, demo):
    save_bars(
        [Bar("MSFT", 86400, T0 - 57600 - 86400 * i, 1, 2, 0.5, 1.5, 1) for i in range(3)],
        merge=False,
    )
    body = client.get("/api/assets/MSFT/bars/?interval=1d&start=2025-11-20&end=2025-11-21").json()
    assert [b["start"][:10] for b in body["bars"]] == ["2025-11-20", "2025-11-21"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("interval=7m", "interval"),
        ("start=yesterday", "start"),
        ("end=2025-13-40", "end"),
        ("start=2025-11-22&end=2025-11-21", "start"),
    ],
)
def test_bars_endpoint_rejects_bad_parameters(client, demo, query, field):
    response = client.get(f"/api/assets/AAPL/bars/?{query}")
    assert response.status_code == 400 and field in response.json()


def test_bars_endpoint_unknown_or_inactive_symbol_is_404(client, demo):
    Asset.objects.filter(symbol="TSLA").update(is_active=False)
    assert client.get("/api/assets/NOPE/bars/").status_code == 404
    assert client.get("/api/assets/TSLA/bars/").status_code == 404
