"""Nodes of a RedisCluster in a real Redis, each test under its own key prefix."""

import itertools

import pytest
import redis.asyncio as aioredis

from tickwire.realtime.cluster import RedisCluster

_prefixes = itertools.count(1)


@pytest.fixture
async def make_node(redis_server):
    client = aioredis.Redis.from_url(redis_server.url)
    prefix = f"cl{next(_prefixes)}"
    nodes = []

    async def make(stats=None, **kw):
        node = RedisCluster(client, prefix=prefix, **kw)
        await node.start(stats or (lambda: {"total_connections": 0}))
        nodes.append(node)
        return node

    make.client = client
    make.prefix = prefix
    yield make
    for node in nodes:
        await node.stop()
    await client.aclose()
