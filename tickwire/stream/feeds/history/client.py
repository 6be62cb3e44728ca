"""The HTTP side every provider's history shares: requests, rate limits, bars from rows.

:class:`RestClient` sends GET requests to one provider's REST base. An answer of 429, 418
(Binance's "banned for a while") or 503 is waited out for its ``Retry-After`` (seconds or
an HTTP date) — or with exponential backoff without one — and retried, at most
``max_retries`` times in a row; a wait longer than ``max_retry_after`` is not waited out
but raised. Every other failure (a non-200 answer, a network error, a body that is not
JSON) raises :class:`HistoryError` at once: history is fetched page by page, so what came
before stays written and a rerun resumes there. Subclasses may slow down before a limit
is reached (:meth:`RestClient.before_request`, :meth:`RestClient.after_response`).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from ...backoff import Backoff
from ..base import Bar, MalformedMessage, SourceConfigError
from ..common import redact_url, to_price, to_volume

__all__ = [
    "INTERVALS",
    "HistoryError",
    "RestClient",
    "Sleep",
    "check_range",
    "make_bar",
    "parse_retry_after",
    "windows",
]

log = logging.getLogger("tickwire.feed")

#: The bar intervals history is kept for, in seconds.
INTERVALS = (60, 86400)

Sleep = Callable[[float], Awaitable[None]]


class HistoryError(Exception):
    """A history request failed; the message names the provider, the symbol and why."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def check_range(interval: int, start: int, end: int) -> None:
    """Raise SourceConfigError unless ``interval`` is 60 or 86400 and ``start <= end``."""
    if interval not in INTERVALS:
        raise SourceConfigError(f"history interval must be 60 or 86400 seconds, not {interval}")
    if start > end:
        raise SourceConfigError(f"history range starts ({start}) after it ends ({end})")


def windows(start: int, end: int, size: int) -> Iterator[tuple[int, int]]:
    """``[start, end)`` cut into consecutive windows of at most ``size`` seconds."""
    at = start
    while at < end:
        yield at, min(at + size, end)
        at += size


def make_bar(
    symbol: str,
    interval: int,
    start: object,
    open_: object,
    high: object,
    low: object,
    close: object,
    volume: object,
) -> Bar:
    """A Bar from a provider row's raw values, its start aligned to ``interval``.

    Raises MalformedMessage naming the field and its value (a price that is not a positive
    number, a negative volume, a time that is not a number of seconds or milliseconds).
    """
    if isinstance(start, bool) or not isinstance(start, int | float | str):
        raise MalformedMessage(f"bar time {start!r} is not a number")
    try:
        stamp = float(start)
    except ValueError:
        raise MalformedMessage(f"bar time {start!r} is not a number") from None
    if stamp > 1e11:  # milliseconds
        stamp /= 1000.0
    values = []
    for name, raw in (("open", open_), ("high", high), ("low", low), ("close", close)):
        try:
            values.append(to_price(raw))
        except MalformedMessage as exc:
            raise MalformedMessage(f"{name}: {exc}") from None
    try:
        amount = to_volume(volume)
    except MalformedMessage as exc:
        raise MalformedMessage(f"volume: {exc}") from None
    o, h, lo, c = values
    return Bar(symbol, interval, int(stamp // interval) * interval, o, h, lo, c, amount)


class RestClient:
    """GET JSON from one provider's REST base, waiting out rate limits (module docstring).

    Use as an async context manager; ``requests`` and ``rate_limited`` count what happened.
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 15.0,
        max_retries: int = 5,
        max_retry_after: float = 600.0,
        sleep: Sleep | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self.sleep = sleep or asyncio.sleep
        self.requests = 0
        self.rate_limited = 0
        self._backoff = Backoff(1.0, 60.0, jitter=0.5)
        self._client = httpx.AsyncClient(
            timeout=timeout, headers={"Accept": "application/json", **(headers or {})}
        )

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.aclose()

    async def before_request(self) -> None:
        """Called before every request (a hook to slow down ahead of a limit)."""

    def after_response(self, response: httpx.Response) -> None:
        """Called with every answer (a hook to read a provider's usage headers)."""

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The decoded JSON of ``GET base_url + path``. Raises HistoryError."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        where = redact_url(url)
        for attempt in range(1, self.max_retries + 2):
            await self.before_request()
            self.requests += 1
            try:
                response = await self._client.get(url, params=params)
            except httpx.HTTPError as exc:
                raise HistoryError(
                    f"{self.provider}: request to {where} failed: {type(exc).__name__} {exc}"
                ) from None
            self.after_response(response)
            status = response.status_code
            if status in (418, 429, 503):
                self.rate_limited += 1
                retry = parse_retry_after(response.headers.get("retry-after"))
                delay = self._backoff.delay(attempt) if retry is None else retry
                if attempt > self.max_retries:
                    raise HistoryError(
                        f"{self.provider}: still rate limited (HTTP {status}) after "
                        f"{self.max_retries} retries"
                    )
                if delay > self.max_retry_after:
                    raise HistoryError(
                        f"{self.provider}: rate limited (HTTP {status}) for {delay:.0f}s, "
                        f"longer than {self.max_retry_after:.0f}s; try again later"
                    )
                log.warning(
                    "%s: rate limited (HTTP %d); waiting %.1fs", self.provider, status, delay
                )
                await self.sleep(delay)
                continue
            if status != 200:
                raise HistoryError(
                    f"{self.provider}: {where} answered HTTP {status}: {response.text[:200]}"
                )
            try:
                return response.json()
            except ValueError:
                raise HistoryError(
                    f"{self.provider}: {where} answered with a body that is not JSON"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover
