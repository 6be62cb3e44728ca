"""Per-connection outboxes: bounded, conflating queues of encoded frames, and direct writes.

Outbox policy, which is what keeps one slow client from slowing anyone else:

* Conflation: an update for a channel that still has an unsent update in the outbox
  replaces it in place (the client gets the latest state, and its ``seq`` skips ahead).
  Asset and portfolio updates are state, so the newest one carries everything the
  replaced one did.
* Bound: more than ``limit`` unsent frames, or unsent frames older than ``slow_seconds``,
  closes the outbox with :attr:`CloseCode.SLOW_CONSUMER`; the connection's writer then
  closes the socket with that code.
* Batching (opt-in per connection): a batching outbox is not conflated — it gets every
  update, in ``seq`` order, several per frame (:func:`batch_frames` cuts what it owes
  into arrays of bounded size).

Direct writes (the hot path): a front end that can write to a connection synchronously
registers the connection's byte-stream ``write`` with :meth:`Outbox.direct`. While such an
outbox has nothing queued, nothing held and is not closed, and its connection can take
data, :attr:`Outbox.fast` is that ``write``; :meth:`Hub.deliver
<tickwire.stream.hub.Hub.deliver>` then writes the update's WebSocket frame (built once
per update, :func:`tickwire.stream.wire.text_frame`) straight to it. Per client per update
that is one attribute test, one generation compare and one call into the transport: no
Python frame, no queue, no wake-up. A connection writes at most one frame straight through
per event-loop pass (:class:`Pacer`); anything more in the same pass waits in its outbox
and goes out in one write when the next pass starts, so a burst of updates on many
symbols costs each client one system call, not one per symbol.

What this module does not do: it performs no I/O of its own and never awaits except in
:meth:`Outbox.wait`. Writers without a direct path (the ASGI consumer) take frames with
:meth:`Outbox.take` when woken.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Protocol

from .protocol import CloseCode
from .wire import text_frame

__all__ = ["MAX_BATCH_BYTES", "Outbox", "Pacer", "batch_frames", "join_batch"]

_ids = itertools.count(1)


#: A batch frame stops growing past this many bytes; the rest goes in further frames. A
#: client far behind would otherwise get one enormous frame (and the server would copy
#: everything it owes that client into it at once).
MAX_BATCH_BYTES = 256 * 1024


def batch_frames(frames: list[bytes], limit: int = MAX_BATCH_BYTES) -> list[bytes]:
    """The queued ``frames`` of a batching client as JSON arrays of at most about ``limit``
    bytes each (a single larger update still goes whole), oldest first."""
    if len(frames) == 1:
        return [join_batch(frames)]
    out: list[bytes] = []
    group: list[bytes] = []
    size = 2  # the brackets; each frame adds its bytes and a comma
    for frame in frames:
        if group and size + len(frame) + 1 > limit:
            out.append(join_batch(group))
            group, size = [], 2
        group.append(frame)
        size += len(frame) + 1
    out.append(join_batch(group))
    return out


def join_batch(frames: list[bytes]) -> bytes:
    """One JSON array of the updates in ``frames`` (objects, or arrays from earlier batches).

    Arrays are flattened, so a client that batches always gets a flat list of messages.
    """
    if len(frames) == 1 and frames[0][:1] == b"[":
        return frames[0]
    return b"[" + b",".join(f[1:-1] if f[:1] == b"[" else f for f in frames) + b"]"


class Flushable(Protocol):
    def flush(self) -> None: ...


class Pacer:
    """Passes of the event loop, for direct writers: one per hub (the hub, and so every
    connection it writes to, lives on one event loop).

    ``gen`` counts the passes in which something was written directly. A connection that
    wrote in the current pass (its outbox's ``gen`` equals this one) queues further frames;
    the writers :meth:`defer`-ed flush them at the start of the next pass, all of a
    connection's frames in one write.
    """

    __slots__ = ("_call_soon", "dirty", "gen", "scheduled")

    def __init__(self, call_soon: Callable[[Callable[[], None]], object] | None = None) -> None:
        self.gen = 0
        self.scheduled = False
        self.dirty: list[Flushable] = []
        # Tests pass their own; otherwise the running loop's call_soon, looked up once per
        # pass (the hub may be created before its loop runs).
        self._call_soon = call_soon

    def touch(self) -> None:
        """Something was written directly in this pass: the next pass gets a new ``gen``."""
        if not self.scheduled:
            self.scheduled = True
            call_soon = self._call_soon or asyncio.get_running_loop().call_soon
            call_soon(self._next)

    def defer(self, writer: Flushable) -> None:
        """Call ``writer.flush()`` at the start of the next pass."""
        self.dirty.append(writer)
        self.touch()

    def _next(self) -> None:
        self.scheduled = False
        self.gen += 1
        dirty, self.dirty = self.dirty, []
        for writer in dirty:
            writer.flush()


class Outbox:
    """The bounded queue of encoded frames waiting to be written to one connection."""

    __slots__ = (
        "_behind_since",
        "_cells",
        "_clock",
        "_held",
        "_keyed",
        "_pacer",
        "_waiter",
        "_wake",
        "_writable",
        "_write",
        "batch",
        "channels",
        "close_code",
        "close_reason",
        "closed",
        "conflated",
        "fast",
        "gen",
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
        self.conflated = 0
        # Each cell is [conflation key or None, frame]; conflation rewrites cell[1] in place.
        # A list, not a deque: take() empties it whole, and an idle connection's empty list
        # costs 56 bytes where a deque preallocates a 600-byte block.
        self._cells: list[list[bytes | str | None]] = []
        self._keyed: dict[str, list[bytes | str | None]] = {}
        self._held: dict[str, list[tuple[int, bytes]]] = {}
        self._behind_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._wake = wake
        self._clock = clock
        # The direct path (see direct()): the connection's write, whether it can take
        # data now, and the pacer of the passes it writes in.
        self._write: Callable[[bytes], object] | None = None
        self._writable = False
        self._pacer: Pacer | None = None
        #: The connection's ``write`` while a frame may go straight to it: a direct writer
        #: is attached and can take data, nothing is queued or held, not closed. Else None.
        self.fast: Callable[[bytes], object] | None = None
        #: The :attr:`Pacer.gen` of the pass this outbox last wrote directly in.
        self.gen = -1

    def __len__(self) -> int:
        return len(self._cells)

    # -- the direct path ------------------------------------------------------------------

    def direct(
        self, write: Callable[[bytes], object], pacer: Pacer, writable: bool = True
    ) -> None:
        """Write frames straight to ``write`` (a byte stream: it gets whole WebSocket text
        frames) while the connection can take them; see :meth:`set_writable`."""
        self._write = write
        self._pacer = pacer
        self._writable = writable
        self._refresh()

    def set_writable(self, writable: bool) -> None:
        """The direct writer's connection can (or, paused or closing, cannot) take data."""
        self._writable = writable
        self._refresh()

    def _refresh(self) -> None:
        self.fast = (
            self._write
            if self._writable and not self._cells and not self._held and not self.closed
            else None
        )

    def push(self, frame: bytes, key: str | None = None) -> bool:
        """Queue ``frame``; with ``key``, replace an unsent frame of the same key.

        A batching outbox is never conflated: it gets every update. Returns False when the
        outbox is (or by this push becomes) closed.
        """
        if self.closed:
            return False
        cells = self._cells
        if not cells:
            # Nothing queued: a connection that can take data gets the frame now, unless it
            # already wrote in this pass (then it goes out with the rest at the next one).
            fast = self.fast
            if fast is not None:
                pacer = self._pacer
                assert pacer is not None
                if self.gen != pacer.gen:
                    self.gen = pacer.gen
                    fast(text_frame(frame))
                    pacer.touch()
                    return True
            self._behind_since = self._clock()
        else:
            # Checked before conflating: a client whose every update conflates is still
            # behind, and one that never reads must be closed, not kept forever.
            if self._clock() - self._behind_since > self.slow_seconds:
                self.close(CloseCode.SLOW_CONSUMER, "client too slow to read updates")
                return False
            if key is not None and not self.batch:
                pending = self._keyed.get(key)
                if pending is not None:
                    pending[1] = frame
                    self.conflated += 1
                    return True
            if len(cells) >= self.limit:
                self.close(CloseCode.SLOW_CONSUMER, "outbox overflow: client too slow")
                return False
        cell: list[bytes | str | None] = [key, frame]
        cells.append(cell)
        if key is not None:
            self._keyed[key] = cell
        if len(cells) == 1:
            self.fast = None
            self._notify()
        return True

    def barrier(self, key: str) -> None:
        """Let no later frame of ``key`` conflate into one queued before this call.

        Used before a ``resync`` notice: a newer update must not replace an older one
        that sits in front of the notice, which would put it before the notice.
        """
        self._keyed.pop(key, None)

    def push_batch(self, frame: bytes) -> bool:
        """Deliver a shared batch frame (a JSON array of updates), never conflated.

        Written at once through ``sink`` when nothing is queued before it, else queued as
        one cell (the writer flattens queued arrays into one). Returns False when closed.
        """
        return self.push(frame)

    def take(self, max_bytes: int | None = None) -> list[bytes]:
        """Remove and return the pending frames, oldest first: all of them, or with
        ``max_bytes`` as many as fit in that many bytes (always at least one)."""
        cells = self._cells
        if not cells:
            return []
        if max_bytes is not None:
            size = 0
            count = 0
            for cell in cells:
                size += len(cell[1])  # type: ignore[arg-type]
                if count and size > max_bytes:
                    break
                count += 1
            if count < len(cells):
                taken = cells[:count]
                del cells[:count]
                keyed = self._keyed
                for cell in taken:
                    key = cell[0]
                    # Sent cells can no longer absorb newer frames of their key (a barrier
                    # may have pointed the key at a later cell already: leave that one).
                    if isinstance(key, str) and keyed.get(key) is cell:
                        del keyed[key]
                return [cell[1] for cell in taken]  # type: ignore[misc]
        frames = [cell[1] for cell in cells]
        cells.clear()
        self._keyed.clear()
        self._refresh()
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
        self.fast = None
        self.close_code = code
        self.close_reason = reason
        self._notify()

    # -- resume ordering ------------------------------------------------------------------

    def hold(self, channel: str) -> None:
        """Buffer live frames of ``channel`` until :meth:`release` (used while replaying)."""
        self._held[channel] = []
        self.fast = None

    def is_held(self, channel: str) -> bool:
        return channel in self._held

    def hold_frame(self, channel: str, seq: int, frame: bytes) -> None:
        held = self._held.get(channel)
        if held is not None:
            held.append((seq, frame))

    def release(self, channel: str, after_seq: int, key: str | None = None) -> None:
        """Queue the frames held for ``channel`` with ``seq > after_seq``, in order."""
        held = self._held.pop(channel, ())
        self._refresh()
        for seq, frame in held:
            if seq > after_seq:
                self.push(frame, key)

    @property
    def pending(self) -> bool:
        """True when frames are queued (not yet written)."""
        return bool(self._cells)

    def _notify(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._wake is not None:
            self._wake(self)
