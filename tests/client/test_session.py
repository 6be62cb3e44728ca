"""The client's sans-I/O session: frames in, requests and events out, no socket.

Every request the session builds is read back with the server's own parser
(``protocol.parse_request``), and the frames fed to it are encoded with ``protocol`` in
the shapes docs/protocol.md and docs/scaling.md show, so these tests also pin the wire
form on both sides.
"""

import pytest

from tickwire.client import (
    AlertFired,
    AssetUpdate,
    ConnectionFailed,
    Gap,
    PortfolioUpdate,
    RawFeed,
    RequestError,
    Resync,
    ServerError,
    StreamPosition,
    TickwireError,
)
from tickwire.client.raw import RawSession
from tickwire.client.session import Session
from tickwire.stream import builders
from tickwire.stream import protocol as p


def subscribed(rid, streams, *, recovered=None):
    """A ``subscribed`` reply; ``streams`` maps symbol → (seq, epoch)."""
    data = {
        s: {"seq": seq, "epoch": epoch} | ({} if recovered is None else {"recovered": recovered})
        for s, (seq, epoch) in streams.items()
    }
    return p.encode("subscribed", {"symbols": list(streams), "streams": data}, id=rid)


def resync(channel, seq, epoch, reason):
    """A ``resync`` as docs/scaling.md shows it: ``symbol`` or ``portfolio_id`` names the
    stream, and ``recovered`` is always false."""
    kind, _, key = channel.partition(".")
    named = {"symbol": key} if kind == "asset" else {"portfolio_id": int(key)}
    data = {"channel": channel, **named, "seq": seq, "epoch": epoch, "recovered": False,
            "reason": reason}  # fmt: skip
    return p.encode("resync", data)


def error(rid, code, message):
    return p.encode("error", {"code": code, "message": message}, id=rid)


def update(symbol, seq, price=100.0):
    return p.seal(p.encode_body("asset_update", {"symbol": symbol, "price": price}), seq)


def portfolio_update(pid, seq, value):
    data = {"portfolio_id": pid, "name": "Growth", "total_value": value}
    return p.seal(p.encode_body("portfolio_update", data), seq)


def feed(session, *frames):
    """Feed frames; return the events they made."""
    return [e for f in frames for m in session.parse(f) for e in session.receive(m)]


def sent(session):
    """The requests the session wants sent now, as the server would read them."""
    return [p.parse_request(o.text) for o in session.subscriptions()]


def seqs(events):
    return [e.seq for e in events if isinstance(e, AssetUpdate)]


def subscribed_session(*symbols, seq=5, epoch="e1"):
    """A session subscribed to ``symbols`` whose snapshots (``seq``) were delivered."""
    session = Session()
    session.want_symbols(list(symbols))
    session.connected()
    (request,) = sent(session)
    feed(session, subscribed(request.id, {s: (seq, epoch) for s in symbols}))
    feed(session, *(update(s, seq) for s in symbols))
    return session


def reconnect(session):
    session.disconnected()
    session.connected()
    return sent(session)


def test_initial_subscribe_asks_once_without_a_resume_point():
    session = Session()
    session.want_symbols(session.normalize(("aapl", "BTC-USD", "AAPL")))
    session.connected()
    (request,) = sent(session)
    assert isinstance(request, p.SubscribeAssets)
    assert request.symbols == ("AAPL", "BTC-USD")
    assert request.since == {} and request.epoch is None
    assert sent(session) == []  # asked for already on this connection
    assert not session.settled(["AAPL", "BTC-USD"])

    events = feed(session, subscribed(request.id, {"AAPL": (41, "e1"), "BTC-USD": (7, "e1")}))
    assert events == []
    assert session.settled(["AAPL", "BTC-USD"])
    assert session.subscribe_result(["AAPL"]) == {"AAPL": StreamPosition(41, "e1")}
    # The snapshot that follows has the reply's seq and is delivered.
    assert seqs(feed(session, update("AAPL", 41), update("BTC-USD", 7))) == [41, 7]
    assert session.position("aapl") == StreamPosition(41, "e1")


def test_malformed_symbols_are_refused_before_anything_is_sent():
    with pytest.raises(ValueError, match="not a valid symbol"):
        Session().normalize(("AAPL", "no spaces"))
    with pytest.raises(ValueError, match="at least one"):
        Session().normalize(())


def test_after_a_reconnect_each_symbol_resumes_from_its_last_seq_and_epoch():
    session = subscribed_session("AAPL", "MSFT")
    feed(session, update("AAPL", 6), update("AAPL", 7), update("MSFT", 6))
    (request,) = reconnect(session)
    assert request.symbols == ("AAPL", "MSFT")
    assert request.since == {"AAPL": 7, "MSFT": 6} and request.epoch == "e1"


def test_streams_in_different_epochs_resume_in_separate_requests():
    session = Session()
    session.want_symbols(["AAPL", "MSFT"])
    session.connected()
    (request,) = sent(session)
    feed(session, subscribed(request.id, {"AAPL": (3, "e1"), "MSFT": (9, "e2")}))
    feed(session, update("AAPL", 3), update("MSFT", 9))
    requests = reconnect(session)
    assert [(r.symbols, r.since, r.epoch) for r in requests] == [
        (("AAPL",), {"AAPL": 3}, "e1"),
        (("MSFT",), {"MSFT": 9}, "e2"),
    ]


def test_a_symbol_with_nothing_published_yet_is_not_resumed():
    session = Session()
    session.want_symbols(["NEW"])
    session.connected()
    (request,) = sent(session)
    feed(session, subscribed(request.id, {"NEW": (0, "e1")}))  # no snapshot arrived
    (again,) = reconnect(session)
    assert again.since == {} and again.epoch is None


def test_a_recovered_resume_replays_without_a_gap():
    session = subscribed_session("AAPL")
    (request,) = reconnect(session)
    events = feed(
        session,
        subscribed(request.id, {"AAPL": (8, "e1")}, recovered=True),
        update("AAPL", 6),
        update("AAPL", 7),
        update("AAPL", 8),
    )
    assert seqs(events) == [6, 7, 8] and not any(isinstance(e, Gap) for e in events)
    assert (session.recovered, session.gaps, session.conflated) == (1, 0, 0)


def test_an_unrecovered_resume_is_a_gap_and_the_fresh_snapshot_follows():
    session = subscribed_session("AAPL")
    (request,) = reconnect(session)
    events = feed(
        session,
        subscribed(request.id, {"AAPL": (3, "e2")}, recovered=False),
        update("AAPL", 3),
        update("AAPL", 4),
    )
    assert events[0] == Gap("AAPL", 5, "e1", 3, "e2")
    assert events[0].reason.startswith("the server's stream was reset")
    assert seqs(events) == [3, 4]
    assert session.gaps == 1 and session.position("AAPL") == StreamPosition(4, "e2")


def test_a_history_too_short_in_the_same_epoch_is_a_gap_too():
    session = subscribed_session("AAPL")
    (request,) = reconnect(session)
    events = feed(session, subscribed(request.id, {"AAPL": (2000, "e1")}, recovered=False))
    assert events == [Gap("AAPL", 5, "e1", 2000, "e1")]
    assert events[0].reason == "the server's history no longer holds the missed updates"


def test_duplicates_are_dropped_and_counted():
    session = subscribed_session("AAPL")
    events = feed(session, update("AAPL", 6), update("AAPL", 6), update("AAPL", 4))
    assert seqs(events) == [6] and session.duplicates == 2


def test_a_seq_that_skips_ahead_live_is_conflation_not_a_gap():
    session = subscribed_session("AAPL")
    events = feed(session, update("AAPL", 9), update("AAPL", 10))
    assert seqs(events) == [9, 10]
    assert session.conflated == 3 and session.gaps == 0
    assert not any(isinstance(e, Gap) for e in events)


def test_updates_of_symbols_not_subscribed_are_dropped():
    session = subscribed_session("AAPL", "MSFT")
    assert session.drop_symbols(["MSFT", "TSLA"]) == ["MSFT"]
    assert seqs(feed(session, update("MSFT", 6), update("TSLA", 1), update("AAPL", 6))) == [6]
    assert session.symbols == ("AAPL",) and session.position("MSFT") is None


def test_a_resync_is_a_gap_and_the_new_epoch_restarting_at_1_keeps_delivering():
    session = subscribed_session("AAPL")
    feed(session, update("AAPL", 6), update("AAPL", 7))
    notice = resync("asset.AAPL", 1, "e2", "epoch_changed")
    events = feed(session, notice, update("AAPL", 1), update("AAPL", 2), update("AAPL", 3))
    assert isinstance(events[0], Resync) and events[0].epoch == "e2"
    assert events[1] == Gap("AAPL", 7, "e1", 1, "e2")
    assert seqs(events) == [1, 2, 3]
    assert (session.gaps, session.duplicates, session.conflated) == (1, 0, 0)
    assert session.position("AAPL") == StreamPosition(3, "e2")
    # The next resume names the new epoch, so the server can recover it.
    (request,) = reconnect(session)
    assert request.since == {"AAPL": 3} and request.epoch == "e2"


def test_a_resync_without_a_snapshot_goes_on_at_seq_1():
    session = subscribed_session("AAPL")
    events = feed(session, resync("asset.AAPL", 0, "e2", "epoch_changed"))
    assert events[1] == Gap("AAPL", 5, "e1", 0, "e2")
    assert seqs(feed(session, update("AAPL", 1))) == [1]
    assert session.conflated == 0 and session.position("AAPL") == StreamPosition(1, "e2")


def test_a_resync_to_a_newer_snapshot_counts_the_skip_as_conflation():
    session = subscribed_session("AAPL")
    feed(session, resync("asset.AAPL", 4, "e2", "history_lost"))
    # The client read slowly: the snapshot at 4 was conflated into 6.
    assert seqs(feed(session, update("AAPL", 6))) == [6]
    assert session.conflated == 2 and session.gaps == 1


def test_a_resync_of_a_stream_not_subscribed_changes_nothing():
    session = subscribed_session("AAPL")
    events = feed(session, resync("asset.MSFT", 1, "e2", "epoch_changed"))
    assert [type(e) for e in events] == [Resync] and session.gaps == 0
    assert session.position("AAPL") == StreamPosition(5, "e1")


def test_portfolio_streams_subscribe_deliver_and_come_back_after_a_reconnect():
    session = Session()
    session.want_portfolio(123)
    session.connected()
    (request,) = sent(session)
    assert isinstance(request, p.SubscribePortfolio) and request.portfolio_id == 123
    assert not session.settled([123])
    feed(session, p.encode("subscribed", {"portfolio_id": 123, "seq": 4, "epoch": "e1"},
                           id=request.id))  # fmt: skip
    assert session.settled([123])
    events = feed(session, portfolio_update(123, 4, 50000.0), portfolio_update(7, 1, 1.0))
    assert [e.total_value for e in events if isinstance(e, PortfolioUpdate)] == [50000.0]
    # Whole states: the portfolio is subscribed again, with no resume point.
    (again,) = reconnect(session)
    assert isinstance(again, p.SubscribePortfolio) and again.portfolio_id == 123
    # A resync of a portfolio channel is passed on; its snapshot follows.
    notice = resync("portfolio.123", 9, "e2", "epoch_changed")
    events = feed(session, notice, portfolio_update(123, 1, 50001.0))
    assert isinstance(events[0], Resync) and events[0].portfolio_id == 123
    assert [e.total_value for e in events if isinstance(e, PortfolioUpdate)] == [50001.0]


def test_unsubscribing_a_portfolio_is_an_awaited_request():
    session = Session()
    session.want_portfolio(123)
    assert session.drop_portfolio(7) == []
    (outgoing,) = session.drop_portfolio(123)
    request = p.parse_request(outgoing.text)
    assert isinstance(request, p.UnsubscribePortfolio) and request.id == outgoing.awaited
    feed(session, p.encode("unsubscribed", {"portfolio_id": 123}, id=request.id))
    (answer,) = session.answers()
    assert answer.id == request.id and answer.reply.type == "unsubscribed"
    assert session.portfolios == ()


def test_a_pending_request_is_answered_once_its_reply_arrives():
    session = subscribed_session("AAPL", "MSFT")
    session.drop_symbols(["MSFT"])
    (outgoing,) = session.unsubscribe(["MSFT"])
    request = p.parse_request(outgoing.text)
    assert isinstance(request, p.UnsubscribeAssets) and request.symbols == ("MSFT",)
    assert session.answers() == []
    feed(session, p.encode("unsubscribed", {"symbols": ["MSFT"]}, id=request.id))
    (answer,) = session.answers()
    assert (answer.id, answer.error) == (outgoing.awaited, None)
    assert session.answers() == []


def test_a_refused_request_is_answered_with_its_error():
    session = subscribed_session("AAPL")
    session.drop_symbols(["AAPL"])
    (outgoing,) = session.unsubscribe(["AAPL"])
    refusal = error(outgoing.awaited, "rate_limited", "slow down")
    assert feed(session, refusal) == []  # raised where it is awaited, not queued
    (answer,) = session.answers()
    assert isinstance(answer.error, RequestError) and answer.error.code == "rate_limited"


def test_pending_requests_fail_when_the_connection_is_lost():
    session = subscribed_session("AAPL", "MSFT")
    session.drop_symbols(["MSFT"])
    (outgoing,) = session.unsubscribe(["MSFT"])
    session.disconnected()
    (answer,) = session.answers()
    assert answer.id == outgoing.awaited and isinstance(answer.error, ConnectionFailed)
    # Its late reply on no connection answers nothing.
    feed(session, p.encode("unsubscribed", {"symbols": ["MSFT"]}, id=outgoing.awaited))
    assert session.answers() == []


def test_refused_symbols_are_dropped_and_raised_where_a_caller_waits():
    session = Session()
    session.want_symbols(["AAPL", "NOPE"])
    session.connected()
    (request,) = sent(session)
    session.wait_on(["AAPL", "NOPE"])
    feed(session, subscribed(request.id, {"AAPL": (1, "e1")}))
    assert not session.settled(["AAPL", "NOPE"])
    assert feed(session, error(request.id, "unknown_symbol", "unknown symbol: NOPE")) == []
    assert session.settled(["AAPL", "NOPE"]) and session.symbols == ("AAPL",)
    with pytest.raises(RequestError, match=r"unknown symbol: NOPE \(refused: NOPE\)"):
        session.subscribe_result(["AAPL", "NOPE"])
    assert session.subscribe_result(["AAPL"]) == {"AAPL": StreamPosition(1, "e1")}


def test_a_refusal_nobody_waits_for_is_an_event():
    session = subscribed_session("AAPL", "GONE")
    (request,) = reconnect(session)  # e.g. the symbol was removed while we were away
    feed(session, subscribed(request.id, {"AAPL": (5, "e1")}, recovered=True))
    (event,) = feed(session, error(request.id, "unknown_symbol", "unknown symbol: GONE"))
    assert isinstance(event, ServerError) and event.code == "unknown_symbol"
    assert session.symbols == ("AAPL",)


def test_frames_that_cannot_be_read_are_counted_and_skipped():
    session = subscribed_session("AAPL")
    bad = b'{"type": "asset_update", "data": {"symbol": "AAPL", "price": "x"}}'
    assert feed(session, b"not json", bad) == []
    assert session.malformed == 2


def test_a_batched_frame_is_read_in_order():
    session = subscribed_session("AAPL")
    batch = b"[" + update("AAPL", 6) + b"," + update("AAPL", 7) + b"]"
    assert seqs(feed(session, batch)) == [6, 7]


def test_replies_only_answer_and_unknown_types_are_passed_on():
    session = subscribed_session("AAPL")
    assert feed(session, p.encode("pong", {}), p.encode("configured", {"batch": True})) == []
    (event,) = feed(session, p.encode("news", {"text": "hello"}))
    assert event.type == "news" and event.data == {"text": "hello"}


def test_a_raw_session_sends_the_feed_s_own_frames_and_passes_every_message():
    feed_spec = RawFeed(subscribe='{"op": "sub", "args": "{symbols}"}',
                        unsubscribe='{"op": "unsub", "s": "{symbol}"}',
                        price_paths=("p",))  # fmt: skip
    session = RawSession(feed_spec)
    session.want_symbols(session.normalize(("btcusdt", "ethusdt")))
    session.connected()
    assert [o.text for o in session.subscriptions()] == [
        '{"op": "sub", "args": ["btcusdt", "ethusdt"]}'
    ]
    assert session.subscriptions() == []
    assert session.settled(["btcusdt"])  # such a feed confirms nothing
    assert session.subscribe_result(["btcusdt"]) == {"btcusdt": StreamPosition(0, "")}
    session.drop_symbols(["ethusdt"])
    assert [o.text for o in session.unsubscribe(["ethusdt"])] == ['{"op": "unsub", "s": "ethusdt"}']
    # One symbol left: messages that name none are about it.
    (tick, other) = feed(session, b'[{"p": "101.5"}, {"event": "heartbeat"}]')
    assert isinstance(tick, AssetUpdate) and (tick.symbol, tick.price, tick.seq) == (
        "btcusdt", 101.5, None)  # fmt: skip
    assert other.data == {"event": "heartbeat"}
    # A new connection sends the subscription again.
    session.disconnected()
    session.connected()
    assert [o.text for o in session.subscriptions()] == ['{"op": "sub", "args": ["btcusdt"]}']
    with pytest.raises(TickwireError, match="portfolios are a Tickwire feature"):
        session.want_portfolio(1)


def alert_frame(event_id="6f1c2a9e-2b7a-4d7e-9a51-0c3f8d2b7e11", rule_id=7):
    """An ``alert`` as the server builds it (``builders.alert``): no seq, no channel."""
    return builders.alert({
        "event_id": event_id, "rule_id": rule_id, "name": "AAPL over 200",
        "target": {"asset": "AAPL"}, "condition": "above", "kind": "above", "value": "200.5",
        "measure": "200.5", "level": "200", "message": "AAPL at 200.5 is above 200",
        "fired_at": "2026-11-30T08:00:00.250Z",
    })  # fmt: skip


def test_an_alert_is_an_alert_fired_event_without_any_subscription():
    session = Session()
    [event] = feed(session, alert_frame())
    assert isinstance(event, AlertFired)
    assert (event.event_id, event.rule_id) == ("6f1c2a9e-2b7a-4d7e-9a51-0c3f8d2b7e11", 7)
    assert event.message == "AAPL at 200.5 is above 200"
    assert (event.alert.value, event.alert.level, event.alert.target) == (
        "200.5",
        "200",
        {"asset": "AAPL"},
    )
    # Outside every stream: no seq kept, nothing to resume.
    assert session.position("AAPL") is None and sent(session) == []
    # A second push of the same event (another node, say) is passed on: event_id tells.
    [again] = feed(session, alert_frame())
    assert again.event_id == event.event_id


def test_an_internal_error_answering_a_resume_keeps_the_stream_and_asks_again():
    # A node back from a restart may fail a resubscription under load ("internal_error:
    # the request had no effect"): unlike unknown_symbol, that is no reason to stop
    # following the symbol.
    session = subscribed_session("AAPL")
    (request,) = reconnect(session)
    (event,) = feed(session, error(request.id, "internal_error", "internal error"))
    assert isinstance(event, ServerError) and event.code == "internal_error"
    assert session.symbols == ("AAPL",) and session.retry_due
    (again,) = sent(session)
    assert again.symbols == ("AAPL",) and again.since == {"AAPL": 5} and again.epoch == "e1"
    assert not session.retry_due
    feed(session, subscribed(again.id, {"AAPL": (7, "e1")}, recovered=True))
    assert seqs(feed(session, update("AAPL", 6), update("AAPL", 7))) == [6, 7]
