"""The cluster's one portfolio valuer: feed quotes → :class:`ValuationBook` → ``portfolio.<id>``.

It runs where the prices come from — beside the embedded server's in-process feed, or in
the ``tickwire feed`` process in Redis mode — and nowhere else, so each portfolio is valued
once per emit in the whole cluster, however many nodes hold its subscribers. Nodes only fan
out what it publishes (``portfolio_update`` on ``portfolio.<id>`` through the broker, with
seqs, history and snapshots like any channel).

* **What is valued:** the portfolios with a subscriber on some node (:mod:`.demand`: nodes
  send ``watch``/``release`` and renew a lease). A portfolio nobody follows costs nothing:
  it is not loaded. The book is exact and incremental
  (:class:`~tickwire.portfolios.book.ValuationBook`): a tick touches only the positions
  that hold its symbol (or convert through it), in integers.
* **Prices:** a quote observer of the :class:`~tickwire.stream.feeds.FeedService` (called
  for every accepted tick, before it is published); a holding the feed does not quote is
  valued at its stored price.
* **Throttle:** price-driven updates go out in one flush per
  ``TICKWIRE_PORTFOLIO_THROTTLE_SECONDS`` window for every portfolio whose inputs changed
  (the ticks of the window folded into one update); a tick after a quiet window flushes on
  the next event-loop pass, so a feed batch is still one update. The portfolios are split
  over :data:`SHARDS` books whose windows are staggered across the throttle, so a window's
  work and its updates' fan-out are spread over it rather than landing at once. The
  update's ``timestamp`` is the moment its window allowed it (the flush's due time), not
  when it was built.
* **At once:** a ``watch`` (a new subscriber anywhere) and a position change or deletion
  (``portfolio_control`` on ``control.valuation``, published after the database commit)
  publish that portfolio's value, or ``portfolio_not_found``, without waiting for a window.

It does not hold subscribers, read asset channels, or value a portfolio without demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from tickwire.stream import builders, control
from tickwire.stream.channels import portfolio_channel
from tickwire.stream.feeds import FeedService, Quote
from tickwire.stream.protocol import utc_timestamp

from .book import ValuationBook
from .demand import (
    HELLO,
    LEASE,
    LEASE_SECONDS,
    LEASE_TIMEOUTS,
    RELEASE,
    VALUATION_CHANNEL,
    VALUATION_NODES_CHANNEL,
    WATCH,
    demand_body,
    node_name,
    parse_demand,
)
from .services import Book, load_books_async
from .valuation import FxPair, required_symbols

__all__ = ["SHARDS", "Channels", "PortfolioValuer", "PublishMany"]

log = logging.getLogger("tickwire.portfolios.valuer")

#: Publishes (channel, body) pairs through the broker (``Broker.publish_many``).
PublishMany = Callable[[Sequence[tuple[str, bytes]]], Awaitable[object]]
#: Loads the books of the portfolios that exist among the ids (``services.load_books``).
BookLoader = Callable[[list[int]], Awaitable[dict[int, Book]]]


#: Books the portfolios are split over (by id), each flushed at its own phase of the window.
SHARDS = 16


@dataclass(slots=True)
class _Shard:
    book: ValuationBook
    last_flush: float = float("-inf")
    #: When the pending flush is due (the throttle allows it).
    due: float = 0.0
    handle: asyncio.TimerHandle | None = None


class Channels(Protocol):
    """Subscribes the valuer to ``control.valuation``; its frames reach :meth:`on_frame`
    by the way the place it runs arranges (``alerts.listening``'s node or broker)."""

    async def listen(self, channel: str) -> None: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Held:
    name: str
    #: node name → monotonic time its demand expires
    nodes: dict[str, float] = field(default_factory=dict)


class PortfolioValuer:
    """Values the portfolios followed anywhere in the cluster, at ``feed``'s quotes."""

    def __init__(
        self,
        channels: Channels,
        publish: PublishMany,
        *,
        throttle: float = 1.0,
        lease_seconds: float = LEASE_SECONDS,
        loader: BookLoader = load_books_async,
    ) -> None:
        self.channels = channels
        self.publish = publish
        self.throttle = throttle
        self.lease_seconds = lease_seconds
        self.loader = loader
        self.name = node_name()
        self.feed: FeedService | None = None
        #: Portfolio valuations computed (one per portfolio per emit).
        self.valuations = 0
        #: portfolio_update (and portfolio_not_found) bodies published.
        self.published = 0
        self._shards = [_Shard(ValuationBook()) for _ in range(SHARDS)]
        self._pairs: tuple[FxPair, ...] = ()
        self._held: dict[int, _Held] = {}
        #: Portfolios asked for (watch) or changed, to (re)load; True: publish once loaded.
        self._loads: dict[int, bool] = {}
        #: Demand for portfolios being loaded: id → node → expiry.
        self._nodes_pending: dict[int, dict[str, float]] = {}
        self._work = asyncio.Event()
        self._outgoing: dict[str, bytes] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.running = False

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, feed: FeedService) -> None:
        """Listen for demand, watch ``feed``'s quotes, and ask every node for its lease."""
        if self.running:
            return
        self.running = True
        self.feed = feed
        now = time.monotonic()
        for index, shard in enumerate(self._shards):
            # Staggered: shard k's first window ends (k + 1) / SHARDS of a throttle from now.
            shard.last_flush = now - self.throttle + self.throttle * (index + 1) / SHARDS
        await self.channels.listen(VALUATION_CHANNEL)
        feed.observers.append(self.observe)
        loop = asyncio.get_running_loop()
        for work in (self._publish_loop(), self._load_loop(), self._sweep_loop()):
            # A fresh context: this may start inside a request's, whose asgiref marker
            # would make the loader's database calls refuse to run.
            self._tasks.append(loop.create_task(work, context=contextvars.Context()))
        await self.publish([(VALUATION_NODES_CHANNEL, demand_body(HELLO, self.name))])

    async def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        if self.feed is not None:
            with contextlib.suppress(ValueError):
                self.feed.observers.remove(self.observe)
        for shard in self._shards:
            if shard.handle is not None:
                shard.handle.cancel()
                shard.handle = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.channels.close()

    @property
    def portfolio_ids(self) -> list[int]:
        """The portfolios valued now."""
        return sorted(self._held)

    def status(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "portfolios": len(self._held),
            "valuations": self.valuations,
            "published": self.published,
        }

    # -- frames in: demand and position changes -------------------------------------------

    def on_frame(self, frame: bytes) -> None:
        """A frame of ``control.valuation``: a node's demand, or a portfolio's change."""
        try:
            demand = parse_demand(frame)
        except ValueError as exc:
            log.warning("ignored a valuation demand: %s", exc)
            return
        if demand is None:
            self._on_control(frame)
            return
        expiry = time.monotonic() + self.lease_seconds * LEASE_TIMEOUTS
        if demand.event == WATCH:
            for pid in demand.portfolio_ids:
                held = self._held.get(pid)
                if held is not None:
                    held.nodes[demand.node] = expiry
                    self._emit_now(pid)  # the new subscriber's current value
                else:  # loaded, then published at once
                    self._nodes_pending.setdefault(pid, {})[demand.node] = expiry
                    self._loads[pid] = True
            self._work.set()
        elif demand.event == LEASE:
            for pid in demand.portfolio_ids:
                held = self._held.get(pid)
                if held is not None:
                    held.nodes[demand.node] = expiry
                else:  # a valuer that restarted learns the demand from the leases
                    self._nodes_pending.setdefault(pid, {})[demand.node] = expiry
                    self._loads.setdefault(pid, True)
            self._work.set()
        elif demand.event == RELEASE:
            for pid in demand.portfolio_ids:
                held = self._held.get(pid)
                if held is not None:
                    held.nodes.pop(demand.node, None)
                    if not held.nodes:
                        self._forget(pid)
                pending = self._nodes_pending.get(pid)
                if pending is not None:
                    pending.pop(demand.node, None)

    def _on_control(self, frame: bytes) -> None:
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return
        if not isinstance(message, dict) or message.get("type") != control.PORTFOLIO_CONTROL:
            return
        data = message.get("data")
        pid = data.get("portfolio_id") if isinstance(data, dict) else None
        if isinstance(pid, int) and pid in self._held:
            self._loads[pid] = True
            self._work.set()

    # -- loading --------------------------------------------------------------------------

    async def _load_loop(self) -> None:
        while True:
            await self._work.wait()
            self._work.clear()
            loads, self._loads = self._loads, {}
            if not loads:
                continue
            try:
                books = await self.loader(sorted(loads))
            except Exception:
                log.exception("loading %d portfolios failed; will retry", len(loads))
                for pid, publish in loads.items():
                    self._loads[pid] = self._loads.get(pid, False) or publish
                await asyncio.sleep(1.0)
                self._work.set()
                continue
            for pid, publish in loads.items():
                book = books.get(pid)
                nodes = self._nodes_pending.pop(pid, {})
                if book is None:
                    if pid in self._held or nodes:
                        # Deleted (or gone before its first subscriber was answered).
                        self._forget(pid)
                        body = builders.portfolio_deleted_body(pid)
                        self._queue(portfolio_channel(pid), body)
                    continue
                if pid not in self._held and not nodes:
                    continue  # released (or changed) while loading: nobody follows it
                self._put(book, nodes)
                if publish:
                    self._emit_now(pid)

    def _book(self, pid: int) -> ValuationBook:
        return self._shards[pid % SHARDS].book

    def _put(self, book: Book, nodes: dict[str, float]) -> None:
        pid = book.portfolio_id
        if book.pairs != self._pairs:
            self._rebuild(book.pairs)
        shard = self._book(pid)
        held = self._held.get(pid)
        symbols = required_symbols(book.currency, book.holdings, book.pairs)
        if held is None:
            held = self._held[pid] = _Held(book.name)
        held.name = book.name
        held.nodes.update(nodes)
        quotes = self.feed.quotes if self.feed is not None else {}
        for symbol in symbols:
            # The feed's quote even where the book has a price: nothing held the symbol
            # since, so the book's may be old (the same price again changes nothing).
            quote = quotes.get(symbol)
            if quote is not None:
                self._set_price(shard, symbol, quote.price, quote.previous_close or quote.price)
            elif shard.has_price(symbol):
                continue
            elif symbol in book.stored_prices:
                stored = book.stored_prices[symbol]
                self._set_price(shard, symbol, stored.price, stored.previous_close)
        shard.add_portfolio(pid, book.currency, book.holdings)

    def _rebuild(self, pairs: tuple[FxPair, ...]) -> None:
        """The FX assets changed: a new book over the new pairs, with the prices kept and
        every portfolio loaded again (rare: an FX asset added or deactivated)."""
        self._pairs = pairs
        for shard in self._shards:
            old, shard.book = shard.book, ValuationBook(pairs)
            for symbol, (price, previous) in old.prices().items():
                shard.book.set_price(symbol, price, previous)
        for pid in self._held:
            self._loads[pid] = True
        self._work.set()

    def _forget(self, pid: int) -> None:
        self._held.pop(pid, None)
        self._book(pid).remove_portfolio(pid)

    async def _sweep_loop(self) -> None:
        # A node that died stops renewing its lease: its demand expires.
        while True:
            await asyncio.sleep(self.lease_seconds)
            now = time.monotonic()
            for pid, held in list(self._held.items()):
                for node, expiry in list(held.nodes.items()):
                    if expiry < now:
                        del held.nodes[node]
                if not held.nodes:
                    self._forget(pid)

    # -- ticks ----------------------------------------------------------------------------

    def observe(self, quote: Quote) -> None:
        """The feed accepted a tick (a quote observer)."""
        symbol = quote.symbol
        entry = None
        for shard in self._shards:
            book = shard.book
            if not book.holds(symbol):
                continue
            if entry is None:
                try:  # checked once for every shard
                    entry = book.price_entry(
                        symbol, quote.price, quote.previous_close or quote.price
                    )
                except ValueError as exc:
                    # Holders keep the last price they could take exactly.
                    log.warning("%s: not valued at this price", exc)
                    return
            book.set_entry(symbol, entry)
            if shard.handle is None:
                # Never synchronously: the rest of the feed's batch folds into the same flush.
                now = time.monotonic()
                shard.due = max(now, shard.last_flush + self.throttle)
                loop = asyncio.get_running_loop()
                shard.handle = loop.call_later(shard.due - now, self._flush, shard)

    @staticmethod
    def _set_price(book: ValuationBook, symbol: str, price: Any, previous: Any) -> None:
        try:
            book.set_price(symbol, price, previous)
        except ValueError as exc:
            log.warning("%s: not valued at this price", exc)

    # -- updates out ----------------------------------------------------------------------

    def _flush(self, shard: _Shard) -> None:
        shard.handle = None
        now = time.monotonic()
        shard.last_flush = now
        # Stamped with the window's due time, when the throttle allowed this flush: a late
        # timer or a busy loop shows in the receivers' latency, measured from there.
        stamp = utc_timestamp(time.time() - (now - shard.due))
        changed = shard.book.flush()
        self.valuations += len(changed)
        for pid, data in changed.items():
            held = self._held.get(pid)  # type: ignore[call-overload]
            if held is None:
                continue
            assert isinstance(pid, int)
            body = builders.portfolio_update_body(pid, held.name, data, timestamp=stamp)
            self._queue(portfolio_channel(pid), body)

    def _emit_now(self, pid: int) -> None:
        held = self._held.get(pid)
        if held is None:
            return
        book = self._book(pid)
        if pid not in book:  # being loaded again into a rebuilt book: published then
            self._loads[pid] = True
            self._work.set()
            return
        data = book.data(pid)
        self.valuations += 1
        self._queue(portfolio_channel(pid), builders.portfolio_update_body(pid, held.name, data))

    def _queue(self, channel: str, body: bytes) -> None:
        # Latest body per channel wins: a publisher that fell behind sends current values.
        self._outgoing.pop(channel, None)
        self._outgoing[channel] = body
        self._wake.set()

    async def _publish_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            items = list(self._outgoing.items())
            self._outgoing.clear()
            if not items:
                continue
            try:
                await self.publish(items)
                self.published += len(items)
            except Exception:
                log.exception("publishing %d portfolio updates failed", len(items))
