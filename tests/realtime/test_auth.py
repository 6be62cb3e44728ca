"""WebSocket authentication: session cookie, token header, authenticate message; the
per-user connection limit. (Sockets closed when the session or token ends: test_sessions.)"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from tickwire.realtime.auth import SessionAuthMiddleware
from tickwire.stream.protocol import CloseCode

from .sockets import _session_cookie, hello, open_socket, send, token_header, token_of


async def test_token_header_authenticates_the_handshake(runtime):
    key = await token_of()
    comm, data = await hello(token_header(key))
    demo_id = await sync_to_async(lambda: get_user_model().objects.get(username="demo").pk)()
    assert data["authenticated"] is True and data["user_id"] == demo_id
    await comm.disconnect()


async def test_invalid_token_header_refuses_the_handshake(runtime):
    _, connected, code = await open_socket(token_header("not-a-token"))
    assert not connected and code == 403


async def test_session_cookie_authenticates_and_foreign_origin_is_refused(runtime):
    _, cookie = await sync_to_async(_session_cookie)("demo")
    cookie_header = (b"cookie", f"sessionid={cookie}".encode())
    same_origin = [(b"host", b"127.0.0.1:8000"), (b"origin", b"http://127.0.0.1:8000")]
    comm, data = await hello([cookie_header, *same_origin])
    assert data["authenticated"] is True
    await comm.disconnect()
    comm, connected, code = await open_socket([cookie_header, (b"origin", b"https://evil.example")])
    assert not connected and code == 403


async def test_authenticate_message(runtime):
    comm, data = await hello()
    assert data["authenticated"] is False
    await send(comm, {"type": "authenticate", "data": {"token": "wrong"}, "id": 1})
    err = await comm.receive_json_from()
    assert err["data"]["code"] == "authentication_failed" and err["id"] == 1
    key = await token_of()
    await send(comm, {"type": "authenticate", "data": {"token": key}, "id": 2})
    ok = await comm.receive_json_from()
    assert ok["type"] == "authenticated" and ok["id"] == 2
    assert ok["data"]["authenticated"] is True and ok["data"]["username"] == "demo"
    await comm.disconnect()


async def test_authenticate_as_another_user_is_refused(runtime):
    await sync_to_async(get_user_model().objects.create_user)("bob", password="pw")
    comm, _ = await hello(token_header(await token_of("demo")))
    await send(comm, {"type": "authenticate", "data": {"token": await token_of("bob")}})
    err = await comm.receive_json_from()
    assert err["data"]["code"] == "authentication_failed"
    assert "another user" in err["data"]["message"]
    await comm.disconnect()


async def test_connection_limit_per_user_closes_the_extra_one_with_4002(runtime, settings):
    settings.MAX_CONNECTIONS_PER_USER = 2
    key = await token_of()
    first, _ = await hello(token_header(key))
    second, _ = await hello(token_header(key))
    third, connected, _ = await open_socket(token_header(key))
    assert connected  # accepted so that the close code can say why
    out = await third.receive_output(timeout=2)
    assert out["type"] == "websocket.close" and out["code"] == CloseCode.TOO_MANY_CONNECTIONS
    assert "MAX_CONNECTIONS_PER_USER=2" in out["reason"]
    # Anonymous sockets are not counted, and authenticating one counts it.
    anon, _ = await hello()
    await send(anon, {"type": "authenticate", "data": {"token": key}})
    out = await anon.receive_output(timeout=2)
    assert out["type"] == "websocket.close" and out["code"] == CloseCode.TOO_MANY_CONNECTIONS
    await first.disconnect()
    fourth, data = await hello(token_header(key))  # a slot is free again
    assert data["authenticated"] is True
    await second.disconnect()
    await fourth.disconnect()


async def test_status_has_user_stats_for_token_and_session_callers(runtime):
    key = await token_of()
    comm, _ = await hello(token_header(key))
    await send(comm, {"type": "subscribe_asset", "data": {"symbol": "AAPL"}})
    await comm.receive_json_from()
    client = AsyncClient()
    anon = (await client.get("/realtime/status/")).json()
    assert "user_stats" not in anon
    body = (await client.get("/realtime/status/", headers={"authorization": f"Token {key}"})).json()
    assert body["user_stats"] == {
        "connection_count": 1,
        "subscriptions": {"portfolios": [], "assets": ["AAPL"]},
    }
    session_client, _ = await sync_to_async(_session_cookie)("demo")
    client.cookies = session_client.cookies
    assert (await client.get("/realtime/status/")).json()["user_stats"]["connection_count"] == 1
    await comm.disconnect()


def _handshake_scope(*headers):
    return {"type": "websocket", "path": "/ws/realtime/", "headers": list(headers)}


def _run_without_suspending(coro):
    """Drive ``coro`` one step: it must finish without awaiting anything (no thread, no I/O)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise AssertionError("the middleware waited for something")


def test_a_handshake_without_the_session_cookie_is_anonymous_without_any_io():
    seen = []

    async def app(scope, receive, send):
        seen.append(scope)

    middleware = SessionAuthMiddleware(app)
    cookie = (b"cookie", b"csrftoken=abc; theme=dark")
    _run_without_suspending(middleware(_handshake_scope(cookie), None, None))
    _run_without_suspending(middleware(_handshake_scope(), None, None))
    _run_without_suspending(middleware(_handshake_scope((b"cookie", b"sessionid=")), None, None))
    first, second, third = seen
    assert first["cookies"] == {"csrftoken": "abc", "theme": "dark"} and second["cookies"] == {}
    assert third["cookies"] == {"sessionid": ""}
    for scope in seen:
        assert not scope["user"].is_authenticated
        assert scope["session"].session_key is None and scope["session"].is_empty()


async def test_a_handshake_with_the_session_cookie_reads_the_session(runtime):
    _, cookie = await sync_to_async(_session_cookie)("demo")
    seen = []

    async def app(scope, receive, send):
        seen.append(scope)

    scope = _handshake_scope((b"cookie", f"sessionid={cookie}; theme=dark".encode()))
    await SessionAuthMiddleware(app)(scope, None, None)
    [inner] = seen
    assert inner["user"].is_authenticated and inner["user"].username == "demo"
    assert inner["session"].session_key == cookie and inner["cookies"]["theme"] == "dark"


async def test_an_unknown_session_cookie_connects_anonymously(runtime):
    comm, data = await hello([(b"cookie", b"sessionid=no-such-session")])
    assert data["authenticated"] is False
    await comm.disconnect()
