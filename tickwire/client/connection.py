"""The asyncio client: connect, subscribe, consume; reconnect and resume on its own.

One :class:`Client` keeps one WebSocket connection to a Tickwire server (or, with
:class:`~tickwire.client.raw.RawFeed`, to any JSON feed). A background task owns the
socket: it reads frames, hands them to the client's sans-I/O session
(:class:`~tickwire.client.session.Session`, or :class:`~tickwire.client.raw.RawSession`),
sends what the session asks for, and puts the session's events into a bounded buffer that
the caller consumes — by iterating the client, or with :meth:`Client.run` and callbacks
registered with :meth:`Client.on`. This module does the I/O only: connecting,
reconnecting with backoff, heartbeats, reading and writing; what is subscribed, which
``seq`` each stream stands at and what a frame means are the session's.

When the connection drops the task reconnects with exponential backoff and jitter,
subscribes again to everything the caller asked for, and asks the server to resume each
symbol from the last ``seq`` seen; see :mod:`tickwire.client.session` for what is a gap
and what is conflation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from tickwire.stream.messages import Connected, StreamPosition
from tickwire.stream.protocol import (
    CloseCode,
    Ping,
    Request,
    encode_request,
)

from .backoff import Backoff
from .buffer import EventBuffer
from .closes import closed, describe, reconnect_at_once, refused
from .consumer import Consumer
from .events import (
    ConnectionFailed,
    ConnectionState,
    ConnectionStatus,
    Event,
    TickwireError,
)
from .handshake import handshake
from .raw import RawFeed, RawSession
from .sansio import BaseSession, Outgoing
from .session import Session
from .waiting import Waiters

__all__ = ["Client"]

log = logging.getLogger("tickwire.client")

E = TypeVar("E")


class _Fatal(Exception):
    def __init__(self, error: TickwireError) -> None:
        self.error = error


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(
            f"{url!r} is not a WebSocket URL; expected ws://host:port/path or wss://..."
        )
    return url


class Client:
    """An asyncio client for a Tickwire server (or any JSON WebSocket feed, see ``raw``).

    ``url`` is the WebSocket endpoint, e.g. ``ws://127.0.0.1:8000/ws/realtime/``. ``token``
    authenticates the connection (sent as ``Authorization: Token <token>`` and, if the
    server did not accept the header, with an ``authenticate`` message). ``heartbeat`` is
    the interval in seconds at which the client sends ``ping`` — it keeps the connection
    from being closed as idle (``WEBSOCKET_TIMEOUT``) and detects a dead server: with
    nothing received for ``heartbeat_timeout`` seconds the connection is dropped and
    re-established. ``batch`` asks the server to send several updates per frame, which is
    faster under load. ``max_buffer`` bounds the events waiting for the consumer.

    Raises ``ValueError`` for a URL that is not ``ws://`` or ``wss://``.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        backoff: Backoff | None = None,
        heartbeat: float = 15.0,
        heartbeat_timeout: float | None = None,
        batch: bool = False,
        open_timeout: float = 10.0,
        request_timeout: float = 10.0,
        max_buffer: int = 10_000,
        raw: RawFeed | None = None,
    ) -> None:
        self.url = _check_url(url)
        if heartbeat <= 0:
            raise ValueError("heartbeat must be positive")
        self.token = token
        self.backoff = backoff or Backoff()
        self.heartbeat = heartbeat
        self.heartbeat_timeout = heartbeat_timeout or max(3 * heartbeat, 10.0)
        self.batch = batch
        self.open_timeout = open_timeout
        self.request_timeout = request_timeout
        self.raw = raw
        #: Connection state: connecting, connected, disconnected (retrying) or closed.
        self.state: ConnectionState = "closed"
        #: The server's ``connection`` message of the current session.
        self.connection: Connected | None = None
        #: Connections established after the first one.
        self.reconnects = 0
        self._session: BaseSession = Session() if raw is None else RawSession(raw)
        self._waiting = Waiters(self._session)
        self._consumer = Consumer(max_buffer)
        self._buffer: EventBuffer[Event] | None = None
        self._ws: ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self._fatal: TickwireError | None = None
        self._closing = False
        self._last_frame = 0.0
        self._retry: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the connection; returns once the first session is established.

        Retries per :attr:`backoff` while the server cannot be reached. Raises
        :class:`ConnectionFailed` when the retries are exhausted or the server refuses for
        good, :class:`AuthenticationError` when the token is refused.
        """
        if self._runner is not None:
            raise RuntimeError("Client.connect() was already called")
        self._buffer = self._consumer.open()
        self._waiting.start()
        self._first = asyncio.get_running_loop().create_future()
        self._runner = asyncio.create_task(self._run_sessions(), name="tickwire-client")
        try:
            await asyncio.shield(self._first)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the connection (code 1000) and stop reconnecting. Idempotent.

        Consumers still iterating the client stop; events not yet consumed are dropped.
        """
        self._closing = True
        if self._buffer is not None:
            self._buffer.end(discard=True)
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(CloseCode.NORMAL, "client closed"), 3)
        runner = self._runner
        if runner is not None and not runner.done():
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        self.state = "closed"
        await self._waiting.notify()

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- subscriptions ----------------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols subscribed (kept across reconnects)."""
        return self._session.symbols

    @property
    def portfolios(self) -> tuple[int, ...]:
        """The portfolio ids subscribed (kept across reconnects)."""
        return self._session.portfolios

    @property
    def conflated(self) -> int:
        """Updates the server conflated (seq skipped within a live connection)."""
        return self._session.conflated

    @property
    def duplicates(self) -> int:
        """Updates received twice (seq not after the last one) and dropped."""
        return self._session.duplicates

    @property
    def malformed(self) -> int:
        """Frames or messages that could not be parsed (logged and skipped)."""
        return self._session.malformed

    @property
    def gaps(self) -> int:
        """Gaps reported (symbols whose missed updates could not be recovered)."""
        return self._session.gaps

    @property
    def recovered(self) -> int:
        """Streams resumed after a reconnect with every missed update replayed."""
        return self._session.recovered

    def position(self, symbol: str) -> StreamPosition | None:
        """The last ``seq`` (and its epoch) delivered for ``symbol``, or None."""
        return self._session.position(symbol)

    async def subscribe(self, *symbols: str) -> dict[str, StreamPosition]:
        """Subscribe to asset updates of ``symbols``; return each one's stream position.

        The subscription is kept and restored after every reconnect. Raises
        ``ValueError`` for a malformed symbol, :class:`RequestError` when the server
        refuses some (``unknown_symbol``, ``subscription_limit``; the others stay
        subscribed), ``TimeoutError`` when the server does not confirm in
        ``request_timeout`` seconds (the subscription stays registered).
        """
        wanted = self._session.normalize(symbols)
        self._session.want_symbols(wanted)
        await self._send_subscriptions()
        await self._wait_for(wanted)
        return self._session.subscribe_result(wanted)

    async def unsubscribe(self, *symbols: str) -> None:
        """Stop the updates of ``symbols``. Raises ``ValueError`` for a malformed symbol."""
        gone = self._session.drop_symbols(self._session.normalize(symbols))
        if gone and self._ws is not None and self.state == "connected":
            await self._request(self._session.unsubscribe(gone))

    async def subscribe_portfolio(self, portfolio_id: int) -> None:
        """Subscribe to ``portfolio_update`` messages of a portfolio (kept across reconnects).

        Raises :class:`RequestError` (``authentication_required`` without a token,
        ``portfolio_not_found`` for a portfolio that is not yours) and ``TimeoutError``.
        """
        if isinstance(portfolio_id, bool) or not isinstance(portfolio_id, int):
            raise ValueError("portfolio_id must be an integer")
        self._session.want_portfolio(portfolio_id)
        await self._send_subscriptions()
        await self._wait_for([portfolio_id])
        self._session.portfolio_result(portfolio_id)

    async def unsubscribe_portfolio(self, portfolio_id: int) -> None:
        """Stop the updates of a portfolio."""
        outgoing = self._session.drop_portfolio(portfolio_id)
        if outgoing and self._ws is not None and self.state == "connected":
            await self._request(outgoing)

    # -- consuming --------------------------------------------------------------------------

    def on(self, kind: type[E], callback: Callable[[E], object]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event that is an instance of ``kind``
        (e.g. ``AssetUpdate``, ``Gap``, ``ConnectionStatus``); it may be a coroutine
        function. Callbacks run as the events are consumed (iteration or :meth:`run`);
        an exception in one is logged and does not stop the stream. Returns a function
        that removes the callback.
        """
        return self._consumer.on(kind, callback)

    def __aiter__(self) -> AsyncIterator[Event]:
        """Yield events in order until the client is closed.

        Events are :class:`AssetUpdate`, :class:`PortfolioUpdate`, :class:`AlertFired`,
        :class:`Resync`, :class:`Gap`, :class:`ConnectionStatus`, and other server
        messages (unsolicited errors, types this client does not know). Raises the fatal
        error that ended the connection (:class:`ConnectionFailed`,
        :class:`AuthenticationError`) after the events before it. Only one consumer at a
        time.
        """
        return self._consumer.events()

    async def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event (callbacks run for it), or None once the client is closed.

        Raises ``TimeoutError`` when none arrives in ``timeout`` seconds, and the fatal
        error that ended the connection, if any.
        """
        return await self._consumer.next_event(timeout)

    async def run(self) -> None:
        """Consume events, calling the callbacks, until the client is closed.

        Raises the fatal error that ended the connection, if any.
        """
        async for _ in self:
            pass

    # -- the connection task ----------------------------------------------------------------

    async def _run_sessions(self) -> None:
        attempt = 0
        # A drained server (1012) gets one immediate retry per stable session: a server
        # that closed every new connection with 1012 would otherwise be hammered.
        immediate_left = True
        assert self._first is not None and self._buffer is not None
        try:
            while not self._closing:
                await self._set_state(ConnectionStatus("connecting", self.url, attempt=attempt))
                reason, code, lived = await self._one_session(attempt)
                if self._closing:
                    break
                if lived >= self.backoff.stable_after:
                    attempt = 0
                    immediate_left = True
                if lived > 0 and immediate_left and reconnect_at_once(code):
                    immediate_left = False
                    await self._set_state(
                        ConnectionStatus(
                            "disconnected",
                            self.url,
                            reason=reason,
                            close_code=code,
                            attempt=attempt,
                            retry_in=0.0,
                        )
                    )
                    continue
                attempt += 1
                if self.backoff.exhausted(attempt):
                    raise _Fatal(
                        ConnectionFailed(
                            f"cannot connect to {self.url}: {reason} (gave up after "
                            f"{attempt} attempt{'s' if attempt != 1 else ''})"
                        )
                    )
                delay = self.backoff.delay(attempt)
                await self._set_state(
                    ConnectionStatus(
                        "disconnected",
                        self.url,
                        reason=reason,
                        close_code=code,
                        attempt=attempt,
                        retry_in=delay,
                    )
                )
                await asyncio.sleep(delay)
        except _Fatal as fatal:
            self._fatal = fatal.error
            log.error("tickwire client stopped: %s", fatal.error)
            await self._set_state(
                ConnectionStatus("closed", self.url, reason=str(fatal.error)), queue=True
            )
            if not self._first.done():
                self._first.set_exception(fatal.error)
            self._buffer.end(fatal.error)
            await self._waiting.notify()
        finally:
            self._ws = None
            if not self._first.done():
                self._first.set_exception(ConnectionFailed("client closed before connecting"))
            self._buffer.end()

    async def _one_session(self, attempt: int) -> tuple[str, int | None, float]:
        """Connect, set up, read until the connection ends.

        Returns why it ended, the close code, and how long the session was established.
        """
        headers = {"Authorization": f"Token {self.token}"} if self.token else None
        try:
            ws = await connect(
                self.url,
                additional_headers=headers,
                open_timeout=self.open_timeout,
                # Our own ``ping`` messages keep the session alive (the server's idle
                # timeout only sees messages); a frame-level ping would be answered by a
                # reader we may be pausing on purpose when the consumer is behind.
                ping_interval=None if self._session.handshake else 20.0,
                close_timeout=2.0,
                max_size=2**24,
                max_queue=64,
                user_agent_header="tickwire-client",
            )
        except InvalidStatus as exc:
            response = exc.response
            outcome = refused(
                self.url, response.status_code, response.reason_phrase, token=bool(self.token)
            )
            if isinstance(outcome, TickwireError):
                raise _Fatal(outcome) from None
            return outcome, None, 0.0
        except InvalidURI as exc:
            raise _Fatal(ConnectionFailed(f"invalid URL {self.url}: {exc}")) from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            return describe(exc), None, 0.0
        self._ws = ws
        established: float | None = None
        self._last_frame = time.monotonic()
        heart: asyncio.Task[None] | None = None
        try:
            if self._session.handshake:
                try:
                    self.connection = await handshake(
                        ws,
                        self._session,
                        url=self.url,
                        token=self.token,
                        batch=self.batch,
                        open_timeout=self.open_timeout,
                        request_timeout=self.request_timeout,
                    )
                except TickwireError as exc:
                    raise _Fatal(exc) from None
            first = not self._first.done() if self._first else False
            if not first:
                self.reconnects += 1
            self._session.connected()
            await self._set_state(ConnectionStatus("connected", self.url, attempt=attempt))
            established = time.monotonic()
            await self._send_subscriptions()
            if self._first is not None and not self._first.done():
                self._first.set_result(None)
            if self._session.handshake:
                heart = asyncio.create_task(self._heartbeat(ws))
            await self._read(ws)
            return "the server closed the connection", None, _since(established)
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            if self._closing:
                return "closed", code, _since(established)
            outcome = closed(code, exc.rcvd.reason if exc.rcvd is not None else "")
            if isinstance(outcome, TickwireError):
                raise _Fatal(outcome) from None
            reason = outcome
            return reason, code, _since(established)
        except (OSError, TimeoutError, WebSocketException) as exc:
            return describe(exc), None, _since(established)
        finally:
            if heart is not None:
                heart.cancel()
            if self._retry is not None:
                # The next connection asks for everything anyway.
                self._retry.cancel()
                self._retry = None
            self._ws = None
            self._session.disconnected()
            self._waiting.answer(self._session.answers())
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)

    async def _read(self, ws: ClientConnection) -> None:
        buffer = self._buffer
        assert buffer is not None
        session = self._session
        async for frame in ws:
            self._last_frame = time.monotonic()
            for message in session.parse(frame):
                version = session.version
                # One message at a time: while ``put`` waits for the consumer, an
                # unsubscribe can still drop the messages after it.
                for event in session.receive(message):
                    await buffer.put(event)
                self._waiting.answer(session.answers())
                if session.version != version:
                    await self._waiting.notify()
                if session.retry_due and self._retry is None:
                    self._retry = asyncio.create_task(self._resubscribe_later())

    async def _resubscribe_later(self) -> None:
        """Ask again, after a backoff delay, for subscriptions the server failed to make
        (``internal_error``: a node overloaded by a reconnect storm, say)."""
        try:
            await asyncio.sleep(self.backoff.delay(1))
        finally:
            self._retry = None
        await self._send_subscriptions()

    async def _heartbeat(self, ws: ClientConnection) -> None:
        buffer = self._buffer
        while True:
            await asyncio.sleep(self.heartbeat)
            silent = time.monotonic() - self._last_frame
            if silent > self.heartbeat_timeout and not (buffer is not None and buffer.blocked):
                log.warning("no message from the server for %.0f s; reconnecting", silent)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(CloseCode.GOING_AWAY, "heartbeat lost"), 2)
                ws.transport.abort()
                return
            with contextlib.suppress(ConnectionClosed):
                await self._send(Ping(None))

    # -- sending ----------------------------------------------------------------------------

    async def _send(self, request: Request) -> None:
        await self._send_text(encode_request(request).decode())

    async def _send_text(self, text: str) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionClosed(None, None)
        await ws.send(text)

    async def _request(self, outgoing: list[Outgoing]) -> None:
        """Send ``outgoing`` and wait for its answer. Raises the server's refusal
        (:class:`RequestError`); a connection lost meanwhile is not an error: the next
        connection starts from the caller's current wishes."""
        with contextlib.suppress(ConnectionClosed, ConnectionFailed):
            await self._waiting.request(self._send_text, outgoing, self.request_timeout)

    async def _send_subscriptions(self) -> None:
        """Send what the session needs to subscribe everything wanted on this connection."""
        if self._ws is None or self.state != "connected":
            return
        outgoing = self._session.subscriptions()
        try:
            for o in outgoing:
                await self._send_text(o.text)
        except ConnectionClosed:
            pass  # the reader sees the close and reconnects; the next connection resends
        if outgoing:
            await self._waiting.notify()

    async def _wait_for(self, keys: list[str] | list[int]) -> None:
        await self._waiting.settle(
            keys, lambda: self._fatal is not None or self._closing, self.request_timeout
        )
        if self._fatal is not None:
            raise self._fatal
        if self._closing:
            raise ConnectionFailed("the client was closed")

    async def _set_state(self, status: ConnectionStatus, *, queue: bool = True) -> None:
        self.state = status.state
        if status.state == "disconnected":
            log.warning(
                "disconnected from %s: %s; retrying in %.1f s (attempt %d)",
                status.url,
                status.reason,
                status.retry_in or 0.0,
                status.attempt,
            )
        if queue and self._buffer is not None and status.state != "connecting":
            await self._buffer.put(status)
        await self._waiting.notify()


def _since(started: float | None) -> float:
    return 0.0 if started is None else time.monotonic() - started
