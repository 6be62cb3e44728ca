"""The asyncio client: connect, subscribe, consume; reconnect and resume on its own.

One :class:`Client` keeps one WebSocket connection to a Tickwire server (or, with
:class:`~tickwire.client.raw.RawFeed`, to any JSON feed). A background task owns the
socket: it reads frames, parses them with :mod:`tickwire.stream.messages`, and puts
events into a bounded buffer that the caller consumes — by iterating the client, or with
:meth:`Client.run` and callbacks registered with :meth:`Client.on`.

When the connection drops the task reconnects with exponential backoff and jitter,
subscribes again to everything the caller asked for, and asks the server to resume each
symbol from the last ``seq`` seen. The server replays what was missed; when it cannot
(it restarted, or its history is too short) the caller gets a :class:`Gap` event for that
symbol and the stream goes on from a fresh snapshot. Within one live session a ``seq``
that skips ahead is *not* a gap: the server conflates updates for a client that reads
slowly and always delivers the newest state (counted in :attr:`Client.conflated`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from tickwire.stream.messages import (
    AssetUpdate,
    Connected,
    PortfolioUpdate,
    Resync,
    ServerError,
    ServerMessage,
    StreamPosition,
    Subscribed,
    Unsubscribed,
    parse_server_message,
)
from tickwire.stream.protocol import (
    MAX_SYMBOLS_PER_REQUEST,
    Authenticate,
    CloseCode,
    Configure,
    Ping,
    ProtocolError,
    Request,
    ServerType,
    SubscribeAssets,
    SubscribePortfolio,
    UnsubscribeAssets,
    UnsubscribePortfolio,
    encode_request,
    normalize_symbol,
)

from .backoff import Backoff
from .buffer import EventBuffer
from .events import (
    AuthenticationError,
    ConnectionFailed,
    ConnectionState,
    ConnectionStatus,
    Event,
    Gap,
    RequestError,
    ServerClosed,
    TickwireError,
)
from .raw import RawFeed

__all__ = ["Client"]

log = logging.getLogger("tickwire.client")

E = TypeVar("E")

#: Close codes after which reconnecting would only repeat the refusal.
_FATAL_CLOSES = {
    CloseCode.POLICY_VIOLATION: "the server closed the connection for a message flood (1008)",
    CloseCode.MESSAGE_TOO_BIG: "the server closed the connection: a message was too big (1009)",
    CloseCode.TOO_MANY_CONNECTIONS: (
        "the server refused the connection: too many connections for this user (4002, "
        "MAX_CONNECTIONS_PER_USER); close another connection first"
    ),
    CloseCode.SESSION_ENDED: "the server ended the session: logged out or expired (4003)",
}


@dataclass(slots=True)
class _Stream:
    """What the client knows of one symbol's channel: the last seq it delivered."""

    seq: int | None = None
    epoch: str | None = None


@dataclass(slots=True)
class _Pending:
    kind: Literal["assets", "unsub_assets", "portfolio", "unsub_portfolio", "other"]
    symbols: tuple[str, ...] = ()
    portfolio_id: int | None = None
    done: asyncio.Future[ServerMessage] | None = None
    confirmed: set[str] = field(default_factory=set)


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
        self._max_buffer = max_buffer
        #: Connection state: connecting, connected, disconnected (retrying) or closed.
        self.state: ConnectionState = "closed"
        #: The server's ``connection`` message of the current session.
        self.connection: Connected | None = None
        #: Updates the server conflated (seq skipped within a live session).
        self.conflated = 0
        #: Updates received twice (seq not after the last one) and dropped.
        self.duplicates = 0
        #: Frames or messages that could not be parsed (logged and skipped).
        self.malformed = 0
        #: Sessions established after the first one.
        self.reconnects = 0
        #: Gaps reported (symbols whose missed updates could not be recovered).
        self.gaps = 0
        #: Streams resumed after a reconnect with every missed update replayed.
        self.recovered = 0
        self._symbols: dict[str, None] = {}
        self._portfolios: dict[int, None] = {}
        self._streams: dict[str, _Stream] = {}
        self._confirmed: dict[str, StreamPosition] = {}
        self._portfolio_confirmed: set[int] = set()
        self._rejected: dict[str | int, RequestError] = {}
        self._inflight: set[str | int] = set()
        # Keys a subscribe call is waiting on: their refusal is raised, not queued.
        self._awaited: dict[str | int, int] = {}
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._callbacks: list[tuple[type[Any], Callable[[Any], object]]] = []
        self._buffer: EventBuffer[Event] | None = None
        self._changed: asyncio.Condition | None = None
        self._ws: ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self._fatal: TickwireError | None = None
        self._closing = False
        self._consuming = False
        self._last_frame = 0.0

    # -- lifecycle --------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the connection; returns once the first session is established.

        Retries per :attr:`backoff` while the server cannot be reached. Raises
        :class:`ConnectionFailed` when the retries are exhausted or the server refuses for
        good, :class:`AuthenticationError` when the token is refused.
        """
        if self._runner is not None:
            raise RuntimeError("Client.connect() was already called")
        self._buffer = EventBuffer(self._max_buffer)
        self._changed = asyncio.Condition()
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
        await self._notify()

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- subscriptions ----------------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols subscribed (kept across reconnects)."""
        return tuple(self._symbols)

    @property
    def portfolios(self) -> tuple[int, ...]:
        """The portfolio ids subscribed (kept across reconnects)."""
        return tuple(self._portfolios)

    def position(self, symbol: str) -> StreamPosition | None:
        """The last ``seq`` (and its epoch) delivered for ``symbol``, or None."""
        stream = self._streams.get(symbol.upper())
        if stream is None or stream.seq is None or stream.epoch is None:
            return None
        return StreamPosition(stream.seq, stream.epoch)

    async def subscribe(self, *symbols: str) -> dict[str, StreamPosition]:
        """Subscribe to asset updates of ``symbols``; return each one's stream position.

        The subscription is kept and restored after every reconnect. Raises
        ``ValueError`` for a malformed symbol, :class:`RequestError` when the server
        refuses some (``unknown_symbol``, ``subscription_limit``; the others stay
        subscribed), ``TimeoutError`` when the server does not confirm in
        ``request_timeout`` seconds (the subscription stays registered).
        """
        wanted = self._normalize(symbols)
        if self.raw is not None:
            return await self._raw_subscribe(wanted)
        for s in wanted:
            self._rejected.pop(s, None)
            if s not in self._symbols:
                self._symbols[s] = None
                self._streams.pop(s, None)
        await self._send_subscriptions()
        await self._wait_for(wanted)
        errors = [self._rejected[s] for s in wanted if s in self._rejected]
        if errors:
            refused = [s for s in wanted if s in self._rejected]
            raise RequestError(
                errors[0].code, f"{errors[0].message} (refused: {', '.join(refused)})"
            )
        return {s: self._confirmed[s] for s in wanted}

    async def unsubscribe(self, *symbols: str) -> None:
        """Stop the updates of ``symbols``. Raises ``ValueError`` for a malformed symbol."""
        gone = [s for s in self._normalize(symbols) if s in self._symbols]
        for s in gone:
            del self._symbols[s]
            self._streams.pop(s, None)
            self._confirmed.pop(s, None)
        if not gone or self._ws is None or self.state != "connected":
            return
        if self.raw is not None:
            for text in self.raw.unsubscribe_messages(gone):
                await self._send_text(text)
            return
        await self._request(UnsubscribeAssets(self._next_id(), tuple(gone)), "unsub_assets")

    async def subscribe_portfolio(self, portfolio_id: int) -> None:
        """Subscribe to ``portfolio_update`` messages of a portfolio (kept across reconnects).

        Raises :class:`RequestError` (``authentication_required`` without a token,
        ``portfolio_not_found`` for a portfolio that is not yours) and ``TimeoutError``.
        """
        if isinstance(portfolio_id, bool) or not isinstance(portfolio_id, int):
            raise ValueError("portfolio_id must be an integer")
        if self.raw is not None:
            raise TickwireError("portfolios are a Tickwire feature; not available with raw=")
        self._rejected.pop(portfolio_id, None)
        self._portfolios[portfolio_id] = None
        await self._send_subscriptions()
        await self._wait_for([portfolio_id])
        error = self._rejected.get(portfolio_id)
        if error is not None:
            raise RequestError(error.code, error.message, error.request_type)

    async def unsubscribe_portfolio(self, portfolio_id: int) -> None:
        """Stop the updates of a portfolio."""
        if portfolio_id in self._portfolios:
            del self._portfolios[portfolio_id]
            self._portfolio_confirmed.discard(portfolio_id)
            if self._ws is not None and self.state == "connected":
                await self._request(
                    UnsubscribePortfolio(self._next_id(), portfolio_id), "unsub_portfolio"
                )

    # -- consuming --------------------------------------------------------------------------

    def on(self, kind: type[E], callback: Callable[[E], object]) -> Callable[[], None]:
        """Call ``callback(event)`` for every event that is an instance of ``kind``
        (e.g. ``AssetUpdate``, ``Gap``, ``ConnectionStatus``); it may be a coroutine
        function. Callbacks run as the events are consumed (iteration or :meth:`run`);
        an exception in one is logged and does not stop the stream. Returns a function
        that removes the callback.
        """
        entry: tuple[type[Any], Callable[[Any], object]] = (kind, callback)
        self._callbacks.append(entry)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(entry)

        return remove

    async def __aiter__(self) -> AsyncIterator[Event]:
        """Yield events in order until the client is closed.

        Events are :class:`AssetUpdate`, :class:`PortfolioUpdate`, :class:`Alert`,
        :class:`Gap`, :class:`ConnectionStatus`, and other server messages (unsolicited
        errors, types this client does not know). Raises the fatal error that ended the
        connection (:class:`ConnectionFailed`, :class:`AuthenticationError`) after the
        events before it. Only one consumer at a time.
        """
        if self._buffer is None:
            raise RuntimeError("call connect() (or use 'async with') before consuming")
        if self._consuming:
            raise RuntimeError("this client is already being consumed")
        self._consuming = True
        try:
            while True:
                event = await self._buffer.get()
                if event is None:
                    return
                await self._dispatch(event)
                yield event
        finally:
            self._consuming = False

    async def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event (callbacks run for it), or None once the client is closed.

        Raises ``TimeoutError`` when none arrives in ``timeout`` seconds, and the fatal
        error that ended the connection, if any.
        """
        if self._buffer is None:
            raise RuntimeError("call connect() (or use 'async with') before consuming")
        event = await asyncio.wait_for(self._buffer.get(), timeout)
        if event is not None:
            await self._dispatch(event)
        return event

    async def run(self) -> None:
        """Consume events, calling the callbacks, until the client is closed.

        Raises the fatal error that ended the connection, if any.
        """
        async for _ in self:
            pass

    async def _dispatch(self, event: Event) -> None:
        for kind, callback in list(self._callbacks):
            if isinstance(event, kind):
                try:
                    result = callback(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("tickwire client callback %r failed", callback)

    # -- the connection task ----------------------------------------------------------------

    async def _run_sessions(self) -> None:
        attempt = 0
        assert self._first is not None and self._buffer is not None
        try:
            while not self._closing:
                await self._set_state(ConnectionStatus("connecting", self.url, attempt=attempt))
                reason, code, lived = await self._one_session(attempt)
                if self._closing:
                    break
                if lived >= self.backoff.stable_after:
                    attempt = 0
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
            await self._notify()
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
                ping_interval=None if self.raw is None else 20.0,
                close_timeout=2.0,
                max_size=2**24,
                max_queue=64,
                user_agent_header="tickwire-client",
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            hint = {
                403: "forbidden (origin or credentials refused)",
                404: "not found: check the path, e.g. /ws/realtime/",
            }.get(status, exc.response.reason_phrase)
            message = f"the server refused the WebSocket handshake with HTTP {status}: {hint}"
            if status == 403 and self.token:
                # This client sends no Origin, so a 403 with a token means the token.
                raise _Fatal(
                    AuthenticationError(
                        f"authentication_failed: the server refused the API token ({message})"
                    )
                ) from None
            if 400 <= status < 500 and status not in (408, 429):
                raise _Fatal(ConnectionFailed(f"{self.url}: {message}")) from None
            return message, None, 0.0
        except InvalidURI as exc:
            raise _Fatal(ConnectionFailed(f"invalid URL {self.url}: {exc}")) from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            return _describe(exc), None, 0.0
        self._ws = ws
        established: float | None = None
        self._last_frame = time.monotonic()
        heart: asyncio.Task[None] | None = None
        try:
            if self.raw is None:
                await self._handshake(ws)
            first = not self._first.done() if self._first else False
            if not first:
                self.reconnects += 1
            self._reset_session()
            await self._set_state(ConnectionStatus("connected", self.url, attempt=attempt))
            established = time.monotonic()
            await self._send_subscriptions()
            if self._first is not None and not self._first.done():
                self._first.set_result(None)
            if self.raw is None:
                heart = asyncio.create_task(self._heartbeat(ws))
            await self._read(ws)
            return "the server closed the connection", None, _since(established)
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            if self._closing:
                return "closed", code, _since(established)
            if code in _FATAL_CLOSES:
                raise _Fatal(ServerClosed(_FATAL_CLOSES[CloseCode(code)], code)) from None
            if code == CloseCode.GOING_AWAY:
                reason = "the server is restarting (1001)"
            elif code == CloseCode.SLOW_CONSUMER:
                reason = "the server dropped us for reading too slowly (4001)"
            elif code == CloseCode.IDLE_TIMEOUT:
                reason = "the server closed the idle connection (4000)"
            elif code is None:
                reason = "the connection was lost"
            else:
                why = exc.rcvd.reason if exc.rcvd is not None else ""
                reason = f"the server closed the connection ({code} {why})"
            return reason, code, _since(established)
        except (OSError, TimeoutError, WebSocketException) as exc:
            return _describe(exc), None, _since(established)
        finally:
            if heart is not None:
                heart.cancel()
            self._ws = None
            self._fail_pending()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)

    async def _handshake(self, ws: ClientConnection) -> None:
        """Read the server's ``connection`` message; authenticate; configure batching."""
        hello = await self._recv_message(ws, self.open_timeout)
        if not isinstance(hello, Connected):
            raise _Fatal(
                ConnectionFailed(
                    f"{self.url} is not a Tickwire endpoint (first message was "
                    f"{hello.type!r}, not 'connection'); use raw mode for other feeds"
                )
            )
        self.connection = hello
        if self.token and not hello.authenticated:
            rid = self._next_id()
            await self._send(Authenticate(rid, self.token))
            while True:
                reply = await self._recv_message(ws, self.request_timeout)
                if reply.id != rid:
                    continue
                if isinstance(reply, ServerError):
                    raise _Fatal(AuthenticationError(f"{reply.code}: {reply.message}"))
                break
        if self.batch:
            await self._send(Configure(self._next_id(), True))

    async def _recv_message(self, ws: ClientConnection, timeout: float) -> ServerMessage:
        async with asyncio.timeout(timeout):
            while True:
                frame = await ws.recv()
                messages = self._parse(frame)
                if messages:
                    return messages[0]

    def _reset_session(self) -> None:
        self._confirmed.clear()
        self._portfolio_confirmed.clear()
        self._inflight.clear()

    async def _read(self, ws: ClientConnection) -> None:
        buffer = self._buffer
        assert buffer is not None
        async for frame in ws:
            self._last_frame = time.monotonic()
            for message in self._parse(frame):
                await self._handle(message, buffer)

    def _parse(self, frame: str | bytes) -> list[ServerMessage]:
        try:
            decoded = orjson.loads(frame)
        except orjson.JSONDecodeError:
            self.malformed += 1
            log.warning("skipped a frame that is not JSON: %.80r", frame)
            return []
        items = decoded if isinstance(decoded, list) else [decoded]
        out: list[ServerMessage] = []
        for item in items:
            if self.raw is not None:
                default = next(iter(self._symbols), None) if len(self._symbols) == 1 else None
                out.append(self.raw.to_message(item, default))
                continue
            try:
                out.append(parse_server_message(item))
            except ProtocolError as exc:
                self.malformed += 1
                log.warning("skipped a malformed server message: %s", exc.message)
        return out

    async def _handle(self, message: ServerMessage, buffer: EventBuffer[Event]) -> None:
        if isinstance(message, AssetUpdate):
            if self.raw is None and message.symbol not in self._symbols:
                return  # unsubscribed while it was in flight
            if self._accept(message):
                await buffer.put(message)
        elif isinstance(message, PortfolioUpdate):
            if message.portfolio_id in self._portfolios:
                await buffer.put(message)
        elif isinstance(message, Subscribed):
            await self._on_subscribed(message, buffer)
        elif isinstance(message, Resync):
            await buffer.put(message)
            await self._on_resync(message, buffer)
        elif isinstance(message, ServerError):
            if not await self._on_error(message):
                await buffer.put(message)
        elif isinstance(message, Unsubscribed) or message.type in (
            ServerType.PONG,
            ServerType.CONFIGURED,
            ServerType.AUTHENTICATED,
        ):
            self._complete(message)
        elif not isinstance(message, Connected):
            await buffer.put(message)

    def _accept(self, update: AssetUpdate) -> bool:
        """Track the seq of ``update``; False for a duplicate."""
        if update.seq is None:
            return True
        stream = self._streams.setdefault(update.symbol, _Stream())
        last = stream.seq
        if last is not None:
            if update.seq <= last:
                self.duplicates += 1
                return False
            if update.seq > last + 1:
                self.conflated += update.seq - last - 1
        stream.seq = update.seq
        return True

    async def _on_subscribed(self, reply: Subscribed, buffer: EventBuffer[Event]) -> None:
        pending = self._pending.get(reply.id) if isinstance(reply.id, int) else None
        if reply.portfolio_id is not None:
            self._portfolio_confirmed.add(reply.portfolio_id)
            self._inflight.discard(reply.portfolio_id)
        for symbol, pos in reply.streams.items():
            stream = self._streams.setdefault(symbol, _Stream())
            if (
                pos.recovered is False
                and stream.seq is not None
                and stream.seq >= 0
                and stream.epoch is not None
            ):
                gap = Gap(symbol, stream.seq, stream.epoch, pos.seq, pos.epoch)
                self.gaps += 1
                log.warning(
                    "%s: updates after seq %d could not be recovered: %s",
                    symbol,
                    stream.seq,
                    gap.reason,
                )
                await buffer.put(gap)
            if pos.recovered:
                self.recovered += 1
            else:
                # A fresh snapshot follows, with seq ``pos.seq`` (0 from the database when
                # nothing was published yet): the stream stands just before it.
                stream.seq = pos.seq - 1
            stream.epoch = pos.epoch
            self._confirmed[symbol] = pos
            self._inflight.discard(symbol)
            if pending is not None:
                pending.confirmed.add(symbol)
        if pending is not None and (
            pending.kind != "assets" or set(pending.symbols) <= pending.confirmed
        ):
            self._complete(reply)
        await self._notify()

    async def _on_resync(self, resync: Resync, buffer: EventBuffer[Event]) -> None:
        """The server lost a channel's history (Redis restarted or was flushed): report
        a gap and continue from the snapshot that follows, in the new epoch."""
        symbol = resync.symbol
        if symbol is None or symbol not in self._symbols:
            return
        stream = self._streams.setdefault(symbol, _Stream())
        if stream.seq is not None and stream.epoch is not None:
            gap = Gap(symbol, max(stream.seq, 0), stream.epoch, resync.seq, resync.epoch)
            self.gaps += 1
            log.warning("%s: updates after seq %d were lost: %s", symbol, stream.seq, resync.reason)
            await buffer.put(gap)
        # The snapshot that follows carries ``resync.seq``; with seq 0 none follows and
        # the next live update is 1.
        stream.seq = max(resync.seq - 1, 0)
        stream.epoch = resync.epoch

    async def _on_error(self, error: ServerError) -> bool:
        """Match an error to its request; True when it answered one of ours."""
        pending = self._pending.pop(error.id, None) if isinstance(error.id, int) else None
        if pending is None:
            log.warning("server error: %s: %s", error.code, error.message)
            return False
        exc = RequestError(error.code, error.message, error.request_type)
        refused: list[str | int] = []
        if pending.kind == "assets":
            refused.extend(s for s in pending.symbols if s not in pending.confirmed)
            for symbol in refused:
                self._symbols.pop(str(symbol), None)
        elif pending.kind == "portfolio" and pending.portfolio_id is not None:
            refused.append(pending.portfolio_id)
            self._portfolios.pop(pending.portfolio_id, None)
        for key in refused:
            self._rejected[key] = exc
            self._inflight.discard(key)
        if pending.done is not None and not pending.done.done():
            pending.done.set_exception(exc)
        await self._notify()
        # A refusal nobody is waiting for (a resubscription after a reconnect, e.g. the
        # symbol is gone after a restart) is news to the caller: queue it.
        return pending.done is not None or any(k in self._awaited for k in refused)

    def _complete(self, reply: ServerMessage) -> None:
        pending = self._pending.pop(reply.id, None) if isinstance(reply.id, int) else None
        if pending is not None and pending.done is not None and not pending.done.done():
            pending.done.set_result(reply)

    def _fail_pending(self) -> None:
        for pending in self._pending.values():
            if pending.done is not None and not pending.done.done():
                pending.done.set_exception(ConnectionFailed("connection lost"))
                # Nobody may await it (a subscription resent on reconnect): no warning.
                pending.done.exception()
        self._pending.clear()

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

    def _next_id(self) -> int:
        return next(self._ids)

    async def _send(self, request: Request) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionClosed(None, None)
        await ws.send(encode_request(request).decode())

    async def _send_text(self, text: str) -> None:
        ws = self._ws
        if ws is not None:
            await ws.send(text)

    async def _request(
        self, request: Request, kind: Literal["unsub_assets", "unsub_portfolio"]
    ) -> ServerMessage | None:
        assert isinstance(request.id, int)
        done: asyncio.Future[ServerMessage] = asyncio.get_running_loop().create_future()
        self._pending[request.id] = _Pending(kind, done=done)
        try:
            await self._send(request)
            return await asyncio.wait_for(done, self.request_timeout)
        except (ConnectionClosed, ConnectionFailed):
            return None  # the next session starts from the caller's current wishes anyway

    async def _send_subscriptions(self) -> None:
        """Send a subscribe request for everything wanted but not yet confirmed or asked for
        in this session, resuming from the last seq where there is one."""
        if self._ws is None or self.state != "connected":
            return
        if self.raw is not None:
            todo = [s for s in self._symbols if s not in self._inflight]
            if todo:
                self._inflight.update(todo)
                for text in self.raw.subscribe_messages(todo):
                    await self._send_text(text)
                for s in todo:
                    self._confirmed[s] = StreamPosition(0, "")
                await self._notify()
            return
        groups: dict[str | None, list[str]] = {}
        for symbol in self._symbols:
            if symbol in self._confirmed or symbol in self._inflight:
                continue
            stream = self._streams.get(symbol)
            resume = (
                stream is not None
                and stream.seq is not None
                and stream.seq >= 0
                and stream.epoch is not None
            )
            groups.setdefault(stream.epoch if resume and stream else None, []).append(symbol)
        try:
            for epoch, symbols in groups.items():
                for i in range(0, len(symbols), MAX_SYMBOLS_PER_REQUEST):
                    chunk = tuple(symbols[i : i + MAX_SYMBOLS_PER_REQUEST])
                    since = {}
                    if epoch is not None:
                        for s in chunk:
                            seq = self._streams[s].seq
                            assert seq is not None
                            since[s] = seq
                    rid = self._next_id()
                    self._pending[rid] = _Pending("assets", chunk)
                    self._inflight.update(chunk)
                    await self._send(SubscribeAssets(rid, chunk, since, epoch))
            for pid in self._portfolios:
                if pid in self._portfolio_confirmed or pid in self._inflight:
                    continue
                rid = self._next_id()
                self._pending[rid] = _Pending("portfolio", portfolio_id=pid)
                self._inflight.add(pid)
                await self._send(SubscribePortfolio(rid, pid))
        except ConnectionClosed:
            pass  # the reader sees the close and reconnects; the next session resends

    async def _raw_subscribe(self, wanted: list[str]) -> dict[str, StreamPosition]:
        for s in wanted:
            self._symbols.setdefault(s, None)
        await self._send_subscriptions()
        return {s: StreamPosition(0, "") for s in wanted}

    async def _wait_for(self, keys: list[str] | list[int]) -> None:
        cond = self._changed
        if cond is None:
            raise RuntimeError("call connect() (or use 'async with') before subscribing")

        for key in keys:
            self._awaited[key] = self._awaited.get(key, 0) + 1

        def settled() -> bool:
            if self._fatal is not None or self._closing:
                return True
            for key in keys:
                if key in self._rejected:
                    continue
                if isinstance(key, str) and key in self._confirmed:
                    continue
                if isinstance(key, int) and key in self._portfolio_confirmed:
                    continue
                return False
            return True

        try:
            async with asyncio.timeout(self.request_timeout), cond:
                await cond.wait_for(settled)
        except TimeoutError:
            raise TimeoutError(
                f"the server did not confirm the subscription within {self.request_timeout:g} s "
                "(it stays registered and is sent again on reconnect)"
            ) from None
        finally:
            for key in keys:
                left = self._awaited.pop(key, 1) - 1
                if left > 0:
                    self._awaited[key] = left
        if self._fatal is not None:
            raise self._fatal
        if self._closing:
            raise ConnectionFailed("the client was closed")

    async def _notify(self) -> None:
        cond = self._changed
        if cond is not None:
            async with cond:
                cond.notify_all()

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
        await self._notify()

    def _normalize(self, symbols: tuple[str, ...]) -> list[str]:
        if not symbols:
            raise ValueError("name at least one symbol")
        out: dict[str, None] = {}
        for symbol in symbols:
            if self.raw is not None:
                # Another feed's symbols keep their own spelling (some want lower case).
                if not isinstance(symbol, str) or not symbol.strip() or len(symbol) > 100:
                    raise ValueError(f"{symbol!r} is not a symbol")
                out[symbol.strip()] = None
                continue
            try:
                out[normalize_symbol(symbol)] = None
            except ProtocolError as exc:
                raise ValueError(exc.message) from None
        return list(out)


def _since(started: float | None) -> float:
    return 0.0 if started is None else time.monotonic() - started


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
