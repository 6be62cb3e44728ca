"""Read-only REST API over assets: ``/api/assets/``, ``/api/assets/<symbol>/`` and
``/api/assets/<symbol>/bars/`` (price history for charts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Asset, normalize_symbol
from .rollup import INTERVALS, bars_between
from .serializers import AssetSerializer, PriceBarSerializer

#: Most bars one request returns; ask for a narrower range (or a longer interval) for more.
MAX_BARS = 5000
#: Range served when ``start`` is not given, per interval: a chart's worth of bars each
#: (1,440 minutes, 1,440 five-minute bars, 1,344 quarter hours, 720 hours, a year of days).
DEFAULT_SPAN = {
    "1m": timedelta(days=1),
    "5m": timedelta(days=5),
    "15m": timedelta(days=14),
    "1h": timedelta(days=30),
    "1d": timedelta(days=365),
}


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


_ALLOWED = ", ".join(INTERVALS)


def bar_range(params: Any, default_interval: str) -> tuple[str, datetime, datetime]:
    """The ``interval``, ``start`` and ``end`` query parameters of a series of bars:
    ``default_interval`` when none is given, ``end`` now, ``start`` the interval's
    :data:`DEFAULT_SPAN` before ``end``.

    Raises:
        rest_framework.exceptions.ValidationError: unknown interval, bad time, or start
            after end (HTTP 400).
    """
    interval = (params.get("interval") or default_interval).strip()
    if interval not in INTERVALS:
        raise ValidationError(
            {"interval": [f"Unknown interval '{interval}'. Use one of: {_ALLOWED}."]}
        )
    end = parse_time(params["end"], "end") if params.get("end") else datetime.now(UTC)
    start = (
        parse_time(params["start"], "start")
        if params.get("start")
        else end - DEFAULT_SPAN[interval]
    )
    if start > end:
        raise ValidationError({"start": ["start is after end."]})
    return interval, start, end


_BarsResponse = inline_serializer(
    "AssetBarsResponse",
    {
        "symbol": serializers.CharField(),
        "interval": serializers.ChoiceField(choices=list(INTERVALS)),
        "start": serializers.DateTimeField(),
        "end": serializers.DateTimeField(),
        "count": serializers.IntegerField(),
        "truncated": serializers.BooleanField(),
        "bars": PriceBarSerializer(many=True),
    },
)
_TIME_HELP = "ISO-8601 date or datetime (UTC when no zone is given) or Unix seconds."


class AssetBarsView(APIView):
    """``GET /api/assets/<symbol>/bars/?interval=1m|5m|15m|1h|1d&start=&end=``: OHLCV history.

    ``start``/``end`` are ISO-8601 (date or datetime) or Unix seconds; ``end`` defaults to
    now and ``start`` to :data:`DEFAULT_SPAN` of the interval before it. Bars whose start
    lies in the range are returned oldest first; 5m, 15m and 1h are rolled up from the
    1-minute bars, 1d combines stored daily bars with days rolled up from minutes
    (:mod:`tickwire.assets.rollup`). At most ``MAX_BARS`` (the latest ones) are returned,
    and ``truncated`` says when more exist in the range.

    Raises:
        rest_framework.exceptions.NotFound: no active asset has that symbol (HTTP 404).
        rest_framework.exceptions.ValidationError: bad interval, time or range (HTTP 400).
    """

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "interval",
                OpenApiTypes.STR,
                enum=list(INTERVALS),
                default="1m",
                description="Bar length. 1m and 1d are stored; 5m, 15m and 1h are rolled "
                "up from the 1-minute bars; 1d uses stored daily bars where they exist and "
                "days rolled up from 1-minute bars elsewhere.",
            ),
            OpenApiParameter(
                "start",
                OpenApiTypes.STR,
                description=f"First bar start. {_TIME_HELP} Default: end minus 1 day (1m), "
                "5 days (5m), 14 days (15m), 30 days (1h) or 365 days (1d).",
            ),
            OpenApiParameter("end", OpenApiTypes.STR, description=f"Last bar start. {_TIME_HELP}"),
        ],
        responses={
            200: _BarsResponse,
            400: OpenApiResponse(description="Unknown interval, bad time or start after end"),
            404: OpenApiResponse(description="No active asset has that symbol"),
        },
    )
    def get(self, request: Request, symbol: str) -> Response:
        symbol = normalize_symbol(symbol)
        asset = active_assets().filter(symbol=symbol).first()
        if asset is None:
            raise NotFound(f"Unknown symbol '{symbol}'.")
        interval, start, end = bar_range(request.query_params, "1m")
        bars, truncated = bars_between(asset, interval, start, end, MAX_BARS)
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
