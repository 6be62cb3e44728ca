"""Binance spot klines: ``GET {rest}/api/v3/klines``.

``symbol=BTCUSDT&interval=1m|1d&startTime=ms&endTime=ms&limit=1000`` answers an array of
``[openTime, open, high, low, close, volume, closeTime, ...]`` (numbers as strings), oldest
first. A full page (``limit`` rows) means there may be more: the next request starts one
interval after the last open time; a shorter page is the last.

Binance counts request weight per minute per IP (``X-MBX-USED-WEIGHT-1M`` on every answer,
6000 by default). Past the limit it answers 429, and 418 (a ban) to clients that keep
going; so the client waits for the next minute once the used weight comes within one
request's weight of ``weight_limit``, before Binance has to say so.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from ..base import Bar, MalformedMessage
from .client import HistoryError, RestClient, Sleep, check_range, make_bar

__all__ = ["BINANCE_REST_URL", "BinanceHistory", "BinanceRestClient"]

BINANCE_REST_URL = "https://api.binance.com"
LIMIT = 1000
#: Weight of one klines request (2 for any limit up to 1000).
KLINES_WEIGHT = 2
_INTERVAL = {60: "1m", 86400: "1d"}


class BinanceRestClient(RestClient):
    """A RestClient that keeps under Binance's per-minute request weight."""

    def __init__(
        self,
        base_url: str,
        *,
        weight_limit: int = 6000,
        clock: Callable[[], float] = time.time,
        **kw: Any,
    ) -> None:
        super().__init__("binance", base_url, **kw)
        self.weight_limit = weight_limit
        self.clock = clock
        self.used_weight = 0
        self._minute = -1
        self.weight_waits = 0

    def after_response(self, response: httpx.Response) -> None:
        raw = response.headers.get("x-mbx-used-weight-1m")
        if raw and raw.strip().isdigit():
            self.used_weight = int(raw)
            self._minute = int(self.clock() // 60)

    async def before_request(self) -> None:
        now = self.clock()
        if int(now // 60) != self._minute:
            return  # a new minute: the weight counter has started over
        if self.used_weight + KLINES_WEIGHT > self.weight_limit:
            self.weight_waits += 1
            # Half a second past the minute, in case our clock is slightly ahead of theirs.
            await self.sleep(60.0 - now % 60 + 0.5)
            self.used_weight = 0


class BinanceHistory:
    """Pages of klines for one symbol (see the module docstring)."""

    def __init__(
        self,
        rest_url: str = BINANCE_REST_URL,
        *,
        api_key: str | None = None,
        weight_limit: int = 6000,
        sleep: Sleep | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rest_url = rest_url
        self.api_key = api_key
        self.weight_limit = weight_limit
        self.sleep = sleep
        self.clock = clock
        self.requests = 0

    def client(self) -> BinanceRestClient:
        headers = {"X-MBX-APIKEY": self.api_key} if self.api_key else {}
        return BinanceRestClient(
            self.rest_url,
            weight_limit=self.weight_limit,
            clock=self.clock,
            headers=headers,
            sleep=self.sleep,
        )

    async def pages(
        self, symbol: str, provider_symbol: str, interval: int, start: int, end: int
    ) -> AsyncIterator[list[Bar]]:
        """Bars of ``symbol`` (``provider_symbol`` at Binance) starting in ``[start, end)``.

        Raises HistoryError.
        """
        check_range(interval, start, end)
        async with self.client() as client:
            at = start
            while at < end:
                rows = await client.get(
                    "/api/v3/klines",
                    {
                        "symbol": provider_symbol.upper(),
                        "interval": _INTERVAL[interval],
                        "startTime": at * 1000,
                        "endTime": end * 1000 - 1,
                        "limit": LIMIT,
                    },
                )
                self.requests = client.requests
                if not isinstance(rows, list):
                    raise HistoryError(f"binance {symbol}: klines answer is not a list: {rows!r}")
                page = [b for b in _bars(symbol, interval, rows) if at <= b.start < end]
                if page:
                    yield page
                if len(rows) < LIMIT or not page:
                    return
                at = page[-1].start + interval


def _bars(symbol: str, interval: int, rows: list[Any]) -> list[Bar]:
    out = []
    for n, row in enumerate(rows):
        try:
            if not isinstance(row, list) or len(row) < 6:
                raise MalformedMessage(f"kline {row!r} is not [openTime, o, h, l, c, v, ...]")
            out.append(make_bar(symbol, interval, *row[:6]))
        except MalformedMessage as exc:
            raise HistoryError(f"binance {symbol}: kline {n}: {exc}") from None
    out.sort(key=lambda b: b.start)
    return out
