"""Bars at every chart interval, rolled up from the stored 1-minute bars at query time.

The feed stores 1-minute bars only (:mod:`tickwire.assets.bars`); 5m, 15m and 1h bars are
built from them on each request: UTC-aligned buckets, open = first minute's open, high =
max, low = min, close = last minute's close, volume = sum. A bucket with no minute bar is
absent, never filled in. The same rule as a pandas ``resample(..., origin="epoch")`` of
the ticks, which the tests check.

Daily bars combine two sources. A stored daily bar (provider history, written by
``update_asset_prices --historical``) wins for its day: it covers the whole session, while
the feed's minutes may cover only part of it (the server started mid-day, or was down).
Days without a stored bar are rolled up from the 1-minute bars.

Rolled up at query time rather than stored, because it is cheap enough (measured by the
``bars`` case of ``make bench``, figures in BENCHMARKS.md) and stored rollups would need
their own invalidation whenever a minute is written in parts (a restart merges a minute).

The database does the grouping (``GROUP BY`` the bucket, computed from the Unix time in
SQL, newest buckets first, ``LIMIT``), so Python only sees the bars it returns: one
aggregate row per bucket plus the open and close of its first and last minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import BigIntegerField, ExpressionWrapper, Func, Max, Min, Sum, Value

from .models import Asset, PriceBar

__all__ = ["INTERVALS", "RolledBar", "bars_between"]

#: Chart interval → seconds. 1m and 1d are stored; every interval is served.
INTERVALS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}

_FIELDS = ("start", "open", "high", "low", "close", "volume")
# Minute starts per ``IN (...)`` query, well under SQLite's bound-variable limit.
_CHUNK = 2000


@dataclass(slots=True)
class RolledBar:
    """One OHLCV bar as the API serves it (``start`` is the UTC start of its interval)."""

    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _align_up(seconds: int, interval: int) -> int:
    return -(-seconds // interval) * interval


def _stored(asset: Asset, code: str, start: datetime, end: datetime, limit: int) -> list[RolledBar]:
    rows = (
        PriceBar.objects.filter(asset=asset, interval=code, start__gte=start, start__lte=end)
        .order_by("-start")
        .values_list(*_FIELDS)[:limit]
    )
    return [RolledBar(*row) for row in rows]


class _Epoch(Func):
    """Unix seconds of a datetime column, computed by the database itself (no per-row
    Python function, which Django's own Extract/Trunc would be on SQLite)."""

    output_field = BigIntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # '%%%%s' is formatted to '%%s' here and unescaped to strftime's '%s' by the backend.
        return self.as_sql(
            compiler, connection, template="CAST(strftime('%%%%s', %(expressions)s) AS INTEGER)"
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="CAST(EXTRACT(EPOCH FROM %(expressions)s) AS BIGINT)"
        )


def _rolled(
    asset: Asset, interval: int, start: datetime, end: datetime, limit: int
) -> list[RolledBar]:
    """Buckets of ``interval`` seconds starting in [start, end], newest first, at most
    ``limit``, from the 1-minute rows: the database groups (high, low, volume and the
    first and last minute of each bucket), then one more query reads those minutes' open
    and close."""
    first = _align_up(_epoch(start), interval)
    last = _epoch(end) // interval * interval
    if first > last:
        return []
    bucket = ExpressionWrapper(_Epoch("start") / Value(interval), output_field=BigIntegerField())
    minutes = PriceBar.objects.filter(asset=asset, interval=PriceBar.Interval.MINUTE)
    groups = list(
        minutes.filter(
            start__gte=datetime.fromtimestamp(first, UTC),
            start__lt=datetime.fromtimestamp(last + interval, UTC),
        )
        .annotate(bucket=bucket)
        .values("bucket")
        .annotate(
            first=Min("start"), last=Max("start"), hi=Max("high"), lo=Min("low"), vol=Sum("volume")
        )
        .order_by("-bucket")[:limit]
    )
    ends = sorted({g["first"] for g in groups} | {g["last"] for g in groups})
    open_close: dict[datetime, tuple[Decimal, Decimal]] = {}
    for at in range(0, len(ends), _CHUNK):
        rows = minutes.filter(start__in=ends[at : at + _CHUNK]).values_list(
            "start", "open", "close"
        )
        open_close.update({moment: (o, c) for moment, o, c in rows})
    return [
        RolledBar(
            datetime.fromtimestamp(_epoch(g["first"]) // interval * interval, UTC),
            open_close[g["first"]][0],
            g["hi"],
            g["lo"],
            open_close[g["last"]][1],
            g["vol"],
        )
        for g in groups
    ]


def bars_between(
    asset: Asset, interval: str, start: datetime, end: datetime, limit: int
) -> tuple[list[RolledBar], bool]:
    """Bars of ``asset`` at ``interval`` (a key of :data:`INTERVALS`) whose start lies in
    ``[start, end]``, oldest first: the latest ``limit`` of them, and whether more exist
    in the range.

    Raises:
        KeyError: ``interval`` is not one of :data:`INTERVALS` (the API checks first).
    """
    seconds = INTERVALS[interval]
    if interval == PriceBar.Interval.MINUTE:
        bars = _stored(asset, interval, start, end, limit + 1)
    elif interval == PriceBar.Interval.DAY:
        stored = _stored(asset, interval, start, end, limit + 1)
        rolled = _rolled(asset, seconds, start, end, limit + 1)
        by_day = {bar.start: bar for bar in rolled}
        by_day.update({bar.start: bar for bar in stored})
        bars = sorted(by_day.values(), key=lambda bar: bar.start, reverse=True)
    else:
        bars = _rolled(asset, seconds, start, end, limit + 1)
    truncated = len(bars) > limit
    return bars[:limit][::-1], truncated
