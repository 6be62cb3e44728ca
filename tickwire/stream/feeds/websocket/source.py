"""The reconnecting JSON WebSocket source every WebSocket preset builds on.

:class:`WebSocketSource` owns the connection: it connects, sends the provider's subscribe
messages (again after every reconnect), decodes each message and hands it to the preset's
:meth:`~WebSocketSource.parse`. It reconnects with exponential backoff and jitter when the
connection fails or drops. Malformed payloads are counted and logged, never fatal. Ticks go
through a bounded buffer to the feed, which takes them in batches of up to ``batch_size``.

Liveness is judged on the connection, not on the data: every frame the server sends counts
(a data message, a provider heartbeat, a WebSocket ping, a pong to one of our pings), and
we ping every ``silence_timeout / 3`` seconds, so a live server always has something to
answer. A connection with no frame at all for ``silence_timeout`` seconds is dead (a
half-open TCP connection) and is reconnected; one that answers pings but carries no data
is a quiet market: it stays open and shows as ``quiet`` in :meth:`~WebSocketSource.status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.protocol import Event

from ...backoff import Backoff
from ..base import Instrument, MalformedMessage, Source, SourceConfigError, Tick
from ..common import SourceStats, SymbolMap, TickBuffer, check_url, redact_url

__all__ = ["FeedSilent", "LivenessConnection", "WebSocketSource"]

log = logging.getLogger("tickwire.feed")


class FeedSilent(Exception):
    """No frame at all (no message, ping or pong) arrived for ``silence_timeout`` seconds:
    the connection is dead."""


class LivenessConnection(ClientConnection):
    """A client connection that notes when the server last sent any frame.

    websockets answers pings and matches pongs inside the connection, so neither ever
    reaches :meth:`recv`; this is where they become visible. ``last_frame`` is on the
    event loop's (monotonic) clock.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_frame = self.loop.time()
        self.pings = 0
        self.pongs = 0

    def process_event(self, event: Event) -> None:
        super().process_event(event)
        if isinstance(event, Frame):
            self.last_frame = self.loop.time()
            if event.opcode is Opcode.PING:
                self.pings += 1
            elif event.opcode is Opcode.PONG:
                self.pongs += 1

    def last_frame_wall(self) -> float:
        """``last_frame`` as a Unix time."""
        return time.time() - (self.loop.time() - self.last_frame)


class WebSocketSource(Source):
    """A JSON-over-WebSocket source that reconnects, resubscribes and watches for silence.

    Subclasses implement :meth:`subscribe_messages` and :meth:`parse`; they may override
    :meth:`connect_url`, :meth:`connect_headers` and :meth:`prepare` (work before each
    connection, such as fetching a token).
    """

    name = "websocket"
    #: Asset kinds the provider carries; other instruments are left out unless mapped.
    kinds: tuple[str, ...] | None = None
    default_url = ""

    def __init__(
        self,
        instruments: Sequence[Instrument],
        *,
        url: str | None = None,
        api_key: str | None = None,
        symbol_map: Mapping[str, str] | None = None,
        batch_size: int = 50,
        silence_timeout: float = 30.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        open_timeout: float = 10.0,
        max_message_bytes: int = 4 * 1024 * 1024,
        rng: random.Random | None = None,
    ) -> None:
        if batch_size < 1:
            raise SourceConfigError("batch_size must be at least 1")
        if not silence_timeout > 0:
            raise SourceConfigError("silence_timeout must be a positive number of seconds")
        self.url = check_url(url or self.default_url, ("ws", "wss"))
        self.api_key = api_key or None
        self.batch_size = batch_size
        self.silence_timeout = silence_timeout
        self.open_timeout = open_timeout
        self.max_message_bytes = max_message_bytes
        mapping = dict(symbol_map or {})
        chosen = [
            i.symbol
            for i in instruments
            if i.symbol in mapping or self.kinds is None or i.kind in self.kinds
        ]
        self.symbols = SymbolMap(chosen, mapping, self.default_symbol)
        self.stats = SourceStats()
        # Equal jitter: spread out, yet never much sooner than the provider can take.
        self.backoff = Backoff(backoff_initial, backoff_max, jitter=0.5).retries(rng)
        # Our keepalive pings: often enough that a live server answers at least twice
        # within silence_timeout, whatever the market does.
        self.ping_interval = silence_timeout / 3
        self.latest: dict[str, Tick] = {}
        #: Unix time each symbol's last tick arrived: what a router compares sources by.
        self.last_tick_by_symbol: dict[str, float] = {}
        self.last_data_at: float | None = None
        self.ignored = 0
        self._buffer = TickBuffer()
        self._ws: LivenessConnection | None = None
        self._last_alive_at: float | None = None
        self._pings = 0
        self._pongs = 0

    # -- hooks for presets ----------------------------------------------------------------

    def default_symbol(self, symbol: str) -> str:
        """The provider's symbol for a Tickwire symbol that ``symbol_map`` does not name."""
        return symbol

    def connect_url(self) -> str:
        return self.url

    def connect_headers(self) -> dict[str, str]:
        return {}

    async def prepare(self) -> None:
        """Work before each connection attempt (e.g. a token). Errors count as a failed
        attempt and are retried with backoff."""

    def subscribe_messages(self) -> list[Any]:
        """The JSON messages to send after connecting (and after every reconnect)."""
        return []

    def parse(self, message: Any, received_at: float) -> list[Tick]:
        """Ticks from one decoded message; ``[]`` for acks and heartbeats.

        Raise MalformedMessage for a payload that should have been data but is not; call
        :meth:`bad_item` for one bad element of an otherwise good message.
        """
        raise NotImplementedError

    # -- helpers for presets --------------------------------------------------------------

    def tick(
        self, provider_symbol: str, price: float, volume: float, ts: float | None, received: float
    ) -> Tick | None:
        """A Tick for a provider symbol, or None (counted as ignored) if it is not ours."""
        symbol = self.symbols.tickwire(provider_symbol)
        if symbol is None:
            self.ignored += 1
            return None
        return Tick(symbol, price, volume, ts if ts is not None else received)

    def bad_item(self, reason: str, item: object) -> None:
        self.stats.bad_payload(self.name, reason, item)

    def provider_error(self, text: str) -> None:
        """The provider reported an error in-band (bad key, unknown symbol...)."""
        self.stats.provider_errors += 1
        self.stats.last_error = f"provider: {text}"
        self.stats.last_error_at = time.time()
        log.warning("%s: provider error: %s", self.name, text)

    # -- running --------------------------------------------------------------------------

    async def ticks(self) -> AsyncIterator[list[Tick]]:
        if not len(self.symbols):
            log.warning("%s: no instruments of kinds %s to subscribe", self.name, self.kinds)
        runner = asyncio.ensure_future(self._connection_loop())
        try:
            while True:
                yield await self._buffer.get(self.batch_size)
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    async def _connection_loop(self) -> None:
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except FeedSilent as exc:
                self.stats.silent_reconnects += 1
                self.stats.error(str(exc))
                log.warning("%s: %s; reconnecting", self.name, exc)
            except Exception as exc:
                self.stats.error(_describe(exc))
                log.warning("%s: connection failed: %s", self.name, _describe(exc))
            finally:
                self.stats.connected = False
            delay = self.backoff.next_delay()
            self.stats.reconnects += 1
            log.info(
                "%s: reconnecting in %.2fs (attempt %d)", self.name, delay, self.backoff.attempt
            )
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        await self.prepare()
        async with connect(
            self.connect_url(),
            additional_headers=self.connect_headers() or None,
            open_timeout=self.open_timeout,
            max_size=self.max_message_bytes,
            compression=None,
            create_connection=LivenessConnection,
            ping_interval=self.ping_interval,
            # The watchdog below judges the pongs, so that a dead connection is told
            # apart (and counted) from one the server closed.
            ping_timeout=None,
            # A peer that does not answer our close within silence_timeout is as dead
            # as one that answers nothing else: do not hold up a stop or a reconnect.
            close_timeout=min(self.silence_timeout, 10.0),
        ) as ws:
            assert isinstance(ws, LivenessConnection)
            self._ws = ws
            self.stats.connected = True
            self.stats.connected_at = time.time()
            log.info("%s: connected to %s", self.name, redact_url(self.connect_url()))
            try:
                for message in self.subscribe_messages():
                    await ws.send(orjson.dumps(message).decode())
                await self._receive(ws)
            finally:
                self._pings += ws.pings
                self._pongs += ws.pongs
                self._last_alive_at = ws.last_frame_wall()
                self._ws = None

    async def _receive(self, ws: LivenessConnection) -> None:
        """Hand each message to :meth:`handle_raw` until the connection closes or dies."""
        loop = asyncio.get_running_loop()
        opened = loop.time()
        proven = rechecked = False
        while True:
            now = loop.time()
            # The handshake's time is open_timeout's business, not the watchdog's.
            remaining = max(ws.last_frame, opened) + self.silence_timeout - now
            if remaining <= 0 and not rechecked:
                # If this process rather than the peer was stalled, the answer may be
                # waiting in the socket: let the loop read it before judging.
                rechecked = True
                await asyncio.sleep(self.silence_timeout / 10)
                continue
            if remaining <= 0:
                # No close handshake with a peer that no longer answers: it would only
                # hold up the reconnect for close_timeout.
                ws.transport.abort()
                raise FeedSilent(
                    f"no message, ping or pong for {self.silence_timeout:g}s: connection dead"
                )
            if not proven and now - opened >= self.silence_timeout:
                # Alive for a whole silence_timeout, data or not: the next failure is
                # a new one and starts over from the shortest delay.
                proven = True
                self.backoff.reset()
            rechecked = False
            try:
                raw = await asyncio.wait_for(ws.recv(), remaining)
            except TimeoutError:
                continue  # a ping or pong may have come meanwhile; the top decides
            self.handle_raw(raw)

    def handle_raw(self, raw: str | bytes) -> list[Tick]:
        """Decode and parse one message; queue its ticks for the feed. Never raises."""
        received = time.time()
        self.stats.messages += 1
        self.stats.last_message_at = received
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self.stats.bad_payload(self.name, f"invalid JSON: {exc}", raw)
            return []
        try:
            ticks = self.parse(message, received)
        except MalformedMessage as exc:
            self.stats.bad_payload(self.name, str(exc), message)
            return []
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            # A shape the preset did not expect: still the provider's fault, not ours.
            self.stats.bad_payload(self.name, f"{type(exc).__name__}: {exc}", message)
            return []
        if ticks:
            self.stats.ticks += len(ticks)
            self.last_data_at = received
            for t in ticks:
                self.latest[t.symbol] = t
                self.last_tick_by_symbol[t.symbol] = received
            self._buffer.put(ticks)
            # Data flows again: the next failure starts over from the shortest delay.
            self.backoff.reset()
        return ticks

    def liveness(self, now: float | None = None) -> dict[str, object]:
        """The connection's state as :meth:`status` reports it (docs/sources.md).

        ``state`` is ``down`` (not connected: connecting or waiting to reconnect),
        ``live`` (data within ``silence_timeout``) or ``quiet`` (connected and answering,
        but no data for ``silence_timeout``: a closed market); ``quiet_since`` is when
        the data stopped, while quiet.
        """
        now = time.time() if now is None else now
        ws = self._ws
        alive_at = ws.last_frame_wall() if ws is not None else self._last_alive_at
        state, quiet_since = "down", None
        if ws is not None and self.stats.connected:
            since = max(self.last_data_at or 0.0, self.stats.connected_at or 0.0)
            if now - since >= self.silence_timeout:
                state, quiet_since = "quiet", since
            else:
                state = "live"
        return {
            "state": state,
            "quiet_since": quiet_since,
            "last_data_at": self.last_data_at,
            "last_alive_at": alive_at,
            "pings_received": self._pings + (ws.pings if ws is not None else 0),
            "pongs_received": self._pongs + (ws.pongs if ws is not None else 0),
        }

    def status(self) -> dict[str, object]:
        return {
            "source": self.name,
            "url": redact_url(self.connect_url()),
            "symbols": len(self.symbols),
            **self.stats.as_dict(),
            **self.liveness(),
            "last_tick_by_symbol": dict(self.last_tick_by_symbol),
            "ignored": self.ignored,
            "buffered": len(self._buffer),
            "dropped": self._buffer.dropped,
            "silence_timeout": self.silence_timeout,
            "ping_interval": self.ping_interval,
        }


def _describe(exc: BaseException) -> str:
    if isinstance(exc, InvalidStatus):
        return f"server answered HTTP {exc.response.status_code}"
    if isinstance(exc, ConnectionClosed):
        rcvd = exc.rcvd
        if rcvd is None:
            return "connection dropped without a close frame"
        return f"server closed the connection ({rcvd.code} {rcvd.reason})".strip()
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
