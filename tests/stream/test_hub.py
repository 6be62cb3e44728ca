"""Hub and outbox: fan-out, encode once, conflation, slow clients, unsubscribe."""

import asyncio

from tickwire.stream.hub import Hub, Outbox
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
