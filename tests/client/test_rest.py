"""The REST client of alerts against a real server process, and ``alert`` messages as
events of the WebSocket clients."""

import json
import threading
import urllib.request
from datetime import UTC, datetime

import pytest
from websockets.sync.server import serve

from tests.servers import free_port
from tickwire.client import (
    AlertFired,
    AlertsAPI,
    APIError,
    AuthenticationError,
    BlockingClient,
    Client,
    ConnectionFailed,
)
from tickwire.client.rest import http_base
from tickwire.stream import protocol as p
from tickwire.stream.alerts import Above, Cross

from .test_session import alert_frame

pytestmark = pytest.mark.e2e


def _token(server, username="demo", password="demo") -> str:
    request = urllib.request.Request(
        server.url + "/api/auth/token/",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["token"]


@pytest.fixture
def api(server):
    with AlertsAPI(server.url, _token(server)) as api:
        before = {rule["id"] for rule in api.alerts()}
        yield api
        for rule in api.alerts():  # the server is shared: leave it as found
            if rule["id"] not in before:
                api.remove_alert(rule["id"])


def test_http_base_takes_the_websocket_url_the_other_commands_take():
    assert http_base("ws://127.0.0.1:8000/ws/realtime/") == "http://127.0.0.1:8000"
    assert http_base("wss://example.org/prefix/ws/realtime/") == "https://example.org/prefix"
    assert http_base("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    with pytest.raises(ValueError, match="not a server URL"):
        http_base("127.0.0.1:8000")


def test_a_rule_round_trip(api):
    rule = api.add_alert(Cross("250", "up"), asset="AAPL", name="breakout", cooldown=60,
                         channels=["websocket", "email"])  # fmt: skip
    assert rule["target"] == {"asset": "AAPL"} and rule["name"] == "breakout"
    assert rule["condition"] == {"kind": "cross", "level": "250", "direction": "up"}
    assert rule["description"] == "AAPL crosses up through 250"
    assert rule["id"] in {r["id"] for r in api.alerts()}
    assert api.alert(rule["id"]) == rule
    changed = api.update_alert(rule["id"], condition=Above("300"), hysteresis="0.5",
                               expires_at=datetime(2030, 1, 1, tzinfo=UTC))  # fmt: skip
    assert changed["description"] == "AAPL above 300" and changed["hysteresis"] == "0.5"
    assert changed["expires_at"].startswith("2030-01-01T00:00:00")
    assert api.disable_alert(rule["id"])["enabled"] is False
    assert api.enable_alert(rule["id"])["enabled"] is True
    assert api.alert_events(rule=rule["id"]) == []
    api.remove_alert(rule["id"])
    with pytest.raises(APIError) as gone:
        api.alert(rule["id"])
    assert gone.value.status == 404


def test_a_portfolio_rule_from_the_json_form(api, server):
    request = urllib.request.Request(
        server.url + "/api/portfolios/",
        headers={"Authorization": api._http.headers["Authorization"]},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        portfolio = json.loads(response.read())["results"][0]["id"]
    rule = api.add_alert({"kind": "change_below", "percent": "-5"}, portfolio=portfolio)
    assert rule["target"] == {"portfolio": portfolio} and rule["asset"] is None


def test_refusals_carry_the_servers_field_messages(api):
    with pytest.raises(APIError) as bad:
        api.add_alert({"kind": "above", "level": "abc"}, asset="AAPL")
    assert bad.value.status == 400
    assert bad.value.errors == {"condition": ["level: must be a number, not 'abc'"]}
    assert str(bad.value) == "condition: level: must be a number, not 'abc'"
    with pytest.raises(APIError) as unknown:
        api.add_alert(Above("1"), asset="NOPE", channels=["sms"])
    assert set(unknown.value.errors) == {"asset", "channels"}
    with pytest.raises(APIError, match="webhook_url: Must be an http:// or https:// URL"):
        api.update_alert_settings(webhook_url="ftp://example.org/")


def test_settings_and_secret_rotation(api):
    before = api.alert_settings()
    assert set(before) == {"email", "webhook_url", "webhook_secret"}
    rotated = api.rotate_webhook_secret()
    assert rotated["webhook_secret"] != before["webhook_secret"]


def test_without_a_token_and_without_a_server(server):
    with (
        AlertsAPI(server.url, None) as anonymous,
        pytest.raises(AuthenticationError, match="token"),
    ):
        anonymous.alerts()
    with AlertsAPI(server.url, "0" * 40) as wrong, pytest.raises(AuthenticationError):
        wrong.alerts()
    with (
        AlertsAPI(f"http://127.0.0.1:{free_port()}", "x") as nowhere,
        pytest.raises(ConnectionFailed, match="cannot reach"),
    ):
        nowhere.alerts()


# -- alert messages over the WebSocket --------------------------------------------------------


class _AlertServer:
    """A loopback server that greets each connection and pushes ``frames`` to it, as a
    node pushes a user's alerts (no subscription asked)."""

    def __init__(self, *frames: bytes) -> None:
        self.frames = frames

    def __enter__(self) -> str:
        def handler(ws):
            hello = {"status": "connected", "connection_id": "c1", "authenticated": True,
                     "user_id": 1}  # fmt: skip
            ws.send(p.encode("connection", hello).decode())
            for frame in self.frames:
                ws.send(frame.decode())
            for _ in ws:
                pass

        self._server = serve(handler, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/ws/realtime/"

    def __exit__(self, *exc):
        self._server.shutdown()
        self._thread.join(10)


async def test_the_client_yields_alert_fired_events_and_calls_their_callbacks():
    seen = []
    with _AlertServer(alert_frame(), alert_frame("second", 8)) as url:
        async with Client(url, token="t") as client:
            client.on(AlertFired, seen.append)
            first = await client.next_event(timeout=10)
            while not isinstance(first, AlertFired):
                first = await client.next_event(timeout=10)
            second = await client.next_event(timeout=10)
    assert isinstance(second, AlertFired)
    assert [e.event_id for e in seen] == ["6f1c2a9e-2b7a-4d7e-9a51-0c3f8d2b7e11", "second"]
    assert first.alert.message == "AAPL at 200.5 is above 200" and second.rule_id == 8


def test_the_blocking_client_yields_them_too():
    with _AlertServer(alert_frame()) as url, BlockingClient(url, token="t") as client:
        event = client.next_event(timeout=10)
        while not isinstance(event, AlertFired):
            event = client.next_event(timeout=10)
    assert event.alert.name == "AAPL over 200"


def test_a_server_that_is_not_tickwire_is_named(server):
    with AlertsAPI(server.url + "/static", "t") as elsewhere, pytest.raises(APIError) as info:
        elsewhere.alerts()
    assert info.value.status == 404
    assert "is this a Tickwire server with alerts?" in str(info.value)
