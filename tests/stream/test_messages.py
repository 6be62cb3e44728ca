"""Server messages typed for clients, and client requests written: the protocol's other half."""

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.stream import builders
from tickwire.stream import messages as m
from tickwire.stream import protocol as p
from tickwire.stream.protocol import ProtocolError


def test_public_api_is_pinned():
    assert set(m.__all__) == {
        "Alert", "AssetUpdate", "Authenticated", "Configured", "Connected", "PortfolioUpdate", "Resync",
        "Pong", "ServerError", "ServerMessage", "StreamPosition", "Subscribed", "Unsubscribed",
        "parse_server_frame", "parse_server_message", "parse_timestamp",
    }  # fmt: skip


def test_sealed_asset_update_from_the_server_encoder_is_typed():
    body = p.encode_body(
        p.ServerType.ASSET_UPDATE,
        {"symbol": "AAPL", "price": 150.25, "change": 2.5, "change_percent": 1.69,
         "volume": 50_000_000, "high": 151.0, "low": 148.5, "previous_close": 147.75,
         "currency": "USD"},
        timestamp="2024-01-15T10:30:00.000Z",
    )  # fmt: skip
    [msg] = m.parse_server_frame(p.seal(body, 42))
    assert isinstance(msg, m.AssetUpdate)
    assert (msg.symbol, msg.price, msg.seq, msg.volume, msg.currency) == (
        "AAPL", 150.25, 42, 50_000_000.0, "USD"
    )  # fmt: skip
    assert m.parse_timestamp(msg.timestamp) == 1705314600.0


def test_batched_frame_yields_every_message_in_order():
    frame = (
        b"["
        + b",".join(
            p.seal(p.encode_body("asset_update", {"symbol": s, "price": i}), i)
            for i, s in enumerate(["A", "B", "C"], 1)
        )
        + b"]"
    )
    msgs = m.parse_server_frame(frame)
    assert [(x.symbol, x.seq) for x in msgs] == [("A", 1), ("B", 2), ("C", 3)]


def test_replies_errors_and_connection_are_typed_with_their_ids():
    sub = m.parse_server_message(
        orjson.loads(
            p.encode(
                "subscribed",
                {"symbols": ["AAPL"], "streams": {"AAPL": {"seq": 7, "epoch": "e1",
                 "recovered": False}}, "subscription_count": 1},
                id=5,
            )
        )
    )  # fmt: skip
    assert isinstance(sub, m.Subscribed) and sub.id == 5
    assert sub.streams == {"AAPL": m.StreamPosition(7, "e1", False)}
    [err] = m.parse_server_frame(
        builders.error(p.ErrorCode.UNKNOWN_SYMBOL, "unknown symbol: X", request_id="a")
    )
    assert isinstance(err, m.ServerError) and (err.code, err.id) == ("unknown_symbol", "a")
    hello = m.parse_server_message(
        {"type": "connection", "data": {"status": "connected", "connection_id": "c",
         "authenticated": True, "user_id": 3}}
    )  # fmt: skip
    assert isinstance(hello, m.Connected) and hello.authenticated and hello.user_id == 3
    pu = m.parse_server_message(
        {"type": "portfolio_update", "seq": 2, "data": {"portfolio_id": 9, "name": "G",
         "total_value": 50000.0, "daily_change": 125.5, "daily_change_percent": 0.25}}
    )  # fmt: skip
    assert isinstance(pu, m.PortfolioUpdate) and pu.total_value == 50000.0


def test_unknown_types_pass_through_for_forward_compatibility():
    msg = m.parse_server_message({"type": "market_closed", "data": {"x": 1}})
    assert type(msg) is m.ServerMessage and msg.data == {"x": 1}


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1]",
        b'{"data": {}}',
        b'{"type": "asset_update", "data": {"price": 1}}',
        b'{"type": "asset_update", "data": {"symbol": "A", "price": "1"}}',
        b'{"type": "asset_update", "data": {"symbol": "A", "price": true}}',
        b'{"type": "subscribed", "data": {"streams": {"A": {"seq": "x", "epoch": "e"}}}}',
        b'{"type": "error", "data": {"message": "no code"}}',
        b'{"type": "pong", "data": []}',
    ],
)
def test_malformed_server_messages_raise_protocol_error(raw):
    with pytest.raises(ProtocolError):
        m.parse_server_frame(raw)


REQUESTS = [
    p.Ping(None),
    p.Ping("x"),
    p.SubscribeAssets(1, ("AAPL", "MSFT"), {}, None),
    p.SubscribeAssets(2, ("AAPL",), {"AAPL": 17}, "ep"),
    p.UnsubscribeAssets(3, ("AAPL",)),
    p.SubscribePortfolio(4, 123),
    p.UnsubscribePortfolio(None, 123),
    p.Authenticate(6, "tok"),
    p.Configure(7, True),
    p.Configure(8, None),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=repr)
def test_encode_request_is_the_inverse_of_parse_request(request_):
    assert p.parse_request(p.encode_request(request_)) == request_


symbols = st.from_regex(r"[A-Z][A-Z0-9.\-]{0,8}", fullmatch=True)


@given(st.lists(symbols, min_size=1, max_size=20, unique=True), st.integers(0, 2**40))
def test_encode_request_roundtrips_any_resume(syms, seq):
    req = p.SubscribeAssets(9, tuple(syms), dict.fromkeys(syms, seq), "e")
    assert p.parse_request(p.encode_request(req)) == req


def test_encode_request_rejects_non_requests():
    with pytest.raises(TypeError):
        p.encode_request(object())  # type: ignore[arg-type]
