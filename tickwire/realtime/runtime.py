"""The per-process streaming runtime: broker, node (hub), in-process feed, connections.

One :class:`Runtime` exists per server process and event loop. The ASGI lifespan starts it
(and stops it, closing every socket with 1001 so clients reconnect elsewhere); consumers
get it with :func:`get_runtime`, which also starts it lazily where no lifespan runs (as in
Channels' ``WebsocketCommunicator`` tests).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from tickwire.assets.bars import save_bars_async
from tickwire.portfolios.valuer import PortfolioValuer
from tickwire.stream.brokers import Broker, create_broker
from tickwire.stream.feeds import (
    CONTROL_CHANNEL,
    FeedService,
    Instrument,
    Quote,
    Source,
    control_message,
)
from tickwire.stream.feeds import registry as feed_registry
from tickwire.stream.hub import Outbox
from tickwire.stream.node import Node
from tickwire.stream.protocol import CloseCode

from . import services
from .sessions import SessionGuard

__all__ = ["Connection", "Runtime", "current_runtime", "get_runtime", "shutdown_runtime"]

log = logging.getLogger("tickwire.realtime")


@dataclass(eq=False, slots=True)
class Connection:
    """What the runtime knows of one open WebSocket (for limits and status)."""

    connection_id: str
    outbox: Outbox
    user_id: int | None = None
    opened_at: float = field(default_factory=time.time)
    #: How the user was authenticated: "session" or "token" (None while anonymous).
    auth: str | None = None
    #: :func:`control.credential_ref` of the session or token (what a logout names).
    credential: str | None = None
    #: The session key of a session-authenticated socket (checked for expiry).
    session_key: str | None = None


def build_source(
    name: str,
    instruments: list[Instrument],
    *,
    interval: float | None = None,
    batch_size: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> Source:
    """The data source named ``name`` (``TICKWIRE_FEED_SOURCE``), configured from settings.

    ``options`` (e.g. from ``--option``) override ``TICKWIRE_FEED_OPTIONS``. Raises
    SourceConfigError (a ValueError) for an unknown name or a bad option.
    """
    merged: dict[str, Any] = dict(settings.TICKWIRE_FEED_OPTIONS)
    if settings.TICKWIRE_SIMULATOR_SEED is not None:
        merged.setdefault("seed", settings.TICKWIRE_SIMULATOR_SEED)
    merged.update(options or {})
    return feed_registry.build_source(
        name,
        instruments,
        interval=interval or settings.REALTIME_UPDATE_INTERVAL,
        batch_size=batch_size or settings.REALTIME_BATCH_SIZE,
        options=merged,
    )


class Runtime:
    def __init__(self, broker: Broker | None = None) -> None:
        self.broker = broker or create_broker(
            settings.TICKWIRE_BROKER_URL, history_size=settings.TICKWIRE_HISTORY_SIZE
        )
        self.node = Node(self.broker)
        self.valuer = PortfolioValuer(
            self.node, throttle=settings.TICKWIRE_PORTFOLIO_THROTTLE_SECONDS
        )
        self.sessions = SessionGuard(
            self.node,
            lambda: self.connections.values(),
            check_interval=settings.TICKWIRE_SESSION_CHECK_SECONDS,
        )
        self.feed: FeedService | None = None
        self._control: Outbox | None = None
        self.connections: dict[str, Connection] = {}
        self.started_at = time.time()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._started = False

    async def start(self, *, run_feed: bool | None = None) -> None:
        if self._started:
            return
        self.loop = asyncio.get_running_loop()
        await self.node.start()
        self.valuer.start()
        self.sessions.start()
        self._started = True
        if settings.TICKWIRE_FEED_IN_PROCESS if run_feed is None else run_feed:
            await self.start_feed()

    async def start_feed(self) -> FeedService:
        instruments = await services.load_instruments()
        source = build_source(settings.TICKWIRE_FEED_SOURCE, instruments)
        feed = self.feed = FeedService(
            self.broker,
            source,
            instruments,
            on_persist=services.persist_quotes_async,
            on_bars=save_bars_async,
            persist_interval=settings.TICKWIRE_PERSIST_INTERVAL,
        )
        # The feed hears control messages (forced updates) through the broker like any
        # subscriber, so a request made on another node reaches it too. An old request
        # (the channel's snapshot) is not replayed.
        self._control = Outbox(limit=10_000, slow_seconds=86400.0, wake=self._on_control)
        result = await self.node.subscribe(self._control, CONTROL_CHANNEL)
        self.node.activate(self._control, result)
        feed.start()
        log.info("feed %s started with %d instruments", source.name, len(instruments))
        return feed

    def _on_control(self, outbox: Outbox) -> None:
        for frame in outbox.take():
            if self.feed is not None:
                self.feed.handle_control(frame)

    async def request_price_update(self, symbols: Sequence[str]) -> None:
        """Ask the running feed — in this process or its own — to update ``symbols`` now."""
        await self.broker.publish(CONTROL_CHANNEL, control_message(symbols))

    async def stop(self) -> None:
        for conn in list(self.connections.values()):
            conn.outbox.close(CloseCode.GOING_AWAY, "server shutting down")
        if self._control is not None:
            self.node.remove(self._control)
            self._control = None
        if self.feed is not None:
            await self.feed.stop()
            self.feed = None
        # Give writers a moment to send their close frames before the loop goes.
        if self.connections:
            await asyncio.sleep(0.05)
        await self.valuer.close()
        await self.sessions.close()
        await self.node.close()
        self._started = False

    # -- connections ----------------------------------------------------------------------

    def register(self, conn: Connection) -> None:
        self.connections[conn.connection_id] = conn

    def unregister(self, conn: Connection) -> None:
        """Forget a closed connection (idempotent): its subscriptions and its user."""
        self.connections.pop(conn.connection_id, None)
        portfolios = [ch for ch in conn.outbox.channels if ch.startswith("portfolio.")]
        self.node.remove(conn.outbox)
        for channel in portfolios:
            self.valuer.release(int(channel[len("portfolio.") :]))
        self.sessions.detach(conn)

    def user_connection_count(self, user_id: int) -> int:
        """Open connections of ``user_id`` in this process.

        Counted per process; a cross-node count (Redis) goes behind this same method.
        """
        return sum(1 for c in self.connections.values() if c.user_id == user_id)

    async def authenticate(
        self,
        conn: Connection,
        user_id: int,
        auth: str,
        credential: str,
        session_key: str | None = None,
    ) -> bool:
        """Make ``conn`` a connection of ``user_id`` if the user is under
        ``MAX_CONNECTIONS_PER_USER``; returns False (and changes nothing) if not."""
        if conn.user_id != user_id:
            if self.user_connection_count(user_id) >= settings.MAX_CONNECTIONS_PER_USER:
                return False
            conn.user_id = user_id
        conn.auth = auth
        conn.credential = credential
        conn.session_key = session_key
        await self.sessions.attach(conn)
        return True

    # -- health and status ----------------------------------------------------------------

    def feed_running(self) -> bool:
        feed = self.feed
        return feed is not None and not feed.is_stale(settings.TICKWIRE_FEED_STALE_SECONDS)

    def global_stats(self) -> dict[str, int]:
        users = {c.user_id for c in self.connections.values() if c.user_id is not None}
        # Counted over connections, not the hub: the valuer's internal subscriptions to
        # asset channels are not client subscriptions.
        portfolios = assets = 0
        for conn in self.connections.values():
            for channel in conn.outbox.channels:
                if channel.startswith("portfolio."):
                    portfolios += 1
                elif channel.startswith("asset."):
                    assets += 1
        return {
            "total_connections": len(self.connections),
            "authenticated_users": len(users),
            "portfolio_subscriptions": portfolios,
            "asset_subscriptions": assets,
        }

    def user_stats(self, user_id: int) -> dict[str, Any]:
        conns = [c for c in self.connections.values() if c.user_id == user_id]
        portfolios: set[int] = set()
        assets: set[str] = set()
        for conn in conns:
            for channel in conn.outbox.channels:
                kind, _, key = channel.partition(".")
                if kind == "portfolio":
                    portfolios.add(int(key))
                elif kind == "asset":
                    assets.add(key)
        return {
            "connection_count": len(conns),
            "subscriptions": {"portfolios": sorted(portfolios), "assets": sorted(assets)},
        }

    def feed_status(self) -> dict[str, object] | None:
        return self.feed.status() if self.feed is not None else None

    def quote(self, symbol: str) -> Quote | None:
        return self.feed.quotes.get(symbol) if self.feed is not None else None


_runtime: Runtime | None = None
_lock: asyncio.Lock | None = None


async def get_runtime() -> Runtime:
    """This process's started runtime (created on first use in the running event loop)."""
    global _runtime, _lock
    loop = asyncio.get_running_loop()
    if _runtime is not None and _runtime.loop is loop and _runtime._started:
        return _runtime
    if _lock is None or getattr(_lock, "_tw_loop", None) is not loop:
        _lock = asyncio.Lock()
        _lock._tw_loop = loop  # type: ignore[attr-defined]
    async with _lock:
        if _runtime is None or _runtime.loop is not loop or not _runtime._started:
            _runtime = Runtime()
            await _runtime.start()
    return _runtime


def current_runtime() -> Runtime | None:
    """The runtime if one is running in this process (for synchronous views)."""
    return _runtime if _runtime is not None and _runtime._started else None


async def shutdown_runtime() -> None:
    global _runtime
    if _runtime is not None:
        runtime, _runtime = _runtime, None
        await runtime.stop()
