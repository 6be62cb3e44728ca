"""Database work for the realtime runtime: instruments, batched quote persistence, symbols.

Consumers never touch the ORM; they call these (async) service functions, which run the
queries in Django's thread pool.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError

from tickwire.assets.models import Asset
from tickwire.assets.quotes import save_quotes
from tickwire.stream import builders
from tickwire.stream.feeds import Instrument, Quote

__all__ = [
    "AssetSnapshots",
    "SymbolDirectory",
    "asset_snapshot_frame",
    "load_instruments",
    "persist_quotes",
    "persist_quotes_async",
    "price_decimals",
]


def price_decimals(kind: str, price: float) -> int:
    """Decimal places of an instrument's tick size, by kind and magnitude."""
    if kind == "fx":
        return 5 if price < 20 else 3
    if kind == "crypto":
        return 2 if price >= 10 else 6
    return 2 if price >= 1 else 4


def _f(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def instruments_from_assets(assets: list[Asset]) -> list[Instrument]:
    out = []
    for a in assets:
        if a.current_price is None:
            continue
        price = float(a.current_price)
        out.append(
            Instrument(
                symbol=a.symbol,
                price=price,
                previous_close=_f(a.previous_close),
                kind=a.kind,
                currency=a.currency,
                day_high=_f(a.day_high),
                day_low=_f(a.day_low),
                volume=float(a.volume or 0),
                decimals=price_decimals(a.kind, price),
                exchange=a.exchange,
            )
        )
    return out


def _load_instruments(symbols: list[str] | None = None) -> list[Instrument]:
    qs = Asset.objects.filter(is_active=True).order_by("symbol")
    if symbols:
        qs = qs.filter(symbol__in=symbols)
    return instruments_from_assets(list(qs))


load_instruments = sync_to_async(_load_instruments)


def persist_quotes(quotes: list[Quote]) -> int:
    """Write the latest quotes in one transaction (:func:`tickwire.assets.quotes.save_quotes`)."""
    return save_quotes(quotes)


async def persist_quotes_async(quotes: list[Quote]) -> None:
    await sync_to_async(persist_quotes)(quotes)


class SymbolDirectory:
    """Which symbols exist, cached; a miss is checked against the database.

    A known symbol is trusted for ``ttl`` seconds (``REALTIME_CACHE_TIMEOUT``), then checked
    again, so an asset deactivated in the admin stops being accepted. Unknown answers are
    cached for ``negative_ttl`` seconds so a client looping on a bad symbol cannot turn each
    message into a query. Callers asking about a symbol already being looked up wait for
    that lookup (a restarted node's clients all resubscribe at once, on an empty cache).
    """

    def __init__(self, ttl: float | None = None, negative_ttl: float = 5.0) -> None:
        self._ttl = ttl
        self._known: dict[str, float] = {}
        self._missing: dict[str, float] = {}
        self._looking: dict[str, asyncio.Future[set[str]]] = {}
        self.negative_ttl = negative_ttl

    @property
    def ttl(self) -> float:
        return float(settings.REALTIME_CACHE_TIMEOUT) if self._ttl is None else self._ttl

    async def unknown(self, symbols: tuple[str, ...]) -> list[str]:
        now = time.monotonic()
        check = [
            s for s in symbols if self._known.get(s, 0.0) < now and self._missing.get(s, 0.0) < now
        ]
        found: set[str] = set()
        if check:
            joined = {self._looking[s] for s in check if s in self._looking}
            mine = [s for s in check if s not in self._looking]
            if mine:
                found |= await self._look_up(mine, now)
            for lookup in joined:
                found |= await asyncio.shield(lookup)
        checked = set(check)
        return [
            s
            for s in symbols
            if ((s not in found) if s in checked else self._known.get(s, 0.0) < now)
        ]

    async def _look_up(self, symbols: list[str], now: float) -> set[str]:
        """The active ones of ``symbols``, from the database; cached, and shared with the
        callers that ask about them meanwhile."""
        done: asyncio.Future[set[str]] = asyncio.get_running_loop().create_future()
        for s in symbols:
            self._looking[s] = done
        try:
            found = await sync_to_async(_existing)(symbols)
        except BaseException as exc:
            done.set_exception(exc if isinstance(exc, Exception) else DatabaseError(str(exc)))
            done.exception()  # retrieved here: the callers that joined raise it themselves
            raise
        finally:
            for s in symbols:
                if self._looking.get(s) is done:
                    del self._looking[s]
        for s in symbols:
            if s in found:
                self._known[s] = now + self.ttl
                self._missing.pop(s, None)
            else:
                self._known.pop(s, None)
                self._missing[s] = now + self.negative_ttl
        if len(self._missing) > 10_000:
            self._missing = {k: v for k, v in self._missing.items() if v >= now}
        done.set_result(found)
        return found


def _existing(symbols: list[str]) -> set[str]:
    return set(
        Asset.objects.filter(symbol__in=symbols, is_active=True).values_list("symbol", flat=True)
    )


def _snapshot(symbol: str) -> bytes | None:
    asset = Asset.objects.filter(symbol=symbol).first()
    if asset is None or asset.current_price is None:
        return None
    price = float(asset.current_price)
    prev = float(asset.previous_close) if asset.previous_close is not None else price
    decimals = price_decimals(asset.kind, price)
    return builders.asset_update(
        asset.symbol,
        price,
        round(price - prev, decimals),
        round((price - prev) / prev * 100, 4) if prev else 0.0,
        int(asset.volume or 0) if asset.kind in ("stock", "etf") else float(asset.volume or 0),
        float(asset.day_high) if asset.day_high is not None else price,
        float(asset.day_low) if asset.day_low is not None else price,
        prev,
        asset.currency,
        seq=0,
    )


async def asset_snapshot_frame(symbol: str) -> bytes | None:
    """An ``asset_update`` from the database (``seq`` 0), for a channel nothing published on."""
    return await sync_to_async(_snapshot)(symbol)


class AssetSnapshots:
    """:func:`asset_snapshot_frame`, with concurrent reads of one symbol shared.

    A restarted node's clients all subscribe at once, before anything is published on
    their channels; each of them would read the same row in Django's thread (one at a
    time). Callers asking for a symbol already being read wait for that read instead. Once
    a read has answered, the next caller reads again: nothing is cached.
    """

    def __init__(self) -> None:
        self._reading: dict[str, asyncio.Future[bytes | None]] = {}

    async def frame(self, symbol: str) -> bytes | None:
        """The symbol's ``asset_update`` from the database (``seq`` 0), or None if it has
        no price; raises what the read raises (every caller sharing it does)."""
        reading = self._reading.get(symbol)
        if reading is None:
            # A task of its own: a caller that goes away (its client disconnected) does
            # not cancel the read the others wait for.
            reading = asyncio.ensure_future(asset_snapshot_frame(symbol))
            self._reading[symbol] = reading
            reading.add_done_callback(lambda done: self._done(symbol, done))
        return await asyncio.shield(reading)

    def _done(self, symbol: str, reading: asyncio.Future[bytes | None]) -> None:
        if self._reading.get(symbol) is reading:
            del self._reading[symbol]
        if not reading.cancelled():
            reading.exception()  # retrieved here: the callers still waiting raise it
