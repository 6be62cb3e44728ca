"""The feed service: ticks in, normalised ``asset_update`` publications out.

For each symbol it keeps the running quote — price, change and change_percent against the
previous close, the day's high and low, the day's cumulative volume — rolls the day over at
UTC midnight (the last price becomes the previous close), encodes each update once, and
publishes a batch of them through the broker. Latest quotes are handed to a persistence
callback in batches every ``persist_interval`` seconds, never once per tick; a failed write
keeps the quotes dirty so the next round retries them. Ticks also roll up into 1-minute
OHLCV bars (:class:`~tickwire.stream.feeds.bars.BarAggregator`); closed bars go to the
``on_bars`` callback in the same rhythm, and are kept for the next round if that fails.

Control: a ``force_price_update`` message on :data:`CONTROL_CHANNEL` (published by the
REST endpoint, from any process) makes the feed fetch those symbols now — sources that can
poll on demand do, streaming sources republish their latest quote. An ``apply_quotes``
message (:mod:`.quote_requests`; sent by ``update_asset_prices``) hands the feed quotes to
apply as ticks: published, folded into the day and the bars, persisted at once, and
acknowledged on the request's reply channel. A bad control frame is counted and logged,
never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import orjson

from .. import builders
from ..brokers.base import Broker
from ..channels import asset_channel
from ..protocol import encode_body, utc_timestamp
from .bars import BarAggregator
from .base import Bar, Instrument, Source, Tick
from .quote_requests import (
    APPLY_QUOTES,
    ApplyQuotes,
    ControlMessageError,
    QuotesAck,
    Rejection,
    message_type,
    parse_apply_quotes,
    reply_channel,
)

__all__ = [
    "CONTROL_CHANNEL",
    "FORCE_PRICE_UPDATE",
    "BarsCallback",
    "FeedService",
    "PersistCallback",
    "Quote",
    "QuoteObserver",
    "control_message",
    "parse_control",
]

#: The broker channel feeds listen on for control messages (never sent to clients).
CONTROL_CHANNEL = "control.feed"
FORCE_PRICE_UPDATE = "force_price_update"
#: More symbols than this in one control message is refused (the REST limit is lower).
MAX_CONTROL_SYMBOLS = 10_000


def control_message(symbols: Iterable[str]) -> bytes:
    """The body of a force-update request for ``symbols``, to publish on CONTROL_CHANNEL."""
    return encode_body(FORCE_PRICE_UPDATE, {"symbols": list(symbols)})


def parse_control(frame: bytes) -> list[str]:
    """The symbols of a force-update control frame. Raises ValueError if it is not one."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"control frame is not JSON: {exc}") from None
    if not isinstance(message, dict) or message.get("type") != FORCE_PRICE_UPDATE:
        raise ValueError("not a force_price_update message")
    data = message.get("data")
    symbols = data.get("symbols") if isinstance(data, dict) else None
    if (
        not isinstance(symbols, list)
        or len(symbols) > MAX_CONTROL_SYMBOLS
        or not all(isinstance(x, str) for x in symbols)
    ):
        raise ValueError("force_price_update needs data.symbols, a list of strings")
    return symbols


log = logging.getLogger("tickwire.feed")

_DAY = 86400
_INF = float("inf")
#: Kinds whose day volume is sent in whole units.
_WHOLE_VOLUME = frozenset(("stock", "etf"))
_asset_update_body = builders.asset_update_body


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
    #: The quote's broker channel (``asset.<SYMBOL>``), named once instead of per tick.
    channel: str = ""

    def __post_init__(self) -> None:
        if not self.channel:
            self.channel = asset_channel(self.symbol)

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
        price = tick.price
        if ts // _DAY != self.ts // _DAY and ts > self.ts:
            self.previous_close = self.price
            self.high = self.low = price
            self.volume = 0.0
        self.price = price
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        day_volume = tick.day_volume
        if day_volume is not None:
            self.volume = day_volume
        else:
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

    @property
    def day_volume(self) -> float:
        """The day's volume as sent: whole shares for stocks and ETFs, 8 decimals else."""
        volume = self.volume
        return int(volume) if self.kind in _WHOLE_VOLUME else round(volume, 8)

    def body(self, timestamp: str | None = None) -> bytes:
        """This quote as an ``asset_update`` body for the broker to seal (at the tick's time
        when ``timestamp`` is None)."""
        # Called once per tick: change, change_percent and day_volume computed inline,
        # as the properties above compute them (a property call each was a tenth of it).
        price = self.price
        previous = self.previous_close
        volume = self.volume
        return _asset_update_body(
            self.symbol,
            price,
            round(price - previous, self.decimals),
            round((price - previous) / previous * 100.0, 4) if previous else 0.0,
            int(volume) if self.kind in _WHOLE_VOLUME else round(volume, 8),
            self.high,
            self.low,
            previous,
            self.currency,
            timestamp=utc_timestamp(self.ts) if timestamp is None else timestamp,
        )


PersistCallback = Callable[[list[Quote]], Awaitable[None]]
BarsCallback = Callable[[list[Bar]], Awaitable[None]]
#: Called with the quote after each accepted tick has been folded into it, in tick order,
#: before the update is published (the alert evaluator watches every price this way).
QuoteObserver = Callable[[Quote], None]


class FeedService:
    """Runs one source, keeps quotes, publishes updates, persists quotes in batches."""

    def __init__(
        self,
        broker: Broker,
        source: Source,
        instruments: Iterable[Instrument],
        *,
        on_persist: PersistCallback | None = None,
        on_bars: BarsCallback | None = None,
        persist_interval: float = 2.0,
        log_batches: bool = False,
        bar_interval: int = 60,
        max_pending_bars: int = 500_000,
        publish_window: int = 1,
    ) -> None:
        if publish_window < 0:
            raise ValueError("publish_window must be 0 or more")
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
        self.on_bars = on_bars
        self.bars: BarAggregator | None = BarAggregator(bar_interval) if on_bars else None
        self.max_pending_bars = max_pending_bars
        self._pending_bars: list[Bar] = []
        #: When the oldest bar not yet written was closed (None: none waiting).
        self._bars_waiting_since: float | None = None
        #: Every quote change folded before this time is in the database.
        self.quotes_written_at: float | None = None
        self.bars_written = 0
        self.bar_failures = 0
        self.bars_dropped = 0
        self.forced_updates = 0
        self.quote_requests = 0
        self.applied_quotes = 0
        self.control_errors = 0
        self._task: asyncio.Task[None] | None = None
        self._persist_task: asyncio.Task[None] | None = None
        #: Set by :meth:`stop`: the persistence loop ends after the write under way.
        self._stopping: asyncio.Event | None = None
        self._control_tasks: set[asyncio.Task[object]] = set()
        #: See :data:`QuoteObserver`; an observer that raises is logged and skipped.
        self.observers: list[QuoteObserver] = []
        #: Batches the source loop may have handed to the broker and not seen confirmed
        #: while it folds the next. One is enough to keep Redis busy (it always has the
        #: next batch queued) and keeps what a Redis outage releases at once when Redis
        #: is back to two batches: more per channel in one node pass would conflate at
        #: the clients (their seq skipping ahead).
        self.publish_window = publish_window
        #: How long stopping waits for those batches.
        self.settle_timeout = 10.0

    # -- the pure part: ticks to encoded updates -------------------------------------------

    def apply(self, ticks: Sequence[Tick]) -> list[tuple[str, bytes]]:
        """Fold ticks into quotes; return (channel, encoded body) per accepted tick."""
        out: list[tuple[str, bytes]] = []
        # Every tick of every source passes here: lookups hoisted out of the loop.
        append = out.append
        get_quote = self.quotes.get
        observers = self.observers
        bars = self.bars
        add_bar = bars.add if bars is not None else None
        pending_bars = self._pending_bars
        # A batch's ticks often share their time: its text is made once for them.
        last_ts = -1.0
        stamp = ""
        for tick in ticks:
            quote = get_quote(tick.symbol)
            price = tick.price
            if quote is None or not (price > 0) or price == _INF:
                # Unknown symbol or a nonsensical price: counted and skipped, never fatal.
                self.rejected += 1
                continue
            quote.apply(tick)
            if observers:
                for observer in observers:
                    try:
                        observer(quote)
                    except Exception:  # a watcher's bug must never stop the prices
                        log.exception("a quote observer failed on %s", tick.symbol)
            if add_bar is not None:
                closed = add_bar(tick if tick.ts else replace(tick, ts=quote.ts))
                if closed is not None:
                    if not pending_bars:
                        self._bars_waiting_since = time.time()
                    pending_bars.append(closed)
            if quote.ts != last_ts:
                last_ts = quote.ts
                stamp = utc_timestamp(last_ts)
            append((quote.channel, quote.body(stamp)))
        return out

    async def publish(self, ticks: Sequence[Tick]) -> int:
        """Fold ``ticks`` and publish their updates; returns how many, once the broker has
        them all (the source loop does not wait: see ``publish_window``)."""
        pending = self._send(ticks)
        if pending is None:
            return 0
        await self._confirm(*pending)
        return pending[1]

    def _send(self, ticks: Sequence[Tick]) -> tuple[Awaitable[object], int] | None:
        """Fold ``ticks`` and hand their updates to the broker in order (without waiting
        for it): what to await for them and how many, or None if none was accepted."""
        items = self.apply(ticks)
        self.batches += 1
        if self.log_batches:
            symbols = sorted({t.symbol for t in ticks})
            shown = ", ".join(symbols[:5]) + (f" +{len(symbols) - 5}" if len(symbols) > 5 else "")
            log.info(
                "batch %d: %d ticks, %d updates published (%s) from %s",
                self.batches,
                len(ticks),
                len(items),
                shown or "-",
                self.source.name,
            )
        if not items:
            return None
        return self.broker.enqueue_many(items), len(items)

    async def _confirm(self, sent: Awaitable[object], count: int) -> None:
        await sent
        self.published += count
        self.last_publish_at = time.time()

    # -- control: forced updates ------------------------------------------------------------

    async def force_update(self, symbols: Sequence[str]) -> int:
        """Fetch ``symbols`` from the source now and publish them; returns updates sent.

        Symbols the source has nothing new for get their latest quote republished (with
        the next seq), so subscribers see an update either way. Unknown symbols are ignored.
        """
        known = list(dict.fromkeys(s for s in symbols if s in self.quotes))
        self.forced_updates += 1
        if not known:
            return 0
        try:
            ticks = await self.source.refresh(known)
        except Exception:
            log.exception("forced refresh of %d symbols failed", len(known))
            ticks = []
        sent = await self.publish(ticks) if ticks else 0
        fresh = {t.symbol for t in ticks}
        stamp = utc_timestamp()
        quotes = [self.quotes[s] for s in known if s not in fresh]
        items = [(q.channel, q.body(stamp)) for q in quotes]
        if items:
            await self.broker.publish_many(items)
            self.published += len(items)
        log.info("forced update of %d symbols: %d updates", len(known), sent + len(items))
        return sent + len(items)

    # -- control: one-off quotes ------------------------------------------------------------

    def _identity(self) -> dict[str, object]:
        return {"pid": os.getpid(), "host": socket.gethostname(), "source": self.source.name}

    async def apply_quotes(self, request: ApplyQuotes) -> QuotesAck:
        """Apply one-off quotes as ticks, in order, then persist at once; returns the ack.

        Each quote is published with its channel's next seq, folded into the day's high,
        low and volume and into the bars like any tick. Quotes for symbols this feed does
        not carry are rejected with the reason; a request past its ``expires_at`` is
        refused whole (``error``), unapplied. ``persisted`` says whether the write that
        followed succeeded (on failure the quotes stay dirty and the next round retries).
        """
        self.quote_requests += 1
        ack = QuotesAck(request.request_id, feed=self._identity())
        if request.expires_at is not None and time.time() > request.expires_at:
            # The sender has given up and told its user nothing was applied: keep it so.
            self.control_errors += 1
            ack.error = "the request expired before the feed received it; nothing applied"
            log.warning("one-off quotes request %s expired unapplied", request.request_id)
            return ack
        ticks: list[Tick] = []
        for update in request.quotes:
            quote = self.quotes.get(update.symbol)
            if quote is None:
                ack.rejected.append(Rejection(update.symbol, "not a symbol this feed quotes"))
            elif update.ts and update.ts < quote.ts:
                # Never a price going backwards in time: the feed has a newer one.
                ack.rejected.append(
                    Rejection(
                        update.symbol,
                        f"observed at {utc_timestamp(update.ts)}, before the feed's latest "
                        f"quote of it ({utc_timestamp(quote.ts)})",
                    )
                )
            else:
                ticks.append(update.tick())
        items = self.apply(ticks)
        self.source.adopt(ticks)
        if items:
            publications = await self.broker.publish_many(items)
            self.published += len(items)
            self.last_publish_at = time.time()
            self.applied_quotes += len(items)
            for tick, pub in zip(ticks, publications, strict=True):
                ack.applied.append({"symbol": tick.symbol, "price": tick.price, "seq": pub.seq})
        failures = self.persist_failures
        if self.on_persist is not None:
            await self.persist()
        ack.persisted = self.on_persist is not None and self.persist_failures == failures
        log.info(
            "applied %d one-off quotes (%d rejected) for request %s",
            len(ack.applied),
            len(ack.rejected),
            request.request_id,
        )
        return ack

    async def execute_control(self, frame: bytes) -> bytes | None:
        """Act on a control frame and return the acknowledgement body, if the message has
        one (``apply_quotes``); a forced update is only started. For callers that carry
        the reply themselves (the server's local control socket). Never raises for a bad
        frame: it is counted, logged, and acknowledged with the error when it has a
        request id.
        """
        try:
            kind = message_type(frame)
            if kind == APPLY_QUOTES:
                return (await self.apply_quotes(parse_apply_quotes(frame))).body()
        except ControlMessageError as exc:
            refusal = self._refusal(exc)
            return None if refusal is None else refusal.body()
        self.handle_control(frame)
        return None

    def _ignore(self, exc: ValueError) -> None:
        """Count and log a control frame that cannot be acted on."""
        self.control_errors += 1
        log.warning("ignored control message: %s", exc)

    def _refusal(self, exc: ControlMessageError) -> QuotesAck | None:
        """Ignore a bad frame; the ack carrying the error when it names a request id."""
        self._ignore(exc)
        if exc.request_id is None:
            return None
        return QuotesAck(exc.request_id, error=str(exc), feed=self._identity())

    async def _apply_and_reply(self, frame: bytes) -> None:
        try:
            ack = await self.apply_quotes(parse_apply_quotes(frame))
        except ControlMessageError as exc:
            refusal = self._refusal(exc)
            if refusal is None:
                return
            ack = refusal
        try:
            await self.broker.publish(reply_channel(ack.request_id), ack.body())
        except Exception:
            log.exception("acknowledging request %s failed", ack.request_id)

    def handle_control(self, frame: bytes) -> None:
        """Act on a control frame from the broker (called from its delivery handler).

        ``apply_quotes`` is applied and acknowledged on the request's reply channel;
        ``force_price_update`` fetches now. Anything else is counted and logged.
        """
        try:
            kind = message_type(frame)
        except ControlMessageError as exc:
            self._ignore(exc)
            return
        work: Awaitable[object]
        if kind == APPLY_QUOTES:
            work = self._apply_and_reply(frame)
        else:
            try:
                symbols = parse_control(frame)
            except ValueError as exc:
                self._ignore(exc)
                return
            work = self.force_update(symbols)
        task = asyncio.ensure_future(work)
        # Keep a reference until done: the loop holds tasks only weakly.
        self._control_tasks.add(task)
        task.add_done_callback(self._control_tasks.discard)

    # -- running ----------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Start consuming the source (and persisting) in background tasks.

        Returns the consuming task, which finishes when the source ends or on :meth:`stop`.
        """
        if self._task is not None:
            return self._task
        self.running = True
        self.started_at = time.time()
        self._task = asyncio.ensure_future(self._run())
        if self.on_persist is not None or self.on_bars is not None:
            self._stopping = asyncio.Event()
            self._persist_task = asyncio.ensure_future(self._persist_loop(self._stopping))
        return self._task

    async def run(self) -> None:
        """Run in the foreground until cancelled; persists what is left on the way out."""
        task = self.start()
        try:
            await task
        finally:
            await self.stop()

    async def _run(self) -> None:
        # Up to ``publish_window`` batches handed to the broker and not yet confirmed: the
        # feed folds the next batch while Redis stores the last (their order was fixed
        # when they were handed over). Measured by benchmarks/ingest.py.
        in_flight: deque[tuple[asyncio.Future[object], int]] = deque()
        try:
            async for batch in self.source.ticks():
                try:
                    pending = self._send(batch)
                    if pending is not None:
                        in_flight.append((asyncio.ensure_future(pending[0]), pending[1]))
                except Exception:  # a broker hiccup must not stop the feed
                    log.exception("publishing a batch failed")
                while len(in_flight) > self.publish_window:
                    await self._settle(*in_flight.popleft())
        finally:
            self.running = False
            await self._settle_all(in_flight)

    async def _settle(self, sent: asyncio.Future[object], count: int) -> None:
        try:
            await self._confirm(sent, count)
        except Exception:  # a broker hiccup must not stop the feed
            log.exception("publishing a batch failed")

    async def _settle_all(self, in_flight: deque[tuple[asyncio.Future[object], int]]) -> None:
        """Wait (bounded) for the batches still in flight when the source ended or the
        feed was stopped; those the broker has not confirmed by then are abandoned."""
        if not in_flight:
            return
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(
                asyncio.gather(*(self._settle(*item) for item in in_flight)),
                self.settle_timeout,
            )
        for sent, _ in in_flight:
            if not sent.done():
                sent.cancel()

    async def stop(self) -> None:
        """Stop the source, then flush dirty quotes once more."""
        self.running = False
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._persist_task is not None:
            # Never cancelled mid-write: a write cut off in our task may still finish in
            # its database thread, uncounted, and its quotes would no longer be dirty.
            if self._stopping is not None:
                self._stopping.set()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._persist_task
        self._task = self._persist_task = None
        for control in list(self._control_tasks):
            control.cancel()
        await self.persist()
        if self.bars is not None:
            # Partial bars too: persistence merges them with whatever a later run adds.
            self._hold_bars(self.bars.drain())
        await self.persist_bars()

    async def _persist_loop(self, stopping: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.persist_interval)
            if stopping.is_set():
                return  # stop() writes what is left
            await self.persist()
            if self.bars is not None:
                self._hold_bars(self.bars.flush(time.time()))
            await self.persist_bars()

    def _hold_bars(self, bars: list[Bar]) -> None:
        if bars and not self._pending_bars:
            self._bars_waiting_since = time.time()
        self._pending_bars.extend(bars)

    def write_lag(self, now: float | None = None) -> float:
        """How far the database is behind the feed, in seconds: the age of the oldest
        change not known to be written — a quote folded since the last quote write
        began, or the oldest closed bar waiting. 0 when everything is written (and
        without persistence callbacks)."""
        t = time.time() if now is None else now
        lag = 0.0
        if self.on_persist is not None and self.last_publish_at is not None:
            written = self.quotes_written_at or self.started_at or t
            if self.last_publish_at > written:
                lag = t - written
        if self._pending_bars and self._bars_waiting_since is not None:
            lag = max(lag, t - self._bars_waiting_since)
        return max(lag, 0.0)

    async def persist_bars(self) -> int:
        """Hand closed bars to ``on_bars`` in one batch; on failure keep them for later.

        At most ``max_pending_bars`` wait, failing database or slow one: past that the
        oldest are dropped and counted (``bars_dropped``), so a database slower than the
        bars arrive cannot grow the feed's memory without bound.
        """
        if self.on_bars is None or not self._pending_bars:
            return 0
        self._drop_overflow()
        bars, self._pending_bars = self._pending_bars, []
        since, self._bars_waiting_since = self._bars_waiting_since, None
        try:
            await self.on_bars(bars)
        except Exception:
            self.bar_failures += 1
            log.exception("writing %d bars failed; will retry", len(bars))
            if since is not None:
                self._bars_waiting_since = since
            self._pending_bars = bars + self._pending_bars
            self._drop_overflow()
            return 0
        self.bars_written += len(bars)
        return len(bars)

    def _drop_overflow(self) -> None:
        overflow = len(self._pending_bars) - self.max_pending_bars
        if overflow > 0:
            # A database down (or slow) for hours: keep the newest bars, count what is lost.
            del self._pending_bars[:overflow]
            self.bars_dropped += overflow
            log.warning(
                "%d closed bars dropped: more than %d waiting", overflow, self.max_pending_bars
            )

    async def persist(self) -> int:
        """Hand dirty quotes to ``on_persist`` in one batch; returns how many."""
        if self.on_persist is None:
            return 0
        began = time.time()
        dirty = [q for q in self.quotes.values() if q.dirty]
        if not dirty:
            self.quotes_written_at = began
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
        self.quotes_written_at = began
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
            "bars_written": self.bars_written,
            "bars_pending": len(self._pending_bars),
            "write_lag": round(self.write_lag(), 3),
            "bar_failures": self.bar_failures,
            "bars_dropped": self.bars_dropped,
            "forced_updates": self.forced_updates,
            "quote_requests": self.quote_requests,
            "applied_quotes": self.applied_quotes,
            "control_errors": self.control_errors,
            "last_publish_at": self.last_publish_at,
            "source": self.source.status(),
        }
