"""The ``websocket`` source: any JSON WebSocket feed, described by settings."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from ..base import Instrument, MalformedMessage, SourceConfigError, Tick
from ..common import get_path, parse_fields
from .source import WebSocketSource

__all__ = ["DEFAULT_GENERIC_FIELDS", "DEFAULT_GENERIC_SUBSCRIBE", "GenericWebSocketSource"]

DEFAULT_GENERIC_SUBSCRIBE = '{"type": "subscribe", "symbol": "{symbol}"}'
DEFAULT_GENERIC_FIELDS = {
    "symbol": "symbol",
    "price": "price",
    "volume": "volume",
    "time": "timestamp",
}


class GenericWebSocketSource(WebSocketSource):
    """Any JSON WebSocket feed, described by settings (seed 000's pattern).

    ``subscribe`` is a JSON template: a string value ``"{symbols}"`` becomes the list of
    provider symbols (one message for all); otherwise ``{symbol}`` inside strings is
    replaced per symbol (one message each); a template with neither is sent once; an empty
    one sends nothing. ``items`` is the path of the quote (or list of quotes) in each
    message; ``fields`` maps symbol/price/volume/time to paths inside an item. ``match``
    (``path=value``) keeps only messages where that field has that value (e.g.
    ``type=trade``), so acks and heartbeats are skipped rather than counted as malformed.
    """

    name = "websocket"

    def __init__(
        self,
        instruments: Sequence[Instrument],
        *,
        subscribe: str | None = DEFAULT_GENERIC_SUBSCRIBE,
        items: str = "",
        fields: Mapping[str, str] | None = None,
        match: str | None = None,
        **kw: Any,
    ) -> None:
        if not kw.get("url"):
            raise SourceConfigError("the websocket source needs a url (ws:// or wss://)")
        super().__init__(instruments, **kw)
        self.template: Any = None
        if subscribe:
            try:
                self.template = orjson.loads(subscribe)
            except orjson.JSONDecodeError as exc:
                raise SourceConfigError(f"subscribe template is not JSON: {exc}") from None
        self.items = items
        self.fields = {**DEFAULT_GENERIC_FIELDS, **(fields or {})}
        unknown = set(self.fields) - set(DEFAULT_GENERIC_FIELDS)
        if unknown:
            raise SourceConfigError(
                f"unknown fields {sorted(unknown)}; use symbol/price/volume/time"
            )
        if not self.fields.get("price"):
            raise SourceConfigError("fields must name the price path")
        self.match: tuple[str, str] | None = None
        if match:
            path, sep, value = match.partition("=")
            if not sep or not path:
                raise SourceConfigError(f"match {match!r} must look like path=value")
            self.match = (path.strip(), value.strip())

    def subscribe_messages(self) -> list[Any]:
        if self.template is None:
            return []
        providers = list(self.symbols.to_provider.values())
        text = orjson.dumps(self.template).decode()
        if '"{symbols}"' in text:
            return [_fill(self.template, lambda s: providers if s == "{symbols}" else s)]
        if "{symbol}" in text:
            return [_fill(self.template, functools.partial(_put_symbol, p)) for p in providers]
        return [copy.deepcopy(self.template)]

    def parse(self, message: Any, received_at: float) -> list[Tick]:
        if self.match is not None:
            path, value = self.match
            if str(get_path(message, path, None)) != value:
                return []
        found = get_path(message, self.items)
        items = found if isinstance(found, list) else [found]
        single = len(self.symbols) == 1 and not self.fields.get("symbol")
        only = next(iter(self.symbols.to_provider.values())) if single else None
        out = []
        for item in items:
            try:
                sym, price, volume, ts = parse_fields(item, self.fields, symbol=only)
            except MalformedMessage as exc:
                if len(items) == 1:
                    raise
                self.bad_item(str(exc), item)
                continue
            tick = self.tick(sym, price, volume, ts, received_at)
            if tick is not None:
                out.append(tick)
        return out


def _put_symbol(symbol: str, text: str) -> str:
    return text.replace("{symbol}", symbol)


def _fill(template: Any, replace: Callable[[str], Any]) -> Any:
    if isinstance(template, str):
        return replace(template)
    if isinstance(template, list):
        return [_fill(v, replace) for v in template]
    if isinstance(template, dict):
        return {k: _fill(v, replace) for k, v in template.items()}
    return template
