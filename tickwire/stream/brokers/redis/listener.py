"""The Redis broker's pub/sub side: what this node subscribes to, and keeping it whole.

One pub/sub connection per node and one Redis subscription per channel, however many local
clients watch it. When the connection drops, the listener reconnects with exponential
backoff and full jitter, resubscribes every channel, and for each one fills the gap since
the last delivered seq from the channel's Stream; if history no longer covers it (or the
epoch changed) it reports a :class:`ChannelReset` instead, so nothing is lost silently.
A connection that goes quiet (no RST, no data) is found by PING and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import hiredis
from redis.exceptions import RedisError

from ...backoff import Backoff
from ..base import (
    BrokerUnavailable,
    ChannelReset,
    Publication,
    PublicationHandler,
    ResetHandler,
)
from .link import PubSubLink

__all__ = ["ChannelState", "PubSubListener"]

log = logging.getLogger("tickwire.stream.redis")

#: (top, epoch, latest, publications after ``since`` or None if not all there).
HistoryRead = tuple[int, str, Publication | None, list[Publication] | None]


@dataclass(slots=True)
class ChannelState:
    """What this node knows of one subscribed channel."""

    #: (epoch, seq) of the last publication handed to the handler; None before a baseline.
    epoch: str | None = None
    seq: int | None = None
    #: Set when the Redis subscription is confirmed on the current connection.
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)
    #: While a gap is being filled, live publications wait here (None: not recovering).
    pending: list[Publication] | None = None
    recovery: asyncio.Task[None] | None = None


class PubSubListener:
    """This node's Redis subscriptions, delivered to one handler in seq order per channel.

    ``top`` reads a channel's (seq, epoch); ``read_history`` reads (top, epoch, latest,
    the publications after a seq or None when history no longer holds them all). Both
    raise :class:`BrokerUnavailable` when Redis fails.
    Handlers are called on the event loop that started the listener.
    """

    def __init__(
        self,
        url: str,
        pub_prefix: str,
        *,
        top: Callable[[str], Awaitable[tuple[int, str]]],
        read_history: Callable[[str, int], Awaitable[HistoryRead]],
        backoff: Backoff,
        ping_interval: float,
        subscribe_timeout: float,
    ) -> None:
        self.url = url
        self.pub_prefix = pub_prefix
        self.backoff = backoff
        self.ping_interval = ping_interval
        self.subscribe_timeout = subscribe_timeout
        self._top = top
        self._read_history = read_history
        self.channels: dict[str, ChannelState] = {}
        self._handler: PublicationHandler | None = None
        self._on_reset: ResetHandler | None = None
        self._conn: PubSubLink | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closed = False
        self._last_received = 0.0
        #: How many times the pub/sub connection was re-established (for status).
        self.reconnects = 0
        #: Publications recovered from history after reconnects, and channels reset.
        self.replayed = 0
        self.resets = 0

    def start(self, handler: PublicationHandler, on_reset: ResetHandler | None = None) -> None:
        """Connect (in the background, retrying) and deliver to ``handler`` from now on."""
        self._handler = handler
        self._on_reset = on_reset
        self._closed = False
        self._reader = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        """Stop reading, drop the connection and forget every channel."""
        self._closed = True
        tasks = [self._reader] + [ch.recovery for ch in self.channels.values()]
        for task in tasks:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._reader = None
        self.channels.clear()
        self._drop_connection()
        self._handler = None

    @property
    def is_connected(self) -> bool:
        return self._connected.is_set()

    async def subscribe(self, channel: str) -> None:
        """Subscribe this node and wait until Redis confirms it.

        When this returns, every publication after the channel's current top reaches the
        handler. Raises :class:`BrokerUnavailable` if Redis does not confirm in time.
        """
        state = self.channels.get(channel)
        if state is None:
            state = self.channels[channel] = ChannelState()
            if self._conn is not None and self._connected.is_set():
                # If the link is dying, the reader resubscribes on reconnect.
                self._send("SUBSCRIBE", self.pub_prefix + channel)
        try:
            await asyncio.wait_for(state.confirmed.wait(), self.subscribe_timeout)
        except TimeoutError:
            if self.channels.get(channel) is state and state.seq is None:
                self.channels.pop(channel, None)
            raise BrokerUnavailable(
                f"Redis did not confirm the subscription to {channel!r} "
                f"within {self.subscribe_timeout:g} s"
            ) from None
        if state.seq is None:
            # The baseline: everything after the current top arrives over pub/sub now.
            seq, epoch = await self._top(channel)
            if state.seq is None:
                state.epoch, state.seq = epoch, seq

    async def unsubscribe(self, channel: str) -> None:
        state = self.channels.pop(channel, None)
        if state is None:
            return
        if state.recovery is not None and not state.recovery.done():
            state.recovery.cancel()
        if self._conn is not None and self._connected.is_set():
            self._send("UNSUBSCRIBE", self.pub_prefix + channel)

    def _send(self, *args: str) -> None:
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(OSError, RuntimeError):
                conn.send(*args)

    # -- the pub/sub connection ---------------------------------------------------------

    async def _run(self) -> None:
        retries = self.backoff.retries()
        while not self._closed:
            try:
                conn = await PubSubLink.open(self.url, 2.0)
                self._conn = conn
                names = list(self.channels)
                for name in names:
                    state = self.channels[name]
                    state.confirmed.clear()
                    if state.seq is not None:
                        # Hold live publications until the gap since state.seq is filled.
                        state.pending = []
                # Connected before sending: a subscribe() racing with this one sends its
                # own SUBSCRIBE instead of waiting for a reconnect that never comes.
                self._connected.set()
                if names:
                    self._send("SUBSCRIBE", *(self.pub_prefix + n for n in names))
                if retries.attempt:
                    self.reconnects += 1
                    log.warning("Redis pub/sub reconnected; resubscribed %d channels", len(names))
                retries.reset()
                await self._read_loop(conn)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                if self._closed:
                    break
                log.warning("Redis pub/sub connection lost: %s", exc or type(exc).__name__)
            except Exception:
                log.exception("Redis pub/sub reader failed")
            finally:
                self._connected.clear()
                self._drop_connection()
            if self._closed:
                break
            await asyncio.sleep(retries.next_delay())

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    async def _read_loop(self, conn: PubSubLink) -> None:
        loop = asyncio.get_running_loop()
        keepalive = asyncio.ensure_future(self._keepalive(conn))
        try:
            while True:
                replies = await conn.read()
                self._last_received = loop.time()
                for msg in replies:
                    if isinstance(msg, hiredis.ReplyError):
                        log.warning("Redis pub/sub error reply: %s", msg)
                        continue
                    if not isinstance(msg, list) or len(msg) < 3:
                        continue  # PONG
                    kind = msg[0]
                    if kind == b"message":
                        self._on_message(msg[1], msg[2])
                    elif kind == b"subscribe":
                        self._on_confirmed(msg[1])
        finally:
            keepalive.cancel()

    async def _keepalive(self, conn: PubSubLink) -> None:
        """PING the pub/sub connection; a silent one (no RST, no data) is dropped."""
        loop = asyncio.get_running_loop()
        self._last_received = loop.time()
        while True:
            await asyncio.sleep(self.ping_interval)
            if loop.time() - self._last_received > 3 * self.ping_interval:
                log.warning("Redis pub/sub connection silent; reconnecting")
                conn.close()
                return
            self._send("PING")

    def _on_confirmed(self, raw_name: bytes) -> None:
        name = raw_name.decode()
        if not name.startswith(self.pub_prefix):
            return
        state = self.channels.get(name[len(self.pub_prefix) :])
        if state is None:
            return
        state.confirmed.set()
        if state.pending is not None and state.recovery is None:
            state.recovery = asyncio.ensure_future(self._recover(name[len(self.pub_prefix) :]))

    def _on_message(self, raw_name: bytes, data: bytes) -> None:
        channel = raw_name.decode()[len(self.pub_prefix) :]
        state = self.channels.get(channel)
        if state is None:
            return
        epoch, seq_text, frame = data.split(b" ", 2)
        self._accept(state, Publication(channel, int(seq_text), epoch.decode(), frame))

    def _accept(self, state: ChannelState, pub: Publication) -> None:
        if state.pending is not None:
            state.pending.append(pub)
            return
        if state.seq is None:
            state.epoch, state.seq = pub.epoch, pub.seq
            self._deliver(pub)
            return
        if not state.epoch and state.seq == 0:
            # The channel did not exist at our baseline: its first epoch is no change.
            state.epoch = pub.epoch
        if pub.epoch != state.epoch:
            # Redis lost the channel (flushed or restarted) while we stayed connected:
            # this publication is the new lineage's state.
            self._reset(ChannelReset(pub.channel, pub.seq, pub.epoch, pub, "epoch_changed"))
            state.epoch, state.seq = pub.epoch, pub.seq
        elif pub.seq <= state.seq:
            return  # already delivered (replayed from history)
        elif pub.seq == state.seq + 1:
            state.seq = pub.seq
            self._deliver(pub)
        else:
            # A gap on a live connection: fill it from history before going on.
            state.pending = [pub]
            if state.recovery is None:
                state.recovery = asyncio.ensure_future(self._recover(pub.channel))

    def _deliver(self, pub: Publication) -> None:
        handler = self._handler
        if handler is not None:
            handler(pub)

    def _reset(self, reset: ChannelReset) -> None:
        self.resets += 1
        log.warning(
            "channel %s: %s; subscribers get recovered=false and a snapshot",
            reset.channel,
            reset.reason,
        )
        if self._on_reset is not None:
            self._on_reset(reset)

    async def _recover(self, channel: str) -> None:
        """Fill the gap since the last delivered seq, then release held publications."""
        retries = self.backoff.retries()
        try:
            while True:
                state = self.channels.get(channel)
                if state is None or state.seq is None:
                    return
                # Read history only once the subscription is live again, so nothing
                # published in between falls through the crack.
                await state.confirmed.wait()
                try:
                    top, epoch, latest, pubs = await self._read_history(channel, state.seq)
                    break
                except BrokerUnavailable:
                    # The pub/sub side will reconnect too; keep trying while we are wanted.
                    await asyncio.sleep(retries.next_delay())
            if not state.epoch and state.seq == 0:
                state.epoch = epoch  # the channel did not exist at our baseline
            if epoch == state.epoch and pubs is not None:
                for pub in pubs:
                    if pub.seq > state.seq:
                        state.seq = pub.seq
                        self.replayed += 1
                        self._deliver(_replayed(pub))
            elif epoch != state.epoch or top != state.seq:
                reason = "epoch_changed" if epoch != state.epoch else "history_lost"
                snapshot = _replayed(latest) if latest is not None else None
                state.epoch, state.seq = epoch, top
                self._reset(ChannelReset(channel, top, epoch, snapshot, reason))
            pending, state.pending = state.pending or [], None
            state.recovery = None
            for pub in pending:
                # Live ones that queued up meanwhile: in order, unconflated, duplicates out.
                self._accept(state, _replayed(pub))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("recovering channel %s failed", channel)
            state = self.channels.get(channel)
            if state is not None:
                state.recovery = None
                state.pending = None


def _replayed(pub: Publication) -> Publication:
    return Publication(pub.channel, pub.seq, pub.epoch, pub.frame, replayed=True)
