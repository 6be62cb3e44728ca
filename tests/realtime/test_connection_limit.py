"""MAX_CONNECTIONS_PER_USER in one process (the memory broker's LocalCluster)."""

import asyncio

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from tickwire.asgi import application
from tickwire.stream.protocol import CloseCode


def demo_session() -> tuple[int, list[tuple[bytes, bytes]]]:
    """The demo user's id and the cookie header of a real logged-in session."""
    user = get_user_model().objects.get(username="demo")
    client = Client()
    client.force_login(user)
    return user.pk, [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


async def open_socket(headers):
    comm = WebsocketCommunicator(application, "/ws/realtime/", headers=headers)
    connected, _ = await comm.connect()
    assert connected
    return comm, await comm.receive_output(timeout=2)


async def test_connections_past_the_limit_close_with_4002_and_free_on_disconnect(runtime, settings):
    settings.MAX_CONNECTIONS_PER_USER = 2
    user_id, headers = await sync_to_async(demo_session)()
    first, hello = await open_socket(headers)
    second, _ = await open_socket(headers)
    assert '"authenticated":true' in hello["text"]
    third, closed = await open_socket(headers)
    assert closed == {
        "type": "websocket.close",
        "code": CloseCode.TOO_MANY_CONNECTIONS,
        "reason": "too many connections for this user (MAX_CONNECTIONS_PER_USER=2); "
        "close another one first",
    }
    assert await runtime.user_connections(user_id) == 2
    # Anonymous connections are not limited per user.
    anon, msg = await open_socket([])
    assert msg["type"] == "websocket.send"
    await anon.disconnect()
    await first.disconnect()
    for _ in range(100):  # bounded: the disconnect releases the slot in a task
        if await runtime.user_connections(user_id) == 1:
            break
        await asyncio.sleep(0.01)
    fourth, msg = await open_socket(headers)
    assert msg["type"] == "websocket.send" and '"connection"' in msg["text"]
    for comm in (second, third, fourth):
        await comm.disconnect()
