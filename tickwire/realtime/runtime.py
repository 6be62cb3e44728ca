"""The per-process streaming runtime: broker, node (hub), in-process feed, connections.

Portfolios: the node tells the cluster's valuer which portfolios its clients follow
(:class:`~tickwire.portfolios.demand.NodeDemand`); the valuer itself runs here only beside
the in-process feed (:meth:`Runtime.start_feed`), else in the feed's own process.

One :class:`Runtime` exists per server process and event loop. The ASGI lifespan starts it
(and stops it, closing every socket still open with 1012 so clients reconnect at once); consumers
get it with :func:`get_runtime`, which also starts it lazily where no lifespan runs (as in
Channels' ``WebsocketCommunicator`` tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from django.conf import settings

from tickwire.alerts.delivery import Dispatcher
from tickwire.alerts.evaluator import AlertEvaluator, node_evaluator
from tickwire.alerts.listening import NodeChannels
from tickwire.assets.bars import save_bars_async
from tickwire.portfolios.demand import NodeDemand
from tickwire.portfolios.services import bind_price_source
from tickwire.portfolios.valuation import Price, to_decimal
from tickwire.portfolios.valuer import Channels, PortfolioValuer
from tickwire.stream.brokers import Broker
from tickwire.stream.channels import asset_channel, channel_portfolio_id, channel_symbol
from tickwire.stream.control import bind_publisher
from tickwire.stream.feeds import (
    CONTROL_CHANNEL,
    FeedService,
    Instrument,
    Quote,
    Source,
    control_message,
)
from tickwire.stream.feeds.routes import build_routed_source, parse_routes, single_route
from tickwire.stream.hub import Outbox
from tickwire.stream.node import Node
from tickwire.stream.protocol import CloseCode
from tickwire.stream.tasks import log_failure

from . import control_socket, services
from .cluster import Cluster, FeedHeartbeat, create_cluster, create_feed_heartbeat
from .connection import Connection
from .publishers import LoopPublisher, broker_from_settings
from .sessions import SessionGuard
from .subscriptions import Subscriptions

__all__ = [
    "Runtime",
    "broker_from_settings",
    "build_feed_source",
    "current_runtime",
    "feed_heartbeat",
    "get_runtime",
    "portfolio_valuer",
    "shutdown_runtime",
]

log = logging.getLogger("tickwire.realtime")


def build_feed_source(
    instruments: list[Instrument],
    *,
    source: str | None = None,
    interval: float | None = None,
    batch_size: int | None = None,
    options: Mapping[str, Any] | None = None,
    complete: bool = True,
) -> Source:
    """The feed's source as configured: the routes of ``TICKWIRE_FEED_SOURCES`` when set,
    else the one ``TICKWIRE_FEED_SOURCE``. A ``source`` or ``options`` given (``--source``,
    ``--option``) mean that one source for everything, whatever the routes say.

    ``complete``: ``instruments`` are every active asset (not a ``--symbols`` subset), so
    a route or symbol map naming another symbol is an error. Raises SourceConfigError (a
    ValueError) naming the entry, the option or the variable.
    """
    defaults: dict[str, Any] = {}
    if settings.TICKWIRE_SIMULATOR_SEED is not None:
        defaults["seed"] = settings.TICKWIRE_SIMULATOR_SEED
    routes = settings.TICKWIRE_FEED_SOURCES
    if source is None and not options and routes is not None:
        specs = parse_routes(routes)
    else:
        merged: dict[str, Any] = {**defaults, **settings.TICKWIRE_FEED_OPTIONS, **(options or {})}
        specs = [single_route(source or settings.TICKWIRE_FEED_SOURCE, merged)]
    return build_routed_source(
        specs,
        instruments,
        interval=interval or settings.REALTIME_UPDATE_INTERVAL,
        batch_size=batch_size or settings.REALTIME_BATCH_SIZE,
        complete=complete,
        defaults=defaults,
    )


def feed_heartbeat(
    broker: Broker,
    feed: FeedService,
    url: str | None = None,
    alerts: AlertEvaluator | None = None,
    dispatcher: Dispatcher | None = None,
    valuer: PortfolioValuer | None = None,
) -> FeedHeartbeat | None:
    """A Redis heartbeat for ``feed`` (and the alert evaluator, delivery dispatcher and
    portfolio valuer beside it) on the broker ``url`` (default ``TICKWIRE_BROKER_URL``)
    names; None with the memory broker, where none is needed."""
    host = socket.gethostname()
    pid = os.getpid()

    def beat() -> dict[str, Any]:
        extra: dict[str, Any] = {"alerts": alerts.status()} if alerts is not None else {}
        if dispatcher is not None:
            extra["alert_deliveries"] = {"counts": dispatcher.count_table()}
        if valuer is not None:
            extra["portfolio_valuer"] = valuer.status()
        return {"host": host, "pid": pid, "started_at": feed.started_at, **feed.status(), **extra}

    return create_feed_heartbeat(
        url or settings.TICKWIRE_BROKER_URL,
        broker,
        beat,
        prefix=settings.TICKWIRE_REDIS_PREFIX,
        interval=min(1.0, settings.TICKWIRE_NODE_HEARTBEAT_SECONDS),
        ttl=settings.TICKWIRE_NODE_TIMEOUT_SECONDS,
    )


class Runtime:
    def __init__(self, broker: Broker | None = None) -> None:
        self.broker = broker or broker_from_settings()
        self.node = Node(self.broker, batch_interval=settings.TICKWIRE_BATCH_INTERVAL)
        #: Which portfolios this node's clients follow, told to the cluster's valuer.
        self.demand = NodeDemand(self.node)
        #: The cluster's valuer, started beside the in-process feed (idle without one).
        channels = NodeChannels(self.node)
        self.valuer = portfolio_valuer(channels, self.broker)
        channels.on_frame = self.valuer.on_frame
        self.subscriptions = Subscriptions(self.node, self.demand)
        self.sessions = SessionGuard(
            self.node,
            lambda: self.connections.values(),
            check_interval=settings.TICKWIRE_SESSION_CHECK_SECONDS,
            revoke_portfolio=lambda conn, pid: self.subscriptions.revoke_portfolio(
                conn.outbox, pid
            ),
        )
        self.cluster: Cluster = create_cluster(
            settings.TICKWIRE_BROKER_URL,
            self.broker,
            heartbeat=settings.TICKWIRE_NODE_HEARTBEAT_SECONDS,
            node_timeout=settings.TICKWIRE_NODE_TIMEOUT_SECONDS,
        )
        self.feed: FeedService | None = None
        #: The cluster's one alert evaluator, beside the in-process feed (docs/alerts.md).
        self.alerts: AlertEvaluator | None = None
        self.feed_heartbeat: FeedHeartbeat | None = None
        #: Alert deliveries go out from the process that runs the feed (docs/alerts.md).
        self.dispatcher: Dispatcher | None = None
        #: The local control socket (embedded server: no broker another process reaches).
        self.control_endpoint: control_socket.ControlEndpoint | None = None
        self._control: Outbox | None = None
        self.connections: dict[str, Connection] = {}
        self.started_at = time.time()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._unbind: list[Callable[[], None]] = []
        #: Connections ended, by close code (what /metrics reports as tickwire_closes_total).
        self.closes: dict[int, int] = {}
        #: Updates conflated away in the outboxes of connections that have ended.
        self.conflated_closed = 0

    async def start(self, *, run_feed: bool | None = None) -> None:
        if self._started:
            return
        loop = self.loop = asyncio.get_running_loop()
        await self.node.start()
        await self.demand.start()
        self.sessions.start()
        await self.cluster.start(self.node_stats)
        # From now on, services in this process publish control messages through this
        # broker and the REST API values portfolios at this process's live prices.
        self._unbind = [
            bind_publisher(LoopPublisher(self.broker, loop)),
            bind_price_source(self.live_price),
        ]
        self._started = True
        if settings.TICKWIRE_FEED_IN_PROCESS if run_feed is None else run_feed:
            await self.start_feed()

    async def start_feed(self, source: Source | None = None) -> FeedService:
        """Run the feed in this process (``source``: the configured one when None), with
        the cluster's one alert evaluator and portfolio valuer beside it."""
        instruments = await services.load_instruments()
        source = source or build_feed_source(instruments)
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
        dispatcher = self.dispatcher = Dispatcher(self.broker.publish)
        if settings.TICKWIRE_ALERTS_ENABLED:
            self.alerts = node_evaluator(feed, self.node, on_committed=lambda _: dispatcher.wake())
            await self.alerts.start()
        await self.valuer.start(feed)
        feed.start()
        dispatcher.start()
        self.feed_heartbeat = feed_heartbeat(
            self.broker, feed, alerts=self.alerts, dispatcher=dispatcher, valuer=self.valuer
        )
        if self.feed_heartbeat is not None:
            self.feed_heartbeat.start()
        elif control_socket.enabled():
            path = control_socket.socket_path(settings.TICKWIRE_HOME)
            endpoint = control_socket.ControlEndpoint(path, feed.execute_control)
            self.control_endpoint = endpoint if await endpoint.start() else None
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
        for unbind in self._unbind:
            unbind()
        self._unbind = []
        for conn in list(self.connections.values()):
            # Sockets the server's own drain did not close (another ASGI server): the same
            # 1012, so clients reconnect at once and resume.
            conn.outbox.close(CloseCode.SERVICE_RESTART, "server restarting")
        if self._control is not None:
            self.node.remove(self._control)
            self._control = None
        if self.feed_heartbeat is not None:
            await self.feed_heartbeat.stop()
            self.feed_heartbeat = None
        if self.control_endpoint is not None:
            await self.control_endpoint.stop()
            self.control_endpoint = None
        if self.feed is not None:
            await self.feed.stop()
            self.feed = None
        await self.valuer.stop()
        if self.alerts is not None:
            # After the feed: its last ticks are judged, then every state is saved.
            await self.alerts.stop()
            self.alerts = None
        if self.dispatcher is not None:
            # Last: what the evaluator committed while stopping still gets its chance.
            await self.dispatcher.stop()
            self.dispatcher = None
        # Give writers a moment to send their close frames before the loop goes.
        if self.connections:
            await asyncio.sleep(0.05)
        await self.demand.close()
        await self.sessions.close()
        await self.cluster.stop()
        await self.node.close()
        self._started = False

    # -- connections ----------------------------------------------------------------------

    def register(self, conn: Connection) -> None:
        self.connections[conn.connection_id] = conn

    def unregister(self, conn: Connection) -> None:
        """Forget a closed connection (idempotent): its subscriptions, its user slot."""
        known = self.connections.pop(conn.connection_id, None) is not None
        if known:
            self.conflated_closed += conn.outbox.conflated
        if conn.holds_user_slot and conn.user_id is not None:
            conn.holds_user_slot = False
            task = asyncio.ensure_future(self.release_user_slot(conn.user_id))
            task.add_done_callback(log_failure("releasing a connection slot", log))
        portfolio_ids = [channel_portfolio_id(ch) for ch in conn.outbox.channels]
        self.node.remove(conn.outbox)
        for portfolio_id in portfolio_ids:
            if portfolio_id is not None:
                self.demand.release(portfolio_id)
        self.sessions.detach(conn)

    def count_close(self, code: int) -> None:
        """Count a connection that ended with close ``code`` (either side's)."""
        self.closes[code] = self.closes.get(code, 0) + 1

    def conflated(self) -> int:
        """Updates conflated away so far, in open and ended connections' outboxes."""
        return self.conflated_closed + sum(c.outbox.conflated for c in self.connections.values())

    def user_connection_count(self, user_id: int) -> int:
        """Open connections of ``user_id`` on this node."""
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
        ``MAX_CONNECTIONS_PER_USER`` on every node; returns False (changing nothing) if not.

        The first authentication of a connection takes one of the user's slots (released
        when the connection is unregistered); re-authenticating as the same user does not.
        """
        if conn.user_id != user_id:
            if not await self.acquire_user_slot(user_id):
                return False
            if conn.connection_id not in self.connections:
                # Unregistered while the slot was being taken (the peer left): give it back.
                await self.release_user_slot(user_id)
                return False
            conn.user_id = user_id
            conn.holds_user_slot = True
        conn.auth = auth
        conn.credential = credential
        conn.session_key = session_key
        await self.sessions.attach(conn)
        return True

    async def acquire_user_slot(self, user_id: int) -> bool:
        """Count a new connection of ``user_id``; False if MAX_CONNECTIONS_PER_USER are open.

        The limit holds across every node of a Redis deployment; a node that dies stops
        counting after TICKWIRE_NODE_TIMEOUT_SECONDS. Call :meth:`release_user_slot` when
        the connection ends (unregistering a connection whose ``holds_user_slot`` is set
        does that).
        """
        return await self.cluster.acquire_user_slot(user_id, settings.MAX_CONNECTIONS_PER_USER)

    async def release_user_slot(self, user_id: int) -> None:
        await self.cluster.release_user_slot(user_id)

    async def user_connections(self, user_id: int) -> int:
        """Open connections of ``user_id`` on every live node."""
        try:
            return await self.cluster.user_connections(user_id)
        except Exception:
            return self.user_connection_count(user_id)

    # -- this node's numbers (its heartbeat shares them) ----------------------------------

    def node_stats(self) -> dict[str, Any]:
        """This node's numbers, as its heartbeat shares them with the others."""
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": self.started_at,
            "broker_connected": self.broker.is_connected,
            "broker_channels": len(self.node.broker_channels),
            "feed_in_process": self.feed is not None,
            **self.global_stats(),
        }

    def global_stats(self) -> dict[str, int]:
        """Connections, authenticated users and client subscriptions on this node."""
        users = {c.user_id for c in self.connections.values() if c.user_id is not None}
        # Counted over connections, not the hub: internal listeners (control channels)
        # are not client subscriptions.
        portfolios = assets = 0
        for conn in self.connections.values():
            for channel in conn.outbox.channels:
                if channel_portfolio_id(channel) is not None:
                    portfolios += 1
                elif channel_symbol(channel) is not None:
                    assets += 1
        return {
            "total_connections": len(self.connections),
            "authenticated_users": len(users),
            "portfolio_subscriptions": portfolios,
            "asset_subscriptions": assets,
        }

    def quote(self, symbol: str) -> Quote | None:
        return self.feed.quotes.get(symbol) if self.feed is not None else None

    def live_price(self, symbol: str) -> Price | None:
        """The freshest price of ``symbol``: the in-process feed's quote, else the latest
        ``asset_update`` in the broker (read through this runtime's loop, so only from
        another thread, as the REST API's views run; at most 2 s, then None)."""
        quote = self.quote(symbol)
        if quote is not None:
            return Price(to_decimal(quote.price), to_decimal(quote.previous_close or quote.price))
        loop = self.loop
        if loop is None or loop.is_closed() or not self._started:
            return None
        with contextlib.suppress(RuntimeError):
            if asyncio.get_running_loop() is loop:
                return None  # waiting here would block the loop the read needs
        future = asyncio.run_coroutine_threadsafe(self.broker.latest(asset_channel(symbol)), loop)
        try:
            publication = future.result(timeout=2.0)
        except Exception:
            future.cancel()
            return None
        return None if publication is None else _frame_price(publication.frame)


def _frame_price(frame: bytes) -> Price | None:
    """The price and previous close of an ``asset_update`` frame (None if it has none)."""
    try:
        data = orjson.loads(frame).get("data") or {}
        price = to_decimal(data["price"])
        previous = data.get("previous_close")
        return Price(price, to_decimal(previous) if previous is not None else price)
    except (KeyError, TypeError, ValueError, AttributeError, orjson.JSONDecodeError):
        return None


def portfolio_valuer(channels: Channels, broker: Broker) -> PortfolioValuer:
    """The cluster's valuer, publishing through ``broker``; the frames of the channels it
    listens to through ``channels`` (the runtime's node, or the feed process's broker)
    must be passed to its ``on_frame``."""
    return PortfolioValuer(
        channels, broker.publish_many, throttle=settings.TICKWIRE_PORTFOLIO_THROTTLE_SECONDS
    )


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
