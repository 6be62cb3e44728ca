"""One-off quotes: the apply_quotes message, its validation, and the feed applying it."""

from __future__ import annotations

import orjson
import pytest

from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.feeds import FeedService, Instrument, SimulatorSource, control_message
from tickwire.stream.feeds.quote_requests import (
    ControlMessageError,
    QuoteUpdate,
    apply_quotes_message,
    parse_ack,
    parse_apply_quotes,
    reply_channel,
)
from tickwire.stream.protocol import seal

from .fakes import eventually

INSTRUMENTS = [Instrument("AAPL", 100.0, 99.0), Instrument("MSFT", 50.0, 49.0)]


def frame(data: object) -> bytes:
    return orjson.dumps({"type": "apply_quotes", "data": data})


def test_request_round_trip():
    quotes = [QuoteUpdate("MSFT", 505.92, 3.0, 1200.0, 1764470000.5), QuoteUpdate("AAPL", 1)]
    body = apply_quotes_message("req-1", quotes)
    parsed = parse_apply_quotes(seal(body, 9))
    assert parsed.request_id == "req-1"
    assert list(parsed.quotes) == [
        QuoteUpdate("MSFT", 505.92, 3.0, 1200.0, 1764470000.5),
        QuoteUpdate("AAPL", 1.0, 0.0, None, 0.0),
    ]


@pytest.mark.parametrize(
    ("data", "message", "has_id"),
    [
        ({"quotes": [{"symbol": "A", "price": 1}]}, "data.request_id", False),
        ({"request_id": "a b", "quotes": []}, "data.request_id", False),
        ({"request_id": "r", "quotes": []}, "data.quotes, a non-empty list", True),
        ({"request_id": "r", "quotes": "MSFT"}, "data.quotes, a non-empty list", True),
        ({"request_id": "r", "quotes": [1]}, r"quotes\[0\] must be an object", True),
        (
            {"request_id": "r", "quotes": [{"symbol": "msft", "price": 1}]},
            r"quotes\[0\].symbol",
            True,
        ),
        ({"request_id": "r", "quotes": [{"symbol": "A"}]}, r"quotes\[0\].price is required", True),
        (
            {
                "request_id": "r",
                "quotes": [{"symbol": "A", "price": 1}, {"symbol": "B", "price": 0}],
            },
            r"quotes\[1\].price must be greater than 0",
            True,
        ),
        ({"request_id": "r", "quotes": [{"symbol": "A", "price": "1"}]}, "must be a number", True),
        ({"request_id": "r", "quotes": [{"symbol": "A", "price": True}]}, "must be a number", True),
        (
            {"request_id": "r", "quotes": [{"symbol": "A", "price": 1, "volume": -1}]},
            r"quotes\[0\].volume must not be negative",
            True,
        ),
        (
            {"request_id": "r", "quotes": [{"symbol": "A", "price": 1, "colour": "red"}]},
            "unknown field 'colour'",
            True,
        ),
    ],
)
def test_bad_requests_name_the_field(data, message, has_id):
    with pytest.raises(ControlMessageError, match=message) as info:
        parse_apply_quotes(frame(data))
    assert (info.value.request_id == "r") is has_id


def test_non_finite_numbers_are_refused_before_sending():
    with pytest.raises(ControlMessageError, match=r"quotes\[0\].price must be finite"):
        apply_quotes_message("r", [QuoteUpdate("A", float("inf"))])
    with pytest.raises(ControlMessageError, match="not JSON"):
        parse_apply_quotes(b"{nope")
    with pytest.raises(ControlMessageError, match="not an apply_quotes message"):
        parse_apply_quotes(seal(control_message(["A"]), 1))


async def _feed(on_persist=None):
    broker = MemoryBroker()
    got = []
    await broker.start(got.append)
    for channel in ("asset.AAPL", "asset.MSFT", reply_channel("req-1")):
        await broker.subscribe(channel)
    feed = FeedService(
        broker, SimulatorSource(INSTRUMENTS, seed=1), INSTRUMENTS, on_persist=on_persist
    )
    return feed, got


async def test_feed_applies_quotes_in_order_publishes_persists_and_acknowledges():
    persisted = []

    async def on_persist(quotes):
        persisted.append([(q.symbol, q.price, q.high, q.volume) for q in quotes])

    feed, got = await _feed(on_persist)
    await feed.publish([SimulatorSource(INSTRUMENTS, seed=2).step(1.0)[0]])  # seq 1 on AAPL
    got.clear()
    persisted.clear()
    body = apply_quotes_message(
        "req-1",
        [
            QuoteUpdate("AAPL", 120.0, 5.0, None, 0.0),
            QuoteUpdate("NOPE", 1.0),
            QuoteUpdate("AAPL", 110.0, 2.0, 900.0, 0.0),
            QuoteUpdate("MSFT", 55.5, 0.0, None, 0.0),
        ],
    )
    feed.handle_control(seal(body, 1))
    await eventually(lambda: any(p.channel == reply_channel("req-1") for p in got), "the ack")
    updates = [orjson.loads(p.frame) for p in got if p.channel.startswith("asset.")]
    assert [(u["data"]["symbol"], u["data"]["price"], u["seq"]) for u in updates] == [
        ("AAPL", 120.0, 2),
        ("AAPL", 110.0, 3),
        ("MSFT", 55.5, 1),
    ]
    # Folded into the day like any tick: the high stays 120, the day volume is the given one.
    assert updates[1]["data"]["high"] == 120.0 and updates[1]["data"]["volume"] == 900
    assert persisted == [[("AAPL", 110.0, 120.0, 900.0), ("MSFT", 55.5, 55.5, 0.0)]]
    ack = parse_ack(next(p.frame for p in got if p.channel == reply_channel("req-1")))
    assert ack.request_id == "req-1" and ack.error is None and ack.persisted
    assert [(a["symbol"], a["price"], a["seq"]) for a in ack.applied] == [
        ("AAPL", 120.0, 2),
        ("AAPL", 110.0, 3),
        ("MSFT", 55.5, 1),
    ]
    assert [(r.symbol, r.reason) for r in ack.rejected] == [
        ("NOPE", "not a symbol this feed quotes")
    ]
    status = feed.status()
    assert status["quote_requests"] == 1 and status["applied_quotes"] == 3
    assert feed.quotes["AAPL"].price == 110.0 and not feed.quotes["AAPL"].dirty


async def test_a_failed_write_is_acknowledged_as_not_persisted_and_retried():
    async def failing(quotes):
        raise OSError("database is down")

    feed, _ = await _feed(failing)
    ack = await feed.apply_quotes(
        parse_apply_quotes(seal(apply_quotes_message("req-1", [QuoteUpdate("MSFT", 60.0)]), 1))
    )
    assert ack.applied and not ack.persisted
    assert feed.quotes["MSFT"].dirty and feed.persist_failures == 1


async def test_bad_frames_are_counted_and_answered_when_they_carry_a_request_id():
    feed, got = await _feed()
    feed.handle_control(b"[1, 2]")
    feed.handle_control(frame({"request_id": "req-1", "quotes": [{"symbol": "AAPL"}]}))
    await eventually(lambda: any(p.channel == reply_channel("req-1") for p in got), "the ack")
    assert feed.control_errors == 2 and feed.status()["control_errors"] == 2
    ack = parse_ack(got[-1].frame)
    assert ack.error is not None and "quotes[0].price is required" in ack.error
    assert not ack.applied and not [p for p in got if p.channel.startswith("asset.")]
    # execute_control (the local socket's path) answers the same way, and never raises.
    reply = await feed.execute_control(b"garbage")
    assert reply is None and feed.control_errors == 3
    reply = await feed.execute_control(frame({"request_id": "x", "quotes": [7]}))
    assert reply is not None and parse_ack(reply + b"}").error is not None


async def test_an_expired_request_is_refused_unapplied():
    feed, got = await _feed()
    body = apply_quotes_message("req-1", [QuoteUpdate("MSFT", 60.0)], expires_at=1.0)
    ack = await feed.apply_quotes(parse_apply_quotes(seal(body, 1)))
    assert ack.error is not None and "expired" in ack.error and not ack.applied
    assert feed.quotes["MSFT"].price == 50.0 and not got
    with pytest.raises(ControlMessageError, match=r"data\.expires_at must be greater than 0"):
        parse_apply_quotes(
            frame({"request_id": "r", "expires_at": -1, "quotes": [{"symbol": "A", "price": 1}]})
        )
    with pytest.raises(ControlMessageError, match="unknown field 'reply_to'"):
        parse_apply_quotes(
            frame({"request_id": "r", "reply_to": "x", "quotes": [{"symbol": "A", "price": 1}]})
        )


async def test_a_quote_older_than_the_feeds_latest_is_rejected_never_published():
    feed, got = await _feed()
    latest = feed.quotes["MSFT"].ts
    body = apply_quotes_message(
        "req-1", [QuoteUpdate("MSFT", 60.0, 0.0, None, latest - 60), QuoteUpdate("AAPL", 101.0)]
    )
    ack = await feed.apply_quotes(parse_apply_quotes(seal(body, 1)))
    assert [a["symbol"] for a in ack.applied] == ["AAPL"]
    (rejection,) = ack.rejected
    assert rejection.symbol == "MSFT" and "before the feed's latest quote of it" in rejection.reason
    assert feed.quotes["MSFT"].price == 50.0
    assert [orjson.loads(p.frame)["data"]["symbol"] for p in got] == ["AAPL"]


async def test_the_simulator_walks_on_from_a_one_off_price():
    source = SimulatorSource(INSTRUMENTS, seed=4)
    broker = MemoryBroker()
    await broker.start(lambda pub: None)
    feed = FeedService(broker, source, INSTRUMENTS)
    await feed.apply_quotes(
        parse_apply_quotes(seal(apply_quotes_message("r", [QuoteUpdate("MSFT", 500.0)]), 1))
    )
    (tick,) = source.step(symbols={"MSFT"})
    # One step of the walk from 500, not from the 50 the simulation had.
    assert 450.0 < tick.price < 550.0
    await broker.close()
