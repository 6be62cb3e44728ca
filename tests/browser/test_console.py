"""/realtime/test/ in a real Chromium against a real server: the WebSocket test console."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login
from tests.servers import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CONSOLE = "/realtime/test/"
TIME = re.compile(r"\d\d:\d\d:\d\d\.\d{3}")


def connect(page: Page, server: ServerProcess) -> None:
    page.goto(server.url + CONSOLE)
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "idle")
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "open")
    expect(page.locator("#st-conn")).to_have_text(re.compile(r"[0-9a-f-]{36}"))


def frames(page: Page, direction: str, type_: str):
    return page.locator(f'#log li[data-direction="{direction}"][data-type="{type_}"]')


def frame_json(page: Page, direction: str, type_: str, index: int = -1) -> dict:
    """The JSON of a logged frame (waiting for the log to show one)."""
    expect(frames(page, direction, type_)).not_to_have_count(0)
    return json.loads(frames(page, direction, type_).locator(".body").all_inner_texts()[index])


def test_every_message_type_round_trips_with_one_click(
    page: Page, tickwire_server: ServerProcess
) -> None:
    connect(page, tickwire_server)
    # The server's hello is logged with its time.
    hello = frames(page, "in", "connection").first
    expect(hello).to_be_visible()
    assert TIME.fullmatch(hello.locator(".t").inner_text())

    replies = {
        "ping": "pong",
        "subscribe_asset": "subscribed",
        "unsubscribe_asset": "unsubscribed",
        "subscribe": "subscribed",
        "subscribe_portfolio": "error",  # anonymous: authentication_required
        "authenticate": "error",  # no token typed: invalid_field
        "configure": "configured",
    }
    for button, reply in replies.items():
        before = frames(page, "in", reply).count()
        page.locator(f'#quick [data-send="{button}"]').click()
        expect(frames(page, "in", reply)).to_have_count(before + 1)
        # The message that was sent is in the composer, ready to edit and resend.
        sent = json.loads(page.locator("#composer").input_value())
        assert sent["type"] == button
    # Each outgoing type appears as a sent frame.
    for sent_type in (
        "ping",
        "subscribe_asset",
        "unsubscribe_asset",
        "subscribe",
        "subscribe_portfolio",
        "authenticate",
        "configure",
    ):
        assert frames(page, "out", sent_type).count() >= 1, sent_type
    # The subscription delivered updates; errors say why, tied to the request's id.
    expect(frames(page, "in", "asset_update").first).to_be_visible()
    error = frame_json(page, "in", "error", 0)
    assert error["data"]["code"] == "authentication_required"
    assert error["data"]["request_type"] == "subscribe_portfolio" and error["id"]
    expect(page.locator("#log")).to_contain_text("portfolio 1 not subscribed")
    # Ping's round trip is measured and shown.
    expect(page.locator("#rtt-last")).to_have_text(re.compile(r"\d+\.\d ms"))
    expect(page.locator("#rtt-stats")).to_contain_text("min / avg / max")
    expect(page.locator("#st-frames")).not_to_have_text("0 / 0")


def test_any_json_is_sent_and_bad_json_is_caught_or_sent_raw(
    page: Page, tickwire_server: ServerProcess
) -> None:
    connect(page, tickwire_server)
    composer = page.get_by_role("textbox", name="Message to send")
    composer.fill('{"type": "ping", "id": "custom-42", "data": {}}')
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#log li[data-type=pong] .body')].some(b => b.textContent.includes('custom-42'))"
    )

    # Not JSON: caught in the page, nothing sent.
    out_before = page.locator('#log li[data-direction="out"]').count()
    composer.fill("{not json")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#composer-error")).to_contain_text("Not valid JSON")
    assert page.locator('#log li[data-direction="out"]').count() == out_before

    # Sent raw on purpose: the server answers invalid_json and the connection stays open.
    page.get_by_label("send as raw text").check()
    page.get_by_role("button", name="Send", exact=True).click()
    expect(frames(page, "in", "error")).to_have_count(1)
    assert frame_json(page, "in", "error")["data"]["code"] == "invalid_json"
    # An unknown type is answered too.
    page.get_by_label("send as raw text").uncheck()
    composer.fill('{"type": "teleport", "data": {}}')
    composer.press("Control+Enter")
    expect(frames(page, "in", "error")).to_have_count(2)
    assert frame_json(page, "in", "error")["data"]["code"] == "unknown_type"
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "open")


def test_drop_and_resume_replays_missed_updates(page: Page, tickwire_server: ServerProcess) -> None:
    connect(page, tickwire_server)
    page.locator('#quick [data-send="subscribe_asset"]').click()
    expect(frames(page, "in", "asset_update")).not_to_have_count(0)
    page.get_by_role("button", name="Drop & resume").click()
    # The client resubscribes asking for everything after the last seq it saw ...
    page.wait_for_function(
        "() => [...document.querySelectorAll('#log li[data-type=subscribe_asset] .body')].some(b => b.textContent.includes('since'))"
    )
    resume = [
        json.loads(b)
        for b in page.locator(
            '#log li[data-direction="out"][data-type="subscribe_asset"] .body'
        ).all_inner_texts()
    ][-1]
    assert resume["data"]["symbols"] == ["AAPL"]
    assert isinstance(resume["data"]["since"]["AAPL"], int) and resume["data"]["epoch"]
    # ... and the server, same process and epoch, replays them: recovered.
    expect(page.locator("#log")).to_contain_text("resumed — AAPL: recovered")
    expect(page.locator("#st-reconnects")).to_have_text("1")
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "open")


def test_heartbeat_keeps_an_idle_socket_open_past_the_server_timeout(
    page: Page, tickwire_server: ServerProcess
) -> None:
    """The server closes sockets idle for WEBSOCKET_TIMEOUT (4 s here) with 4000."""
    # Without the heartbeat, the server's idle timeout closes the socket ...
    page.goto(tickwire_server.url + CONSOLE)
    page.get_by_label("heartbeat ping").uncheck()
    page.get_by_label("auto-reconnect").uncheck()
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "closed", timeout=15_000)
    expect(page.locator("#log")).to_contain_text("socket closed 4000")

    # ... with it (the default), the same idle socket stays open and measures RTT.
    page.get_by_label("heartbeat ping").check()
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "open")
    connection_id = page.locator("#st-conn").inner_text()
    time.sleep(6)  # longer than WEBSOCKET_TIMEOUT: only the heartbeat keeps the socket open
    expect(page.locator("#conn-badge")).to_have_attribute("data-state", "open")
    assert page.locator("#st-conn").inner_text() == connection_id
    assert frames(page, "out", "ping").count() >= 2
    expect(page.locator("#rtt-last")).to_have_text(re.compile(r"\d+\.\d ms"))
    # Heartbeat frames can be hidden from the log.
    page.get_by_label("hide heartbeat").check()
    expect(frames(page, "out", "ping")).to_have_count(0)


def test_logged_in_console_subscribes_to_the_users_portfolio(
    page: Page, tickwire_server: ServerProcess, browser_user: dict[str, object]
) -> None:
    login(page, tickwire_server, browser_user)
    page.goto(tickwire_server.url + CONSOLE)
    expect(page.locator("#q-portfolio")).to_have_value(str(browser_user["portfolio_id"]))
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page.locator("#st-user")).to_have_text(re.compile(r"user \d+"))
    page.locator('#quick [data-send="subscribe_portfolio"]').click()
    sent = frame_json(page, "out", "subscribe_portfolio")
    assert sent["data"] == {"portfolio_id": browser_user["portfolio_id"]}
    # Authenticated now: whatever the answer, it is not "log in first".
    page.wait_for_function(
        "() => document.querySelectorAll('#log li[data-direction=in][data-type=subscribed], #log li[data-direction=in][data-type=error]').length > 0"
    )
    for body in page.locator(
        '#log li[data-direction="in"][data-type="error"] .body'
    ).all_inner_texts():
        assert "authentication_required" not in body
