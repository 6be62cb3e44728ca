"""The evaluator's one ordered writer: fires and rule states into the outbox.

Decisions are taken in memory at once; this writer makes them durable. Fires queue in the
order they happened, and rules whose state must be saved are marked; one task takes
everything that accumulated and writes it with :func:`tickwire.alerts.outbox.commit` —
the fires and the states exported *at that moment*, so the stored state is always the one
that decided exactly the fires stored with it. A failed write (the database down) puts
everything back in front, in order, and is retried under the shared :class:`Backoff`;
nothing is dropped while the process runs. It does not deliver anything: the callback
``on_committed`` hears of the events written.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection

from tickwire.stream.alerts import Fire
from tickwire.stream.backoff import Backoff

from . import outbox
from .models import AlertEvent
from .rules import RuleMeta

__all__ = ["CommittedCallback", "StateWriter"]

log = logging.getLogger("tickwire.alerts")

#: Called on the event loop with the events of each successful commit.
CommittedCallback = Callable[[list[AlertEvent]], None]
#: The current states of these rules (by engine id), by row id; rules gone are left out.
StateExport = Callable[[Iterable[str]], dict[int, dict[str, Any]]]


def _commit(
    fires: Sequence[tuple[RuleMeta, Fire]], states: Mapping[int, dict[str, Any]]
) -> list[AlertEvent]:
    try:
        return outbox.commit(fires, states)
    except Exception:
        # A connection broken by a database restart stays broken in this thread until
        # closed; the next attempt then opens a new one.
        with contextlib.suppress(Exception):
            connection.close()
        raise


class StateWriter:
    def __init__(
        self,
        export: StateExport,
        *,
        on_committed: CommittedCallback | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.export = export
        self.on_committed = on_committed
        self.backoff = backoff or Backoff(initial=0.5, maximum=30.0)
        self.fires: list[tuple[RuleMeta, Fire]] = []
        self.dirty: set[str] = set()
        self.commits = 0
        self.failures = 0
        self.events_written = 0
        self.last_save_at: float | None = None
        self.last_error: str | None = None
        #: The database refused the last write (reset by the next that succeeds).
        self.failing = False
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Fires and rule states not written yet (those being written included)."""
        return len(self.fires) + len(self.dirty) + self._in_flight

    def start(self) -> None:
        if self._task is None:
            # A fresh context: asgiref's thread-sensitive marker of whoever started us
            # must not reach the database calls.
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), context=contextvars.Context())

    def add(self, fires: Iterable[tuple[RuleMeta, Fire]], rule_ids: Iterable[str]) -> None:
        """Queue fires (in order) and mark rules whose state must be written."""
        self.fires.extend(fires)
        self.dirty.update(rule_ids)
        if self.fires or self.dirty:
            self._wake.set()

    async def close(self, timeout: float = 10.0) -> None:
        """Write what is pending (retrying for up to ``timeout`` seconds), then stop."""
        if self._task is None:
            return
        self._closing.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            log.error(
                "alert evaluator stopped with %d fires and %d rule states unwritten: %s",
                len(self.fires),
                len(self.dirty),
                self.last_error,
            )
        self._task = None

    async def _run(self) -> None:
        retries = self.backoff.retries()
        while True:
            if not (self.fires or self.dirty):
                if self._closing.is_set():
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            if await self._write():
                retries.reset()
                continue
            delay = retries.next_delay()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)
            if self._closing.is_set():
                # Closing: keep trying at the backoff's pace until close() gives up.
                await asyncio.sleep(min(delay, 1.0))

    async def _write(self) -> bool:
        fires, self.fires = self.fires, []
        ids, self.dirty = self.dirty, set()
        states = self.export(ids)
        self._in_flight = len(fires) + len(ids)
        try:
            events = await sync_to_async(_commit)(fires, states)
        except Exception as exc:
            self.fires[:0] = fires
            self.dirty |= ids
            self.failures += 1
            self.failing = True
            self.last_error = f"{type(exc).__name__}: {exc}".strip()
            log.warning(
                "writing %d alert fires and %d rule states failed (will retry): %s",
                len(fires),
                len(states),
                self.last_error,
            )
            return False
        finally:
            self._in_flight = 0
        self.commits += 1
        self.events_written += len(events)
        self.failing = False
        self.last_save_at = time.time()
        if events and self.on_committed is not None:
            try:
                self.on_committed(events)
            except Exception:
                log.exception("the alert commit callback failed")
        return True
