"""Demo assets: a realistic set of stocks, ETFs, crypto and FX pairs with seed quotes.

Loaded only where ``settings.TICKWIRE_DEMO_DATA`` is true (the embedded default and the
tests); production settings set it false. The demo user and portfolio are
:mod:`tickwire.portfolios.demo`'s, which loads these first.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from .models import Asset


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


def demo_data_enabled() -> bool:
    """Whether this deployment may load demo data (``settings.TICKWIRE_DEMO_DATA``)."""
    return bool(getattr(settings, "TICKWIRE_DEMO_DATA", False))


def load_demo_assets(*, reset: bool = True) -> tuple[dict[str, Asset], int]:
    """Create the demo assets; returns them by symbol, and how many were new.

    With ``reset`` (the default) existing demo assets get their demo quotes back
    (``last_updated`` = now); without it they are left as they are — a restarted server
    keeps the last prices its feed wrote. A re-run never duplicates anything. The caller
    holds the transaction.
    """
    now = timezone.now()
    created_count = 0
    assets: dict[str, Asset] = {}
    write = Asset.objects.update_or_create if reset else Asset.objects.get_or_create
    for spec in DEMO_ASSETS:
        asset, created = write(
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
    return assets, created_count
