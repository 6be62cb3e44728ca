"""Wire protocol v1: message types, parsing and validation, error codes, close codes.

Sans-I/O: this module turns bytes/text from a client into typed requests (or a
:class:`ProtocolError` carrying a stable error code) and builds the server's frames. It
opens no sockets and imports nothing from Django, so the server's consumer, the benchmark
servers and the Python client library all drive the same code.

Every message is a JSON object ``{"type": str, "data": object, "timestamp": ISO-8601 UTC}``.
Updates on a channel also carry ``"seq"``, the channel's sequence number. See
``docs/protocol.md`` for the full reference with examples.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any, Final

import orjson

__all__ = [
    "MAX_SYMBOLS_PER_REQUEST",
    "PROTOCOL_VERSION",
    "Authenticate",
    "ClientType",
    "CloseCode",
    "Configure",
    "ErrorCode",
    "Ping",
    "ProtocolError",
    "Request",
    "ServerType",
    "SubscribeAssets",
    "SubscribePortfolio",
    "UnsubscribeAssets",
    "UnsubscribePortfolio",
    "decode",
    "encode",
    "encode_body",
    "encode_request",
    "normalize_symbol",
    "parse_request",
    "seal",
    "utc_timestamp",
]

PROTOCOL_VERSION: Final = 1
#: A single request may name at most this many symbols (the subscription limit still applies).
MAX_SYMBOLS_PER_REQUEST: Final = 1000
_MAX_TOKEN_LENGTH: Final = 512
_SYMBOL_RE: Final = re.compile(r"[A-Z0-9][A-Z0-9._\-/:=^]{0,31}")


class ErrorCode(StrEnum):
    """Stable codes carried by ``error`` messages. The connection stays open after each."""

    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_SYMBOL = "unknown_symbol"
    SUBSCRIPTION_LIMIT = "subscription_limit"
    AUTHENTICATION_REQUIRED = "authentication_required"
    AUTHENTICATION_FAILED = "authentication_failed"
    PORTFOLIO_NOT_FOUND = "portfolio_not_found"
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"


class CloseCode(IntEnum):
    """WebSocket close codes the server uses; only policy violations close a socket."""

    NORMAL = 1000
    GOING_AWAY = 1001  # server shutting down or restarting: reconnect and resume
    POLICY_VIOLATION = 1008  # message flood: the client kept sending past the rate limit
    MESSAGE_TOO_BIG = 1009  # a client message larger than the limit (64 KiB by default)
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012  # the node is draining (SIGTERM): reconnect at once and resume
    IDLE_TIMEOUT = 4000  # nothing received from the client for WEBSOCKET_TIMEOUT seconds
    SLOW_CONSUMER = 4001  # the client could not keep up; its outbox overflowed
    TOO_MANY_CONNECTIONS = 4002  # MAX_CONNECTIONS_PER_USER reached for this user
    SESSION_ENDED = 4003  # the user logged out or the session expired


class ClientType(StrEnum):
    PING = "ping"
    SUBSCRIBE_ASSET = "subscribe_asset"
    UNSUBSCRIBE_ASSET = "unsubscribe_asset"
    SUBSCRIBE_PORTFOLIO = "subscribe_portfolio"
    UNSUBSCRIBE_PORTFOLIO = "unsubscribe_portfolio"
    AUTHENTICATE = "authenticate"
    CONFIGURE = "configure"


# Short forms used by many market-data APIs (and seed 000's scripts).
_ALIASES: Final = {
    "subscribe": ClientType.SUBSCRIBE_ASSET,
    "unsubscribe": ClientType.UNSUBSCRIBE_ASSET,
}


class ServerType(StrEnum):
    CONNECTION = "connection"
    PONG = "pong"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    ASSET_UPDATE = "asset_update"
    PORTFOLIO_UPDATE = "portfolio_update"
    AUTHENTICATED = "authenticated"
    CONFIGURED = "configured"
    #: A channel's stream broke beyond repair (the broker lost history): a fresh snapshot
    #: follows, and updates continue from the ``seq`` given (docs/scaling.md).
    RESYNC = "resync"
    #: An alert rule of the connection's user fired (docs/alerts.md); needs no subscription.
    ALERT = "alert"
    ERROR = "error"


class ProtocolError(Exception):
    """A client message was rejected. ``code`` is stable; ``message`` is for humans."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        request_type: str | None = None,
        request_id: str | int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_type = request_type
        self.request_id = request_id


# --- requests ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """Base of every parsed client request. ``id`` is echoed in the reply when given."""

    id: str | int | None


@dataclass(frozen=True, slots=True)
class Ping(Request):
    pass


@dataclass(frozen=True, slots=True)
class SubscribeAssets(Request):
    symbols: tuple[str, ...]
    #: Resume point per symbol (the last ``seq`` the client saw), or empty for none.
    since: dict[str, int] = field(default_factory=dict)
    #: The epoch the client saw: one for every symbol, or one per symbol.
    epoch: str | dict[str, str] | None = None

    def epoch_of(self, symbol: str) -> str | None:
        """The epoch the client saw for ``symbol`` (None when it sent none)."""
        if isinstance(self.epoch, dict):
            return self.epoch.get(symbol)
        return self.epoch


@dataclass(frozen=True, slots=True)
class UnsubscribeAssets(Request):
    symbols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SubscribePortfolio(Request):
    portfolio_id: int


@dataclass(frozen=True, slots=True)
class UnsubscribePortfolio(Request):
    portfolio_id: int


@dataclass(frozen=True, slots=True)
class Authenticate(Request):
    token: str


@dataclass(frozen=True, slots=True)
class Configure(Request):
    #: Opt in to batched delivery: several updates per frame as a JSON array.
    batch: bool | None = None


def normalize_symbol(value: object, field_name: str = "symbol") -> str:
    """Return the canonical (upper-case) symbol or raise ``ProtocolError(invalid_field)``."""
    if not isinstance(value, str):
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"'{field_name}' must be a string")
    # ASCII first: str.upper() maps some non-ASCII letters onto ASCII ones (U+017F long s
    # -> "S", U+0131 dotless i -> "I"), which would let "\u017fpy" name SPY.
    symbol = value.strip().upper() if value.isascii() else ""
    if not _SYMBOL_RE.fullmatch(symbol):
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"'{field_name}' {value[:40]!r} is not a valid symbol "
            "(1-32 characters: letters, digits and . _ - / : = ^)",
        )
    return symbol


def _symbols(data: dict[str, Any]) -> tuple[str, ...]:
    has_one = "symbol" in data
    has_many = "symbols" in data
    if not has_one and not has_many:
        raise ProtocolError(ErrorCode.MISSING_FIELD, "'symbol' or 'symbols' is required")
    out: dict[str, None] = {}
    if has_one:
        out[normalize_symbol(data["symbol"])] = None
    if has_many:
        many = data["symbols"]
        if not isinstance(many, list) or not many:
            raise ProtocolError(ErrorCode.INVALID_FIELD, "'symbols' must be a non-empty list")
        if len(many) > MAX_SYMBOLS_PER_REQUEST:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                f"'symbols' may list at most {MAX_SYMBOLS_PER_REQUEST} symbols",
            )
        for item in many:
            out[normalize_symbol(item, "symbols[]")] = None
    return tuple(out)


def _non_negative_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"'{name}' must be a non-negative integer")
    return value


def _since(data: dict[str, Any], symbols: tuple[str, ...]) -> dict[str, int]:
    raw = data.get("since")
    if raw is None:
        return {}
    if isinstance(raw, dict):
        since: dict[str, int] = {}
        for key, value in raw.items():
            symbol = normalize_symbol(key, "since key")
            since[symbol] = _non_negative_int(value, f"since.{symbol}")
        unknown = set(since) - set(symbols)
        if unknown:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                f"'since' names symbols not in this request: {', '.join(sorted(unknown))}",
            )
        return since
    seq = _non_negative_int(raw, "since")
    return dict.fromkeys(symbols, seq)


def _epoch(data: dict[str, Any], symbols: tuple[str, ...]) -> str | dict[str, str] | None:
    raw = data.get("epoch")
    if raw is None or isinstance(raw, str):
        if isinstance(raw, str) and len(raw) > 64:
            raise ProtocolError(ErrorCode.INVALID_FIELD, "'epoch' is at most 64 characters")
        return raw
    if not isinstance(raw, dict):
        raise ProtocolError(
            ErrorCode.INVALID_FIELD, "'epoch' must be a string or an object of symbol: epoch"
        )
    epochs: dict[str, str] = {}
    for key, value in raw.items():
        symbol = normalize_symbol(key, "epoch key")
        if not isinstance(value, str) or len(value) > 64:
            raise ProtocolError(ErrorCode.INVALID_FIELD, f"'epoch.{symbol}' must be a string")
        epochs[symbol] = value
    unknown = set(epochs) - set(symbols)
    if unknown:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"'epoch' names symbols not in this request: {', '.join(sorted(unknown))}",
        )
    return epochs


def _portfolio_id(data: dict[str, Any]) -> int:
    if "portfolio_id" not in data:
        raise ProtocolError(ErrorCode.MISSING_FIELD, "'portfolio_id' is required")
    value = data["portfolio_id"]
    # ASCII digits only: "²".isdigit() is true but int() refuses it, and int() reads other
    # scripts' digits ("٣" is 3).
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise ProtocolError(ErrorCode.INVALID_FIELD, "'portfolio_id' must be a positive integer")
    return value


def parse_request(raw: str | bytes) -> Request:
    """Parse and validate one client message.

    Fields are read from ``data``; when ``data`` is absent they are read from the top level,
    which accepts the short form ``{"type": "subscribe", "symbol": "AAPL"}``.

    Raises :class:`ProtocolError` with ``invalid_json`` (not JSON, not UTF-8, nested too
    deeply), ``invalid_message`` (not an object, no string ``type``, ``data`` not an object),
    ``unknown_type``, ``missing_field`` or ``invalid_field``.
    """
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(ErrorCode.INVALID_JSON, f"message is not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            f"message must be a JSON object, not {type(message).__name__}",
        )
    request_id = message.get("id")
    if request_id is not None and (
        isinstance(request_id, bool)
        or not isinstance(request_id, (str, int))
        or (isinstance(request_id, str) and len(request_id) > 64)
    ):
        request_id = None
    kind = message.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE, "message needs a string 'type'", request_id=request_id
        )
    data = message.get("data")
    if data is None:
        data = {k: v for k, v in message.items() if k not in ("type", "timestamp", "id")}
    elif not isinstance(data, dict):
        raise ProtocolError(
            ErrorCode.INVALID_MESSAGE,
            "'data' must be a JSON object",
            request_type=kind,
            request_id=request_id,
        )
    try:
        ctype = ClientType(_ALIASES.get(kind, kind))
    except ValueError:
        known = ", ".join(t.value for t in ClientType)
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown message type {kind[:40]!r}; expected one of: {known}",
            request_type=kind[:40],
            request_id=request_id,
        ) from None
    try:
        return _build(ctype, data, request_id)
    except ProtocolError as exc:
        exc.request_type = ctype.value
        exc.request_id = request_id
        raise


def _build(ctype: ClientType, data: dict[str, Any], rid: str | int | None) -> Request:
    if ctype is ClientType.PING:
        return Ping(rid)
    if ctype is ClientType.SUBSCRIBE_ASSET:
        symbols = _symbols(data)
        return SubscribeAssets(rid, symbols, _since(data, symbols), _epoch(data, symbols))
    if ctype is ClientType.UNSUBSCRIBE_ASSET:
        return UnsubscribeAssets(rid, _symbols(data))
    if ctype is ClientType.SUBSCRIBE_PORTFOLIO:
        return SubscribePortfolio(rid, _portfolio_id(data))
    if ctype is ClientType.UNSUBSCRIBE_PORTFOLIO:
        return UnsubscribePortfolio(rid, _portfolio_id(data))
    if ctype is ClientType.AUTHENTICATE:
        token = data.get("token")
        if token is None:
            raise ProtocolError(ErrorCode.MISSING_FIELD, "'token' is required")
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
            raise ProtocolError(ErrorCode.INVALID_FIELD, "'token' must be a non-empty string")
        return Authenticate(rid, token)
    # CONFIGURE
    batch = data.get("batch")
    if batch is not None and not isinstance(batch, bool):
        raise ProtocolError(ErrorCode.INVALID_FIELD, "'batch' must be true or false")
    return Configure(rid, batch)


def encode_request(request: Request, *, timestamp: str | None = None) -> bytes:
    """Serialise a client request: the inverse of :func:`parse_request`.

    Clients (the Python client library, benchmarks, tests) build the typed request and let
    this function write the wire form, so the message shapes live only in this module.
    ``parse_request(encode_request(r)) == r`` for every valid request.
    """
    data: dict[str, Any]
    if isinstance(request, Ping):
        kind, data = ClientType.PING, {}
    elif isinstance(request, SubscribeAssets):
        kind, data = ClientType.SUBSCRIBE_ASSET, {"symbols": list(request.symbols)}
        if request.since:
            data["since"] = dict(request.since)
        if request.epoch is not None:
            data["epoch"] = request.epoch
    elif isinstance(request, UnsubscribeAssets):
        kind, data = ClientType.UNSUBSCRIBE_ASSET, {"symbols": list(request.symbols)}
    elif isinstance(request, SubscribePortfolio):
        kind, data = ClientType.SUBSCRIBE_PORTFOLIO, {"portfolio_id": request.portfolio_id}
    elif isinstance(request, UnsubscribePortfolio):
        kind, data = ClientType.UNSUBSCRIBE_PORTFOLIO, {"portfolio_id": request.portfolio_id}
    elif isinstance(request, Authenticate):
        kind, data = ClientType.AUTHENTICATE, {"token": request.token}
    elif isinstance(request, Configure):
        kind, data = ClientType.CONFIGURE, {} if request.batch is None else {"batch": request.batch}
    else:
        raise TypeError(f"not a client request: {request!r}")
    message: dict[str, Any] = {
        "type": kind.value,
        "data": data,
        "timestamp": timestamp or utc_timestamp(),
    }
    if request.id is not None:
        message["id"] = request.id
    return orjson.dumps(message)


# --- server frames -------------------------------------------------------------------------

_ts_cache: tuple[int, str] = (0, "")


def utc_timestamp(now: float | None = None) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``, e.g. ``2024-01-15T10:30:00.123Z``."""
    global _ts_cache
    t = time.time() if now is None else now
    ms = int(t * 1000)
    if _ts_cache[0] == ms:
        return _ts_cache[1]
    text = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    _ts_cache = (ms, text)
    return text


def encode(kind: str, data: dict[str, Any], *, timestamp: str | None = None, **extra: Any) -> bytes:
    """Serialise one complete server message."""
    message: dict[str, Any] = {
        "type": kind,
        "data": data,
        "timestamp": timestamp or utc_timestamp(),
    }
    if extra:
        message.update(extra)
    return orjson.dumps(message)


def encode_body(kind: str, data: dict[str, Any], *, timestamp: str | None = None) -> bytes:
    """Serialise a channel update without its closing brace; :func:`seal` adds the seq.

    The broker assigns the sequence number when it publishes, and the update is encoded
    only once per channel, so the seq is appended to the pre-encoded body rather than the
    message being encoded again.
    """
    return encode(kind, data, timestamp=timestamp)[:-1]


def seal(body: bytes, seq: int) -> bytes:
    """Complete a body from :func:`encode_body` with its channel sequence number."""
    return body + b',"seq":' + str(seq).encode() + b"}"


def decode(frame: str | bytes) -> Any:
    """Parse a server frame (an object, or an array of objects when batching is on)."""
    return orjson.loads(frame)
