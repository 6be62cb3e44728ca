"""Simulated demo history: 1-minute bars ending at each demo asset's current price."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Min

from tickwire.assets.models import Asset, PriceBar
from tickwire.portfolios.demo import (
    DEMO_ASSETS,
    add_demo_data,
    load_demo_data_once,
    write_demo_history,
)
from tickwire.portfolios.models import Position

pytestmark = pytest.mark.django_db
NOW = 1763769600 + 37  # 2025-11-22 00:00:37 UTC


def per_asset():
    return {
        row["asset__symbol"]: row
        for row in PriceBar.objects.filter(interval="1m")
        .values("asset__symbol")
        .annotate(n=Count("id"), first=Min("start"), last=Max("start"))
    }


def test_two_days_per_demo_asset_up_to_the_current_minute_closing_at_the_price():
    add_demo_data()
    started = time.perf_counter()
    written = write_demo_history(2, now=NOW)
    elapsed = time.perf_counter() - started
    print(f"write_demo_history: {written} bars in {elapsed:.2f} s")  # reported, not asserted
    assert written == len(DEMO_ASSETS) * 2 * 1440
    rows = per_asset()
    assert set(rows) == {spec.symbol for spec in DEMO_ASSETS}
    for row in rows.values():
        assert row["n"] == 2880
        assert row["first"] == datetime.fromtimestamp(NOW // 60 * 60 - 2 * 86400, UTC)
        assert row["last"] == datetime.fromtimestamp(NOW // 60 * 60 - 60, UTC)
    for asset in Asset.objects.all():
        last = PriceBar.objects.filter(asset=asset, interval="1m").latest("start")
        assert last.close == asset.current_price, asset.symbol


def test_a_rerun_replaces_the_same_minutes_and_follows_the_new_price():
    add_demo_data()
    write_demo_history(1, now=NOW)
    Asset.objects.filter(symbol="AAPL").update(current_price="300.00")
    write_demo_history(1, symbols=["AAPL"], now=NOW)
    assert per_asset()["AAPL"]["n"] == 1440
    last = PriceBar.objects.filter(asset__symbol="AAPL").latest("start")
    assert str(last.close) == "300.00000000"


def test_first_load_writes_history_only_under_the_simulator(settings):
    settings.TICKWIRE_FEED_SOURCE = "replay"
    summary = load_demo_data_once()
    assert summary is not None and summary.bars == 0 and not PriceBar.objects.exists()

    Position.objects.all().delete()
    Asset.objects.all().delete()
    settings.TICKWIRE_FEED_SOURCE = "simulator"
    summary = load_demo_data_once()
    assert summary is not None and summary.bars == len(DEMO_ASSETS) * 2880
    assert f"{summary.bars} simulated 1-minute bars" in str(summary)
    assert load_demo_data_once() is None  # once: a restart writes nothing


def test_command_backfills_on_request_and_refuses_under_a_real_provider(settings):
    out = StringIO()
    call_command("load_demo_data", "--history-days", "1", stdout=out)
    assert "21600 simulated 1-minute bars" in out.getvalue()
    assert PriceBar.objects.count() == len(DEMO_ASSETS) * 1440

    with pytest.raises(CommandError, match="--history-days must be 0 or more, not -1"):
        call_command("load_demo_data", "--history-days", "-1", stdout=StringIO())
    settings.TICKWIRE_FEED_SOURCE = "finnhub"
    with pytest.raises(CommandError, match="TICKWIRE_FEED_SOURCE=simulator"):
        call_command("load_demo_data", "--history-days", "2", stdout=StringIO())
    call_command("load_demo_data", stdout=StringIO())  # no history asked: fine anywhere
