"""Coinbase Advanced Trade public candles.

``GET {rest}/api/v3/brokerage/market/products/{product_id}/candles?start=unix&end=unix
&granularity=ONE_MINUTE|ONE_DAY`` answers ``{"candles": [{"start": "unix", "low", "high",
"open", "close", "volume"}]}``, newest first, at most 350 candles a request. The range is
asked for in windows of 350 intervals (``end`` is the last candle's start, so a window
never holds more than 350) and each window's candles are sorted oldest first. A window
without trades answers no candles; the next window is asked all the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from ..base import Bar, MalformedMessage
from .client import HistoryError, RestClient, Sleep, check_range, make_bar, windows

__all__ = ["COINBASE_REST_URL", "CoinbaseHistory"]

COINBASE_REST_URL = "https://api.coinbase.com"
LIMIT = 350
_GRANULARITY = {60: "ONE_MINUTE", 86400: "ONE_DAY"}


class CoinbaseHistory:
    """Pages of candles for one product (see the module docstring)."""

    def __init__(self, rest_url: str = COINBASE_REST_URL, *, sleep: Sleep | None = None) -> None:
        self.rest_url = rest_url
        self.sleep = sleep
        self.requests = 0

    def client(self) -> RestClient:
        return RestClient("coinbase", self.rest_url, sleep=self.sleep)

    async def pages(
        self, symbol: str, product_id: str, interval: int, start: int, end: int
    ) -> AsyncIterator[list[Bar]]:
        """Bars of ``symbol`` (``product_id`` at Coinbase) starting in ``[start, end)``.

        Raises HistoryError.
        """
        check_range(interval, start, end)
        path = f"/api/v3/brokerage/market/products/{quote(product_id, safe='')}/candles"
        async with self.client() as client:
            for lo, hi in windows(start, end, LIMIT * interval):
                payload = await client.get(
                    path,
                    {"start": lo, "end": hi - interval, "granularity": _GRANULARITY[interval]},
                )
                self.requests = client.requests
                candles = payload.get("candles") if isinstance(payload, dict) else None
                if not isinstance(candles, list):
                    raise HistoryError(
                        f"coinbase {symbol}: answer without a candles list: {payload!r:.200}"
                    )
                page = [b for b in _bars(symbol, interval, candles) if lo <= b.start < hi]
                if page:
                    yield page


def _bars(symbol: str, interval: int, candles: list[Any]) -> list[Bar]:
    out: dict[int, Bar] = {}
    for n, item in enumerate(candles):
        try:
            if not isinstance(item, dict):
                raise MalformedMessage(f"candle {item!r} is not an object")
            missing = [k for k in ("start", "open", "high", "low", "close") if k not in item]
            if missing:
                raise MalformedMessage(f"candle without {', '.join(missing)}")
            bar = make_bar(
                symbol,
                interval,
                item["start"],
                item["open"],
                item["high"],
                item["low"],
                item["close"],
                item.get("volume"),
            )
        except MalformedMessage as exc:
            raise HistoryError(f"coinbase {symbol}: candle {n}: {exc}") from None
        out[bar.start] = bar
    return [out[k] for k in sorted(out)]
