"""The caller's side of a client: its events, consumed in order, and the callbacks run
for them."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from .buffer import EventBuffer
from .events import Event

__all__ = ["Consumer"]

log = logging.getLogger("tickwire.client")

E = TypeVar("E")


class Consumer:
    """A bounded buffer of events (see :class:`EventBuffer`) read by one consumer at a
    time, iterating or calling :meth:`next_event`; callbacks registered with :meth:`on`
    run for each event as it is consumed, not as it arrives, so a slow callback slows the
    reader down (and the server conflates) rather than piling events up."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._callbacks: list[tuple[type[Any], Callable[[Any], object]]] = []
        self._consuming = False
        self.buffer: EventBuffer[Event] | None = None

    def open(self) -> EventBuffer[Event]:
        """Start buffering events; returns the buffer the reader fills."""
        self.buffer = EventBuffer(self._limit)
        return self.buffer

    def on(self, kind: type[E], callback: Callable[[E], object]) -> Callable[[], None]:
        entry: tuple[type[Any], Callable[[Any], object]] = (kind, callback)
        self._callbacks.append(entry)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(entry)

        return remove

    async def events(self) -> AsyncIterator[Event]:
        buffer = self._opened()
        if self._consuming:
            raise RuntimeError("this client is already being consumed")
        self._consuming = True
        try:
            while True:
                event = await buffer.get()
                if event is None:
                    return
                await self._dispatch(event)
                yield event
        finally:
            self._consuming = False

    async def next_event(self, timeout: float | None) -> Event | None:
        event = await asyncio.wait_for(self._opened().get(), timeout)
        if event is not None:
            await self._dispatch(event)
        return event

    def _opened(self) -> EventBuffer[Event]:
        if self.buffer is None:
            raise RuntimeError("call connect() (or use 'async with') before consuming")
        return self.buffer

    async def _dispatch(self, event: Event) -> None:
        for kind, callback in list(self._callbacks):
            if isinstance(event, kind):
                try:
                    result = callback(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("tickwire client callback %r failed", callback)
