"""Server messages as typed objects, for clients: the read side of wire protocol v1.

Sans-I/O like :mod:`tickwire.stream.protocol` (whose type names and frames it reads): it
turns one server frame — an object, or an array of objects when the client opted in to
batching with ``configure {batch: true}`` — into :class:`ServerMessage` objects. It opens no
sockets and imports nothing from Django. The Python client library drives it; so can any
other client or test.

Unknown message types are returned as a plain :class:`ServerMessage` rather than rejected,
so a newer server can add types without breaking older clients. A known type whose fields
are missing or of the wrong type raises :class:`~tickwire.stream.protocol.ProtocolError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from .protocol import ErrorCode, ProtocolError, ServerType

__all__ = [
    "Alert",
    "AssetUpdate",
    "Authenticated",
    "Configured",
    "Connected",
    "Pong",
    "PortfolioUpdate",
    "Resync",
    "ServerError",
    "ServerMessage",
    "StreamPosition",
    "Subscribed",
    "Unsubscribed",
    "parse_server_frame",
    "parse_server_message",
    "parse_timestamp",
]


@dataclass(frozen=True, slots=True)
class ServerMessage:
    """Any server message. Subclasses add the typed fields of the known types."""

    type: str
    #: The message's ``data`` object as received (every field, typed or not).
    data: dict[str, Any]
    timestamp: str | None
    #: The request ``id`` this message answers, when the request carried one.
    id: str | int | None
    #: The channel sequence number (updates only).
    seq: int | None


@dataclass(frozen=True, slots=True)
class Connected(ServerMessage):
    connection_id: str
    authenticated: bool
    user_id: int | None


@dataclass(frozen=True, slots=True)
class Pong(ServerMessage):
    pass


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """Where a subscribed channel stands: its top ``seq`` in ``epoch``."""

    seq: int
    epoch: str
    #: None for a fresh subscription; on a resume, whether every missed update follows.
    recovered: bool | None = None


@dataclass(frozen=True, slots=True)
class Subscribed(ServerMessage):
    symbols: tuple[str, ...]
    streams: dict[str, StreamPosition]
    subscription_count: int | None
    #: Set when this answers ``subscribe_portfolio``.
    portfolio_id: int | None


@dataclass(frozen=True, slots=True)
class Unsubscribed(ServerMessage):
    symbols: tuple[str, ...]
    subscription_count: int | None
    portfolio_id: int | None


@dataclass(frozen=True, slots=True)
class AssetUpdate(ServerMessage):
    symbol: str
    price: float
    change: float | None
    change_percent: float | None
    #: The day's cumulative volume (not the size of the last trade).
    volume: float | None
    high: float | None
    low: float | None
    previous_close: float | None
    currency: str | None


@dataclass(frozen=True, slots=True)
class PortfolioUpdate(ServerMessage):
    portfolio_id: int
    name: str | None
    total_value: float | None
    daily_change: float | None
    daily_change_percent: float | None


@dataclass(frozen=True, slots=True)
class Resync(ServerMessage):
    """A channel's stream broke beyond repair: a fresh snapshot follows, and updates go on
    from ``seq`` in the new ``epoch`` (seqs may restart at 1). A client treats it as a gap
    and adopts the new epoch and seq for the channel."""

    channel: str
    #: The symbol for an asset channel, else None.
    symbol: str | None
    #: The portfolio id for a portfolio channel, else None.
    portfolio_id: int | None
    seq: int
    epoch: str
    reason: str
    recovered: bool = False


@dataclass(frozen=True, slots=True)
class Alert(ServerMessage):
    """An alert rule of this user fired (docs/protocol.md, "Alerts"). Numbers are decimal
    strings, as the rule's levels are; ``event_id`` is the event's idempotency key, the
    same on every channel it is delivered by (WebSocket, email, webhook)."""

    event_id: str
    rule_id: int | None
    name: str
    #: ``{"asset": "AAPL"}`` or ``{"portfolio": 12}``.
    target: dict[str, Any]
    #: The rule's condition kind (``above``, ``cross``, ``move``...).
    condition: str
    #: The line that fired (``above``, ``cross_up``, ``move_down``, ``change_below``...).
    kind: str
    value: str
    measure: str
    level: str
    message: str
    fired_at: str


@dataclass(frozen=True, slots=True)
class Authenticated(ServerMessage):
    user_id: int | None


@dataclass(frozen=True, slots=True)
class Configured(ServerMessage):
    batch: bool


@dataclass(frozen=True, slots=True)
class ServerError(ServerMessage):
    code: str
    message: str
    request_type: str | None = field(default=None)


def _bad(kind: str, problem: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_MESSAGE, f"{kind} message: {problem}")


def _number(data: dict[str, Any], name: str, kind: str, *, required: bool = False) -> float | None:
    value = data.get(name)
    if value is None:
        if required:
            raise _bad(kind, f"'{name}' is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(kind, f"'{name}' must be a number, not {type(value).__name__}")
    return float(value)


def _text(data: dict[str, Any], name: str, kind: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise _bad(kind, f"'{name}' is missing")
        return None
    if not isinstance(value, str):
        raise _bad(kind, f"'{name}' must be a string")
    return value


def _int(data: dict[str, Any], name: str, kind: str, *, required: bool = False) -> int | None:
    value = data.get(name)
    if value is None:
        if required:
            raise _bad(kind, f"'{name}' is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(kind, f"'{name}' must be an integer")
    return value


def _symbols(data: dict[str, Any], kind: str) -> tuple[str, ...]:
    raw = data.get("symbols", [])
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise _bad(kind, "'symbols' must be a list of strings")
    return tuple(raw)


def _streams(data: dict[str, Any], kind: str) -> dict[str, StreamPosition]:
    raw = data.get("streams", {})
    if not isinstance(raw, dict):
        raise _bad(kind, "'streams' must be an object")
    out: dict[str, StreamPosition] = {}
    for symbol, pos in raw.items():
        if not isinstance(pos, dict):
            raise _bad(kind, f"'streams.{symbol}' must be an object")
        seq = _int(pos, "seq", kind, required=True)
        epoch = pos.get("epoch")
        recovered = pos.get("recovered")
        if not isinstance(epoch, str) or (
            recovered is not None and not isinstance(recovered, bool)
        ):
            raise _bad(kind, f"'streams.{symbol}' needs a string epoch and boolean recovered")
        assert seq is not None
        out[symbol] = StreamPosition(seq, epoch, recovered)
    return out


def parse_server_message(message: object) -> ServerMessage:
    """Type one decoded server message (a JSON object already parsed).

    Raises :class:`ProtocolError` (``invalid_message``) when it is not an object with a
    string ``type``, or when a known type lacks a required field or has a wrong one.
    """
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "server message is not a JSON object")
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "server message has no string 'type'")
    data = message.get("data", {})
    if not isinstance(data, dict):
        raise _bad(kind, "'data' must be an object")
    timestamp = message.get("timestamp")
    if not isinstance(timestamp, str):
        timestamp = None
    rid = message.get("id")
    if isinstance(rid, bool) or not isinstance(rid, (str, int)):
        rid = None
    seq = _int(message, "seq", kind)
    base = (kind, data, timestamp, rid, seq)

    if kind == ServerType.ASSET_UPDATE:
        symbol = _text(data, "symbol", kind, required=True)
        price = _number(data, "price", kind, required=True)
        assert symbol is not None and price is not None
        return AssetUpdate(
            *base,
            symbol=symbol,
            price=price,
            change=_number(data, "change", kind),
            change_percent=_number(data, "change_percent", kind),
            volume=_number(data, "volume", kind),
            high=_number(data, "high", kind),
            low=_number(data, "low", kind),
            previous_close=_number(data, "previous_close", kind),
            currency=_text(data, "currency", kind),
        )
    if kind == ServerType.PORTFOLIO_UPDATE:
        pid = _int(data, "portfolio_id", kind, required=True)
        assert pid is not None
        return PortfolioUpdate(
            *base,
            portfolio_id=pid,
            name=_text(data, "name", kind),
            total_value=_number(data, "total_value", kind),
            daily_change=_number(data, "daily_change", kind),
            daily_change_percent=_number(data, "daily_change_percent", kind),
        )
    if kind == ServerType.PONG:
        return Pong(*base)
    if kind == ServerType.SUBSCRIBED:
        return Subscribed(
            *base,
            symbols=_symbols(data, kind),
            streams=_streams(data, kind),
            subscription_count=_int(data, "subscription_count", kind),
            portfolio_id=_int(data, "portfolio_id", kind),
        )
    if kind == ServerType.UNSUBSCRIBED:
        return Unsubscribed(
            *base,
            symbols=_symbols(data, kind),
            subscription_count=_int(data, "subscription_count", kind),
            portfolio_id=_int(data, "portfolio_id", kind),
        )
    if kind == ServerType.ERROR:
        code = _text(data, "code", kind, required=True)
        text = _text(data, "message", kind) or ""
        assert code is not None
        return ServerError(
            *base, code=code, message=text, request_type=_text(data, "request_type", kind)
        )
    if kind == ServerType.CONNECTION:
        user_id = _int(data, "user_id", kind)
        return Connected(
            *base,
            connection_id=_text(data, "connection_id", kind) or "",
            authenticated=bool(data.get("authenticated")),
            user_id=user_id,
        )
    if kind == ServerType.RESYNC:
        channel = _text(data, "channel", kind, required=True)
        resync_seq = _int(data, "seq", kind, required=True)
        epoch = _text(data, "epoch", kind, required=True)
        assert channel is not None and resync_seq is not None and epoch is not None
        return Resync(
            kind,
            data,
            timestamp,
            rid,
            resync_seq,
            channel=channel,
            symbol=_text(data, "symbol", kind),
            portfolio_id=_int(data, "portfolio_id", kind),
            epoch=epoch,
            reason=_text(data, "reason", kind) or "",
            recovered=bool(data.get("recovered", False)),
        )
    if kind == ServerType.ALERT:
        event_id = _text(data, "event_id", kind, required=True)
        target = data.get("target")
        if not isinstance(target, dict):
            raise _bad(kind, "'target' must be an object")
        assert event_id is not None
        return Alert(
            *base,
            event_id=event_id,
            rule_id=_int(data, "rule_id", kind),
            name=_text(data, "name", kind) or "",
            target=target,
            condition=_text(data, "condition", kind) or "",
            kind=_text(data, "kind", kind) or "",
            value=_text(data, "value", kind) or "",
            measure=_text(data, "measure", kind) or "",
            level=_text(data, "level", kind) or "",
            message=_text(data, "message", kind) or "",
            fired_at=_text(data, "fired_at", kind) or "",
        )
    if kind == ServerType.AUTHENTICATED:
        return Authenticated(*base, user_id=_int(data, "user_id", kind))
    if kind == ServerType.CONFIGURED:
        return Configured(*base, batch=bool(data.get("batch")))
    return ServerMessage(*base)


def parse_server_frame(frame: str | bytes) -> list[ServerMessage]:
    """Parse one WebSocket frame from the server into its messages, in order.

    A frame holds one message object, or (with batching on) an array of them. Raises
    :class:`ProtocolError`: ``invalid_json`` when the frame is not JSON, ``invalid_message``
    when a message is malformed (see :func:`parse_server_message`).
    """
    try:
        decoded = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(ErrorCode.INVALID_JSON, f"server frame is not JSON: {exc}") from None
    if isinstance(decoded, list):
        return [parse_server_message(item) for item in decoded]
    return [parse_server_message(decoded)]


def parse_timestamp(text: str | None) -> float | None:
    """Seconds since the epoch for a protocol timestamp (ISO-8601 UTC), or None if absent
    or unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
