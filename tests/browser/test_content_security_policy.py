"""The pages run under their Content-Security-Policy, and a violation would be caught."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import is_csp_violation
from tests.servers import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.mark.parametrize("path", ["/", "/realtime/dashboard/", "/realtime/test/", "/api/docs/"])
def test_pages_send_a_strict_policy_and_work_under_it(
    page: Page, tickwire_server: ServerProcess, path: str
) -> None:
    response = page.goto(tickwire_server.url + path)
    assert response is not None and response.status == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    # Only the API docs (Swagger UI sets style attributes) may use inline styles.
    assert ("'unsafe-inline'" in policy) == (path == "/api/docs/")
    if path == "/realtime/dashboard/":
        # The WebSocket is allowed by connect-src 'self': the page goes live.
        expect(page.locator("#conn-badge")).to_have_attribute("data-state", "open")
    if path == "/api/docs/":
        expect(page.locator(".swagger-ui .info")).to_be_visible()
    page.wait_for_load_state("networkidle")
    # The page fixture fails the test on any refusal the policy reported.


def test_an_injected_inline_script_is_refused_and_reported(
    browser: Browser, tickwire_server: ServerProcess
) -> None:
    # Its own context: the page fixture would (rightly) fail on the refusal provoked here.
    context = browser.new_context()
    try:
        page = context.new_page()
        refusals: list[str] = []
        page.on(
            "console",
            lambda msg: refusals.append(msg.text) if is_csp_violation(msg.type, msg.text) else None,
        )
        page.goto(tickwire_server.url + "/realtime/dashboard/")
        page.evaluate(
            """() => { const s = document.createElement("script");
                       s.textContent = "window.injected = true"; document.body.append(s); }"""
        )
        assert page.evaluate("() => window.injected === undefined")
        for _ in range(50):  # the console event may trail the refusal (bounded)
            if refusals:
                break
            page.wait_for_timeout(20)
        assert refusals and "script-src" in refusals[0]
    finally:
        context.close()
