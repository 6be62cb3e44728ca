"""The Origin check on WebSocket handshakes: same origin in, foreign origin out (403)."""

import pytest
from channels.testing import WebsocketCommunicator

from tickwire.asgi import application
from tickwire.realtime.security import OriginGuard, origin_allowed


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:8000",  # ALLOWED_HOSTS names the host; any port
        "https://localhost",
        "http://[::1]:8000",
        "http://LOCALHOST:8000",  # hosts match case-insensitively
    ],
)
def test_origins_on_allowed_hosts_are_accepted(origin):
    assert origin_allowed(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://127.0.0.1.evil.example",
        "null",  # sandboxed iframes and file:// pages
        "file:///home/user/page.html",
        "ws://127.0.0.1:8000",  # browsers send the page's http(s) origin
        "http://",
    ],
)
def test_foreign_and_malformed_origins_are_refused(origin):
    assert not origin_allowed(origin)


def test_trusted_origins_and_allowed_hosts_come_from_settings(settings):
    settings.ALLOWED_HOSTS = [".example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.partner.example"]
    assert origin_allowed("https://www.example.com:8443")
    assert origin_allowed("https://app.partner.example")
    assert not origin_allowed("https://partner.example")  # trusted origins are exact
    assert not origin_allowed("http://127.0.0.1:8000")


def test_debug_without_allowed_hosts_accepts_only_local_origins(settings):
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = []
    assert origin_allowed("http://localhost:8000") and origin_allowed("http://127.0.0.1:3000")
    assert not origin_allowed("https://evil.example")


class _App:
    """The application behind the guard: records the scopes that reach it."""

    def __init__(self):
        self.scopes = []

    async def __call__(self, scope, receive, send):
        self.scopes.append(scope)


def _scope(kind, origin=None):
    headers = [(b"host", b"127.0.0.1:8000")]
    if origin is not None:
        headers.append((b"origin", origin))
    return {"type": kind, "path": "/ws/realtime/", "headers": headers}


async def _run_guard(scope):
    app, sent = _App(), []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    await OriginGuard(app)(scope, receive, send)
    return app.scopes, sent


async def test_guard_closes_a_foreign_handshake_with_403_before_the_app_sees_it():
    reached, sent = await _run_guard(_scope("websocket", b"https://evil.example"))
    assert reached == [] and sent == [{"type": "websocket.close", "code": 403}]


@pytest.mark.parametrize("origin", [b"http://127.0.0.1:8000", None])
async def test_guard_passes_same_origin_and_origin_less_handshakes_through(origin):
    scope = _scope("websocket", origin)
    reached, sent = await _run_guard(scope)
    assert reached == [scope] and sent == []


async def test_guard_leaves_http_alone():
    scope = _scope("http", b"https://evil.example")
    reached, sent = await _run_guard(scope)
    assert reached == [scope] and sent == []


async def _connect(headers):
    comm = WebsocketCommunicator(application, "/ws/realtime/", headers=headers)
    connected, code = await comm.connect()
    return comm, connected, code


async def test_foreign_origin_is_refused_and_no_origin_is_allowed(runtime):
    comm, connected, code = await _connect([(b"origin", b"https://evil.example")])
    assert not connected and code == 403
    for headers in ([(b"origin", b"http://127.0.0.1:8000")], []):
        comm, connected, _ = await _connect(headers)
        assert connected
        assert (await comm.receive_json_from())["type"] == "connection"
        await comm.disconnect()
