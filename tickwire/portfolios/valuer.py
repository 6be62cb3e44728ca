"""The per-process portfolio valuer: holdings → asset channels → ``portfolio.<id>`` updates.

For each portfolio with a local subscriber it keeps the holdings (loaded from the
database), listens to the asset channels of those holdings and of the FX pairs that
convert them, recomputes the value on each tick and publishes ``portfolio_update`` on
``portfolio.<id>`` through the broker — so portfolio updates have a seq, history and a
snapshot like any channel, and reach every node.

* It listens through the node like a connection does: one internal
  :class:`~tickwire.stream.control.FrameSink` (an outbox that consumes frames instead of
  queueing them) is subscribed to the channels it needs, so the hub's encode-once fan-out
  is untouched and asset frames are decoded once per process, not once per portfolio.
* Price-driven updates are throttled per portfolio to one per
  ``TICKWIRE_PORTFOLIO_THROTTLE_SECONDS``; the ticks of one feed batch are folded into one
  update. A new subscriber and a position change (``control.portfolio.<id>``, published
  after the database commit by whichever process made it) get an update at once.
* With several nodes each node with a subscriber values the portfolio; the values are the
  same, so subscribers may see an update from each node (with distinct seqs).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from tickwire.stream import builders, control
from tickwire.stream.channels import asset_channel, channel_symbol, portfolio_channel
from tickwire.stream.node import Node
from tickwire.stream.protocol import ServerType
from tickwire.stream.tasks import log_failure

from .services import Book, load_book_async
from .valuation import Price, required_symbols, to_decimal, value_portfolio

__all__ = ["PortfolioValuer"]

log = logging.getLogger("tickwire.portfolios.valuer")


@dataclass(slots=True)
class _Watched:
    book: Book
    symbols: frozenset[str]
    last_emit: float = float("-inf")
    timer: asyncio.TimerHandle | None = None
    last_data: dict[str, Any] | None = None
    drop: asyncio.TimerHandle | None = None
    reloading: bool = False
    reload_again: bool = False
    subscribed: set[str] = field(default_factory=set)


class PortfolioValuer:
    """Values the portfolios that have subscribers in this process."""

    def __init__(self, node: Node, *, throttle: float = 1.0, grace: float | None = None) -> None:
        self.node = node
        self.throttle = throttle
        self.grace = node.grace if grace is None else grace
        self.published = 0
        #: Portfolio valuations computed (one per tick of a holding, throttled or not).
        self.valuations = 0
        self._sink = control.FrameSink(self._on_frame)
        self._watched: dict[int, _Watched] = {}
        self._loading: dict[int, asyncio.Future[_Watched | None]] = {}
        self._prices: dict[str, Price] = {}
        #: symbol → portfolios whose value reads it
        self._readers: dict[str, set[int]] = {}
        self._outgoing: dict[str, bytes] = {}
        self._wake = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._publisher is None:
            self._publisher = asyncio.ensure_future(self._publish_loop())

    async def close(self) -> None:
        for watched in self._watched.values():
            for handle in (watched.timer, watched.drop):
                if handle is not None:
                    handle.cancel()
        self._watched.clear()
        self._readers.clear()
        self._sink.close()
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._publisher
            self._publisher = None

    # -- what the consumer calls ----------------------------------------------------------

    async def watch(self, portfolio_id: int) -> bool:
        """Start (or keep) valuing a portfolio and publish its value now.

        Returns False if the portfolio does not exist (any more).
        """
        watched = self._watched.get(portfolio_id)
        if watched is None:
            watched = await self._load(portfolio_id)
            if watched is None:
                return False
        if watched.drop is not None:
            watched.drop.cancel()
            watched.drop = None
        self._emit(portfolio_id, force=True)
        return True

    def release(self, portfolio_id: int) -> None:
        """A local subscriber left; stop valuing after a grace period if it was the last."""
        watched = self._watched.get(portfolio_id)
        if watched is None or watched.drop is not None:
            return
        if self.node.hub.subscribers(portfolio_channel(portfolio_id)):
            return
        loop = asyncio.get_running_loop()
        watched.drop = loop.call_later(self.grace, self._drop, portfolio_id)

    def price(self, symbol: str) -> Price | None:
        """The latest price this valuer has seen for ``symbol`` (None if not listening)."""
        return self._prices.get(symbol)

    @property
    def portfolio_ids(self) -> list[int]:
        return sorted(self._watched)

    # -- loading --------------------------------------------------------------------------

    async def _load(self, portfolio_id: int) -> _Watched | None:
        pending = self._loading.get(portfolio_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[_Watched | None] = asyncio.get_running_loop().create_future()
        self._loading[portfolio_id] = future
        try:
            book = await load_book_async(portfolio_id)
            watched = None
            if book is not None:
                watched = _Watched(book, frozenset())
                self._watched[portfolio_id] = watched
                await self._listen(watched, control.portfolio_control_channel(portfolio_id))
                await self._apply_book(watched, book)
            future.set_result(watched)
            return watched
        except BaseException as exc:
            self._forget(portfolio_id)
            future.set_exception(exc)
            future.exception()  # mark retrieved: the caller re-raises it
            raise
        finally:
            self._loading.pop(portfolio_id, None)

    async def _apply_book(self, watched: _Watched, book: Book) -> None:
        pid = book.portfolio_id
        symbols = frozenset(required_symbols(book.currency, book.holdings, book.pairs))
        for symbol in symbols - watched.symbols:
            self._readers.setdefault(symbol, set()).add(pid)
        for symbol in watched.symbols - symbols:
            self._unread(watched, symbol)
        watched.book = book
        watched.symbols = symbols
        # Every stored price first, before any await: a tick arriving while the channels
        # below are being subscribed (a Redis round trip each) triggers a valuation, which
        # must not see holdings without a price.
        for symbol in symbols:
            if symbol not in self._prices and symbol in book.stored_prices:
                self._prices[symbol] = book.stored_prices[symbol]
        for symbol in sorted(symbols):
            await self._listen(watched, asset_channel(symbol))

    async def _listen(self, watched: _Watched, channel: str) -> None:
        if channel in watched.subscribed:
            return
        watched.subscribed.add(channel)
        if channel in self._sink.channels:
            return
        result = await self.node.subscribe(self._sink, channel)
        try:
            if channel_symbol(channel) is not None:
                # An asset channel's snapshot is its latest price. A control channel's is
                # an old event, already reflected in the book just loaded: skip it.
                for frame in result.frames:
                    self._on_frame(frame)
        finally:
            self.node.activate(self._sink, result)

    def _unread(self, watched: _Watched, symbol: str) -> None:
        readers = self._readers.get(symbol)
        if readers is not None:
            readers.discard(watched.book.portfolio_id)
            if not readers:
                del self._readers[symbol]
                self._prices.pop(symbol, None)
        channel = asset_channel(symbol)
        watched.subscribed.discard(channel)
        self._unlisten(channel)

    def _unlisten(self, channel: str) -> None:
        if not any(channel in w.subscribed for w in self._watched.values()):
            self.node.unsubscribe(self._sink, channel)

    def _drop(self, portfolio_id: int) -> None:
        watched = self._watched.get(portfolio_id)
        if watched is None:
            return
        watched.drop = None
        if self.node.hub.subscribers(portfolio_channel(portfolio_id)):
            return
        self._forget(portfolio_id)

    def _forget(self, portfolio_id: int) -> None:
        watched = self._watched.pop(portfolio_id, None)
        if watched is None:
            return
        for handle in (watched.timer, watched.drop):
            if handle is not None:
                handle.cancel()
        for symbol in watched.symbols:
            readers = self._readers.get(symbol)
            if readers is not None:
                readers.discard(portfolio_id)
                if not readers:
                    del self._readers[symbol]
                    self._prices.pop(symbol, None)
        for channel in watched.subscribed:
            self._unlisten(channel)

    # -- frames in ------------------------------------------------------------------------

    def _on_frame(self, frame: bytes) -> None:
        message = orjson.loads(frame)
        kind = message.get("type")
        data = message.get("data") or {}
        if kind == ServerType.ASSET_UPDATE:
            symbol = data.get("symbol")
            if not isinstance(symbol, str):
                return
            readers = self._readers.get(symbol)
            if not readers:
                return
            try:
                price = to_decimal(data["price"])
                previous = data.get("previous_close")
                prev = to_decimal(previous) if previous is not None else price
            except (KeyError, ValueError, TypeError):
                log.warning("ignoring asset_update without a usable price: %.200r", frame)
                return
            if price <= 0:
                return
            self._prices[symbol] = Price(price, prev)
            for reader in readers:
                self._touch(reader)
        elif kind == control.PORTFOLIO_CONTROL:
            portfolio_id = data.get("portfolio_id")
            if isinstance(portfolio_id, int) and portfolio_id in self._watched:
                self._reload(portfolio_id)

    def _touch(self, portfolio_id: int) -> None:
        watched = self._watched.get(portfolio_id)
        if watched is None or watched.timer is not None:
            return
        loop = asyncio.get_running_loop()
        # Never emit synchronously: the rest of the feed's batch is still being delivered,
        # and one update should carry all of it.
        wait = max(0.0, watched.last_emit + self.throttle - time.monotonic())
        watched.timer = loop.call_later(wait, self._emit, portfolio_id)

    def _reload(self, portfolio_id: int) -> None:
        watched = self._watched[portfolio_id]
        if watched.reloading:
            watched.reload_again = True
            return
        watched.reloading = True
        # A fresh context: this runs inside whoever delivered the control message, and
        # its context (asgiref's thread-sensitive marker) must not reach the reload's
        # database call, which would then refuse to run.
        loop = asyncio.get_running_loop()
        task = loop.create_task(
            self._reload_task(portfolio_id, watched), context=contextvars.Context()
        )
        task.add_done_callback(log_failure("reloading a portfolio", log, level=logging.ERROR))

    async def _reload_task(self, portfolio_id: int, watched: _Watched) -> None:
        try:
            while True:
                watched.reload_again = False
                book = await load_book_async(portfolio_id)
                if self._watched.get(portfolio_id) is not watched:
                    return
                if book is None:
                    self._deleted(portfolio_id)
                    return
                await self._apply_book(watched, book)
                if not watched.reload_again:
                    break
            self._emit(portfolio_id, force=True)
        finally:
            watched.reloading = False

    def _deleted(self, portfolio_id: int) -> None:
        self._forget(portfolio_id)
        self._queue(portfolio_channel(portfolio_id), builders.portfolio_deleted_body(portfolio_id))

    # -- updates out ----------------------------------------------------------------------

    def _emit(self, portfolio_id: int, force: bool = False) -> None:
        watched = self._watched.get(portfolio_id)
        if watched is None:
            return
        if watched.timer is not None:
            watched.timer.cancel()
            watched.timer = None
        book = watched.book
        valuation = value_portfolio(book.currency, book.holdings, self._prices, book.pairs)
        self.valuations += 1
        valued = valuation.as_data()
        data = {"name": book.name, **valued}
        if not force and data == watched.last_data:
            return  # the tick did not move anything this portfolio shows
        watched.last_data = data
        watched.last_emit = time.monotonic()
        body = builders.portfolio_update_body(portfolio_id, book.name, valued)
        self._queue(portfolio_channel(portfolio_id), body)

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
                await self.node.broker.publish_many(items)
                self.published += len(items)
            except Exception:
                log.exception("publishing %d portfolio updates failed", len(items))
