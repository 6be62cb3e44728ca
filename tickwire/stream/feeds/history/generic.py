"""History from any JSON bar endpoint, described by a URL template and paths.

``history_url`` is requested once per page with these placeholders filled in:

* ``{symbol}`` — the provider's symbol (URL-encoded); ``{api_key}`` — the key;
* ``{interval}`` — ``1m`` or ``1d``; ``{seconds}`` — ``60`` or ``86400``;
* ``{start}``, ``{end}`` — the page's range in Unix seconds, ``end`` excluded
  (``{start_ms}``, ``{end_ms}`` in milliseconds);
* ``{cursor}`` — the cursor of the previous answer (empty on the first request).

``history_items`` is the path of the bar list in the answer (``""``: the answer itself);
``history_fields`` maps ``time``, ``open``, ``high``, ``low``, ``close`` and ``volume`` to
paths inside each bar (``time=t,open=o``; list rows use indexes: ``time=0,open=1``).

Pages are found one of two ways. By default the range is cut into windows of
``history_page`` intervals (1000), one request each. With ``history_cursor`` (the path
of the next page's cursor in an answer) the whole range is asked for and the cursor is
followed until an answer has none (missing, null or empty). Bars outside the range, and
bars not after the previous page's last (a provider repeating itself), are dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

from ..base import Bar, MalformedMessage, SourceConfigError
from ..common import get_path
from .client import HistoryError, RestClient, Sleep, check_range, make_bar, windows

__all__ = ["DEFAULT_HISTORY_FIELDS", "HttpHistory"]

DEFAULT_HISTORY_FIELDS = {
    "time": "time",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume",
}
_INTERVAL = {60: "1m", 86400: "1d"}


class HttpHistory:
    """Pages of bars from a templated JSON endpoint (see the module docstring).

    Raises SourceConfigError, naming the option, for a template or field that cannot work.
    """

    def __init__(
        self,
        url: str,
        *,
        items: str = "",
        fields: Mapping[str, str] | None = None,
        page: int = 1000,
        cursor: str = "",
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 15.0,
        sleep: Sleep | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise SourceConfigError(f"history_url {url!r} must start with http:// or https://")
        if "{symbol}" not in url:
            raise SourceConfigError("history_url must contain {symbol}")
        if cursor and "{cursor}" not in url:
            raise SourceConfigError("history_url must contain {cursor} when history_cursor is set")
        if page < 1:
            raise SourceConfigError(f"history_page must be at least 1 (bars a request), not {page}")
        unknown = sorted(set(fields or {}) - set(DEFAULT_HISTORY_FIELDS))
        if unknown:
            raise SourceConfigError(
                f"history_fields: unknown fields {unknown}; "
                f"known: {', '.join(DEFAULT_HISTORY_FIELDS)}"
            )
        self.url = url
        self.items = items
        self.fields = {**DEFAULT_HISTORY_FIELDS, **(fields or {})}
        self.page = page
        self.cursor = cursor
        self.api_key = api_key or ""
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.sleep = sleep
        self.requests = 0

    def request_url(
        self, provider_symbol: str, interval: int, start: int, end: int, cursor: str = ""
    ) -> str:
        values = {
            "symbol": quote(provider_symbol, safe=""),
            "interval": _INTERVAL.get(interval, str(interval)),
            "seconds": str(interval),
            "start": str(start),
            "end": str(end),
            "start_ms": str(start * 1000),
            "end_ms": str(end * 1000),
            "cursor": quote(cursor, safe=""),
            "api_key": quote(self.api_key, safe=""),
        }
        url = self.url
        for key, value in values.items():
            url = url.replace("{" + key + "}", value)
        return url

    def client(self) -> RestClient:
        return RestClient(
            "http", self.url, headers=self.headers, timeout=self.timeout, sleep=self.sleep
        )

    async def pages(
        self, symbol: str, provider_symbol: str, interval: int, start: int, end: int
    ) -> AsyncIterator[list[Bar]]:
        """Bars of ``symbol`` starting in ``[start, end)``. Raises HistoryError."""
        check_range(interval, start, end)
        last = start - 1
        async with self.client() as client:
            if self.cursor:
                cursor = ""
                while True:
                    payload = await client.get(
                        self.request_url(provider_symbol, interval, start, end, cursor)
                    )
                    self.requests = client.requests
                    page = self._page(symbol, interval, payload, start, end, last)
                    if page:
                        last = page[-1].start
                        yield page
                    following = get_path(payload, self.cursor, None)
                    if following in (None, "") or following == cursor:
                        return
                    cursor = str(following)
            for lo, hi in windows(start, end, self.page * interval):
                payload = await client.get(self.request_url(provider_symbol, interval, lo, hi))
                self.requests = client.requests
                page = self._page(symbol, interval, payload, lo, hi, last)
                if page:
                    last = page[-1].start
                    yield page

    def _page(
        self, symbol: str, interval: int, payload: Any, lo: int, hi: int, last: int
    ) -> list[Bar]:
        """The answer's bars starting in ``[lo, hi)`` and after ``last`` (the previous
        page's last start), so pages stay strictly ascending."""
        bars = self._bars(symbol, interval, payload)
        return [b for b in bars if lo <= b.start < hi and b.start > last]

    def _bars(self, symbol: str, interval: int, payload: Any) -> list[Bar]:
        try:
            found = get_path(payload, self.items)
        except MalformedMessage:
            raise HistoryError(
                f"http {symbol}: no {self.items!r} (history_items) in the answer"
            ) from None
        rows = found if isinstance(found, list) else [found]
        out: dict[int, Bar] = {}
        f = self.fields
        for n, row in enumerate(rows):
            try:
                bar = make_bar(
                    symbol,
                    interval,
                    get_path(row, f["time"]),
                    get_path(row, f["open"]),
                    get_path(row, f["high"]),
                    get_path(row, f["low"]),
                    get_path(row, f["close"]),
                    get_path(row, f["volume"], None) if f["volume"] else None,
                )
            except MalformedMessage as exc:
                raise HistoryError(f"http {symbol}: bar {n}: {exc} (see history_fields)") from None
            out[bar.start] = bar
        return [out[k] for k in sorted(out)]
