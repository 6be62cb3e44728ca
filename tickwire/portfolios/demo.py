"""Demo data: the demo assets, a ``demo``/``demo`` user and its demo portfolio.

Loaded only where ``settings.TICKWIRE_DEMO_DATA`` is true (the embedded default and the
tests); production settings set it false so a known password can never be created there.

The embedded server loads it once, into a database without assets
(:func:`load_demo_data_once`); after that it is user data like any other: a changed
password, an edited position and the last prices survive every restart.
``tickwire manage load_demo_data`` adds what is missing (:func:`add_demo_data`), and
``--reset`` puts everything back as shipped (:func:`load_demo_data`).

On that first load, when the feed's source is the simulator, a couple of days of simulated
1-minute bars are written too (:func:`tickwire.assets.demo.write_demo_history`), so the
first chart has history that ends where the live stream begins.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from tickwire.assets.demo import (
    DEMO_ASSETS,
    DEMO_HISTORY_DAYS,
    DemoDataDisabled,
    demo_data_enabled,
    demo_history_allowed,
    load_demo_assets,
    write_demo_history,
)
from tickwire.assets.models import Asset

from .models import Portfolio, Position

__all__ = [
    "DEMO_ASSETS",
    "DEMO_HISTORY_DAYS",
    "DEMO_PASSWORD",
    "DEMO_PORTFOLIO_CURRENCY",
    "DEMO_PORTFOLIO_NAME",
    "DEMO_POSITIONS",
    "DEMO_USERNAME",
    "DemoDataDisabled",
    "DemoPositionSpec",
    "DemoSummary",
    "add_demo_data",
    "load_demo_data",
    "load_demo_data_once",
    "write_demo_history",
]

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"
DEMO_PORTFOLIO_NAME = "Demo Portfolio"
DEMO_PORTFOLIO_CURRENCY = "USD"


@dataclass(frozen=True, slots=True)
class DemoPositionSpec:
    """One holding of the demo portfolio."""

    symbol: str
    quantity: Decimal
    average_cost: Decimal


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What :func:`load_demo_data` did; ``str()`` gives a one-line summary."""

    assets_created: int
    assets_updated: int
    user_created: bool
    portfolio_created: bool
    positions: int
    #: Whether existing demo rows were put back as shipped (False: left as they were).
    reset: bool = True
    #: Simulated 1-minute bars written (demo history; 0 when none was asked for).
    bars: int = 0

    @property
    def assets_total(self) -> int:
        return self.assets_created + self.assets_updated

    def __str__(self) -> str:
        kept = "updated" if self.reset else "already there"
        user_state = "password reset" if self.reset else "kept"
        portfolio_state = "updated" if self.reset else "kept"
        if self.user_created:
            user_state = "created"
        if self.portfolio_created:
            portfolio_state = "created"
        history = f", {self.bars} simulated 1-minute bars" if self.bars else ""
        return (
            f"Demo data loaded: {self.assets_total} assets ({self.assets_created} created, "
            f"{self.assets_updated} {kept}), user '{DEMO_USERNAME}' ({user_state}), "
            f"portfolio '{DEMO_PORTFOLIO_NAME}' ({portfolio_state}, {self.positions} positions)"
            f"{history}."
        )


DEMO_POSITIONS: tuple[DemoPositionSpec, ...] = (
    DemoPositionSpec("AAPL", Decimal("10"), Decimal("189.50")),
    DemoPositionSpec("MSFT", Decimal("5"), Decimal("402.10")),
    DemoPositionSpec("NVDA", Decimal("3"), Decimal("118.75")),
    DemoPositionSpec("SPY", Decimal("20"), Decimal("561.30")),
    DemoPositionSpec("BTC-USD", Decimal("0.25"), Decimal("67250.00")),
)


@transaction.atomic
def load_demo_data_once() -> DemoSummary | None:
    """Load the demo data into a database that has no assets yet; None, changing
    nothing, when it has some (the demo data was loaded before, or real assets were added).

    When the feed's source is the simulator (:func:`demo_history_allowed`) it also writes
    ``DEMO_HISTORY_DAYS`` days of simulated 1-minute bars per demo asset, ending at its
    current price.

    Raises:
        DemoDataDisabled: ``settings.TICKWIRE_DEMO_DATA`` is false (production settings).
    """
    _refuse_unless_enabled()
    if Asset.objects.exists():
        return None
    summary = add_demo_data()
    if demo_history_allowed():
        summary = replace(summary, bars=write_demo_history(DEMO_HISTORY_DAYS))
    return summary


@transaction.atomic
def add_demo_data() -> DemoSummary:
    """Create whatever part of the demo data is missing; change nothing that exists.

    Demo assets that exist keep their prices, an existing ``demo`` user keeps its
    password, and an existing demo portfolio keeps its positions (the demo positions are
    created with the portfolio only). Runs in one transaction.

    Raises:
        DemoDataDisabled: ``settings.TICKWIRE_DEMO_DATA`` is false (production settings).
    """
    _refuse_unless_enabled()
    assets, created_count = load_demo_assets(reset=False)
    user, user_created = _demo_user()
    portfolio, portfolio_created = Portfolio.objects.get_or_create(
        owner=user, name=DEMO_PORTFOLIO_NAME, defaults={"currency": DEMO_PORTFOLIO_CURRENCY}
    )
    if portfolio_created:
        for position in DEMO_POSITIONS:
            Position.objects.create(
                portfolio=portfolio,
                asset=assets[position.symbol],
                quantity=position.quantity,
                average_cost=position.average_cost,
            )
    return DemoSummary(
        assets_created=created_count,
        assets_updated=len(DEMO_ASSETS) - created_count,
        user_created=user_created,
        portfolio_created=portfolio_created,
        positions=portfolio.positions.count(),
        reset=False,
    )


def _demo_user() -> tuple[Any, bool]:
    """The demo user, created with the demo password when missing; whether it was created."""
    # create_user/set_password skip AUTH_PASSWORD_VALIDATORS on purpose: "demo" fails them.
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_USERNAME).first()
    if user is not None:
        return user, False
    user = user_model.objects.create_user(
        username=DEMO_USERNAME, email="demo@example.com", password=DEMO_PASSWORD
    )
    return user, True


def _refuse_unless_enabled() -> None:
    if not demo_data_enabled():
        raise DemoDataDisabled(
            "Demo data is disabled in these settings (TICKWIRE_DEMO_DATA is False); "
            "it would create a user with the known password 'demo'."
        )


@transaction.atomic
def load_demo_data() -> DemoSummary:
    """Create or reset the demo assets, the ``demo`` user and its portfolio, as shipped.

    Idempotent: every row is written with ``update_or_create``, so a re-run resets the demo
    quotes (with ``last_updated`` = now), the demo user's password to ``demo`` and the demo
    positions, and never duplicates anything. Runs in one transaction. This is
    ``load_demo_data --reset``: a deliberate reset, never done on a server's start.

    Raises:
        DemoDataDisabled: ``settings.TICKWIRE_DEMO_DATA`` is false (production settings).
    """
    _refuse_unless_enabled()
    assets, created_count = load_demo_assets()

    user, user_created = _demo_user()
    if not user_created:
        user.set_password(DEMO_PASSWORD)
        user.is_active = True
        user.save(update_fields=["password", "is_active"])

    portfolio, portfolio_created = Portfolio.objects.get_or_create(
        owner=user, name=DEMO_PORTFOLIO_NAME, defaults={"currency": DEMO_PORTFOLIO_CURRENCY}
    )
    for position in DEMO_POSITIONS:
        Position.objects.update_or_create(
            portfolio=portfolio,
            asset=assets[position.symbol],
            defaults={"quantity": position.quantity, "average_cost": position.average_cost},
        )
    return DemoSummary(
        assets_created=created_count,
        assets_updated=len(DEMO_ASSETS) - created_count,
        user_created=user_created,
        portfolio_created=portfolio_created,
        positions=len(DEMO_POSITIONS),
    )
