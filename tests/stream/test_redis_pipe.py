"""Publishing through Redis pipelined: order fixed at hand-over, nothing lost or reordered
when the publishing connection drops, a clear error when Redis stays away, and the
history's bounds kept by the script's periodic trims. Real redis-server processes."""

import asyncio
import itertools

import orjson
import pytest
import redis

from tests.infra import RedisServer
from tickwire.stream.brokers import BrokerUnavailable
from tickwire.stream.brokers.redis import RedisBroker
from tickwire.stream.protocol import encode_body

_prefixes = itertools.count(1)


def body(n: int) -> bytes:
    return encode_body("asset_update", {"symbol": "A", "n": n}, timestamp="T")


@pytest.fixture
async def brokers(redis_server):
    made = []
    prefix = f"rp{next(_prefixes)}"

    def make(url=None, **kw):
        b = RedisBroker(url or redis_server.url, prefix=prefix, **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        await b.close()


async def until(predicate, timeout=10.0):
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


async def test_batches_handed_over_without_waiting_keep_their_order(brokers):
    publisher, subscriber = brokers(), brokers()
    got = []
    await subscriber.start(got.append)
    await subscriber.subscribe("asset.A")
    # Ten batches in flight at once (more than one script call each: 700 > 500).
    pending = [
        publisher.enqueue_many([(ch, body(k * 700 + i)) for i in range(700) for ch in ("asset.A",)])
        for k in range(10)
    ]
    results = await asyncio.wait_for(asyncio.gather(*pending), 30)
    seqs = [p.seq for batch in results for p in batch]
    assert seqs == list(range(1, 7001))
    assert await until(lambda: len(got) == 7000)
    assert [orjson.loads(p.frame)["data"]["n"] for p in got] == list(range(7000))
    assert [p.seq for p in got] == seqs
    # The frame returned is the one subscribers got (the script seals it the same way).
    assert [p.frame for p in results[-1]] == [p.frame for p in got[-700:]]


async def test_a_dropped_publishing_connection_is_reopened_and_nothing_is_lost(
    brokers, redis_server
):
    publisher = brokers()
    await publisher.publish_many([("asset.A", body(i)) for i in range(3)])
    admin = redis.Redis.from_url(redis_server.url)
    # Every plain client connection goes (the publisher's among them), as on a blip.
    assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
    later = [publisher.enqueue_many([("asset.A", body(i))]) for i in range(3, 8)]
    pubs = [p for batch in await asyncio.wait_for(asyncio.gather(*later), 30) for p in batch]
    assert [p.seq for p in pubs] == [4, 5, 6, 7, 8]
    history = await publisher.history("asset.A", 0, None)
    assert history.recovered and [p.seq for p in history.publications] == list(range(1, 9))


async def test_publishing_to_a_redis_that_stays_away_fails_with_broker_unavailable(
    brokers, tmp_path
):
    server = RedisServer(tmp_path).start()
    try:
        publisher = brokers(server.url)
        await publisher.publish("asset.A", body(1))
    finally:
        server.stop()
    with pytest.raises(BrokerUnavailable, match="publishing to Redis failed"):
        await asyncio.wait_for(publisher.publish("asset.A", body(2)), 30)


async def test_the_history_keeps_its_bounds_with_the_periodic_trims(brokers, redis_server):
    publisher = brokers(history_size=8, history_ttl=600.0)
    for start in range(0, 400, 50):
        await publisher.publish_many([("asset.A", body(i)) for i in range(start, start + 50)])
    admin = redis.Redis.from_url(redis_server.url)
    _, hist = publisher._keys("asset.A")
    # Approximately trimmed, as MAXLEN ~ did: never below the bound, far below 400.
    assert 8 <= admin.xlen(hist) < 200
    # The Stream outlives its newest entry by at least the age bound (and at most 1/8 more).
    assert 600_000 - 5_000 <= admin.pttl(hist) <= 600_000 * 9 // 8
    recent = await publisher.history("asset.A", 392, None)
    assert recent.recovered and [p.seq for p in recent.publications] == list(range(393, 401))
    assert not (await publisher.history("asset.A", 300, None)).recovered


def test_a_publisher_used_from_a_second_event_loop_publishes_there_too(redis_server):
    # As a command that publishes once per asyncio.run does with one broker.
    publisher = RedisBroker(redis_server.url, prefix=f"rp{next(_prefixes)}")
    first = asyncio.run(publisher.publish("asset.A", body(1)))

    async def again():
        try:
            return await asyncio.wait_for(publisher.publish("asset.A", body(2)), 30)
        finally:
            await publisher.close()

    second = asyncio.run(again())
    assert (first.seq, second.seq) == (1, 2) and first.epoch == second.epoch
