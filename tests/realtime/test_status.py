"""What /realtime/status/ and /realtime/health/ report: this node's numbers, and scaled out
every live node's and feed process's heartbeat."""

from __future__ import annotations

import logging
import time

import pytest

from tickwire.realtime import status
from tickwire.realtime.cluster import LocalCluster
from tickwire.realtime.connection import Connection
from tickwire.realtime.runtime import Runtime
from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.hub import Outbox

ZERO = {
    "total_connections": 0,
    "authenticated_users": 0,
    "portfolio_subscriptions": 0,
    "asset_subscriptions": 0,
}


class SharedCluster(LocalCluster):
    """A scaled-out cluster whose nodes and feed processes report what the test says."""

    shared = True

    def __init__(self, nodes=(), feeds=(), users=None, down=False):
        super().__init__(node_id="here")
        self._nodes, self._feeds, self._users, self.down = list(nodes), list(feeds), users, down

    async def nodes(self):
        if self.down:
            raise ConnectionError("redis unreachable")
        return self._nodes

    async def feeds(self):
        if self.down:
            raise ConnectionError("redis unreachable")
        return self._feeds

    async def authenticated_users(self):
        return self._users


@pytest.fixture
async def rt():
    """A started runtime of its own (memory broker, no feed)."""
    runtime = Runtime(broker=MemoryBroker())
    await runtime.start(run_feed=False)
    yield runtime
    await runtime.stop()


async def connect(rt: Runtime, name: str, channels: list[str], user_id: int | None = None):
    conn = Connection(name, Outbox())
    rt.register(conn)
    if user_id is not None:
        assert await rt.authenticate(conn, user_id, "token", f"token:{name}")
    for channel in channels:
        rt.node.activate(conn.outbox, await rt.node.subscribe(conn.outbox, channel))
    return conn


async def test_a_stopped_service_reports_zero_and_nothing_about_the_caller():
    assert await status.service_status(None, user_id=7) == {
        "service_status": "stopped",
        "global_stats": ZERO,
    }


async def test_a_running_node_counts_its_clients_and_their_subscriptions(rt):
    await connect(rt, "a", ["asset.AAPL", "asset.MSFT", "portfolio.3"], user_id=7)
    await connect(rt, "b", ["asset.AAPL"], user_id=7)
    await connect(rt, "c", ["asset.SPY"])
    body = await status.service_status(rt, user_id=7, staff=True)
    assert body["service_status"] == "running"
    assert body["global_stats"] == {
        "total_connections": 3,
        "authenticated_users": 1,
        "portfolio_subscriptions": 1,
        "asset_subscriptions": 4,
    }
    assert body["user_stats"] == {
        "connection_count": 2,
        "subscriptions": {"portfolios": [3], "assets": ["AAPL", "MSFT"]},
    }
    assert body["price_feed"] is None and "price_feed_processes" not in body
    assert body["broker"] == {"url_scheme": "memory", "connected": True, "channels": 5}
    assert body["node_count"] == 1 and body["nodes"][0]["node_id"] == body["node_id"]
    assert body["nodes"][0]["total_connections"] == 3
    assert 0 <= body["uptime_seconds"] < 60
    assert "user_stats" not in await status.service_status(rt, user_id=None)


async def test_only_staff_see_more_than_the_counts(rt):
    await connect(rt, "a", ["asset.AAPL"], user_id=7)
    rt.cluster = SharedCluster(
        nodes=[{"node_id": "n1", "host": "db-host-7", "pid": 4242, "total_connections": 1}],
        feeds=[{"host": "feed-host", "pid": 99}],
    )
    for user_id in (None, 7):
        body = await status.service_status(rt, user_id=user_id)
        assert set(body) <= {"service_status", "global_stats", "user_stats"}
        assert "db-host-7" not in str(body) and "4242" not in str(body)
    staff = await status.service_status(rt, user_id=7, staff=True)
    assert staff["nodes"][0]["host"] == "db-host-7" and staff["price_feed_processes"]


async def test_scaled_out_the_stats_sum_every_live_node(rt):
    nodes = [
        {"node_id": "n1", "total_connections": 5, "asset_subscriptions": 9},
        {"node_id": "n2", "total_connections": 2, "portfolio_subscriptions": 1},
    ]
    rt.cluster = SharedCluster(nodes=nodes, users=3, feeds=[{"host": "feed-1"}])
    body = await status.service_status(rt, user_id=None, staff=True)
    assert body["global_stats"] == {
        "total_connections": 7,
        "authenticated_users": 3,
        "portfolio_subscriptions": 1,
        "asset_subscriptions": 9,
    }
    assert body["nodes"] == nodes and body["node_count"] == 2
    # No feed in this process: the feed processes' heartbeats say how the feed is doing.
    assert body["price_feed"] is None and body["price_feed_processes"] == [{"host": "feed-1"}]


async def test_when_redis_cannot_be_read_a_node_reports_its_own_numbers(rt, caplog):
    await connect(rt, "a", ["asset.AAPL"])
    rt.cluster = SharedCluster(down=True)
    with caplog.at_level(logging.WARNING, logger="tickwire.realtime"):
        body = await status.service_status(rt, user_id=None, staff=True)
    assert "reading cluster stats from Redis failed" in caplog.text
    assert body["global_stats"]["total_connections"] == 1
    assert [n["node_id"] for n in body["nodes"]] == ["here"]
    assert body["price_feed_processes"] == []


@pytest.mark.django_db
async def test_health_fails_without_a_runtime_even_with_the_database_up():
    body, healthy = await status.health_report(None)
    assert not healthy
    assert body["price_feed_running"] is False and body["database"] == "ok"
    assert body["active_connections"] == 0 and body["timestamp"].endswith("+00:00")


@pytest.mark.django_db
async def test_scaled_out_health_follows_the_feed_processes_heartbeats(rt):
    await connect(rt, "a", [])
    now = time.time()
    rt.cluster = SharedCluster(feeds=[{"running": True, "last_publish_at": now - 1}])
    body, healthy = await status.health_report(rt)
    assert healthy and body["price_feed_running"] is True and body["active_connections"] == 1
    for feeds in (
        [{"running": True, "last_publish_at": now - 3600}],  # stale
        [{"running": False, "last_publish_at": now}],  # stopped
        [],  # none
    ):
        rt.cluster = SharedCluster(feeds=feeds)
        assert await status.price_feed_running(rt) is False, feeds
    rt.cluster = SharedCluster(down=True)
    assert await status.price_feed_running(rt) is False
    # One live feed is enough; a feed that never published counts from its start.
    rt.cluster = SharedCluster(feeds=[{"running": False}, {"running": True, "started_at": now}])
    assert await status.price_feed_running(rt) is True


async def test_without_a_feed_anywhere_the_memory_broker_node_is_not_healthy(rt):
    assert status.feed_running(rt) is False
    assert await status.price_feed_running(rt) is False


@pytest.mark.django_db(transaction=True)
async def test_a_feed_with_no_instruments_is_not_a_running_feed(rt):
    await rt.start_feed()  # a migrated database without assets
    assert rt.feed is not None and rt.feed.running and not rt.feed.quotes
    body, healthy = await status.health_report(rt)
    assert not healthy and body["price_feed_running"] is False and body["database"] == "ok"
    # A feed process's heartbeat says how many symbols it feeds; none is not running either.
    now = time.time()
    rt.cluster = SharedCluster(feeds=[{"running": True, "symbols": 0, "last_publish_at": now}])
    assert await status.price_feed_running(rt) is False
    rt.cluster = SharedCluster(feeds=[{"running": True, "symbols": 3, "last_publish_at": now}])
    assert await status.price_feed_running(rt) is True


@pytest.mark.parametrize(
    "feed, db, connected, failing",
    [
        (True, True, True, []),
        (True, False, True, ["database"]),
        (False, True, False, ["price_feed", "broker"]),
    ],
)
async def test_health_names_each_failing_dependency(
    rt, monkeypatch, feed, db, connected, failing
):
    async def feed_running(runtime):
        return feed

    monkeypatch.setattr(status, "price_feed_running", feed_running)
    monkeypatch.setattr(status, "database_ok", lambda: db)
    monkeypatch.setattr(type(rt.broker), "is_connected", property(lambda self: connected))
    body, healthy = await status.health_report(rt)
    assert body["failing"] == failing and healthy is (not failing)
    assert body["database"] == ("ok" if db else "unavailable")
    assert body["broker"] == ("ok" if connected else "unavailable")
