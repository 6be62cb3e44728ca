"""Production settings (DEBUG off): static files come from collectstatic, served by WhiteNoise."""

from __future__ import annotations

import re
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SERVER_ENV, manage
from tests.servers import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_dashboard_runs_on_hashed_compressed_static_files(page: Page, tmp_path) -> None:
    static_root = tmp_path / "static"
    server = ServerProcess(
        tmp_path,
        env={
            **SERVER_ENV,
            "SECRET_KEY": "browser-test-secret-key-0123456789-abcdefghij",
            "STATIC_ROOT": str(static_root),
            "DEBUG": "false",
        },
        settings="tickwire.settings.production",
    )
    # Production never loads demo data itself; give it assets the way an operator would.
    manage(server, "migrate", "--noinput", DJANGO_SETTINGS_MODULE="tickwire.settings.local")
    manage(server, "load_demo_data", DJANGO_SETTINGS_MODULE="tickwire.settings.local")
    manage(server, "collectstatic", "--noinput")
    assert (static_root / "staticfiles.json").exists()
    server.start()
    try:
        html = (
            urllib.request.urlopen(server.url + "/realtime/dashboard/", timeout=10).read().decode()
        )
        script = re.search(r'src="(/static/tickwire/dashboard\.[0-9a-f]{12}\.js)"', html)
        assert script, "the dashboard must load its module by its hashed name"
        assert re.search(r'href="/static/tickwire/realtime\.[0-9a-f]{12}\.css"', html)

        request = urllib.request.Request(
            server.url + script.group(1), headers={"Accept-Encoding": "gzip"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Encoding"] == "gzip"
            assert "immutable" in response.headers["Cache-Control"]
            assert "javascript" in response.headers["Content-Type"]
        # Imports between modules point at hashed names too, so all can be cached forever.
        body = urllib.request.urlopen(server.url + script.group(1), timeout=10).read().decode()
        assert re.search(r'from "\./tickwire-client\.[0-9a-f]{12}\.js"', body)

        page.goto(server.url + "/realtime/dashboard/")
        expect(page.locator("#conn-badge")).to_have_attribute("data-state", "open")
        aapl = '#watchlist tr[data-symbol="AAPL"] [data-field="price"]'
        first = page.locator(aapl).inner_text()
        page.wait_for_function(
            "([sel, old]) => document.querySelector(sel).textContent !== old", arg=[aapl, first]
        )
    finally:
        server.stop()
