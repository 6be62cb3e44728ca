"""Local fan-out: channels to this process's subscribers, through bounded outboxes.

The hub knows only local connections (the broker knows other processes). Each update
arrives already encoded — once per channel — and the same bytes object goes to every
subscriber's :class:`~tickwire.stream.outbox.Outbox` (conflation, bounds, slow clients
and direct writes are the outbox's: see :mod:`tickwire.stream.outbox`); nothing here
serialises per client.

:meth:`Hub.deliver` is the hot path: it builds the update's WebSocket frame once and, per
per-frame subscriber, writes it straight to a connection that can take it
(:attr:`Outbox.fast <tickwire.stream.outbox.Outbox.fast>`) or queues it on the outbox.
Batching subscribers are not pushed updates one by one: the hub collects a channel's
updates once, and :meth:`Hub.flush_batches` (called every few milliseconds by the node)
joins them into a single JSON array that the same bytes object carries to every batching
subscriber.

What this module does not do: it performs no I/O of its own and never awaits.
"""

from __future__ import annotations

from collections.abc import Iterable

from .outbox import MAX_BATCH_BYTES, Outbox, Pacer, batch_frames, join_batch
from .wire import text_frame

__all__ = ["MAX_BATCH_BYTES", "Hub", "Outbox", "Pacer", "batch_frames", "join_batch"]


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
