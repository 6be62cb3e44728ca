"""``apply_quotes``: one-off quotes handed to the running feed, and its acknowledgement.

A one-off price update (``update_asset_prices``) must not write the database behind a
running feed's back: the feed holds its own quotes and its next batch would overwrite the
write. So the quotes travel as a control message, like ``force_price_update``, and the
feed applies them as ticks — published with the next seq, folded into the day's high,
low and volume and into bars, persisted at once — then answers with what it did.

This module is the pure part: build and parse the request and the acknowledgement. No
I/O. The request travels on :data:`~tickwire.stream.feeds.service.CONTROL_CHANNEL`
(Redis) or the server's local control socket (embedded); the acknowledgement comes back
on :func:`reply_channel` of the request id, or on the same socket.

Request::

    {"type": "apply_quotes", "data": {"request_id": "a1b2...", "expires_at": 1764470010.5,
     "quotes": [
        {"symbol": "MSFT", "price": 505.92, "volume": 0, "day_volume": 1200, "ts": 1764470000.5}
    ]}}

``volume`` (default 0), ``day_volume`` (null: add ``volume`` to the day's) and ``ts`` (Unix
seconds; 0 or absent: when the feed applies it) are optional; any other field is refused.
``expires_at`` (Unix seconds, optional) is when the sender stops waiting for the answer: a
feed that gets the request later (it was stopped, or the broker slow) refuses it unapplied,
so a sender that gave up can say truthfully that nothing was applied.

Acknowledgement::

    {"type": "apply_quotes_ack", "data": {"request_id": "a1b2...", "error": null,
     "applied": [{"symbol": "MSFT", "price": 505.92, "seq": 812}],
     "rejected": [{"symbol": "NOPE", "reason": "not a symbol this feed quotes"}],
     "persisted": true, "feed": {"pid": 4242, "host": "box", "source": "simulator"}}}
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..protocol import encode_body
from .base import Tick

__all__ = [
    "APPLY_QUOTES",
    "APPLY_QUOTES_ACK",
    "MAX_APPLY_QUOTES",
    "ApplyQuotes",
    "ControlMessageError",
    "QuoteUpdate",
    "QuotesAck",
    "Rejection",
    "apply_quotes_message",
    "message_type",
    "new_request_id",
    "parse_ack",
    "parse_apply_quotes",
    "reply_channel",
]

APPLY_QUOTES = "apply_quotes"
APPLY_QUOTES_ACK = "apply_quotes_ack"
#: More quotes than this in one request is refused.
MAX_APPLY_QUOTES = 10_000
#: Replies to a request go out on ``control.reply.<request_id>`` (never sent to clients).
REPLY_PREFIX = "control.reply."

_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SYMBOL = re.compile(r"^[A-Z0-9]+(?:[.\-/][A-Z0-9]+)*$")
_QUOTE_FIELDS = frozenset({"symbol", "price", "volume", "day_volume", "ts"})


class ControlMessageError(ValueError):
    """A control frame that cannot be acted on. ``request_id`` is set when the frame
    carried a usable one, so the sender can still be told why."""

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class QuoteUpdate:
    """One quote to apply: a price, and optionally a trade size, day volume and time."""

    symbol: str
    price: float
    volume: float = 0.0
    day_volume: float | None = None
    ts: float = 0.0

    def tick(self) -> Tick:
        return Tick(self.symbol, self.price, self.volume, self.ts, self.day_volume)

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "price": self.price,
            "volume": self.volume,
            "day_volume": self.day_volume,
            "ts": self.ts,
        }


@dataclass(frozen=True, slots=True)
class ApplyQuotes:
    request_id: str
    quotes: tuple[QuoteUpdate, ...]
    #: Unix time after which the request must not be applied (None: no limit).
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    symbol: str
    reason: str


@dataclass(slots=True)
class QuotesAck:
    """What the feed did with an ``apply_quotes`` request."""

    request_id: str
    applied: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    persisted: bool = False
    #: Set when the whole request was refused (a malformed frame): nothing was applied.
    error: str | None = None
    feed: dict[str, Any] = field(default_factory=dict)

    def body(self) -> bytes:
        """The acknowledgement as a body for the broker to seal (or a line on the socket)."""
        return encode_body(
            APPLY_QUOTES_ACK,
            {
                "request_id": self.request_id,
                "error": self.error,
                "applied": self.applied,
                "rejected": [{"symbol": r.symbol, "reason": r.reason} for r in self.rejected],
                "persisted": self.persisted,
                "feed": self.feed,
            },
        )


def new_request_id() -> str:
    return secrets.token_hex(12)


def reply_channel(request_id: str) -> str:
    """The broker channel the acknowledgement of ``request_id`` is published on."""
    return REPLY_PREFIX + request_id


def apply_quotes_message(
    request_id: str, quotes: list[QuoteUpdate], expires_at: float | None = None
) -> bytes:
    """The body of an ``apply_quotes`` request, to publish on CONTROL_CHANNEL.

    Raises ControlMessageError for a request the feed would refuse (checked here too, so a
    sender learns of it before anything is sent).
    """
    items = [q.to_json() for q in quotes]
    try:
        # Before encoding: JSON has no inf or nan, orjson would send them as null.
        for index, item in enumerate(items):
            _quote(item, index)
    except ValueError as exc:
        raise ControlMessageError(f"apply_quotes {exc}", request_id) from None
    data: dict[str, Any] = {"request_id": request_id, "quotes": items}
    if expires_at is not None:
        data["expires_at"] = expires_at
    body = encode_body(APPLY_QUOTES, data)
    parse_apply_quotes(body + b"}")
    return body


def _message(frame: bytes) -> dict[str, Any]:
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ControlMessageError(f"control frame is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ControlMessageError("control frame is not a JSON object")
    return message


def message_type(frame: bytes) -> str | None:
    """The ``type`` of a control frame, or None if it has none. Raises ControlMessageError
    if the frame is not a JSON object."""
    kind = _message(frame).get("type")
    return kind if isinstance(kind, str) else None


def _number(value: Any, name: str, *, positive: bool) -> float:
    # bool is an int in Python, never a price.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite")
    if positive and not number > 0:
        raise ValueError(f"{name} must be greater than 0")
    if number < 0:
        raise ValueError(f"{name} must not be negative")
    return number


def _quote(item: Any, index: int) -> QuoteUpdate:
    where = f"quotes[{index}]"
    if not isinstance(item, dict):
        raise ValueError(f"{where} must be an object")
    unknown = sorted(set(item) - _QUOTE_FIELDS)
    if unknown:
        raise ValueError(f"{where} has unknown field {unknown[0]!r}")
    symbol = item.get("symbol")
    if not isinstance(symbol, str) or len(symbol) > 32 or not _SYMBOL.match(symbol):
        raise ValueError(f"{where}.symbol must be an upper-case symbol, not {symbol!r}")
    if "price" not in item:
        raise ValueError(f"{where}.price is required")
    price = _number(item["price"], f"{where}.price", positive=True)
    volume = _number(item.get("volume", 0), f"{where}.volume", positive=False)
    raw_day = item.get("day_volume")
    day = None if raw_day is None else _number(raw_day, f"{where}.day_volume", positive=False)
    ts = _number(item.get("ts", 0), f"{where}.ts", positive=False)
    return QuoteUpdate(symbol, price, volume, day, ts)


def parse_apply_quotes(frame: bytes) -> ApplyQuotes:
    """The request in an ``apply_quotes`` frame, every field checked.

    Raises ControlMessageError naming the first bad field (with the request id when the
    frame has a valid one).
    """
    message = _message(frame)
    if message.get("type") != APPLY_QUOTES:
        raise ControlMessageError("not an apply_quotes message")
    data = message.get("data")
    if not isinstance(data, dict):
        raise ControlMessageError("apply_quotes needs data, an object")
    request_id = data.get("request_id")
    if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
        raise ControlMessageError(
            "apply_quotes needs data.request_id, 1-64 letters, digits, '-' or '_'"
        )
    quotes = data.get("quotes")
    if not isinstance(quotes, list) or not quotes:
        raise ControlMessageError("apply_quotes needs data.quotes, a non-empty list", request_id)
    if len(quotes) > MAX_APPLY_QUOTES:
        raise ControlMessageError(
            f"apply_quotes takes at most {MAX_APPLY_QUOTES} quotes, not {len(quotes)}", request_id
        )
    unknown = sorted(set(data) - {"request_id", "quotes", "expires_at"})
    if unknown:
        raise ControlMessageError(f"apply_quotes has unknown field {unknown[0]!r}", request_id)
    try:
        parsed = tuple(_quote(item, i) for i, item in enumerate(quotes))
        raw = data.get("expires_at")
        expires = None if raw is None else _number(raw, "data.expires_at", positive=True)
    except ValueError as exc:
        raise ControlMessageError(f"apply_quotes {exc}", request_id) from None
    return ApplyQuotes(request_id, parsed, expires)


def parse_ack(frame: bytes) -> QuotesAck:
    """The acknowledgement in an ``apply_quotes_ack`` frame (as the sender reads it).

    Raises ControlMessageError if the frame is not one.
    """
    message = _message(frame)
    data = message.get("data")
    if message.get("type") != APPLY_QUOTES_ACK or not isinstance(data, dict):
        raise ControlMessageError("not an apply_quotes_ack message")
    request_id = data.get("request_id")
    applied = data.get("applied")
    rejected = data.get("rejected")
    error = data.get("error")
    feed = data.get("feed")
    if (
        not isinstance(request_id, str)
        or not isinstance(applied, list)
        or not isinstance(rejected, list)
        or not all(isinstance(r, dict) for r in rejected)
        or not (error is None or isinstance(error, str))
        or not isinstance(feed, dict)
    ):
        raise ControlMessageError("apply_quotes_ack is missing fields")
    return QuotesAck(
        request_id,
        applied=[a for a in applied if isinstance(a, dict)],
        rejected=[Rejection(str(r.get("symbol")), str(r.get("reason"))) for r in rejected],
        persisted=data.get("persisted") is True,
        error=error,
        feed=feed,
    )
