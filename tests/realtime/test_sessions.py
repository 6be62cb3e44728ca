"""Sockets closed when their session ends: logout, expiry, a revoked token, a disabled user
(SessionGuard, listening on control.user.<id> on every node)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from rest_framework.authtoken.models import Token

from tickwire.realtime.connection import Connection
from tickwire.realtime.sessions import SessionGuard, live_sessions
from tickwire.stream import control
from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.hub import Outbox
from tickwire.stream.messages import Alert, parse_server_frame
from tickwire.stream.node import Node
from tickwire.stream.protocol import CloseCode, encode_body

from .sockets import _session_cookie, hello, send, token_header, token_of

# -- the guard on its own: a node, a memory broker, connections it is told of ----------------


@pytest.fixture
async def guarded():
    """A started SessionGuard over a node of its own, and the list of connections it sees."""
    node = Node(MemoryBroker(), grace=0.0)
    await node.start()
    conns: list[Connection] = []
    guard = SessionGuard(node, lambda: conns, check_interval=3600)
    guard.start()
    yield guard, conns
    await guard.close()
    await node.close()


async def attached(guard, conns, name, user_id, credential, session_key=None):
    conn = Connection(name, Outbox(), user_id=user_id, auth="token", credential=credential)
    conn.session_key = session_key
    conns.append(conn)
    await guard.attach(conn)
    return conn


async def user_event(guard, user_id, **data):
    """A user_control message as another node would publish it, through the broker."""
    body = encode_body(control.USER_CONTROL, {"user_id": user_id, **data})
    await guard.node.broker.publish(control.user_control_channel(user_id), body)
    await asyncio.sleep(0)


def closed(*conns):
    return [
        (c.outbox.close_code, c.outbox.close_reason) if c.outbox.closed else None for c in conns
    ]


async def test_a_revoked_credential_closes_only_the_sockets_it_opened(guarded):
    guard, conns = guarded
    a = await attached(guard, conns, "a", 1, "token:x")
    b = await attached(guard, conns, "b", 1, "token:y")
    c = await attached(guard, conns, "c", 2, "token:x")
    await user_event(
        guard, 1, event=control.CREDENTIAL_REVOKED, credential="token:x", reason="logged out"
    )
    assert closed(a, b, c) == [(CloseCode.SESSION_ENDED, "logged out"), None, None]
    assert guard.closed_sockets == 1


async def test_a_disabled_user_loses_every_socket_and_nobody_else_does(guarded):
    guard, conns = guarded
    a = await attached(guard, conns, "a", 1, "token:x")
    b = await attached(guard, conns, "b", 1, "session:s")
    c = await attached(guard, conns, "c", 2, "token:z")
    await user_event(guard, 1, event="something_new")  # unknown events change nothing
    assert closed(a, b, c) == [None, None, None]
    await user_event(guard, 1, event=control.USER_DISABLED)
    ended = (CloseCode.SESSION_ENDED, "user account disabled")
    assert closed(a, b, c) == [ended, ended, None]
    assert guard.closed_sockets == 2


async def test_the_guard_listens_for_a_user_only_while_they_have_a_socket_here(guarded):
    guard, conns = guarded
    channel = control.user_control_channel(5)
    a = await attached(guard, conns, "a", 5, "token:x")
    b = await attached(guard, conns, "b", 5, "token:y")
    assert guard.node.hub.subscribers(channel) == 1  # one listener per user, not per socket
    guard.detach(a)
    assert guard.node.hub.subscribers(channel) == 1
    guard.detach(b)
    guard.detach(Connection("anonymous", Outbox()))  # never attached: nothing to do
    assert guard.node.hub.subscribers(channel) == 0


ALERT = {
    "event_id": "7f0c1a52-6d1e-4c55-9d0e-1f1b2c3d4e5f",
    "rule_id": 3,
    "name": "AAPL over 200",
    "target": {"asset": "AAPL"},
    "condition": "above",
    "kind": "above",
    "value": "200.5",
    "measure": "200.5",
    "level": "200",
    "message": "AAPL at 200.5 is above 200",
    "fired_at": "2026-11-30T08:00:00.250Z",
}


async def test_an_alert_goes_to_every_socket_of_its_owner_and_to_nobody_else(guarded):
    guard, conns = guarded
    a = await attached(guard, conns, "a", 1, "token:x")
    b = await attached(guard, conns, "b", 1, "session:s")
    c = await attached(guard, conns, "c", 2, "token:z")
    await user_event(guard, 1, event=control.USER_ALERT, alert=ALERT)
    for conn in (a, b):
        [frame] = conn.outbox.take()
        [message] = parse_server_frame(frame)
        assert isinstance(message, Alert)
        assert (message.event_id, message.value, message.rule_id) == (ALERT["event_id"], "200.5", 3)
        assert "seq" not in orjson.loads(frame)
    assert c.outbox.take() == []
    assert closed(a, b, c) == [None, None, None]
    assert guard.alerts_sent == 2


async def test_an_alert_without_its_event_is_dropped_and_the_sockets_stay(guarded):
    guard, conns = guarded
    a = await attached(guard, conns, "a", 1, "token:x")
    await user_event(guard, 1, event=control.USER_ALERT, alert={"name": "half"})
    await user_event(guard, 1, event=control.USER_ALERT)
    assert a.outbox.take() == [] and closed(a) == [None]


# -- live sessions against the session store -----------------------------------------------


def _login(username="demo"):
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


@pytest.mark.django_db
def test_a_session_lives_while_it_authenticates_its_user(demo):
    key = _login()
    user = get_user_model().objects.get(username="demo")
    assert live_sessions({key: user.pk}) == {key}
    assert live_sessions({key: user.pk + 1000}) == set()  # not that user's session
    user.set_password("changed")  # Django ends sessions on a password change
    user.save()
    assert live_sessions({key: user.pk}) == set()


# -- through the whole stack: a logout or revocation on one node, sockets closed ------------


async def closed_with(comm, code):
    while True:
        out = await comm.receive_output(timeout=2)
        if out["type"] == "websocket.close":
            assert out["code"] == code, out
            return out


async def test_logout_closes_the_sockets_of_that_session_only(runtime):
    client, cookie = await sync_to_async(_session_cookie)("demo")
    session_socket, _ = await hello([(b"cookie", f"sessionid={cookie}".encode())])
    token_socket, _ = await hello(token_header(await token_of()))
    await sync_to_async(client.post)("/accounts/logout/")
    out = await closed_with(session_socket, CloseCode.SESSION_ENDED)
    assert out["reason"] == "logged out"
    await send(token_socket, {"type": "ping"})
    assert (await token_socket.receive_json_from())["type"] == "pong"
    await token_socket.disconnect()


async def test_expired_session_is_found_by_the_periodic_check(runtime):
    _, cookie = await sync_to_async(_session_cookie)("demo")
    comm, _ = await hello([(b"cookie", f"sessionid={cookie}".encode())])
    assert await runtime.sessions.sweep() == 0
    await sync_to_async(Session.objects.filter(session_key=cookie).delete)()
    assert await runtime.sessions.sweep() == 1
    out = await closed_with(comm, CloseCode.SESSION_ENDED)
    assert out["reason"] == "session expired"


async def test_revoking_the_token_closes_its_sockets(runtime):
    key = await token_of()
    comm, _ = await hello(token_header(key))
    await sync_to_async(Token.objects.filter(key=key).delete)()
    await closed_with(comm, CloseCode.SESSION_ENDED)


async def test_deactivating_the_user_closes_all_their_sockets(runtime):
    comm, _ = await hello(token_header(await token_of()))

    def deactivate():
        user = get_user_model().objects.get(username="demo")
        user.is_active = False
        user.save()

    await sync_to_async(deactivate)()
    await closed_with(comm, CloseCode.SESSION_ENDED)


async def test_an_alert_reaches_every_open_socket_of_its_owner(runtime):
    first, _ = await hello(token_header(await token_of()))
    second, _ = await hello(token_header(await token_of()))
    anonymous, _ = await hello()
    user_id = await sync_to_async(lambda: get_user_model().objects.get(username="demo").pk)()
    body = encode_body(
        control.USER_CONTROL, {"user_id": user_id, "event": control.USER_ALERT, "alert": ALERT}
    )
    await runtime.broker.publish(control.user_control_channel(user_id), body)
    for comm in (first, second):
        message = await comm.receive_json_from(timeout=2)
        assert message["type"] == "alert" and message["data"] == ALERT
    assert await anonymous.receive_nothing(timeout=0.2)
    for comm in (first, second, anonymous):
        await comm.disconnect()
