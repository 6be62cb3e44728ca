import pytest

from tickwire.stream.feeds import Instrument

STOCKS = [
    Instrument("AAPL", 268.4, 265.12, kind="stock"),
    Instrument("MSFT", 512.3, 508.75, kind="stock"),
]
CRYPTO = [
    Instrument("BTC-USD", 104250.5, 101980.25, kind="crypto"),
    Instrument("ETH-USD", 3685.4, 3612.8, kind="crypto"),
]


@pytest.fixture
def fast():
    """Reconnect options that keep tests quick (the logic is the same at any scale)."""
    return {"backoff_initial": 0.01, "backoff_max": 0.05}
