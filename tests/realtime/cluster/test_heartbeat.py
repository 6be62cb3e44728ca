"""FeedHeartbeat in a real Redis: what every node's health check reads."""

import asyncio

from tickwire.realtime.cluster import FeedHeartbeat


async def test_feed_heartbeat_is_listed_while_alive_and_gone_after_stop(make_node):
    node = await make_node()
    beat = FeedHeartbeat(
        make_node.client,
        lambda: {"running": True, "published": 12},
        prefix=make_node.prefix,
        interval=0.05,
    )
    beat.start()
    for _ in range(100):
        if await node.feeds():
            break
        await asyncio.sleep(0.02)
    (feed,) = await node.feeds()
    assert feed["feed_id"] == beat.feed_id and feed["published"] == 12
    await beat.stop()
    assert await node.feeds() == []
