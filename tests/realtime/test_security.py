"""The Origin check on WebSocket handshakes: same origin in, foreign origin out (403)."""

import pytest
from channels.testing import WebsocketCommunicator

from tickwire.asgi import application
from tickwire.realtime.security import OriginGuard, origin_allowed, own_origin

OWN = "http://127.0.0.1:8000"  # a page served at http://127.0.0.1:8000/


def own(host="127.0.0.1:8000", scheme="ws", extra=()):
    headers = [(b"host", host.encode()), *extra]
    return own_origin({"type": "websocket", "scheme": scheme, "headers": headers})


@pytest.mark.parametrize(
    "origin",
    ["http://127.0.0.1:8000", "HTTP://127.0.0.1:8000", "http://127.0.0.1:8000/"],
)
def test_the_pages_own_origin_is_accepted(origin):
    assert origin_allowed(origin, own())


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # another port of the same host is another origin
        "http://127.0.0.1",  # port 80
        "https://127.0.0.1:8000",  # another scheme
        "http://localhost:8000",  # another host, even one in ALLOWED_HOSTS
        "https://evil.example",
        "http://127.0.0.1.evil.example:8000",
        "null",  # sandboxed iframes and file:// pages
        "file:///home/user/page.html",
        "ws://127.0.0.1:8000",  # browsers send the page's http(s) origin
        "http://",
        "http://127.0.0.1:8000/path",
        "http://user@127.0.0.1:8000",
        "http://127.0.0.1:99999",
    ],
)
def test_other_and_malformed_origins_are_refused(origin):
    assert not origin_allowed(origin, own())


def test_the_own_origin_needs_an_allowed_host_and_follows_the_scheme():
    assert own(host="evil.example:8000") is None
    assert own(scheme="wss", host="localhost") == "https://localhost:443"
    assert own(host="[::1]:8000") == "http://[::1]:8000"


def test_a_tls_proxy_header_makes_the_own_origin_https(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    forwarded = [(b"x-forwarded-proto", b"https")]
    assert own(host="localhost", extra=forwarded) == "https://localhost:443"
    assert origin_allowed("https://localhost", own(host="localhost", extra=forwarded))


def test_listed_origins_come_from_settings_and_match_exactly(settings):
    settings.TICKWIRE_ALLOWED_ORIGINS = ["https://app.partner.example:8443"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://admin.example"]
    assert origin_allowed("https://app.partner.example:8443")
    assert origin_allowed("https://ADMIN.example:443")
    assert not origin_allowed("https://app.partner.example")  # port 443, not 8443
    assert not origin_allowed("http://admin.example")
    assert not origin_allowed("https://partner.example:8443")


def test_debug_without_allowed_hosts_has_local_own_origins(settings):
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = []
    assert origin_allowed("http://localhost:3000", own(host="localhost:3000"))
    assert own(host="evil.example") is None


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
    scheme = "ws" if kind == "websocket" else "http"
    return {"type": kind, "scheme": scheme, "path": "/ws/realtime/", "headers": headers}


async def _run_guard(scope):
    app, sent = _App(), []

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    await OriginGuard(app)(scope, receive, send)
    return app.scopes, sent


@pytest.mark.parametrize("origin", [b"https://evil.example", b"http://127.0.0.1:9999"])
async def test_guard_closes_a_foreign_handshake_with_403_before_the_app_sees_it(origin):
    reached, sent = await _run_guard(_scope("websocket", origin))
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
    comm, connected, code = await _connect(
        [(b"host", b"127.0.0.1:8000"), (b"origin", b"http://127.0.0.1:8001")]
    )
    assert not connected and code == 403
    same = [(b"host", b"127.0.0.1:8000"), (b"origin", b"http://127.0.0.1:8000")]
    for headers in (same, []):
        comm, connected, _ = await _connect(headers)
        assert connected
        assert (await comm.receive_json_from())["type"] == "connection"
        await comm.disconnect()
