"""In-process broker: the embedded default, and the fake that fast unit tests use."""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

from ..protocol import seal
from .base import Broker, History, Publication, PublicationHandler, ResetHandler

__all__ = ["MemoryBroker"]

#: Publication's tuple built directly (all five fields given): a third of the time of
#: calling the named tuple's __new__, once per published update.
_new = tuple.__new__


@dataclass(slots=True)
class _Channel:
    seq: int = 0
    history: deque[Publication] = field(default_factory=deque)
    #: The monotonic time each publication of ``history`` was published, in step with it.
    #: Two deques, not one of pairs: a float is not tracked by the garbage collector, a
    #: tuple is, and full collections over half a million held pairs cost a feed ~10%.
    times: deque[float] = field(default_factory=deque)


class MemoryBroker(Broker):
    """Publishes to this process only. History is bounded by length and by age.

    The epoch is fixed per broker instance: a restarted process starts a new epoch, so
    clients that reconnect after a restart are told ``recovered: false``.
    """

    def __init__(self, *, history_size: int = 1000, history_ttl: float = 3600.0) -> None:
        self.history_size = history_size
        self.history_ttl = history_ttl
        self.epoch = secrets.token_hex(4)
        self._channels: dict[str, _Channel] = {}
        self._subscribed: set[str] = set()
        self._handler: PublicationHandler | None = None

    async def start(
        self, handler: PublicationHandler, on_reset: ResetHandler | None = None
    ) -> None:
        # One process: nothing is ever missed, so on_reset is never needed.
        self._handler = handler

    async def close(self) -> None:
        self._handler = None
        self._subscribed.clear()

    def publish_now(self, channel: str, body: bytes) -> Publication:
        """Synchronous publish (the memory broker never waits)."""
        state = self._channels.get(channel)
        if state is None:
            state = self._channels[channel] = _Channel()
        state.seq += 1
        pub = Publication(channel, state.seq, self.epoch, seal(body, state.seq))
        history, times = state.history, state.times
        history.append(pub)
        times.append(time.monotonic())
        while len(history) > max(self.history_size, 1):
            history.popleft()
            times.popleft()
        handler = self._handler
        if handler is not None and channel in self._subscribed:
            handler(pub)
        return pub

    async def publish(self, channel: str, body: bytes) -> Publication:
        return self.publish_now(channel, body)

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> list[Publication]:
        return self.publish_many_now(items)

    def enqueue_many(self, items: Sequence[tuple[str, bytes]]) -> Awaitable[list[Publication]]:
        """Published at once (see :meth:`Broker.enqueue_many`)."""
        return _ready(self.publish_many_now(items))

    def publish_many_now(self, items: Sequence[tuple[str, bytes]]) -> list[Publication]:
        """:meth:`publish_now` for each item in order, with what is the same for all of
        them (the time, the history bound, the lookups) taken once: a feed publishes
        every tick through here."""
        out: list[Publication] = []
        append = out.append
        channels = self._channels
        subscribed = self._subscribed
        epoch = self.epoch
        limit = max(self.history_size, 1)
        now = time.monotonic()
        for channel, body in items:
            state = channels.get(channel)
            if state is None:
                state = channels[channel] = _Channel()
            seq = state.seq = state.seq + 1
            # protocol.seal's bytes, in one formatting operation
            pub = _new(Publication, (channel, seq, epoch, b'%b,"seq":%d}' % (body, seq), False))
            history, times = state.history, state.times
            history.append(pub)
            times.append(now)
            while len(history) > limit:
                history.popleft()
                times.popleft()
            handler = self._handler
            if handler is not None and channel in subscribed:
                handler(pub)
            append(pub)
        return out

    async def subscribe(self, channel: str) -> None:
        self._subscribed.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._subscribed.discard(channel)

    async def latest(self, channel: str) -> Publication | None:
        state = self._channels.get(channel)
        if state is None or not state.history:
            return None
        return state.history[-1]

    async def top(self, channel: str) -> tuple[int, str]:
        state = self._channels.get(channel)
        return (state.seq if state else 0), self.epoch

    async def history(self, channel: str, since: int, epoch: str | None) -> History:
        state = self._channels.get(channel)
        top = state.seq if state else 0
        if epoch is not None and epoch != self.epoch:
            return History(False, [], top, self.epoch)
        if since >= top:
            # Nothing missed (or a seq from the future, which only another epoch can have).
            return History(since == top, [], top, self.epoch)
        if state is None or self.history_size == 0:
            return History(False, [], top, self.epoch)
        cutoff = time.monotonic() - self.history_ttl
        pubs = [
            pub
            for pub, at in zip(state.history, state.times, strict=True)
            if pub.seq > since and at >= cutoff
        ]
        recovered = bool(pubs) and pubs[0].seq == since + 1 and pubs[-1].seq == top
        return History(recovered, pubs if recovered else [], top, self.epoch)

    @property
    def subscribed_channels(self) -> set[str]:
        return set(self._subscribed)


async def _ready(publications: list[Publication]) -> list[Publication]:
    return publications
