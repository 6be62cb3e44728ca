"""Outbox on its own: closing, waking a writer, slow clients, taking by bytes, batches."""

import asyncio

import orjson

from tickwire.stream import hub, outbox
from tickwire.stream.outbox import Outbox, batch_frames
from tickwire.stream.protocol import CloseCode


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_hub_module_still_offers_the_outbox_and_its_helpers():
    for name in ("MAX_BATCH_BYTES", "Outbox", "Pacer", "batch_frames", "join_batch"):
        assert getattr(hub, name) is getattr(outbox, name)
        assert name in hub.__all__


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


def test_take_with_a_byte_limit_leaves_the_rest_queued_and_still_conflating():
    box = Outbox()
    box.push(b"r" * 10)  # a reply
    box.push(b"a1" * 5, "asset.A")
    box.push(b"b1" * 5, "asset.B")
    assert box.take(15) == [b"r" * 10]  # at least one, then only what fits
    box.push(b"a2" * 5, "asset.A")  # still conflates into the queued A
    assert box.take(1) == [b"a2" * 5]  # one even when larger than the limit
    box.push(b"a3" * 5, "asset.A")  # A was sent: queued anew, behind B
    assert box.take(1000) == [b"b1" * 5, b"a3" * 5] and len(box) == 0
