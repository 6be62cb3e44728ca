"""The feed service: ticks in, normalised ``asset_update`` publications out.

For each symbol it keeps the running quote — price, change and change_percent against the
previous close, the day's high and low, the day's cumulative volume — rolls the day over at
UTC midnight (the last price becomes the previous close), encodes each update once, and
publishes a batch of them through the broker. Latest quotes are handed to a persistence
callback in batches every ``persist_interval`` seconds, never once per tick; a failed write
keeps the quotes dirty so the next round retries them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..brokers.base import Broker
from ..protocol import ServerType, asset_channel, encode_body, utc_timestamp
from .base import Instrument, Source, Tick

__all__ = ["FeedService", "PersistCallback", "Quote"]

log = logging.getLogger("tickwire.feed")

_DAY = 86400


@dataclass(slots=True)
class Quote:
    symbol: str
    price: float
    previous_close: float
    high: float
    low: float
    volume: float
    decimals: int
    currency: str
    kind: str
    ts: float
    dirty: bool = False

    @classmethod
    def from_instrument(cls, inst: Instrument, now: float) -> Quote:
        prev = inst.previous_close if inst.previous_close else inst.price
        return cls(
            symbol=inst.symbol,
            price=inst.price,
            previous_close=prev,
            high=inst.day_high if inst.day_high is not None else inst.price,
            low=inst.day_low if inst.day_low is not None else inst.price,
            volume=inst.volume,
            decimals=inst.decimals,
            currency=inst.currency,
            kind=inst.kind,
            ts=now,
        )

    def apply(self, tick: Tick) -> None:
        """Fold one tick into the quote, rolling the day over at UTC midnight."""
        ts = tick.ts or time.time()
        if int(ts // _DAY) != int(self.ts // _DAY) and ts > self.ts:
            self.previous_close = self.price
            self.high = self.low = tick.price
            self.volume = 0.0
        self.price = tick.price
        if tick.price > self.high:
            self.high = tick.price
        if tick.price < self.low:
            self.low = tick.price
        self.volume += tick.volume
        self.ts = ts
        self.dirty = True

    @property
    def change(self) -> float:
        return round(self.price - self.previous_close, self.decimals)

    @property
    def change_percent(self) -> float:
        if not self.previous_close:
            return 0.0
        return round((self.price - self.previous_close) / self.previous_close * 100.0, 4)

    def as_data(self) -> dict[str, Any]:
        """The ``asset_update`` payload (seed 003's fields plus previous_close, currency)."""
        volume = self.volume
        return {
            "symbol": self.symbol,
            "price": self.price,
            "change": self.change,
            "change_percent": self.change_percent,
            "volume": int(volume) if self.kind in ("stock", "etf") else round(volume, 8),
            "high": self.high,
            "low": self.low,
            "previous_close": self.previous_close,
            "currency": self.currency,
        }


PersistCallback = Callable[[list[Quote]], Awaitable[None]]


class FeedService:
    """Runs one source, keeps quotes, publishes updates, persists quotes in batches."""

    def __init__(
        self,
        broker: Broker,
        source: Source,
        instruments: Iterable[Instrument],
        *,
        on_persist: PersistCallback | None = None,
        persist_interval: float = 2.0,
        log_batches: bool = False,
    ) -> None:
        self.broker = broker
        self.source = source
        now = time.time()
        self.quotes: dict[str, Quote] = {
            i.symbol: Quote.from_instrument(i, now) for i in instruments
        }
        self.on_persist = on_persist
        self.persist_interval = persist_interval
        self.log_batches = log_batches
        self.running = False
        self.started_at: float | None = None
        self.last_publish_at: float | None = None
        self.published = 0
        self.batches = 0
        self.rejected = 0
        self.persist_failures = 0
        self._task: asyncio.Task[None] | None = None
        self._persist_task: asyncio.Task[None] | None = None

    # -- the pure part: ticks to encoded updates -------------------------------------------

    def apply(self, ticks: Sequence[Tick]) -> list[tuple[str, bytes]]:
        """Fold ticks into quotes; return (channel, encoded body) per accepted tick."""
        out: list[tuple[str, bytes]] = []
        for tick in ticks:
            quote = self.quotes.get(tick.symbol)
            if quote is None or not (tick.price > 0) or tick.price == float("inf"):
                # Unknown symbol or a nonsensical price: counted and skipped, never fatal.
                self.rejected += 1
                continue
            quote.apply(tick)
            body = encode_body(
                ServerType.ASSET_UPDATE, quote.as_data(), timestamp=utc_timestamp(quote.ts)
            )
            out.append((asset_channel(tick.symbol), body))
        return out

    async def publish(self, ticks: Sequence[Tick]) -> int:
        items = self.apply(ticks)
        if items:
            await self.broker.publish_many(items)
            self.published += len(items)
            self.last_publish_at = time.time()
        self.batches += 1
        if self.log_batches:
            log.info("published %d updates (batch %d)", len(items), self.batches)
        return len(items)

    # -- running ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start consuming the source (and persisting) in background tasks."""
        if self._task is not None:
            return
        self.running = True
        self.started_at = time.time()
        self._task = asyncio.ensure_future(self._run())
        if self.on_persist is not None:
            self._persist_task = asyncio.ensure_future(self._persist_loop())

    async def run(self) -> None:
        """Run in the foreground until cancelled; persists what is left on the way out."""
        self.start()
        assert self._task is not None
        try:
            await self._task
        finally:
            await self.stop()

    async def _run(self) -> None:
        try:
            async for batch in self.source.ticks():
                try:
                    await self.publish(batch)
                except Exception:  # a broker hiccup must not stop the feed
                    log.exception("publishing a batch failed")
        finally:
            self.running = False

    async def stop(self) -> None:
        """Stop the source, then flush dirty quotes once more."""
        self.running = False
        for task in (self._task, self._persist_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._persist_task = None
        await self.persist()

    async def _persist_loop(self) -> None:
        while True:
            await asyncio.sleep(self.persist_interval)
            await self.persist()

    async def persist(self) -> int:
        """Hand dirty quotes to ``on_persist`` in one batch; returns how many."""
        if self.on_persist is None:
            return 0
        dirty = [q for q in self.quotes.values() if q.dirty]
        if not dirty:
            return 0
        snapshot = [replace(q) for q in dirty]
        for q in dirty:
            q.dirty = False
        try:
            await self.on_persist(snapshot)
        except Exception:
            self.persist_failures += 1
            log.exception("persisting %d quotes failed; will retry", len(snapshot))
            for q in dirty:
                q.dirty = True
            return 0
        return len(snapshot)

    def is_stale(self, max_age: float, now: float | None = None) -> bool:
        if not self.running:
            return True
        t = time.time() if now is None else now
        last = self.last_publish_at or self.started_at or 0.0
        return t - last > max_age

    def status(self) -> dict[str, object]:
        return {
            "running": self.running,
            "symbols": len(self.quotes),
            "published": self.published,
            "batches": self.batches,
            "rejected_ticks": self.rejected,
            "persist_failures": self.persist_failures,
            "last_publish_at": self.last_publish_at,
            "source": self.source.status(),
        }
