"""Hub and outbox: fan-out, encode once, conflation, slow clients, unsubscribe, batching,
the direct path. Tests of an outbox on its own are in test_outbox.py."""

from tickwire.stream.hub import Hub, Outbox, Pacer, join_batch
from tickwire.stream.protocol import CloseCode
from tickwire.stream.wire import text_frame


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_fan_out_delivers_the_same_bytes_object_to_every_subscriber():
    hub = Hub()
    boxes = [Outbox() for _ in range(100)]
    for b in boxes:
        hub.subscribe("asset.AAPL", b)
    frame = b'{"type":"asset_update","seq":1}'
    hub.deliver("asset.AAPL", 1, frame, conflate=True)
    for b in boxes:
        taken = b.take()
        assert taken == [frame] and taken[0] is frame  # encoded once, never copied


def test_only_subscribers_of_the_channel_receive():
    hub = Hub()
    a, b = Outbox(), Outbox()
    hub.subscribe("asset.A", a)
    hub.subscribe("asset.B", b)
    hub.deliver("asset.A", 1, b"a", conflate=True)
    assert a.take() == [b"a"] and b.take() == []


def test_conflation_keeps_only_latest_per_channel_when_behind():
    hub = Hub()
    box = Outbox()
    hub.subscribe("asset.A", box)
    hub.subscribe("asset.B", box)
    box.push(b"reply")
    for seq in range(1, 6):
        hub.deliver("asset.A", seq, b"A%d" % seq, conflate=True)
    hub.deliver("asset.B", 1, b"B1", conflate=True)
    hub.deliver("asset.A", 6, b"A6", conflate=True)
    # order of first arrival is kept, content is the newest
    assert box.take() == [b"reply", b"A6", b"B1"]
    assert box.conflated == 5


def test_events_are_never_conflated():
    hub = Hub()
    box = Outbox()
    hub.subscribe("user.1", box)
    hub.deliver("user.1", 1, b"x", conflate=False)
    hub.deliver("user.1", 2, b"y", conflate=False)
    assert box.take() == [b"x", b"y"]


def test_overflowing_outbox_is_closed_as_slow_consumer_and_removed():
    hub = Hub()
    slow = Outbox(limit=10)
    fast = Outbox(limit=10)
    hub.subscribe("user.1", slow)
    hub.subscribe("user.1", fast)
    for seq in range(1, 30):
        hub.deliver("user.1", seq, b"%d" % seq, conflate=False)
        fast.take()  # the fast client keeps up
    assert slow.closed and slow.close_code == CloseCode.SLOW_CONSUMER
    assert not fast.closed
    assert hub.subscribers("user.1") == 1  # the slow one is gone, the fast one stays


def test_client_behind_for_too_long_is_closed_even_with_conflation():
    clock = Clock()
    hub = Hub()
    box = Outbox(slow_seconds=10, clock=clock)
    hub.subscribe("asset.A", box)
    hub.subscribe("asset.B", box)
    hub.deliver("asset.A", 1, b"a1", conflate=True)
    clock.now = 5
    hub.deliver("asset.A", 2, b"a2", conflate=True)  # conflated, still fine
    clock.now = 11
    hub.deliver("asset.B", 1, b"b1", conflate=True)  # a new cell while 11 s behind
    assert box.closed and box.close_code == CloseCode.SLOW_CONSUMER


def test_catching_up_resets_the_slow_timer():
    clock = Clock()
    box = Outbox(slow_seconds=10, clock=clock)
    box.push(b"1")
    clock.now = 9
    box.take()
    box.push(b"2")
    clock.now = 18
    assert box.push(b"3") and not box.closed


def test_unsubscribe_leaves_no_subscription_behind():
    hub = Hub()
    box = Outbox()
    assert hub.subscribe("asset.A", box) is True
    assert hub.subscribe("asset.A", Outbox()) is False
    hub.subscribe("portfolio.1", box)
    assert hub.remove(box) == ["portfolio.1"]
    assert box.channels == set()
    assert hub.subscribers("asset.A") == 1 and "portfolio.1" not in hub.channels()
    hub.deliver("asset.A", 1, b"x", conflate=True)
    assert box.take() == []


def test_last_unsubscribe_reports_channel_empty():
    hub = Hub()
    box = Outbox()
    hub.subscribe("asset.A", box)
    assert hub.unsubscribe("asset.A", box) is True
    assert list(hub.channels()) == []
    assert hub.unsubscribe("asset.A", box) is False


def test_held_channel_buffers_then_releases_only_newer_frames_in_order():
    hub = Hub()
    box = Outbox()
    hub.subscribe("asset.A", box)
    box.hold("asset.A")
    hub.deliver("asset.A", 5, b"5", conflate=True)
    hub.deliver("asset.A", 6, b"6", conflate=True)
    assert box.take() == []
    box.push(b"snapshot-5", "asset.A")
    box.take()
    box.release("asset.A", after_seq=5)
    assert box.take() == [b"6"]


def test_counts_by_prefix():
    hub = Hub()
    a, b = Outbox(), Outbox()
    hub.subscribe("asset.A", a)
    hub.subscribe("asset.A", b)
    hub.subscribe("portfolio.3", a)
    assert hub.subscription_count("asset.") == 2
    assert hub.subscription_count("portfolio.") == 1
    assert hub.channel_count("asset.") == 1


# -- batching ---------------------------------------------------------------------------------


def test_batching_subscribers_share_one_array_frame_and_lose_nothing():
    hub = Hub()
    batched = [Outbox() for _ in range(3)]
    single = Outbox()
    for box in batched:
        hub.subscribe("asset.A", box)
        hub.set_batch(box, True)
    hub.subscribe("asset.A", single)
    for seq in range(1, 4):
        hub.deliver("asset.A", seq, b'{"seq":%d}' % seq, conflate=True)
    # Nothing reaches batching outboxes until the flush; the single one is conflated.
    assert all(len(box) == 0 for box in batched)
    assert single.take() == [b'{"seq":3}']
    assert hub.batches_pending
    assert hub.flush_batches() == []
    frames = [box.take() for box in batched]
    assert frames[0] == [b'[{"seq":1},{"seq":2},{"seq":3}]']  # every update, in order
    assert all(f[0] is frames[0][0] for f in frames)  # built once, the same bytes for all
    assert not hub.batches_pending and hub.flush_batches() == []


def test_batching_outbox_is_never_conflated_and_joins_queued_arrays_flat():
    box = Outbox()
    box.batch = True
    box.push(b'{"a":1}', "asset.A")
    box.push(b'{"a":2}', "asset.A")
    box.push(b'[{"b":1},{"b":2}]')
    frames = box.take()
    assert frames == [b'{"a":1}', b'{"a":2}', b'[{"b":1},{"b":2}]']
    assert join_batch(frames) == b'[{"a":1},{"a":2},{"b":1},{"b":2}]'
    assert join_batch([b"[1,2]"]) == b"[1,2]"


def test_switching_batching_off_queues_collected_updates_first():
    hub = Hub()
    box = Outbox()
    hub.subscribe("asset.A", box)
    hub.set_batch(box, True)
    hub.deliver("asset.A", 1, b"1", conflate=True)
    hub.set_batch(box, False)
    hub.deliver("asset.A", 2, b"2", conflate=False)
    hub.flush_batches()
    assert box.take() == [b"1", b"2"] and box.batch is False


def test_batched_channel_held_during_subscribe_gets_each_frame_with_its_seq():
    hub = Hub()
    box = Outbox()
    hub.subscribe("asset.A", box)
    hub.set_batch(box, True)
    box.hold("asset.A")
    hub.deliver("asset.A", 7, b"7", conflate=True)
    hub.deliver("asset.A", 8, b"8", conflate=True)
    hub.flush_batches()
    assert box.take() == []
    box.release("asset.A", after_seq=7)
    assert box.take() == [b"8"]


def test_closed_batching_outbox_is_removed_at_flush():
    hub = Hub()
    box = Outbox()
    hub.subscribe("asset.A", box)
    hub.set_batch(box, True)
    hub.deliver("asset.A", 1, b"1", conflate=True)
    box.close(CloseCode.SLOW_CONSUMER)
    assert hub.flush_batches() == ["asset.A"]
    assert hub.subscribers("asset.A") == 0


def test_unsubscribing_the_last_batching_subscriber_drops_collected_updates():
    hub = Hub()
    box, other = Outbox(), Outbox()
    hub.subscribe("asset.A", box)
    hub.subscribe("asset.A", other)
    hub.set_batch(box, True)
    hub.deliver("asset.A", 1, b"1", conflate=True)
    hub.unsubscribe("asset.A", box)
    hub.flush_batches()
    assert box.take() == [] and other.take() == [b"1"]


# -- the direct path --------------------------------------------------------------------------


class Stream:
    """Stands in for a connection's byte stream: records what is written."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def __call__(self, data: bytes) -> None:
        self.written.append(data)


class Loop:
    """A pacer's call_soon that runs nothing until told: each run() is one new pass."""

    def __init__(self) -> None:
        self.ready: list = []

    def call_soon(self, fn) -> None:
        self.ready.append(fn)

    def run(self) -> None:
        ready, self.ready = self.ready, []
        for fn in ready:
            fn()


class Link:
    """What a front end does for a direct outbox: flush what waited, on the next pass."""

    def __init__(self, box: Outbox, stream: Stream, pacer: Pacer) -> None:
        self.box, self.stream, self.pacer = box, stream, pacer
        self.writable = True
        box._wake = self.wake
        box.direct(stream, pacer)

    def set_writable(self, writable: bool) -> None:
        self.writable = writable
        self.box.set_writable(writable)
        if writable and self.box.pending:
            self.pacer.defer(self)

    def wake(self, box: Outbox) -> None:
        self.pacer.defer(self)

    def flush(self) -> None:
        if not self.writable:
            return
        frames = self.box.take()
        if frames:
            self.box.gen = self.pacer.gen
            self.pacer.touch()
            self.stream(b"".join(text_frame(f) for f in frames))


def direct_box(pacer: Pacer, **kwargs) -> tuple[Outbox, Stream, Link]:
    box, stream = Outbox(**kwargs), Stream()
    return box, stream, Link(box, stream, pacer)


def test_text_frame_is_built_once_per_payload():
    payload = b'{"type":"asset_update"}'
    assert text_frame(payload) == bytes((0x81, len(payload))) + payload
    assert text_frame(payload) is text_frame(payload)


def test_one_write_per_connection_per_pass_and_the_rest_coalesced_into_one():
    loop = Loop()
    hub = Hub(Pacer(loop.call_soon))
    box, stream, _link = direct_box(hub.pacer)
    hub.subscribe("asset.A", box)
    hub.subscribe("asset.B", box)
    hub.deliver("asset.A", 1, b'{"a":1}', conflate=True)
    assert stream.written == [text_frame(b'{"a":1}')] and box.fast is not None
    hub.deliver("asset.B", 1, b'{"b":1}', conflate=True)  # same pass: waits
    hub.deliver("asset.A", 2, b'{"a":2}', conflate=True)
    assert len(stream.written) == 1 and len(box) == 2 and box.fast is None
    loop.run()  # next pass: what waited goes out in one write, in order
    assert stream.written[1] == text_frame(b'{"b":1}') + text_frame(b'{"a":2}')
    assert box.fast is not None and len(box) == 0
    hub.deliver("asset.A", 3, b'{"a":3}', conflate=True)  # still the pass that flushed
    assert len(stream.written) == 2
    loop.run()
    assert stream.written[2:] == [text_frame(b'{"a":3}')]
    loop.run()  # a pass in which nothing was written
    hub.deliver("asset.A", 4, b'{"a":4}', conflate=True)
    assert stream.written[3:] == [text_frame(b'{"a":4}')]


def test_a_paused_connection_queues_conflates_and_gets_what_waited_first():
    loop = Loop()
    hub = Hub(Pacer(loop.call_soon))
    box, stream, link = direct_box(hub.pacer)
    other, other_stream, _ = direct_box(hub.pacer)
    for b in (box, other):
        hub.subscribe("asset.A", b)
    link.set_writable(False)  # the transport's buffer is over its high-water mark
    for seq in (1, 2, 3):
        hub.deliver("asset.A", seq, b'{"a":%d}' % seq, conflate=True)
        loop.run()
    assert stream.written == [] and len(box) == 1 and box.conflated == 2
    assert len(other_stream.written) == 3  # the others never waited for it
    link.set_writable(True)  # drained: what waited goes first, at the next pass
    hub.deliver("asset.A", 4, b'{"a":4}', conflate=True)
    loop.run()
    assert stream.written == [text_frame(b'{"a":4}')]  # 3 conflated into 4 while queued
    loop.run()
    hub.deliver("asset.A", 5, b'{"a":5}', conflate=True)
    assert stream.written[1:] == [text_frame(b'{"a":5}')]


def test_replies_and_updates_keep_their_order_through_the_direct_path():
    loop = Loop()
    hub = Hub(Pacer(loop.call_soon))
    box, stream, _link = direct_box(hub.pacer)
    hub.subscribe("asset.A", box)
    assert box.push(b'{"reply":1}')  # written through
    assert box.push(b'{"reply":2}')  # same pass: queued
    hub.deliver("asset.A", 1, b'{"a":1}', conflate=True)  # queued behind the reply
    assert stream.written == [text_frame(b'{"reply":1}')]
    loop.run()
    assert stream.written[1] == text_frame(b'{"reply":2}') + text_frame(b'{"a":1}')


def test_held_or_closed_outboxes_never_take_the_direct_path():
    loop = Loop()
    hub = Hub(Pacer(loop.call_soon))
    box, stream, _link = direct_box(hub.pacer)
    hub.subscribe("asset.A", box)
    box.hold("asset.A")
    assert box.fast is None
    hub.deliver("asset.A", 5, b'{"a":5}', conflate=True)
    assert stream.written == [] and len(box) == 0  # held, not written or queued
    box.release("asset.A", after_seq=4, key="asset.A")
    assert stream.written == [text_frame(b'{"a":5}')]
    loop.run()
    box.close(CloseCode.SLOW_CONSUMER)
    assert box.fast is None
    assert hub.deliver("asset.A", 6, b'{"a":6}', conflate=True) == ["asset.A"]
    assert len(stream.written) == 1


def test_a_connection_that_stays_paused_leads_to_the_slow_consumer_close():
    clock = Clock()
    box, _, link = direct_box(Pacer(Loop().call_soon), limit=3, slow_seconds=10, clock=clock)
    link.set_writable(False)
    for i in range(3):
        box.push(b"%d" % i)
    assert not box.closed
    assert box.push(b"x") is False
    assert box.closed and box.close_code == CloseCode.SLOW_CONSUMER
