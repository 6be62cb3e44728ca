"""/realtime/dashboard/ in a real Chromium against a real server: what a user sees."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SERVER_ENV, login
from tests.servers import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

DASHBOARD = "/realtime/dashboard/"


def price_cell(page: Page, symbol: str, field: str = "price"):
    return page.locator(f'#watchlist tr[data-symbol="{symbol}"] [data-field="{field}"]')


def wait_for_change(page: Page, selector: str, old: str, timeout: float = 20_000) -> str:
    """Wait until the element's text differs from ``old``; return the new text."""
    page.wait_for_function(
        "([sel, old]) => { const el = document.querySelector(sel); return el && el.textContent !== old; }",
        arg=[selector, old],
        timeout=timeout,
    )
    return page.locator(selector).inner_text()


def open_live(page: Page, server: ServerProcess) -> None:
    page.goto(server.url + DASHBOARD)
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "open")
    expect(page.locator("#conn-badge")).to_have_text("live")


def test_prices_change_live_and_flash(page: Page, tickwire_server: ServerProcess) -> None:
    open_live(page, tickwire_server)
    rows = page.locator("#watchlist tbody tr")
    expect(rows).to_have_count(15)
    first = price_cell(page, "AAPL").inner_text()
    assert re.fullmatch(r"[\d,]+\.\d\d", first), first
    new = wait_for_change(page, '#watchlist tr[data-symbol="AAPL"] [data-field="price"]', first)
    assert re.fullmatch(r"[\d,]+\.\d\d", new) and new != first
    # Moves flash green or red, and change / change % carry their direction.
    page.wait_for_selector("#watchlist .flash-up, #watchlist .flash-down")
    change = price_cell(page, "AAPL", "change")
    assert re.fullmatch(r"[+-][\d,]+\.\d\d", change.inner_text())
    assert re.fullmatch(r"[+-]\d+\.\d\d%", price_cell(page, "AAPL", "change_percent").inner_text())
    assert re.search(r"\b(up|down|flat)\b", change.get_attribute("class") or "")
    # The day range and the heartbeat's round trip are shown.
    assert re.fullmatch(
        r"[\d,.]+ \u2013 [\d,.]+", page.locator('tr[data-symbol="AAPL"] .range-text').inner_text()
    )
    expect(page.locator("#rtt")).to_have_text(re.compile(r"RTT \d+\.\d ms"))
    expect(page.locator("#last-tick")).to_have_text(re.compile(r"last tick \d\d:\d\d:\d\d\.\d{3}"))


def test_add_and_remove_symbols_by_search(page: Page, tickwire_server: ServerProcess) -> None:
    open_live(page, tickwire_server)
    eth = page.locator('#watchlist tr[data-symbol="ETH-USD"]')
    expect(eth).to_have_count(1)
    page.get_by_role("button", name="Remove ETH-USD from the watchlist").click()
    expect(eth).to_have_count(0)
    expect(page.locator("#watch-count")).to_have_text("14 symbols")

    # The watchlist is remembered across reloads.
    page.reload()
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "open")
    expect(page.locator("#watchlist tbody tr")).to_have_count(14)
    expect(eth).to_have_count(0)

    # Search by name, pick the match with the keyboard: added, selected, and live.
    search = page.get_by_role("combobox", name="Add a symbol to the watchlist")
    search.fill("ether")
    option = page.locator('#search-results [role=option][data-symbol="ETH-USD"]')
    expect(option).to_be_visible()
    search.press("Enter")
    expect(eth).to_have_count(1)
    expect(page.locator("#chart-symbol")).to_have_text("ETH-USD")
    first = price_cell(page, "ETH-USD").inner_text()
    wait_for_change(page, '#watchlist tr[data-symbol="ETH-USD"] [data-field="price"]', first)

    # A symbol that does not exist is refused with a message, and nothing is added.
    search.fill("NOSUCHSYM")
    page.locator("#search-results .search-empty").wait_for()
    search.press("Enter")
    expect(page.locator(".toast")).to_contain_text("NOSUCHSYM is not a known symbol")
    expect(page.locator("#watchlist tbody tr")).to_have_count(15)


def test_portfolio_panel_after_login_lists_positions_with_values(
    page: Page, tickwire_server: ServerProcess, browser_user: dict[str, object]
) -> None:
    login(page, tickwire_server, browser_user)
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "open")
    card = page.locator(f'.pf-card[data-portfolio-id="{browser_user["portfolio_id"]}"]')
    expect(card.locator("h3")).to_have_text("Browser Portfolio")
    expect(card.locator("tbody tr")).to_have_count(3)
    symbols = card.locator("tbody tr .sym").all_inner_texts()
    assert sorted(symbols) == ["AAPL", "BTC-USD", "MSFT"]
    total = card.locator('[data-field="total_value"]').inner_text()
    assert re.fullmatch(r"\$[\d,]+\.\d\d", total), total
    assert re.fullmatch(
        r"[+-]\$[\d,]+\.\d\d \([+-]\d+\.\d\d%\)",
        card.locator('[data-field="daily_change"]').inner_text(),
    )
    expect(page.locator(".user .username")).to_have_text("browser")
    # The socket is authenticated by the session cookie.
    assert page.evaluate("() => window.tickwireDashboard.client.authenticated") is True


def test_portfolio_value_changes_live(
    page: Page, tickwire_server: ServerProcess, browser_user: dict[str, object]
) -> None:
    login(page, tickwire_server, browser_user)
    card = page.locator(f'.pf-card[data-portfolio-id="{browser_user["portfolio_id"]}"]')
    page.wait_for_function(
        "(sel) => ['live', 'unavailable'].includes(document.querySelector(sel).dataset.live)",
        arg=f'.pf-card[data-portfolio-id="{browser_user["portfolio_id"]}"]',
    )
    assert card.get_attribute("data-live") == "live", card.locator(".pf-live").inner_text()
    total = card.locator('[data-field="total_value"]')
    first = total.inner_text()
    selector = (
        f'.pf-card[data-portfolio-id="{browser_user["portfolio_id"]}"] [data-field="total_value"]'
    )
    second = wait_for_change(page, selector, first)
    assert re.fullmatch(r"\$[\d,]+\.\d\d", second)


def test_survives_a_server_restart_reconnects_and_resumes(
    page: Page, tmp_path, browser_user: dict[str, object]
) -> None:
    """Stop the server under the page, start a new one on the same port and database."""
    server = ServerProcess(tmp_path, env=SERVER_ENV).start()
    try:
        open_live(page, server)
        aapl = '#watchlist tr[data-symbol="AAPL"] [data-field="price"]'
        wait_for_change(page, aapl, page.locator(aapl).inner_text())

        server.stop()
        expect(page.locator("#conn-badge")).to_have_attribute("data-state", "reconnecting")
        expect(page.locator("#conn-badge")).to_have_text("reconnecting")
        expect(page.locator("#conn-detail")).to_contain_text("retry")
        page.screenshot(path=str(_artifact("server_restart_reconnecting.png")))
        frozen = page.locator(aapl).inner_text()

        server = ServerProcess(tmp_path, env=SERVER_ENV, port=server.port).start()
        expect(page.locator("#conn-badge")).to_have_attribute("data-state", "open", timeout=40_000)
        # A restarted memory broker has a new epoch: no replay, a fresh snapshot instead.
        expect(page.locator("#conn-detail")).to_have_text("resumed · fresh snapshot")
        expect(page.locator(".toast").last).to_contain_text("Reconnected")
        wait_for_change(page, aapl, frozen)
        later = page.locator(aapl).inner_text()
        wait_for_change(page, aapl, later)
        assert page.evaluate("() => window.tickwireDashboard.client.symbols.length") == 15
        page.screenshot(path=str(_artifact("server_restart_resumed.png")))
    finally:
        server.stop()


def _artifact(name: str):
    from tests.browser.conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
