"""History pages and the ranges they cover: one transaction, merged ranges, the gaps left."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError

from tickwire.assets.bars import coverage_gaps, save_history_page
from tickwire.assets.models import Asset, HistoryCoverage, PriceBar
from tickwire.portfolios.demo import load_demo_data
from tickwire.stream.feeds import Bar

pytestmark = pytest.mark.django_db
DAY = 86400
T0 = 1763683200  # 2025-11-21 00:00 UTC


@pytest.fixture
def demo():
    return load_demo_data()


def ranges(symbol="AAPL", source="finnhub"):
    rows = HistoryCoverage.objects.filter(asset__symbol=symbol, source=source).order_by("start")
    return [(int(r.start.timestamp()), int(r.end.timestamp())) for r in rows]


def day(n, close=1.5):
    return Bar("AAPL", DAY, T0 + n * DAY, 1, 2, 0.5, close, 10)


def test_pages_extend_one_range_and_the_gaps_are_what_is_left(demo):
    save_history_page([day(0), day(1)], symbol="AAPL", interval=DAY, source="finnhub",
                      covered=(T0, T0 + 2 * DAY))  # fmt: skip
    save_history_page([day(2)], symbol="AAPL", interval=DAY, source="finnhub",
                      covered=(T0, T0 + 3 * DAY))  # fmt: skip
    save_history_page([day(6)], symbol="AAPL", interval=DAY, source="finnhub",
                      covered=(T0 + 6 * DAY, T0 + 7 * DAY))  # fmt: skip
    assert ranges() == [(T0, T0 + 3 * DAY), (T0 + 6 * DAY, T0 + 7 * DAY)]
    assert coverage_gaps("AAPL", DAY, "finnhub", T0 - DAY, T0 + 10 * DAY) == [
        (T0 - DAY, T0),
        (T0 + 3 * DAY, T0 + 6 * DAY),
        (T0 + 7 * DAY, T0 + 10 * DAY),
    ]
    # Filling the hole joins the two ranges into one row.
    save_history_page([], symbol="AAPL", interval=DAY, source="finnhub",
                      covered=(T0 + 3 * DAY, T0 + 6 * DAY))  # fmt: skip
    assert ranges() == [(T0, T0 + 7 * DAY)]
    assert coverage_gaps("AAPL", DAY, "finnhub", T0, T0 + 7 * DAY) == []
    # Another source, another interval: their own coverage.
    assert coverage_gaps("AAPL", DAY, "binance", T0, T0 + DAY) == [(T0, T0 + DAY)]
    assert coverage_gaps("AAPL", 60, "finnhub", T0, T0 + 60) == [(T0, T0 + 60)]


def test_a_page_replaces_stored_bars_and_rewriting_it_changes_nothing(demo):
    save_history_page([day(0, close=1.5)], symbol="AAPL", interval=DAY, source="finnhub",
                      covered=(T0, T0 + DAY))  # fmt: skip
    save_history_page([day(0, close=1.75)], symbol="AAPL", interval=DAY, source="finnhub",
                      covered=(T0, T0 + DAY))  # fmt: skip
    before = list(HistoryCoverage.objects.values_list("pk", "start", "end", "updated_at"))
    save_history_page([day(0, close=1.75)], symbol="AAPL", interval=DAY, source="finnhub",
                      covered=(T0, T0 + DAY))  # fmt: skip
    assert list(HistoryCoverage.objects.values_list("pk", "start", "end", "updated_at")) == before
    bar = PriceBar.objects.get(asset__symbol="AAPL", interval="1d")
    assert (float(bar.close), float(bar.volume)) == (1.75, 10.0)


def test_bars_and_coverage_are_one_transaction(demo):
    # The coverage of a page cannot be recorded (no such asset): its bars are not kept either.
    with pytest.raises(Asset.DoesNotExist):
        save_history_page([day(0)], symbol="NOPE", interval=DAY, source="finnhub",
                          covered=(T0, T0 + DAY))  # fmt: skip
    assert not PriceBar.objects.exists() and not HistoryCoverage.objects.exists()


def test_a_range_must_end_after_it_starts(demo):
    aapl = Asset.objects.get(symbol="AAPL")
    start = datetime.fromtimestamp(T0, UTC)
    with pytest.raises(IntegrityError):
        HistoryCoverage.objects.create(
            asset=aapl, interval="1d", source="x", start=start, end=start
        )
