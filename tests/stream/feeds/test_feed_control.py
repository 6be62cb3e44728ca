"""Forced updates: the control message, and what each kind of source does with it."""

from __future__ import annotations

import orjson
import pytest

from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.feeds import (
    FeedService,
    Instrument,
    SimulatorSource,
    control_message,
)
from tickwire.stream.feeds.service import parse_control
from tickwire.stream.feeds.websocket import GenericWebSocketSource
from tickwire.stream.protocol import seal

from .fakes import eventually

INSTRUMENTS = [Instrument("AAPL", 100.0, 99.0), Instrument("MSFT", 50.0, 49.0)]


async def _broker():
    broker = MemoryBroker()
    got = []
    await broker.start(got.append)
    for sym in ("AAPL", "MSFT"):
        await broker.subscribe(f"asset.{sym}")
    return broker, got


def test_control_message_round_trip_and_bad_frames():
    assert parse_control(seal(control_message(["AAPL"]), 7)) == ["AAPL"]
    for bad in (
        b"nope",
        b'{"type":"x","data":{}}',
        b'{"type":"force_price_update","data":{"symbols":[1]}}',
    ):
        with pytest.raises(ValueError):
            parse_control(bad)


async def test_simulator_steps_just_the_forced_symbols():
    broker, got = await _broker()
    feed = FeedService(broker, SimulatorSource(INSTRUMENTS, seed=1), INSTRUMENTS)
    assert await feed.force_update(["MSFT", "NOPE"]) == 1
    (pub,) = got
    assert pub.channel == "asset.MSFT"
    assert orjson.loads(pub.frame)["data"]["price"] != 50.0  # a new step, not a repeat


async def test_streaming_source_republishes_the_latest_quote():
    broker, got = await _broker()
    source = GenericWebSocketSource(INSTRUMENTS, url="ws://127.0.0.1:9/")
    feed = FeedService(broker, source, INSTRUMENTS)
    assert await feed.force_update(["AAPL", "MSFT"]) == 2
    frames = [orjson.loads(p.frame) for p in got]
    assert [(f["data"]["symbol"], f["data"]["price"], f["seq"]) for f in frames] == [
        ("AAPL", 100.0, 1),
        ("MSFT", 50.0, 1),
    ]


async def test_handle_control_runs_the_update_and_ignores_garbage():
    broker, got = await _broker()
    feed = FeedService(broker, SimulatorSource(INSTRUMENTS, seed=1), INSTRUMENTS)
    feed.handle_control(b"garbage")
    assert feed.control_errors == 1
    feed.handle_control(seal(control_message(["AAPL"]), 1))
    await eventually(lambda: len(got) == 1, "the forced update")
    assert got[0].channel == "asset.AAPL" and feed.status()["forced_updates"] == 1
