"""Every server message: what its builder builds, the client's parser reads back typed."""

import orjson
import pytest

from tickwire.stream import builders as b
from tickwire.stream import channels as c
from tickwire.stream import messages as m
from tickwire.stream import protocol as p
from tickwire.stream.protocol import ErrorCode, ServerType

TS = "2024-01-15T10:30:00.123Z"


def one(frame: bytes) -> m.ServerMessage:
    [message] = m.parse_server_frame(frame)
    return message


def test_connection():
    msg = one(b.connection("c-1", 7))
    assert msg == m.Connected(
        "connection",
        {"status": "connected", "connection_id": "c-1", "authenticated": True,
         "user_id": 7, "protocol_version": p.PROTOCOL_VERSION},
        msg.timestamp, None, None, connection_id="c-1", authenticated=True, user_id=7,
    )  # fmt: skip
    anonymous = one(b.connection("c-2", None))
    assert isinstance(anonymous, m.Connected)
    assert (anonymous.authenticated, anonymous.user_id) == (False, None)


@pytest.mark.parametrize("rid", [None, 4, "a"])
def test_pong_echoes_the_request_id(rid):
    msg = one(b.pong(request_id=rid))
    assert isinstance(msg, m.Pong) and msg.id == rid and msg.data == {}


def test_subscribed_assets():
    streams = {"AAPL": m.StreamPosition(7, "e1", False), "MSFT": m.StreamPosition(0, "e1")}
    msg = one(b.subscribed_assets(streams, subscription_count=2, request_id=5))
    assert isinstance(msg, m.Subscribed)
    assert (msg.id, msg.symbols, msg.streams) == (5, ("AAPL", "MSFT"), streams)
    assert (msg.subscription_count, msg.portfolio_id) == (2, None)
    # A fresh subscription says nothing of recovery; a resume says true or false.
    assert "recovered" not in msg.data["streams"]["MSFT"]


def test_subscribed_portfolio():
    msg = one(b.subscribed_portfolio(9, m.StreamPosition(3, "e2"), subscription_count=1))
    assert isinstance(msg, m.Subscribed)
    assert (msg.portfolio_id, msg.symbols, msg.subscription_count) == (9, (), 1)
    assert msg.data == {"portfolio_id": 9, "seq": 3, "epoch": "e2", "subscription_count": 1}


def test_unsubscribed():
    assets = one(b.unsubscribed_assets(["AAPL"], subscription_count=0, request_id="x"))
    assert isinstance(assets, m.Unsubscribed)
    assert (assets.symbols, assets.subscription_count, assets.id) == (("AAPL",), 0, "x")
    portfolio = one(b.unsubscribed_portfolio(9, subscription_count=3))
    assert isinstance(portfolio, m.Unsubscribed)
    assert (portfolio.portfolio_id, portfolio.symbols, portfolio.subscription_count) == (9, (), 3)


def test_authenticated():
    msg = one(b.authenticated(3, "demo", request_id=1))
    assert isinstance(msg, m.Authenticated) and (msg.user_id, msg.id) == (3, 1)
    assert msg.data == {"authenticated": True, "user_id": 3, "username": "demo"}


@pytest.mark.parametrize("batch", [True, False])
def test_configured(batch):
    msg = one(b.configured(batch, request_id=2))
    assert isinstance(msg, m.Configured) and msg.batch is batch and msg.id == 2


def test_asset_update_body_sealed_by_the_broker():
    body = b.asset_update_body(
        "AAPL", 150.25, 2.5, 1.69, 1200, 151.0, 148.0, 147.75, "USD", timestamp=TS
    )
    msg = one(p.seal(body, 42))
    assert msg == m.AssetUpdate(
        "asset_update",
        {"symbol": "AAPL", "price": 150.25, "change": 2.5, "change_percent": 1.69,
         "volume": 1200, "high": 151.0, "low": 148.0, "previous_close": 147.75,
         "currency": "USD"},
        TS, None, 42, symbol="AAPL", price=150.25, change=2.5, change_percent=1.69,
        volume=1200, high=151.0, low=148.0, previous_close=147.75, currency="USD",
    )  # fmt: skip


def test_asset_update_snapshot_carries_its_seq():
    frame = b.asset_update("BTC-USD", 1.0, 0.0, 0.0, 0.5, 1.0, 1.0, 1.0, "USD", seq=0)
    msg = one(frame)
    assert isinstance(msg, m.AssetUpdate) and msg.seq == 0 and msg.volume == 0.5


def test_portfolio_update_body():
    valuation = {"currency": "USD", "total_value": 50000.0, "daily_change": 125.5,
                 "daily_change_percent": 0.25, "status": "ok", "errors": [], "positions": []}  # fmt: skip
    msg = one(p.seal(b.portfolio_update_body(9, "Growth", valuation, timestamp=TS), 2))
    assert isinstance(msg, m.PortfolioUpdate)
    assert (msg.portfolio_id, msg.name, msg.total_value, msg.seq) == (9, "Growth", 50000.0, 2)
    assert (msg.daily_change, msg.daily_change_percent) == (125.5, 0.25)
    assert msg.data == {"portfolio_id": 9, "name": "Growth", **valuation}


def test_portfolio_deleted_is_an_error_on_the_channel():
    msg = one(p.seal(b.portfolio_deleted_body(9), 5))
    assert isinstance(msg, m.ServerError) and msg.seq == 5
    assert (msg.code, msg.data["portfolio_id"]) == ("portfolio_not_found", 9)


def test_resync_asset_and_portfolio():
    msg = one(b.resync("asset.AAPL", seq=12, epoch="e2", reason="epoch_changed"))
    assert msg == m.Resync(
        "resync",
        {"channel": "asset.AAPL", "symbol": "AAPL", "seq": 12, "epoch": "e2",
         "recovered": False, "reason": "epoch_changed"},
        msg.timestamp, None, 12, channel="asset.AAPL", symbol="AAPL", portfolio_id=None,
        epoch="e2", reason="epoch_changed", recovered=False,
    )  # fmt: skip
    portfolio = one(b.resync("portfolio.7", seq=0, epoch="", reason="history_lost"))
    assert isinstance(portfolio, m.Resync)
    assert (portfolio.portfolio_id, portfolio.symbol, portfolio.seq) == (7, None, 0)


def test_error():
    msg = one(b.error(ErrorCode.UNKNOWN_TYPE, "bad", request_type="x", request_id=3))
    assert msg == m.ServerError(
        "error", {"code": "unknown_type", "message": "bad", "request_type": "x"},
        msg.timestamp, 3, None, code="unknown_type", message="bad", request_type="x",
    )  # fmt: skip
    bare = orjson.loads(b.error(ErrorCode.INTERNAL_ERROR, "oops"))
    assert "id" not in bare and "request_type" not in bare["data"]


ALERT_EVENT = {
    "event_id": "6f1c0f0e-9d2b-4a51-8c1e-1f7d2a0b9c11",
    "rule_id": 7,
    "name": "AAPL above 200",
    "target": {"asset": "AAPL"},
    "condition": "above",
    "kind": "above",
    "value": "200.35",
    "measure": "200.35",
    "level": "200",
    "message": "AAPL at 200.35 is above 200",
    "fired_at": TS,
}


def test_alert_carries_the_event_outside_any_channel():
    msg = one(b.alert({**ALERT_EVENT, "extra": "not sent"}))
    assert isinstance(msg, m.Alert)
    assert msg.seq is None and msg.data == ALERT_EVENT
    assert (msg.event_id, msg.rule_id, msg.kind, msg.value, msg.level) == (
        ALERT_EVENT["event_id"], 7, "above", "200.35", "200",
    )  # fmt: skip
    assert msg.target == {"asset": "AAPL"} and msg.fired_at == TS


def test_alert_refuses_an_event_without_its_fields():
    with pytest.raises(ValueError, match="lacks rule_id"):
        b.alert({k: v for k, v in ALERT_EVENT.items() if k != "rule_id"})
    with pytest.raises(p.ProtocolError, match="'target' must be an object"):
        m.parse_server_message({"type": "alert", "data": {**ALERT_EVENT, "target": "AAPL"}})


def test_every_server_type_has_a_builder_and_a_type():
    built = {
        ServerType.CONNECTION: b.connection("c", None),
        ServerType.PONG: b.pong(),
        ServerType.SUBSCRIBED: b.subscribed_assets({}, subscription_count=0),
        ServerType.UNSUBSCRIBED: b.unsubscribed_assets([], subscription_count=0),
        ServerType.ASSET_UPDATE: b.asset_update("A", 1, 0, 0, 0, 1, 1, 1, "USD", seq=1),
        ServerType.PORTFOLIO_UPDATE: p.seal(b.portfolio_update_body(1, "P", {}), 1),
        ServerType.AUTHENTICATED: b.authenticated(1, "u"),
        ServerType.CONFIGURED: b.configured(False),
        ServerType.RESYNC: b.resync("asset.A", seq=1, epoch="e", reason="r"),
        ServerType.ERROR: b.error(ErrorCode.INTERNAL_ERROR, "x"),
        ServerType.ALERT: b.alert(ALERT_EVENT),
    }
    assert set(built) == set(ServerType)
    for kind, frame in built.items():
        msg = one(frame)
        assert msg.type == kind and type(msg) is not m.ServerMessage, kind


# -- channel names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "symbol", "portfolio_id", "user_id"),
    [
        (c.asset_channel("BRK.B"), "BRK.B", None, None),
        (c.portfolio_channel(12), None, 12, None),
        (c.user_channel(3), None, None, 3),
        ("portfolio.²", None, None, None),  # "²".isdigit() is true; int("²") fails
        ("asset.", None, None, None),
        ("control.feed", None, None, None),
    ],
)
def test_channel_names_built_and_parsed_by_one_pair(name, symbol, portfolio_id, user_id):
    parsed = c.parse_channel(name)
    assert (parsed.symbol, parsed.portfolio_id, parsed.user_id) == (symbol, portfolio_id, user_id)
    assert c.channel_symbol(name) == symbol and c.channel_portfolio_id(name) == portfolio_id
    assert c.is_stream_channel(name) is name.startswith(("asset.", "portfolio."))


def test_portfolio_revoked_is_an_error_outside_the_channel():
    msg = one(b.portfolio_revoked(9))
    assert isinstance(msg, m.ServerError) and msg.seq is None
    assert (msg.code, msg.data["portfolio_id"]) == ("portfolio_not_found", 9)
