"""Users' portfolios and the positions they hold.

Quantities and costs are ``Decimal``; the database itself rejects impossible positions
(zero/negative quantity, negative cost) through check constraints, so a bug in any writer
cannot store them.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from tickwire.assets.models import Asset

currency_validator = RegexValidator(
    regex=r"^[A-Z]{3}$", message="Currency must be a 3-letter ISO 4217 code, e.g. USD."
)


class Portfolio(models.Model):
    """A named set of positions owned by one user, valued in ``currency``."""

    # db_index=False: the named index on owner in Meta is the one index this column needs.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="portfolios",
        db_index=False,
    )
    name = models.CharField(max_length=100)
    currency = models.CharField(max_length=3, default="USD", validators=[currency_validator])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["owner_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="portfolio_unique_owner_name"),
        ]
        indexes = [models.Index(fields=["owner"], name="portfolio_owner_idx")]

    def __str__(self) -> str:
        return self.name


class Position(models.Model):
    """A holding of ``quantity`` units of ``asset`` bought at ``average_cost`` per unit."""

    # db_index=False: the (portfolio, asset) index below already serves lookups by portfolio.
    portfolio = models.ForeignKey(
        Portfolio, on_delete=models.CASCADE, related_name="positions", db_index=False
    )
    # PROTECT: deleting an asset that someone holds would silently erase their position.
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="positions")
    quantity = models.DecimalField(max_digits=28, decimal_places=8)
    average_cost = models.DecimalField(max_digits=20, decimal_places=8, default=Decimal("0"))

    class Meta:
        ordering = ["portfolio_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["portfolio", "asset"], name="position_unique_portfolio_asset"
            ),
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="position_quantity_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(average_cost__gte=0), name="position_average_cost_non_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["portfolio", "asset"], name="position_portfolio_asset_idx"),
        ]

    def __str__(self) -> str:
        return f"{Decimal(self.quantity).normalize():f} {self.asset.symbol}"

    @property
    def symbol(self) -> str:
        """The held asset's symbol (what the API reads and writes)."""
        return self.asset.symbol

    @property
    def cost_basis(self) -> Decimal:
        """Total paid for the position: ``quantity * average_cost``."""
        return Decimal(self.quantity) * Decimal(self.average_cost)

    @property
    def market_value(self) -> Decimal | None:
        """Value at the asset's current price; ``None`` while the asset has no price yet."""
        price = self.asset.current_price
        if price is None:
            return None
        return Decimal(self.quantity) * Decimal(price)
