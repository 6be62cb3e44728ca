"""Admin for assets and price bars."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.contrib import admin

from .models import Asset, PriceBar

# ModelAdmin is generic only in django-stubs: at run time it cannot be subscripted.
if TYPE_CHECKING:
    _AssetAdminBase = admin.ModelAdmin[Asset]
    _PriceBarAdminBase = admin.ModelAdmin[PriceBar]
else:
    _AssetAdminBase = _PriceBarAdminBase = admin.ModelAdmin


@admin.register(Asset)
class AssetAdmin(_AssetAdminBase):
    """Assets with their latest quote; searchable so FK autocompletes can use it."""

    list_display = (
        "symbol",
        "name",
        "kind",
        "exchange",
        "currency",
        "current_price",
        "previous_close",
        "change_percent_display",
        "volume",
        "last_updated",
        "is_active",
    )
    list_filter = ("kind", "currency", "exchange", "is_active")
    search_fields = ("symbol", "name")
    ordering = ("symbol",)
    list_per_page = 100
    readonly_fields = ("last_updated",)
    fieldsets = (
        (None, {"fields": ("symbol", "name", "kind", "exchange", "currency", "is_active")}),
        (
            "Latest quote (written by the price feed)",
            {
                "fields": (
                    "current_price",
                    "previous_close",
                    "day_high",
                    "day_low",
                    "volume",
                    "last_updated",
                )
            },
        ),
    )

    @admin.display(description="Change %")
    def change_percent_display(self, obj: Asset) -> Decimal | None:
        return obj.change_percent


@admin.register(PriceBar)
class PriceBarAdmin(_PriceBarAdminBase):
    """OHLCV bars; the asset FK uses autocomplete because there can be many assets."""

    list_display = ("asset", "interval", "start", "open", "high", "low", "close", "volume")
    list_filter = ("interval", "asset__kind")
    search_fields = ("asset__symbol", "asset__name")
    autocomplete_fields = ("asset",)
    list_select_related = ("asset",)
    date_hierarchy = "start"
    ordering = ("-start",)
