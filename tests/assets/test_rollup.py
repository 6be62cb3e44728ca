"""GET /api/assets/<symbol>/bars/ at 5m, 15m, 1h and 1d: rollups of the stored 1-minute bars."""

from __future__ import annotations

import pytest

from tickwire.assets import api
from tickwire.assets.bars import save_bars
from tickwire.portfolios.demo import load_demo_data
from tickwire.stream.feeds import Bar

pytestmark = pytest.mark.django_db
DAY = 1763683200  # 2025-11-21 00:00 UTC


@pytest.fixture
def demo():
    return load_demo_data()


def minutes(symbol, first, count, step=1):
    """``count`` minute bars from ``first``: open i, high i+2, low i-1, close i+1, volume 1."""
    return [
        Bar(symbol, 60, first + 60 * i * step, 100 + i, 102 + i, 99 + i, 101 + i, 1)
        for i in range(count)
    ]


def get(client, query):
    response = client.get(f"/api/assets/AAPL/bars/?{query}")
    assert response.status_code == 200, response.content
    return response.json()


def test_five_minute_bars_roll_up_first_max_min_last_sum(client, demo):
    save_bars(minutes("AAPL", DAY + 3600, 12))  # 01:00 .. 01:11
    body = get(client, f"interval=5m&start={DAY}&end={DAY + 7200}")
    assert body["interval"] == "5m" and body["count"] == 3
    first, second, third = body["bars"]
    assert first == {
        "start": "2025-11-21T01:00:00Z",
        "open": "100.00000000",
        "high": "106.00000000",
        "low": "99.00000000",
        "close": "105.00000000",
        "volume": "5.00000000",
    }
    assert (second["start"], second["open"], second["close"]) == (
        "2025-11-21T01:05:00Z",
        "105.00000000",
        "110.00000000",
    )
    assert (third["start"], third["volume"]) == ("2025-11-21T01:10:00Z", "2.00000000")


def test_empty_intervals_are_absent_and_buckets_align_to_utc(client, demo):
    # Minutes 00:14 and 00:31: two quarter hours with a bar, the one between empty.
    save_bars(minutes("AAPL", DAY + 14 * 60, 2, step=17))
    body = get(client, f"interval=15m&start={DAY}&end={DAY + 3600}")
    assert [b["start"] for b in body["bars"]] == ["2025-11-21T00:00:00Z", "2025-11-21T00:30:00Z"]
    hourly = get(client, f"interval=1h&start={DAY}&end={DAY + 3600}")
    assert hourly["count"] == 1 and hourly["bars"][0]["volume"] == "2.00000000"


def test_range_selects_buckets_by_their_start(client, demo):
    save_bars(minutes("AAPL", DAY, 30))
    # 00:07 .. 00:20 holds the buckets starting 00:10, 00:15 and 00:20.
    body = get(client, f"interval=5m&start={DAY + 420}&end={DAY + 1200}")
    assert [b["start"][11:16] for b in body["bars"]] == ["00:10", "00:15", "00:20"]
    assert body["bars"][-1]["close"] == "125.00000000"  # the 00:24 minute, past `end`


def test_rollups_are_truncated_to_the_latest_max_bars(client, demo, monkeypatch):
    monkeypatch.setattr(api, "MAX_BARS", 3)
    save_bars(minutes("AAPL", DAY, 25))
    body = get(client, f"interval=5m&start={DAY}&end={DAY + 3600}")
    assert body["truncated"] is True and body["count"] == 3
    assert [b["start"][11:16] for b in body["bars"]] == ["00:10", "00:15", "00:20"]
    assert get(client, f"interval=15m&start={DAY}&end={DAY + 3600}")["truncated"] is False


def test_stored_daily_bars_win_and_other_days_roll_up_from_minutes(client, demo):
    save_bars([Bar("AAPL", 86400, DAY - 86400, 1, 2, 0.5, 1.5, 7)], merge=False)
    save_bars(minutes("AAPL", DAY - 86400 + 600, 3) + minutes("AAPL", DAY + 600, 3))
    body = get(client, f"interval=1d&start={DAY - 2 * 86400}&end={DAY + 86400}")
    assert [(b["start"][:10], b["open"], b["close"], b["volume"]) for b in body["bars"]] == [
        ("2025-11-20", "1.00000000", "1.50000000", "7.00000000"),
        ("2025-11-21", "100.00000000", "103.00000000", "3.00000000"),
    ]


def test_default_range_follows_the_interval(client, demo):
    body = get(client, "interval=1h&end=2025-11-21T00:00:00Z")
    assert body["start"] == "2025-10-22T00:00:00+00:00"


def test_unknown_interval_is_a_400_naming_the_allowed_values(client, demo):
    response = client.get("/api/assets/AAPL/bars/?interval=2h")
    assert response.status_code == 400
    (message,) = response.json()["interval"]
    assert message == "Unknown interval '2h'. Use one of: 1m, 5m, 15m, 1h, 1d."


def test_schema_lists_the_intervals(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    params = schema["paths"]["/api/assets/{symbol}/bars/"]["get"]["parameters"]
    (interval,) = [p for p in params if p["name"] == "interval"]
    assert sorted(interval["schema"]["enum"]) == sorted(["1m", "5m", "15m", "1h", "1d"])
