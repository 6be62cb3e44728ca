"""Idle-connection policy: close a connection the client has been silent on for too long.

One timer per event loop sweeps every watched connection, instead of a timer (or a task)
per connection: with thousands of idle connections, a timer handle each is ~0.6 KiB held
for nothing. A connection is closed within ``timeout`` plus one sweep interval (at most a
second) of its last message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["IdleWatch", "Watched"]


class Watched(Protocol):
    #: time.monotonic() of the last message received from the client.
    last_received: float

    def idle_timeout(self) -> None:
        """Called once when the connection has been silent past the timeout."""


class IdleWatch:
    """Sweeps the connections of one event loop; get it with :meth:`for_loop`."""

    _by_loop: dict[asyncio.AbstractEventLoop, IdleWatch] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: Callable[[], float]) -> None:
        self.loop = loop
        self.timeout = timeout
        self.watched: dict[Watched, None] = {}
        self._handle: asyncio.TimerHandle | None = None

    @classmethod
    def for_loop(cls, timeout: Callable[[], float]) -> IdleWatch:
        """The running loop's watch; ``timeout`` returns the current limit in seconds."""
        loop = asyncio.get_running_loop()
        watch = cls._by_loop.get(loop)
        if watch is None:
            for old in [lp for lp in cls._by_loop if lp.is_closed()]:
                del cls._by_loop[old]
            watch = cls._by_loop[loop] = cls(loop, timeout)
        return watch

    def add(self, conn: Watched) -> None:
        self.watched[conn] = None
        if self._handle is None:
            self._arm()

    def discard(self, conn: Watched) -> None:
        self.watched.pop(conn, None)

    def _arm(self) -> None:
        interval = min(1.0, max(0.01, self.timeout() / 4))
        self._handle = self.loop.call_later(interval, self._sweep)

    def _sweep(self) -> None:
        self._handle = None
        deadline = time.monotonic() - self.timeout()
        expired = [c for c in self.watched if c.last_received <= deadline]
        for conn in expired:
            self.watched.pop(conn, None)
            conn.idle_timeout()
        if self.watched:
            self._arm()
