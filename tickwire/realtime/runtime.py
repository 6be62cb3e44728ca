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
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from tickwire.stream.brokers import Broker, create_broker
from tickwire.stream.feeds import FeedService, Instrument, Quote, Source
from tickwire.stream.hub import Outbox
from tickwire.stream.node import Node
from tickwire.stream.protocol import CloseCode

from . import services

__all__ = ["Connection", "Runtime", "current_runtime", "get_runtime", "shutdown_runtime"]

log = logging.getLogger("tickwire.realtime")


@dataclass(eq=False, slots=True)
class Connection:
    """What the runtime knows of one open WebSocket (for limits and status)."""

    connection_id: str
    outbox: Outbox
    user_id: int | None = None
    opened_at: float = field(default_factory=time.time)


def build_source(
    name: str,
    instruments: list[Instrument],
    *,
    interval: float | None = None,
    batch_size: int | None = None,
) -> Source:
    """The data source named ``name`` (``TICKWIRE_FEED_SOURCE``). Raises ValueError if unknown."""
    interval = interval or settings.REALTIME_UPDATE_INTERVAL
    batch_size = batch_size or settings.REALTIME_BATCH_SIZE
    if name == "simulator":
        from tickwire.stream.feeds.simulator import SimulatorSource

        return SimulatorSource(
            instruments,
            interval=interval,
            batch_size=batch_size,
            seed=settings.TICKWIRE_SIMULATOR_SEED,
        )
    raise ValueError(f"unknown data source {name!r}; available: simulator")


class Runtime:
    def __init__(self, broker: Broker | None = None) -> None:
        self.broker = broker or create_broker(
            settings.TICKWIRE_BROKER_URL, history_size=settings.TICKWIRE_HISTORY_SIZE
        )
        self.node = Node(self.broker, batch_interval=settings.TICKWIRE_BATCH_INTERVAL)
        self.feed: FeedService | None = None
        self.connections: dict[str, Connection] = {}
        self.started_at = time.time()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._started = False

    async def start(self, *, run_feed: bool | None = None) -> None:
        if self._started:
            return
        self.loop = asyncio.get_running_loop()
        await self.node.start()
        self._started = True
        if settings.TICKWIRE_FEED_IN_PROCESS if run_feed is None else run_feed:
            await self.start_feed()

    async def start_feed(self) -> FeedService:
        instruments = await services.load_instruments()
        source = build_source(settings.TICKWIRE_FEED_SOURCE, instruments)
        self.feed = FeedService(
            self.broker,
            source,
            instruments,
            on_persist=services.persist_quotes_async,
            persist_interval=settings.TICKWIRE_PERSIST_INTERVAL,
        )
        self.feed.start()
        log.info("feed %s started with %d instruments", source.name, len(instruments))
        return self.feed

    async def stop(self) -> None:
        for conn in list(self.connections.values()):
            conn.outbox.close(CloseCode.GOING_AWAY, "server shutting down")
        if self.feed is not None:
            await self.feed.stop()
            self.feed = None
        # Give writers a moment to send their close frames before the loop goes.
        if self.connections:
            await asyncio.sleep(0.05)
        await self.node.close()
        self._started = False

    # -- connections ----------------------------------------------------------------------

    def register(self, conn: Connection) -> None:
        self.connections[conn.connection_id] = conn

    def unregister(self, conn: Connection) -> None:
        self.connections.pop(conn.connection_id, None)
        self.node.remove(conn.outbox)

    def user_connection_count(self, user_id: int) -> int:
        return sum(1 for c in self.connections.values() if c.user_id == user_id)

    # -- health and status ----------------------------------------------------------------

    def feed_running(self) -> bool:
        feed = self.feed
        return feed is not None and not feed.is_stale(settings.TICKWIRE_FEED_STALE_SECONDS)

    def global_stats(self) -> dict[str, int]:
        hub = self.node.hub
        users = {c.user_id for c in self.connections.values() if c.user_id is not None}
        return {
            "total_connections": len(self.connections),
            "authenticated_users": len(users),
            "portfolio_subscriptions": hub.subscription_count("portfolio."),
            "asset_subscriptions": hub.subscription_count("asset."),
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
