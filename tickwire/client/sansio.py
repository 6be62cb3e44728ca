"""The sans-I/O interface between the client's driver and its session.

:class:`~tickwire.client.connection.Client` (the driver) owns the socket: it connects,
reconnects, sends heartbeats and reads. A session owns the meaning: what is wanted, which
frames establish it, and what each frame received means. The driver tells the session
when a connection opens and ends, feeds it every frame, sends the :class:`Outgoing`
frames it returns, queues the events it returns for the consumer, and resolves the
callers waiting for an :class:`Answer`. A session opens no socket, starts no task, never
sleeps and never awaits — in the manner of the ``websockets`` library's ``Protocol`` — so
it is tested by feeding frames in and reading frames and events out.

Two sessions implement :class:`BaseSession`: :class:`~tickwire.client.session.Session`
for Tickwire's wire protocol, :class:`~tickwire.client.raw.RawSession` for other feeds.
"""

from __future__ import annotations

import itertools
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from tickwire.stream.messages import ServerMessage, StreamPosition

from .events import Event, TickwireError

__all__ = ["Answer", "BaseSession", "Outgoing", "decode_frame"]

log = logging.getLogger("tickwire.client")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One text frame for the driver to send."""

    text: str
    #: The request's id when a caller waits for its answer (see :meth:`Session.answers`).
    awaited: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """How an awaited request ended: its ``reply``, or the ``error`` to raise."""

    id: int
    reply: ServerMessage | None = None
    error: TickwireError | None = None


def decode_frame(frame: str | bytes) -> list[Any] | None:
    """The decoded messages of one frame (an object, or an array when batched), or None
    when it is not JSON."""
    try:
        decoded = orjson.loads(frame)
    except orjson.JSONDecodeError:
        log.warning("skipped a frame that is not JSON: %.80r", frame)
        return None
    return decoded if isinstance(decoded, list) else [decoded]


class BaseSession(ABC):
    """What the driver needs of a session: the wanted subscriptions, the frames that
    establish them, and the events made of what the server sends."""

    #: Whether the server greets with ``connection`` and answers ``ping`` messages: then
    #: the driver runs the handshake and its own heartbeat.
    handshake: ClassVar[bool]

    def __init__(self) -> None:
        #: Updates the server conflated (seq skipped within a live connection).
        self.conflated = 0
        #: Updates received twice (seq not after the last one) and dropped.
        self.duplicates = 0
        #: Frames or messages that could not be parsed (logged and skipped).
        self.malformed = 0
        #: Gaps reported (symbols whose missed updates could not be recovered).
        self.gaps = 0
        #: Streams resumed after a reconnect with every missed update replayed.
        self.recovered = 0
        #: Bumped whenever a subscription is confirmed or refused.
        self.version = 0
        #: A subscription request failed for a passing reason (the server's
        #: ``internal_error``): the driver calls :meth:`subscriptions` again after a
        #: backoff delay, which clears it.
        self.retry_due = False
        self._symbols: dict[str, None] = {}
        self._portfolios: dict[int, None] = {}
        self._awaited: dict[str | int, int] = {}
        self._ids = itertools.count(1)

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols wanted, in the order they were first asked for."""
        return tuple(self._symbols)

    @property
    def portfolios(self) -> tuple[int, ...]:
        """The portfolio ids wanted."""
        return tuple(self._portfolios)

    def next_id(self) -> int:
        """A fresh request id (ids are unique across connections)."""
        return next(self._ids)

    def wait_on(self, keys: Iterable[str | int]) -> None:
        """A caller waits for these subscriptions: a refusal of one is its to raise, not
        an event for the consumer. Undo with :meth:`stop_waiting`."""
        for key in keys:
            self._awaited[key] = self._awaited.get(key, 0) + 1

    def stop_waiting(self, keys: Iterable[str | int]) -> None:
        for key in keys:
            left = self._awaited.pop(key, 1) - 1
            if left > 0:
                self._awaited[key] = left

    @abstractmethod
    def normalize(self, symbols: tuple[str, ...]) -> list[str]:
        """The symbols as the feed spells them, without repeats. Raises ``ValueError``."""

    @abstractmethod
    def want_symbols(self, symbols: list[str]) -> None:
        """Add symbols to the subscriptions kept across connections."""

    @abstractmethod
    def drop_symbols(self, symbols: list[str]) -> list[str]:
        """Remove symbols; returns those that were subscribed."""

    @abstractmethod
    def unsubscribe(self, symbols: list[str]) -> list[Outgoing]:
        """The frames that stop the updates of ``symbols`` (already dropped)."""

    @abstractmethod
    def want_portfolio(self, portfolio_id: int) -> None:
        """Add a portfolio to the subscriptions kept across connections."""

    @abstractmethod
    def drop_portfolio(self, portfolio_id: int) -> list[Outgoing]:
        """Remove a portfolio; returns the frames that unsubscribe it (none if it was
        not subscribed)."""

    @abstractmethod
    def position(self, symbol: str) -> StreamPosition | None:
        """The last ``seq`` (and its epoch) delivered for ``symbol``, or None."""

    @abstractmethod
    def settled(self, keys: list[str] | list[int]) -> bool:
        """Whether every symbol or portfolio id in ``keys`` was confirmed or refused."""

    @abstractmethod
    def subscribe_result(self, symbols: list[str]) -> dict[str, StreamPosition]:
        """Each settled symbol's stream position. Raises :class:`RequestError` naming the
        refused ones."""

    @abstractmethod
    def portfolio_result(self, portfolio_id: int) -> None:
        """Raises :class:`RequestError` when the portfolio subscription was refused."""

    @abstractmethod
    def connected(self) -> None:
        """A connection opened: nothing is confirmed on it yet."""

    @abstractmethod
    def disconnected(self) -> None:
        """The connection ended: requests still waiting fail (see :meth:`answers`)."""

    @abstractmethod
    def subscriptions(self) -> list[Outgoing]:
        """The frames that subscribe everything wanted but neither confirmed nor asked
        for on this connection."""

    @abstractmethod
    def parse(self, frame: str | bytes) -> list[ServerMessage]:
        """The messages in one frame; what cannot be read is counted in ``malformed``."""

    @abstractmethod
    def receive(self, message: ServerMessage) -> list[Event]:
        """Take in one message; returns the events it makes for the consumer, in order."""

    @abstractmethod
    def answers(self) -> list[Answer]:
        """The awaited requests answered (or failed) since the last call."""
