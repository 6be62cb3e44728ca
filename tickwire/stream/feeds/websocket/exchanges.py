"""Exchange presets: Finnhub trades, Binance spot streams, Coinbase Advanced Trade.

Each knows its provider's URL, subscribe messages and message shapes; the connection,
reconnects and silence detection are :class:`~.source.WebSocketSource`'s. History
(``history_pages``) comes from the provider's REST API at ``rest_url``, through
:mod:`tickwire.stream.feeds.history`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..base import Bar, Instrument, MalformedMessage, SourceConfigError, Tick
from ..common import check_url, parse_fields
from ..history import (
    BINANCE_REST_URL,
    COINBASE_REST_URL,
    FINNHUB_REST_URL,
    BinanceHistory,
    CoinbaseHistory,
    FinnhubHistory,
)
from .cdp import CdpKey, cdp_jwt, load_cdp_key
from .source import WebSocketSource

__all__ = ["BinanceSource", "CoinbaseSource", "FinnhubSource"]


class FinnhubSource(WebSocketSource):
    """Finnhub-style trades: ``{"type":"subscribe","symbol":S}`` per symbol in,
    ``{"type":"trade","data":[{"s","p","v","t"(ms)}]}`` out; the key is the ``token``
    query parameter."""

    name = "finnhub"
    default_url = "wss://ws.finnhub.io"

    def __init__(
        self, instruments: Sequence[Instrument], *, rest_url: str | None = None, **kw: Any
    ) -> None:
        super().__init__(instruments, **kw)
        if not self.api_key:
            raise SourceConfigError("the finnhub source needs an API key (api_key)")
        self.rest_url = check_url(rest_url or FINNHUB_REST_URL, ("http", "https"), "rest_url")

    def history_pages(
        self, symbol: str, interval: int, start: int, end: int
    ) -> AsyncIterator[list[Bar]]:
        """Candles from ``{rest_url}/api/v1/stock/candle`` (see :mod:`..history.finnhub`)."""
        history = FinnhubHistory(self.rest_url, api_key=self.api_key or "")
        return history.pages(symbol, self.symbols.provider(symbol) or symbol, interval, start, end)

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
        rest_url: str | None = None,
        weight_limit: int = 6000,
        **kw: Any,
    ) -> None:
        super().__init__(instruments, **kw)
        bad = [s for s in streams if s not in ("trade", "ticker")]
        if bad or not streams:
            raise SourceConfigError(f"binance streams must be trade and/or ticker, not {bad}")
        if weight_limit < 1:
            raise SourceConfigError(f"binance weight_limit must be at least 1, not {weight_limit}")
        self.streams = tuple(streams)
        self._request_id = 0
        self.rest_url = check_url(rest_url or BINANCE_REST_URL, ("http", "https"), "rest_url")
        self.weight_limit = weight_limit

    def history_pages(
        self, symbol: str, interval: int, start: int, end: int
    ) -> AsyncIterator[list[Bar]]:
        """Klines from ``{rest_url}/api/v3/klines`` (see :mod:`..history.binance`)."""
        history = BinanceHistory(
            self.rest_url, api_key=self.api_key, weight_limit=self.weight_limit
        )
        provider = self.symbols.provider(symbol) or self.default_symbol(symbol)
        return history.pages(symbol, provider, interval, start, end)

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
    connection. The ticker carries prices only (its volume is a rolling 24 hours, not
    trades).

    Without a key the public channels are read unauthenticated. With a CDP API key
    (``api_key`` = its name, ``api_secret`` or ``api_secret_file`` = its EC private key
    in PEM), each connection's subscribe messages carry a fresh ES256 JWT
    (:func:`~.cdp.cdp_jwt`). Raises SourceConfigError for an incomplete or unusable key.
    """

    name = "coinbase"
    kinds = ("crypto",)
    default_url = "wss://advanced-trade-ws.coinbase.com"

    def __init__(
        self,
        instruments: Sequence[Instrument],
        *,
        api_secret: str | None = None,
        api_secret_file: str | None = None,
        rest_url: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(instruments, **kw)
        self.cdp_key: CdpKey | None = load_cdp_key(self.api_key, api_secret, api_secret_file)
        self.jwts_signed = 0
        self.rest_url = check_url(rest_url or COINBASE_REST_URL, ("http", "https"), "rest_url")

    def history_pages(
        self, symbol: str, interval: int, start: int, end: int
    ) -> AsyncIterator[list[Bar]]:
        """Public candles from ``{rest_url}/api/v3/brokerage/market/products/{id}/candles``
        (see :mod:`..history.coinbase`)."""
        product = self.symbols.provider(symbol) or symbol
        return CoinbaseHistory(self.rest_url).pages(symbol, product, interval, start, end)

    def subscribe_messages(self) -> list[Any]:
        products = list(self.symbols.to_provider.values())
        # One JWT per connection: it is valid for two minutes, the subscriptions for as
        # long as the connection lives.
        token = cdp_jwt(self.cdp_key) if self.cdp_key is not None else None
        if token is not None:
            self.jwts_signed += 1
        messages = []
        for channel in ("ticker", "heartbeats"):
            msg: dict[str, Any] = {"type": "subscribe", "product_ids": products, "channel": channel}
            if token is not None:
                msg["jwt"] = token
            messages.append(msg)
        return messages

    def status(self) -> dict[str, object]:
        return {
            **super().status(),
            "authenticated": self.cdp_key is not None,
            "jwts_signed": self.jwts_signed,
        }

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
        events = message.get("events") or []
        if not isinstance(events, list):
            raise MalformedMessage("ticker message without an events list")
        out = []
        for event in events:
            tickers = (event.get("tickers") if isinstance(event, dict) else None) or []
            if not isinstance(tickers, list):
                self.bad_item("ticker event without a tickers list", event)
                continue
            for item in tickers:
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
