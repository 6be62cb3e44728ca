"""Portfolio and Position models: constraints the database enforces."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from tickwire.assets.models import Asset
from tickwire.portfolios.models import Portfolio, Position

pytestmark = pytest.mark.django_db


@pytest.fixture
def user() -> AbstractBaseUser:
    return get_user_model().objects.create_user("alice", password="pw")


@pytest.fixture
def asset() -> Asset:
    return Asset.objects.create(
        symbol="AAPL",
        name="Apple Inc.",
        kind=Asset.Kind.STOCK,
        current_price=Decimal("268.40"),
        previous_close=Decimal("265.12"),
    )


@pytest.fixture
def portfolio(user: AbstractBaseUser) -> Portfolio:
    return Portfolio.objects.create(owner=user, name="Core")


def test_portfolio_defaults_and_timestamps(portfolio: Portfolio) -> None:
    assert portfolio.currency == "USD"
    assert portfolio.created_at is not None and portfolio.updated_at is not None
    assert str(portfolio) == "Core"


def test_portfolio_names_are_unique_per_owner(user: AbstractBaseUser, portfolio: Portfolio) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Portfolio.objects.create(owner=user, name="Core")
    other = get_user_model().objects.create_user("bob", password="pw")
    Portfolio.objects.create(owner=other, name="Core")  # same name, other owner: fine
    assert Portfolio.objects.filter(name="Core").count() == 2


def test_position_round_trips_decimals(portfolio: Portfolio, asset: Asset) -> None:
    Position.objects.create(
        portfolio=portfolio,
        asset=asset,
        quantity=Decimal("0.12345678"),
        average_cost=Decimal("189.50"),
    )
    position = portfolio.positions.get()
    assert position.quantity == Decimal("0.12345678")
    assert position.average_cost == Decimal("189.50")
    assert position.cost_basis == Decimal("0.12345678") * Decimal("189.50")
    assert position.market_value == Decimal("0.12345678") * Decimal("268.40")
    assert str(position) == "0.12345678 AAPL"


@pytest.mark.parametrize("quantity", [Decimal("0"), Decimal("-1")])
def test_quantity_must_be_positive(portfolio: Portfolio, asset: Asset, quantity: Decimal) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Position.objects.create(portfolio=portfolio, asset=asset, quantity=quantity)
    assert not Position.objects.exists()


def test_average_cost_cannot_be_negative(portfolio: Portfolio, asset: Asset) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Position.objects.create(
            portfolio=portfolio, asset=asset, quantity=Decimal("1"), average_cost=Decimal("-0.01")
        )
    # Zero cost (e.g. a gifted or airdropped holding) is allowed.
    Position.objects.create(portfolio=portfolio, asset=asset, quantity=Decimal("1"))
    assert portfolio.positions.get().average_cost == Decimal("0")


def test_one_position_per_asset_per_portfolio(portfolio: Portfolio, asset: Asset) -> None:
    Position.objects.create(portfolio=portfolio, asset=asset, quantity=Decimal("1"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Position.objects.create(portfolio=portfolio, asset=asset, quantity=Decimal("2"))


def test_held_asset_cannot_be_deleted(portfolio: Portfolio, asset: Asset) -> None:
    Position.objects.create(portfolio=portfolio, asset=asset, quantity=Decimal("1"))
    with pytest.raises(ProtectedError):
        asset.delete()
    assert Asset.objects.filter(symbol="AAPL").exists()


def test_deleting_owner_removes_portfolios_and_positions(
    user: AbstractBaseUser, portfolio: Portfolio, asset: Asset
) -> None:
    Position.objects.create(portfolio=portfolio, asset=asset, quantity=Decimal("1"))
    user.delete()
    assert not Portfolio.objects.exists()
    assert not Position.objects.exists()
    assert Asset.objects.filter(symbol="AAPL").exists()


def test_market_value_is_none_without_price(portfolio: Portfolio) -> None:
    unpriced = Asset.objects.create(symbol="NEW", name="New", kind=Asset.Kind.STOCK)
    position = Position.objects.create(portfolio=portfolio, asset=unpriced, quantity=Decimal("2"))
    assert position.market_value is None
