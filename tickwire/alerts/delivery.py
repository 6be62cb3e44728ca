"""The delivery dispatcher: works through :class:`AlertDelivery` rows until each is
delivered or has failed.

The rows are the truth. A :class:`Dispatcher` claims the pending rows that are due,
sends each once, and writes what happened on the row: ``attempts``, ``last_error`` and
``next_attempt_at`` on every attempt, ``delivered``/``failed`` when it is over. So a
dispatcher that stops or dies leaves nothing only it knows: the next one (in this process
or another) picks the rows up where they are.

* Claiming a row counts the attempt and moves its ``next_attempt_at`` past the longest an
  attempt can take (a lease): a dispatcher killed mid-send leaves a row that falls due
  again when the lease runs out. On PostgreSQL rows are claimed with ``SELECT … FOR UPDATE
  SKIP LOCKED``, so several dispatchers never send one row at once. SQLite has no row
  locks: run one dispatcher per SQLite database (the embedded server runs exactly one).
* Channels: ``websocket`` publishes a ``user_control`` frame (``event`` ``alert``) on
  ``control.user.<owner>`` through the broker, delivered once the broker took it (every
  node's :class:`~tickwire.realtime.sessions.SessionGuard` pushes it to the owner's open
  sockets); ``email`` goes through Django's email backend (:mod:`.mail`); ``webhook`` is
  a signed JSON POST (:mod:`.webhooks`).
* Retries: exponential backoff with jitter (:class:`tickwire.stream.backoff.Backoff`)
  from ``TICKWIRE_ALERT_RETRY_BASE_SECONDS``, doubling up to
  ``TICKWIRE_ALERT_RETRY_MAX_SECONDS`` (a webhook's ``Retry-After`` is honoured), for at
  most ``TICKWIRE_ALERT_RETRY_FOR_SECONDS`` after the event was written; then ``failed``.

It does not deliver exactly once: an attempt that reached the receiver but whose answer
was lost (a timeout, a crash before the row was written) is sent again, with the same
idempotency key, which is what receivers deduplicate on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from tickwire.stream import control
from tickwire.stream.backoff import Backoff
from tickwire.stream.protocol import encode_body

from . import mail, webhooks
from .models import CHANNELS, EMAIL, WEBHOOK, WEBSOCKET, AlertDelivery, AlertSettings
from .outbox import event_payload
from .webhooks import Attempt

__all__ = ["RESULTS", "Claim", "Dispatcher", "claim", "pending_count", "record"]

log = logging.getLogger("tickwire.alerts.delivery")

#: The ``result`` label of the dispatcher's counters.
DELIVERED, FAILED, RETRIED = "delivered", "failed", "retried"
RESULTS = (DELIVERED, FAILED, RETRIED)
#: Rows claimed per pass; the rest wait for the next pass (at once if the batch was full).
BATCH = 50
#: Attempts under way at most; more due rows wait for a free place.
MAX_IN_FLIGHT = 200
#: Seconds between looks for due rows when nothing wakes the dispatcher.
POLL_SECONDS = 1.0

Publish = Callable[[str, bytes], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Claim:
    """One claimed row and what sending it needs."""

    id: int
    channel: str
    owner_id: int
    destination: str
    attempt: int
    key: str
    payload: dict[str, Any]
    #: When the event was written: the retry budget counts from here.
    created_at: datetime
    #: The owner's webhook signing key now (webhooks only).
    secret: str = ""


def pending_count() -> int:
    """Deliveries not yet delivered or failed (for staff status)."""
    return AlertDelivery.objects.filter(status=AlertDelivery.PENDING).count()


def _lease() -> timedelta:
    # Longer than an attempt can take (the send's own timeout, plus the thread an email
    # send runs in), so a live dispatcher's row is never taken by another.
    return timedelta(seconds=2 * settings.TICKWIRE_ALERT_DELIVERY_TIMEOUT + 5)


def claim(limit: int = BATCH) -> list[Claim]:
    """Claim up to ``limit`` due pending rows: count the attempt and lease them."""
    now = timezone.now()
    due = AlertDelivery.objects.filter(status=AlertDelivery.PENDING, next_attempt_at__lte=now)
    # Looked for first outside a transaction: on SQLite every transaction here takes the
    # database's write lock, which a poll every second that finds nothing must not.
    if not due.exists():
        return []
    with transaction.atomic():
        rows = due.order_by("next_attempt_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        picked = list(rows.select_related("event")[:limit])
        if not picked:
            return []
        ids = [row.pk for row in picked]
        AlertDelivery.objects.filter(pk__in=ids).update(
            attempts=F("attempts") + 1, next_attempt_at=now + _lease(), updated_at=now
        )
        owners = {row.event.owner_id for row in picked if row.channel == WEBHOOK}
        secrets = dict(
            AlertSettings.objects.filter(user_id__in=owners).values_list(
                "user_id", "webhook_secret"
            )
        )
    return [
        Claim(
            id=row.pk,
            channel=row.channel,
            owner_id=row.event.owner_id,
            destination=row.destination,
            attempt=row.attempts + 1,
            key=str(row.event.key),
            payload=event_payload(row.event),
            created_at=row.event.created_at,
            secret=secrets.get(row.event.owner_id, ""),
        )
        for row in picked
    ]


def _retry_policy() -> Backoff:
    base = settings.TICKWIRE_ALERT_RETRY_BASE_SECONDS
    return Backoff(
        initial=base, maximum=max(base, settings.TICKWIRE_ALERT_RETRY_MAX_SECONDS), jitter=0.5
    )


def record(item: Claim, outcome: Attempt) -> str:
    """Write an attempt's outcome on its row; returns the counter's result
    (delivered/failed/retried)."""
    now = timezone.now()
    fields: dict[str, Any] = {"last_error": outcome.error, "updated_at": now}
    if outcome.ok:
        fields.update(status=AlertDelivery.DELIVERED, delivered_at=now, next_attempt_at=now)
        result = DELIVERED
    elif outcome.retry:
        wait = _retry_policy().delay(item.attempt)
        if outcome.retry_after is not None:
            wait = max(wait, outcome.retry_after)
        deadline = item.created_at + timedelta(seconds=settings.TICKWIRE_ALERT_RETRY_FOR_SECONDS)
        when = now + timedelta(seconds=wait)
        if when > deadline:
            fields.update(
                status=AlertDelivery.FAILED,
                next_attempt_at=now,
                last_error=(
                    f"gave up after {item.attempt} attempts "
                    f"(TICKWIRE_ALERT_RETRY_FOR_SECONDS={settings.TICKWIRE_ALERT_RETRY_FOR_SECONDS:g})"
                    f": {outcome.error}"
                ),
            )
            result = FAILED
        else:
            fields.update(next_attempt_at=when)
            result = RETRIED
    else:
        fields.update(status=AlertDelivery.FAILED, next_attempt_at=now)
        result = FAILED
    AlertDelivery.objects.filter(pk=item.id, status=AlertDelivery.PENDING).update(**fields)
    return result


class Dispatcher:
    """Sends due :class:`AlertDelivery` rows, from :meth:`start` to :meth:`stop`.

    ``publish`` is the broker's ``publish(channel, body)`` of this process: the WebSocket
    channel goes through it. :meth:`wake` (after an outbox commit) makes it look for due
    rows at once; it also looks every second, so rows written by anyone go out.
    ``counts[(channel, result)]`` counts attempts by outcome since start.
    """

    def __init__(self, publish: Publish, *, poll: float = POLL_SECONDS) -> None:
        self.publish = publish
        self.poll = poll
        self.counts: dict[tuple[str, str], int] = {(c, r): 0 for c in CHANNELS for r in RESULTS}
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._sending: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    async def status(self) -> dict[str, Any]:
        """For staff status: rows still pending (in the database, whoever wrote them) and
        this dispatcher's counts, ``{channel: {result: n}}``."""
        counts: dict[str, dict[str, int]] = {}
        for (channel, result), n in sorted(self.counts.items()):
            counts.setdefault(channel, {})[result] = n
        return {"pending": await sync_to_async(pending_count)(), "counts": counts}

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start working through the rows (in the running event loop)."""
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            self._stopping = False
            self._task = asyncio.ensure_future(self._run())

    def wake(self) -> None:
        """Look for due rows now. Cheap; callable from the loop or from another thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def stop(self, timeout: float | None = None) -> None:
        """Stop claiming, and wait (at most ``timeout`` seconds, by default the delivery
        timeout and a little) for the claim and the attempts under way; the rows of
        attempts cut short fall due again when their lease runs out."""
        bound = settings.TICKWIRE_ALERT_DELIVERY_TIMEOUT + 1 if timeout is None else timeout
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            # Not cancelled at once: a claim runs in a thread that a cancel would leave
            # running, holding the database, after the dispatcher says it stopped.
            done, _ = await asyncio.wait({task}, timeout=bound)
            if not done:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._sending:
            _, late = await asyncio.wait(set(self._sending), timeout=bound)
            for pending in late:
                pending.cancel()
            if late:
                await asyncio.wait(late)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run_once(self) -> int:
        """Claim the due rows and send them; returns how many were claimed (waits for the
        attempts to finish)."""
        claimed = await self._pass(BATCH)
        if self._sending:
            await asyncio.wait(set(self._sending))
        return claimed

    async def _pass(self, limit: int) -> int:
        claimed = await sync_to_async(claim)(limit)
        for item in claimed:
            task = asyncio.ensure_future(self._deliver(item))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return len(claimed)

    async def _run(self) -> None:
        # Attempts run as tasks of their own: a slow webhook does not hold up the rows
        # behind it (their leases keep them from being claimed twice meanwhile).
        while not self._stopping:
            self._wake.clear()
            room = MAX_IN_FLIGHT - len(self._sending)
            if room <= 0:
                await asyncio.wait(set(self._sending), return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                claimed = await self._pass(min(BATCH, room))
            except Exception:
                log.exception("claiming alert deliveries failed")
                claimed = 0
            if claimed >= min(BATCH, room) or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)

    async def _deliver(self, item: Claim) -> None:
        try:
            outcome = await self._attempt(item)
        except Exception as exc:  # a bug in one channel must not stop the others
            log.exception("alert delivery %s failed unexpectedly", item.id)
            outcome = Attempt(False, retry=True, error=f"{type(exc).__name__}: {exc}"[:200])
        result = await sync_to_async(record)(item, outcome)
        self.counts[(item.channel, result)] = self.counts.get((item.channel, result), 0) + 1
        if result != DELIVERED:
            log.info("alert delivery %s (%s) %s: %s", item.id, item.channel, result, outcome.error)

    async def _attempt(self, item: Claim) -> Attempt:
        timeout = settings.TICKWIRE_ALERT_DELIVERY_TIMEOUT
        if item.channel == WEBSOCKET:
            body = encode_body(
                control.USER_CONTROL,
                {"user_id": item.owner_id, "event": control.USER_ALERT, "alert": item.payload},
            )
            try:
                await asyncio.wait_for(
                    self.publish(control.user_control_channel(item.owner_id), body), timeout
                )
            except Exception as exc:
                return Attempt(False, retry=True, error=f"broker: {type(exc).__name__}: {exc}")
            return Attempt(True)
        if item.channel == EMAIL:
            try:
                return await asyncio.wait_for(
                    asyncio.to_thread(mail.send, item.payload, item.destination, timeout=timeout),
                    timeout + 1,
                )
            except TimeoutError:
                return Attempt(False, retry=True, error=f"timed out after {timeout:g}s")
        if item.channel == WEBHOOK:
            if not item.secret:
                return Attempt(False, error="no webhook secret: see /api/alerts/settings/")
            if self._client is None:
                self._client = httpx.AsyncClient(follow_redirects=False)
            return await webhooks.post(
                self._client,
                item.destination,
                webhooks.webhook_body(item.payload),
                secret=item.secret,
                key=item.key,
                attempt=item.attempt,
                timeout=timeout,
            )
        return Attempt(False, error=f"unknown channel {item.channel!r}")
