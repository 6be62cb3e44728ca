"""What only the Redis broker has to do: survive a lost connection or a restarted Redis.

Everything else is the shared contract (test_brokers.py). These tests use real
redis-server processes: a dropped pub/sub link must be repaired from the Stream history
with every seq delivered once and in order; a Redis that lost its data must be reported
so that subscribers are told ``recovered: false`` and get a fresh snapshot.
"""

import asyncio
import itertools

import orjson
import pytest
import redis

from tests.infra import RedisServer
from tickwire.stream.brokers.redis import RedisBroker
from tickwire.stream.brokers.redis.scripts import PUBLISH, keys
from tickwire.stream.hub import Outbox
from tickwire.stream.node import Node
from tickwire.stream.protocol import encode_body

_prefixes = itertools.count(1)


def body(n: int) -> bytes:
    return encode_body("asset_update", {"symbol": "A", "n": n}, timestamp="T")


async def until(predicate, timeout=10.0):
    """Poll ``predicate`` (bounded); True once it holds."""
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


def publish_blocking(client, broker, channel, n):
    """Publish with a synchronous client: the event loop (and so the subscriber) is
    stopped meanwhile, so these publications surely fall in its disconnected window."""
    meta_prefix, hist_prefix = keys(broker.prefix, "")
    args = [1000, 3_600_000, broker._pub_prefix, meta_prefix, hist_prefix, "e-new"]
    client.eval(PUBLISH, 0, *args, channel, body(n))


@pytest.fixture
async def brokers(redis_server):
    made = []
    prefix = f"rb{next(_prefixes)}"

    def make(url=None, **kw):
        b = RedisBroker(url or redis_server.url, prefix=prefix, **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        await b.close()


async def test_one_redis_subscription_per_channel_however_many_local_subscribers(
    brokers, redis_server
):
    node = Node(brokers(), grace=0.05)
    await node.start()
    boxes = [Outbox() for _ in range(5)]
    for box in boxes:
        node.activate(box, await node.subscribe(box, "asset.A"))
    client = redis.Redis.from_url(redis_server.url)
    channel = f"{node.broker.prefix}:pub:asset.A"
    assert client.pubsub_numsub(channel) == [(channel.encode(), 1)]
    for box in boxes:
        node.remove(box)
    assert await until(lambda: client.pubsub_numsub(channel) == [(channel.encode(), 0)])
    await node.close()


async def test_concurrent_first_subscribers_both_see_every_update(brokers):
    publisher, node = brokers(), Node(brokers())
    await publisher.start(lambda pub: None)
    await node.start()
    a, b = Outbox(), Outbox()
    ra, rb = await asyncio.gather(node.subscribe(a, "asset.A"), node.subscribe(b, "asset.A"))
    node.activate(a, ra)
    node.activate(b, rb)
    seen = {a: [], b: []}
    for i in range(3):
        await publisher.publish("asset.A", body(i))
        # Taken one by one: the outbox would conflate updates nobody has read yet.
        assert await until(lambda: len(a) == 1 and len(b) == 1)
        for box in (a, b):
            seen[box] += [orjson.loads(f)["seq"] for f in box.take()]
    assert seen[a] == seen[b] == [1, 2, 3]
    await node.close()


async def test_dropped_pubsub_link_is_repaired_from_history_gap_free(brokers, redis_server):
    publisher, subscriber = brokers(), brokers(backoff_base=0.2)
    got = []
    resets = []
    await publisher.start(lambda pub: None)
    await subscriber.start(got.append, resets.append)
    await subscriber.subscribe("asset.A")
    await publisher.publish_many([("asset.A", body(i)) for i in range(3)])
    assert await until(lambda: len(got) == 3)
    # Redis drops every pub/sub connection (as on a network blip); the data stays.
    admin = redis.Redis.from_url(redis_server.url)
    assert admin.client_kill_filter(_type="pubsub") >= 1
    for i in range(3, 10):
        publish_blocking(admin, publisher, "asset.A", i)
    assert await until(lambda: len(got) == 10 and subscriber.is_connected)
    assert [p.seq for p in got] == list(range(1, 11))
    assert [p.replayed for p in got] == [False] * 3 + [True] * 7
    assert subscriber.reconnects == 1 and subscriber.replayed == 7 and resets == []
    # And live delivery goes on after the repair.
    await publisher.publish("asset.A", body(10))
    assert await until(lambda: len(got) == 11)
    assert got[-1].seq == 11 and not got[-1].replayed


async def test_restarted_redis_is_reported_as_a_reset_and_subscribers_resync(brokers, tmp_path):
    server = RedisServer(tmp_path).start()
    try:
        publisher = brokers(server.url)
        node = Node(brokers(server.url, backoff_base=0.05, backoff_cap=0.5))
        await publisher.start(lambda pub: None)
        await node.start()
        box = Outbox()
        result = await node.subscribe(box, "asset.A")
        node.activate(box, result)
        frames = []

        async def publish_and_collect(n):
            # Taken as they come: the outbox would conflate updates nobody has read yet.
            pub = await publisher.publish("asset.A", body(n))
            assert await until(lambda: len(box) > 0)
            while not any(f.get("seq") == pub.seq for f in frames):
                assert await until(lambda: len(box) > 0)
                frames.extend(orjson.loads(f) for f in box.take())
            return pub

        for i in range(3):
            await publish_and_collect(i)
        assert [f["seq"] for f in frames] == [1, 2, 3]
        frames.clear()
        server.restart()  # SIGKILL: every key is gone, a new epoch begins
        # The feed carries on once Redis is back (its client retries with backoff).
        first = await publish_and_collect(100)
        assert first.seq == 1 and first.epoch != result.epoch
        await until(lambda: node.resets >= 1)
        for i in range(2):
            await publish_and_collect(101 + i)
        resync = frames[0]
        assert resync["type"] == "resync" and resync["data"]["symbol"] == "A"
        assert resync["data"]["recovered"] is False and node.resets == 1
        updates = frames[1:]
        assert all(f["type"] == "asset_update" for f in updates)
        # A snapshot at the resync's seq (when the channel had one by then), then every
        # live update after it: the new lineage, gap-free, up to its third update.
        start = resync["data"]["seq"] or 1
        assert [f["seq"] for f in updates] == list(range(start, 4))
    finally:
        server.stop()


async def test_reset_keeps_order_with_unsent_updates_and_mid_subscribe():
    """The resync notice is never overtaken, whatever is queued or held around it."""
    from tickwire.stream.brokers import ChannelReset, MemoryBroker, Publication
    from tickwire.stream.protocol import seal

    class SlowSnapshot(MemoryBroker):
        gate = asyncio.Event()

        async def latest(self, channel):
            await self.gate.wait()
            return await super().latest(channel)

    broker = SlowSnapshot()
    node = Node(broker)
    await node.start()
    for i in range(3):
        await broker.publish("asset.A", body(i))
    live = Outbox()
    SlowSnapshot.gate.set()
    node.activate(live, await node.subscribe(live, "asset.A"))
    SlowSnapshot.gate.clear()
    live.take()
    await broker.publish("asset.A", body(3))  # seq 4, not yet sent to the client

    late = Outbox()
    pending = asyncio.ensure_future(node.subscribe(late, "asset.A"))
    await asyncio.sleep(0.01)  # the subscribe is waiting for its snapshot

    def new(seq):
        return Publication("asset.A", seq, "new", seal(body(100 + seq), seq))

    node._on_reset(ChannelReset("asset.A", 1, "new", new(1), "epoch_changed"))
    node._on_publication(new(2))
    node._on_publication(new(3))
    # Already subscribed: the unsent old update stays in front of the notice.
    frames = [orjson.loads(f) for f in live.take()]
    assert [(f["type"], f.get("seq")) for f in frames] == [
        ("asset_update", 4),
        ("resync", None),
        ("asset_update", 3),  # the snapshot (seq 1), conflated with the newer 2 and 3
    ]
    # Mid-subscribe: its (old) snapshot, then the notice, the new snapshot and the rest.
    SlowSnapshot.gate.set()
    result = await pending
    for frame in result.frames:
        late.push(frame, "asset.A")
    node.activate(late, result)
    frames = [orjson.loads(f) for f in late.take()]
    assert frames[0]["seq"] == 4 and frames[1]["type"] == "resync"
    assert frames[1]["data"]["seq"] == 1 and frames[2]["seq"] >= 1
    assert [f["seq"] for f in frames[2:]][-1] == 3
    await node.close()


async def test_concurrent_snapshot_reads_share_one_redis_read(brokers, redis_server):
    # A thousand clients subscribing at once must not each open a Redis connection.
    broker = brokers()
    await broker.start(lambda pub: None)
    top = (await broker.publish("asset.A", body(1))).seq
    client = redis.Redis.from_url(redis_server.url)

    def hmgets():
        return client.info("commandstats").get("cmdstat_hmget", {}).get("calls", 0)

    before = hmgets()
    snaps = await asyncio.gather(*(broker.latest("asset.A") for _ in range(1000)))
    assert {(s.seq, s.frame) for s in snaps} == {(top, snaps[0].frame)}
    assert snaps[0].frame.endswith(b',"seq":%d}' % top)
    assert hmgets() - before <= 2


async def test_a_snapshot_read_never_predates_its_call(brokers):
    # Joining a read already sent could hand back a snapshot older than a publication
    # made before the call: the subscriber would miss that update.
    broker = brokers()
    await broker.start(lambda pub: None)
    reads = []
    for n in range(1, 60):
        pub = await broker.publish("asset.A", body(n))
        reads.append((pub.seq, asyncio.ensure_future(broker.latest("asset.A"))))
        if n % 3:
            await asyncio.sleep(0)  # let some reads get sent before the next publish
    for seq, read in reads:
        snap = await read
        assert snap is not None and snap.seq >= seq
    assert not broker._reads_next and not broker._reads_inflight


async def test_concurrent_top_reads_share_one_redis_read(brokers, redis_server):
    # Subscribers of a channel with no publication yet read its top instead.
    broker = brokers()
    await broker.start(lambda pub: None)
    client = redis.Redis.from_url(redis_server.url)

    def scripts():
        stats = client.info("commandstats")
        return sum(stats.get(k, {}).get("calls", 0) for k in ("cmdstat_evalsha", "cmdstat_eval"))

    before = scripts()
    tops = await asyncio.gather(*(broker.top("asset.EMPTY") for _ in range(1000)))
    [(seq, epoch)] = set(tops)
    assert seq == 0 and epoch  # the channel's epoch, created by the read
    assert scripts() - before <= 2
    pub = await broker.publish("asset.EMPTY", body(1))
    assert (pub.seq, pub.epoch) == (1, epoch)
    assert await broker.top("asset.EMPTY") == (1, epoch)


async def test_a_storm_of_resumes_on_many_channels_waits_for_connections_not_fails(
    brokers, redis_server
):
    # A node back from a restart gets thousands of resuming clients at once: each asks for
    # its channel's history (and fresh subscribers for snapshots). More reads in flight
    # than the pool has connections must queue for one, not fail as "internal_error".
    broker = brokers()
    await broker.start(lambda pub: None)
    channels = [f"asset.S{i:03d}" for i in range(300)]
    epochs = {}
    for channel in channels:
        await broker.publish(channel, body(1))
        epochs[channel] = (await broker.publish(channel, body(2))).epoch
    client = redis.Redis.from_url(redis_server.url)
    clients_before = client.info("clients")["connected_clients"]
    reads = await asyncio.gather(
        *(broker.history(ch, 1, epochs[ch]) for ch in channels for _ in range(3)),
        *(broker.latest(channel) for channel in channels),
    )
    histories, snapshots = reads[: 3 * len(channels)], reads[3 * len(channels) :]
    assert all(h.recovered and [p.seq for p in h.publications] == [2] for h in histories)
    assert all(s is not None and s.seq == 2 for s in snapshots)
    # Bounded: a node does not open a Redis connection per waiting client.
    assert client.info("clients")["connected_clients"] - clients_before <= 64


async def test_concurrent_resumes_of_a_channel_share_one_history_read(brokers, redis_server):
    # The clients of a restarted node resume together, most of a channel's from nearly the
    # same seq: one script call serves them all, each getting exactly what it missed.
    broker = brokers()
    await broker.start(lambda pub: None)
    for n in range(1, 21):
        epoch = (await broker.publish("asset.A", body(n))).epoch
    client = redis.Redis.from_url(redis_server.url)

    def scripts():
        stats = client.info("commandstats")
        return sum(stats.get(k, {}).get("calls", 0) for k in ("cmdstat_evalsha", "cmdstat_eval"))

    before = scripts()
    sinces = [20, 19, 15, 12, 12, 3, 17, 0] * 125
    reads = await asyncio.gather(*(broker.history("asset.A", s, epoch) for s in sinces))
    assert scripts() - before <= 2
    for since, read in zip(sinces, reads, strict=True):
        assert read.recovered and read.seq == 20 and read.epoch == epoch
        assert [p.seq for p in read.publications] == list(range(since + 1, 21))
    # Another epoch, or a since past the top, is still answered for itself.
    assert not (await broker.history("asset.A", 5, "other")).recovered
    assert not (await broker.history("asset.A", 25, epoch)).recovered


async def test_a_shared_history_read_too_far_back_still_recovers_the_nearer_resume(brokers):
    # One resume from far behind (past TICKWIRE_HISTORY_SIZE) must not cost the others
    # their recovery when they join its read.
    broker = brokers(history_size=10)
    await broker.start(lambda pub: None)
    for n in range(1, 31):
        epoch = (await broker.publish("asset.A", body(n))).epoch
    far, near = await asyncio.gather(
        broker.history("asset.A", 2, epoch), broker.history("asset.A", 25, epoch)
    )
    assert not far.recovered
    assert near.recovered and [p.seq for p in near.publications] == [26, 27, 28, 29, 30]
