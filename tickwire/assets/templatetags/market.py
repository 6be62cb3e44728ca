"""Template filters that format quotes the same way ``static/tickwire/home.js`` does.

Use with ``{% load market %}``: ``{{ asset.current_price|price:asset }}``,
``{{ asset.change|signed_price:asset }}``, ``{{ asset.change_percent|percent }}``,
``{{ asset.volume|volume:asset }}``. The argument is the asset (or just its kind); the
decimals follow the asset's kind and price, so a change shows as many places as its price.
``None`` renders as an em dash.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

from tickwire.assets.models import Asset

register = template.Library()

MISSING = "\u2014"


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def price_decimals(kind: str, value: Decimal) -> int:
    """Decimal places for a price: FX 5 (4 for pairs quoted above 10, e.g. USD-JPY),
    crypto and stocks 2, and 6 for sub-unit crypto so small coins stay readable."""
    magnitude = abs(value)
    if kind == "fx":
        return 5 if magnitude < 10 else 4
    if kind == "crypto" and magnitude < 1:
        return 6
    return 2


def _decimals_for(asset_or_kind: Asset | str, value: Decimal) -> int:
    if isinstance(asset_or_kind, Asset):
        reference = _decimal(asset_or_kind.current_price)
        return price_decimals(asset_or_kind.kind, value if reference is None else reference)
    return price_decimals(str(asset_or_kind), value)


def _kind(asset_or_kind: Asset | str) -> str:
    return asset_or_kind.kind if isinstance(asset_or_kind, Asset) else str(asset_or_kind)


@register.filter
def price(value: object, asset_or_kind: Asset | str = "stock") -> str:
    """Format a price with its asset's decimals and thousands separators."""
    number = _decimal(value)
    if number is None:
        return MISSING
    return f"{number:,.{_decimals_for(asset_or_kind, number)}f}"


@register.filter
def signed_price(value: object, asset_or_kind: Asset | str = "stock") -> str:
    """Format a price change with an explicit sign (``+1.25``, ``-0.40``)."""
    number = _decimal(value)
    if number is None:
        return MISSING
    return f"{number:+,.{_decimals_for(asset_or_kind, number)}f}"


@register.filter
def percent(value: object) -> str:
    """Format a percentage with a sign and 2 decimals (``+1.24%``)."""
    number = _decimal(value)
    if number is None:
        return MISSING
    return f"{number:+.2f}%"


@register.filter
def volume(value: object, asset_or_kind: Asset | str = "stock") -> str:
    """Format a volume with thousands separators; crypto keeps 2 decimals (fractional coins)."""
    number = _decimal(value)
    if number is None:
        return MISSING
    decimals = 2 if _kind(asset_or_kind) == "crypto" else 0
    return f"{number:,.{decimals}f}"


@register.filter
def direction(value: object) -> str:
    """CSS class for a change: ``up``, ``down`` or ``flat``."""
    number = _decimal(value)
    if number is None or number == 0:
        return "flat"
    return "up" if number > 0 else "down"
