"""DRF serializers for portfolios and positions, with live valuation on reads.

Decimals are strings (as in the assets API) so no digit is lost. Validation errors name the
field and say what to do: a non-positive quantity, a negative cost, an unknown symbol, a
second position in the same asset, a duplicate portfolio name, a bad currency code.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, cast

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tickwire.assets.models import Asset

from .models import Portfolio, Position
from .services import load_book, valuate
from .valuation import MONEY, PERCENT, RATE, PositionValue, Valuation, quantize

__all__ = ["PortfolioDetailSerializer", "PortfolioSerializer", "PositionSerializer"]

_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def _dec(value: Decimal | None, step: Decimal | None = None) -> str | None:
    if value is None:
        return None
    return str(quantize(value, step) if step is not None else value)


_MONEY_FIELD = serializers.DecimalField(
    max_digits=40, decimal_places=2, allow_null=True, read_only=True
)
_PERCENT_FIELD = serializers.DecimalField(
    max_digits=20, decimal_places=4, allow_null=True, read_only=True
)
_PRICE_FIELD = serializers.DecimalField(
    max_digits=40, decimal_places=8, allow_null=True, read_only=True
)


class ValuationErrorSerializer(serializers.Serializer[Any]):
    symbol = serializers.CharField()
    code = serializers.ChoiceField(choices=["price_unavailable", "fx_rate_unavailable"])
    message = serializers.CharField()


class PositionSerializer(serializers.ModelSerializer[Position]):
    """A position: write ``symbol``, ``quantity`` and ``average_cost``; read live value too.

    ``price`` is in the asset's ``currency``; ``value`` and ``daily_change`` are in the
    portfolio's currency (converted at ``fx_rate``).
    """

    symbol = serializers.CharField(max_length=32, help_text="Asset symbol, e.g. AAPL")
    name = serializers.CharField(source="asset.name", read_only=True)
    currency = serializers.CharField(source="asset.currency", read_only=True)
    quantity = serializers.DecimalField(max_digits=28, decimal_places=8)
    average_cost = serializers.DecimalField(
        max_digits=20, decimal_places=8, required=False, default=Decimal("0")
    )
    price = serializers.SerializerMethodField()
    previous_close = serializers.SerializerMethodField()
    fx_rate = serializers.SerializerMethodField()
    value = serializers.SerializerMethodField()
    daily_change = serializers.SerializerMethodField()
    daily_change_percent = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = Position
        fields = [
            "id",
            "symbol",
            "name",
            "currency",
            "quantity",
            "average_cost",
            "price",
            "previous_close",
            "fx_rate",
            "value",
            "daily_change",
            "daily_change_percent",
            "error",
        ]
        read_only_fields = ["id"]

    # -- validation -----------------------------------------------------------------------

    def validate_symbol(self, value: str) -> str:
        # ASCII before upper-casing: str.upper() maps some other letters onto ASCII ones
        # (U+017F long s -> "S"), which would make "\u017fpy" a holding of SPY.
        symbol = value.strip().upper() if value.isascii() else value.strip()
        asset = Asset.objects.filter(symbol=symbol, is_active=True).first()
        if asset is None:
            raise serializers.ValidationError(
                f"Unknown symbol '{symbol}'. See /api/assets/ for the symbols you can hold."
            )
        self._asset = asset
        return symbol

    def validate_quantity(self, value: Decimal) -> Decimal:
        if value <= 0:
            raise serializers.ValidationError(
                "Quantity must be greater than zero; delete the position to close it."
            )
        return value

    def validate_average_cost(self, value: Decimal) -> Decimal:
        if value < 0:
            raise serializers.ValidationError("Average cost cannot be negative.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        symbol = attrs.pop("symbol", None)
        if symbol is not None:
            attrs["asset"] = self._asset
            portfolio: Portfolio = self.context["portfolio"]
            existing = Position.objects.filter(portfolio=portfolio, asset=self._asset)
            if self.instance is not None:
                existing = existing.exclude(pk=self.instance.pk)
            duplicate = existing.first()
            if duplicate is not None:
                raise serializers.ValidationError(
                    {
                        "symbol": [
                            f"This portfolio already holds {symbol} (position {duplicate.pk}); "
                            f"change that position instead: PATCH /api/portfolios/"
                            f"{portfolio.pk}/positions/{duplicate.pk}/"
                        ]
                    }
                )
        return attrs

    # -- live values ----------------------------------------------------------------------

    def _value(self, obj: Position) -> PositionValue | None:
        valuation: Valuation | None = self.context.get("valuation")
        if valuation is None:
            return None
        for pv in valuation.positions:
            if pv.symbol == obj.asset.symbol:
                return pv
        return None

    @extend_schema_field(_PRICE_FIELD)
    def get_price(self, obj: Position) -> str | None:
        pv = self._value(obj)
        return _dec(pv.price) if pv else None

    @extend_schema_field(_PRICE_FIELD)
    def get_previous_close(self, obj: Position) -> str | None:
        pv = self._value(obj)
        return _dec(pv.previous_close) if pv else None

    @extend_schema_field(_PRICE_FIELD)
    def get_fx_rate(self, obj: Position) -> str | None:
        pv = self._value(obj)
        return _dec(pv.fx_rate, RATE) if pv else None

    # The "value" field's method shadows Field.get_value(data), which DRF calls only on a
    # serializer nested as a field of another's input; this one never is.
    @extend_schema_field(_MONEY_FIELD)
    def get_value(self, obj: Position) -> str | None:  # type: ignore[override]
        pv = self._value(obj)
        return _dec(pv.value, MONEY) if pv else None

    @extend_schema_field(_MONEY_FIELD)
    def get_daily_change(self, obj: Position) -> str | None:
        pv = self._value(obj)
        return _dec(pv.daily_change, MONEY) if pv else None

    @extend_schema_field(_PERCENT_FIELD)
    def get_daily_change_percent(self, obj: Position) -> str | None:
        pv = self._value(obj)
        return _dec(pv.daily_change_percent, PERCENT) if pv else None

    @extend_schema_field(ValuationErrorSerializer(allow_null=True))
    def get_error(self, obj: Position) -> dict[str, str] | None:
        pv = self._value(obj)
        if pv is None or pv.error_code is None:
            return None
        return {"symbol": pv.symbol, "code": pv.error_code, "message": pv.error or ""}


class PortfolioSerializer(serializers.ModelSerializer[Portfolio]):
    """A portfolio as listed: name, valuation currency, number of positions."""

    currency = serializers.CharField(
        max_length=3, required=False, default="USD", help_text="ISO 4217 code, e.g. USD"
    )
    position_count = serializers.SerializerMethodField()

    class Meta:
        model = Portfolio
        fields = ["id", "name", "currency", "position_count", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_position_count(self, obj: Portfolio) -> int:
        count = getattr(obj, "position_count", None)
        return int(count) if count is not None else obj.positions.count()

    def validate_name(self, value: str) -> str:
        name = value.strip()
        if not name:
            raise serializers.ValidationError("Name cannot be blank.")
        owner = self.context["request"].user
        clash = Portfolio.objects.filter(owner=owner, name=name)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError(f"You already have a portfolio named '{name}'.")
        return name

    def validate_currency(self, value: str) -> str:
        currency = value.strip().upper()
        if not _CURRENCY_RE.match(currency):
            raise serializers.ValidationError(
                f"'{value}' is not a currency code; use 3 letters (ISO 4217), e.g. USD."
            )
        return currency


class PortfolioDetailSerializer(PortfolioSerializer):
    """A portfolio with its positions, valued at live prices in its currency.

    ``status`` is ``error`` (and the totals null) when a position has no price or no
    exchange rate to the portfolio's currency; ``errors`` says which and why.
    """

    total_value = serializers.SerializerMethodField()
    daily_change = serializers.SerializerMethodField()
    daily_change_percent = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    # DRF's metaclass takes declared fields off the class, so Serializer.errors stays.
    errors = serializers.SerializerMethodField()  # type: ignore[assignment]
    positions = serializers.SerializerMethodField()

    class Meta(PortfolioSerializer.Meta):
        fields = [
            *PortfolioSerializer.Meta.fields,
            "total_value",
            "daily_change",
            "daily_change_percent",
            "status",
            "errors",
            "positions",
        ]

    def _valuation(self, obj: Portfolio) -> Valuation | None:
        # The context is the dict the view built; the stubs promise only a Mapping.
        context = cast(dict[str, Any], self.context)
        cache: dict[int, Valuation | None] = context.setdefault("_valuations", {})
        if obj.pk not in cache:
            book = load_book(obj.pk)
            cache[obj.pk] = valuate(book) if book is not None else None
        return cache[obj.pk]

    @extend_schema_field(_MONEY_FIELD)
    def get_total_value(self, obj: Portfolio) -> str | None:
        v = self._valuation(obj)
        return _dec(v.total_value, MONEY) if v else None

    @extend_schema_field(_MONEY_FIELD)
    def get_daily_change(self, obj: Portfolio) -> str | None:
        v = self._valuation(obj)
        return _dec(v.daily_change, MONEY) if v else None

    @extend_schema_field(_PERCENT_FIELD)
    def get_daily_change_percent(self, obj: Portfolio) -> str | None:
        v = self._valuation(obj)
        return _dec(v.daily_change_percent, PERCENT) if v else None

    @extend_schema_field(serializers.ChoiceField(choices=["ok", "error"]))
    def get_status(self, obj: Portfolio) -> str:
        v = self._valuation(obj)
        return "ok" if v is None or v.ok else "error"

    @extend_schema_field(ValuationErrorSerializer(many=True))
    def get_errors(self, obj: Portfolio) -> list[dict[str, str]]:
        v = self._valuation(obj)
        return v.errors if v else []

    @extend_schema_field(PositionSerializer(many=True))
    def get_positions(self, obj: Portfolio) -> Any:
        positions = obj.positions.select_related("asset").order_by("asset__symbol")
        context = {**self.context, "portfolio": obj, "valuation": self._valuation(obj)}
        return PositionSerializer(positions, many=True, context=context).data
