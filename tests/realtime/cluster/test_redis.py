"""RedisCluster in a real Redis: connection slots per user, node death, lost data."""

import asyncio

import pytest


async def test_the_limit_is_the_sum_over_nodes(make_node):
    a, b = await make_node(), await make_node()
    assert await a.acquire_user_slot(1, 2)
    assert await b.acquire_user_slot(1, 2)
    assert not await a.acquire_user_slot(1, 2)
    assert not await b.acquire_user_slot(1, 2)
    assert await a.acquire_user_slot(2, 2)  # other users are not affected
    assert await a.user_connections(1) == 2 and await a.authenticated_users() == 2
    await b.release_user_slot(1)
    assert await a.user_connections(1) == 1
    assert await a.acquire_user_slot(1, 2)


async def test_a_dead_nodes_connections_stop_counting(make_node):
    a = await make_node(node_timeout=10.0)
    dead = await make_node(node_timeout=0.3, heartbeat=60.0)  # beats once, then "dies"
    assert await dead.acquire_user_slot(1, 1)
    assert not await a.acquire_user_slot(1, 1)
    assert {n["node_id"] for n in await a.nodes()} == {a.node_id, dead.node_id}
    for _ in range(100):  # bounded: a 0.3 s timeout, checked against Redis's clock
        # The node's keys expire after its own timeout even where others use a longer one.
        if await a.acquire_user_slot(1, 1):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the dead node's connection still counts")
    assert [n["node_id"] for n in await a.nodes()] == [a.node_id]


async def test_counts_survive_redis_losing_its_data(make_node):
    a = await make_node(stats=lambda: {"total_connections": 3})
    b = await make_node()
    assert await a.acquire_user_slot(5, 2) and await a.acquire_user_slot(5, 2)
    keys = [k async for k in make_node.client.scan_iter(f"{make_node.prefix}:*")]
    await make_node.client.delete(*keys)  # as after a Redis restart without persistence
    assert await b.acquire_user_slot(5, 2)  # nothing is known for now...
    await b.release_user_slot(5)
    await a.beat()  # ...until a's next heartbeat puts its counts back
    assert not await b.acquire_user_slot(5, 2)
    totals = {n["node_id"]: n["total_connections"] for n in await b.nodes()}
    assert totals[a.node_id] == 3
