"""Alerts on /realtime/dashboard/ in a real Chromium against a real server.

A user creates rules from a watchlist row and from a portfolio card through the page's
form (POST /api/alerts/ with the session and CSRF token), sees them in the Alerts panel
and in the API, gets a bad level explained next to its field, pauses and deletes rules,
and sees a toast when the server's evaluator fires a rule and its dispatcher pushes the
`alert` message to the page's WebSocket. Every rule a test creates is deleted afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import manage
from tests.servers import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

DASHBOARD = "/realtime/dashboard/"
ALERTS_API = "/api/alerts/"
USERNAME = "alerts-browser"
PASSWORD = "alerts-pass-5182"
PORTFOLIO = "Alerts Portfolio"
LIMIT = 100  # TICKWIRE_ALERT_RULES_PER_USER's default

# Its own user, so the rules and alerts of these tests reach no other test's pages.
_MAKE_USER = f"""
from decimal import Decimal
from django.contrib.auth import get_user_model
from tickwire.assets.models import Asset
from tickwire.portfolios.models import Portfolio, Position
User = get_user_model()
user, _ = User.objects.get_or_create(username={USERNAME!r})
user.set_password({PASSWORD!r})
user.save()
portfolio, _ = Portfolio.objects.get_or_create(owner=user, name={PORTFOLIO!r})
Position.objects.update_or_create(
    portfolio=portfolio, asset=Asset.objects.get(symbol="AAPL"),
    defaults={{"quantity": Decimal("10"), "average_cost": Decimal("100")}},
)
print(portfolio.pk)
"""


@pytest.fixture(scope="module")
def alerts_user(tickwire_server: ServerProcess) -> dict[str, Any]:
    portfolio_id = int(manage(tickwire_server, "shell", code=_MAKE_USER).strip().splitlines()[-1])
    return {"username": USERNAME, "password": PASSWORD, "portfolio_id": portfolio_id}


@pytest.fixture
def dashboard(
    page: Page, tickwire_server: ServerProcess, alerts_user: dict[str, Any]
) -> Iterator[Page]:
    """The dashboard, logged in as the alerts user and live; its rules deleted afterwards.
    A console error on the dashboard fails the test, except Chromium's network line for a
    400 the test itself provoked (a refused rule)."""
    page.goto(tickwire_server.url + "/accounts/login/?next=" + DASHBOARD)
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form [type=submit]").first.click()
    page.wait_for_url("**" + DASHBOARD)
    console_errors: list[str] = []
    page.on(
        "console",
        lambda msg: (
            console_errors.append(msg.text)
            if msg.type == "error" and "status of 400" not in msg.text
            else None
        ),
    )
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "open")
    yield page
    for rule in api_rules(page, tickwire_server):
        page.request.delete(
            f"{tickwire_server.url}{ALERTS_API}{rule['id']}/", headers=csrf(page, tickwire_server)
        )
    assert not console_errors, console_errors


def csrf(page: Page, server: ServerProcess) -> dict[str, str]:
    """The headers of a write with the page's session: its CSRF token, and a same-origin
    Referer (Django checks it on https, and it costs nothing here)."""
    token = page.evaluate(
        "() => JSON.parse(document.getElementById('dashboard-config').textContent).csrfToken"
    )
    return {"X-CSRFToken": token, "Referer": server.url + DASHBOARD}


def api_rules(page: Page, server: ServerProcess) -> list[dict[str, Any]]:
    """The user's rules as the API lists them (plain list or a paginated page)."""
    response = page.request.get(f"{server.url}{ALERTS_API}?limit=500")
    assert response.ok, response.text()
    body = response.json()
    return body["results"] if isinstance(body, dict) else body


def rule_item(page: Page, rule_id: int):
    return page.locator(f'#alert-rules li[data-rule-id="{rule_id}"]')


def new_rule(page: Page, server: ServerProcess, before: list[dict[str, Any]]) -> dict[str, Any]:
    """The one rule the API lists now that it did not before."""
    known = {r["id"] for r in before}
    created = [r for r in api_rules(page, server) if r["id"] not in known]
    assert len(created) == 1, created
    return created[0]


def open_asset_form(page: Page, symbol: str) -> None:
    page.locator(f'#watchlist tr[data-symbol="{symbol}"] .alert-button').click()
    expect(page.locator("#alert-dialog")).to_be_visible()
    expect(page.locator("#alert-dialog-title")).to_have_text(f"New alert: {symbol}")


def test_a_rule_created_from_a_watchlist_row_is_in_the_panel_and_the_api(
    dashboard: Page, tickwire_server: ServerProcess
) -> None:
    page = dashboard
    before = api_rules(page, tickwire_server)
    open_asset_form(page, "AAPL")
    # Prefilled with the price the row shows, as a plain number.
    shown = page.locator('#watchlist tr[data-symbol="AAPL"] [data-field="price"]').inner_text()
    level = page.locator("#alert-level").input_value()
    assert re.fullmatch(r"\d+\.\d\d", level), level
    assert abs(Decimal(level) - Decimal(shown.replace(",", ""))) < Decimal("50"), (level, shown)
    expect(page.locator("#alert-kind")).to_have_value("above")
    # Every asset condition the form offers.
    assert page.locator("#alert-kind option").evaluate_all("os => os.map(o => o.value)") == [
        "above",
        "below",
        "cross",
        "change_above",
        "change_below",
        "move",
    ]
    page.select_option("#alert-kind", "below")
    page.fill("#alert-level", "150.5")
    page.fill("#alert-name", "AAPL dip")
    page.fill("#alert-cooldown", "30")
    page.check("#alert-form [name=one_shot]")
    page.check('#alert-form [name=channels][value="email"]')
    page.get_by_role("button", name="Create alert").click()
    expect(page.locator("#alert-dialog")).to_be_hidden()

    rule = new_rule(page, tickwire_server, before)
    assert rule["asset"] == "AAPL" and rule["portfolio"] is None
    assert rule["name"] == "AAPL dip"
    assert rule["condition"]["kind"] == "below"
    assert Decimal(str(rule["condition"]["level"])) == Decimal("150.5")
    assert float(rule["cooldown"]) == 30.0
    assert rule["one_shot"] is True and rule["enabled"] is True
    assert sorted(rule["channels"]) == ["email", "websocket"]
    # The panel shows what the API says: its sentence, its target, not fired yet.
    item = rule_item(page, rule["id"])
    expect(item.locator(".rule-desc")).to_have_text(rule["description"])
    expect(item.locator(".rule-target")).to_have_text("AAPL")
    expect(item.locator(".rule-fired")).to_have_text("not fired yet")
    expect(item.get_by_role("switch")).to_be_checked()
    expect(page.locator("#alert-count")).to_have_text(
        f"{len(before) + 1} rule{'' if len(before) == 0 else 's'}"
    )


def test_a_bad_level_is_explained_next_to_the_field_and_nothing_is_saved(
    dashboard: Page, tickwire_server: ServerProcess
) -> None:
    page = dashboard
    before = api_rules(page, tickwire_server)
    open_asset_form(page, "MSFT")
    page.fill("#alert-level", "abc")
    with page.expect_response(
        lambda r: r.url.endswith(ALERTS_API) and r.request.method == "POST"
    ) as answer:
        page.get_by_role("button", name="Create alert").click()
    assert answer.value.status == 400
    errors = answer.value.json()
    # The API's message about the level is shown beside the level, word for word.
    message = next(m for m in errors["condition"] if m.startswith("level"))
    slot = page.locator('#alert-form [data-error-for="level"]')
    expect(slot).to_be_visible()
    expect(slot).to_have_text(message)
    assert "abc" in message
    expect(page.locator("#alert-level")).to_have_attribute("aria-invalid", "true")
    # The form stays open with what was typed; fixing it clears the error and saves.
    expect(page.locator("#alert-dialog")).to_be_visible()
    assert api_rules(page, tickwire_server) == before
    page.fill("#alert-level", "320")
    page.get_by_role("button", name="Create alert").click()
    expect(page.locator("#alert-dialog")).to_be_hidden()
    rule = new_rule(page, tickwire_server, before)
    assert rule["asset"] == "MSFT" and Decimal(str(rule["condition"]["level"])) == 320
    expect(rule_item(page, rule["id"])).to_be_visible()


def test_past_the_per_user_limit_the_form_says_so_and_the_panel_lists_every_rule(
    dashboard: Page, tickwire_server: ServerProcess
) -> None:
    page = dashboard
    headers = csrf(page, tickwire_server)
    # TICKWIRE_ALERT_RULES_PER_USER is 100 by default; fill up to it through the API.
    for n in range(LIMIT - len(api_rules(page, tickwire_server))):
        created = page.request.post(
            tickwire_server.url + ALERTS_API,
            data={"asset": "ETH-USD", "condition": {"kind": "above", "level": str(10**7 + n)}},
            headers=headers,
        )
        assert created.status == 201, created.text()
    page.reload()
    expect(page.locator("#alert-rules li")).to_have_count(LIMIT)
    expect(page.locator("#alert-count")).to_have_text(f"{LIMIT} rules")

    open_asset_form(page, "AAPL")
    with page.expect_response(
        lambda r: r.url.endswith(ALERTS_API) and r.request.method == "POST"
    ) as answer:
        page.get_by_role("button", name="Create alert").click()
    assert answer.value.status == 400
    detail = answer.value.json()["detail"]
    assert "TICKWIRE_ALERT_RULES_PER_USER" in detail
    slot = page.locator('#alert-form [data-error-for="form"]')
    expect(slot).to_have_text(detail)
    expect(page.locator("#alert-dialog")).to_be_visible()
    assert len(api_rules(page, tickwire_server)) == LIMIT


def test_a_rule_is_paused_and_deleted_from_the_panel(
    dashboard: Page, tickwire_server: ServerProcess
) -> None:
    page = dashboard
    created = page.request.post(
        tickwire_server.url + ALERTS_API,
        data={"asset": "BTC-USD", "condition": {"kind": "cross", "level": "1000000"}},
        headers=csrf(page, tickwire_server),
    )
    assert created.status == 201, created.text()
    rule = created.json()
    page.reload()
    item = rule_item(page, rule["id"])
    expect(item.locator(".rule-desc")).to_have_text(rule["description"])
    switch = item.get_by_role("switch")
    expect(switch).to_be_checked()

    switch.click()
    expect(item).to_have_attribute("data-enabled", "false")
    expect(rule_item(page, rule["id"]).get_by_role("switch")).not_to_be_checked()
    got = page.request.get(f"{tickwire_server.url}{ALERTS_API}{rule['id']}/").json()
    assert got["enabled"] is False
    rule_item(page, rule["id"]).get_by_role("switch").click()
    expect(rule_item(page, rule["id"])).to_have_attribute("data-enabled", "true")
    got = page.request.get(f"{tickwire_server.url}{ALERTS_API}{rule['id']}/").json()
    assert got["enabled"] is True

    page.get_by_role("button", name=f"Delete alert: {rule['description']}").click()
    expect(rule_item(page, rule["id"])).to_have_count(0)
    gone = page.request.get(f"{tickwire_server.url}{ALERTS_API}{rule['id']}/")
    assert gone.status == 404


def test_a_drawdown_rule_is_created_from_a_portfolio_card(
    dashboard: Page, tickwire_server: ServerProcess, alerts_user: dict[str, Any]
) -> None:
    page = dashboard
    before = api_rules(page, tickwire_server)
    card = page.locator(f'.pf-card[data-portfolio-id="{alerts_user["portfolio_id"]}"]')
    card.locator(".alert-button").click()
    expect(page.locator("#alert-dialog-title")).to_have_text(f"New alert: {PORTFOLIO}")
    # A portfolio's conditions: its total value above or below a level, a daily drawdown.
    assert page.locator("#alert-kind option").evaluate_all("os => os.map(o => o.value)") == [
        "above",
        "below",
        "change_below",
    ]
    total = card.locator('[data-field="total_value"]').inner_text()
    level = page.locator("#alert-level").input_value()
    assert re.fullmatch(r"\d+\.\d\d", level), level
    assert abs(Decimal(level) - Decimal(re.sub(r"[^\d.]", "", total))) < Decimal("500")
    page.select_option("#alert-kind", "change_below")
    expect(page.locator("#alert-level")).to_be_hidden()
    expect(page.locator("#alert-percent")).to_have_value("-5")
    page.get_by_role("button", name="Create alert").click()
    expect(page.locator("#alert-dialog")).to_be_hidden()

    rule = new_rule(page, tickwire_server, before)
    assert rule["portfolio"] == alerts_user["portfolio_id"] and rule["asset"] is None
    assert rule["condition"]["kind"] == "change_below"
    assert Decimal(str(rule["condition"]["percent"])) == Decimal("-5")
    item = rule_item(page, rule["id"])
    expect(item.locator(".rule-desc")).to_have_text(rule["description"])
    expect(item.locator(".rule-target")).to_have_text(PORTFOLIO)


def test_a_fired_rule_shows_a_toast_with_its_message(
    dashboard: Page, tickwire_server: ServerProcess
) -> None:
    """The whole chain: the form saves the rule, the feed process's evaluator sees AAPL's
    next tick above a level every price is above (so the first tick fires it, whatever the
    simulator draws), the dispatcher sends it to the user's connections, and the page
    shows it."""
    page = dashboard
    before = api_rules(page, tickwire_server)
    open_asset_form(page, "AAPL")
    page.fill("#alert-level", "0.01")
    page.check("#alert-form [name=one_shot]")
    page.get_by_role("button", name="Create alert").click()
    expect(page.locator("#alert-dialog")).to_be_hidden()
    rule = new_rule(page, tickwire_server, before)

    toast = page.locator(f'#toasts .toast-alert[data-rule-id="{rule["id"]}"]')
    expect(toast).to_be_visible(timeout=30_000)
    expect(toast).to_have_attribute("role", "status")
    # The toast says what the server recorded for this fire.
    events = page.request.get(f"{tickwire_server.url}{ALERTS_API}events/?rule={rule['id']}")
    assert events.ok, events.text()
    event = events.json()["results"][0]
    assert event["rule_id"] == rule["id"]
    expect(toast.locator(".toast-message")).to_have_text(event["message"])
    assert "AAPL" in event["message"]
    expect(toast).to_have_attribute("data-event-id", str(event["event_id"]))
    expect(toast.locator(".toast-time")).to_have_text(re.compile(r"\d\d:\d\d:\d\d\.\d{3}"))
    # The panel refreshed: the rule has fired.
    expect(rule_item(page, rule["id"]).locator(".rule-fired")).to_have_text(
        re.compile(r"last fired \d\d:\d\d:\d\d\.\d{3}")
    )
    # Dismissable.
    toast.get_by_role("button", name="Dismiss alert").click()
    expect(toast).to_have_count(0)


# Two fires of one rule written to the outbox by another process, as the evaluator writes
# them: the dispatcher beside the server's feed finds the rows (it looks every second).
_COMMIT_FIRES = """
import time
from decimal import Decimal
from tickwire.alerts.models import AlertRule
from tickwire.alerts.outbox import commit
from tickwire.alerts.rules import rule_meta, rule_target
from tickwire.stream.alerts import Fire
row = AlertRule.objects.get(pk={rule_id})
fires = [
    (rule_meta(row), Fire(str(row.pk), rule_target(row), "above", "above", Decimal(v),
                          Decimal(v), Decimal("5000000"), time.time(), f"BTC-USD at {{v}} (test {{n}})"))
    for n, v in enumerate(["5000001", "5000002"], 1)
]
print(",".join(str(e.key) for e in commit(fires, {{}})))
"""


def test_alerts_stack_as_toasts_on_every_open_page_and_leave_on_their_own(
    dashboard: Page, tickwire_server: ServerProcess
) -> None:
    """Delivery without the evaluator: events in the outbox reach every page the user has
    open, as toasts that stack in order and go after their time."""
    page = dashboard
    created = page.request.post(
        tickwire_server.url + ALERTS_API,
        data={
            "name": "BTC to the moon",
            "asset": "BTC-USD",
            "condition": {"kind": "above", "level": "5000000"},
        },
        headers=csrf(page, tickwire_server),
    )
    assert created.status == 201, created.text()
    rule = created.json()
    second = page.context.new_page()
    second.goto(tickwire_server.url + DASHBOARD)
    expect(second.locator("#conn-badge")).to_have_attribute("data-state", "open")

    keys = manage(tickwire_server, "shell", code=_COMMIT_FIRES.format(rule_id=rule["id"]))
    keys = keys.strip().splitlines()[-1].split(",")
    events = page.request.get(f"{tickwire_server.url}{ALERTS_API}events/?rule={rule['id']}")
    by_key = {e["event_id"]: e for e in events.json()["results"]}
    for tab in (page, second):
        toasts = tab.locator(f'#toasts .toast-alert[data-rule-id="{rule["id"]}"]')
        expect(toasts).to_have_count(2, timeout=30_000)
        for index, key in enumerate(keys):
            toast = toasts.nth(index)
            expect(toast).to_have_attribute("data-event-id", key)
            expect(toast).to_have_attribute("role", "status")
            expect(toast.locator(".toast-message")).to_have_text(by_key[key]["message"])
            expect(toast.locator(".toast-title")).to_have_text("Alert: BTC to the moon")
    expect(page.locator("#toasts")).to_have_attribute("aria-live", "polite")
    # Each stays a few seconds, then leaves by itself.
    expect(page.locator("#toasts .toast-alert")).to_have_count(0, timeout=30_000)
    second.close()


def test_anonymous_visitors_get_no_alerts_ui(page: Page, tickwire_server: ServerProcess) -> None:
    page.goto(tickwire_server.url + DASHBOARD)
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "open")
    expect(page.locator("#watchlist tbody tr").first).to_be_visible()
    expect(page.locator("#watchlist .alert-button")).to_have_count(0)
    expect(page.locator("#alert-rules")).to_have_count(0)
    expect(page.locator("#alert-dialog")).to_have_count(0)


@pytest.mark.parametrize("width", [1280, 1440, 1920])
def test_every_rows_bell_is_in_view_at_laptop_and_desktop_widths(
    dashboard: Page, width: int
) -> None:
    """Not cut off by the panel: the bell and the remove button of each row lie inside the
    watchlist panel's box without scrolling it sideways."""
    page = dashboard
    page.set_viewport_size({"width": width, "height": 800})
    panel = page.locator("section.watchlist").bounding_box()
    assert panel is not None
    rows = page.locator("#watchlist tbody tr")
    expect(rows.first).to_be_visible()
    for i in range(rows.count()):
        for button in (".alert-button", ".remove"):
            box = rows.nth(i).locator(button).bounding_box()
            assert box is not None, (i, button)
            assert (
                panel["x"] <= box["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"]
            ), (
                width,
                i,
                button,
                box,
                panel,
            )
