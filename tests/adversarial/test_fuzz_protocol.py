"""Property-based fuzzing of the wire protocol's parsers, both directions.

Client requests (:func:`parse_request`): any frame either parses into a request or raises
:class:`ProtocolError` with one of the documented error codes — never another exception,
which the consumer would not turn into an ``error`` reply. Server frames
(:func:`parse_server_frame`): the same, for what the clients read. Every builder's frame
parses back into the typed message with the values it was built from.
"""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.stream import builders
from tickwire.stream import messages as m
from tickwire.stream.channels import asset_channel, portfolio_channel
from tickwire.stream.protocol import (
    Authenticate,
    ClientType,
    Configure,
    ErrorCode,
    Ping,
    ProtocolError,
    Request,
    SubscribeAssets,
    SubscribePortfolio,
    UnsubscribeAssets,
    UnsubscribePortfolio,
    encode_request,
    normalize_symbol,
    parse_request,
    seal,
)

from .strategies import FUZZ, json_values, tricky_text

#: The codes docs/protocol.md documents ("Error codes"): a parser may raise only these.
DOCUMENTED_CODES = {
    "invalid_json",
    "invalid_message",
    "unknown_type",
    "missing_field",
    "invalid_field",
    "unknown_symbol",
    "subscription_limit",
    "authentication_required",
    "authentication_failed",
    "portfolio_not_found",
    "rate_limited",
    "internal_error",
}
PARSE_CODES = {"invalid_json", "invalid_message", "unknown_type", "missing_field", "invalid_field"}
REQUEST_FIELDS = ["symbol", "symbols", "since", "epoch", "portfolio_id", "token", "batch"]
TYPES = [t.value for t in ClientType] + ["subscribe", "unsubscribe", "fly", ""]


def test_the_documented_codes_are_the_protocol_codes():
    # The fuzzing below checks raised codes against the documented set; keep them one set.
    assert {c.value for c in ErrorCode} == DOCUMENTED_CODES


def check_request(frame: str | bytes) -> Request | None:
    """parse_request's contract: a request, or ProtocolError with a parse code."""
    try:
        request = parse_request(frame)
    except ProtocolError as exc:
        assert exc.code.value in PARSE_CODES, exc.code
        assert isinstance(exc.message, str) and exc.message
        return None
    assert isinstance(request, Request)
    return request


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_any_frame_parses_or_is_a_protocol_error(frame):
    check_request(frame)


request_data = st.dictionaries(
    st.sampled_from(REQUEST_FIELDS),
    st.one_of(json_values, tricky_text, st.lists(tricky_text, max_size=5)),
    max_size=5,
)


@FUZZ
@given(
    kind=st.one_of(st.sampled_from(TYPES), st.text(max_size=10), json_values),
    data=st.one_of(request_data, json_values),
    rid=json_values,
    short_form=st.booleans(),
)
def test_any_json_request_parses_or_is_a_protocol_error(kind, data, rid, short_form):
    if short_form and isinstance(data, dict):
        message = {"type": kind, "id": rid, **data}
    else:
        message = {"type": kind, "data": data, "id": rid}
    try:
        frame = orjson.dumps(message)
    except TypeError:  # integers past 64 bits: JSON a client could still send
        frame = json.dumps(message).encode()
    request = check_request(frame)
    if isinstance(request, (SubscribeAssets, UnsubscribeAssets)):
        # Accepted symbols are canonical: they survive normalising again.
        assert all(normalize_symbol(s) == s for s in request.symbols)
        assert 1 <= len(request.symbols) <= 1000
    if isinstance(request, (SubscribePortfolio, UnsubscribePortfolio)):
        assert 0 < request.portfolio_id < 2**63
    if request is not None and request.id is not None:
        assert isinstance(request.id, (str, int)) and not isinstance(request.id, bool)


@FUZZ
@given(st.recursive(st.just([]), lambda inner: st.lists(inner, max_size=2), max_leaves=3000))
def test_deep_nesting_is_refused_with_a_code(nested):
    check_request(orjson.dumps({"type": "subscribe", "data": {"symbols": nested}}))


@pytest.mark.parametrize("depth", [1023, 1025, 100_000])
def test_nesting_past_the_parser_limit_is_invalid_json(depth):
    frame = "[" * depth + "]" * depth
    with pytest.raises(ProtocolError) as caught:
        parse_request(frame)
    assert caught.value.code in (ErrorCode.INVALID_JSON, ErrorCode.INVALID_MESSAGE)


symbols = st.from_regex(r"[A-Z0-9][A-Z0-9._\-/:=^]{0,31}", fullmatch=True)
ids = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=64))
epochs = st.text(max_size=64)


@st.composite
def valid_requests(draw) -> Request:
    rid = draw(ids)
    kind = draw(st.sampled_from(list(ClientType)))
    if kind is ClientType.PING:
        return Ping(rid)
    if kind in (ClientType.SUBSCRIBE_ASSET, ClientType.UNSUBSCRIBE_ASSET):
        syms = tuple(draw(st.lists(symbols, min_size=1, max_size=8, unique=True)))
        if kind is ClientType.UNSUBSCRIBE_ASSET:
            return UnsubscribeAssets(rid, syms)
        since = draw(st.dictionaries(st.sampled_from(syms), st.integers(0, 2**63 - 1)))
        epoch = draw(st.one_of(st.none(), epochs, st.dictionaries(st.sampled_from(syms), epochs)))
        return SubscribeAssets(rid, syms, since, epoch)
    if kind in (ClientType.SUBSCRIBE_PORTFOLIO, ClientType.UNSUBSCRIBE_PORTFOLIO):
        pid = draw(st.integers(1, 2**63 - 1))
        cls = SubscribePortfolio if kind is ClientType.SUBSCRIBE_PORTFOLIO else UnsubscribePortfolio
        return cls(rid, pid)
    if kind is ClientType.AUTHENTICATE:
        return Authenticate(rid, draw(st.text(min_size=1, max_size=512)))
    return Configure(rid, draw(st.one_of(st.none(), st.booleans())))


@FUZZ
@given(valid_requests())
def test_every_valid_request_round_trips(request):
    assert parse_request(encode_request(request)) == request


@FUZZ
@given(st.text(alphabet="²³¹\u2074\u2460\u2468\u0663\u06f7\u0966\u07c0", min_size=1, max_size=6))
def test_unicode_digit_portfolio_id_is_an_invalid_field(pid):
    frame = orjson.dumps({"type": "subscribe_portfolio", "data": {"portfolio_id": pid}})
    with pytest.raises(ProtocolError) as caught:
        parse_request(frame)
    assert caught.value.code is ErrorCode.INVALID_FIELD


@pytest.mark.parametrize("text", ["\u017fpy", "\u0131bm", "\ufb00", "\ufb05"])
def test_symbols_that_case_map_into_ascii_are_refused(text):
    with pytest.raises(ProtocolError) as caught:
        normalize_symbol(text)
    assert caught.value.code is ErrorCode.INVALID_FIELD


# -- server frames ---------------------------------------------------------------------------


def check_frame(frame: str | bytes) -> list[m.ServerMessage] | None:
    try:
        parsed = m.parse_server_frame(frame)
    except ProtocolError as exc:
        assert exc.code in (ErrorCode.INVALID_JSON, ErrorCode.INVALID_MESSAGE), exc.code
        return None
    assert all(isinstance(msg, m.ServerMessage) for msg in parsed)
    return parsed


SERVER_TYPES = [
    "connection", "pong", "subscribed", "unsubscribed", "asset_update", "portfolio_update",
    "error", "resync", "authenticated", "configured", "future_type",
]  # fmt: skip
SERVER_FIELDS = [
    "symbol", "price", "change", "volume", "high", "low", "previous_close", "currency",
    "portfolio_id", "name", "total_value", "symbols", "streams", "subscription_count", "code",
    "message", "request_type", "connection_id", "authenticated", "user_id", "channel", "seq",
    "epoch", "reason", "recovered", "batch",
]  # fmt: skip


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_any_server_frame_parses_or_is_a_protocol_error(frame):
    check_frame(frame)


server_message = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(SERVER_TYPES), json_values)},
    optional={
        "data": st.one_of(
            st.dictionaries(st.sampled_from(SERVER_FIELDS), json_values, max_size=8),
            json_values,
        ),
        "seq": json_values,
        "id": json_values,
        "timestamp": json_values,
    },
)


@FUZZ
@given(st.one_of(server_message, st.lists(server_message, max_size=4), json_values))
def test_any_json_server_message_parses_or_is_a_protocol_error(message):
    check_frame(json.dumps(message))


# -- builders round-trip through the parser -------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
seqs = st.integers(0, 2**63 - 1)
request_ids = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=64))
positions = st.builds(m.StreamPosition, seqs, epochs, st.one_of(st.none(), st.booleans()))


def one(frame: bytes) -> m.ServerMessage:
    parsed = m.parse_server_frame(frame)
    assert len(parsed) == 1
    return parsed[0]


@FUZZ
@given(symbols, finite, finite, finite, finite, finite, finite, finite, st.text(max_size=8), seqs)
def test_asset_update_round_trips(symbol, price, change, pct, volume, high, low, prev, cur, seq):
    msg = one(
        builders.asset_update(symbol, price, change, pct, volume, high, low, prev, cur, seq=seq)
    )
    assert isinstance(msg, m.AssetUpdate)
    assert (msg.symbol, msg.price, msg.change, msg.change_percent) == (symbol, price, change, pct)
    assert (msg.volume, msg.high, msg.low, msg.previous_close) == (volume, high, low, prev)
    assert (msg.currency, msg.seq) == (cur, seq)


@FUZZ
@given(st.dictionaries(symbols, positions, max_size=6), st.integers(0, 10**6), request_ids)
def test_subscribed_assets_round_trips(streams, count, rid):
    msg = one(builders.subscribed_assets(streams, subscription_count=count, request_id=rid))
    assert isinstance(msg, m.Subscribed)
    assert msg.symbols == tuple(streams) and msg.streams == streams
    assert (msg.subscription_count, msg.id, msg.portfolio_id) == (count, rid, None)


@FUZZ
@given(st.integers(1, 2**63 - 1), positions, st.integers(0, 10**6), request_ids)
def test_subscribed_and_unsubscribed_portfolio_round_trip(pid, position, count, rid):
    msg = one(
        builders.subscribed_portfolio(pid, position, subscription_count=count, request_id=rid)
    )
    assert isinstance(msg, m.Subscribed) and (msg.portfolio_id, msg.id) == (pid, rid)
    assert (msg.data["seq"], msg.data["epoch"]) == (position.seq, position.epoch)
    gone = one(builders.unsubscribed_portfolio(pid, subscription_count=count, request_id=rid))
    assert isinstance(gone, m.Unsubscribed)
    assert (gone.portfolio_id, gone.subscription_count, gone.id) == (pid, count, rid)


@FUZZ
@given(st.lists(symbols, max_size=6), st.integers(0, 10**6), request_ids)
def test_unsubscribed_assets_round_trips(syms, count, rid):
    msg = one(builders.unsubscribed_assets(syms, subscription_count=count, request_id=rid))
    assert isinstance(msg, m.Unsubscribed)
    assert (msg.symbols, msg.subscription_count, msg.id) == (tuple(syms), count, rid)


@FUZZ
@given(
    st.one_of(symbols.map(asset_channel), st.integers(1, 2**63 - 1).map(portfolio_channel)),
    seqs,
    epochs,
    st.sampled_from(["epoch_changed", "history_lost"]),
)
def test_resync_round_trips(channel, seq, epoch, reason):
    msg = one(builders.resync(channel, seq=seq, epoch=epoch, reason=reason))
    assert isinstance(msg, m.Resync)
    assert (msg.channel, msg.seq, msg.epoch, msg.reason) == (channel, seq, epoch, reason)
    assert msg.recovered is False
    if channel.startswith("asset."):
        assert msg.symbol == channel.removeprefix("asset.") and msg.portfolio_id is None
    else:
        assert msg.portfolio_id == int(channel.removeprefix("portfolio.")) and msg.symbol is None


@FUZZ
@given(
    st.sampled_from(list(ErrorCode)),
    st.text(max_size=80),
    st.one_of(st.none(), st.text(max_size=40)),
    request_ids,
)
def test_error_round_trips(code, text, request_type, rid):
    msg = one(builders.error(code, text, request_type=request_type, request_id=rid))
    assert isinstance(msg, m.ServerError)
    assert (msg.code, msg.message, msg.request_type, msg.id) == (
        code.value,
        text,
        request_type,
        rid,
    )


@FUZZ
@given(
    st.text(max_size=40),
    st.one_of(st.none(), st.integers(1, 2**63 - 1)),
    st.text(max_size=40),
    st.booleans(),
    request_ids,
)
def test_connection_authenticated_configured_pong_round_trip(cid, uid, username, batch, rid):
    hello = one(builders.connection(cid, uid))
    assert isinstance(hello, m.Connected)
    assert (hello.connection_id, hello.user_id, hello.authenticated) == (cid, uid, uid is not None)
    if uid is not None:
        auth = one(builders.authenticated(uid, username, request_id=rid))
        assert isinstance(auth, m.Authenticated) and (auth.user_id, auth.id) == (uid, rid)
    conf = one(builders.configured(batch, request_id=rid))
    assert isinstance(conf, m.Configured) and (conf.batch, conf.id) == (batch, rid)
    pong = one(builders.pong(request_id=rid))
    assert isinstance(pong, m.Pong) and pong.id == rid


@FUZZ
@given(
    st.integers(1, 2**63 - 1),
    st.text(max_size=40),
    st.one_of(st.none(), finite),
    st.one_of(st.none(), finite),
    seqs,
)
def test_portfolio_update_and_deletion_round_trip(pid, name, total, change, seq):
    valuation = {"total_value": total, "daily_change": change, "status": "ok", "errors": []}
    msg = one(seal(builders.portfolio_update_body(pid, name, valuation), seq))
    assert isinstance(msg, m.PortfolioUpdate)
    assert (msg.portfolio_id, msg.name, msg.total_value, msg.daily_change) == (
        pid,
        name,
        total,
        change,
    )
    assert msg.seq == seq
    gone = one(seal(builders.portfolio_deleted_body(pid), seq))
    assert isinstance(gone, m.ServerError) and gone.code == "portfolio_not_found"
    assert gone.data["portfolio_id"] == pid and gone.seq == seq
