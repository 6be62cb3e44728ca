"""Server messages, built: the write side of wire protocol v1.

One builder per server message type, each beside nothing else: every place that sends a
message calls its builder, and :mod:`tickwire.stream.messages` declares the type that
parses it (``tests/stream/test_builders.py`` parses what each builder builds). Sans-I/O and
framework-free like :mod:`tickwire.stream.protocol`.

Replies take the request's ``id`` as ``request_id`` and echo it when it is not None.
Channel updates are built as *bodies* (no closing brace): the broker seals them with the
channel's ``seq`` (:func:`~tickwire.stream.protocol.seal`), so each update is encoded once
however many nodes and clients receive it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from .channels import parse_channel
from .messages import StreamPosition
from .protocol import (
    PROTOCOL_VERSION,
    ErrorCode,
    ServerType,
    encode,
    encode_body,
    seal,
    utc_timestamp,
)

__all__ = [
    "alert",
    "asset_update",
    "asset_update_body",
    "authenticated",
    "configured",
    "connection",
    "error",
    "pong",
    "portfolio_deleted_body",
    "portfolio_revoked",
    "portfolio_update_body",
    "resync",
    "subscribed_assets",
    "subscribed_portfolio",
    "unsubscribed_assets",
    "unsubscribed_portfolio",
]


def _reply(kind: ServerType, data: dict[str, Any], request_id: str | int | None) -> bytes:
    if request_id is None:
        return encode(kind, data)
    return encode(kind, data, id=request_id)


def connection(connection_id: str, user_id: int | None) -> bytes:
    """``connection`` (:class:`~tickwire.stream.messages.Connected`): the first message on
    every socket."""
    return encode(
        ServerType.CONNECTION,
        {
            "status": "connected",
            "connection_id": connection_id,
            "authenticated": user_id is not None,
            "user_id": user_id,
            "protocol_version": PROTOCOL_VERSION,
        },
    )


def pong(*, request_id: str | int | None = None) -> bytes:
    """``pong`` (:class:`~tickwire.stream.messages.Pong`), the answer to ``ping``."""
    return _reply(ServerType.PONG, {}, request_id)


def _position(position: StreamPosition) -> dict[str, Any]:
    out: dict[str, Any] = {"seq": position.seq, "epoch": position.epoch}
    if position.recovered is not None:
        out["recovered"] = position.recovered
    return out


def subscribed_assets(
    streams: Mapping[str, StreamPosition],
    *,
    subscription_count: int,
    request_id: str | int | None = None,
) -> bytes:
    """``subscribed`` (:class:`~tickwire.stream.messages.Subscribed`) for symbols: where each
    symbol's stream stands, in the order given."""
    data = {
        "symbols": list(streams),
        "streams": {symbol: _position(p) for symbol, p in streams.items()},
        "subscription_count": subscription_count,
    }
    return _reply(ServerType.SUBSCRIBED, data, request_id)


def subscribed_portfolio(
    portfolio_id: int,
    position: StreamPosition,
    *,
    subscription_count: int,
    request_id: str | int | None = None,
) -> bytes:
    """``subscribed`` (:class:`~tickwire.stream.messages.Subscribed`) for a portfolio; its
    stream's ``seq`` and ``epoch`` stand beside ``portfolio_id``."""
    data = {
        "portfolio_id": portfolio_id,
        **_position(position),
        "subscription_count": subscription_count,
    }
    return _reply(ServerType.SUBSCRIBED, data, request_id)


def unsubscribed_assets(
    symbols: Sequence[str], *, subscription_count: int, request_id: str | int | None = None
) -> bytes:
    """``unsubscribed`` (:class:`~tickwire.stream.messages.Unsubscribed`) for symbols."""
    data = {"symbols": list(symbols), "subscription_count": subscription_count}
    return _reply(ServerType.UNSUBSCRIBED, data, request_id)


def unsubscribed_portfolio(
    portfolio_id: int, *, subscription_count: int, request_id: str | int | None = None
) -> bytes:
    """``unsubscribed`` (:class:`~tickwire.stream.messages.Unsubscribed`) for a portfolio."""
    data = {"portfolio_id": portfolio_id, "subscription_count": subscription_count}
    return _reply(ServerType.UNSUBSCRIBED, data, request_id)


def authenticated(user_id: int, username: str, *, request_id: str | int | None = None) -> bytes:
    """``authenticated`` (:class:`~tickwire.stream.messages.Authenticated`)."""
    data = {"authenticated": True, "user_id": user_id, "username": username}
    return _reply(ServerType.AUTHENTICATED, data, request_id)


def configured(batch: bool, *, request_id: str | int | None = None) -> bytes:
    """``configured`` (:class:`~tickwire.stream.messages.Configured`): the connection's
    delivery options now in force."""
    return _reply(ServerType.CONFIGURED, {"batch": batch}, request_id)


_dumps = orjson.dumps
_ASSET_UPDATE = ServerType.ASSET_UPDATE.value


def asset_update_body(
    symbol: str,
    price: float,
    change: float,
    change_percent: float,
    volume: float,
    high: float,
    low: float,
    previous_close: float,
    currency: str,
    *,
    timestamp: str | None = None,
) -> bytes:
    """``asset_update`` (:class:`~tickwire.stream.messages.AssetUpdate`) without its seq, for
    the broker to seal. ``volume`` is the day's cumulative volume; ``timestamp`` is the
    tick's time (now when None)."""
    # The feed builds one per tick: one dict literal and one orjson call (what
    # encode_body(kind, data) gives, byte for byte, for a third less time).
    return _dumps(
        {
            "type": _ASSET_UPDATE,
            "data": {
                "symbol": symbol,
                "price": price,
                "change": change,
                "change_percent": change_percent,
                "volume": volume,
                "high": high,
                "low": low,
                "previous_close": previous_close,
                "currency": currency,
            },
            "timestamp": timestamp or utc_timestamp(),
        }
    )[:-1]


def asset_update(
    symbol: str,
    price: float,
    change: float,
    change_percent: float,
    volume: float,
    high: float,
    low: float,
    previous_close: float,
    currency: str,
    *,
    seq: int,
    timestamp: str | None = None,
) -> bytes:
    """A complete ``asset_update`` with ``seq``: a snapshot read from the database is sent
    with ``seq`` 0, before the channel has published anything."""
    return seal(
        asset_update_body(
            symbol,
            price,
            change,
            change_percent,
            volume,
            high,
            low,
            previous_close,
            currency,
            timestamp=timestamp,
        ),
        seq,
    )


def portfolio_update_body(
    portfolio_id: int, name: str, valuation: Mapping[str, Any], *, timestamp: str | None = None
) -> bytes:
    """``portfolio_update`` (:class:`~tickwire.stream.messages.PortfolioUpdate`) without its
    seq. ``valuation`` holds the totals, status and positions (``Valuation.as_data()``)."""
    data = {"portfolio_id": portfolio_id, "name": name, **valuation}
    return encode_body(ServerType.PORTFOLIO_UPDATE, data, timestamp=timestamp)


def portfolio_deleted_body(portfolio_id: int) -> bytes:
    """An ``error`` (``portfolio_not_found``) on a portfolio's channel, without its seq:
    the portfolio was deleted while subscribed."""
    data = {
        "code": ErrorCode.PORTFOLIO_NOT_FOUND.value,
        "message": f"portfolio {portfolio_id} was deleted",
        "portfolio_id": portfolio_id,
    }
    return encode_body(ServerType.ERROR, data)


def portfolio_revoked(portfolio_id: int) -> bytes:
    """An ``error`` (``portfolio_not_found``) to one connection, outside the channel: the
    portfolio is no longer its user's (it was given to another owner), so the
    subscription ended. The same answer a new subscription would get."""
    data = {
        "code": ErrorCode.PORTFOLIO_NOT_FOUND.value,
        "message": f"portfolio {portfolio_id} not found",
        "portfolio_id": portfolio_id,
    }
    return encode(ServerType.ERROR, data)


#: The fields of an ``alert`` message's ``data``, in order (docs/protocol.md, "Alerts").
ALERT_FIELDS = (
    "event_id",
    "rule_id",
    "name",
    "target",
    "condition",
    "kind",
    "value",
    "measure",
    "level",
    "message",
    "fired_at",
)


def alert(event: Mapping[str, Any]) -> bytes:
    """``alert`` (:class:`~tickwire.stream.messages.Alert`): a rule of the connection's user
    fired. ``event`` holds :data:`ALERT_FIELDS` (the alert event's JSON form, the same
    object a webhook receives); sent to every open connection of the owner, outside any
    channel, so it has no ``seq``."""
    missing = [name for name in ALERT_FIELDS if name not in event]
    if missing:
        raise ValueError(f"alert event lacks {', '.join(missing)}")
    return encode(ServerType.ALERT, {name: event[name] for name in ALERT_FIELDS})


def resync(channel: str, *, seq: int, epoch: str, reason: str) -> bytes:
    """``resync`` (:class:`~tickwire.stream.messages.Resync`): ``channel``'s updates were
    lost; a snapshot follows and updates go on from ``seq`` in ``epoch``.

    ``data`` names the channel as subscriptions do (``symbol`` for an asset,
    ``portfolio_id`` for a portfolio) and always carries ``recovered: false``.
    """
    data: dict[str, Any] = {"channel": channel}
    parsed = parse_channel(channel)
    if parsed.symbol is not None:
        data["symbol"] = parsed.symbol
    elif parsed.portfolio_id is not None:
        data["portfolio_id"] = parsed.portfolio_id
    data.update({"seq": seq, "epoch": epoch, "recovered": False, "reason": reason})
    return encode(ServerType.RESYNC, data)


def error(
    code: ErrorCode,
    message: str,
    *,
    request_type: str | None = None,
    request_id: str | int | None = None,
) -> bytes:
    """``error`` (:class:`~tickwire.stream.messages.ServerError`): a request was refused;
    the connection stays open."""
    data: dict[str, Any] = {"code": code.value, "message": message}
    if request_type is not None:
        data["request_type"] = request_type
    return _reply(ServerType.ERROR, data, request_id)
