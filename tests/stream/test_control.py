"""Control channels: names, the publisher registry services publish through, the frame sink."""

from __future__ import annotations

import logging

import orjson
import pytest

from tickwire.stream import control
from tickwire.stream.protocol import seal


class Recorder:
    """A publisher that keeps what it is given (sealed as a broker would); ``accepts=False``
    declines everything."""

    def __init__(self, accepts: bool = True) -> None:
        self.accepts = accepts
        self.sent: list[tuple[str, dict[str, object]]] = []

    def __call__(self, channel: str, body: bytes) -> bool:
        if self.accepts:
            self.sent.append((channel, orjson.loads(seal(body, 1))))
        return self.accepts


@pytest.fixture
def bind():
    """bind_publisher, with everything bound by the test unbound after it."""
    unbinds = []

    def bind(publisher):
        unbinds.append(control.bind_publisher(publisher))
        return unbinds[-1]

    yield bind
    for unbind in unbinds:
        unbind()


def test_a_publication_is_a_wire_frame_on_the_named_channel(bind):
    rec = Recorder()
    bind(rec)
    control.publish(
        control.portfolio_control_channel(7),
        control.PORTFOLIO_CONTROL,
        {"portfolio_id": 7, "event": control.PORTFOLIO_CHANGED},
    )
    [(channel, frame)] = rec.sent
    assert channel == "control.portfolio.7"
    assert frame["type"] == "portfolio_control"
    assert frame["data"] == {"portfolio_id": 7, "event": "changed"}
    assert str(frame["timestamp"]).endswith("Z")


def test_the_publisher_bound_last_sends_and_unbinding_it_restores_the_one_before(bind):
    first, second = Recorder(), Recorder()
    bind(first)
    unbind_second = bind(second)
    control.publish(control.user_control_channel(1), control.USER_CONTROL, {"n": 1})
    unbind_second()
    control.publish(control.user_control_channel(1), control.USER_CONTROL, {"n": 2})
    assert [f["data"] for _, f in second.sent] == [{"n": 1}]
    assert [f["data"] for _, f in first.sent] == [{"n": 2}]


def test_unbinding_an_earlier_publisher_leaves_the_latest_in_place(bind):
    first, second = Recorder(), Recorder()
    unbind_first = bind(first)
    bind(second)
    unbind_first()
    unbind_first()  # twice is harmless
    control.publish("control.user.1", control.USER_CONTROL, {})
    assert len(second.sent) == 1 and first.sent == []


def test_a_publisher_that_declines_hands_the_message_to_the_one_bound_before(bind):
    fallback, stopped = Recorder(), Recorder(accepts=False)
    bind(fallback)
    bind(stopped)
    control.publish("control.user.3", control.USER_CONTROL, {"event": "x"})
    assert [c for c, _ in fallback.sent] == ["control.user.3"]


def test_a_failing_publisher_is_logged_and_never_raises(bind, caplog):
    fallback = Recorder()

    def broken(channel: str, body: bytes) -> bool:
        raise ConnectionError("broker down")

    bind(fallback)
    bind(broken)
    with caplog.at_level(logging.ERROR, logger="tickwire.stream.control"):
        control.publish("control.portfolio.2", control.PORTFOLIO_CONTROL, {})
    assert "publishing control message on control.portfolio.2 failed" in caplog.text
    assert "broker down" in caplog.text
    # The database change behind the message is committed; nothing is sent twice.
    assert fallback.sent == []


def test_credential_refs_name_a_secret_without_revealing_it():
    ref = control.credential_ref("session", "s3cr3t-session-key")
    assert ref.startswith("session:") and "s3cr3t" not in ref
    assert ref == control.credential_ref("session", "s3cr3t-session-key")
    assert ref != control.credential_ref("session", "another-key")
    assert ref != control.credential_ref("token", "s3cr3t-session-key")


def test_a_frame_sink_hands_frames_over_at_once_and_survives_a_failing_callback(caplog):
    seen: list[bytes] = []

    def on_frame(frame: bytes) -> None:
        if frame == b"bad":
            raise ValueError("cannot parse")
        seen.append(frame)

    sink = control.FrameSink(on_frame)
    with caplog.at_level(logging.ERROR, logger="tickwire.stream.control"):
        assert sink.push(b"one", "asset.A")
        assert sink.push(b"bad", "asset.A")
        assert sink.push(b"two", "asset.A")
    assert seen == [b"one", b"two"]  # nothing queued, nothing conflated
    assert sink.take() == []
    assert "an internal subscriber failed on a frame" in caplog.text
    sink.close()
    assert sink.push(b"three") is False and seen == [b"one", b"two"]
