"""The client's bounded event buffer: backpressure for the reader, an end for consumers."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

__all__ = ["EventBuffer"]

T = TypeVar("T")


class _End:
    pass


class EventBuffer(Generic[T]):
    """A FIFO bounded to ``limit`` items.

    :meth:`put` waits while the buffer is full, so a consumer that falls behind stops the
    socket reader instead of growing memory; the server then conflates that client's
    updates (the newest state still arrives). :meth:`end` wakes everyone: consumers get
    the remaining items (unless discarded) and then the end, or the error it carries.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("buffer limit must be >= 1")
        self.limit = limit
        self._items: deque[T] = deque()
        self._not_empty = asyncio.Event()
        self._not_full = asyncio.Event()
        self._not_full.set()
        self._ended = False
        self._error: BaseException | None = None
        #: True while :meth:`put` is waiting for room.
        self.blocked = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def ended(self) -> bool:
        return self._ended

    async def put(self, item: T) -> None:
        """Append ``item``, waiting for room. Items put after :meth:`end` are dropped."""
        while len(self._items) >= self.limit and not self._ended:
            self._not_full.clear()
            self.blocked = True
            try:
                await self._not_full.wait()
            finally:
                self.blocked = False
        if self._ended:
            return
        self._items.append(item)
        self._not_empty.set()

    async def get(self) -> T | None:
        """The next item; None once the buffer has ended and is empty.

        Raises the error given to :meth:`end`, after the items before it.
        """
        while not self._items:
            if self._ended:
                if self._error is not None:
                    raise self._error
                return None
            self._not_empty.clear()
            await self._not_empty.wait()
        item = self._items.popleft()
        self._not_full.set()
        return item

    def end(self, error: BaseException | None = None, *, discard: bool = False) -> None:
        """No more items. With ``discard`` the pending ones are dropped too."""
        if self._ended:
            return
        self._ended = True
        self._error = error
        if discard:
            self._items.clear()
        self._not_empty.set()
        self._not_full.set()
