"""The coordinator: broker subscriptions follow local subscribers; resume ordering."""

import asyncio

import orjson

from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.hub import Outbox
from tickwire.stream.node import Node
from tickwire.stream.protocol import encode_body


def body(n):
    return encode_body("asset_update", {"n": n}, timestamp="T")


def seqs(frames):
    return [orjson.loads(f)["seq"] for f in frames]


async def test_broker_subscription_follows_first_and_last_local_subscriber():
    broker = MemoryBroker()
    node = Node(broker, grace=0.05)
    await node.start()
    a, b = Outbox(), Outbox()
    r = await node.subscribe(a, "asset.A")
    node.activate(a, r)
    r = await node.subscribe(b, "asset.A")
    node.activate(b, r)
    assert broker.subscribed_channels == {"asset.A"}
    node.unsubscribe(a, "asset.A")
    node.remove(b)
    assert broker.subscribed_channels == {"asset.A"}  # grace period
    await asyncio.sleep(0.1)
    assert broker.subscribed_channels == set()


async def test_resubscribe_within_grace_keeps_broker_subscription():
    broker = MemoryBroker()
    node = Node(broker, grace=0.05)
    await node.start()
    a = Outbox()
    node.activate(a, await node.subscribe(a, "asset.A"))
    node.remove(a)
    node.activate(a, await node.subscribe(a, "asset.A"))
    await asyncio.sleep(0.1)
    assert broker.subscribed_channels == {"asset.A"}


async def test_snapshot_then_live_updates():
    broker = MemoryBroker()
    node = Node(broker)
    await node.start()
    for i in range(3):
        await broker.publish("asset.A", body(i))
    box = Outbox()
    r = await node.subscribe(box, "asset.A")
    assert r.recovered is None and seqs(r.frames) == [3]
    node.activate(box, r)
    await broker.publish("asset.A", body(9))
    assert seqs(box.take()) == [4]


async def test_resume_replays_missed_then_live_with_no_gap_or_duplicate():
    broker = MemoryBroker()
    node = Node(broker)
    await node.start()
    for i in range(10):
        await broker.publish("asset.A", body(i))
    box = Outbox()
    r = await node.subscribe(box, "asset.A", since=4, epoch=broker.epoch)
    # a live update races in before the client is activated
    await broker.publish("asset.A", body(11))
    assert r.recovered is True and seqs(r.frames) == [5, 6, 7, 8, 9, 10]
    for f in r.frames:
        box.push(f)
    node.activate(box, r)
    assert seqs(box.take()) == [5, 6, 7, 8, 9, 10, 11]


async def test_resume_from_other_epoch_gets_snapshot_and_recovered_false():
    broker = MemoryBroker()
    node = Node(broker)
    await node.start()
    for i in range(3):
        await broker.publish("asset.A", body(i))
    box = Outbox()
    r = await node.subscribe(box, "asset.A", since=2, epoch="old")
    assert r.recovered is False and seqs(r.frames) == [3]


async def test_delivery_reaches_subscribers_through_broker():
    broker = MemoryBroker()
    node = Node(broker)
    await node.start()
    boxes = [Outbox() for _ in range(3)]
    for b in boxes:
        node.activate(b, await node.subscribe(b, "asset.A"))
    await broker.publish("asset.A", body(1))
    assert all(seqs(b.take()) == [1] for b in boxes)


async def test_batching_outbox_gets_every_update_in_one_frame_per_interval():
    broker = MemoryBroker()
    node = Node(broker, batch_interval=0.02)
    await node.start()
    plain, batched = Outbox(), Outbox()
    for box in (plain, batched):
        node.activate(box, await node.subscribe(box, "asset.A"))
    node.set_batch(batched, True)
    for n in range(5):
        await broker.publish("asset.A", body(n))
    assert len(batched) == 0  # collected once, not pushed per client
    assert seqs(plain.take()) == [5]  # the plain one conflates while it is behind
    await asyncio.wait_for(batched.wait(), 1)  # the node's timer flushes the batch
    (frame,) = batched.take()
    assert [m["seq"] for m in orjson.loads(frame)] == [1, 2, 3, 4, 5]
    await node.close()


async def test_one_publication_in_32_with_subscribers_is_timed_and_every_one_delivered():
    broker = MemoryBroker()
    node = Node(broker)
    await node.start()
    box = Outbox()
    node.activate(box, await node.subscribe(box, "asset.A"))
    box.take()
    for i in range(64):
        await broker.publish("asset.A", body(i))
    await broker.publish("asset.Z", body(0))  # no subscriber here: nothing to time
    await asyncio.sleep(0)  # the pass in which the timed deliveries are observed
    assert seqs(box.take()) == [64]  # conflated: every one reached the outbox
    assert node.hub.published == 64
    _, total, count = node.latency.snapshot()
    assert count == 2 and total > 0
