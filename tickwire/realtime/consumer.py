"""The ``/ws/realtime/`` WebSocket consumer: translates between the socket and the runtime.

It parses a request, calls the runtime, and replies; it owns no business logic. Parsing
and validation are in :mod:`tickwire.stream.protocol`, subscription rules (limits,
ownership, what a new subscriber is sent first) in :mod:`tickwire.realtime.subscriptions`,
fan-out in the hub, database work in services. Every reply and update goes through the
connection's outbox, so replies and updates keep their order and a slow socket only ever
fills its own outbox. Under ``python -m tickwire.serve`` the outbox is
written synchronously through the direct-write front end (:mod:`tickwire.realtime.fastws`),
and once the socket is accepted the consumer detaches from its ASGI call (an idle
connection keeps no coroutine of the ASGI stack and runs no task); elsewhere (tests'
``WebsocketCommunicator``, other ASGI servers) it stays in its receive loop and one writer
task writes the outbox.

Policy closes (documented in docs/protocol.md): 1009 message too big, 1008 message flood,
4000 idle past ``WEBSOCKET_TIMEOUT``, 4001 slow consumer, 4002 more than
``MAX_CONNECTIONS_PER_USER`` connections of one user (counted across every node), 4003
session ended (logout, expiry, revoked token), 1012 server restarting (drain on SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.signals import setting_changed

from tickwire.logconfig import BurstLog
from tickwire.stream import builders
from tickwire.stream.control import credential_ref
from tickwire.stream.hub import Outbox, batch_frames
from tickwire.stream.messages import StreamPosition
from tickwire.stream.protocol import (
    Authenticate,
    ClientType,
    CloseCode,
    Configure,
    ErrorCode,
    Ping,
    ProtocolError,
    Request,
    SubscribeAssets,
    SubscribePortfolio,
    UnsubscribeAssets,
    UnsubscribePortfolio,
    parse_request,
)

from .auth import user_for_token
from .bounds import Bounds
from .connection import Connection
from .fastws import EXTENSION, DirectLink
from .idle import IdleWatch
from .runtime import Runtime, get_runtime

__all__ = ["RealtimeConsumer"]

log = logging.getLogger("tickwire.realtime.consumer")

# A line per connection opened or closed, up to a rate: past it they are counted (metrics
# count every one: tickwire_connections, tickwire_closes_total).
_opened = BurstLog(log, "websocket opened", ("connection_id", "user_id"))
_closed = BurstLog(log, "websocket closed", ("connection_id", "user_id", "close_code"))

_REQUEST_TYPES: dict[type[Request], str] = {
    Ping: ClientType.PING,
    SubscribeAssets: ClientType.SUBSCRIBE_ASSET,
    UnsubscribeAssets: ClientType.UNSUBSCRIBE_ASSET,
    SubscribePortfolio: ClientType.SUBSCRIBE_PORTFOLIO,
    UnsubscribePortfolio: ClientType.UNSUBSCRIBE_PORTFOLIO,
    Authenticate: ClientType.AUTHENTICATE,
    Configure: ClientType.CONFIGURE,
}


_layer_aliases: dict[str, bool] = {}


def _has_channel_layer(alias: str) -> bool:
    """Whether ``CHANNEL_LAYERS`` names ``alias``, remembered until the setting changes:
    Channels' ``get_channel_layer`` answers a missing layer by raising and catching two
    exceptions (~4% of a node's CPU while clients connect at once)."""
    known = _layer_aliases.get(alias)
    if known is None:
        known = _layer_aliases[alias] = alias in getattr(settings, "CHANNEL_LAYERS", {})
    return known


def _forget_layer_aliases(*, setting: str, **kwargs: Any) -> None:
    if setting == "CHANNEL_LAYERS":
        _layer_aliases.clear()


setting_changed.connect(_forget_layer_aliases)


def _websocket_timeout() -> float:
    return float(settings.WEBSOCKET_TIMEOUT)


def _bounds() -> Bounds:
    """What one client may make the server hold (docs/protocol.md, "Bounds")."""
    rate = settings.TICKWIRE_READ_BYTES_PER_SECOND
    return Bounds(
        send_buffer=settings.TICKWIRE_SEND_BUFFER_BYTES,
        read_rate=float(rate),
        read_burst=max(rate, settings.TICKWIRE_MAX_MESSAGE_BYTES),
        receive_queue=settings.TICKWIRE_RECEIVE_QUEUE_LIMIT,
        stall_seconds=settings.TICKWIRE_SLOW_CLIENT_SECONDS,
    )


class _RateLimiter:
    """Token bucket: ``rate`` messages/s with bursts of ``burst``.

    Over the limit a message is dropped and answered once with ``rate_limited``. Dropped
    messages are counted in a second bucket that drains at ``rate``: it grows only while the
    client sends at more than twice the rate, and past ``2 * burst`` the client is closed
    with 1008. (Counting only *consecutive* drops would restart the count at every token
    refill, so a client at many times the rate would never be closed.)
    """

    __slots__ = ("at", "burst", "rate", "strikes", "tokens", "warned")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.at = time.monotonic()
        #: Dropped messages not yet drained at ``rate``.
        self.strikes = 0.0
        #: Whether the client was told it is being rate limited since its drops drained.
        self.warned = False

    def take(self) -> bool:
        now = time.monotonic()
        drained = (now - self.at) * self.rate
        self.tokens = min(self.burst, self.tokens + drained)
        self.strikes = max(0.0, self.strikes - drained)
        if self.strikes == 0.0:
            self.warned = False
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.strikes += 1.0
        return False

    @property
    def flooding(self) -> bool:
        """The client kept sending at more than twice the rate for ``2 * burst`` drops."""
        return self.strikes > self.burst * 2


class RealtimeConsumer(AsyncConsumer):  # type: ignore[misc]  # an untyped (Any) base
    runtime: Runtime
    conn: Connection
    outbox: Outbox
    #: The direct-write front end's link (None elsewhere, or before websocket_connect).
    link: DirectLink | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # Clean-up runs on every way out — a disconnect, a fault anywhere in the handler,
        # a cancelled task — so no path leaves the connection registered or its user's
        # slot taken (a leaked slot locks the user out with 4002 on every node).
        close_code = CloseCode.INTERNAL_ERROR
        detached = False
        try:
            alias = self.channel_layer_alias
            if _has_channel_layer(alias) and get_channel_layer(alias) is not None:
                await super().__call__(scope, receive, send)
            else:
                # Without a channel layer, read ASGI events directly: Channels'
                # await_many_dispatch keeps an extra task and its futures alive per idle
                # connection (~1.5 KiB each).
                self.scope = scope
                self.channel_layer = None
                self.base_send = send
                try:
                    await self.dispatch(await receive())  # websocket.connect
                    if self.link is not None:
                        detached = self._detach(self.link)
                        return
                    while True:
                        await self.dispatch(await receive())
                except StopConsumer:
                    pass
            close_code = CloseCode.NORMAL
        finally:
            if not detached:
                await self._cleanup(close_code)

    def _detach(self, link: DirectLink) -> bool:
        """Under the direct-write front end, let this call return and take the
        connection's further messages through ``link`` (:meth:`DirectLink.detach`): an idle
        connection then holds no coroutine of the ASGI stack and no copy of its scope."""
        # Nothing reads the handshake's scope again (user and credential are on self.conn),
        # and nothing is sent through ASGI again (the link writes the outbox).
        self.scope = {}
        self.base_send = None
        link.detach(self._on_message)
        return True

    async def _on_message(self, message: dict[str, Any]) -> bool:
        """One receive event of a detached connection; False once it is closed and forgotten."""
        try:
            await self.dispatch(message)
        except StopConsumer:
            await self._cleanup(CloseCode.NORMAL)
            return False
        except BaseException:
            await self._cleanup(CloseCode.INTERNAL_ERROR)
            raise
        return True

    # Channels' default dispatch hops to a thread per message to close stale DB
    # connections; our handlers reach the database only through sync_to_async services,
    # which manage connections themselves, so skip that hop on the hot path.
    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.runtime = await get_runtime()
        direct: DirectLink | None = (self.scope.get("extensions") or {}).get(EXTENSION)
        self.link = direct
        self.outbox = Outbox(
            limit=settings.TICKWIRE_OUTBOX_LIMIT,
            slow_seconds=settings.TICKWIRE_SLOW_CLIENT_SECONDS,
            wake=direct.wake if direct is not None else None,
        )
        user = self.scope.get("user")
        user_id = user.pk if user is not None and user.is_authenticated else None
        # The user is attached (and counted toward MAX_CONNECTIONS_PER_USER on every
        # node) by _login_from_handshake below, the same path `authenticate` takes.
        self.conn = Connection(str(uuid.uuid4()), self.outbox)
        self.limiter = _RateLimiter(
            settings.TICKWIRE_RATE_LIMIT_PER_SECOND, settings.TICKWIRE_RATE_LIMIT_BURST
        )
        self.last_received = time.monotonic()
        self.max_bytes = settings.TICKWIRE_MAX_MESSAGE_BYTES
        self.runtime.register(self.conn)
        await self.base_send({"type": "websocket.accept"})
        self.writer: asyncio.Future[None] | None = None
        if direct is not None:
            # Frames go out synchronously, once per loop iteration: no writer task to wake.
            direct.attach(self.outbox, self.runtime.node.hub.pacer)
            direct.bound(_bounds())
        else:
            self.writer = asyncio.ensure_future(self._write_loop())
        # One sweeper per process, not a task or timer per connection (memory per idle
        # connection is what limits how many one process holds).
        self.idle_watch = IdleWatch.for_loop(_websocket_timeout)
        self.idle_watch.add(self)
        if user_id is not None and not await self._login_from_handshake(user_id):
            return  # refused: over MAX_CONNECTIONS_PER_USER, closing with 4002
        self.outbox.push(builders.connection(self.conn.connection_id, self.conn.user_id))
        _opened.log(
            ": connection %s, user %s",
            self.conn.connection_id,
            self.conn.user_id,
            extra=self._log_fields(),
        )

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        if not hasattr(self, "outbox"):
            return  # refused at connect; the close is on its way
        self.last_received = time.monotonic()
        raw: str | bytes | None = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        size = len(raw) if isinstance(raw, bytes) else len(raw.encode())
        if size > self.max_bytes:
            self.outbox.close(
                CloseCode.MESSAGE_TOO_BIG, f"message larger than {self.max_bytes} bytes"
            )
            return
        if not self.limiter.take():
            if self.limiter.flooding:
                self.outbox.close(CloseCode.POLICY_VIOLATION, "message flood")
            elif not self.limiter.warned:
                self.limiter.warned = True
                self._error(
                    ProtocolError(
                        ErrorCode.RATE_LIMITED,
                        f"more than {self.limiter.rate:g} messages/s; messages are being "
                        "dropped, slow down",
                    )
                )
            return
        try:
            request = parse_request(raw)
        except ProtocolError as exc:
            self._error(exc)
            return
        except Exception:
            # The parser promises ProtocolError for every bad input; anything else is a
            # server fault, answered like one in a handler rather than killing the socket.
            log.exception("parsing a client message failed")
            self._error(
                ProtocolError(ErrorCode.INTERNAL_ERROR, "internal error; the request had no effect")
            )
            return
        try:
            await self._handle(request)
        except ProtocolError as exc:
            exc.request_type = exc.request_type or _REQUEST_TYPES.get(type(request))
            exc.request_id = exc.request_id if exc.request_id is not None else request.id
            self._error(exc)
        except Exception:
            log.exception("handling a client message failed")
            self._error(
                ProtocolError(
                    ErrorCode.INTERNAL_ERROR,
                    "internal error; the request had no effect",
                    request_type=_REQUEST_TYPES.get(type(request)),
                    request_id=request.id,
                )
            )

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        if hasattr(self, "outbox"):
            # Ours when the server closed it (the outbox says why), else the client's.
            code = self.outbox.close_code if self.outbox.closed else message.get("code", 1005)
            self.runtime.count_close(int(code))
            _closed.log(
                ": connection %s, user %s, code %s",
                self.conn.connection_id,
                self.conn.user_id,
                code,
                extra={**self._log_fields(), "close_code": code},
            )
        raise StopConsumer()  # __call__ cleans up

    def _log_fields(self) -> dict[str, Any]:
        return {"connection_id": self.conn.connection_id, "user_id": self.conn.user_id}

    # -- requests --------------------------------------------------------------------------

    async def _handle(self, request: Request) -> None:
        subscriptions = self.runtime.subscriptions
        if isinstance(request, Ping):
            self.outbox.push(builders.pong(request_id=request.id))
        elif isinstance(request, SubscribeAssets):
            async with subscriptions.assets(self.outbox, request) as granted:
                if granted.symbols:
                    streams = {
                        symbol: StreamPosition(r.seq, r.epoch, r.recovered)
                        for symbol, r in zip(granted.symbols, granted.results, strict=True)
                    }
                    self.outbox.push(
                        builders.subscribed_assets(
                            streams, subscription_count=self._count(), request_id=request.id
                        )
                    )
        elif isinstance(request, UnsubscribeAssets):
            subscriptions.unsubscribe_assets(self.outbox, request.symbols)
            self.outbox.push(
                builders.unsubscribed_assets(
                    request.symbols, subscription_count=self._count(), request_id=request.id
                )
            )
        elif isinstance(request, SubscribePortfolio):
            portfolio_id = request.portfolio_id
            async with subscriptions.portfolio(self.outbox, self.conn.user_id, portfolio_id) as r:
                self.outbox.push(
                    builders.subscribed_portfolio(
                        portfolio_id,
                        StreamPosition(r.seq, r.epoch),
                        subscription_count=self._count(),
                        request_id=request.id,
                    )
                )
        elif isinstance(request, UnsubscribePortfolio):
            portfolio_id = request.portfolio_id
            await subscriptions.unsubscribe_portfolio(self.outbox, self.conn.user_id, portfolio_id)
            self.outbox.push(
                builders.unsubscribed_portfolio(
                    portfolio_id, subscription_count=self._count(), request_id=request.id
                )
            )
        elif isinstance(request, Authenticate):
            await self._authenticate(request)
        elif isinstance(request, Configure):
            if request.batch is not None:
                self.runtime.node.set_batch(self.outbox, request.batch)
            self.outbox.push(builders.configured(self.outbox.batch, request_id=request.id))

    # -- authentication ----------------------------------------------------------------

    async def _login_from_handshake(self, user_id: int) -> bool:
        token = self.scope.get("auth_token")
        session = self.scope.get("session")
        session_key = getattr(session, "session_key", None) if token is None else None
        if token is not None:
            auth, credential = "token", credential_ref("token", token)
        else:
            auth, credential = "session", credential_ref("session", session_key or "")
        if await self.runtime.authenticate(self.conn, user_id, auth, credential, session_key):
            return True
        self._too_many_connections()
        return False

    def _too_many_connections(self) -> None:
        self.outbox.close(
            CloseCode.TOO_MANY_CONNECTIONS,
            f"too many connections for this user (MAX_CONNECTIONS_PER_USER="
            f"{settings.MAX_CONNECTIONS_PER_USER}); close another one first",
        )

    async def _authenticate(self, request: Authenticate) -> None:
        user = await user_for_token(request.token)
        if user is None:
            # Logged without the token: a typo'd token is often one character off a real one.
            log.info(
                "authenticate failed: connection %s, invalid or revoked API token",
                self.conn.connection_id,
                extra=self._log_fields(),
            )
            raise ProtocolError(ErrorCode.AUTHENTICATION_FAILED, "invalid or revoked API token")
        if self.conn.user_id is not None and self.conn.user_id != user.pk:
            raise ProtocolError(
                ErrorCode.AUTHENTICATION_FAILED,
                "this connection is already authenticated as another user; open a new "
                "connection to switch users",
            )
        credential = credential_ref("token", request.token)
        if not await self.runtime.authenticate(self.conn, user.pk, "token", credential):
            self._too_many_connections()
            return
        self.outbox.push(
            builders.authenticated(user.pk, user.get_username(), request_id=request.id)
        )

    # -- output ----------------------------------------------------------------------------

    def _count(self) -> int:
        return len(self.outbox.channels)

    def _error(self, exc: ProtocolError) -> None:
        self.outbox.push(
            builders.error(
                exc.code, exc.message, request_type=exc.request_type, request_id=exc.request_id
            )
        )

    async def _write_loop(self) -> None:
        outbox = self.outbox
        send = self.base_send
        try:
            while True:
                await outbox.wait()
                frames = outbox.take()
                if frames:
                    if outbox.batch and len(frames) > 1:
                        for batch in batch_frames(frames):
                            await send({"type": "websocket.send", "text": batch.decode()})
                    else:
                        for frame in frames:
                            await send({"type": "websocket.send", "text": frame.decode()})
                    continue
                if outbox.closed:
                    await send(
                        {
                            "type": "websocket.close",
                            "code": outbox.close_code,
                            "reason": outbox.close_reason[:120],
                        }
                    )
                    break
        except (OSError, RuntimeError, asyncio.CancelledError):
            # The peer went away (or we are shutting down); disconnect cleans up.
            pass
        except Exception:
            log.exception("writer failed")
        finally:
            self.runtime.unregister(self.conn)

    def idle_timeout(self) -> None:
        self.outbox.close(
            CloseCode.IDLE_TIMEOUT,
            f"no message for {_websocket_timeout():g} s (WEBSOCKET_TIMEOUT); "
            "send ping to stay open",
        )

    async def _cleanup(self, code: CloseCode = CloseCode.NORMAL) -> None:
        """Forget the connection (idempotent; safe however far websocket_connect got)."""
        if not hasattr(self, "conn"):
            return
        self.outbox.close(code)
        self.runtime.unregister(self.conn)
        idle_watch = getattr(self, "idle_watch", None)
        if idle_watch is not None:
            idle_watch.discard(self)
        writer = getattr(self, "writer", None)
        if writer is not None and not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
