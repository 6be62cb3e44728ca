"""Resume fields of subscribe_asset (one epoch or one per symbol) and the resync message."""

import orjson
import pytest

from tickwire.stream import builders
from tickwire.stream.protocol import ErrorCode, ProtocolError, parse_request


def parse(data):
    return parse_request(orjson.dumps({"type": "subscribe_asset", "data": data}))


def test_one_epoch_applies_to_every_symbol():
    req = parse({"symbols": ["A", "B"], "since": 4, "epoch": "e1"})
    assert req.epoch_of("A") == req.epoch_of("B") == "e1"


def test_an_epoch_per_symbol():
    req = parse({"symbols": ["A", "b"], "since": {"A": 4, "B": 9}, "epoch": {"a": "x", "B": "y"}})
    assert (req.epoch_of("A"), req.epoch_of("B")) == ("x", "y")
    assert parse({"symbol": "A"}).epoch_of("A") is None


@pytest.mark.parametrize(
    "epoch",
    [5, ["x"], {"A": 1}, {"C": "x"}, "x" * 65, {"bad symbol!": "x"}],
)
def test_bad_epochs_are_invalid_field(epoch):
    with pytest.raises(ProtocolError) as err:
        parse({"symbols": ["A", "B"], "since": 1, "epoch": epoch})
    assert err.value.code is ErrorCode.INVALID_FIELD


def test_resync_names_the_channel_like_subscriptions_do():
    msg = orjson.loads(builders.resync("asset.AAPL", seq=12, epoch="e2", reason="epoch_changed"))
    assert msg["type"] == "resync" and msg["timestamp"].endswith("Z")
    assert msg["data"] == {
        "channel": "asset.AAPL",
        "symbol": "AAPL",
        "seq": 12,
        "epoch": "e2",
        "recovered": False,
        "reason": "epoch_changed",
    }
    portfolio = orjson.loads(builders.resync("portfolio.7", seq=0, epoch="", reason="history_lost"))["data"]
    assert portfolio["portfolio_id"] == 7 and "symbol" not in portfolio
