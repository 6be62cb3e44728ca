"""A real feed that ticks only when a test says so: the valuer's prices come from the feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from tickwire.stream.feeds import FeedService, Source, Tick


class QuietSource(Source):
    """A source that never ticks by itself; the test hands the feed its ticks."""

    name = "quiet"

    async def ticks(self) -> AsyncIterator[Sequence[Tick]]:
        await asyncio.get_running_loop().create_future()  # until the feed stops
        yield []


async def tick(
    feed: FeedService, symbol: str, price: float, previous_close: float | None = None
) -> None:
    """One tick of ``symbol`` through the feed (its quote's previous close set first)."""
    if previous_close is not None:
        feed.quotes[symbol].previous_close = previous_close
    await feed.publish([Tick(symbol, price)])
