"""Polling a JSON quote endpoint over HTTP.

Every ``interval`` seconds the source requests quotes for all its symbols, ``batch_size``
symbols per request: the URL template's ``{symbols}`` becomes a comma-separated batch, or
``{symbol}`` one symbol per request. ``items`` is the path of the quote list (or single
quote) in the response; ``fields`` maps symbol/price/volume/time to paths in each quote.
Quote endpoints report the day's *cumulative* volume, so ``volume`` is taken as such: the
feed shows it as the day volume and each tick's trade volume is the increase since the
previous poll.

Rate limits are honoured: a 429 (or 503) answer with ``Retry-After`` pauses every request
for that long (seconds or an HTTP date); without it the source backs off exponentially.
Other failures are counted, logged and retried on the next round; malformed quotes are
counted and skipped.

With ``history_url`` the source also has history (``history_pages``): see
:mod:`tickwire.stream.feeds.history.generic` for the template and its paging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from ..backoff import Backoff
from .base import Bar, Instrument, MalformedMessage, Source, SourceConfigError, Tick
from .common import SourceStats, SymbolMap, get_path, parse_fields, redact_url
from .history import HttpHistory, parse_retry_after

__all__ = ["DEFAULT_HTTP_FIELDS", "HttpPollingSource", "RateLimited", "parse_retry_after"]

log = logging.getLogger("tickwire.feed")

DEFAULT_HTTP_FIELDS = {
    "symbol": "symbol",
    "price": "price",
    "volume": "volume",
    "time": "timestamp",
}


class RateLimited(Exception):
    """The provider asked us to slow down for ``retry_after`` seconds (None: unspecified)."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}, retry after {retry_after}s")
        self.status = status
        self.retry_after = retry_after


class HttpPollingSource(Source):
    """Polls a JSON quote endpoint; see the module docstring."""

    name = "http"

    def __init__(
        self,
        instruments: Sequence[Instrument],
        *,
        url: str | None = None,
        api_key: str | None = None,
        api_key_header: str = "Authorization",
        api_key_prefix: str = "Bearer ",
        symbol_map: Mapping[str, str] | None = None,
        items: str = "",
        fields: Mapping[str, str] | None = None,
        interval: float = 15.0,
        batch_size: int = 50,
        timeout: float = 10.0,
        backoff_max: float = 300.0,
        max_retry_after: float = 3600.0,
        transport: httpx.AsyncBaseTransport | None = None,
        history_url: str | None = None,
        history_items: str = "",
        history_fields: Mapping[str, str] | None = None,
        history_page: int = 1000,
        history_cursor: str = "",
    ) -> None:
        if not url:
            raise SourceConfigError("the http source needs a url with {symbols} or {symbol}")
        if not url.startswith(("http://", "https://")):
            raise SourceConfigError(f"url {url!r} must start with http:// or https://")
        if "{symbols}" not in url and "{symbol}" not in url:
            raise SourceConfigError("the http url must contain {symbols} or {symbol}")
        if not interval > 0:
            raise SourceConfigError("interval must be positive")
        if batch_size < 1:
            raise SourceConfigError("batch_size must be at least 1")
        self.url = url
        self.api_key = api_key or None
        self.api_key_header = api_key_header
        self.api_key_prefix = api_key_prefix
        self.per_symbol = "{symbols}" not in url
        self.batch_size = 1 if self.per_symbol else batch_size
        self.items = items
        self.fields = {**DEFAULT_HTTP_FIELDS, **(fields or {})}
        self.interval = interval
        self.timeout = timeout
        self.max_retry_after = max_retry_after
        self.symbols = SymbolMap([i.symbol for i in instruments], symbol_map)
        self.stats = SourceStats()
        # Equal jitter: a rate-limited poller never comes back much sooner than asked.
        self.backoff = Backoff(min(1.0, interval), backoff_max, jitter=0.5).retries()
        self.rate_limited = 0
        self.requests = 0
        self.paused_until = 0.0
        self._day_volume: dict[str, tuple[int, float]] = {}
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self.history_client = (
            HttpHistory(
                history_url,
                items=history_items,
                fields=history_fields,
                page=history_page,
                cursor=history_cursor,
                api_key=self.api_key,
                headers=self._history_headers(history_url),
                timeout=timeout,
            )
            if history_url
            else None
        )

    # -- requests -------------------------------------------------------------------------

    def request_url(self, provider_symbols: Sequence[str]) -> str:
        """The URL for one request (symbols URL-encoded; ``{api_key}`` filled if used)."""
        joined = ",".join(quote(s, safe="") for s in provider_symbols)
        url = self.url.replace("{symbols}", joined).replace("{symbol}", joined)
        if "{api_key}" in url:
            url = url.replace("{api_key}", quote(self.api_key or "", safe=""))
        return url

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.api_key and "{api_key}" not in self.url and self.api_key_header:
            headers[self.api_key_header] = f"{self.api_key_prefix}{self.api_key}"
        return headers

    def _history_headers(self, history_url: str) -> dict[str, str]:
        # The key goes in the header unless the history URL carries it itself.
        if self.api_key and "{api_key}" not in history_url and self.api_key_header:
            return {self.api_key_header: f"{self.api_key_prefix}{self.api_key}"}
        return {}

    def _client_for(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout, transport=self._transport, headers=self._headers()
            )
        return self._client

    async def poll(self, symbols: Sequence[str]) -> list[Tick]:
        """Request quotes for ``symbols`` (Tickwire names) in batches; return the ticks.

        Raises RateLimited when the provider says so (remaining batches are not sent);
        other failures of a batch are counted and that batch is skipped.
        """
        out: list[Tick] = []
        wanted = [s for s in symbols if self.symbols.provider(s) is not None]
        for start in range(0, len(wanted), self.batch_size):
            wait = self.paused_until - time.monotonic()
            if wait > 0:
                raise RateLimited(429, wait)
            batch = wanted[start : start + self.batch_size]
            out.extend(await self._request(batch))
        return out

    async def _request(self, batch: Sequence[str]) -> list[Tick]:
        providers = [self.symbols.to_provider[s] for s in batch]
        url = self.request_url(providers)
        self.requests += 1
        try:
            response = await self._client_for().get(url)
        except httpx.HTTPError as exc:
            self.stats.connected = False
            self.stats.error(f"{type(exc).__name__}: {exc}".rstrip(": "))
            log.warning("%s: request to %s failed: %s", self.name, redact_url(url), exc)
            return []
        received = time.time()
        self.stats.connected = True
        if response.status_code in (429, 503) or (
            response.status_code == 403 and "retry-after" in response.headers
        ):
            retry = parse_retry_after(response.headers.get("retry-after"))
            self.rate_limited += 1
            self.stats.error(f"rate limited: HTTP {response.status_code}")
            delay = self.backoff.next_delay() if retry is None else min(retry, self.max_retry_after)
            self.paused_until = time.monotonic() + delay
            log.warning(
                "%s: rate limited (HTTP %d); pausing %.1fs", self.name, response.status_code, delay
            )
            raise RateLimited(response.status_code, delay)
        if response.status_code != 200:
            self.stats.error(f"HTTP {response.status_code}")
            log.warning("%s: %s answered HTTP %d", self.name, redact_url(url), response.status_code)
            return []
        self.stats.messages += 1
        self.stats.last_message_at = received
        self.backoff.reset()
        try:
            payload = response.json()
            found = get_path(payload, self.items)
        except (ValueError, MalformedMessage) as exc:
            self.stats.bad_payload(self.name, str(exc), response.text[:300])
            return []
        return self._ticks(found, batch, received)

    def _ticks(self, found: Any, batch: Sequence[str], received: float) -> list[Tick]:
        items = found if isinstance(found, list) else [found]
        only = self.symbols.to_provider[batch[0]] if len(batch) == 1 else None
        out = []
        for item in items:
            try:
                sym, price, day_volume, ts = parse_fields(
                    item, self.fields, symbol=only, received_at=received
                )
            except MalformedMessage as exc:
                self.stats.bad_payload(self.name, str(exc), item)
                continue
            except (KeyError, TypeError, ValueError) as exc:
                self.stats.bad_payload(self.name, f"{type(exc).__name__}: {exc}", item)
                continue
            symbol = self.symbols.tickwire(sym)
            if symbol is None:
                continue
            stamp = ts if ts is not None else received
            out.append(
                Tick(
                    symbol, price, self._trade_volume(symbol, day_volume, stamp), stamp, day_volume
                )
            )
        self.stats.ticks += len(out)
        return out

    def _trade_volume(self, symbol: str, day_volume: float, ts: float) -> float:
        day = int(ts // 86400)
        prev = self._day_volume.get(symbol)
        self._day_volume[symbol] = (day, day_volume)
        if prev is None or prev[0] != day or day_volume < prev[1]:
            return 0.0
        return day_volume - prev[1]

    # -- Source ---------------------------------------------------------------------------

    async def ticks(self) -> AsyncIterator[list[Tick]]:
        loop = asyncio.get_running_loop()
        symbols = list(self.symbols.to_provider)
        try:
            next_at = loop.time()
            while True:
                try:
                    ticks = await self.poll(symbols)
                except RateLimited as exc:
                    await asyncio.sleep(exc.retry_after or self.interval)
                    next_at = loop.time()
                    continue
                for start in range(0, len(ticks), self.batch_size):
                    yield ticks[start : start + self.batch_size]
                next_at = max(next_at + self.interval, loop.time())
                await asyncio.sleep(next_at - loop.time())
        finally:
            await self.aclose()

    async def refresh(self, symbols: Sequence[str]) -> list[Tick]:
        with contextlib.suppress(RateLimited):
            return await self.poll(symbols)
        return []

    async def fetch(self, symbols: Sequence[str], timeout: float = 15.0) -> dict[str, Tick]:
        try:
            ticks = await asyncio.wait_for(self.poll(symbols), timeout)
        except (RateLimited, TimeoutError):
            ticks = []
        finally:
            await self.aclose()
        return {t.symbol: t for t in ticks}

    def history_pages(
        self, symbol: str, interval: int, start: int, end: int
    ) -> AsyncIterator[list[Bar]]:
        """Bars from ``history_url`` (see :mod:`.history.generic`); without that option the
        source has no history (HistoryUnavailable)."""
        provider = self.symbols.provider(symbol)
        if self.history_client is None or provider is None:
            return super().history_pages(symbol, interval, start, end)
        return self.history_client.pages(symbol, provider, interval, start, end)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def status(self) -> dict[str, object]:
        return {
            "source": self.name,
            "url": redact_url(self.url),
            "symbols": len(self.symbols),
            "interval": self.interval,
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "paused_for": round(max(0.0, self.paused_until - time.monotonic()), 3),
            **self.stats.as_dict(),
        }
