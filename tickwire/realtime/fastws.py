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

from tickwire.stream.hub import Outbox, join_batch

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
    """Writes every dirty link once per event-loop iteration."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.dirty: list[DirectLink] = []

    def mark(self, link: DirectLink) -> None:
        if not self.dirty:
            self.loop.call_soon(self.flush)
        self.dirty.append(link)

    def flush(self) -> None:
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

    :meth:`attach` wires an :class:`Outbox` to the socket: frames pushed to the outbox are
    written at the end of the current event-loop iteration, and closing the outbox sends
    the close frame with its code. The link never raises into the hub: a connection that
    is gone simply stops taking frames.
    """

    __slots__ = ("_flusher", "_proto", "_queued", "outbox")

    def __init__(self, proto: DirectWebSocketProtocol) -> None:
        self._proto = proto
        self._flusher = _flusher(proto.loop)
        self._queued = False
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
            self._flusher.mark(self)

    @property
    def writable(self) -> bool:
        proto = self._proto
        return proto.writable.is_set() and not proto.close_sent and not proto.disconnected

    def write_frame(self, frame: bytes) -> bool:
        """Write one complete frame now if the socket takes it; False means "queue it"."""
        if not self.writable:
            return False
        self._proto.transport.write(text_frame(frame))
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
        if outbox.pending and proto.writable.is_set():
            frames = outbox.take()
            if outbox.batch and len(frames) > 1:
                wire = text_frame(join_batch(frames))
            elif len(frames) == 1:
                wire = text_frame(frames[0])
            else:
                wire = b"".join([_header(len(f)) + f for f in frames])
            proto.transport.write(wire)
        if outbox.closed:
            proto.close_now(outbox.close_code, outbox.close_reason)


class DirectWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, offering a :class:`DirectLink` in the scope."""

    link: DirectLink | None = None

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.close_sent:
            self.link = DirectLink(self)
            scope["extensions"][EXTENSION] = self.link

    def resume_writing(self) -> None:
        super().resume_writing()
        link = self.link
        if link is not None and link.outbox is not None and link.outbox.pending:
            link.wake(link.outbox)

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
