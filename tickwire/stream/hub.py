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
* Batching (opt-in per connection): a batching outbox is not conflated — it gets every
  update, in ``seq`` order, several per frame. The hub does not push updates to batching
  subscribers one by one: it collects a channel's updates once, and
  :meth:`Hub.flush_batches` (called every few milliseconds by the node) joins them into a
  single JSON array that the same bytes object carries to every batching subscriber.

Direct writes (the hot path): a front end that can write to a connection synchronously
registers the connection's byte-stream ``write`` with :meth:`Outbox.direct`. While such an
outbox has nothing queued, nothing held and is not closed, and its connection can take
data, :attr:`Outbox.fast` is that ``write``; :meth:`Hub.deliver` then writes the update's
WebSocket frame (built once per update, :func:`tickwire.stream.wire.text_frame`) straight
to it. Per client per update that is one attribute test, one generation compare and one
call into the transport: no Python frame, no queue, no wake-up. A connection writes at most
one frame straight through per event-loop pass (:class:`Pacer`); anything more in the same
pass waits in its outbox and goes out in one write when the next pass starts, so a burst
of updates on many symbols costs each client one system call, not one per symbol.

What this module does not do: it performs no I/O of its own and never awaits. Writers
without a direct path (the ASGI consumer) take frames with :meth:`Outbox.take` when woken.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from .protocol import CloseCode
from .wire import text_frame

__all__ = ["MAX_BATCH_BYTES", "Hub", "Outbox", "Pacer", "batch_frames", "join_batch"]

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


class _Subscribers:
    """One channel's local subscribers: per-frame ones, batching ones, and the updates
    collected for the batching ones since the last :meth:`Hub.flush_batches`."""

    __slots__ = ("batched", "each", "pending")

    def __init__(self) -> None:
        self.each: dict[Outbox, None] = {}
        self.batched: dict[Outbox, None] = {}
        self.pending: list[tuple[int, bytes]] = []

    def __len__(self) -> int:
        return len(self.each) + len(self.batched)


class Hub:
    """Channel name → local outboxes. Single-threaded: call it from the event loop only."""

    def __init__(self, pacer: Pacer | None = None) -> None:
        #: The passes of this hub's event loop, shared by every direct writer on it.
        self.pacer = pacer or Pacer()
        self._channels: dict[str, _Subscribers] = {}
        # Channels with updates collected for batching subscribers, in arrival order.
        self._dirty: dict[str, None] = {}
        self.published = 0
        self.fanned_out = 0

    def subscribe(self, channel: str, outbox: Outbox) -> bool:
        """Add ``outbox`` to ``channel``. Returns True if it is the channel's first."""
        subs = self._channels.get(channel)
        first = subs is None
        if subs is None:
            subs = self._channels[channel] = _Subscribers()
        (subs.batched if outbox.batch else subs.each)[outbox] = None
        outbox.channels.add(channel)
        return first

    def unsubscribe(self, channel: str, outbox: Outbox) -> bool:
        """Remove ``outbox`` from ``channel``. Returns True if the channel is now empty."""
        outbox.channels.discard(channel)
        subs = self._channels.get(channel)
        if subs is None:
            return False
        subs.each.pop(outbox, None)
        subs.batched.pop(outbox, None)
        if not subs.batched:
            subs.pending.clear()
        if not subs:
            del self._channels[channel]
            self._dirty.pop(channel, None)
            return True
        return False

    def set_batch(self, outbox: Outbox, batch: bool) -> None:
        """Switch ``outbox`` to batched (several updates per frame, none conflated) or back.

        Updates collected for it but not yet flushed are queued on it first, so switching
        loses nothing and keeps the order.
        """
        if outbox.batch == batch:
            return
        for channel in outbox.channels:
            subs = self._channels.get(channel)
            if subs is None:
                continue
            if batch:
                subs.each.pop(outbox, None)
                subs.batched[outbox] = None
            else:
                subs.batched.pop(outbox, None)
                subs.each[outbox] = None
                for seq, frame in subs.pending:
                    if outbox._held and channel in outbox._held:
                        outbox.hold_frame(channel, seq, frame)
                    else:
                        outbox.push(frame)
        outbox.batch = batch

    @property
    def batches_pending(self) -> bool:
        """True when :meth:`flush_batches` has updates to send."""
        return bool(self._dirty)

    def flush_batches(self) -> list[str]:
        """Send the updates collected for batching subscribers, one array per channel.

        The array is built once per channel and the same bytes object goes to every
        batching subscriber. Returns the channels left empty by closed outboxes.
        """
        dirty = self._dirty
        if not dirty:
            return []
        self._dirty = {}
        dead: list[Outbox] = []
        for channel in dirty:
            subs = self._channels.get(channel)
            if subs is None or not subs.pending:
                continue
            pending = subs.pending
            subs.pending = []
            frame = b"[" + b",".join([f for _, f in pending]) + b"]"
            for outbox in subs.batched:
                if outbox._held and channel in outbox._held:
                    for seq, f in pending:
                        outbox.hold_frame(channel, seq, f)
                elif not outbox.push_batch(frame):
                    dead.append(outbox)
        emptied: list[str] = []
        for outbox in dead:
            emptied.extend(self.remove(outbox))
        return emptied

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
        if subs.each:
            pacer = self.pacer
            gen = pacer.gen
            wire = text_frame(frame)
            wrote = False
            for outbox in subs.each:
                # The hot path, once per client per update: a connection that can take data
                # and has not written in this pass gets the shared frame now.
                write = outbox.fast
                if write is not None and outbox.gen != gen:
                    outbox.gen = gen
                    write(wire)
                    wrote = True
                elif outbox._held and channel in outbox._held:
                    outbox.hold_frame(channel, seq, frame)
                elif not outbox.push(frame, key):
                    if dead is None:
                        dead = []
                    dead.append(outbox)
            if wrote:
                pacer.touch()
        if subs.batched:
            # Batching subscribers share one array per flush: no per-client work here.
            if not subs.pending:
                self._dirty[channel] = None
            subs.pending.append((seq, frame))
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
        return [*subs.each, *subs.batched] if subs else []

    def subscribers(self, channel: str) -> int:
        subs = self._channels.get(channel)
        return len(subs) if subs else 0

    def channels(self) -> Iterable[str]:
        return self._channels.keys()

    def channel_count(self, prefix: str = "") -> int:
        return sum(1 for ch in self._channels if ch.startswith(prefix))

    def subscription_count(self, prefix: str = "") -> int:
        return sum(len(s) for ch, s in self._channels.items() if ch.startswith(prefix))
