"""The broker URL picks the cluster backend and whether a feed needs a heartbeat."""

import pytest

from tickwire.realtime.cluster import (
    FeedHeartbeat,
    LocalCluster,
    RedisCluster,
    create_cluster,
    create_feed_heartbeat,
)
from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.brokers.redis import RedisBroker


def _status():
    return {"running": True}


def test_memory_url_makes_a_local_cluster_and_no_feed_heartbeat():
    broker = MemoryBroker()
    cluster = create_cluster("memory://", broker)
    assert isinstance(cluster, LocalCluster) and not cluster.shared
    assert create_feed_heartbeat("memory://", broker, _status) is None


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://127.0.0.1:6380/1", "unix:///tmp/redis.sock"]
)
async def test_redis_urls_share_the_brokers_client_and_prefix(url):
    # Nothing connects here: building a client opens no connection.
    broker = RedisBroker(url, prefix="deploy7")
    try:
        cluster = create_cluster(url, broker, heartbeat=0.5, node_timeout=3.0)
        assert isinstance(cluster, RedisCluster) and cluster.shared
        assert cluster.redis is broker.redis and cluster.prefix == "deploy7"
        assert (cluster.heartbeat, cluster.node_timeout) == (0.5, 3.0)
        beat = create_feed_heartbeat(url, broker, _status, prefix="deploy7", ttl=4.0)
        assert isinstance(beat, FeedHeartbeat)
        assert beat.redis is broker.redis and (beat.prefix, beat.ttl) == ("deploy7", 4.0)
    finally:
        await broker.redis.aclose()


async def test_the_url_not_the_broker_decides():
    broker = RedisBroker("redis://127.0.0.1:6379/0")
    try:
        assert isinstance(create_cluster("memory://", broker), LocalCluster)
    finally:
        await broker.redis.aclose()


def test_an_unknown_scheme_is_refused_with_the_url():
    with pytest.raises(ValueError, match=r"'amqp' in 'amqp://host'"):
        create_cluster("amqp://host", MemoryBroker())
    with pytest.raises(ValueError, match="'amqp'"):
        create_feed_heartbeat("amqp://host", MemoryBroker(), _status)


def test_a_redis_url_with_another_broker_is_refused():
    with pytest.raises(ValueError, match="needs a RedisBroker, not MemoryBroker"):
        create_cluster("redis://127.0.0.1:6379/0", MemoryBroker())
