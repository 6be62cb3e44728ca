"""Demo assets: a realistic set of stocks, ETFs, crypto and FX pairs with seed quotes.

Loaded only where ``settings.TICKWIRE_DEMO_DATA`` is true (the embedded default and the
tests); production settings set it false. The demo user and portfolio are
:mod:`tickwire.portfolios.demo`'s, which loads these first.

Demo history (:func:`write_demo_history`): a couple of days of simulated 1-minute bars per
demo asset, ending at its current price, so the first chart a new user sees is a real one.
Written only when the feed's source is the simulator (:func:`demo_history_allowed`):
invented bars under a real provider's live prices would be false data.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from tickwire.stream.feeds import Bar, Instrument, SimulatorSource

from .models import DECIMAL_PLACES, PRICE_DIGITS, QUANTITY_DIGITS, Asset, PriceBar
from .templatetags.market import price_decimals

#: Days of simulated 1-minute bars the embedded default writes on a fresh database.
DEMO_HISTORY_DAYS = 2
_BAR_FIELDS = ("asset", "interval", "start", "open", "high", "low", "close", "volume")
_EIGHT = Decimal("0.00000001")


class DemoDataDisabled(RuntimeError):
    """Raised when demo data is requested but ``settings.TICKWIRE_DEMO_DATA`` is false."""


@dataclass(frozen=True, slots=True)
class DemoAssetSpec:
    """One demo asset with its seed quote (Decimals built from strings, so exact)."""

    symbol: str
    name: str
    kind: str
    exchange: str
    currency: str
    price: Decimal
    previous_close: Decimal
    day_high: Decimal
    day_low: Decimal
    volume: Decimal


def _asset(
    symbol: str,
    name: str,
    kind: Asset.Kind,
    exchange: str,
    currency: str,
    quote: tuple[str, str, str, str, str],
) -> DemoAssetSpec:
    price, previous_close, high, low, volume = (Decimal(v) for v in quote)
    return DemoAssetSpec(
        symbol, name, kind.value, exchange, currency, price, previous_close, high, low, volume
    )


_K = Asset.Kind
# Quotes: (price, previous close, day high, day low, volume) — late-2026-ish levels.
DEMO_ASSETS: tuple[DemoAssetSpec, ...] = (
    _asset("AAPL", "Apple Inc.", _K.STOCK, "NASDAQ", "USD",
           ("268.40", "265.12", "269.85", "264.70", "48210350")),
    _asset("MSFT", "Microsoft Corporation", _K.STOCK, "NASDAQ", "USD",
           ("512.30", "508.75", "514.10", "507.20", "21045800")),
    _asset("GOOGL", "Alphabet Inc. Class A", _K.STOCK, "NASDAQ", "USD",
           ("298.15", "301.02", "302.40", "296.85", "27530100")),
    _asset("AMZN", "Amazon.com, Inc.", _K.STOCK, "NASDAQ", "USD",
           ("236.80", "233.55", "237.95", "232.90", "39880420")),
    _asset("NVDA", "NVIDIA Corporation", _K.STOCK, "NASDAQ", "USD",
           ("192.45", "188.90", "193.70", "187.65", "182340900")),
    _asset("TSLA", "Tesla, Inc.", _K.STOCK, "NASDAQ", "USD",
           ("412.60", "420.10", "423.50", "408.15", "96120000")),
    _asset("JPM", "JPMorgan Chase & Co.", _K.STOCK, "NYSE", "USD",
           ("318.25", "316.40", "319.60", "315.10", "8940210")),
    _asset("BRK.B", "Berkshire Hathaway Inc. Class B", _K.STOCK, "NYSE", "USD",
           ("498.20", "496.75", "500.05", "495.30", "3512400")),
    _asset("SPY", "SPDR S&P 500 ETF Trust", _K.ETF, "NYSE ARCA", "USD",
           ("702.35", "698.10", "703.90", "697.45", "61250300")),
    _asset("QQQ", "Invesco QQQ Trust", _K.ETF, "NASDAQ", "USD",
           ("628.90", "624.20", "630.35", "623.10", "38420150")),
    _asset("BTC-USD", "Bitcoin", _K.CRYPTO, "COINBASE", "USD",
           ("104250.50", "101980.25", "104980.00", "101450.75", "28415.37210000")),
    _asset("ETH-USD", "Ether", _K.CRYPTO, "COINBASE", "USD",
           ("3685.40", "3612.80", "3702.15", "3598.60", "412880.52340000")),
    # FX has no consolidated exchange volume, so volume stays 0; the quote currency is
    # the pair's second leg.
    _asset("EUR-USD", "Euro / US Dollar", _K.FX, "", "USD",
           ("1.16420", "1.16185", "1.16590", "1.16050", "0")),
    _asset("GBP-USD", "British Pound / US Dollar", _K.FX, "", "USD",
           ("1.33180", "1.33420", "1.33610", "1.32940", "0")),
    _asset("USD-JPY", "US Dollar / Japanese Yen", _K.FX, "", "JPY",
           ("152.845", "153.210", "153.480", "152.610", "0")),
)  # fmt: skip


def demo_data_enabled() -> bool:
    """Whether this deployment may load demo data (``settings.TICKWIRE_DEMO_DATA``)."""
    return bool(getattr(settings, "TICKWIRE_DEMO_DATA", False))


def load_demo_assets(*, reset: bool = True) -> tuple[dict[str, Asset], int]:
    """Create the demo assets; returns them by symbol, and how many were new.

    With ``reset`` (the default) existing demo assets get their demo quotes back
    (``last_updated`` = now); without it they are left as they are — a restarted server
    keeps the last prices its feed wrote. A re-run never duplicates anything. The caller
    holds the transaction.
    """
    now = timezone.now()
    created_count = 0
    assets: dict[str, Asset] = {}
    write = Asset.objects.update_or_create if reset else Asset.objects.get_or_create
    for spec in DEMO_ASSETS:
        asset, created = write(
            symbol=spec.symbol,
            defaults={
                "name": spec.name,
                "kind": spec.kind,
                "exchange": spec.exchange,
                "currency": spec.currency,
                "current_price": spec.price,
                "previous_close": spec.previous_close,
                "day_high": spec.day_high,
                "day_low": spec.day_low,
                "volume": spec.volume,
                "last_updated": now,
                "is_active": True,
            },
        )
        assets[spec.symbol] = asset
        created_count += created
    return assets, created_count


def demo_history_allowed() -> bool:
    """Whether simulated history may be written: demo data is enabled and the feed's
    source (``TICKWIRE_FEED_SOURCE``) is the simulator, whose prices the bars continue."""
    return demo_data_enabled() and getattr(settings, "TICKWIRE_FEED_SOURCE", "") == "simulator"


def write_demo_history(
    days: int = DEMO_HISTORY_DAYS,
    *,
    symbols: Iterable[str] | None = None,
    now: float | None = None,
) -> int:
    """Write ``days`` days of simulated 1-minute bars for the demo assets (or ``symbols``)
    up to the current minute, each series closing at the asset's current price; returns
    how many bars were written.

    The bars come from :meth:`SimulatorSource.history_pages` (reproducible with
    ``TICKWIRE_SIMULATOR_SEED``) and replace stored bars of the same minutes, in one
    bulk upsert (:func:`_upsert_bars`). Assets without a price are skipped. The caller
    checks :func:`demo_history_allowed`.

    Raises:
        ValueError: ``days`` is negative.
    """
    if days < 0:
        raise ValueError(f"days must be 0 or more, not {days}")
    wanted = {spec.symbol for spec in DEMO_ASSETS} if symbols is None else set(symbols)
    if days == 0 or not wanted:
        return 0
    assets = Asset.objects.filter(symbol__in=wanted, current_price__isnull=False)
    instruments = [
        Instrument(
            a.symbol,
            float(a.current_price or 0),
            kind=a.kind,
            currency=a.currency,
            decimals=price_decimals(a.kind, a.current_price or Decimal(0)),
        )
        for a in assets
    ]
    source = SimulatorSource(instruments, seed=getattr(settings, "TICKWIRE_SIMULATOR_SEED", None))
    end = int((time.time() if now is None else now) // 60 * 60)
    start = end - days * 86400

    async def collect() -> list[Bar]:
        bars: list[Bar] = []
        for inst in instruments:
            async for page in source.history_pages(inst.symbol, 60, start, end):
                bars.extend(page)
        return bars

    bars = async_to_sync(collect)()
    return _upsert_bars({a.symbol: a.pk for a in assets}, bars)


_UPSERT_ROWS = 500


def _upsert_bars(asset_ids: dict[str, int], bars: list[Bar]) -> int:
    """Write 1-minute ``bars`` replacing rows of the same minutes, with ``executemany``
    of one ``INSERT ... ON CONFLICT DO UPDATE`` (SQLite and PostgreSQL alike).

    Why not :func:`tickwire.assets.bars.save_bars`, which does the same: its
    ``bulk_create`` spends about 50 us per row preparing field values, 2.2 s for the
    43,200 bars of a fresh demo on SQLite, most of a first start. This writes them in
    about a fifth of that; values are adapted by the database backend exactly as the ORM
    would.
    """
    ops = connection.ops
    meta = PriceBar._meta
    q = ops.quote_name
    columns = [str(getattr(meta.get_field(name), "column", name)) for name in _BAR_FIELDS]
    update = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in columns[3:])
    sql = (
        f"INSERT INTO {q(meta.db_table)} ({', '.join(q(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(q(c) for c in columns[:3])}) DO UPDATE SET {update}"
    )

    def dec(value: float) -> Any:
        return ops.adapt_decimalfield_value(
            Decimal(repr(value)).quantize(_EIGHT), PRICE_DIGITS, DECIMAL_PLACES
        )

    def vol(value: float) -> Any:
        return ops.adapt_decimalfield_value(
            Decimal(repr(value)).quantize(_EIGHT), QUANTITY_DIGITS, DECIMAL_PLACES
        )

    rows = [
        (
            asset_ids[b.symbol],
            PriceBar.Interval.MINUTE.value,
            ops.adapt_datetimefield_value(datetime.fromtimestamp(b.start, UTC)),
            dec(b.open),
            dec(b.high),
            dec(b.low),
            dec(b.close),
            vol(b.volume),
        )
        for b in bars
        if b.symbol in asset_ids and b.interval == 60
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        for first in range(0, len(rows), _UPSERT_ROWS):
            cursor.executemany(sql, rows[first : first + _UPSERT_ROWS])
    return len(rows)
