"""The README's plain-page example of the JavaScript client, run as written."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.browser.conftest import CHROMIUM_ARGS, chromium_path
from tests.servers import ROOT, ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

README = ROOT / "README.md"


@pytest.fixture
def example_page(browser: Browser, tmp_path) -> Iterator[tuple[Page, ServerProcess]]:
    """A server with the default idle timeout (the example keeps the default heartbeat),
    and a browser that lets a page Playwright serves reach it (see below)."""
    server = ServerProcess(tmp_path, env={"REALTIME_UPDATE_INTERVAL": "0.25"}).start()
    # The example page is served by Playwright under the server's own URL; Chromium
    # cannot see an address for such a page, counts it as public, and its Local
    # Network Access check would block the socket to 127.0.0.1. A page the server
    # really served (like the dashboard) is not affected.
    own_browser = browser.browser_type.launch(
        executable_path=chromium_path(),
        args=[*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"],
    )
    page = own_browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page, server
    finally:
        own_browser.close()
        server.stop()
    assert not errors, errors


def test_plain_page_example_streams_prices(example_page: tuple[Page, ServerProcess]) -> None:
    page, server = example_page
    example = re.search(r"```html\n(.*?)```", README.read_text(), re.S)
    assert example, "the README section has a plain-page example"
    url = server.url + "/readme-example.html"

    def serve(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html", body=example.group(1))

    page.route(url, serve)
    page.goto(url)
    expect(page.locator("#status")).to_have_text("open")
    expect(page.locator("#p-AAPL")).to_have_text(re.compile(r"AAPL: [\d.]+ \(-?\d+\.\d\d%\)"))
    expect(page.locator("#p-BTC-USD")).to_have_text(re.compile(r"BTC-USD: [\d.]+"))
    first = page.locator("#p-AAPL").inner_text()
    page.wait_for_function(
        "(old) => document.getElementById('p-AAPL').textContent !== old", arg=first
    )
