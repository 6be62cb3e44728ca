"""Control messages published from outside a server process (commands, shells)."""

import asyncio

import pytest

from tickwire.realtime import control
from tickwire.realtime.runtime import broker_from_settings


@pytest.mark.django_db
def test_repeated_publishes_from_a_command_reach_redis_with_the_nodes_prefix(
    redis_server, settings
):
    # Each publish runs on a fresh event loop (async_to_sync); the second used to hang
    # in broker.close(), which stalled `load_demo_data` on a second node's start.
    settings.TICKWIRE_BROKER_URL = redis_server.url
    settings.TICKWIRE_REDIS_PREFIX = "ctltest"
    for _ in range(3):
        control.publish("control.portfolio.1", "portfolio_control", {"reason": "test"})

    async def latest():
        broker = broker_from_settings()
        try:
            return await broker.latest("control.portfolio.1")
        finally:
            await broker.close()

    pub = asyncio.run(latest())
    assert pub is not None and pub.seq == 3
