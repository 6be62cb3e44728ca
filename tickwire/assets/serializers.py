"""DRF serializers for assets.

Decimals are rendered as strings (DRF's default ``COERCE_DECIMAL_TO_STRING``) so clients
get every stored digit instead of a float approximation.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from .models import DECIMAL_PLACES, PRICE_DIGITS, QUANTITY_DIGITS, Asset


class AssetSerializer(serializers.ModelSerializer[Asset]):
    """Read-only view of an asset and its latest quote (``price`` is ``current_price``)."""

    price = serializers.DecimalField(
        source="current_price",
        max_digits=PRICE_DIGITS,
        decimal_places=DECIMAL_PLACES,
        read_only=True,
        allow_null=True,
    )
    change = serializers.DecimalField(
        max_digits=PRICE_DIGITS + 1,
        decimal_places=DECIMAL_PLACES,
        read_only=True,
        allow_null=True,
    )
    change_percent = serializers.DecimalField(
        max_digits=PRICE_DIGITS + 4, decimal_places=4, read_only=True, allow_null=True
    )

    class Meta:
        model = Asset
        fields = [
            "symbol",
            "name",
            "kind",
            "exchange",
            "currency",
            "price",
            "previous_close",
            "change",
            "change_percent",
            "day_high",
            "day_low",
            "volume",
            "last_updated",
        ]
        read_only_fields = fields


def _price() -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=PRICE_DIGITS, decimal_places=DECIMAL_PLACES, read_only=True
    )


class PriceBarSerializer(serializers.Serializer[Any]):
    """One OHLCV bar, stored (:class:`PriceBar`) or rolled up
    (:class:`tickwire.assets.rollup.RolledBar`); ``start`` is the ISO-8601 UTC start of its
    interval."""

    start = serializers.DateTimeField(read_only=True)
    open = _price()
    high = _price()
    low = _price()
    close = _price()
    volume = serializers.DecimalField(
        max_digits=QUANTITY_DIGITS, decimal_places=DECIMAL_PLACES, read_only=True
    )
