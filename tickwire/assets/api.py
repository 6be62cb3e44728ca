"""Read-only REST API over assets: ``/api/assets/`` and ``/api/assets/<symbol>/``."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from rest_framework import generics
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request

from .models import Asset, normalize_symbol
from .serializers import AssetSerializer


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
