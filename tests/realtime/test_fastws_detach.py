"""A detached app under the real front end: uvicorn with DirectWebSocketProtocol on a
loopback port, a real WebSocket client, an app small enough to see what the protocol does."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tickwire.realtime.fastws import EXTENSION, DirectLink, DirectWebSocketProtocol
from tickwire.stream.hub import Outbox, Pacer

WAIT = 10.0


class EchoApp:
    """Accepts, detaches, and echoes each text message through an outbox on the link;
    ``done`` ends the app's interest in the connection, ``boom`` is a fault."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.detached = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        link: DirectLink = scope["extensions"][EXTENSION]
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        outbox = Outbox(wake=link.wake)
        link.attach(outbox, Pacer())

        async def on_message(message: dict[str, Any]) -> bool:
            self.events.append(message)
            if message["type"] == "websocket.disconnect":
                return False
            text = message["text"]
            if text == "boom":
                raise RuntimeError("boom")
            if text == "done":
                return False
            await asyncio.sleep(0.01)  # a handler that suspends keeps the order too
            outbox.push(text.encode())
            return True

        link.detach(on_message)
        self.detached.set()


@pytest.fixture
async def served() -> AsyncIterator[tuple[uvicorn.Server, EchoApp, str]]:
    app = EchoApp()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, ws=DirectWebSocketProtocol, lifespan="off", log_level="warning", ws_ping_interval=None
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        await asyncio.wait_for(_until(lambda: server.started), WAIT)
        yield server, app, f"ws://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT)
        sock.close()


async def _until(predicate: Any) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


async def test_a_detached_app_holds_no_task_while_idle_and_gets_messages_in_order(served):
    server, app, url = served
    async with connect(url) as ws:
        await asyncio.wait_for(app.detached.wait(), WAIT)
        # The app's call has returned: an idle connection runs no task at all.
        await asyncio.wait_for(_until(lambda: not server.server_state.tasks), WAIT)
        for n in range(20):
            await ws.send(str(n))
        got = [await asyncio.wait_for(ws.recv(), WAIT) for _ in range(20)]
        assert got == [str(n) for n in range(20)]
        await asyncio.wait_for(_until(lambda: not server.server_state.tasks), WAIT)
    await asyncio.wait_for(_until(lambda: len(app.events) == 21), WAIT)
    assert app.events[-1]["type"] == "websocket.disconnect" and app.events[-1]["code"] == 1000


async def test_a_detached_app_that_is_done_has_its_connection_closed(served):
    server, app, url = served
    async with connect(url) as ws:
        await ws.send("done")
        await ws.send("after")  # never handed to the app: it said it was done
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT)
    assert [e.get("text") for e in app.events] == ["done"]
    await asyncio.wait_for(_until(lambda: not server.server_state.connections), WAIT)


async def test_a_fault_in_a_detached_app_is_logged_and_closes_the_connection(served, caplog):
    server, _app, url = served
    caplog.set_level(logging.ERROR, logger="uvicorn.error")
    async with connect(url) as ws:
        await ws.send("boom")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT)
    assert any("Exception in ASGI application" in r.getMessage() for r in caplog.records)
    await asyncio.wait_for(_until(lambda: not server.server_state.connections), WAIT)


async def test_detach_is_refused_before_the_handshake_completes():
    proto = DirectWebSocketProtocol.__new__(DirectWebSocketProtocol)
    proto.handshake_complete = False
    with pytest.raises(RuntimeError, match="accepted connection"):
        proto.detach(lambda message: asyncio.sleep(0, True))
