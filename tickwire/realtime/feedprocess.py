"""Running the price feed as its own process (``manage.py start_price_feed``).

In the scaled-out mode the feed publishes through Redis to every server node. With the
memory broker a separate feed process would publish to nobody, so it refuses with an
explanation instead of running uselessly.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

from django.conf import settings

from tickwire.stream.feeds import FeedService

from . import services
from .runtime import broker_from_settings, build_source, feed_heartbeat

__all__ = ["FeedOptions", "MemoryBrokerFeedError", "run_feed_process"]

log = logging.getLogger("tickwire.feed")

MEMORY_BROKER_MESSAGE = (
    "TICKWIRE_BROKER_URL is memory:// (the embedded default), where the server runs its own "
    "price feed inside its process and a separate feed process could reach no one.\n"
    "To run the feed as its own process, point every server and this command at Redis:\n"
    "  export TICKWIRE_BROKER_URL=redis://127.0.0.1:6379/0\n"
    "then start the servers and run `python manage.py start_price_feed` again."
)


class MemoryBrokerFeedError(Exception):
    """Raised when a separate feed process is asked for with the memory broker."""


@dataclass(frozen=True, slots=True)
class FeedOptions:
    interval: float
    batch_size: int
    source: str = "simulator"
    symbols: tuple[str, ...] = ()
    verbose: bool = False


async def run_feed_process(options: FeedOptions) -> FeedService:
    """Run until SIGTERM/SIGINT, then stop cleanly (last quotes persisted)."""
    if settings.TICKWIRE_BROKER_URL.startswith("memory:"):
        raise MemoryBrokerFeedError(MEMORY_BROKER_MESSAGE)
    broker = broker_from_settings()
    await broker.start(lambda pub: None)
    instruments = await services.load_instruments(list(options.symbols) or None)
    source = build_source(
        options.source, instruments, interval=options.interval, batch_size=options.batch_size
    )
    feed = FeedService(
        broker,
        source,
        instruments,
        on_persist=services.persist_quotes_async,
        persist_interval=settings.TICKWIRE_PERSIST_INTERVAL,
        log_batches=options.verbose,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    feed.start()
    # Nodes' /realtime/health/ reads this heartbeat (an expiring key in Redis).
    heartbeat = feed_heartbeat(broker, feed)
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
        await broker.close()
        log.info("price feed stopped after %d updates", feed.published)
    return feed
