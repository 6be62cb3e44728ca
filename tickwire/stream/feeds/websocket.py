"""Streaming JSON WebSocket sources: a reconnecting base and the provider presets.

:class:`WebSocketSource` owns the connection: it connects, sends the provider's subscribe
messages (again after every reconnect), decodes each message and hands it to the preset's
:meth:`~WebSocketSource.parse`. It reconnects with exponential backoff and jitter when the
connection fails or drops, and treats a feed that stays silent for ``silence_timeout``
seconds as dead (a half-open TCP connection looks exactly like a quiet market otherwise).
Malformed payloads are counted and logged, never fatal. Ticks go through a bounded buffer
to the feed, which takes them in batches of up to ``batch_size``.

Presets: :class:`FinnhubSource` (trades), :class:`BinanceSource` (spot ``@trade`` /
``@ticker`` on the combined-stream endpoint), :class:`CoinbaseSource` (Advanced Trade
``ticker`` + ``heartbeats``) and :class:`GenericWebSocketSource` (URL, subscribe template
and field paths, for any other JSON feed).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ..backoff import Backoff
from .base import Instrument, MalformedMessage, Source, SourceConfigError, Tick
from .common import SourceStats, SymbolMap, TickBuffer, get_path, parse_fields

__all__ = [
    "BinanceSource",
    "CoinbaseSource",
    "FeedSilent",
    "FinnhubSource",
    "GenericWebSocketSource",
    "WebSocketSource",
]

log = logging.getLogger("tickwire.feed")


class FeedSilent(Exception):
    """No message arrived for ``silence_timeout`` seconds; the connection is presumed dead."""


def _check_url(url: str, schemes: tuple[str, ...], option: str = "url") -> str:
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


class WebSocketSource(Source):
    """A JSON-over-WebSocket source that reconnects, resubscribes and watches for silence.

    Subclasses implement :meth:`subscribe_messages` and :meth:`parse`; they may override
    :meth:`connect_url`, :meth:`connect_headers` and :meth:`prepare` (work before each
    connection, such as fetching a token).
    """

    name = "websocket"
    #: Asset kinds the provider carries; other instruments are left out unless mapped.
    kinds: tuple[str, ...] | None = None
    default_url = ""

    def __init__(
        self,
        instruments: Sequence[Instrument],
        *,
        url: str | None = None,
        api_key: str | None = None,
        symbol_map: Mapping[str, str] | None = None,
        batch_size: int = 50,
        silence_timeout: float = 30.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        open_timeout: float = 10.0,
        max_message_bytes: int = 4 * 1024 * 1024,
        rng: random.Random | None = None,
    ) -> None:
        if batch_size < 1:
            raise SourceConfigError("batch_size must be at least 1")
        if not silence_timeout > 0:
            raise SourceConfigError("silence_timeout must be a positive number of seconds")
        self.url = _check_url(url or self.default_url, ("ws", "wss"))
        self.api_key = api_key or None
        self.batch_size = batch_size
        self.silence_timeout = silence_timeout
        self.open_timeout = open_timeout
        self.max_message_bytes = max_message_bytes
        mapping = dict(symbol_map or {})
        chosen = [
            i.symbol
            for i in instruments
            if i.symbol in mapping or self.kinds is None or i.kind in self.kinds
        ]
        self.symbols = SymbolMap(chosen, mapping, self.default_symbol)
        self.stats = SourceStats()
        # Equal jitter: spread out, yet never much sooner than the provider can take.
        self.backoff = Backoff(backoff_initial, backoff_max, jitter=0.5).retries(rng)
        self.latest: dict[str, Tick] = {}
        self.ignored = 0
        self._buffer = TickBuffer()

    # -- hooks for presets ----------------------------------------------------------------

    def default_symbol(self, symbol: str) -> str:
        """The provider's symbol for a Tickwire symbol that ``symbol_map`` does not name."""
        return symbol

    def connect_url(self) -> str:
        return self.url

    def connect_headers(self) -> dict[str, str]:
        return {}

    async def prepare(self) -> None:
        """Work before each connection attempt (e.g. a token). Errors count as a failed
        attempt and are retried with backoff."""

    def subscribe_messages(self) -> list[Any]:
        """The JSON messages to send after connecting (and after every reconnect)."""
        return []

    def parse(self, message: Any, received_at: float) -> list[Tick]:
        """Ticks from one decoded message; ``[]`` for acks and heartbeats.

        Raise MalformedMessage for a payload that should have been data but is not; call
        :meth:`bad_item` for one bad element of an otherwise good message.
        """
        raise NotImplementedError

    # -- helpers for presets --------------------------------------------------------------

    def tick(
        self, provider_symbol: str, price: float, volume: float, ts: float | None, received: float
    ) -> Tick | None:
        """A Tick for a provider symbol, or None (counted as ignored) if it is not ours."""
        symbol = self.symbols.tickwire(provider_symbol)
        if symbol is None:
            self.ignored += 1
            return None
        return Tick(symbol, price, volume, ts if ts is not None else received)

    def bad_item(self, reason: str, item: object) -> None:
        self.stats.bad_payload(self.name, reason, item)

    def provider_error(self, text: str) -> None:
        """The provider reported an error in-band (bad key, unknown symbol...)."""
        self.stats.provider_errors += 1
        self.stats.last_error = f"provider: {text}"
        self.stats.last_error_at = time.time()
        log.warning("%s: provider error: %s", self.name, text)

    # -- running --------------------------------------------------------------------------

    async def ticks(self) -> AsyncIterator[list[Tick]]:
        if not len(self.symbols):
            log.warning("%s: no instruments of kinds %s to subscribe", self.name, self.kinds)
        runner = asyncio.ensure_future(self._connection_loop())
        try:
            while True:
                yield await self._buffer.get(self.batch_size)
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    async def _connection_loop(self) -> None:
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except FeedSilent as exc:
                self.stats.silent_reconnects += 1
                self.stats.error(str(exc))
                log.warning("%s: %s; reconnecting", self.name, exc)
            except Exception as exc:
                self.stats.error(_describe(exc))
                log.warning("%s: connection failed: %s", self.name, _describe(exc))
            finally:
                self.stats.connected = False
            delay = self.backoff.next_delay()
            self.stats.reconnects += 1
            log.info(
                "%s: reconnecting in %.2fs (attempt %d)", self.name, delay, self.backoff.attempt
            )
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        await self.prepare()
        async with connect(
            self.connect_url(),
            additional_headers=self.connect_headers() or None,
            open_timeout=self.open_timeout,
            max_size=self.max_message_bytes,
            compression=None,
        ) as ws:
            self.stats.connected = True
            self.stats.connected_at = time.time()
            log.info("%s: connected to %s", self.name, redact_url(self.connect_url()))
            for message in self.subscribe_messages():
                await ws.send(orjson.dumps(message).decode())
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), self.silence_timeout)
                except TimeoutError:
                    raise FeedSilent(f"no message for {self.silence_timeout:g}s") from None
                self.handle_raw(raw)

    def handle_raw(self, raw: str | bytes) -> list[Tick]:
        """Decode and parse one message; queue its ticks for the feed. Never raises."""
        received = time.time()
        self.stats.messages += 1
        self.stats.last_message_at = received
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self.stats.bad_payload(self.name, f"invalid JSON: {exc}", raw)
            return []
        try:
            ticks = self.parse(message, received)
        except MalformedMessage as exc:
            self.stats.bad_payload(self.name, str(exc), message)
            return []
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            # A shape the preset did not expect: still the provider's fault, not ours.
            self.stats.bad_payload(self.name, f"{type(exc).__name__}: {exc}", message)
            return []
        if ticks:
            self.stats.ticks += len(ticks)
            for t in ticks:
                self.latest[t.symbol] = t
            self._buffer.put(ticks)
            # Data flows again: the next failure starts over from the shortest delay.
            self.backoff.reset()
        return ticks

    def status(self) -> dict[str, object]:
        return {
            "source": self.name,
            "url": redact_url(self.connect_url()),
            "symbols": len(self.symbols),
            **self.stats.as_dict(),
            "ignored": self.ignored,
            "buffered": len(self._buffer),
            "dropped": self._buffer.dropped,
            "silence_timeout": self.silence_timeout,
        }


def _describe(exc: BaseException) -> str:
    if isinstance(exc, InvalidStatus):
        return f"server answered HTTP {exc.response.status_code}"
    if isinstance(exc, ConnectionClosed):
        rcvd = exc.rcvd
        if rcvd is None:
            return "connection dropped without a close frame"
        return f"server closed the connection ({rcvd.code} {rcvd.reason})".strip()
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


# -- presets ------------------------------------------------------------------------------


class FinnhubSource(WebSocketSource):
    """Finnhub-style trades: ``{"type":"subscribe","symbol":S}`` per symbol in,
    ``{"type":"trade","data":[{"s","p","v","t"(ms)}]}`` out; the key is the ``token``
    query parameter."""

    name = "finnhub"
    default_url = "wss://ws.finnhub.io"

    def __init__(self, instruments: Sequence[Instrument], **kw: Any) -> None:
        super().__init__(instruments, **kw)
        if not self.api_key:
            raise SourceConfigError("the finnhub source needs an API key (api_key)")

    def connect_url(self) -> str:
        parts = urlsplit(self.url)
        query = "&".join(q for q in (parts.query, urlencode({"token": self.api_key or ""})) if q)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))

    def subscribe_messages(self) -> list[Any]:
        return [{"type": "subscribe", "symbol": p} for p in self.symbols.to_provider.values()]

    def parse(self, message: Any, received_at: float) -> list[Tick]:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "trade":
            data = message.get("data")
            if not isinstance(data, list):
                raise MalformedMessage("trade message without a data list")
            out = []
            for item in data:
                try:
                    sym, price, volume, ts = parse_fields(item, _FINNHUB_FIELDS)
                except MalformedMessage as exc:
                    self.bad_item(str(exc), item)
                    continue
                tick = self.tick(sym, price, volume, ts, received_at)
                if tick is not None:
                    out.append(tick)
            return out
        if kind == "error":
            self.provider_error(str(message.get("msg") or message))
            return []
        if kind in ("ping", "news"):
            return []
        raise MalformedMessage(f"unexpected message type {kind!r}")


_FINNHUB_FIELDS = {"symbol": "s", "price": "p", "volume": "v", "time": "t"}


class BinanceSource(WebSocketSource):
    """Binance spot streams: ``SUBSCRIBE`` to ``<symbol>@trade`` (and/or ``@ticker``) on
    the combined-stream endpoint, whose messages are ``{"stream": ..., "data": {...}}``.

    Tickwire ``BTC-USD`` maps to ``btcusdt`` (Binance quotes in USDT) unless
    ``symbol_map`` says otherwise. Trades carry volume; ticker updates (``c``, last price)
    carry none, so volume is never counted twice when both are subscribed.
    """

    name = "binance"
    kinds = ("crypto",)
    default_url = "wss://stream.binance.com:9443/stream"

    def __init__(
        self,
        instruments: Sequence[Instrument],
        *,
        streams: Sequence[str] = ("trade",),
        **kw: Any,
    ) -> None:
        super().__init__(instruments, **kw)
        bad = [s for s in streams if s not in ("trade", "ticker")]
        if bad or not streams:
            raise SourceConfigError(f"binance streams must be trade and/or ticker, not {bad}")
        self.streams = tuple(streams)
        self._request_id = 0

    def default_symbol(self, symbol: str) -> str:
        base, sep, quote = symbol.partition("-")
        if sep and quote == "USD":
            quote = "USDT"
        return (base + quote).lower()

    def connect_headers(self) -> dict[str, str]:
        return {"X-MBX-APIKEY": self.api_key} if self.api_key else {}

    def subscribe_messages(self) -> list[Any]:
        params = [
            f"{p.lower()}@{stream}"
            for p in self.symbols.to_provider.values()
            for stream in self.streams
        ]
        messages = []
        # Binance allows 1024 streams per connection; 200 per request keeps frames small.
        for start in range(0, len(params), 200):
            self._request_id += 1
            messages.append(
                {
                    "method": "SUBSCRIBE",
                    "params": params[start : start + 200],
                    "id": self._request_id,
                }
            )
        return messages

    def parse(self, message: Any, received_at: float) -> list[Tick]:
        if not isinstance(message, dict):
            raise MalformedMessage("not a JSON object")
        if "id" in message and ("result" in message or "error" in message):
            if message.get("error"):
                err = message["error"]
                self.provider_error(str(err.get("msg") if isinstance(err, dict) else err))
            return []
        data = message.get("data", message) if "stream" in message else message
        if not isinstance(data, dict):
            raise MalformedMessage("stream message without a data object")
        event = data.get("e")
        if event == "trade":
            sym, price, volume, ts = parse_fields(data, _BINANCE_TRADE)
        elif event == "24hrTicker":
            sym, price, _, ts = parse_fields(data, _BINANCE_TICKER)
            volume = 0.0
        else:
            raise MalformedMessage(f"unexpected event {event!r}")
        tick = self.tick(sym, price, volume, ts, received_at)
        return [tick] if tick is not None else []


_BINANCE_TRADE = {"symbol": "s", "price": "p", "volume": "q", "time": "T"}
_BINANCE_TICKER = {"symbol": "s", "price": "c", "time": "E"}


class CoinbaseSource(WebSocketSource):
    """Coinbase Advanced Trade: ``subscribe`` with ``product_ids`` to the ``ticker`` and
    ``heartbeats`` channels. Heartbeats keep a quiet product from looking like a dead
    connection. An API key, if given, is sent as the ``jwt`` of each subscribe message.
    The ticker carries prices only (its volume is a rolling 24 hours, not trades).
    """

    name = "coinbase"
    kinds = ("crypto",)
    default_url = "wss://advanced-trade-ws.coinbase.com"

    def subscribe_messages(self) -> list[Any]:
        products = list(self.symbols.to_provider.values())
        messages = []
        for channel in ("ticker", "heartbeats"):
            msg: dict[str, Any] = {"type": "subscribe", "product_ids": products, "channel": channel}
            if self.api_key:
                msg["jwt"] = self.api_key
            messages.append(msg)
        return messages

    def parse(self, message: Any, received_at: float) -> list[Tick]:
        if not isinstance(message, dict):
            raise MalformedMessage("not a JSON object")
        if message.get("type") == "error":
            self.provider_error(str(message.get("message") or message.get("reason") or message))
            return []
        channel = message.get("channel")
        if channel in ("heartbeats", "subscriptions"):
            return []
        if channel != "ticker":
            raise MalformedMessage(f"unexpected channel {channel!r}")
        stamp = message.get("timestamp")
        out = []
        for event in message.get("events") or []:
            for item in (event.get("tickers") if isinstance(event, dict) else None) or []:
                try:
                    sym, price, _, ts = parse_fields(
                        {**item, "timestamp": stamp} if isinstance(item, dict) else item,
                        _COINBASE_FIELDS,
                    )
                except MalformedMessage as exc:
                    self.bad_item(str(exc), item)
                    continue
                tick = self.tick(sym, price, 0.0, ts, received_at)
                if tick is not None:
                    out.append(tick)
        return out


_COINBASE_FIELDS = {"symbol": "product_id", "price": "price", "time": "timestamp"}

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
