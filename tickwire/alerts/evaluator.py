"""The one alert evaluator of a cluster: every rule, judged on every tick, in the feed.

It runs where the prices come from — the embedded server's in-process feed, or the
``tickwire feed`` process beside Redis — and nowhere else, so each tick is judged once in
the whole cluster and each fire written once (docs/alerts.md, "Evaluation on the server").

* Ticks: a :data:`~tickwire.stream.feeds.service.QuoteObserver` on the
  :class:`FeedService`. An asset with rules becomes an ``Observation.asset``; each
  portfolio with rules holding the symbol (or reading it as an FX leg) is revalued
  (:mod:`.books`) and becomes an ``Observation.portfolio``. Decisions are immediate.
* Durability: fires, and every change of a rule's discrete state (armed lines, seen,
  pending, last fire, one-shot), go to the ordered :class:`~.writer.StateWriter` at once;
  windows and last values are saved every ``TICKWIRE_ALERT_STATE_SAVE_SECONDS`` and at
  stop. A restart imports the saved states, so nothing fires twice or is missed.
* Rule changes: ``control.alerts`` (``rule_changed``) makes it read the rule back; a
  reconcile pass every 30 s compares every rule's ``updated_at`` with what is loaded, so
  a lost message cannot leave a stale rule. ``control.portfolio.<id>`` reloads a book.

It never raises into the feed: a bad row is logged once and skipped, a database outage is
retried, logged and shown in :meth:`AlertEvaluator.status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from tickwire.portfolios.services import Book, load_book
from tickwire.stream import control
from tickwire.stream.alerts import AlertEngine, Fire, Observation, RuleError, RuleEvaluator
from tickwire.stream.backoff import Backoff
from tickwire.stream.brokers import Broker
from tickwire.stream.feeds import FeedService, Quote
from tickwire.stream.node import Node

from .books import Books
from .listening import BrokerChannels, ControlChannels, NodeChannels
from .models import AlertRule, AlertRuleState
from .rules import RuleMeta, engine_rule, rule_meta
from .writer import CommittedCallback, StateWriter

__all__ = ["RECONCILE_SECONDS", "AlertEvaluator", "broker_evaluator", "node_evaluator"]

log = logging.getLogger("tickwire.alerts")

#: How often every rule's ``updated_at`` is compared with what is loaded.
RECONCILE_SECONDS = 30.0

_Row = tuple[AlertRule, dict[str, Any] | None]


def _discrete(evaluator: RuleEvaluator) -> tuple[Any, ...]:
    # The part of export_state() that decides fires, without the last value and window
    # (those change on nearly every tick and are saved on the timer).
    return (
        tuple(evaluator.armed),
        evaluator.seen,
        evaluator.pending,
        evaluator.fired_once,
        evaluator.last_fired,
    )


def _fresh_connection() -> None:
    # The feed process's database threads live for ever: a connection broken by a
    # database restart would otherwise fail every later call.
    if connection.connection is not None and not connection.is_usable():
        connection.close()


def _read_all() -> list[_Row]:
    _fresh_connection()
    states = dict(AlertRuleState.objects.values_list("rule_id", "state"))
    rows = AlertRule.objects.select_related("asset").order_by("id")
    return [(row, states.get(row.pk)) for row in rows]


def _read_rule(rule_id: int) -> _Row | None:
    _fresh_connection()
    row = AlertRule.objects.select_related("asset").filter(pk=rule_id).first()
    if row is None:
        return None
    state = AlertRuleState.objects.filter(rule_id=rule_id).values_list("state", flat=True)
    return row, state.first()


def _versions() -> dict[int, datetime]:
    _fresh_connection()
    return dict(AlertRule.objects.values_list("pk", "updated_at"))


def _load_book(portfolio_id: int) -> Book | None:
    _fresh_connection()
    return load_book(portfolio_id)


class AlertEvaluator:
    """Evaluates every alert rule on ``feed``'s ticks and writes fires to the outbox.

    ``channels`` subscribes it to control channels; the frames of those channels must
    be handed to :meth:`on_frame`. ``on_committed`` is called on the event loop with the
    events of each write (a delivery dispatcher wakes on it).
    """

    def __init__(
        self,
        feed: FeedService,
        channels: ControlChannels,
        *,
        on_committed: CommittedCallback | None = None,
        save_seconds: float = 5.0,
        reconcile_seconds: float = RECONCILE_SECONDS,
        backoff: Backoff | None = None,
    ) -> None:
        self.feed = feed
        self.channels = channels
        self.save_seconds = save_seconds
        self.reconcile_seconds = reconcile_seconds
        self.backoff = backoff or Backoff(initial=0.5, maximum=30.0)
        self.engine = AlertEngine()
        self.books = Books()
        self.writer = StateWriter(self._export, on_committed=on_committed, backoff=self.backoff)
        self.fires = 0
        self.observations = 0
        self.loaded = False
        self.running = False
        #: The last database error of loading or reading rules (writes: the writer's).
        self.read_error: str | None = None
        self._meta: dict[str, RuleMeta] = {}
        #: Row id → ``updated_at`` of every row read, refused ones included.
        self._versions: dict[int, datetime] = {}
        #: Row id → ``updated_at`` of rows the engine refused (logged once per version).
        self._refused: dict[int, datetime] = {}
        self._by_symbol: dict[str, set[str]] = {}
        self._by_portfolio: dict[int, set[str]] = {}
        self._discrete: dict[str, tuple[Any, ...]] = {}
        #: Rules observed since the last timed save.
        self._touched: set[str] = set()
        self._changes: dict[int, None] = {}
        self._reloads: set[int] = set()
        self._work = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen to ``control.alerts``, load every rule with its saved state (retrying in
        the background while the database is down), then watch the feed."""
        if self.running:
            return
        self.running = True
        await self.channels.listen(control.ALERTS_CONTROL_CHANNEL)
        self.writer.start()
        if not await self._load():
            self._spawn(self._load_until_loaded())
        self._spawn(self._work_loop())
        self._spawn(self._save_loop())
        self._spawn(self._reconcile_loop())

    async def stop(self) -> None:
        """Stop watching, then write the fires and every state not saved yet."""
        if not self.running:
            return
        self.running = False
        with contextlib.suppress(ValueError):
            self.feed.observers.remove(self.observe)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.channels.close()
        self._mark_touched()
        await self.writer.close()

    def _spawn(self, coro: Any) -> None:
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(coro, context=contextvars.Context()))

    async def _load(self) -> bool:
        try:
            rows = await sync_to_async(_read_all)()
        except Exception as exc:
            self.read_error = f"{type(exc).__name__}: {exc}".strip()
            log.warning("loading alert rules failed (will retry): %s", self.read_error)
            return False
        self.read_error = None
        for row, state in rows:
            self._apply(row.pk, row, state)
        self.loaded = True
        try:
            await self._sync_books()
        except Exception as exc:
            # The asset rules run; the work loop loads the missing books when it can.
            self.read_error = f"{type(exc).__name__}: {exc}".strip()
            log.warning("loading portfolios of alert rules failed (will retry): %s", exc)
            self._work.set()
        self.feed.observers.append(self.observe)
        log.info(
            "alert evaluator watching %d rules (%d refused, %d portfolios)",
            len(self.engine),
            len(self._refused),
            len(self.books),
        )
        return True

    async def _load_until_loaded(self) -> None:
        retries = self.backoff.retries()
        while True:
            await asyncio.sleep(retries.next_delay())
            if await self._load():
                self._work.set()
                return

    # -- rules ----------------------------------------------------------------------------

    def _apply(self, rule_id: int, row: AlertRule | None, state: dict[str, Any] | None) -> None:
        """Make the engine hold ``row`` (None: the rule is gone)."""
        key = str(rule_id)
        if row is None:
            self._forget(key)
            self._versions.pop(rule_id, None)
            self._refused.pop(rule_id, None)
            return
        self._versions[rule_id] = row.updated_at
        try:
            rule = engine_rule(row)
        except Exception as exc:  # RuleError, or JSON no validation ever saw
            if self._refused.get(rule_id) != row.updated_at:
                log.warning("alert rule %s is skipped: %s", rule_id, exc)
            self._refused[rule_id] = row.updated_at
            self._forget(key)
            return
        self._refused.pop(rule_id, None)
        known = key in self.engine
        if known:
            self._unindex(key)
        self.engine.set_rule(rule)
        evaluator = self.engine.evaluator(key)
        if not known and state is not None:
            try:
                evaluator.import_state(state)
            except RuleError as exc:
                log.warning("alert rule %s starts afresh: its saved %s", rule_id, exc)
        self._meta[key] = rule_meta(row)
        self._discrete[key] = _discrete(evaluator)
        target = rule.target
        if target.kind == "asset":
            assert isinstance(target.key, str)
            self._by_symbol.setdefault(target.key, set()).add(key)
        else:
            assert isinstance(target.key, int)
            self._by_portfolio.setdefault(target.key, set()).add(key)

    def _forget(self, key: str) -> None:
        if key in self.engine:
            self._unindex(key)
            self.engine.remove_rule(key)
        self._meta.pop(key, None)
        self._discrete.pop(key, None)
        self._touched.discard(key)

    def _unindex(self, key: str) -> None:
        target = self.engine.rule(key).target
        index: dict[Any, set[str]] = (
            self._by_symbol if target.kind == "asset" else self._by_portfolio
        )
        keys = index.get(target.key)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del index[target.key]

    def rule_changed(self, rule_id: int) -> None:
        """Read ``rule_id`` back from the database soon (created, changed or deleted)."""
        self._changes[rule_id] = None
        self._work.set()

    def on_frame(self, frame: bytes) -> None:
        """A frame of a control channel: a rule change, or a portfolio's positions."""
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return
        if not isinstance(message, dict):
            return
        kind, data = message.get("type"), message.get("data")
        if not isinstance(data, dict):
            return
        if kind == control.ALERTS_CONTROL and data.get("event") == control.ALERT_RULE_CHANGED:
            rule_id = data.get("rule_id")
            if isinstance(rule_id, int) and not isinstance(rule_id, bool):
                self.rule_changed(rule_id)
        elif kind == control.PORTFOLIO_CONTROL:
            portfolio_id = data.get("portfolio_id")
            if isinstance(portfolio_id, int) and portfolio_id in self.books:
                self._reloads.add(portfolio_id)
                self._work.set()

    async def _work_loop(self) -> None:
        # One worker, so changes to one rule are applied in the order they were heard.
        retries = self.backoff.retries()
        while True:
            await self._work.wait()
            self._work.clear()
            if not self.loaded:
                continue
            try:
                while self._changes or self._reloads:
                    if self._changes:
                        rule_id = next(iter(self._changes))
                        found = await sync_to_async(_read_rule)(rule_id)
                        del self._changes[rule_id]
                        self._apply(rule_id, *(found or (None, None)))
                    if self._reloads:
                        portfolio_id = min(self._reloads)
                        book = await sync_to_async(_load_book)(portfolio_id)
                        self._reloads.discard(portfolio_id)
                        # Replaced, not dropped first: its ticks are judged meanwhile.
                        if book is None:
                            self.books.drop(portfolio_id)
                        elif portfolio_id in self._by_portfolio:
                            self.books.put(book)
                    await self._sync_books()
                self.read_error = None
                retries.reset()
            except Exception as exc:
                # The database is down: what was asked for stays asked for.
                self.read_error = f"{type(exc).__name__}: {exc}".strip()
                log.warning("reading alert rules failed (will retry): %s", self.read_error)
                await asyncio.sleep(retries.next_delay())
                self._work.set()

    async def _sync_books(self) -> None:
        """Hold the books of exactly the portfolios with rules (and listen to them)."""
        wanted = set(self._by_portfolio)
        for portfolio_id in self.books.ids():
            if portfolio_id not in wanted:
                self.books.drop(portfolio_id)
                await self.channels.unlisten(control.portfolio_control_channel(portfolio_id))
        for portfolio_id in sorted(wanted):
            if portfolio_id in self.books:
                continue
            await self.channels.listen(control.portfolio_control_channel(portfolio_id))
            book = await sync_to_async(_load_book)(portfolio_id)
            if book is not None:
                self.books.put(book)

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.reconcile_seconds)
            await self.reconcile()

    async def reconcile(self) -> int:
        """Queue every rule whose ``updated_at`` differs from what is loaded, and every
        rule loaded but gone; returns how many."""
        if not self.loaded:
            return 0
        try:
            versions = await sync_to_async(_versions)()
        except Exception as exc:
            self.read_error = f"{type(exc).__name__}: {exc}".strip()
            log.warning("reconciling alert rules failed: %s", self.read_error)
            return 0
        stale = [pk for pk, at in versions.items() if self._versions.get(pk) != at]
        stale += [pk for pk in self._versions if pk not in versions]
        for rule_id in stale:
            self.rule_changed(rule_id)
        if stale:
            log.info("reconcile: %d alert rules out of date", len(stale))
        return len(stale)

    # -- ticks ----------------------------------------------------------------------------

    def observe(self, quote: Quote) -> None:
        """The feed accepted a tick (a :data:`QuoteObserver`)."""
        symbol = quote.symbol
        keys = self._by_symbol.get(symbol)
        if keys:
            obs = Observation.asset(
                symbol, quote.price, quote.ts, previous_close=quote.previous_close or None
            )
            self._judge(obs, keys)
        readers = self.books.readers(symbol)
        if not readers:  # most ticks: no watched portfolio holds the symbol
            return
        for portfolio_id in sorted(readers):
            keys = self._by_portfolio.get(portfolio_id)
            if not keys:
                continue
            obs_or_none = self.books.observation(portfolio_id, self.feed.quotes, quote.ts)
            if obs_or_none is not None:
                self._judge(obs_or_none, keys)

    def _judge(self, obs: Observation, keys: Iterable[str]) -> None:
        self.observations += 1
        fires: list[Fire] = self.engine.observe(obs)
        changed = []
        for key in keys:
            now = _discrete(self.engine.evaluator(key))
            if now != self._discrete.get(key):
                self._discrete[key] = now
                changed.append(key)
            self._touched.add(key)
        if fires or changed:
            self.fires += len(fires)
            self.writer.add(((self._meta[f.rule_id], f) for f in fires), changed)

    # -- saving ---------------------------------------------------------------------------

    def _export(self, keys: Iterable[str]) -> dict[int, dict[str, Any]]:
        return {
            int(key): self.engine.evaluator(key).export_state()
            for key in keys
            if key in self.engine
        }

    def _mark_touched(self) -> None:
        touched, self._touched = self._touched, set()
        self.writer.add((), touched)

    async def _save_loop(self) -> None:
        while True:
            await asyncio.sleep(self.save_seconds)
            self._mark_touched()

    # -- status ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What ``/realtime/status/`` shows under ``alerts``."""
        writer = self.writer
        error = writer.last_error if writer.failing else None
        return {
            "running": self.running,
            "loaded": self.loaded,
            "rules": len(self.engine),
            "rules_refused": len(self._refused),
            "portfolios": len(self.books),
            "observations": self.observations,
            "fires": self.fires,
            "events_written": writer.events_written,
            "writes_pending": writer.pending,
            "write_failures": writer.failures,
            "database_ok": not writer.failing and self.read_error is None,
            "last_save_at": writer.last_save_at,
            "last_error": error or self.read_error or writer.last_error,
        }


def node_evaluator(
    feed: FeedService, node: Node, *, on_committed: CommittedCallback | None = None
) -> AlertEvaluator:
    """The embedded server's evaluator: control channels through the runtime's node."""
    channels = NodeChannels(node)
    evaluator = AlertEvaluator(
        feed,
        channels,
        on_committed=on_committed,
        save_seconds=settings.TICKWIRE_ALERT_STATE_SAVE_SECONDS,
    )
    channels.on_frame = evaluator.on_frame
    return evaluator


def broker_evaluator(
    feed: FeedService, broker: Broker, *, on_committed: CommittedCallback | None = None
) -> AlertEvaluator:
    """The feed process's evaluator: its broker's handler must pass the frames of
    ``control.alerts`` and ``control.portfolio.*`` to :meth:`AlertEvaluator.on_frame`."""
    return AlertEvaluator(
        feed,
        BrokerChannels(broker),
        on_committed=on_committed,
        save_seconds=settings.TICKWIRE_ALERT_STATE_SAVE_SECONDS,
    )
