"""Pieces every external source shares: payload field access, time parsing, symbol maps,
provider URLs, the tick buffer between a connection and the feed, and status counters.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .base import MalformedMessage, SourceConfigError, Tick

__all__ = [
    "SourceStats",
    "SymbolMap",
    "TickBuffer",
    "check_url",
    "get_path",
    "parse_fields",
    "redact_url",
    "to_price",
    "to_unix",
    "to_volume",
]

log = logging.getLogger("tickwire.feed")

_MISSING = object()


def get_path(obj: Any, path: str, default: Any = _MISSING) -> Any:
    """The value at dotted ``path`` in parsed JSON (``data.0.p``; ``""`` is ``obj`` itself).

    Raises MalformedMessage when a step is missing and no ``default`` was given.
    """
    if not path:
        return obj
    cur = obj
    for part in path.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        elif (
            isinstance(cur, list)
            and part.lstrip("-").isdigit()
            and -len(cur) <= int(part) < len(cur)
        ):
            cur = cur[int(part)]
        else:
            if default is not _MISSING:
                return default
            raise MalformedMessage(f"no field {path!r}")
    return cur


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or value is None:
        raise MalformedMessage(f"{what} is {value!r}, not a number")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise MalformedMessage(f"{what} is {value!r}, not a number") from None
    else:
        raise MalformedMessage(f"{what} is {type(value).__name__}, not a number")
    if not math.isfinite(number):
        raise MalformedMessage(f"{what} is {value!r}, not a finite number")
    return number


def to_price(value: object) -> float:
    """A positive finite price from a number or numeric string. Raises MalformedMessage."""
    price = _number(value, "price")
    if price <= 0:
        raise MalformedMessage(f"price {value!r} is not positive")
    return price


def to_volume(value: object) -> float:
    """A non-negative finite volume (``None`` is 0). Raises MalformedMessage."""
    if value is None:
        return 0.0
    volume = _number(value, "volume")
    if volume < 0:
        raise MalformedMessage(f"volume {value!r} is negative")
    return volume


_FRACTION = re.compile(r"(\.\d{6})\d+")


def to_unix(value: object) -> float:
    """Unix seconds from seconds, milliseconds, microseconds or nanoseconds since the
    epoch (told apart by magnitude), or an ISO-8601 string (nanosecond fractions allowed).

    Raises MalformedMessage for anything else.
    """
    if isinstance(value, str) and not _looks_numeric(value):
        text = _FRACTION.sub(r"\1", value.strip().replace("Z", "+00:00"))
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise MalformedMessage(f"time {value!r} is not ISO-8601") from None
        if parsed.tzinfo is None:
            raise MalformedMessage(f"time {value!r} has no time zone")
        return parsed.timestamp()
    number = _number(value, "time")
    if number <= 0:
        raise MalformedMessage(f"time {value!r} is not positive")
    # Seconds stay below 1e11 until the year 5138; each larger unit is 1000x further.
    while number > 1e11:
        number /= 1000.0
    return number


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_fields(
    item: Any,
    fields: Mapping[str, str],
    *,
    symbol: str | None = None,
    received_at: float | None = None,
) -> tuple[str, float, float, float | None]:
    """(provider symbol, price, volume, time) from one payload item by field paths.

    ``fields`` maps ``symbol``, ``price`` and optionally ``volume`` and ``time`` to paths.
    A missing symbol path uses ``symbol``; a missing time uses ``received_at``.
    Raises MalformedMessage.
    """
    if fields.get("symbol"):
        raw_symbol = get_path(item, fields["symbol"])
        if not isinstance(raw_symbol, str | int) or isinstance(raw_symbol, bool):
            raise MalformedMessage(f"symbol {raw_symbol!r} is not a string")
        provider_symbol = str(raw_symbol)
    elif symbol is not None:
        provider_symbol = symbol
    else:
        raise MalformedMessage("no symbol field configured")
    price = to_price(get_path(item, fields["price"]))
    volume = to_volume(get_path(item, fields["volume"], None)) if fields.get("volume") else 0.0
    ts: float | None = received_at
    if fields.get("time"):
        raw_time = get_path(item, fields["time"], None)
        if raw_time is not None:
            ts = to_unix(raw_time)
    return provider_symbol, price, volume, ts


def check_url(url: str, schemes: tuple[str, ...], option: str = "url") -> str:
    """``url`` itself if it has one of ``schemes`` and a host; else SourceConfigError
    naming ``option``."""
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.netloc:
        raise SourceConfigError(
            f"{option} {url!r} is not a valid URL (expected {' or '.join(schemes)}://host/...)"
        )
    return url


def redact_url(url: str) -> str:
    """The URL without its query and credentials (which may carry API keys)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class SymbolMap:
    """Tickwire symbols ↔ a provider's symbols.

    ``mapping`` names provider symbols explicitly (``{"BTC-USD": "BTCUSDT"}``); other
    symbols go through ``default`` (identity unless given). Lookups of provider symbols
    are case-insensitive, because providers echo symbols in their own case.
    """

    def __init__(
        self,
        symbols: Iterable[str],
        mapping: Mapping[str, str] | None = None,
        default: Any = None,
    ) -> None:
        mapping = dict(mapping or {})
        self.to_provider: dict[str, str] = {}
        for sym in symbols:
            if sym in mapping:
                self.to_provider[sym] = mapping[sym]
            else:
                self.to_provider[sym] = default(sym) if default is not None else sym
        self._from_provider = {p.upper(): s for s, p in self.to_provider.items()}

    def provider(self, symbol: str) -> str | None:
        return self.to_provider.get(symbol)

    def tickwire(self, provider_symbol: str) -> str | None:
        """The Tickwire symbol for a provider symbol, or None if it is not one of ours."""
        return self._from_provider.get(provider_symbol.upper())

    def __len__(self) -> int:
        return len(self.to_provider)


class TickBuffer:
    """Ticks waiting for the feed, bounded: when the feed falls behind by ``limit``
    ticks, the oldest are dropped (and counted), since a newer price supersedes them.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._ticks: deque[Tick] = deque()
        self._event = asyncio.Event()
        self.dropped = 0

    def put(self, ticks: Sequence[Tick]) -> None:
        if not ticks:
            return
        self._ticks.extend(ticks)
        overflow = len(self._ticks) - self.limit
        if overflow > 0:
            for _ in range(overflow):
                self._ticks.popleft()
            self.dropped += overflow
        self._event.set()

    async def get(self, max_items: int) -> list[Tick]:
        """Wait for ticks; return up to ``max_items`` of them, oldest first."""
        while not self._ticks:
            self._event.clear()
            await self._event.wait()
        n = min(max_items, len(self._ticks))
        return [self._ticks.popleft() for _ in range(n)]

    def __len__(self) -> int:
        return len(self._ticks)


@dataclass(slots=True)
class SourceStats:
    """Counters every external source reports in its status."""

    connected: bool = False
    connected_at: float | None = None
    last_message_at: float | None = None
    messages: int = 0
    ticks: int = 0
    malformed: int = 0
    errors: int = 0
    provider_errors: int = 0
    reconnects: int = 0
    silent_reconnects: int = 0
    last_error: str | None = None
    last_error_at: float | None = None

    def error(self, text: str) -> None:
        self.errors += 1
        self.last_error = text
        self.last_error_at = time.time()

    def bad_payload(self, source: str, reason: str, payload: object) -> None:
        """Count a malformed payload; log the first ten, then one in a thousand."""
        self.malformed += 1
        if self.malformed <= 10 or self.malformed % 1000 == 0:
            shown = repr(payload)
            if len(shown) > 300:
                shown = shown[:300] + "..."
            log.warning(
                "%s: malformed payload #%d skipped (%s): %s", source, self.malformed, reason, shown
            )

    def as_dict(self) -> dict[str, object]:
        return {
            "connected": self.connected,
            "connected_at": self.connected_at,
            "last_message_at": self.last_message_at,
            "messages": self.messages,
            "ticks": self.ticks,
            "malformed": self.malformed,
            "errors": self.errors,
            "provider_errors": self.provider_errors,
            "reconnects": self.reconnects,
            "silent_reconnects": self.silent_reconnects,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }
