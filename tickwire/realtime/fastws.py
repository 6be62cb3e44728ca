"""Direct-write WebSocket front end: uvicorn's protocol, plus a synchronous path for updates.

``python -m tickwire.serve`` runs uvicorn with ``ws="tickwire.realtime.fastws:
DirectWebSocketProtocol"``. Everything about a connection stays uvicorn's and Channels':
the handshake, the ASGI app (origin check, ``AuthMiddlewareStack``, the consumer),
incoming messages, pings, the closing handshake. One thing is added: the ASGI scope gets
``scope["extensions"]["tickwire.direct"]``, a :class:`DirectLink` through which the
consumer's outbox writes its pre-built frames straight to the socket.

Why: through ASGI, every outgoing message costs a task wake-up and a trip through
``await send(...)`` (Channels, uvicorn, the websockets sans-I/O framer) — about 20 µs of
server CPU per delivered update. Here the link hands the transport's ``write`` to the
connection's outbox, and the hub writes each update's WebSocket frame (built once, shared
by every client) straight to every connection that can take it: one call into the
transport per client per update, no task, no queue. A connection writes once per
event-loop pass; frames that arrive for it later in the same pass wait in its outbox and
go out together, in one write, at the start of the next pass (see
:class:`tickwire.stream.hub.Pacer`). Batching clients receive a shared array frame the
same way.

Backpressure: while the transport's write buffer is over its high-water mark
(``pause_writing``), nothing more is written; frames wait in the outbox, where updates
conflate per symbol and the outbox's limits close a client that stays behind
(close code 4001). ``resume_writing`` flushes what waited.

Memory: once it has accepted, the app may *detach* (:meth:`DirectLink.detach`): its ASGI
call returns, freeing the suspended coroutines of every layer of the ASGI stack and the
scope copies they made (about 8 KiB per connection with Channels' middleware), and later
receive events are handed to the app's handler, in order, by a task that exists only while
events wait. An idle connection then runs no task at all.

Where the extension is absent (Channels' ``WebsocketCommunicator``, another ASGI server)
the consumer falls back to its writer task and ``websocket.send``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.protocol import Protocol, State

from tickwire.stream.hub import Outbox, Pacer, batch_frames
from tickwire.stream.protocol import CloseCode
from tickwire.stream.wire import frame_header, text_frame

from .bounds import Bounds, ReadBudget, StallWatch

__all__ = ["EXTENSION", "DirectLink", "DirectWebSocketProtocol", "MessageHandler", "text_frame"]

#: The ASGI scope extension key under which a :class:`DirectLink` is offered.
EXTENSION = "tickwire.direct"

#: The most one connection's flush writes in one event-loop pass (more waits for the next).
WRITE_CHUNK = 64 * 1024

#: What a detached app gives :meth:`DirectLink.detach`: called with each ASGI receive event
#: (``websocket.receive``, ``websocket.disconnect``) in order; returns False once the app
#: is done with the connection (as its ASGI call returning would say).
MessageHandler = Callable[[dict[str, Any]], Awaitable[bool]]

# Why a connection's reading is held (bit flags): its send buffer is full, or it has
# read past its byte rate.
_HOLD_WRITE = 1
_HOLD_RATE = 2


class DirectLink:
    """The synchronous write path of one WebSocket connection, for its outbox.

    :meth:`attach` hands the transport's ``write`` to an :class:`Outbox`
    (:meth:`Outbox.direct`): while the connection can take data and nothing waits, the hub
    writes each update's shared frame straight to it, the first one in each event-loop
    pass; frames that had to wait (a second update in the same pass, a paused socket) are
    written together, in one write, by :meth:`flush` at the start of the next pass.
    Closing the outbox sends the close frame with its code. The link never raises into the
    hub: a connection that is gone simply stops taking frames.
    """

    __slots__ = ("_can_write", "_pacer", "_proto", "_queued", "_write", "outbox")

    def __init__(self, proto: DirectWebSocketProtocol) -> None:
        self._proto = proto
        self._write = proto.transport.write
        self._pacer: Pacer | None = None
        self._queued = False
        self._can_write = True
        self.outbox: Outbox | None = None

    @property
    def can_write(self) -> bool:
        """False while the transport's buffer is over its high-water mark, or once closing."""
        return self._can_write

    @can_write.setter
    def can_write(self, value: bool) -> None:
        self._can_write = value
        if self.outbox is not None:
            self.outbox.set_writable(value)

    def attach(self, outbox: Outbox, pacer: Pacer) -> None:
        """Make this link ``outbox``'s writer (construct the outbox with ``wake=link.wake``);
        ``pacer`` is the hub's, so the hub and this link agree on what a pass is."""
        self.outbox = outbox
        self._pacer = pacer
        outbox.direct(self._write, pacer, writable=self._can_write)
        if outbox.pending or outbox.closed:
            self.wake(outbox)

    def bound(self, bounds: Bounds) -> None:
        """Apply ``bounds`` (send buffer, read rate, receive queue, stalled reader) to
        this connection; see :mod:`tickwire.realtime.bounds`."""
        self._proto.apply_bounds(bounds)

    def detach(self, handler: MessageHandler) -> None:
        """Let the app's ASGI call return while the connection stays open.

        From now on every receive event goes to ``handler``, in order, from a task that
        exists only while events wait (:meth:`DirectWebSocketProtocol.detach`). The app
        calls this after ``websocket.accept``, and must then neither ``receive`` nor
        ``send`` through ASGI again: what it writes goes through the outbox.
        """
        self._proto.detach(handler)

    def wake(self, outbox: Outbox) -> None:
        """Outbox callback: frames became pending or the outbox closed."""
        if not self._queued and self._pacer is not None:
            self._queued = True
            self._pacer.defer(self)

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
        if outbox.pending and self._can_write:
            # At most WRITE_CHUNK bytes per connection per pass: a batching client far
            # behind has many queued arrays, shared by every such client; joined whole into
            # one write they would become a private copy per client in the transport's
            # buffer (gigabytes with a thousand clients). The rest goes next pass, if the
            # socket is still taking data, or when it drains (resume_writing).
            # A closed outbox gets one chunk and its close frame; what is left is dropped
            # (a client closed for being too slow resumes from its last seq).
            frames = outbox.take(WRITE_CHUNK)
            if outbox.pending and not outbox.closed:
                self.wake(outbox)
            if outbox.batch and len(frames) > 1:
                frames = batch_frames(frames)
            if len(frames) == 1:
                wire = text_frame(frames[0])
            else:
                wire = b"".join([frame_header(len(f)) + f for f in frames])
            pacer = self._pacer
            if pacer is not None:
                # This pass's write for this connection; the pass must end for the next
                # update to be written straight through again.
                outbox.gen = pacer.gen
                pacer.touch()
            self._write(wire)
        if outbox.closed:
            self.can_write = False
            proto.close_now(outbox.close_code, outbox.close_reason)

    def drain(self) -> None:
        """The server is going away: write what the outbox still holds, then close with
        1012 (service restart), so the client reconnects at once and resumes elsewhere."""
        outbox = self.outbox
        if outbox is None:
            return
        outbox.close(CloseCode.SERVICE_RESTART, "server restarting")
        self.flush()


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
    and an Event per connection. Once the app has detached (:meth:`DirectLink.detach`),
    ``ready`` is called on every put instead of a waiter being woken."""

    __slots__ = ("_items", "_waiter", "ready")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None
        self.ready: Callable[[], None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        if self.ready is not None:
            self.ready()
            return
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()

    async def get(self) -> Any:
        while not self._items:
            if self._waiter is None or self._waiter.done():
                self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._items.pop(0)


class DirectWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, offering a :class:`DirectLink` in the scope,
    and handing a detached app its receive events."""

    link: DirectLink | None = None
    # The handshake's request and response, once the handshake is over.
    request: Any = None
    response: Any = None
    _close_sent = False
    bounds: Bounds | None = None
    _read_holds = 0
    _budget: ReadBudget | None = None

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

    # -- a detached app ---------------------------------------------------------------------
    # An idle connection held through ASGI is a suspended coroutine per layer of the app
    # (Channels' middleware stack, the router, the consumer's receive loop: fifteen frames)
    # and a copy of the scope per middleware, about 8 KiB in all, kept only to await the
    # next message. A detached app's call returns instead; its messages are handed to it
    # by a task that lives only while some wait.

    _handler: MessageHandler | None = None
    _pump: asyncio.Task[None] | None = None

    def detach(self, handler: MessageHandler) -> None:
        """Deliver receive events to ``handler`` from now on (see :meth:`DirectLink.detach`)."""
        if not self.handshake_complete or self.scope is None:
            raise RuntimeError("detach() is for an accepted connection whose app is running")
        self._handler = handler
        # The app's call returns; nothing reads the handshake's scope (headers, state) again.
        self.scope = None  # type: ignore[assignment]
        # uvicorn's protocol has about forty attributes, more than CPython shares between
        # instances (30), so each instance's dict grew by doubling to 1,584 bytes. Every
        # attribute the connection will ever set is set now, and the dict rebuilt at its
        # final size: 832 bytes (up to 42 attributes; one more doubles it again).
        self._pump = None
        self._close_sent = self._close_sent
        self._read_holds = self._read_holds
        self.bounds = self.bounds
        self._budget = self._budget
        self.__dict__ = dict(self.__dict__)
        self.queue.ready = self._ready  # type: ignore[attr-defined]
        if not self.queue.empty():
            self._ready()

    def _ready(self) -> None:
        if self._pump is None and self._handler is not None:
            task = self._pump = self.loop.create_task(self._run_handler(self._handler))
            task.add_done_callback(self.on_task_complete)
            self.tasks.add(task)

    async def _run_handler(self, handler: MessageHandler) -> None:
        try:
            while not self.queue.empty():
                if not await handler(await self.receive()):
                    break
            else:
                return  # the next event starts another task
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
        finally:
            self._pump = None
        # The app is done with the connection: what uvicorn does when its call returns.
        self._handler = None
        if self.close_timer is None:
            self.transport.close()

    async def run_asgi(self) -> None:
        # uvicorn's, except that an app that detached has returned without being done.
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if self._handler is not None:
                return
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self.close_timer is None:
            self.transport.close()

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
            # (Deleted, not set to None: the class's None stands in, and the instance's
            # dict stays small enough to be rebuilt smaller on detach.)
            del self.request, self.response
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
        if self.bounds is not None:
            self._hold_reading(_HOLD_WRITE)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.bounds is not None:
            self._release_reading(_HOLD_WRITE)
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
        """Server shutdown (SIGTERM), per connection; uvicorn has stopped accepting.

        The link drains (:meth:`DirectLink.drain`: pending frames, then the 1012 close
        frame); uvicorn then closes the transport once its buffer is written, and waits for
        every connection to go, at most ``timeout_graceful_shutdown`` seconds, before the
        process exits. A connection without a link gets uvicorn's own 1012.
        """
        link = self.link
        if link is not None:
            if self.handshake_complete and not self.close_sent and not self.disconnected:
                link.drain()
            link.can_write = False
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.link.can_write = False
        if self.bounds is not None:
            StallWatch.for_loop().discard(self)
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
        if self.read_paused and not self._read_holds:
            self.read_paused = False
            self.transport.resume_reading()
        # abort, not close: a client too slow to read would keep a graceful close waiting
        # behind its full buffer.
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)

    # -- bounds (docs/protocol.md, "Bounds"; tickwire/realtime/bounds.py) ------------------

    def apply_bounds(self, bounds: Bounds) -> None:
        """Bound this connection's send buffer, read rate and receive queue, and watch it
        for a stalled reader."""
        self.bounds = bounds
        self._budget = ReadBudget(bounds.read_rate, bounds.read_burst)
        transport = self.transport
        transport.set_write_buffer_limits(high=bounds.send_buffer)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, bounds.send_buffer)
        StallWatch.for_loop().add(self, bounds.stall_seconds)
        if not self.writable.is_set():
            self._hold_reading(_HOLD_WRITE)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        bounds = self.bounds
        if bounds is None or self.close_sent or self.disconnected:
            return
        if self.queue.qsize() > bounds.receive_queue:
            # One read packed more messages than the consumer may hold: a flood. What
            # was queued is dropped; the consumer sees only the disconnect.
            self.queue.clear()  # type: ignore[attr-defined]
            self.close_now(
                CloseCode.POLICY_VIOLATION,
                f"message flood: more than {bounds.receive_queue} messages at once "
                "(TICKWIRE_RECEIVE_QUEUE_LIMIT)",
            )
            return
        assert self._budget is not None
        pause = self._budget.spend(len(data), time.monotonic())
        if pause > 0 and not self._read_holds & _HOLD_RATE:
            self._hold_reading(_HOLD_RATE)
            self.loop.call_later(pause, self._release_reading, _HOLD_RATE)

    async def receive(self) -> Any:
        # uvicorn's, except that reading stays paused while a bound holds it.
        message = await self.queue.get()
        if self.read_paused and self.queue.empty() and not self._read_holds:
            self.read_paused = False
            self.transport.resume_reading()
        return message

    def _hold_reading(self, hold: int) -> None:
        self._read_holds |= hold
        if not self.read_paused and not self.transport.is_closing():
            self.read_paused = True
            self.transport.pause_reading()

    def _release_reading(self, hold: int) -> None:
        self._read_holds &= ~hold
        if (
            not self._read_holds
            and self.read_paused
            and self.queue.empty()
            and not self.transport.is_closing()
        ):
            self.read_paused = False
            self.transport.resume_reading()

    # StallWatch's view of the connection (bounds.Stallable).
    def write_buffer_size(self) -> int:
        return 0 if self.transport.is_closing() else self.transport.get_write_buffer_size()

    def raw_socket(self) -> Any:
        return None if self.transport.is_closing() else self.transport.get_extra_info("socket")

    def stalled(self, seconds: float) -> None:
        outbox = self.link.outbox if self.link is not None else None
        reason = f"client read nothing for {seconds:g} s (TICKWIRE_SLOW_CLIENT_SECONDS)"
        if outbox is not None:
            outbox.close(CloseCode.SLOW_CONSUMER, reason)
        else:
            self.close_now(CloseCode.SLOW_CONSUMER, reason)
