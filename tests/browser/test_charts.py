"""The dashboard's charts (TradingView Lightweight Charts) in a real Chromium: the bars
and values the APIs returned are the ones the library holds and draws, live ticks and
portfolio updates move them, and scrolling back loads older bars."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from playwright.sync_api import Page, Response, expect

from tests.browser.conftest import login
from tests.servers import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

DASHBOARD = "/realtime/dashboard/"
CAPTION = re.compile(r"^([\d,]+) (one-minute|5-minute|15-minute|hourly|daily) bars? of history")
INTERVAL_LABELS = {
    "1m": "one-minute",
    "5m": "5-minute",
    "15m": "15-minute",
    "1h": "hourly",
    "1d": "daily",
}
DATA = "window.tickwireDashboard.chart.seriesData()"
SERIES = f"() => {DATA}"
# Pixels the library drew in the series colours (up and down candles, the line) on the
# chart's canvases: what the user sees, not what the page was told.
SERIES_PIXELS = """(selector) => {
  let n = 0;
  for (const c of document.querySelectorAll(selector + " canvas")) {
    if (!c.width || !c.height) continue;
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    const near = (i, r, g, b) => Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 60;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 200 && (near(i, 74, 163, 255) || near(i, 46, 204, 113) || near(i, 255, 92, 92))) n++;
    }
  }
  return n;
}"""


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def candles_of(bars: list[dict[str, Any]]) -> list[dict[str, float]]:
    """API bars as the candles the chart should hold."""
    return [
        {
            "time": seconds(b["start"]),
            "open": float(b["open"]),
            "high": float(b["high"]),
            "low": float(b["low"]),
            "close": float(b["close"]),
        }
        for b in bars
    ]


def bars_answer(symbol: str, interval: str, older: bool = False):
    """A predicate for the bars API's answer: the first page, or a scroll-back page."""

    def match(r: Response) -> bool:
        return (
            f"/api/assets/{symbol}/bars/" in r.url
            and f"interval={interval}" in r.url
            and ("end=" in r.url) == older
        )

    return match


def open_live(page: Page, server: ServerProcess) -> dict[str, Any]:
    """Open the dashboard; the first bars answer (AAPL, 1m) once the chart took it in."""
    with page.expect_response(bars_answer("AAPL", "1m")) as first:
        page.goto(server.url + DASHBOARD)
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "open")
    expect(page.locator("#chart-note")).to_have_text(CAPTION)
    return first.value.json()


def assert_chart_holds(page: Page, body: dict[str, Any]) -> None:
    """The library's candle, line and volume series start with exactly the API's bars (the
    last one's start and open: at 5m and longer it is the current bar, which live ticks
    have moved on since)."""
    data = page.evaluate(SERIES)
    n = body["count"]
    assert n == len(body["bars"]) and n >= 2
    bars = body["bars"]
    expected = candles_of(bars)
    assert data["candles"][: n - 1] == expected[:-1]
    last = data["candles"][n - 1]
    assert (last["time"], last["open"]) == (expected[-1]["time"], expected[-1]["open"])
    assert [p["value"] for p in data["line"][: n - 1]] == [float(b["close"]) for b in bars[:-1]]
    assert [v["value"] for v in data["volume"][: n - 1]] == [float(b["volume"]) for b in bars[:-1]]
    assert len(data["line"]) == len(data["volume"]) == len(data["candles"])
    # Price in the upper pane (candles and line), volume in a pane of its own.
    assert data["panes"] == [2, 1]


def test_the_chart_holds_and_draws_the_bars_the_api_returned_at_each_interval(
    page: Page, tickwire_server: ServerProcess
) -> None:
    body = open_live(page, tickwire_server)
    for interval in ("1m", "5m", "15m", "1h", "1d"):
        if interval != "1m":
            with page.expect_response(bars_answer("AAPL", interval)) as answer:
                page.locator(f'.seg [data-interval="{interval}"]').click()
            body = answer.value.json()
            expect(page.locator("#chart-note")).to_have_text(CAPTION)
        assert body["interval"] == interval
        assert_chart_holds(page, body)
        caption = page.locator("#chart-note").inner_text()
        match = CAPTION.match(caption)
        assert match, caption
        assert int(match.group(1).replace(",", "")) == body["count"], (interval, caption)
        assert match.group(2) == INTERVAL_LABELS[interval]
        chart = page.locator("#chart")
        assert chart.get_attribute("data-interval") == interval
        expect(page.locator(f'.seg [data-interval="{interval}"]')).to_have_attribute(
            "aria-pressed", "true"
        )
        page.wait_for_function(f"() => ({SERIES_PIXELS})('#chart') > 200")
    # The interval is remembered across reloads.
    with page.expect_response(bars_answer("AAPL", "1d")):
        page.reload()
    expect(page.locator('.seg [data-interval="1d"]')).to_have_attribute("aria-pressed", "true")


def test_selecting_a_symbol_charts_its_bars_and_the_header_follows_its_price(
    page: Page, tickwire_server: ServerProcess
) -> None:
    open_live(page, tickwire_server)
    with page.expect_response(bars_answer("MSFT", "1m")) as answer:
        page.locator('#watchlist tr[data-symbol="MSFT"]').click()
    expect(page.locator("#chart-symbol")).to_have_text("MSFT")
    expect(page.locator('#watchlist tr[data-symbol="MSFT"]')).to_have_class(re.compile("selected"))
    body = answer.value.json()
    assert body["symbol"] == "MSFT"
    page.wait_for_function(f"() => {DATA}.candles[0]?.time === {seconds(body['bars'][0]['start'])}")
    assert_chart_holds(page, body)
    expect(page.locator("#chart")).to_have_attribute(
        "aria-label", re.compile(r"^Price chart, [\d]+ one-minute bars, last [\d.]+$")
    )
    # Hovering a bar shows its open, high, low and close above the chart: those of the
    # library's candle at the crosshair.
    legend = page.locator("#chart-legend")
    box = page.locator("#chart").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.3)
    expect(legend).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d  O [\d,.]+  H "))
    hovered = float(legend.get_attribute("data-time") or 0)
    candle = next(c for c in page.evaluate(SERIES)["candles"] if c["time"] == hovered)
    assert legend.inner_text().endswith(f"C {candle['close']:,.2f}")
    assert hovered != page.evaluate(SERIES)["candles"][-1]["time"]
    # The header follows the live price of the selected symbol (read in one go in the page).
    page.wait_for_function(
        """() => document.getElementById("chart-price").textContent ===
          document.querySelector('tr[data-symbol="MSFT"] [data-field="price"]').textContent"""
    )


def test_live_ticks_open_the_current_bar_then_move_it(
    page: Page, tickwire_server: ServerProcess
) -> None:
    body = open_live(page, tickwire_server)
    history = body["count"]
    # The current minute is not in the history (only closed minutes are stored): the first
    # live tick opens it in the library's series, and the caption counts it.
    page.wait_for_function(f"() => {DATA}.candles.length === {history} + 1")
    expect(page.locator("#chart-note")).to_contain_text("of history + 1 live")
    data = page.evaluate(SERIES)
    opened = data["candles"][-1]
    assert opened["time"] > seconds(body["bars"][-1]["start"]) and opened["time"] % 60 == 0
    assert len(data["volume"]) == history + 1 and data["volume"][-1]["time"] == opened["time"]
    # Later ticks move that bar (or the next one, if the minute turned): its close is the
    # live price the header shows, read from the library's data.
    ticks = int(page.locator("#chart").get_attribute("data-ticks") or 0)
    page.wait_for_function(
        f"() => Number(document.getElementById('chart').dataset.ticks) >= {ticks + 3}"
    )
    page.wait_for_function(
        f"""() => {{ const c = {DATA}.candles; const last = c[c.length - 1];
          const text = document.getElementById("chart-price").textContent.replace(/,/g, "");
          return last.close.toFixed(2) === text; }}"""
    )
    now = page.evaluate(SERIES)["candles"]
    if now[-1]["time"] == opened["time"]:
        assert len(now) == history + 1
        assert now[-1]["high"] >= opened["high"] and now[-1]["low"] <= opened["low"]
    else:  # the minute turned meanwhile: that opened the next bar
        assert len(now) == history + 2 and now[-1]["time"] == opened["time"] + 60
    assert now[:history] == candles_of(body["bars"])  # history is left as it was
    # The line mode draws the same closes, live one included.
    page.get_by_role("button", name="Line").click()
    expect(page.get_by_role("button", name="Line")).to_have_attribute("aria-pressed", "true")
    page.wait_for_function(
        f"""() => {{ const d = {DATA}; const c = d.candles, l = d.line;
          return l.length === c.length && l[l.length - 1].value === c[c.length - 1].close; }}"""
    )
    page.wait_for_function(f"() => ({SERIES_PIXELS})('#chart') > 100")


def test_dragging_back_to_the_oldest_bar_loads_the_page_before_it(
    page: Page, tickwire_server: ServerProcess
) -> None:
    body = open_live(page, tickwire_server)
    chart = page.locator("#chart")
    box = chart.bounding_box()
    assert box is not None
    before = page.evaluate(SERIES)["visibleTime"]
    # Zoom out with the wheel, then drag the chart to the right, as a user goes back in time.
    with page.expect_response(bars_answer("AAPL", "1m", older=True)) as answer:
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 100)
        for _ in range(30):
            page.mouse.wheel(0, 300)
        for _ in range(6):  # bounded: enough drags to reach the oldest of a day of minutes
            if int(chart.get_attribute("data-older") or 0):
                break
            page.mouse.move(box["x"] + 40, box["y"] + 100)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] - 90, box["y"] + 100, steps=8)
            page.mouse.up()
            page.wait_for_timeout(300)
    older = answer.value.json()
    moved = page.evaluate(SERIES)["visibleTime"]
    assert moved["from"] < before["from"]  # zoom and drag showed earlier bars
    # The page asked for bars before the oldest one it had, and the library now holds them
    # in front of the first page, exactly as the API returned them.
    assert answer.value.url.endswith(f"&end={int(seconds(body['bars'][0]['start'])) - 1}")
    assert older["count"] > 0
    assert seconds(older["bars"][-1]["start"]) < seconds(body["bars"][0]["start"])
    page.wait_for_function(
        f"() => Number(document.getElementById('chart').dataset.older) === {older['count']}"
    )
    data = page.evaluate(SERIES)
    both = candles_of(older["bars"]) + candles_of(body["bars"])
    assert data["candles"][: len(both)] == both
    assert len(data["volume"]) == len(data["candles"])
    caption = page.locator("#chart-note").inner_text()
    match = CAPTION.match(caption)
    assert match and int(match.group(1).replace(",", "")) == body["count"] + older["count"]
    # Two days of demo minutes: the page before those is empty, and the caption says so.
    page.evaluate("() => window.tickwireDashboard.chart.scrollToOldest()")
    expect(page.locator("#chart-note")).to_contain_text("the start of the stored history")


def test_the_portfolio_card_charts_its_value_history_then_live_updates(
    page: Page, tickwire_server: ServerProcess, browser_user: dict[str, object]
) -> None:
    pid = browser_user["portfolio_id"]
    with page.expect_response(lambda r: f"/api/portfolios/{pid}/history/" in r.url) as answer:
        login(page, tickwire_server, browser_user)
    assert answer.value.status == 200
    body = answer.value.json()
    assert body["interval"] == "5m" and body["missing"] == [] and body["count"] > 10
    card = page.locator(f'.pf-card[data-portfolio-id="{pid}"]')
    expect(card.locator(".pf-chart-note")).to_have_text(
        f"Today's holdings valued at {body['count']:,} past 5m closes, then live"
    )
    points_now = f"window.tickwireDashboard.portfolios.chart({pid}).seriesData()"
    series = f"() => {points_now}"
    page.wait_for_function(f"() => {points_now}.length >= {body['count']}")
    points = page.evaluate(series)
    expected = [{"time": seconds(p["time"]), "value": float(p["value"])} for p in body["points"]]
    # The last point is the current 5-minute bucket, which live updates move on.
    assert points[: body["count"] - 1] == expected[:-1]
    assert points[body["count"] - 1]["time"] == expected[-1]["time"]
    page.wait_for_function(
        f"(sel) => ({SERIES_PIXELS})(sel) > 100", arg=f"{card_sel(pid)} .pf-chart"
    )
    # Live portfolio_update messages move the last point to the value the card shows.
    page.wait_for_function(
        f"""() => {{ const el = document.querySelector('{card_sel(pid)} .pf-chart');
          if (Number(el.dataset.updates) < 2) return false;
          const p = {points_now}; const last = p[p.length - 1].value;
          const shown = document.querySelector('{card_sel(pid)} [data-field="total_value"]');
          return shown.textContent === "$" + last.toLocaleString("en-US",
            {{ minimumFractionDigits: 2, maximumFractionDigits: 2 }}); }}"""
    )
    last = page.evaluate(series)[-1]
    assert last["time"] >= seconds(body["points"][-1]["time"]) and last["time"] % 300 == 0


def card_sel(pid: object) -> str:
    return f'.pf-card[data-portfolio-id="{pid}"]'


def test_the_charts_library_is_attributed_on_the_page(
    page: Page, tickwire_server: ServerProcess
) -> None:
    open_live(page, tickwire_server)
    attribution = page.locator("#chart-attribution")
    expect(attribution).to_be_visible()
    expect(attribution).to_contain_text("TradingView Lightweight Charts")
    expect(attribution).to_contain_text("Copyright © 2023 TradingView, Inc.")
    expect(attribution.get_by_role("link", name="TradingView")).to_have_attribute(
        "href", "https://www.tradingview.com/"
    )
    license_link = attribution.get_by_role("link", name="Apache-2.0")
    href = license_link.get_attribute("href") or ""
    response = page.request.get(tickwire_server.url + href)
    assert response.ok and "Apache License" in response.text()
    # The help says how to use the chart.
    page.locator("#chart-help summary").click()
    expect(page.locator("#chart-help")).to_contain_text("Scroll back to the oldest bar")
