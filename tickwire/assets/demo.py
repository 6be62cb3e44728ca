"""Demo data: a realistic set of assets, a ``demo``/``demo`` user and a demo portfolio.

Loaded only where ``settings.TICKWIRE_DEMO_DATA`` is true (the embedded default and the
tests); production settings set it false so a known password can never be created there.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from tickwire.portfolios.models import Portfolio, Position

from .models import Asset

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"
DEMO_PORTFOLIO_NAME = "Demo Portfolio"
DEMO_PORTFOLIO_CURRENCY = "USD"


class DemoDataDisabled(RuntimeError):
    """Raised when demo data is requested but ``settings.TICKWIRE_DEMO_DATA`` is false."""


@dataclass(frozen=True, slots=True)
class DemoAssetSpec:
    """One demo asset with its seed quote (Decimals built from strings, so exact)."""

    symbol: str
    name: str
    kind: str
    exchange: str
    currency: str
    price: Decimal
    previous_close: Decimal
    day_high: Decimal
    day_low: Decimal
    volume: Decimal


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

    @property
    def assets_total(self) -> int:
        return self.assets_created + self.assets_updated

    def __str__(self) -> str:
        user_state = "created" if self.user_created else "password reset"
        portfolio_state = "created" if self.portfolio_created else "updated"
        return (
            f"Demo data loaded: {self.assets_total} assets ({self.assets_created} created, "
            f"{self.assets_updated} updated), user '{DEMO_USERNAME}' ({user_state}), "
            f"portfolio '{DEMO_PORTFOLIO_NAME}' ({portfolio_state}, {self.positions} positions)."
        )


def _asset(
    symbol: str,
    name: str,
    kind: Asset.Kind,
    exchange: str,
    currency: str,
    quote: tuple[str, str, str, str, str],
) -> DemoAssetSpec:
    price, previous_close, high, low, volume = (Decimal(v) for v in quote)
    return DemoAssetSpec(
        symbol, name, kind.value, exchange, currency, price, previous_close, high, low, volume
    )


_K = Asset.Kind
# Quotes: (price, previous close, day high, day low, volume) — late-2026-ish levels.
DEMO_ASSETS: tuple[DemoAssetSpec, ...] = (
    _asset("AAPL", "Apple Inc.", _K.STOCK, "NASDAQ", "USD",
           ("268.40", "265.12", "269.85", "264.70", "48210350")),
    _asset("MSFT", "Microsoft Corporation", _K.STOCK, "NASDAQ", "USD",
           ("512.30", "508.75", "514.10", "507.20", "21045800")),
    _asset("GOOGL", "Alphabet Inc. Class A", _K.STOCK, "NASDAQ", "USD",
           ("298.15", "301.02", "302.40", "296.85", "27530100")),
    _asset("AMZN", "Amazon.com, Inc.", _K.STOCK, "NASDAQ", "USD",
           ("236.80", "233.55", "237.95", "232.90", "39880420")),
    _asset("NVDA", "NVIDIA Corporation", _K.STOCK, "NASDAQ", "USD",
           ("192.45", "188.90", "193.70", "187.65", "182340900")),
    _asset("TSLA", "Tesla, Inc.", _K.STOCK, "NASDAQ", "USD",
           ("412.60", "420.10", "423.50", "408.15", "96120000")),
    _asset("JPM", "JPMorgan Chase & Co.", _K.STOCK, "NYSE", "USD",
           ("318.25", "316.40", "319.60", "315.10", "8940210")),
    _asset("BRK.B", "Berkshire Hathaway Inc. Class B", _K.STOCK, "NYSE", "USD",
           ("498.20", "496.75", "500.05", "495.30", "3512400")),
    _asset("SPY", "SPDR S&P 500 ETF Trust", _K.ETF, "NYSE ARCA", "USD",
           ("702.35", "698.10", "703.90", "697.45", "61250300")),
    _asset("QQQ", "Invesco QQQ Trust", _K.ETF, "NASDAQ", "USD",
           ("628.90", "624.20", "630.35", "623.10", "38420150")),
    _asset("BTC-USD", "Bitcoin", _K.CRYPTO, "COINBASE", "USD",
           ("104250.50", "101980.25", "104980.00", "101450.75", "28415.37210000")),
    _asset("ETH-USD", "Ether", _K.CRYPTO, "COINBASE", "USD",
           ("3685.40", "3612.80", "3702.15", "3598.60", "412880.52340000")),
    # FX has no consolidated exchange volume, so volume stays 0; the quote currency is
    # the pair's second leg.
    _asset("EUR-USD", "Euro / US Dollar", _K.FX, "", "USD",
           ("1.16420", "1.16185", "1.16590", "1.16050", "0")),
    _asset("GBP-USD", "British Pound / US Dollar", _K.FX, "", "USD",
           ("1.33180", "1.33420", "1.33610", "1.32940", "0")),
    _asset("USD-JPY", "US Dollar / Japanese Yen", _K.FX, "", "JPY",
           ("152.845", "153.210", "153.480", "152.610", "0")),
)  # fmt: skip

DEMO_POSITIONS: tuple[DemoPositionSpec, ...] = (
    DemoPositionSpec("AAPL", Decimal("10"), Decimal("189.50")),
    DemoPositionSpec("MSFT", Decimal("5"), Decimal("402.10")),
    DemoPositionSpec("NVDA", Decimal("3"), Decimal("118.75")),
    DemoPositionSpec("SPY", Decimal("20"), Decimal("561.30")),
    DemoPositionSpec("BTC-USD", Decimal("0.25"), Decimal("67250.00")),
)


def demo_data_enabled() -> bool:
    """Whether this deployment may load demo data (``settings.TICKWIRE_DEMO_DATA``)."""
    return bool(getattr(settings, "TICKWIRE_DEMO_DATA", False))


@transaction.atomic
def load_demo_data() -> DemoSummary:
    """Create or refresh the demo assets, the ``demo`` user and its portfolio.

    Idempotent: every row is written with ``update_or_create``, so a re-run resets the demo
    quotes (with ``last_updated`` = now), the demo user's password to ``demo`` and the demo
    positions, and never duplicates anything. Runs in one transaction.

    Raises:
        DemoDataDisabled: ``settings.TICKWIRE_DEMO_DATA`` is false (production settings).
    """
    if not demo_data_enabled():
        raise DemoDataDisabled(
            "Demo data is disabled in these settings (TICKWIRE_DEMO_DATA is False); "
            "it would create a user with the known password 'demo'."
        )
    now = timezone.now()
    created_count = 0
    assets: dict[str, Asset] = {}
    for spec in DEMO_ASSETS:
        asset, created = Asset.objects.update_or_create(
            symbol=spec.symbol,
            defaults={
                "name": spec.name,
                "kind": spec.kind,
                "exchange": spec.exchange,
                "currency": spec.currency,
                "current_price": spec.price,
                "previous_close": spec.previous_close,
                "day_high": spec.day_high,
                "day_low": spec.day_low,
                "volume": spec.volume,
                "last_updated": now,
                "is_active": True,
            },
        )
        assets[spec.symbol] = asset
        created_count += created

    # create_user/set_password skip AUTH_PASSWORD_VALIDATORS on purpose: "demo" fails them.
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_USERNAME).first()
    user_created = user is None
    if user is None:
        user = user_model.objects.create_user(
            username=DEMO_USERNAME, email="demo@example.com", password=DEMO_PASSWORD
        )
    else:
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
