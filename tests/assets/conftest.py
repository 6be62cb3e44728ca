"""Fixtures for the assets/portfolios data-layer tests."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from tickwire.assets.models import Asset
from tickwire.portfolios.demo import DemoSummary, load_demo_data

AssetFactory = Callable[..., Asset]


@pytest.fixture
def make_asset(db: None) -> AssetFactory:
    """Create an asset; keyword arguments override realistic stock defaults."""

    def _make(symbol: str = "AAPL", **overrides: Any) -> Asset:
        fields: dict[str, Any] = {
            "name": f"{symbol} Inc.",
            "kind": Asset.Kind.STOCK,
            "exchange": "NASDAQ",
            "currency": "USD",
            "current_price": Decimal("268.40"),
            "previous_close": Decimal("265.12"),
            "day_high": Decimal("269.85"),
            "day_low": Decimal("264.70"),
            "volume": Decimal("48210350"),
            "last_updated": timezone.now(),
        }
        fields.update(overrides)
        return Asset.objects.create(symbol=symbol, **fields)

    return _make


@pytest.fixture
def demo_data(db: None) -> DemoSummary:
    """The full demo set (assets, demo user, demo portfolio)."""
    return load_demo_data()


@pytest.fixture
def admin_client_logged_in(db: None) -> Client:
    """A client logged in as a fresh superuser."""
    user = get_user_model().objects.create_superuser("root", "root@example.com", "unused")
    client = Client()
    client.force_login(user)
    return client
