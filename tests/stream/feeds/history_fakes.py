"""Fake history providers on loopback ports, answering in each provider's documented shape.

Each fake is a :class:`~.fakes.FakeHttpServer` whose bars are a pure function of their
start time (:func:`bar_at`), so any range a client asks for has known, exact contents and
two runs see the same values. ``faults`` scripts answers by request number (1-based):
``{2: Reply(429, ..., {"Retry-After": "7"})}`` answers the second request so and then goes
on normally. ``first`` is when the provider's data begins (nothing earlier exists).
``hold`` keeps request number ``hold`` waiting (bounded) until :meth:`release`.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tickwire.stream.feeds import Bar

from .fakes import WAIT, FakeHttpServer, Reply, Seen


def bar_at(symbol: str, interval: int, start: int) -> Bar:
    """The provider's bar starting at ``start``: prices with at most 2 decimals."""
    n = start // interval
    base = 100 + n % 97
    return Bar(
        symbol, interval, start, base + 0.25, base + 1.5, base - 0.75, base + 0.5, n % 13 + 0.5
    )


def bars_in(symbol: str, interval: int, lo: int, hi: int, first: int = 0) -> list[Bar]:
    """Every bar starting in ``[lo, hi)`` (and not before ``first``)."""
    start = max(lo, first)
    start = -(-start // interval) * interval
    return [bar_at(symbol, interval, t) for t in range(start, hi, interval)]


class FakeHistory(FakeHttpServer):
    """The shared part: request counting, scripted faults and the query of each request."""

    def __init__(
        self, faults: dict[int, Reply] | None = None, first: int = 0, hold: int | None = None
    ) -> None:
        super().__init__(self._route)
        self.faults = dict(faults or {})
        self.first = first
        self.hold = hold
        self.held = threading.Event()
        self._released = threading.Event()
        self.queries: list[dict[str, str]] = []

    def release(self) -> None:
        self._released.set()

    def _route(self, seen: Seen) -> Reply:
        parts = urlsplit(seen.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.queries.append(query)
        if len(self.requests) == self.hold:
            self.held.set()
            self._released.wait(WAIT)
        fault = self.faults.get(len(self.requests))
        if fault is not None:
            return fault
        return self.answer(parts.path, query)

    def answer(self, path: str, query: dict[str, str]) -> Reply:
        raise NotImplementedError


class FakeBinance(FakeHistory):
    """``/api/v3/klines``: rows with openTime in [startTime, endTime], at most ``limit``;
    ``X-MBX-USED-WEIGHT-1M`` grows by 2 a request from ``weight``."""

    def __init__(self, *, weight: int = 0, **kw: Any) -> None:
        super().__init__(**kw)
        self.weight = weight

    def answer(self, path: str, query: dict[str, str]) -> Reply:
        if path != "/api/v3/klines":
            return Reply(404, {"code": -1, "msg": "not found"})
        interval = {"1m": 60, "1d": 86400}[query["interval"]]
        lo, hi = int(query["startTime"]) // 1000, int(query["endTime"]) // 1000 + 1
        limit = int(query.get("limit", 500))
        rows = [
            [b.start * 1000, f"{b.open:.8f}", f"{b.high:.8f}", f"{b.low:.8f}", f"{b.close:.8f}",
             f"{b.volume:.8f}", (b.start + interval) * 1000 - 1, "0", 10, "0", "0", "0"]
            for b in bars_in(query["symbol"], interval, lo, hi, self.first)[:limit]
        ]  # fmt: skip
        self.weight += 2
        return Reply(200, rows, {"X-MBX-USED-WEIGHT-1M": str(self.weight)})


class FakeCoinbase(FakeHistory):
    """Public candles: start and end inclusive, newest first; more than 350 is a 400."""

    def answer(self, path: str, query: dict[str, str]) -> Reply:
        prefix, suffix = "/api/v3/brokerage/market/products/", "/candles"
        if not (path.startswith(prefix) and path.endswith(suffix)):
            return Reply(404, {"error": "NOT_FOUND"})
        product = path[len(prefix) : -len(suffix)]
        interval = {"ONE_MINUTE": 60, "ONE_DAY": 86400}[query["granularity"]]
        lo, hi = int(query["start"]), int(query["end"])
        if (hi - lo) // interval + 1 > 350:
            return Reply(400, {"error": "INVALID_ARGUMENT", "message": "too many candles"})
        candles = [
            {"start": str(b.start), "low": repr(b.low), "high": repr(b.high), "open": repr(b.open),
             "close": repr(b.close), "volume": repr(b.volume)}
            for b in reversed(bars_in(product, interval, lo, hi + 1, self.first))
        ]  # fmt: skip
        return Reply(200, {"candles": candles})


class FakeFinnhub(FakeHistory):
    """``/api/v1/stock/candle``: from and to inclusive; ``no_data`` when empty; the token
    must be ``token``."""

    def __init__(self, *, token: str = "secret", **kw: Any) -> None:
        super().__init__(**kw)
        self.token = token

    def answer(self, path: str, query: dict[str, str]) -> Reply:
        if path != "/api/v1/stock/candle":
            return Reply(404, {"error": "not found"})
        if query.get("token") != self.token:
            return Reply(401, {"error": "Invalid API key"})
        interval = {"1": 60, "D": 86400}[query["resolution"]]
        got = bars_in(
            query["symbol"], interval, int(query["from"]), int(query["to"]) + 1, self.first
        )
        if not got:
            return Reply(200, {"s": "no_data"})
        return Reply(200, {
            "s": "ok", "t": [b.start for b in got], "o": [b.open for b in got],
            "h": [b.high for b in got], "l": [b.low for b in got], "c": [b.close for b in got],
            "v": [b.volume for b in got],
        })  # fmt: skip


class FakeBarsApi(FakeHistory):
    """A made-up JSON bar API for the generic http source: ``/bars/{symbol}?from&to``
    (``to`` excluded) answers ``{"data": {"bars": [{"t","o","h","l","c","v"}]}}``; with
    ``page_size`` it pages by cursor: at most that many bars and ``"next": cursor``."""

    def __init__(self, *, page_size: int | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.page_size = page_size

    def answer(self, path: str, query: dict[str, str]) -> Reply:
        symbol = path.rsplit("/", 1)[-1]
        interval = int(query["seconds"])
        lo, hi = int(query["from"]), int(query["to"])
        if query.get("cursor"):
            lo = int(query["cursor"])
        got = bars_in(symbol, interval, lo, hi, self.first)
        following = None
        if self.page_size is not None and len(got) > self.page_size:
            got = got[: self.page_size]
            following = str(got[-1].start + interval)
        rows = [
            {"t": b.start, "o": b.open, "h": b.high, "l": b.low, "c": b.close, "v": b.volume}
            for b in got
        ]
        return Reply(200, {"data": {"bars": rows}, "next": following})


def as_tuples(bars: list[Bar]) -> list[tuple[Any, ...]]:
    return [(b.symbol, b.interval, b.start, b.open, b.high, b.low, b.close, b.volume) for b in bars]


async def collect(pages: Any) -> list[list[Bar]]:
    return [page async for page in pages]


class Sleeps:
    """An injected sleep that records the delays asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
