"""The home page's live table runs on the shared client module too."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.servers import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_home_quotes_go_live_and_stay_open_past_the_idle_timeout(
    page: Page, tickwire_server: ServerProcess
) -> None:
    page.goto(tickwire_server.url + "/")
    expect(page.locator("#conn-badge")).to_have_text("live")
    price = '#quotes tr[data-symbol="AAPL"] [data-field="price"]'
    first = page.locator(price).inner_text()
    page.wait_for_function(
        "([sel, old]) => document.querySelector(sel).textContent !== old", arg=[price, first]
    )
    expect(page.locator("#last-tick")).to_have_text(re.compile(r"last tick .+ · seq \d+"))
    # Past WEBSOCKET_TIMEOUT (4 s here): the heartbeat, timed from websocket-info, kept
    # the socket open, so the badge never left "live" and no reconnect happened.
    states: list[str] = page.evaluate(
        """() => { window.__states = []; new MutationObserver(() =>
             window.__states.push(document.getElementById('conn-badge').textContent)
           ).observe(document.getElementById('conn-badge'), {childList: true, characterData: true, subtree: true});
           return window.__states; }"""
    )
    assert states == []
    time.sleep(6)
    assert page.evaluate("() => window.__states") == []
    expect(page.locator("#conn-badge")).to_have_text("live")
