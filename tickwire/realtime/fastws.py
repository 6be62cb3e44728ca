"""Direct-write WebSocket front end: uvicorn's protocol, plus a synchronous path for updates.

``python -m tickwire.serve`` runs uvicorn with ``ws="tickwire.realtime.fastws:
DirectWebSocketProtocol"``. Everything about a connection stays uvicorn's and Channels':
the handshake, the ASGI app (origin check, ``AuthMiddlewareStack``, the consumer),
incoming messages, pings, the closing handshake. One thing is added: the ASGI scope gets
``scope["extensions"]["tickwire.direct"]``, a :class:`DirectLink` through which the
consumer's outbox writes its pre-built frames straight to the socket.

Why: through ASGI, every outgoing message costs a task wake-up and a trip through
``await send(...)`` (Channels, uvicorn, the websockets sans-I/O framer) — about 20 µs of
server CPU per delivered update. Here a fan-out pushes the same bytes object into every
subscriber's outbox; each outbox that becomes non-empty marks its link dirty, and one
callback per event-loop iteration writes every dirty link's frames with one
``transport.write`` each (all updates that arrived in that iteration coalesced). The text
frame header is built once per frame, not once per client, and batching clients receive
a shared array frame written synchronously (:meth:`tickwire.stream.hub.Outbox.push_batch`).

Backpressure: while the transport's write buffer is over its high-water mark
(``pause_writing``), nothing more is written; frames wait in the outbox, where updates
conflate per symbol and the outbox's limits close a client that stays behind
(close code 4001). ``resume_writing`` flushes what waited.

Where the extension is absent (Channels' ``WebsocketCommunicator``, another ASGI server)
the consumer falls back to its writer task and ``websocket.send``.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.protocol import Protocol, State

from tickwire.stream.hub import Outbox, batch_frames

__all__ = ["EXTENSION", "DirectLink", "DirectWebSocketProtocol", "text_frame"]

#: The ASGI scope extension key under which a :class:`DirectLink` is offered.
EXTENSION = "tickwire.direct"

_headers: dict[int, bytes] = {}
# The last frame made wire-ready: a fan-out writes the same bytes object to every
# subscriber, so its header is prepended once, not once per client.
_last: tuple[bytes, bytes] = (b"", b"")


def _header(length: int) -> bytes:
    header = _headers.get(length)
    if header is None:
        if length < 126:
            header = bytes((0x81, length))
        elif length < 65536:
            header = struct.pack("!BBH", 0x81, 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 127, length)
        if len(_headers) < 8192:
            _headers[length] = header
    return header


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final WebSocket text frame carrying ``payload`` (UTF-8 JSON)."""
    global _last
    last = _last
    if payload is last[0]:
        return last[1]
    wire = _header(len(payload)) + payload
    _last = (payload, wire)
    return wire


class _Flusher:
    """Per event loop: which links wrote this iteration, and which have frames waiting.

    A link writes the first frame of an iteration straight through (the common case: one
    update, fanned out); later frames in the same iteration queue in the outbox and go out
    together, once, when the callback scheduled here runs at the start of the next one.
    """

    __slots__ = ("dirty", "gen", "loop", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.gen = 0
        self.scheduled = False
        self.dirty: list[DirectLink] = []

    def schedule(self) -> None:
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        self.gen += 1
        dirty, self.dirty = self.dirty, []
        for link in dirty:
            link.flush()


_flushers: dict[asyncio.AbstractEventLoop, _Flusher] = {}


def _flusher(loop: asyncio.AbstractEventLoop) -> _Flusher:
    flusher = _flushers.get(loop)
    if flusher is None:
        for old in [lp for lp in _flushers if lp.is_closed()]:
            del _flushers[old]
        flusher = _flushers[loop] = _Flusher(loop)
    return flusher


class DirectLink:
    """The synchronous write path of one WebSocket connection, for its outbox.

    :meth:`attach` wires an :class:`Outbox` to the socket: a frame pushed to an empty
    outbox is written at once (the first in this event-loop iteration) or at the start of
    the next iteration together with everything else pushed meanwhile; closing the outbox
    sends the close frame with its code. The link never raises into the hub: a connection
    that is gone simply stops taking frames.
    """

    __slots__ = ("_flusher", "_gen", "_proto", "_queued", "_write", "can_write", "outbox")

    def __init__(self, proto: DirectWebSocketProtocol) -> None:
        self._proto = proto
        self._write = proto.transport.write
        self._flusher = _flusher(proto.loop)
        self._gen = -1
        self._queued = False
        #: False while the transport's buffer is over its high-water mark, or once closing.
        self.can_write = True
        self.outbox: Outbox | None = None

    def attach(self, outbox: Outbox) -> None:
        """Make this link ``outbox``'s writer (construct the outbox with ``wake=link.wake``)."""
        self.outbox = outbox
        outbox.sink = self.write_frame
        if outbox.pending or outbox.closed:
            self.wake(outbox)

    def wake(self, outbox: Outbox) -> None:
        """Outbox callback: frames became pending or the outbox closed."""
        if not self._queued:
            self._queued = True
            flusher = self._flusher
            flusher.dirty.append(self)
            flusher.schedule()

    def write_frame(self, frame: bytes) -> bool:
        """Outbox sink: write ``frame`` now, or return False to have the outbox queue it
        (the socket is paused or closing, or this link already wrote this iteration and
        further frames are coalesced into one write)."""
        if not self.can_write:
            return False
        flusher = self._flusher
        gen = flusher.gen
        if self._gen == gen:
            return False
        self._gen = gen
        # Inlined schedule() and text_frame()'s cache hit: this runs once per client per
        # update, where a Python call is a measurable share of the cost (BENCHMARKS.md).
        if not flusher.scheduled:
            flusher.scheduled = True
            flusher.loop.call_soon(flusher.flush)
        last = _last
        self._write(last[1] if frame is last[0] else text_frame(frame))
        return True

    def flush(self) -> None:
        """Write the outbox's pending frames, then the close frame if it is closed."""
        self._queued = False
        outbox = self.outbox
        if outbox is None:
            return
        proto = self._proto
        if proto.close_sent or proto.disconnected:
            outbox.take()  # the socket is gone or closing: nothing more can be sent
            return
        if outbox.pending and self.can_write:
            frames = outbox.take()
            if outbox.batch and len(frames) > 1:
                frames = batch_frames(frames)
            if len(frames) == 1:
                wire = text_frame(frames[0])
            else:
                wire = b"".join([_header(len(f)) + f for f in frames])
            self._gen = self._flusher.gen
            self._write(wire)
        if outbox.closed:
            self.can_write = False
            proto.close_now(outbox.close_code, outbox.close_reason)


class _Signal:
    """The part of :class:`asyncio.Event` uvicorn uses (``writable``), without the deque
    every Event allocates: with thousands of idle connections that is memory held for
    nothing (only a paused writer ever waits)."""

    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = True
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        while not self._set:
            if self._waiter is None:
                self._waiter = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._waiter)


class _Inbox:
    """The part of :class:`asyncio.Queue` uvicorn uses for ASGI receive events (one
    consumer: the app's ``receive``), in a list and one future instead of three deques
    and an Event per connection."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        while not self._items:
            if self._waiter is None or self._waiter.done():
                self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._items.pop(0)


class DirectWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, offering a :class:`DirectLink` in the scope."""

    link: DirectLink | None = None
    _close_sent = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Signal()  # type: ignore[assignment]

    # uvicorn sets close_sent on every path that sends a close frame (the app's
    # websocket.close, keepalive timeout, protocol errors): after it no data frame may
    # follow, so the link stops writing at that moment.
    @property
    def close_sent(self) -> bool:
        return self._close_sent

    @close_sent.setter
    def close_sent(self, value: bool) -> None:
        self._close_sent = value
        if value and self.link is not None:
            self.link.can_write = False

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.close_sent:
            self.link = DirectLink(self)
            scope["extensions"][EXTENSION] = self.link

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The handshake's request and response (~2 KiB of headers) are never read
            # again; the scope keeps the request headers the app needs.
            self.request = self.response = None  # type: ignore[assignment]
            conn = self.conn
            if conn.state is State.OPEN and not conn.reader.buffer:
                # websockets' handshake parser keeps the parsed request alive in its
                # generator frame (~1.6 KiB per connection) for the connection's lifetime.
                # With nothing buffered, the frame parser it is waiting in holds no state,
                # so an identical fresh one replaces it.
                parser = Protocol.parse(conn)
                next(parser)
                conn.parser = parser

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.link is not None:
            self.link.can_write = False

    def resume_writing(self) -> None:
        super().resume_writing()
        link = self.link
        if link is not None and not self.close_sent and not self.disconnected:
            link.can_write = True
            if link.outbox is not None and link.outbox.pending:
                link.wake(link.outbox)

    def handle_close(self, event: Any) -> None:
        # The peer closed first: uvicorn answers and closes the transport without setting
        # close_sent, and no data frame may follow its close frame.
        if self.link is not None:
            self.link.can_write = False
        super().handle_close(event)

    def shutdown(self) -> None:
        # Server shutdown: uvicorn sends 1012 and closes the transport.
        if self.link is not None:
            self.link.can_write = False
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.link.can_write = False
        super().connection_lost(exc)

    def close_now(self, code: int, reason: str) -> None:
        """Start the closing handshake with ``code`` (what ``websocket.close`` does, at once).

        The app receives ``websocket.disconnect``; the transport is aborted if the peer
        has not completed the handshake within the close timeout.
        """
        if self.close_sent or self.disconnected or self.transport.is_closing():
            return
        reason = reason.encode()[:120].decode(errors="ignore")
        try:
            self.conn.send_close(code, reason)
        except InvalidState:
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        # abort, not close: a client too slow to read would keep a graceful close waiting
        # behind its full buffer.
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)
