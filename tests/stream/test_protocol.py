"""Protocol parsing and framing: no sockets, no Django."""

import re

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwire.stream import builders
from tickwire.stream import protocol as p
from tickwire.stream.protocol import ErrorCode, ProtocolError, parse_request


def err(raw: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_request(raw)
    return info.value


def test_public_api_is_pinned():
    assert set(p.__all__) >= {"parse_request", "ErrorCode", "CloseCode", "encode", "seal"}
    for name in p.__all__:
        assert hasattr(p, name), name


def test_ping_with_and_without_data():
    assert isinstance(parse_request('{"type": "ping", "data": {}}'), p.Ping)
    assert isinstance(parse_request('{"type": "ping"}'), p.Ping)


def test_seed_subscribe_asset_is_parsed_and_upper_cased():
    req = parse_request('{"type":"subscribe_asset","data":{"symbol":"aapl"},"timestamp":"x"}')
    assert req == p.SubscribeAssets(None, ("AAPL",), {}, None)


def test_short_form_subscribe_is_subscribe_asset():
    req = parse_request('{"type": "subscribe", "symbol": "BTC-USD"}')
    assert isinstance(req, p.SubscribeAssets) and req.symbols == ("BTC-USD",)
    # seed 000 sends extra fields in the short form; they are ignored
    req = parse_request('{"type":"subscribe","symbol":"EUR-USD","price":150.0}')
    assert req.symbols == ("EUR-USD",)


def test_symbol_list_deduplicates_in_order_and_merges_symbol():
    req = parse_request(
        '{"type":"subscribe_asset","data":{"symbol":"MSFT","symbols":["aapl","MSFT","AAPL"]}}'
    )
    assert req.symbols == ("MSFT", "AAPL")


def test_since_as_int_applies_to_every_symbol_and_as_object_per_symbol():
    req = parse_request(
        '{"type":"subscribe_asset","data":{"symbols":["A","B"],"since":7,"epoch":"e1"}}'
    )
    assert req.since == {"A": 7, "B": 7} and req.epoch == "e1"
    req = parse_request('{"type":"subscribe_asset","data":{"symbols":["A","B"],"since":{"b":3}}}')
    assert req.since == {"B": 3}


@pytest.mark.parametrize(
    "raw, code",
    [
        ("not json", ErrorCode.INVALID_JSON),
        (b"\xff\xfe", ErrorCode.INVALID_JSON),
        ("", ErrorCode.INVALID_JSON),
        ("[1,2]", ErrorCode.INVALID_MESSAGE),
        ('"ping"', ErrorCode.INVALID_MESSAGE),
        ("null", ErrorCode.INVALID_MESSAGE),
        ('{"data":{}}', ErrorCode.INVALID_MESSAGE),
        ('{"type":5}', ErrorCode.INVALID_MESSAGE),
        ('{"type":"ping","data":[]}', ErrorCode.INVALID_MESSAGE),
        ('{"type":"launch_rockets"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type":"subscribe_asset","data":{}}', ErrorCode.MISSING_FIELD),
        ('{"type":"subscribe_asset","data":{"symbol":5}}', ErrorCode.INVALID_FIELD),
        ('{"type":"subscribe_asset","data":{"symbol":""}}', ErrorCode.INVALID_FIELD),
        ('{"type":"subscribe_asset","data":{"symbol":"A B"}}', ErrorCode.INVALID_FIELD),
        (
            '{"type":"subscribe_asset","data":{"symbol":"' + "X" * 40 + '"}}',
            ErrorCode.INVALID_FIELD,
        ),
        ('{"type":"subscribe_asset","data":{"symbols":[]}}', ErrorCode.INVALID_FIELD),
        ('{"type":"subscribe_asset","data":{"symbols":"AAPL"}}', ErrorCode.INVALID_FIELD),
        ('{"type":"subscribe_asset","data":{"symbol":"A","since":-1}}', ErrorCode.INVALID_FIELD),
        ('{"type":"subscribe_asset","data":{"symbol":"A","since":true}}', ErrorCode.INVALID_FIELD),
        (
            '{"type":"subscribe_asset","data":{"symbol":"A","since":{"B":1}}}',
            ErrorCode.INVALID_FIELD,
        ),
        ('{"type":"subscribe_asset","data":{"symbol":"A","epoch":3}}', ErrorCode.INVALID_FIELD),
        ('{"type":"subscribe_portfolio","data":{}}', ErrorCode.MISSING_FIELD),
        ('{"type":"subscribe_portfolio","data":{"portfolio_id":"abc"}}', ErrorCode.INVALID_FIELD),
        ('{"type":"subscribe_portfolio","data":{"portfolio_id":0}}', ErrorCode.INVALID_FIELD),
        ('{"type":"subscribe_portfolio","data":{"portfolio_id":1.5}}', ErrorCode.INVALID_FIELD),
        ('{"type":"authenticate","data":{}}', ErrorCode.MISSING_FIELD),
        ('{"type":"authenticate","data":{"token":""}}', ErrorCode.INVALID_FIELD),
        ('{"type":"configure","data":{"batch":"yes"}}', ErrorCode.INVALID_FIELD),
    ],
)
def test_bad_input_gets_a_stable_code(raw, code):
    assert err(raw).code is code


def test_error_names_the_request_type_and_echoes_id():
    e = err('{"type":"subscribe_asset","id":"r1","data":{"symbol":7}}')
    assert e.request_type == "subscribe_asset" and e.request_id == "r1"
    assert "symbol" in e.message


def test_deeply_nested_json_is_an_error_not_a_crash():
    deep = "[" * 100_000 + "]" * 100_000
    assert err(deep).code is ErrorCode.INVALID_JSON
    deep_obj = '{"type":"ping","data":' + '{"a":' * 5000 + "1" + "}" * 5000 + "}"
    assert err(deep_obj).code is ErrorCode.INVALID_JSON


def test_unknown_type_lists_known_types():
    assert "subscribe_asset" in err('{"type":"nope"}').message


def test_portfolio_id_accepts_digit_strings():
    assert (
        parse_request('{"type":"subscribe_portfolio","data":{"portfolio_id":"12"}}').portfolio_id
        == 12
    )


@pytest.mark.parametrize("value", ["\u00b2", "\u0663", "\uff11\uff12", "1\u00b2"])
def test_portfolio_id_with_non_ascii_digits_is_an_invalid_field(value):
    # "²".isdigit() is true but int("²") raises; "٣" (Arabic-Indic three) would parse as 3.
    raw = orjson.dumps({"type": "subscribe_portfolio", "data": {"portfolio_id": value}})
    e = err(raw)
    assert e.code is ErrorCode.INVALID_FIELD and e.request_type == "subscribe_portfolio"


@pytest.mark.parametrize("symbol", ["\u017fpy", "\u0131bm", "\uff33\uff30\uff39", "A\u0301"])
def test_symbols_are_ascii_only_no_unicode_case_mapping(symbol):
    # "\u017f".upper() == "S" (long s) and "\u0131".upper() == "I" (dotless i): without
    # an ASCII check "\u017fpy" would subscribe SPY.
    for data in ({"symbol": symbol}, {"symbols": ["AAPL", symbol]}):
        raw = orjson.dumps({"type": "subscribe_asset", "data": data})
        assert err(raw).code is ErrorCode.INVALID_FIELD
    with pytest.raises(ProtocolError):
        p.normalize_symbol(symbol)


def test_encode_envelope_shape_and_timestamp():
    msg = orjson.loads(p.encode("pong", {}))
    assert msg["type"] == "pong" and msg["data"] == {}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", msg["timestamp"])


def test_body_and_seal_make_a_valid_update_with_seq():
    body = p.encode_body("asset_update", {"symbol": "AAPL", "price": 1.5}, timestamp="T")
    frame = p.seal(body, 42)
    assert orjson.loads(frame) == {
        "type": "asset_update",
        "data": {"symbol": "AAPL", "price": 1.5},
        "timestamp": "T",
        "seq": 42,
    }


def test_error_frame():
    msg = orjson.loads(
        builders.error(ErrorCode.UNKNOWN_TYPE, "bad", request_type="x", request_id=3)
    )
    assert msg["type"] == "error" and msg["id"] == 3
    assert msg["data"] == {"code": "unknown_type", "message": "bad", "request_type": "x"}


def test_timestamp_known_value():
    assert p.utc_timestamp(1705314600.123) == "2024-01-15T10:30:00.123Z"


def test_close_codes_are_distinct_and_documented_range():
    values = [c.value for c in p.CloseCode]
    assert len(values) == len(set(values))
    assert p.CloseCode.SLOW_CONSUMER == 4001


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_protocol_error(data):
    try:
        parse_request(data)
    except ProtocolError:
        pass


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**64 - 1)
        | st.floats(allow_nan=False)
        | st.text(max_size=10),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=20,
    )
)
def test_arbitrary_json_values_never_crash(value):
    for msg in (
        value,
        {"type": "subscribe_asset", "data": value},
        {"type": "subscribe", "symbol": value},
        {"type": "subscribe_portfolio", "data": {"portfolio_id": value}},
    ):
        try:
            parse_request(orjson.dumps(msg))
        except ProtocolError:
            pass
