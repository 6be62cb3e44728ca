"""The broker contract, run against every backend."""

import asyncio

import orjson

from tickwire.stream.protocol import encode_body


def body(n: int) -> bytes:
    return encode_body("asset_update", {"n": n}, timestamp="T")


async def started(make_broker, **kw):
    got = []
    broker = make_broker(**kw)
    await broker.start(got.append)
    return broker, got


async def settle(got, n, timeout=2.0):
    for _ in range(int(timeout / 0.01)):
        if len(got) >= n:
            return
        await asyncio.sleep(0.01)


async def test_publish_assigns_increasing_seq_per_channel(make_broker):
    broker, _ = await started(make_broker)
    a1 = await broker.publish("asset.A", body(1))
    a2 = await broker.publish("asset.A", body(2))
    b1 = await broker.publish("asset.B", body(1))
    assert (a1.seq, a2.seq, b1.seq) == (1, 2, 1)
    msg = orjson.loads(a2.frame)
    assert msg["seq"] == 2 and msg["data"] == {"n": 2}
    await broker.close()


async def test_only_subscribed_channels_are_delivered(make_broker):
    broker, got = await started(make_broker)
    await broker.subscribe("asset.A")
    await broker.publish("asset.A", body(1))
    await broker.publish("asset.B", body(1))
    await settle(got, 1)
    await asyncio.sleep(0.05)
    assert [(p.channel, p.seq) for p in got] == [("asset.A", 1)]
    await broker.unsubscribe("asset.A")
    await broker.publish("asset.A", body(2))
    await asyncio.sleep(0.05)
    assert len(got) == 1
    await broker.close()


async def test_publish_many_keeps_order(make_broker):
    broker, got = await started(make_broker)
    await broker.subscribe("asset.A")
    pubs = await broker.publish_many([("asset.A", body(i)) for i in range(5)])
    assert [p.seq for p in pubs] == [1, 2, 3, 4, 5]
    await settle(got, 5)
    assert [p.seq for p in got] == [1, 2, 3, 4, 5]
    await broker.close()


async def test_latest_is_the_snapshot(make_broker):
    broker, _ = await started(make_broker)
    assert await broker.latest("asset.A") is None
    await broker.publish("asset.A", body(1))
    last = await broker.publish("asset.A", body(2))
    snap = await broker.latest("asset.A")
    assert snap.seq == 2 and snap.frame == last.frame
    await broker.close()


async def test_history_recovers_missed_publications_in_order(make_broker):
    broker, _ = await started(make_broker)
    for i in range(10):
        await broker.publish("asset.A", body(i))
    seq, epoch = await broker.top("asset.A")
    hist = await broker.history("asset.A", 6, epoch)
    assert hist.recovered and [p.seq for p in hist.publications] == [7, 8, 9, 10]
    assert hist.seq == seq == 10
    up_to_date = await broker.history("asset.A", 10, epoch)
    assert up_to_date.recovered and up_to_date.publications == []
    await broker.close()


async def test_history_beyond_its_bound_is_not_recovered(make_broker):
    broker, _ = await started(make_broker, history_size=3)
    for i in range(10):
        await broker.publish("asset.A", body(i))
    _, epoch = await broker.top("asset.A")
    hist = await broker.history("asset.A", 2, epoch)
    assert not hist.recovered and hist.publications == [] and hist.seq == 10
    ok = await broker.history("asset.A", 7, epoch)
    assert ok.recovered and [p.seq for p in ok.publications] == [8, 9, 10]
    await broker.close()


async def test_other_epoch_is_not_recovered(make_broker):
    broker, _ = await started(make_broker)
    await broker.publish("asset.A", body(1))
    hist = await broker.history("asset.A", 0, "not-the-epoch")
    assert not hist.recovered


async def test_history_age_bound(make_broker):
    broker, _ = await started(make_broker, history_ttl=0.05)
    await broker.publish("asset.A", body(1))
    await asyncio.sleep(0.1)
    await broker.publish("asset.A", body(2))
    _, epoch = await broker.top("asset.A")
    assert not (await broker.history("asset.A", 0, epoch)).recovered
    assert (await broker.history("asset.A", 1, epoch)).recovered


async def test_publish_only_client_needs_no_start(make_broker):
    """Commands and shells publish control messages without opening a subscriber."""
    publisher = make_broker()
    first = await publisher.publish("control.x", body(1))
    second = await publisher.publish("control.x", body(2))
    assert (first.seq, second.seq) == (1, 2)
    await publisher.close()


async def test_a_stream_position_taken_before_the_first_publication_resumes(make_broker):
    # A client that subscribed while the channel had no update yet (a feed just started)
    # was told seq 0 and an epoch; once updates came, its resume must recover, not be
    # answered "recovered: false" as if the history were lost.
    broker, _ = await started(make_broker)
    seq, epoch = await broker.top("asset.NEW")
    assert seq == 0 and epoch
    for n in range(1, 4):
        await broker.publish("asset.NEW", body(n))
    assert await broker.top("asset.NEW") == (3, epoch)
    hist = await broker.history("asset.NEW", 1, epoch)
    assert hist.recovered and [p.seq for p in hist.publications] == [2, 3]
    await broker.close()
