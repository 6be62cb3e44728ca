"""Finnhub stock candles: ``GET {rest}/api/v1/stock/candle``.

``symbol=&resolution=1|D&from=unix&to=unix&token=`` answers parallel arrays
``{"c":[],"h":[],"l":[],"o":[],"t":[],"v":[],"s":"ok"}``, or ``{"s":"no_data"}`` for a
range without trades. The range is asked for in windows (``from`` and ``to`` both
inclusive, so a window asks up to one second before the next): 7 days of 1-minute bars or
1000 days of daily bars a request. Daily candles' times are aligned to the UTC day. The
free plan allows 60 requests a minute; a 429 is waited out (``Retry-After``, or backoff).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..base import Bar, MalformedMessage
from .client import HistoryError, RestClient, Sleep, check_range, make_bar, windows

__all__ = ["FINNHUB_REST_URL", "WINDOW", "FinnhubHistory"]

FINNHUB_REST_URL = "https://finnhub.io"
#: Seconds of history asked for per request, by interval.
WINDOW = {60: 7 * 86400, 86400: 1000 * 86400}
_RESOLUTION = {60: "1", 86400: "D"}
_ARRAYS = ("t", "o", "h", "l", "c")


class FinnhubHistory:
    """Pages of candles for one symbol (see the module docstring)."""

    def __init__(
        self, rest_url: str = FINNHUB_REST_URL, *, api_key: str = "", sleep: Sleep | None = None
    ) -> None:
        self.rest_url = rest_url
        self.api_key = api_key
        self.sleep = sleep
        self.requests = 0

    def client(self) -> RestClient:
        return RestClient("finnhub", self.rest_url, sleep=self.sleep)

    async def pages(
        self, symbol: str, provider_symbol: str, interval: int, start: int, end: int
    ) -> AsyncIterator[list[Bar]]:
        """Bars of ``symbol`` (``provider_symbol`` at Finnhub) starting in ``[start, end)``.

        Raises HistoryError.
        """
        check_range(interval, start, end)
        async with self.client() as client:
            for lo, hi in windows(start, end, WINDOW[interval]):
                payload = await client.get(
                    "/api/v1/stock/candle",
                    {
                        "symbol": provider_symbol,
                        "resolution": _RESOLUTION[interval],
                        "from": lo,
                        "to": hi - 1,
                        "token": self.api_key,
                    },
                )
                self.requests = client.requests
                page = [b for b in _bars(symbol, interval, payload) if lo <= b.start < hi]
                if page:
                    yield page


def _bars(symbol: str, interval: int, payload: Any) -> list[Bar]:
    status = payload.get("s") if isinstance(payload, dict) else None
    if status == "no_data":
        return []
    if status != "ok":
        error = payload.get("error") if isinstance(payload, dict) else None
        raise HistoryError(f"finnhub {symbol}: {error or f'unexpected answer {payload!r:.200}'}")
    columns = {k: payload.get(k) for k in (*_ARRAYS, "v")}
    bad = [k for k in _ARRAYS if not isinstance(columns[k], list)]
    if bad:
        raise HistoryError(f"finnhub {symbol}: answer without the {', '.join(bad)} arrays")
    count = len(columns["t"])
    uneven = [k for k in _ARRAYS if len(columns[k]) != count]
    if uneven:
        raise HistoryError(f"finnhub {symbol}: arrays {', '.join(uneven)} are not as long as t")
    volumes = columns["v"] if isinstance(columns["v"], list) else []
    out: dict[int, Bar] = {}
    for n in range(count):
        try:
            bar = make_bar(
                symbol,
                interval,
                columns["t"][n],
                columns["o"][n],
                columns["h"][n],
                columns["l"][n],
                columns["c"][n],
                volumes[n] if n < len(volumes) else None,
            )
        except MalformedMessage as exc:
            raise HistoryError(f"finnhub {symbol}: candle {n}: {exc}") from None
        out[bar.start] = bar
    return [out[k] for k in sorted(out)]
