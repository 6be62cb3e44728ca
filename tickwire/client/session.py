"""What a client knows of its subscriptions to a Tickwire server, kept apart from the
socket (sans-I/O, see :mod:`tickwire.client.sansio`).

:class:`Session` is the client's state machine for wire protocol v1: the caller says what
it wants (symbols, portfolios), tells it when a connection opens and ends, feeds it every
server frame, and reads back the requests to send, the events for the consumer, and the
answers to requests someone waits for. It opens no socket, starts no task and never
sleeps, so it is tested by feeding frames in and reading requests and events out.

It tracks, per symbol, the last ``seq`` delivered and its ``epoch``: a ``seq`` not after
the last one is a duplicate and is dropped; one that skips ahead within a live connection
is conflation (counted, not a gap). After a reconnect it asks the server to resume each
symbol from there; a resume answered ``recovered: false``, or a ``resync`` on a live
connection, becomes a :class:`~tickwire.client.events.Gap` and the stream goes on in the
epoch the server names. An ``alert`` message (a server-side rule of the user fired) becomes
an :class:`~tickwire.client.events.AlertFired` event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from tickwire.stream.messages import (
    Alert,
    AssetUpdate,
    Connected,
    PortfolioUpdate,
    Resync,
    ServerError,
    ServerMessage,
    StreamPosition,
    Subscribed,
    Unsubscribed,
    parse_server_message,
)
from tickwire.stream.protocol import (
    MAX_SYMBOLS_PER_REQUEST,
    ErrorCode,
    ProtocolError,
    Request,
    ServerType,
    SubscribeAssets,
    SubscribePortfolio,
    UnsubscribeAssets,
    UnsubscribePortfolio,
    encode_request,
    normalize_symbol,
)

from .events import AlertFired, ConnectionFailed, Event, Gap, RequestError
from .sansio import Answer, BaseSession, Outgoing, decode_frame

__all__ = ["Session"]

log = logging.getLogger("tickwire.client")

#: Replies that only answer a request: nothing for the consumer.
_REPLIES = frozenset({ServerType.PONG, ServerType.CONFIGURED, ServerType.AUTHENTICATED})


@dataclass(slots=True)
class _Stream:
    """What the client knows of one symbol's channel: the last seq it delivered."""

    seq: int | None = None
    epoch: str | None = None


@dataclass(slots=True)
class _Pending:
    kind: Literal["assets", "unsub_assets", "portfolio", "unsub_portfolio"]
    symbols: tuple[str, ...] = ()
    portfolio_id: int | None = None
    #: A caller waits for the answer (it is reported by :meth:`Session.answers`).
    awaited: bool = False
    confirmed: set[str] = field(default_factory=set)


class Session(BaseSession):
    """A client's subscriptions to a Tickwire server and the position of every stream.

    Requests are built with :func:`~tickwire.stream.protocol.encode_request`; frames are
    read with :mod:`tickwire.stream.messages`.
    """

    handshake = True

    def __init__(self) -> None:
        super().__init__()
        self._streams: dict[str, _Stream] = {}
        self._confirmed: dict[str, StreamPosition] = {}
        self._portfolio_confirmed: set[int] = set()
        self._rejected: dict[str | int, RequestError] = {}
        self._inflight: set[str | int] = set()
        self._pending: dict[int, _Pending] = {}
        self._answers: list[Answer] = []

    # -- what the caller wants --------------------------------------------------------------

    def normalize(self, symbols: tuple[str, ...]) -> list[str]:
        if not symbols:
            raise ValueError("name at least one symbol")
        out: dict[str, None] = {}
        for symbol in symbols:
            try:
                out[normalize_symbol(symbol)] = None
            except ProtocolError as exc:
                raise ValueError(exc.message) from None
        return list(out)

    def want_symbols(self, symbols: list[str]) -> None:
        for s in symbols:
            self._rejected.pop(s, None)
            if s not in self._symbols:
                self._symbols[s] = None
                self._streams.pop(s, None)

    def drop_symbols(self, symbols: list[str]) -> list[str]:
        gone = [s for s in symbols if s in self._symbols]
        for s in gone:
            del self._symbols[s]
            self._streams.pop(s, None)
            self._confirmed.pop(s, None)
        return gone

    def unsubscribe(self, symbols: list[str]) -> list[Outgoing]:
        rid = self.next_id()
        self._pending[rid] = _Pending("unsub_assets", awaited=True)
        return [Outgoing(_text(UnsubscribeAssets(rid, tuple(symbols))), rid)]

    def want_portfolio(self, portfolio_id: int) -> None:
        self._rejected.pop(portfolio_id, None)
        self._portfolios[portfolio_id] = None

    def drop_portfolio(self, portfolio_id: int) -> list[Outgoing]:
        if portfolio_id not in self._portfolios:
            return []
        del self._portfolios[portfolio_id]
        self._portfolio_confirmed.discard(portfolio_id)
        rid = self.next_id()
        self._pending[rid] = _Pending("unsub_portfolio", awaited=True)
        return [Outgoing(_text(UnsubscribePortfolio(rid, portfolio_id)), rid)]

    def position(self, symbol: str) -> StreamPosition | None:
        stream = self._streams.get(symbol.upper())
        if stream is None or stream.seq is None or stream.epoch is None:
            return None
        return StreamPosition(stream.seq, stream.epoch)

    def settled(self, keys: list[str] | list[int]) -> bool:
        for key in keys:
            if key in self._rejected:
                continue
            if isinstance(key, str) and key in self._confirmed:
                continue
            if isinstance(key, int) and key in self._portfolio_confirmed:
                continue
            return False
        return True

    def subscribe_result(self, symbols: list[str]) -> dict[str, StreamPosition]:
        refused = [s for s in symbols if s in self._rejected]
        if refused:
            first = self._rejected[refused[0]]
            raise RequestError(first.code, f"{first.message} (refused: {', '.join(refused)})")
        return {s: self._confirmed[s] for s in symbols}

    def portfolio_result(self, portfolio_id: int) -> None:
        error = self._rejected.get(portfolio_id)
        if error is not None:
            raise RequestError(error.code, error.message, error.request_type)

    # -- the connection ---------------------------------------------------------------------

    def connected(self) -> None:
        self._confirmed.clear()
        self._portfolio_confirmed.clear()
        self._inflight.clear()

    def disconnected(self) -> None:
        for rid, pending in self._pending.items():
            if pending.awaited:
                self._answers.append(Answer(rid, error=ConnectionFailed("connection lost")))
        self._pending.clear()

    def subscriptions(self) -> list[Outgoing]:
        """Subscribe requests for everything wanted but neither confirmed nor asked for on
        this connection, resuming each symbol from its last seq and epoch where there is
        one (one request per epoch, at most ``MAX_SYMBOLS_PER_REQUEST`` symbols each)."""
        self.retry_due = False
        out: list[Outgoing] = []
        groups: dict[str | None, list[str]] = {}
        for symbol in self._symbols:
            if symbol in self._confirmed or symbol in self._inflight:
                continue
            stream = self._streams.get(symbol)
            resume = (
                stream is not None
                and stream.seq is not None
                and stream.seq >= 0
                and stream.epoch is not None
            )
            groups.setdefault(stream.epoch if resume and stream else None, []).append(symbol)
        for epoch, symbols in groups.items():
            for i in range(0, len(symbols), MAX_SYMBOLS_PER_REQUEST):
                chunk = tuple(symbols[i : i + MAX_SYMBOLS_PER_REQUEST])
                since: dict[str, int] = {}
                if epoch is not None:
                    for s in chunk:
                        seq = self._streams[s].seq
                        assert seq is not None
                        since[s] = seq
                rid = self.next_id()
                self._pending[rid] = _Pending("assets", chunk)
                self._inflight.update(chunk)
                out.append(Outgoing(_text(SubscribeAssets(rid, chunk, since, epoch))))
        for pid in self._portfolios:
            if pid in self._portfolio_confirmed or pid in self._inflight:
                continue
            rid = self.next_id()
            self._pending[rid] = _Pending("portfolio", portfolio_id=pid)
            self._inflight.add(pid)
            out.append(Outgoing(_text(SubscribePortfolio(rid, pid))))
        return out

    # -- what the server sends --------------------------------------------------------------

    def parse(self, frame: str | bytes) -> list[ServerMessage]:
        items = decode_frame(frame)
        if items is None:
            self.malformed += 1
            return []
        out: list[ServerMessage] = []
        for item in items:
            try:
                out.append(parse_server_message(item))
            except ProtocolError as exc:
                self.malformed += 1
                log.warning("skipped a malformed server message: %s", exc.message)
        return out

    def receive(self, message: ServerMessage) -> list[Event]:
        if isinstance(message, AssetUpdate):
            if message.symbol not in self._symbols:
                return []  # unsubscribed while it was in flight
            return [message] if self._accept(message) else []
        if isinstance(message, PortfolioUpdate):
            return [message] if message.portfolio_id in self._portfolios else []
        if isinstance(message, Alert):
            # Pushed to the owner's every connection, subscribed to anything or not.
            return [AlertFired(message)]
        if isinstance(message, Subscribed):
            return self._on_subscribed(message)
        if isinstance(message, Resync):
            return [message, *self._on_resync(message)]
        if isinstance(message, ServerError):
            return [] if self._on_error(message) else [message]
        if isinstance(message, Unsubscribed) or message.type in _REPLIES:
            self._complete(message)
            return []
        if isinstance(message, Connected):
            return []
        return [message]

    def answers(self) -> list[Answer]:
        answers, self._answers = self._answers, []
        return answers

    def _accept(self, update: AssetUpdate) -> bool:
        """Track the seq of ``update``; False for a duplicate."""
        if update.seq is None:
            return True
        stream = self._streams.setdefault(update.symbol, _Stream())
        last = stream.seq
        if last is not None:
            if update.seq <= last:
                self.duplicates += 1
                return False
            if update.seq > last + 1:
                self.conflated += update.seq - last - 1
        stream.seq = update.seq
        return True

    def _on_subscribed(self, reply: Subscribed) -> list[Event]:
        events: list[Event] = []
        pending = self._pending.get(reply.id) if isinstance(reply.id, int) else None
        if reply.portfolio_id is not None:
            self._portfolio_confirmed.add(reply.portfolio_id)
            self._inflight.discard(reply.portfolio_id)
        for symbol, pos in reply.streams.items():
            stream = self._streams.setdefault(symbol, _Stream())
            if (
                pos.recovered is False
                and stream.seq is not None
                and stream.seq >= 0
                and stream.epoch is not None
            ):
                events.append(self._gap(symbol, stream, pos.seq, pos.epoch, "resume"))
            if pos.recovered:
                self.recovered += 1
            else:
                # A fresh snapshot follows, with seq ``pos.seq`` (0 from the database when
                # nothing was published yet): the stream stands just before it.
                stream.seq = pos.seq - 1
            stream.epoch = pos.epoch
            self._confirmed[symbol] = pos
            self._inflight.discard(symbol)
            if pending is not None:
                pending.confirmed.add(symbol)
        if pending is not None and (
            pending.kind != "assets" or set(pending.symbols) <= pending.confirmed
        ):
            self._complete(reply)
        self.version += 1
        return events

    def _on_resync(self, resync: Resync) -> list[Event]:
        """The server lost a channel's history (its Redis restarted or was flushed):
        report a gap and go on from the snapshot that follows, in the new epoch."""
        symbol = resync.symbol
        if symbol is None or symbol not in self._symbols:
            # Portfolio updates are whole states with no seq kept here: the snapshot
            # that follows is all there is to know.
            return []
        stream = self._streams.setdefault(symbol, _Stream())
        events: list[Event] = []
        if stream.seq is not None and stream.epoch is not None:
            events.append(self._gap(symbol, stream, resync.seq, resync.epoch, resync.reason))
        # The snapshot that follows carries ``resync.seq``; with seq 0 none follows and the
        # next live update is 1.
        stream.seq = max(resync.seq - 1, 0)
        stream.epoch = resync.epoch
        return events

    def _gap(self, symbol: str, stream: _Stream, seq: int, epoch: str, why: str) -> Gap:
        assert stream.seq is not None and stream.epoch is not None
        gap = Gap(symbol, max(stream.seq, 0), stream.epoch, seq, epoch)
        self.gaps += 1
        log.warning(
            "%s: updates after seq %d could not be recovered (%s): %s",
            symbol,
            stream.seq,
            why,
            gap.reason,
        )
        return gap

    def _on_error(self, error: ServerError) -> bool:
        """Match an error to its request; True when it answered one of ours that a
        caller waits on (so it is raised there rather than queued)."""
        pending = self._pending.pop(error.id, None) if isinstance(error.id, int) else None
        if pending is None:
            log.warning("server error: %s: %s", error.code, error.message)
            return False
        exc = RequestError(error.code, error.message, error.request_type)
        if self._transient(error, pending):
            # A server fault on a (re)subscription nobody waits for: the request had no
            # effect, so keep what is wanted and ask again (see ``retry_due``).
            for key in (*pending.symbols, pending.portfolio_id):
                if key is not None and key not in pending.confirmed:
                    self._inflight.discard(key)
            self.retry_due = True
            self.version += 1
            return False
        refused: list[str | int] = []
        if pending.kind == "assets":
            refused.extend(s for s in pending.symbols if s not in pending.confirmed)
            for symbol in refused:
                self._symbols.pop(str(symbol), None)
        elif pending.kind == "portfolio" and pending.portfolio_id is not None:
            refused.append(pending.portfolio_id)
            self._portfolios.pop(pending.portfolio_id, None)
        for key in refused:
            self._rejected[key] = exc
            self._inflight.discard(key)
        if pending.awaited and isinstance(error.id, int):
            self._answers.append(Answer(error.id, error=exc))
        self.version += 1
        # A refusal nobody is waiting for (a resubscription after a reconnect, e.g. the
        # symbol is gone after a restart) is news to the consumer: queue it.
        return pending.awaited or any(k in self._awaited for k in refused)

    def _transient(self, error: ServerError, pending: _Pending) -> bool:
        if error.code != ErrorCode.INTERNAL_ERROR or pending.awaited:
            return False
        if pending.kind == "assets":
            return not any(s in self._awaited for s in pending.symbols)
        return pending.kind == "portfolio" and pending.portfolio_id not in self._awaited

    def _complete(self, reply: ServerMessage) -> None:
        pending = self._pending.pop(reply.id, None) if isinstance(reply.id, int) else None
        if pending is not None and pending.awaited and isinstance(reply.id, int):
            self._answers.append(Answer(reply.id, reply=reply))


def _text(request: Request) -> str:
    return encode_request(request).decode()
