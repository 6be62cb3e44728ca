"""Hub and outbox: fan-out, encode once, conflation, slow clients, unsubscribe."""

import asyncio

import orjson

from tickwire.stream.hub import Hub, Outbox, batch_frames, join_batch
from tickwire.stream.protocol import CloseCode


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


def test_closed_outbox_refuses_frames_and_keeps_first_close_code():
    box = Outbox()
    box.close(CloseCode.IDLE_TIMEOUT, "idle")
    box.close(CloseCode.NORMAL)
    assert box.close_code == CloseCode.IDLE_TIMEOUT
    assert box.push(b"x") is False


async def test_wait_wakes_on_push_and_on_close():
    box = Outbox()
    waiter = asyncio.ensure_future(box.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    box.push(b"x")
    await asyncio.wait_for(waiter, 1)
    box.take()
    waiter = asyncio.ensure_future(box.wait())
    await asyncio.sleep(0)
    box.close()
    await asyncio.wait_for(waiter, 1)


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


# -- the front end's sink -------------------------------------------------------------------


class Sink:
    """Stands in for a socket: takes frames while ``ready``."""

    def __init__(self) -> None:
        self.ready = True
        self.written: list[bytes] = []

    def __call__(self, frame: bytes) -> bool:
        if self.ready:
            self.written.append(frame)
        return self.ready


def test_empty_outbox_hands_frames_to_a_ready_sink_and_queues_when_it_is_not():
    woken: list[Outbox] = []
    box = Outbox(wake=woken.append)
    sink = box.sink = Sink()
    assert box.push(b"1", "asset.A")
    assert sink.written == [b"1"] and len(box) == 0 and woken == []
    sink.ready = False
    box.push(b"2", "asset.A")
    box.push(b"3", "asset.A")  # queued frames still conflate
    assert len(box) == 1 and woken == [box]
    sink.ready = True
    box.push(b"4", "asset.B")  # something is queued: order wins, no write-through
    assert sink.written == [b"1"] and box.take() == [b"3", b"4"]
    assert box.delivered == 3 and box.conflated == 1


def test_a_sink_that_stays_blocked_leads_to_the_slow_consumer_close():
    clock = Clock()
    box = Outbox(limit=3, slow_seconds=10, clock=clock)
    box.sink = Sink()
    box.sink.ready = False
    for i in range(3):
        box.push(b"%d" % i)
    assert not box.closed
    assert box.push(b"x") is False
    assert box.closed and box.close_code == CloseCode.SLOW_CONSUMER


def test_client_whose_every_update_conflates_is_still_closed_when_behind_too_long():
    clock = Clock()
    box = Outbox(slow_seconds=10, clock=clock)
    box.push(b"a1", "asset.A")
    clock.now = 11
    assert box.push(b"a2", "asset.A") is False  # would conflate, but it never caught up
    assert box.closed and box.close_code == CloseCode.SLOW_CONSUMER


def test_a_far_behind_batching_client_gets_bounded_frames_not_one_huge_one():
    frames = [b'{"n":%3d}' % i for i in range(100)] + [b"[" + b",".join([b'{"m":1}'] * 50) + b"]"]
    batches = batch_frames(frames, limit=200)
    assert all(len(b) <= 200 for b in batches[:-1]) and len(batches) > 5
    assert batches[-1] == frames[-1]  # one update (here an array) larger than the limit goes whole
    flat = [m for b in batches for m in orjson.loads(b)]
    assert flat == [{"n": i} for i in range(100)] + [{"m": 1}] * 50  # nothing lost, in order
    assert batch_frames([b'{"a":1}']) == [b'[{"a":1}]']
