"""The coordinator between one process's hub and the broker.

It subscribes the broker to a channel when the channel's first local subscriber arrives,
and drops that subscription a short grace period after the last one leaves (so a client
that reconnects at once does not make the node resubscribe). It also orders a subscribe:
live updates that arrive while the snapshot or the missed history is being fetched are
held, then released after it, so a subscriber sees every seq once and in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from . import builders
from .brokers.base import Broker, ChannelReset, Publication
from .channels import is_stream_channel
from .hub import Hub, Outbox
from .sampling import SampledLatency
from .tasks import log_failure

__all__ = ["Node", "SubscribeResult", "conflates"]

log = logging.getLogger("tickwire.stream.node")


def conflates(channel: str) -> bool:
    """Asset and portfolio updates are state (conflatable); alerts are events (never)."""
    return is_stream_channel(channel)


@dataclass(slots=True)
class SubscribeResult:
    channel: str
    seq: int
    epoch: str
    #: None when no resume was asked for; else whether every missed update is in frames.
    recovered: bool | None
    #: The snapshot, or the missed updates in order, to send after the reply.
    frames: list[bytes] = field(default_factory=list)


class Node:
    """One process's view of the stream: a hub of local outboxes, joined to a broker."""

    def __init__(
        self,
        broker: Broker,
        hub: Hub | None = None,
        *,
        grace: float = 5.0,
        batch_interval: float = 0.02,
    ) -> None:
        self.broker = broker
        self.hub = hub or Hub()
        self.grace = grace
        #: How long updates are collected for batching clients before one frame goes out.
        self.batch_interval = batch_interval
        self._batch_timer: asyncio.TimerHandle | None = None
        self._broker_channels: set[str] = set()
        self._drops: dict[str, asyncio.TimerHandle] = {}
        # Broker subscriptions in flight: a second subscriber waits for the first one's,
        # so nobody reads a snapshot before live delivery of its channel is in place.
        self._subscribing: dict[str, asyncio.Future[None]] = {}
        # Resets that hit an outbox while it was held (mid-subscribe): sent on activate.
        self._held_resets: dict[tuple[int, str], ChannelReset] = {}
        self._started = False
        #: Channel resets reported by the broker (each told its subscribers recovered:false).
        self.resets = 0
        #: Every 32nd publication, if it has local subscribers, timed from its arrival here
        #: to its frame handed to every subscriber's socket (deferred writes included).
        self.latency = SampledLatency(every=32)

    async def start(self) -> None:
        if not self._started:
            await self.broker.start(self._on_publication, self._on_reset)
            self._started = True

    async def close(self) -> None:
        if self._batch_timer is not None:
            self._batch_timer.cancel()
            self._batch_timer = None
        for handle in self._drops.values():
            handle.cancel()
        self._drops.clear()
        self._broker_channels.clear()
        await self.broker.close()
        self._started = False

    def _on_publication(self, pub: Publication) -> None:
        if self.latency.due() and self.hub.subscribers(pub.channel):
            self._timed_delivery(pub)
        else:
            self._deliver(pub)

    def _deliver(self, pub: Publication) -> None:
        # Replayed publications fill a gap: each is queued, so the client sees every seq.
        conflate = conflates(pub.channel) and not pub.replayed
        emptied = self.hub.deliver(pub.channel, pub.seq, pub.frame, conflate)
        for channel in emptied:
            self._schedule_drop(channel)
        if self._batch_timer is None and self.hub.batches_pending:
            # One timer per node, not per client: batching clients share each flush.
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # called outside an event loop (tests): flush at once
                self._flush_batches()
                return
            self._batch_timer = loop.call_later(self.batch_interval, self._flush_batches)

    def _timed_delivery(self, pub: Publication) -> None:
        # The sampled path: the plain one between two clock reads. The second comes after
        # the loop pass in which deferred writes go out: the pacer's callback, scheduled
        # during delivery, runs before ours.
        start = time.perf_counter()
        self._deliver(pub)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._observe_since(start)
            return
        loop.call_soon(self._observe_since, start)

    def _observe_since(self, start: float) -> None:
        self.latency.observe(time.perf_counter() - start)

    def _flush_batches(self) -> None:
        self._batch_timer = None
        for channel in self.hub.flush_batches():
            self._schedule_drop(channel)

    def set_batch(self, outbox: Outbox, batch: bool) -> None:
        """Switch a connection to batched delivery or back (see :meth:`Hub.set_batch`)."""
        self.hub.set_batch(outbox, batch)

    def _on_reset(self, reset: ChannelReset) -> None:
        """Tell every local subscriber of the channel ``recovered: false``, then a snapshot."""
        self.resets += 1
        channel = reset.channel
        key = channel if conflates(channel) else None
        frames = self._reset_frames(reset)
        dead: list[Outbox] = []
        for outbox in self.hub.subscribers_of(channel):
            if outbox.is_held(channel):
                # Mid-subscribe: what it fetched may predate the reset. Drop the frames
                # held so far and send the reset when the subscribe completes.
                outbox.hold(channel)
                self._held_resets[(outbox.id, channel)] = reset
                continue
            if not self._push_reset(outbox, frames, key):
                dead.append(outbox)
        for outbox in dead:
            for emptied in self.hub.remove(outbox):
                self._schedule_drop(emptied)

    @staticmethod
    def _push_reset(outbox: Outbox, frames: list[bytes], key: str | None) -> bool:
        # The resync notice is never conflated away, and nothing queued after it may
        # conflate into a frame queued before it; the snapshot after it may be.
        if key is not None:
            outbox.barrier(key)
        ok = outbox.push(frames[0])
        for frame in frames[1:]:
            ok = outbox.push(frame, key) and ok
        return ok

    @staticmethod
    def _reset_frames(reset: ChannelReset) -> list[bytes]:
        frames = [
            builders.resync(reset.channel, seq=reset.seq, epoch=reset.epoch, reason=reset.reason)
        ]
        if reset.snapshot is not None:
            frames.append(reset.snapshot.frame)
        return frames

    async def subscribe(
        self,
        outbox: Outbox,
        channel: str,
        *,
        since: int | None = None,
        epoch: str | None = None,
    ) -> SubscribeResult:
        """Subscribe ``outbox`` and fetch its snapshot (or missed updates since ``since``).

        The channel stays *held* for this outbox: live frames are buffered until the
        caller has queued its reply and ``result.frames`` and calls :meth:`activate`.
        """
        pending = self._drops.pop(channel, None)
        if pending is not None:
            pending.cancel()
        inflight = self._subscribing.get(channel)
        if inflight is not None:
            await asyncio.shield(inflight)
        elif channel not in self._broker_channels:
            self._broker_channels.add(channel)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._subscribing[channel] = done
            try:
                await self.broker.subscribe(channel)
            except BaseException as exc:
                self._broker_channels.discard(channel)
                done.set_exception(exc if isinstance(exc, Exception) else ConnectionError())
                done.exception()  # retrieved here: waiters re-raise it themselves
                raise
            else:
                done.set_result(None)
            finally:
                self._subscribing.pop(channel, None)
        self.hub.subscribe(channel, outbox)
        outbox.hold(channel)
        try:
            if since is not None:
                hist = await self.broker.history(channel, since, epoch)
                if hist.recovered:
                    frames = [p.frame for p in hist.publications]
                    return SubscribeResult(channel, hist.seq, hist.epoch, True, frames)
                latest = await self.broker.latest(channel)
                snap = [latest.frame] if latest else []
                return SubscribeResult(channel, hist.seq, hist.epoch, False, snap)
            latest = await self.broker.latest(channel)
            if latest is not None:
                return SubscribeResult(channel, latest.seq, latest.epoch, None, [latest.frame])
            seq, ep = await self.broker.top(channel)
            return SubscribeResult(channel, seq, ep, None, [])
        except BaseException:
            self._held_resets.pop((outbox.id, channel), None)
            outbox.release(channel, 0)
            self.unsubscribe(outbox, channel)
            raise

    def activate(self, outbox: Outbox, result: SubscribeResult) -> None:
        """Release the live frames held during :meth:`subscribe` that came after it."""
        key = result.channel if conflates(result.channel) else None
        reset = self._held_resets.pop((outbox.id, result.channel), None)
        if reset is not None:
            # The stream broke while this subscribe was fetching: what it sent may be of
            # the old lineage, so say so and continue from the reset's snapshot.
            self._push_reset(outbox, self._reset_frames(reset), key)
            outbox.release(result.channel, reset.seq, key)
            return
        outbox.release(result.channel, result.seq, key)

    def unsubscribe(self, outbox: Outbox, channel: str) -> None:
        if self.hub.unsubscribe(channel, outbox):
            self._schedule_drop(channel)

    def remove(self, outbox: Outbox) -> None:
        """Drop every subscription of a connection that is going away."""
        for channel in self.hub.remove(outbox):
            self._schedule_drop(channel)

    def _schedule_drop(self, channel: str) -> None:
        if channel not in self._broker_channels or channel in self._drops:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._drops[channel] = loop.call_later(self.grace, self._drop, channel)

    def _drop(self, channel: str) -> None:
        self._drops.pop(channel, None)
        if self.hub.subscribers(channel) or channel not in self._broker_channels:
            return
        self._broker_channels.discard(channel)
        task = asyncio.ensure_future(self.broker.unsubscribe(channel))
        task.add_done_callback(_unsubscribe_failed)

    @property
    def broker_channels(self) -> frozenset[str]:
        return frozenset(self._broker_channels)


_unsubscribe_failed = log_failure("broker unsubscribe", log)
