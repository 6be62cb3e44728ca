"""``tickwire alerts``: rules on a real server process through the console script; usage
errors (status 2) and the server's refusals (status 1) as one line; ``watch`` printing the
alerts a server pushes."""

import json
import os
import threading
import urllib.request
from datetime import UTC, datetime

import pytest
from websockets.sync.server import serve

from tests.cli.helpers import tickwire
from tests.client.test_session import alert_frame
from tests.servers import free_port
from tickwire.cli import main
from tickwire.cli.alerts import parse_expiry, ws_url
from tickwire.stream import protocol as p

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def token(server) -> str:
    request = urllib.request.Request(
        server.url + "/api/auth/token/",
        data=json.dumps({"username": "demo", "password": "demo"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["token"]


def alerts(server, token, *args):
    env = {**os.environ, "TICKWIRE_TOKEN": token, "TICKWIRE_URL": server.ws_url}
    return tickwire("alerts", *args, env=env)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["alerts"], "ACTION"),
        (["alerts", "list"], "needs your API token: --token or TICKWIRE_TOKEN"),
        (["alerts", "add", "AAPL", "sideways", "1", "--token", "t"], "unknown condition 'sideways'"),
        (["alerts", "add", "AAPL", "above", "--token", "t"], "above takes one value, not none"),
        (["alerts", "add", "AAPL", "above", "abc", "--token", "t"], "level: must be a number, not 'abc'"),
        (["alerts", "add", "above", "1", "--token", "t"], "name a symbol before 'above'"),
        (["alerts", "add", "AAPL", "move", "3", "--token", "t"], "move needs --within SECONDS"),
        (["alerts", "add", "AAPL", "above", "1", "--within", "5", "--token", "t"], "--within is for move only"),
        (["alerts", "add", "AAPL", "above", "1", "--direction", "up", "--token", "t"], "--direction is for cross and move"),
        (["alerts", "add", "AAPL", "deviation", "--size", "20", "--token", "t"], "--stds: give exactly one of stds and percent"),
        (["alerts", "add", "AAPL", "deviation", "--stds", "3", "--token", "t"], "--size: give a window size"),
        (["alerts", "add", "AAPL", "outside", "1", "--token", "t"], "outside takes two values (HIGH LOW)"),
        (["alerts", "add", "AAPL", "outside", "1", "2", "--token", "t"], "below: must not be greater"),
        (["alerts", "add", "AAPL", "above", "1", "--expires", "2030-01-01T00:00", "--token", "t"], "needs a timezone"),
        (["alerts", "add", "AAPL", "above", "1", "--expires", "later", "--token", "t"], "--expires: 'later' is neither"),
        (["alerts", "add", "AAPL", "above", "1", "--channel", "sms", "--token", "t"], "invalid choice: 'sms'"),
        (["alerts", "add", "AAPL", "above", "1", "--cooldown", "-1", "--token", "t"], "--cooldown"),
        (["alerts", "add", "--portfolio", "0", "above", "1", "--token", "t"], "greater than 0"),
        (["alerts", "remove", "x", "--token", "t"], "'x' is not a whole number"),
        (["alerts", "list", "--token", "t", "--url", "ftp://x"], "--url:"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_naming_the_option(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: tickwire alerts" in err and message in err


def test_expiry_and_url_forms():
    now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert parse_expiry("90m", now) == "2026-11-30T09:30:00+00:00"
    assert parse_expiry("7d", now).startswith("2026-12-07T08:00:00")
    assert parse_expiry("2026-12-31T16:00:00Z") == "2026-12-31T16:00:00+00:00"
    assert ws_url("http://127.0.0.1:8000") == "ws://127.0.0.1:8000/ws/realtime/"
    assert ws_url("https://example.org/") == "wss://example.org/ws/realtime/"
    assert ws_url("ws://h:1/ws/realtime/") == "ws://h:1/ws/realtime/"


def test_add_list_disable_enable_events_remove(server, token):
    added = alerts(server, token, "add", "AAPL", "above", "100000", "--name", "moon",
                   "--cooldown", "300", "--hysteresis", "0.5", "--channel", "websocket",
                   "--channel", "webhook", "--expires", "2030-01-01T00:00:00Z")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("added rule ") and added.stdout.strip().endswith(
        ": AAPL above 100000"
    )
    rule_id = added.stdout.split()[2].rstrip(":")
    try:
        listing = alerts(server, token, "list")
        [line] = [x for x in listing.stdout.splitlines() if x.split()[0] == rule_id]
        assert "on   AAPL above 100000 (moon)" in line
        assert "hysteresis 0.5, cooldown 300 s, until 2030-01-01 00:00:00Z" in line
        assert "→ websocket, webhook" in line and "last fired never" in line
        as_json = json.loads(alerts(server, token, "list", "--json").stdout)
        [rule] = [r for r in as_json if str(r["id"]) == rule_id]
        assert rule["condition"] == {"kind": "above", "level": "100000"}
        assert rule["channels"] == ["websocket", "webhook"] and rule["cooldown"] == 300.0
        off = alerts(server, token, "disable", rule_id)
        assert off.returncode == 0 and off.stdout == f"rule {rule_id} disabled: AAPL above 100000\n"
        on = json.loads(alerts(server, token, "enable", rule_id, "--json").stdout)
        assert on["enabled"] is True
        events = alerts(server, token, "events", "--rule", rule_id)
        assert events.returncode == 0 and events.stdout == "no alert events\n"
        assert json.loads(alerts(server, token, "events", "--rule", rule_id, "--json").stdout) == []
    finally:
        gone = alerts(server, token, "remove", rule_id)
    assert gone.returncode == 0 and gone.stdout == f"removed rule {rule_id}\n"
    again = alerts(server, token, "remove", rule_id)
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr.startswith("tickwire: ") and "not found" in again.stderr


def test_portfolio_and_condition_forms(server, token):
    out = []
    try:
        for argv in (
            ["add", "--portfolio", "1", "change-below", "-5", "--one-shot"],
            ["add", "BTC-USD", "move", "3", "--within", "300", "--direction", "up"],
            ["add", "AAPL", "cross", "250", "--direction", "down", "--disabled"],
            ["add", "MSFT", "deviation", "--stds", "3", "--size", "20"],
            ["add", "SPY", "outside", "700", "600"],
        ):
            done = alerts(server, token, *argv, "--json")
            assert done.returncode == 0, done.stderr
            out.append(json.loads(done.stdout))
        said = [r["description"] for r in out]
        assert said == [
            "portfolio 1 change since the previous close below -5%",
            "BTC-USD moves up more than 3% within 300 s",
            "AAPL crosses down through 250",
            "MSFT more than 3 standard deviations from its mean over 20 values",
            "SPY above 700 or below 600",
        ]
        assert out[0]["one_shot"] is True and out[2]["enabled"] is False
    finally:
        for rule in out:
            alerts(server, token, "remove", str(rule["id"]))


def test_server_refusals_exit_1_in_one_line(server, token):
    unknown = alerts(server, token, "add", "NOPE", "above", "1")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr == (
        "tickwire: asset: Unknown symbol 'NOPE'. See /api/assets/ for the symbols you can watch.\n"
    )
    theirs = alerts(server, token, "add", "--portfolio", "999999", "above", "1")
    assert theirs.returncode == 1 and "portfolio: You have no portfolio 999999" in theirs.stderr
    wrong = alerts(server, "0" * 40, "list")
    assert wrong.returncode == 1 and "token" in wrong.stderr.lower()
    assert len(wrong.stderr.splitlines()) == 1
    nowhere = tickwire("alerts", "list", "--token", "t", "--url", f"http://127.0.0.1:{free_port()}")
    assert nowhere.returncode == 1 and "cannot reach" in nowhere.stderr


def _pushing_server(*frames):
    def handler(ws):
        hello = {"status": "connected", "connection_id": "c1", "authenticated": True,
                 "user_id": 1}  # fmt: skip
        ws.send(p.encode("connection", hello).decode())
        for frame in frames:
            ws.send(frame.decode())
        for _ in ws:
            pass

    server = serve(handler, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("as_json", [False, True])
def test_watch_prints_each_alert_as_it_arrives(as_json):
    server = _pushing_server(alert_frame(), alert_frame("second", None))
    url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/ws/realtime/"
    try:
        done = tickwire("alerts", "watch", "--url", url, "--token", "t", "--duration", "2",
                        *(["--json"] if as_json else []))  # fmt: skip
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    if as_json:
        first, second = (json.loads(line) for line in lines)
        assert first["event_id"] == "6f1c2a9e-2b7a-4d7e-9a51-0c3f8d2b7e11"
        assert first["value"] == "200.5" and second["rule_id"] is None
    else:
        assert len(lines) == 2
        assert lines[0].endswith("ALERT rule 7 (AAPL over 200): AAPL at 200.5 is above 200")
        assert "watching the alerts" in done.stderr


def test_settings_show_and_change(server, token):
    shown = alerts(server, token, "settings", "--json")
    assert shown.returncode == 0, shown.stderr
    before = json.loads(shown.stdout)
    changed = alerts(server, token, "settings", "--webhook-url", "https://example.org/hook",
                     "--rotate-secret")  # fmt: skip
    try:
        assert changed.returncode == 0, changed.stderr
        lines = changed.stdout.splitlines()
        assert lines[:2] == [
            "email: (your account address)",
            "webhook_url: https://example.org/hook",
        ]
        assert lines[2].startswith("webhook_secret: ")
        assert lines[2] != f"webhook_secret: {before['webhook_secret']}"
        bad = alerts(server, token, "settings", "--webhook-url", "ftp://example.org/")
        assert bad.returncode == 1
        assert bad.stderr == "tickwire: webhook_url: Must be an http:// or https:// URL.\n"
    finally:
        alerts(server, token, "settings", "--webhook-url", before["webhook_url"])
