"""Price bars in the database: batched, merging upserts from the feed; queries for charts.

The feed hands over closed bars in batches. Each batch is one transaction: parts of the
same bar in the batch are merged, and one ``INSERT ... ON CONFLICT DO UPDATE`` per bar runs
through ``executemany`` (SQLite and PostgreSQL spell it alike), the database merging a new
part into the stored bar (first open, last close, extremes, summed volume — so a bar
continued after a restart adds up) without reading the stored rows first.

Provider history is written a page at a time by :func:`save_history_page`: the bars replace
what is stored, and the range the page completes is added to the asset's
:class:`~.models.HistoryCoverage` in the same transaction, so an interrupted backfill
keeps every page it wrote and knows where to resume (:func:`coverage_gaps`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.db import connection, transaction

from tickwire.stream.feeds import Bar
from tickwire.stream.feeds.bars import merge_bars

from .columns import column, decimal_shape
from .models import Asset, HistoryCoverage, PriceBar

__all__ = [
    "INTERVAL_SECONDS",
    "coverage_gaps",
    "rollup_daily",
    "save_bars",
    "save_bars_async",
    "save_history_page",
]

INTERVAL_SECONDS = {PriceBar.Interval.MINUTE: 60, PriceBar.Interval.DAY: 86400}
_CODE = {seconds: code for code, seconds in INTERVAL_SECONDS.items()}
_EIGHT = Decimal("0.00000001")


def _dec(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(_EIGHT)


def _key(bar: Bar) -> tuple[str, int, int]:
    return (bar.symbol, bar.interval, bar.start)


def _from_row(row: PriceBar, symbol: str, interval: int) -> Bar:
    return Bar(
        symbol,
        interval,
        int(row.start.timestamp()),
        float(row.open),
        float(row.high),
        float(row.low),
        float(row.close),
        float(row.volume),
    )


def save_bars(bars: Sequence[Bar], *, merge: bool = True) -> int:
    """Upsert ``bars`` in one transaction; returns how many rows were written.

    With ``merge`` (the feed's case) a bar that already exists is combined with the new
    part; without it (provider history) the new bar replaces the stored one. Bars of
    unknown symbols or intervals other than 1m/1d are skipped.
    """
    combined: dict[tuple[str, int, int], Bar] = {}
    for bar in bars:
        if bar.interval not in _CODE:
            continue
        key = _key(bar)
        prev = combined.get(key)
        combined[key] = merge_bars(prev, bar) if merge and prev is not None else bar
    if not combined:
        return 0
    with transaction.atomic():
        assets = dict(
            Asset.objects.filter(symbol__in={k[0] for k in combined}).values_list("symbol", "pk")
        )
        ops = connection.ops
        digits, places = decimal_shape(PriceBar, "open")
        vdigits, _ = decimal_shape(PriceBar, "volume")
        rows = [
            (
                assets[b.symbol],
                _CODE[b.interval],
                ops.adapt_datetimefield_value(datetime.fromtimestamp(b.start, UTC)),
                ops.adapt_decimalfield_value(_dec(b.open), digits, places),
                ops.adapt_decimalfield_value(_dec(b.high), digits, places),
                ops.adapt_decimalfield_value(_dec(b.low), digits, places),
                ops.adapt_decimalfield_value(_dec(b.close), digits, places),
                ops.adapt_decimalfield_value(_dec(b.volume), vdigits, places),
            )
            for b in combined.values()
            if b.symbol in assets
        ]
        if rows:
            with connection.cursor() as cursor:
                cursor.executemany(_upsert_sql(merge), rows)
    return len(rows)


def _upsert_sql(merge: bool) -> str:
    """One row's ``INSERT ... ON CONFLICT DO UPDATE`` (SQLite and PostgreSQL spell it
    alike), run with ``executemany``: with ``merge`` the database combines the stored bar
    with the new part as :func:`~tickwire.stream.feeds.bars.merge_bars` does (first open,
    last close, extremes, summed volume), so no read of the stored rows is needed."""
    q = connection.ops.quote_name
    table = q(PriceBar._meta.db_table)
    cols = [
        q(column(PriceBar, name))
        for name in ("asset", "interval", "start", "open", "high", "low", "close", "volume")
    ]
    asset, interval, start, _open, high, low, close, volume = cols
    greatest, least = ("GREATEST", "LEAST") if connection.vendor == "postgresql" else ("MAX", "MIN")
    if merge:
        updates = (
            f"{high} = {greatest}({table}.{high}, EXCLUDED.{high}), "
            f"{low} = {least}({table}.{low}, EXCLUDED.{low}), "
            f"{close} = EXCLUDED.{close}, "
            f"{volume} = {table}.{volume} + EXCLUDED.{volume}"
        )
    else:
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in (_open, high, low, close, volume))
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
        f"ON CONFLICT ({asset}, {interval}, {start}) DO UPDATE SET {updates}"
    )


async def save_bars_async(bars: list[Bar]) -> None:
    """The feed's ``on_bars`` callback: :func:`save_bars` in Django's thread pool."""
    await sync_to_async(save_bars)(bars)


def rollup_daily(symbols: Iterable[str], days: int, now: datetime | None = None) -> list[Bar]:
    """Daily bars of the last ``days`` days built from the stored 1-minute bars."""
    end = now or datetime.now(UTC)
    today = int(end.timestamp() // 86400) * 86400
    first = datetime.fromtimestamp(today - (days - 1) * 86400, UTC)
    rows = (
        PriceBar.objects.filter(
            asset__symbol__in=list(symbols), interval=PriceBar.Interval.MINUTE, start__gte=first
        )
        .select_related("asset")
        .order_by("asset__symbol", "start")
    )
    daily: dict[tuple[str, int], Bar] = {}
    for row in rows:
        minute = _from_row(row, row.asset.symbol, 60)
        day = minute.start // 86400 * 86400
        part = Bar(
            minute.symbol, 86400, day, minute.open, minute.high, minute.low, minute.close,
            minute.volume,
        )  # fmt: skip
        key = (minute.symbol, day)
        daily[key] = merge_bars(daily[key], part) if key in daily else part
    return list(daily.values())


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def coverage_gaps(
    symbol: str, interval: int, source: str, start: int, end: int
) -> list[tuple[int, int]]:
    """The parts of ``[start, end)`` (Unix seconds) that ``source``'s history of
    ``symbol``'s ``interval``-second bars has not yet covered, oldest first."""
    rows = HistoryCoverage.objects.filter(
        asset__symbol=symbol,
        interval=_CODE[interval],
        source=source,
        start__lt=_utc(end),
        end__gt=_utc(start),
    ).order_by("start")
    gaps = []
    at = start
    for row in rows:
        lo, hi = int(row.start.timestamp()), int(row.end.timestamp())
        if lo > at:
            gaps.append((at, lo))
        at = max(at, hi)
    if at < end:
        gaps.append((at, end))
    return gaps


def save_history_page(
    bars: Sequence[Bar],
    *,
    symbol: str,
    interval: int,
    source: str,
    covered: tuple[int, int] | None = None,
) -> int:
    """Write one page of provider history (replacing stored bars) and record ``covered``
    (``[start, end)``, Unix seconds) as fetched from ``source``, in one transaction.

    Returns how many bars were written. Raises Asset.DoesNotExist for an unknown symbol.
    """
    with transaction.atomic():
        written = save_bars(bars, merge=False)
        if covered is not None and covered[1] > covered[0]:
            _cover(symbol, interval, source, *covered)
    return written


def _cover(symbol: str, interval: int, source: str, start: int, end: int) -> None:
    asset = Asset.objects.only("pk").get(symbol=symbol)
    touching = list(
        HistoryCoverage.objects.select_for_update().filter(
            asset=asset,
            interval=_CODE[interval],
            source=source,
            start__lte=_utc(end),
            end__gte=_utc(start),
        )
    )
    lo = min([start, *(int(r.start.timestamp()) for r in touching)])
    hi = max([end, *(int(r.end.timestamp()) for r in touching)])
    if len(touching) == 1 and (touching[0].start, touching[0].end) == (_utc(lo), _utc(hi)):
        return  # already recorded: a rerun leaves the row as it was
    HistoryCoverage.objects.filter(pk__in=[r.pk for r in touching]).delete()
    HistoryCoverage.objects.create(
        asset=asset, interval=_CODE[interval], source=source, start=_utc(lo), end=_utc(hi)
    )
