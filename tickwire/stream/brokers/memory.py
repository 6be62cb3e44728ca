"""In-process broker: the embedded default, and the fake that fast unit tests use."""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..protocol import seal
from .base import Broker, History, Publication, PublicationHandler, ResetHandler

__all__ = ["MemoryBroker"]


@dataclass(slots=True)
class _Channel:
    seq: int = 0
    # (publication, monotonic time published)
    history: deque[tuple[Publication, float]] = field(default_factory=deque)


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
        history = state.history
        history.append((pub, time.monotonic()))
        while len(history) > max(self.history_size, 1):
            history.popleft()
        handler = self._handler
        if handler is not None and channel in self._subscribed:
            handler(pub)
        return pub

    async def publish(self, channel: str, body: bytes) -> Publication:
        return self.publish_now(channel, body)

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> list[Publication]:
        return [self.publish_now(channel, body) for channel, body in items]

    async def subscribe(self, channel: str) -> None:
        self._subscribed.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._subscribed.discard(channel)

    async def latest(self, channel: str) -> Publication | None:
        state = self._channels.get(channel)
        if state is None or not state.history:
            return None
        return state.history[-1][0]

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
        pubs = [pub for pub, at in state.history if pub.seq > since and at >= cutoff]
        recovered = bool(pubs) and pubs[0].seq == since + 1 and pubs[-1].seq == top
        return History(recovered, pubs if recovered else [], top, self.epoch)

    @property
    def subscribed_channels(self) -> set[str]:
        return set(self._subscribed)
