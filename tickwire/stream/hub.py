"""Local fan-out: channels to this process's subscribers, through bounded outboxes.

The hub knows only local connections (the broker knows other processes). Each update
arrives already encoded — once per channel — and the same bytes object is queued on every
subscriber's :class:`Outbox`; nothing here serialises per client.

Outbox policy, which is what keeps one slow client from slowing anyone else:

* Conflation: an update for a channel that still has an unsent update in the outbox
  replaces it in place (the client gets the latest state, and its ``seq`` skips ahead).
  Asset and portfolio updates are state, so the newest one carries everything the
  replaced one did.
* Bound: more than ``limit`` unsent frames, or unsent frames older than ``slow_seconds``,
  closes the outbox with :attr:`CloseCode.SLOW_CONSUMER`; the connection's writer then
  closes the socket with that code.

What this module does not do: it performs no I/O and never awaits. Writers (the ASGI
consumer, a raw socket front end) take frames with :meth:`Outbox.take` when woken.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable

from .protocol import CloseCode

__all__ = ["Hub", "Outbox"]

_ids = itertools.count(1)


class Outbox:
    """The bounded queue of encoded frames waiting to be written to one connection."""

    __slots__ = (
        "_behind_since",
        "_cells",
        "_clock",
        "_held",
        "_keyed",
        "_waiter",
        "_wake",
        "batch",
        "channels",
        "close_code",
        "close_reason",
        "closed",
        "conflated",
        "delivered",
        "id",
        "limit",
        "slow_seconds",
    )

    def __init__(
        self,
        *,
        limit: int = 1000,
        slow_seconds: float = 10.0,
        wake: Callable[[Outbox], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.id = next(_ids)
        self.limit = limit
        self.slow_seconds = slow_seconds
        #: When true the writer sends all pending updates as one JSON array frame.
        self.batch = False
        self.closed = False
        self.close_code: int = CloseCode.NORMAL
        self.close_reason = ""
        #: Channels this outbox is subscribed to (kept by the hub).
        self.channels: set[str] = set()
        self.delivered = 0
        self.conflated = 0
        # Each cell is [conflation key or None, frame]; conflation rewrites cell[1] in place.
        self._cells: deque[list[bytes | str | None]] = deque()
        self._keyed: dict[str, list[bytes | str | None]] = {}
        self._held: dict[str, list[tuple[int, bytes]]] = {}
        self._behind_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._wake = wake
        self._clock = clock

    def __len__(self) -> int:
        return len(self._cells)

    def push(self, frame: bytes, key: str | None = None) -> bool:
        """Queue ``frame``; with ``key``, replace an unsent frame of the same key.

        Returns False when the outbox is (or by this push becomes) closed.
        """
        if self.closed:
            return False
        if key is not None:
            pending = self._keyed.get(key)
            if pending is not None:
                pending[1] = frame
                self.conflated += 1
                return True
        cells = self._cells
        if cells:
            if len(cells) >= self.limit:
                self.close(CloseCode.SLOW_CONSUMER, "outbox overflow: client too slow")
                return False
            if self._clock() - self._behind_since > self.slow_seconds:
                self.close(CloseCode.SLOW_CONSUMER, "client too slow to read updates")
                return False
        else:
            self._behind_since = self._clock()
        cell: list[bytes | str | None] = [key, frame]
        cells.append(cell)
        if key is not None:
            self._keyed[key] = cell
        self.delivered += 1
        if len(cells) == 1:
            self._notify()
        return True

    def barrier(self, key: str) -> None:
        """Let no later frame of ``key`` conflate into one queued before this call.

        Used before a ``resync`` notice: a newer update must not replace an older one
        that sits in front of the notice, which would put it before the notice.
        """
        self._keyed.pop(key, None)

    def take(self) -> list[bytes]:
        """Remove and return every pending frame, oldest first."""
        cells = self._cells
        if not cells:
            return []
        frames = [cell[1] for cell in cells]
        cells.clear()
        self._keyed.clear()
        return frames  # type: ignore[return-value]

    async def wait(self) -> None:
        """Return when frames are pending or the outbox is closed."""
        while not self._cells and not self.closed:
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Mark closed (first code wins) and wake the writer so it closes the socket."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.close_reason = reason
        self._notify()

    # -- resume ordering ------------------------------------------------------------------

    def hold(self, channel: str) -> None:
        """Buffer live frames of ``channel`` until :meth:`release` (used while replaying)."""
        self._held[channel] = []

    def is_held(self, channel: str) -> bool:
        return channel in self._held

    def hold_frame(self, channel: str, seq: int, frame: bytes) -> None:
        held = self._held.get(channel)
        if held is not None:
            held.append((seq, frame))

    def release(self, channel: str, after_seq: int, key: str | None = None) -> None:
        """Queue the frames held for ``channel`` with ``seq > after_seq``, in order."""
        for seq, frame in self._held.pop(channel, ()):
            if seq > after_seq:
                self.push(frame, key)

    def _notify(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._wake is not None:
            self._wake(self)


class Hub:
    """Channel name → local outboxes. Single-threaded: call it from the event loop only."""

    def __init__(self) -> None:
        self._channels: dict[str, dict[Outbox, None]] = {}
        self.published = 0
        self.fanned_out = 0

    def subscribe(self, channel: str, outbox: Outbox) -> bool:
        """Add ``outbox`` to ``channel``. Returns True if it is the channel's first."""
        subs = self._channels.get(channel)
        first = subs is None
        if subs is None:
            subs = self._channels[channel] = {}
        subs[outbox] = None
        outbox.channels.add(channel)
        return first

    def unsubscribe(self, channel: str, outbox: Outbox) -> bool:
        """Remove ``outbox`` from ``channel``. Returns True if the channel is now empty."""
        outbox.channels.discard(channel)
        subs = self._channels.get(channel)
        if subs is None:
            return False
        subs.pop(outbox, None)
        if not subs:
            del self._channels[channel]
            return True
        return False

    def remove(self, outbox: Outbox) -> list[str]:
        """Drop every subscription of ``outbox``; returns the channels left empty."""
        emptied = [ch for ch in list(outbox.channels) if self.unsubscribe(ch, outbox)]
        return emptied

    def deliver(self, channel: str, seq: int, frame: bytes, conflate: bool) -> list[str]:
        """Queue ``frame`` on every local subscriber of ``channel``.

        Outboxes that are closed (or close by this push) are removed; returns the channels
        that became empty as a result, so the caller can release broker subscriptions.
        """
        subs = self._channels.get(channel)
        if not subs:
            return []
        self.published += 1
        key = channel if conflate else None
        dead: list[Outbox] | None = None
        for outbox in subs:
            if outbox._held and channel in outbox._held:
                outbox.hold_frame(channel, seq, frame)
            elif not outbox.push(frame, key):
                if dead is None:
                    dead = []
                dead.append(outbox)
        self.fanned_out += len(subs)
        if dead is None:
            return []
        emptied: list[str] = []
        for outbox in dead:
            emptied.extend(self.remove(outbox))
        return emptied

    def subscribers_of(self, channel: str) -> list[Outbox]:
        """The outboxes subscribed to ``channel`` (a copy: safe to change the hub after)."""
        subs = self._channels.get(channel)
        return list(subs) if subs else []

    def subscribers(self, channel: str) -> int:
        subs = self._channels.get(channel)
        return len(subs) if subs else 0

    def channels(self) -> Iterable[str]:
        return self._channels.keys()

    def channel_count(self, prefix: str = "") -> int:
        return sum(1 for ch in self._channels if ch.startswith(prefix))

    def subscription_count(self, prefix: str = "") -> int:
        return sum(len(s) for ch, s in self._channels.items() if ch.startswith(prefix))
