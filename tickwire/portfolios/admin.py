"""Admin for portfolios, with their positions edited inline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin

from .models import Portfolio, Position

# ModelAdmin and its inlines are generic only in django-stubs: at run time they cannot be
# subscripted.
if TYPE_CHECKING:
    _PositionInlineBase = admin.TabularInline[Position, Portfolio]
    _PortfolioAdminBase = admin.ModelAdmin[Portfolio]
    _PositionAdminBase = admin.ModelAdmin[Position]
else:
    _PositionInlineBase = admin.TabularInline
    _PortfolioAdminBase = _PositionAdminBase = admin.ModelAdmin


class PositionInline(_PositionInlineBase):
    """Positions of one portfolio; assets are picked by autocomplete (search by symbol)."""

    model = Position
    extra = 0
    autocomplete_fields = ("asset",)
    fields = ("asset", "quantity", "average_cost")
    ordering = ("asset__symbol",)


@admin.register(Portfolio)
class PortfolioAdmin(_PortfolioAdminBase):
    """Portfolios by owner, with their positions inline."""

    list_display = ("name", "owner", "currency", "created_at", "updated_at")
    list_filter = ("currency",)
    search_fields = ("name", "owner__username")
    raw_id_fields = ("owner",)
    list_select_related = ("owner",)
    readonly_fields = ("created_at", "updated_at")
    inlines = (PositionInline,)


@admin.register(Position)
class PositionAdmin(_PositionAdminBase):
    """All positions across portfolios."""

    list_display = ("portfolio", "asset", "quantity", "average_cost")
    list_filter = ("asset__kind", "portfolio__currency")
    search_fields = ("asset__symbol", "asset__name", "portfolio__name")
    autocomplete_fields = ("asset",)
    raw_id_fields = ("portfolio",)
    list_select_related = ("portfolio", "asset")
