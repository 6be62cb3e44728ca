"""Tradable instruments and their price history.

Money is stored as ``Decimal`` (``DecimalField``) everywhere: floats would make the
change/percent arithmetic drift and break equality checks against the database.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, overload

from django.core.validators import RegexValidator
from django.db import models
from django.db.models.expressions import Combinable

PRICE_DIGITS = 20
QUANTITY_DIGITS = 28
DECIMAL_PLACES = 8
PERCENT_QUANT = Decimal("0.0001")

# Upper-case letters/digits separated by ".", "-" or "/", e.g. AAPL, BRK.B, BTC-USD.
symbol_validator = RegexValidator(
    regex=r"^[A-Z0-9]+(?:[.\-/][A-Z0-9]+)*$",
    message="Symbols are letters and digits, optionally joined by '.', '-' or '/'.",
)
currency_validator = RegexValidator(
    regex=r"^[A-Z]{3}$", message="Currency must be a 3-letter ISO 4217 code, e.g. USD."
)


def normalize_symbol(symbol: str) -> str:
    """Return ``symbol`` stripped and upper-cased, the form stored in :attr:`Asset.symbol`."""
    return symbol.strip().upper()


# The field types say what a column accepts (as django-stubs' DecimalField does) and what
# reading it gives: Decimal, or Decimal | None for a nullable price.
@overload
def price_field(
    *, null: Literal[False], blank: bool = ..., db_index: bool = ...
) -> models.DecimalField[Decimal | float | str | Combinable, Decimal]: ...


@overload
def price_field(
    *, null: Literal[True] = ..., blank: bool = ..., db_index: bool = ...
) -> models.DecimalField[Decimal | float | str | Combinable | None, Decimal | None]: ...


def price_field(**kwargs: Any) -> models.DecimalField[Any, Any]:
    """A nullable price column: 20 digits, 8 decimal places (fits BTC and JPY crosses)."""
    kwargs.setdefault("null", True)
    kwargs.setdefault("blank", True)
    return models.DecimalField(max_digits=PRICE_DIGITS, decimal_places=DECIMAL_PLACES, **kwargs)


def volume_field() -> models.DecimalField[Decimal | float | str | Combinable, Decimal]:
    """A volume column: 28 digits, 8 places, because crypto volume is fractional."""
    return models.DecimalField(
        max_digits=QUANTITY_DIGITS, decimal_places=DECIMAL_PLACES, default=Decimal("0")
    )


class Asset(models.Model):
    """An instrument with its latest quote, as last persisted by the price feed."""

    class Kind(models.TextChoices):
        STOCK = "stock", "Stock"
        ETF = "etf", "ETF"
        CRYPTO = "crypto", "Crypto"
        FX = "fx", "FX"

    symbol = models.CharField(
        max_length=32, unique=True, db_index=True, validators=[symbol_validator]
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.STOCK)
    exchange = models.CharField(max_length=32, blank=True, default="")
    currency = models.CharField(
        max_length=3,
        default="USD",
        validators=[currency_validator],
        help_text="Quote currency (for FX pairs such as EUR-USD, the second currency).",
    )
    current_price = price_field(db_index=True)
    previous_close = price_field()
    day_high = price_field()
    day_low = price_field()
    volume = volume_field()
    # Not auto_now: the feed bulk-updates prices and sets this explicitly to the tick time.
    last_updated = models.DateTimeField(null=True, blank=True, db_index=True)
    is_active = models.BooleanField(default=True, db_index=True)

    class Meta:
        ordering = ["symbol"]

    def __str__(self) -> str:
        return self.symbol

    def _normalize(self) -> None:
        self.symbol = normalize_symbol(self.symbol or "")
        self.currency = (self.currency or "").strip().upper()

    def clean_fields(self, exclude: Any = None) -> None:
        """Upper-case symbol and currency first: ``full_clean`` runs the field validators
        (which accept upper case only) before :meth:`clean`.

        Raises:
            django.core.exceptions.ValidationError: a field is invalid.
        """
        self._normalize()
        super().clean_fields(exclude=exclude)

    def clean(self) -> None:
        """Upper-case symbol and currency (e.g. "brk.b" is stored as "BRK.B")."""
        super().clean()
        self._normalize()

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save with symbol and currency upper-cased, even when ``full_clean()`` was skipped."""
        self._normalize()
        super().save(*args, **kwargs)

    @property
    def change(self) -> Decimal | None:
        """Absolute change since the previous close; ``None`` without both prices."""
        if self.current_price is None or self.previous_close is None:
            return None
        return Decimal(self.current_price) - Decimal(self.previous_close)

    @property
    def change_percent(self) -> Decimal | None:
        """Change since the previous close in percent, rounded to 4 places.

        ``None`` when either price is missing or the previous close is zero (no base).
        """
        change = self.change
        if change is None or not self.previous_close:
            return None
        return (change / Decimal(self.previous_close) * 100).quantize(PERCENT_QUANT)


class PriceBar(models.Model):
    """One OHLCV candle of an asset for a fixed interval starting at ``start``."""

    class Interval(models.TextChoices):
        MINUTE = "1m", "1 minute"
        DAY = "1d", "1 day"

    # db_index=False: the (asset, interval, start) index below serves lookups by asset.
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="bars", db_index=False)
    interval = models.CharField(max_length=2, choices=Interval.choices)
    start = models.DateTimeField()
    open = price_field(null=False, blank=False)
    high = price_field(null=False, blank=False)
    low = price_field(null=False, blank=False)
    close = price_field(null=False, blank=False)
    volume = volume_field()

    class Meta:
        ordering = ["start"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "interval", "start"], name="pricebar_unique_asset_interval_start"
            ),
        ]
        indexes = [
            models.Index(fields=["asset", "interval", "start"], name="pricebar_asset_int_start"),
        ]

    def __str__(self) -> str:
        return f"{self.asset.symbol} {self.interval} {self.start:%Y-%m-%d %H:%M}"


class HistoryCoverage(models.Model):
    """A range ``[start, end)`` of an asset's bars of one interval that a source's history
    was completely fetched for, so a backfill can skip it.

    Written in the same transaction as the bars it covers; touching or overlapping ranges
    of one (asset, interval, source) are merged into one row.
    """

    asset = models.ForeignKey(
        Asset, on_delete=models.CASCADE, related_name="history_coverage", db_index=False
    )
    interval = models.CharField(max_length=2, choices=PriceBar.Interval.choices)
    source = models.CharField(max_length=32)
    start = models.DateTimeField()
    end = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["asset", "interval", "source", "start"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")),
                name="historycoverage_end_after_start",
            ),
        ]
        indexes = [
            models.Index(
                fields=["asset", "interval", "source", "start"], name="coverage_asset_int_src"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.asset.symbol} {self.interval} from {self.source}: "
            f"{self.start:%Y-%m-%d %H:%M} .. {self.end:%Y-%m-%d %H:%M}"
        )
