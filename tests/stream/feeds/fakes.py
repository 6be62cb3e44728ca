"""Fake providers on loopback ports, speaking their documented protocols.

:class:`FakeWsServer` is a real WebSocket server (the ``websockets`` library) that records
what each client sends and lets a test push recorded messages, drop the TCP connection
without a close frame, or stay silent. A silent server still answers the client's pings
(as every real one does) and counts them; ``send_pings`` makes it ping the client, and
``black_hole`` makes it stop reading altogether, so pings go unanswered (a half-open
connection). :class:`FakeHttpServer` is a real HTTP server in a
thread answering from a script of responses. Sample messages live in ``data/``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import Event

DATA = Path(__file__).parent / "data"
WAIT = 10.0  # bound on every wait, so a broken source fails the test instead of hanging


def sample(name: str) -> Any:
    """A recorded sample file from tests/stream/feeds/data (JSON)."""
    return json.loads((DATA / name).read_text())


class PingCountingConnection(ServerConnection):
    """A server connection that counts the pings its client sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pings_received = 0
        self.ping_seen = asyncio.Event()

    def process_event(self, event: Event) -> None:
        super().process_event(event)
        if isinstance(event, Frame) and event.opcode is Opcode.PING:
            self.pings_received += 1
            self.ping_seen.set()


class FakeConn:
    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.path = ws.request.path if ws.request else ""
        self.headers = dict(ws.request.headers) if ws.request else {}
        self.received: list[Any] = []
        self._changed = asyncio.Event()
        self.closed = asyncio.Event()
        self.black_holed = False
        self._pinger: asyncio.Task[None] | None = None

    def _got(self, text: str) -> None:
        try:
            self.received.append(json.loads(text))
        except ValueError:
            self.received.append(text)
        self._changed.set()

    async def wait_received(self, n: int) -> list[Any]:
        async def until() -> None:
            while len(self.received) < n:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), WAIT)
        return self.received

    async def send(self, message: Any) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    def drop(self) -> None:
        """Kill the TCP connection without a close frame (a network failure)."""
        self.stop_pings()
        self.ws.transport.abort()

    async def wait_client_pings(self, n: int) -> None:
        """Wait (bounded) until the client has sent ``n`` pings on this connection."""
        assert isinstance(self.ws, PingCountingConnection)
        ws = self.ws

        async def until() -> None:
            while ws.pings_received < n:
                ws.ping_seen.clear()
                await ws.ping_seen.wait()

        await asyncio.wait_for(until(), WAIT)

    def black_hole(self) -> None:
        """Stop reading: the client's pings (and messages) go unanswered, while the TCP
        connection stays open — what a client sees behind a dead NAT or a hung server."""
        self.black_holed = True
        self.ws.transport.pause_reading()

    def send_pings(self, every: float) -> None:
        """Ping the client every ``every`` seconds (as Binance and others do)."""

        async def run() -> None:
            while True:
                await asyncio.sleep(every)
                # The pong is the client's business; a black-holed server never reads it.
                await self.ws.ping()

        self._pinger = asyncio.ensure_future(run())

    def stop_pings(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None


class FakeWsServer:
    def __init__(self, on_connect: Callable[[FakeConn], Any] | None = None) -> None:
        self.connections: list[FakeConn] = []
        self._new: asyncio.Queue[FakeConn] = asyncio.Queue()
        self.on_connect = on_connect
        self.port = 0

    async def __aenter__(self) -> FakeWsServer:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            compression=None,
            create_connection=PingCountingConnection,
        )
        await self._server.__aenter__()
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for conn in self.connections:
            conn.stop_pings()
            if conn.black_holed:
                # It would never read the close frame's answer: no handshake to wait for.
                conn.ws.transport.abort()
        self._server.close()
        await self._server.wait_closed()

    def url(self, path: str = "/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def _handler(self, ws: ServerConnection) -> None:
        conn = FakeConn(ws)
        self.connections.append(conn)
        self._new.put_nowait(conn)
        if self.on_connect is not None:
            await self.on_connect(conn)
        try:
            async for message in ws:
                conn._got(message if isinstance(message, str) else message.decode())
        except ConnectionClosed:
            pass
        finally:
            conn.stop_pings()
            conn.closed.set()

    async def next_connection(self) -> FakeConn:
        return await asyncio.wait_for(self._new.get(), WAIT)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeHttpServer:
    """A threaded HTTP server; ``route(method, path)`` returns the Reply (or a default)."""

    def __init__(self, route: Callable[[Seen], Reply]) -> None:
        self.route = route
        self.requests: list[Seen] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                seen = Seen(self.command, self.path, dict(self.headers), body)
                fake.requests.append(seen)
                reply = fake.route(seen)
                payload = (
                    reply.body.encode()
                    if isinstance(reply.body, str)
                    else json.dumps(reply.body).encode()
                )
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FakeHttpServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Consumer:
    """Runs ``source.ticks()`` in a task, collecting every tick, like the feed does."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.ticks: list[Any] = []
        self.batches: list[list[Any]] = []
        self._changed = asyncio.Event()
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for batch in self.source.ticks():
            self.batches.append(list(batch))
            self.ticks.extend(batch)
            self._changed.set()

    async def wait_ticks(self, n: int) -> list[Any]:
        async def until() -> None:
            while len(self.ticks) < n:
                if self.task.done():
                    self.task.result()
                    raise AssertionError(f"source ended after {len(self.ticks)} ticks")
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), WAIT)
        return self.ticks

    async def close(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except (asyncio.CancelledError, StopAsyncIteration):
            pass


async def eventually(check: Callable[[], bool], what: str = "condition") -> None:
    """Wait (bounded) until ``check()`` is true; polls because the state is the source's."""

    async def until() -> None:
        while not check():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(until(), WAIT)
    except TimeoutError:
        raise AssertionError(f"{what} never became true") from None
