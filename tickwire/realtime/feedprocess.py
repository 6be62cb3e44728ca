"""Running the price feed as its own process (``tickwire feed``, or ``tickwire manage
start_price_feed``).

In the scaled-out mode the feed publishes through Redis to every server node. With the
memory broker a separate feed process would publish to nobody, so it refuses with an
explanation instead of running uselessly.

The cluster's one alert evaluator and one portfolio valuer run here, beside the feed
(``control.valuation`` brings the nodes' demand and position changes to the valuer, which
publishes ``portfolio_update`` on ``portfolio.<id>``).

The process listens on the broker's control channel, so ``POST
/api/realtime/force_price_update/`` on any server node reaches it. It stops on SIGTERM or
SIGINT — the source is closed, then the last quotes and bars are written, so nothing is
left half-written — and also when its source ends (a replay without ``loop``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from tickwire.alerts.delivery import Dispatcher
from tickwire.alerts.evaluator import AlertEvaluator, broker_evaluator
from tickwire.alerts.listening import BrokerChannels
from tickwire.assets.bars import save_bars_async
from tickwire.portfolios.demand import VALUATION_CHANNEL
from tickwire.stream.brokers import Broker, Publication
from tickwire.stream.feeds import CONTROL_CHANNEL, FeedService

from . import services
from .preflight import NO_INSTRUMENTS
from .runtime import broker_from_settings, build_feed_source, feed_heartbeat, portfolio_valuer

__all__ = [
    "FeedOptions",
    "MemoryBrokerFeedError",
    "NoInstrumentsError",
    "UnknownSymbolsError",
    "run_feed_process",
]

log = logging.getLogger("tickwire.feed")

MEMORY_BROKER_MESSAGE = (
    "TICKWIRE_BROKER_URL is memory:// (the embedded default), where the server runs its own "
    "price feed and a separate feed process could reach no one: to run the feed as its own "
    "process, set TICKWIRE_BROKER_URL=redis://127.0.0.1:6379/0 for every server and this one"
)


class MemoryBrokerFeedError(Exception):
    """Raised when a separate feed process is asked for with the memory broker."""


@dataclass(frozen=True, slots=True)
class FeedOptions:
    interval: float
    batch_size: int
    #: ``--source``: this one source for every asset; None: the settings'
    #: (TICKWIRE_FEED_SOURCES when set, else TICKWIRE_FEED_SOURCE).
    source: str | None = None
    symbols: tuple[str, ...] = ()
    verbose: bool = False
    #: Source options (``--option KEY=VALUE``) over TICKWIRE_FEED_OPTIONS.
    source_options: dict[str, Any] = field(default_factory=dict)
    #: Broker URL over TICKWIRE_BROKER_URL (``--broker``).
    broker_url: str | None = None


class UnknownSymbolsError(ValueError):
    """``--symbols`` named symbols that are not active assets."""


class NoInstrumentsError(ValueError):
    """There is no active asset with a price: the feed would publish nothing."""


async def run_feed_process(
    options: FeedOptions,
    *,
    broker: Broker | None = None,
    stop: asyncio.Event | None = None,
) -> FeedService:
    """Run until SIGTERM/SIGINT (or ``stop`` is set, or the source ends), then stop
    cleanly: the source is closed, then the last quotes and bars are persisted.

    ``broker`` runs the feed on a broker the caller made: it is started here (its handler
    becomes the feed's control listener) and left open for the caller to inspect and close.

    Raises MemoryBrokerFeedError with the memory broker URL, UnknownSymbolsError for
    unknown ``symbols``, NoInstrumentsError when there are no assets to feed, and
    SourceConfigError (a ValueError) for a bad source setting.
    """
    url = options.broker_url or settings.TICKWIRE_BROKER_URL
    instruments = await services.load_instruments(list(options.symbols) or None)
    missing = sorted(set(options.symbols) - {i.symbol for i in instruments})
    if missing:
        raise UnknownSymbolsError(
            f"unknown symbols (not active assets with a price): {', '.join(missing)}"
        )
    source = build_feed_source(
        instruments,
        source=options.source,
        interval=options.interval,
        batch_size=options.batch_size,
        options=options.source_options,
        complete=not options.symbols,
    )
    # Checked after the symbols and the source, so every configuration error shows up
    # without Redis too.
    if broker is None and url.startswith("memory:"):
        raise MemoryBrokerFeedError(MEMORY_BROKER_MESSAGE)
    own_broker = broker is None
    if broker is None:
        broker = broker_from_settings(url)
    feed = FeedService(
        broker,
        source,
        instruments,
        on_persist=services.persist_quotes_async,
        on_bars=save_bars_async,
        persist_interval=settings.TICKWIRE_PERSIST_INTERVAL,
        log_batches=options.verbose,
    )

    alerts: AlertEvaluator | None = None
    valuer = portfolio_valuer(BrokerChannels(broker), broker)

    def on_publication(pub: Publication) -> None:
        if pub.channel == CONTROL_CHANNEL:
            feed.handle_control(pub.frame)
        elif pub.channel == VALUATION_CHANNEL:
            valuer.on_frame(pub.frame)
        elif alerts is not None:
            alerts.on_frame(pub.frame)  # control.alerts, control.portfolio.<id>

    await broker.start(on_publication)
    if not instruments:
        # A process that publishes nothing, yet reports itself running, helps no one.
        if own_broker:
            await broker.close()
        raise NoInstrumentsError(NO_INSTRUMENTS)
    await broker.subscribe(CONTROL_CHANNEL)
    # Alert deliveries go out beside the feed, through its broker (docs/alerts.md); the
    # evaluator wakes the dispatcher after each commit of fires.
    dispatcher = Dispatcher(broker.publish)
    if settings.TICKWIRE_ALERTS_ENABLED:
        # The cluster's one alert evaluator runs here, beside the feed (docs/alerts.md).
        alerts = broker_evaluator(feed, broker, on_committed=lambda _: dispatcher.wake())
        await alerts.start()
    await valuer.start(feed)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # A source that ends (a finished replay) ends the process too.
    feed.start().add_done_callback(lambda _: stop.set())
    dispatcher.start()
    # Nodes' /realtime/health/ reads this heartbeat (an expiring key in Redis).
    heartbeat = feed_heartbeat(broker, feed, url, alerts, dispatcher, valuer)
    if heartbeat is not None:
        heartbeat.start()
    log.info(
        "price feed running: source=%s symbols=%d interval=%gs batch=%d",
        source.name,
        len(instruments),
        options.interval,
        options.batch_size,
    )
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if heartbeat is not None:
            await heartbeat.stop()
        await feed.stop()
        await valuer.stop()
        if alerts is not None:
            await alerts.stop()
        # Last: what the evaluator committed while stopping still gets its chance.
        await dispatcher.stop()
        if own_broker:
            await broker.close()
        log.info("price feed stopped after %d updates", feed.published)
    return feed
