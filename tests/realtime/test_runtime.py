"""The per-process runtime: one per event loop, sockets closed with 1012 on shutdown,
MAX_CONNECTIONS_PER_USER, and what it binds while it runs (the control publisher and the
live prices the REST API values portfolios at)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from tickwire.asgi import application
from tickwire.portfolios.services import live_prices
from tickwire.portfolios.valuation import Price
from tickwire.realtime import runtime as rt_module
from tickwire.realtime.runtime import Runtime
from tickwire.stream import control
from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.protocol import CloseCode, encode_body


async def connect(headers=None):
    comm = WebsocketCommunicator(application, "/ws/realtime/", headers=headers or [])
    connected, _ = await comm.connect()
    assert connected
    return comm, await comm.receive_output(timeout=2)


async def eventually(check, timeout=2.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_one_runtime_per_event_loop_until_shutdown(demo):
    runtime = await rt_module.get_runtime()
    assert await rt_module.get_runtime() is runtime
    assert rt_module.current_runtime() is runtime
    await rt_module.shutdown_runtime()
    assert rt_module.current_runtime() is None


async def test_server_shutdown_closes_sockets_with_1012_service_restart(demo):
    await rt_module.get_runtime()
    comm, _ = await connect()
    await rt_module.shutdown_runtime()
    out = await comm.receive_output(timeout=2)
    assert out["type"] == "websocket.close" and out["code"] == CloseCode.SERVICE_RESTART == 1012


def demo_session() -> tuple[int, list[tuple[bytes, bytes]]]:
    """The demo user's id and the cookie header of a real logged-in session."""
    user = get_user_model().objects.get(username="demo")
    client = Client()
    client.force_login(user)
    return user.pk, [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


async def test_connections_past_the_limit_close_with_4002_and_free_on_disconnect(runtime, settings):
    """MAX_CONNECTIONS_PER_USER in one process (the memory broker's LocalCluster)."""
    settings.MAX_CONNECTIONS_PER_USER = 2
    user_id, headers = await sync_to_async(demo_session)()
    first, hello = await connect(headers)
    second, _ = await connect(headers)
    assert '"authenticated":true' in hello["text"]
    third, closed = await connect(headers)
    assert closed == {
        "type": "websocket.close",
        "code": CloseCode.TOO_MANY_CONNECTIONS,
        "reason": "too many connections for this user (MAX_CONNECTIONS_PER_USER=2); "
        "close another one first",
    }
    assert await runtime.user_connections(user_id) == 2
    # Anonymous connections are not limited per user.
    anon, msg = await connect([])
    assert msg["type"] == "websocket.send"
    await anon.disconnect()
    await first.disconnect()
    for _ in range(100):  # bounded: the disconnect releases the slot in a task
        if await runtime.user_connections(user_id) == 1:
            break
        await asyncio.sleep(0.01)
    fourth, msg = await connect(headers)
    assert msg["type"] == "websocket.send" and '"connection"' in msg["text"]
    for comm in (second, third, fourth):
        await comm.disconnect()


async def test_while_running_control_messages_go_through_its_broker():
    broker = MemoryBroker()
    runtime = Runtime(broker=broker)
    await runtime.start(run_feed=False)
    channel = control.user_control_channel(9)
    try:
        control.publish(channel, control.USER_CONTROL, {"user_id": 9})
        for _ in range(100):  # the publication is a task on the runtime's loop
            latest = await broker.latest(channel)
            if latest is not None:
                break
            await asyncio.sleep(0.01)
        assert latest is not None and latest.seq == 1
    finally:
        await runtime.stop()
    # Stopped, it no longer carries them (with the memory broker nothing else does).
    control.publish(channel, control.USER_CONTROL, {"user_id": 9})
    await asyncio.sleep(0.05)
    after = await broker.latest(channel)
    assert after is not None and after.seq == 1


async def test_the_api_sees_the_prices_the_sockets_see(runtime):
    # A node without the feed (Redis mode): the broker's latest asset_update, read from the
    # REST API's thread through the runtime's loop.
    def prices():
        return asyncio.to_thread(live_prices, ["AAPL", "MSFT"])

    assert await prices() == {}  # nothing published yet: stored prices apply
    body = encode_body("asset_update", {"symbol": "AAPL", "price": 300.0, "previous_close": 268.4})
    await runtime.broker.publish("asset.AAPL", body)
    assert await prices() == {"AAPL": Price(Decimal("300.0"), Decimal("268.4"))}
    assert live_prices(["AAPL"]) == {}  # never waited for on the runtime's own loop
    await rt_module.shutdown_runtime()
    assert await prices() == {}


async def test_without_a_valuer_price_the_in_process_feed_quote_is_live(runtime):
    feed = await runtime.start_feed()
    quote = feed.quotes["MSFT"]
    assert live_prices(["MSFT", "NOPE"]) == {
        "MSFT": Price(Decimal(repr(quote.price)), Decimal(repr(quote.previous_close)))
    }
