"""The broker interface: publish to a channel, deliver to subscribed nodes, keep history.

A broker assigns each publication on a channel the next sequence number (``seq``) of that
channel, stores it in a bounded history, and keeps the channel's latest publication as its
snapshot. Within one ``epoch`` of a channel, seqs are gap-free and increasing; a new epoch
(history lost, e.g. a restarted memory broker) tells resuming clients to start afresh.

Publications carry the complete wire frame: the publisher encodes the update once
(:func:`tickwire.stream.protocol.encode_body`) and the broker seals it with the seq, so no
node, and no connection, serialises it again.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "Broker",
    "BrokerUnavailable",
    "ChannelReset",
    "History",
    "Publication",
    "PublicationHandler",
    "ResetHandler",
]


class BrokerUnavailable(ConnectionError):
    """The broker cannot be reached (for example while Redis restarts)."""


class Publication(NamedTuple):
    """One sealed publication on a channel: its ``seq`` within ``epoch`` and its wire frame.

    A named tuple rather than a dataclass: brokers hold a bounded history of these per
    channel (half a million in a memory broker with 500 channels), and a tuple of strings,
    ints and bytes is one the garbage collector stops tracking, so full collections do not
    walk the history (they cost a feed ~10% with a dataclass); it is also built in a third
    of the time, once per tick.
    """

    channel: str
    seq: int
    epoch: str
    frame: bytes
    #: True when the broker delivers it late, as part of filling a gap after a reconnect:
    #: such frames are queued unconflated, so the client sees every seq.
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class ChannelReset:
    """A channel's delivered stream broke and cannot be repaired from history.

    A broker reports this when it finds, after a reconnect, that publications it missed
    are gone (history trimmed, or the broker lost its data and started a new ``epoch``).
    The node then tells the channel's subscribers ``recovered: false`` and sends them
    ``snapshot`` (the channel's latest publication, None if it has none); live delivery
    continues after ``seq``.
    """

    channel: str
    seq: int
    epoch: str
    snapshot: Publication | None
    #: ``history_lost`` (the gap is no longer in history) or ``epoch_changed``.
    reason: str


@dataclass(frozen=True, slots=True)
class History:
    """The answer to a resume request."""

    #: True when every publication after ``since`` is in ``publications``.
    recovered: bool
    publications: list[Publication]
    #: The channel's current top seq and epoch.
    seq: int
    epoch: str


PublicationHandler = Callable[[Publication], None]
ResetHandler = Callable[[ChannelReset], None]


class Broker(ABC):
    """Carries channel publications between processes. One instance per process."""

    @abstractmethod
    async def start(
        self, handler: PublicationHandler, on_reset: ResetHandler | None = None
    ) -> None:
        """Connect; from now on publications on subscribed channels go to ``handler``.

        Both callbacks are called on the event loop that called ``start``, in seq order
        per channel. ``on_reset`` hears of streams that broke beyond repair (see
        :class:`ChannelReset`); a broker that cannot lose publications never calls it.
        Raises :class:`BrokerUnavailable` if the broker cannot be reached at all.
        """

    @abstractmethod
    async def close(self) -> None:
        """Disconnect and release resources. Idempotent."""

    @abstractmethod
    async def publish(self, channel: str, body: bytes) -> Publication:
        """Seal ``body`` with the channel's next seq, store it, and deliver it everywhere.

        Works without :meth:`start` too, for a publish-only client (close it after use).
        """

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> list[Publication]:
        """Publish several channel updates; backends override this to pipeline them."""
        return [await self.publish(channel, body) for channel, body in items]

    def enqueue_many(self, items: Sequence[tuple[str, bytes]]) -> Awaitable[list[Publication]]:
        """Publish ``items`` without waiting for the broker: their order, after everything
        published or enqueued before them, is fixed when this returns; await the result for
        their publications (and for any error). A feed keeps a few batches in flight this
        way while it folds the next.

        Backends whose publishing waits on I/O override this to send at once (the memory
        broker publishes at once; Redis pipelines). This fallback only starts
        :meth:`publish_many` in a task: it keeps the order of its own calls, not against
        calls of :meth:`publish` made before the task runs.
        """
        return asyncio.ensure_future(self.publish_many(items))

    @abstractmethod
    async def subscribe(self, channel: str) -> None:
        """Deliver publications on ``channel`` to this node's handler."""

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None:
        """Stop delivering ``channel`` to this node."""

    @abstractmethod
    async def latest(self, channel: str) -> Publication | None:
        """The channel's newest publication (its snapshot), or None if it has none."""

    @abstractmethod
    async def history(self, channel: str, since: int, epoch: str | None) -> History:
        """Publications with ``seq > since``, or ``recovered=False`` if any are gone.

        ``epoch`` is the epoch the client saw; a different epoch cannot be resumed.
        """

    @abstractmethod
    async def top(self, channel: str) -> tuple[int, str]:
        """The channel's current (seq, epoch)."""

    @property
    def is_connected(self) -> bool:
        return True
