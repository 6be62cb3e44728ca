"""Read-only REST API over assets: ``/api/assets/``, ``/api/assets/<symbol>/`` and
``/api/assets/<symbol>/bars/`` (price history for charts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import generics
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Asset, PriceBar, normalize_symbol
from .serializers import AssetSerializer, PriceBarSerializer

#: Most bars one request returns; ask for a narrower range (or 1d) for more history.
MAX_BARS = 5000
#: Range served when ``start`` is not given, per interval.
DEFAULT_SPAN = {"1m": timedelta(days=1), "1d": timedelta(days=365)}


def active_assets() -> QuerySet[Asset]:
    """Active assets ordered by symbol, the base of every API query."""
    return Asset.objects.filter(is_active=True).order_by("symbol")


def filter_assets(queryset: QuerySet[Asset], params: Any) -> QuerySet[Asset]:
    """Apply the ``kind`` and ``search`` query parameters to ``queryset``.

    ``kind`` must be one of :class:`Asset.Kind` (case-insensitive); ``search`` matches a
    substring of symbol or name, case-insensitively.

    Raises:
        rest_framework.exceptions.ValidationError: ``kind`` is not a known kind (HTTP 400).
    """
    kind = (params.get("kind") or "").strip().lower()
    if kind:
        if kind not in Asset.Kind.values:
            allowed = ", ".join(Asset.Kind.values)
            raise ValidationError(
                {"kind": [f"Unknown kind '{params.get('kind')}'. Use one of: {allowed}."]}
            )
        queryset = queryset.filter(kind=kind)
    search = (params.get("search") or "").strip()
    if search:
        queryset = queryset.filter(Q(symbol__icontains=search) | Q(name__icontains=search))
    return queryset


class AssetListView(generics.ListAPIView[Asset]):
    """``GET /api/assets/``: active assets with latest prices, paginated (limit/offset).

    Query parameters: ``kind`` (stock, etf, crypto, fx; anything else is a 400) and
    ``search`` (substring of symbol or name).
    """

    serializer_class = AssetSerializer

    def get_queryset(self) -> QuerySet[Asset]:
        request: Request = self.request
        return filter_assets(active_assets(), request.query_params)


class AssetDetailView(generics.RetrieveAPIView[Asset]):
    """``GET /api/assets/<symbol>/``: one active asset; the symbol is case-insensitive.

    Raises:
        rest_framework.exceptions.NotFound: no active asset has that symbol (HTTP 404).
    """

    serializer_class = AssetSerializer

    def get_queryset(self) -> QuerySet[Asset]:
        return active_assets()

    def get_object(self) -> Asset:
        symbol = normalize_symbol(self.kwargs["symbol"])
        try:
            return self.get_queryset().get(symbol=symbol)
        except Asset.DoesNotExist:
            raise NotFound(f"Unknown symbol '{symbol}'.") from None


def parse_time(value: str, name: str) -> datetime:
    """A query-parameter time: ISO-8601 date or datetime (UTC if no zone) or Unix seconds.

    Raises:
        rest_framework.exceptions.ValidationError: not a time (HTTP 400).
    """
    text = value.strip()
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = parse_datetime(text.replace(" ", "+")) or None
        if parsed is None:
            day = parse_date(text)
            if day is not None:
                parsed = datetime(day.year, day.month, day.day)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationError({name: [f"'{value}' is not an ISO-8601 time or Unix seconds."]})
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class AssetBarsView(APIView):
    """``GET /api/assets/<symbol>/bars/?interval=1m|1d&start=&end=``: OHLCV history.

    ``start``/``end`` are ISO-8601 (date or datetime) or Unix seconds; ``end`` defaults to
    now and ``start`` to one day (1m) or one year (1d) before it. Bars are ordered by
    start time; at most ``MAX_BARS`` (the latest ones) are returned, and ``truncated``
    says when more exist in the range.

    Raises:
        rest_framework.exceptions.NotFound: no active asset has that symbol (HTTP 404).
        rest_framework.exceptions.ValidationError: bad interval, time or range (HTTP 400).
    """

    def get(self, request: Request, symbol: str) -> Response:
        symbol = normalize_symbol(symbol)
        asset = active_assets().filter(symbol=symbol).first()
        if asset is None:
            raise NotFound(f"Unknown symbol '{symbol}'.")
        params = request.query_params
        interval = (params.get("interval") or "1m").strip()
        if interval not in PriceBar.Interval.values:
            allowed = ", ".join(PriceBar.Interval.values)
            raise ValidationError({"interval": [f"Unknown interval '{interval}'. Use {allowed}."]})
        end = parse_time(params["end"], "end") if params.get("end") else datetime.now(UTC)
        start = (
            parse_time(params["start"], "start")
            if params.get("start")
            else end - DEFAULT_SPAN[interval]
        )
        if start > end:
            raise ValidationError({"start": ["start is after end."]})
        rows = PriceBar.objects.filter(
            asset=asset, interval=interval, start__gte=start, start__lte=end
        ).order_by("-start")[: MAX_BARS + 1]
        bars = list(rows)
        truncated = len(bars) > MAX_BARS
        bars = bars[:MAX_BARS][::-1]
        return Response(
            {
                "symbol": asset.symbol,
                "interval": interval,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "count": len(bars),
                "truncated": truncated,
                "bars": PriceBarSerializer(bars, many=True).data,
            }
        )
