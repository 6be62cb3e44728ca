"""/metrics: the runtime's counters in the Prometheus text format, and who may read them."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.test import RequestFactory, override_settings

from tests.realtime.prometheus import samples
from tickwire.realtime import metrics, views
from tickwire.realtime.access import networks
from tickwire.realtime.connection import Connection
from tickwire.realtime.runtime import Runtime
from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.hub import Outbox
from tickwire.stream.protocol import encode_body


@pytest.fixture
async def rt():
    runtime = Runtime(broker=MemoryBroker())
    await runtime.start(run_feed=False)
    yield runtime
    await runtime.stop()


async def connect(rt, name, channels, user_id=None):
    conn = Connection(name, Outbox())
    rt.register(conn)
    if user_id is not None:
        assert await rt.authenticate(conn, user_id, "token", f"token:{name}")
    for channel in channels:
        rt.node.activate(conn.outbox, await rt.node.subscribe(conn.outbox, channel))
    return conn


async def test_connections_subscriptions_and_updates_are_counted_at_scrape_time(rt):
    await connect(rt, "a", ["asset.AAPL", "portfolio.3"], user_id=7)
    await connect(rt, "b", ["asset.AAPL", "asset.MSFT"])
    for n in range(3):
        await rt.broker.publish("asset.AAPL", encode_body("asset_update", {"n": n}))
    await asyncio.sleep(0)  # the pass after the first (timed) delivery records its time
    got = samples(metrics.render(rt, []))
    assert got[("tickwire_connections", (("authenticated", "true"),))] == 1
    assert got[("tickwire_connections", (("authenticated", "false"),))] == 1
    assert got[("tickwire_subscriptions", (("kind", "asset"),))] == 3
    assert got[("tickwire_subscriptions", (("kind", "portfolio"),))] == 1
    assert got[("tickwire_updates_published_total", ())] == 3
    # Two subscribers of AAPL, three updates: six deliveries, and neither outbox is read,
    # so the second and third update of each replaced the one before it.
    assert got[("tickwire_updates_delivered_total", ())] == 6
    assert got[("tickwire_updates_conflated_total", ())] == 4
    assert got[("tickwire_broker_connected", ())] == 1
    assert got[("tickwire_publish_to_send_seconds_count", ())] == 1


async def test_closes_are_counted_by_code_and_conflation_survives_the_connection(rt):
    conn = await connect(rt, "a", ["asset.AAPL"])
    for n in range(3):
        await rt.broker.publish("asset.AAPL", encode_body("asset_update", {"n": n}))
    rt.count_close(4001)
    rt.unregister(conn)
    rt.count_close(1000)
    rt.count_close(1000)
    got = samples(metrics.render(rt, []))
    assert got[("tickwire_closes_total", (("code", "4001"),))] == 1
    assert got[("tickwire_closes_total", (("code", "1000"),))] == 2
    assert got[("tickwire_updates_conflated_total", ())] == 2
    assert got[("tickwire_connections", (("authenticated", "false"),))] == 0


async def test_feed_processes_are_reported_by_source_with_their_age_and_state(rt):
    now = time.time()
    beats = [
        {
            "feed_id": "feed-1",
            "running": True,
            "published": 120,
            "rejected_ticks": 2,
            "last_publish_at": now - 3,
            "source": {"source": "finnhub", "connected": False},
        },
        {
            "feed_id": "feed-2",
            "running": True,
            "published": 7,
            "last_publish_at": now,
            "source": {"source": "simulator"},
        },
    ]
    got = samples(metrics.render(rt, beats))
    finnhub = (("feed", "feed-1"), ("source", "finnhub"))
    simulator = (("feed", "feed-2"), ("source", "simulator"))
    assert got[("tickwire_feed_ticks_total", finnhub)] == 120
    assert got[("tickwire_feed_ticks_rejected_total", finnhub)] == 2
    assert got[("tickwire_feed_source_up", finnhub)] == 0  # its upstream link is down
    assert got[("tickwire_feed_source_up", simulator)] == 1
    assert 3 <= got[("tickwire_feed_last_tick_age_seconds", finnhub)] < 60


def test_without_a_runtime_only_the_process_metrics_are_there():
    names = {name for name, _ in samples(metrics.render(None, []))}
    assert "process_cpu_seconds_total" in names
    assert not any(name.startswith("tickwire_") for name in names)


# -- access ------------------------------------------------------------------------------


async def scrape(remote_addr, authorization=None, **overrides):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    request = RequestFactory().get("/metrics", REMOTE_ADDR=remote_addr, **headers)
    with override_settings(**overrides):
        return await views.prometheus_metrics(request)


async def test_an_allowed_address_reads_the_metrics_and_another_is_refused():
    allow = networks(["10.0.0.0/8", "::1"])
    ok = await scrape("10.1.2.3", TICKWIRE_METRICS_ALLOW=allow, TICKWIRE_METRICS_TOKEN="")
    assert ok.status_code == 200
    assert ok["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"process_cpu_seconds_total" in ok.content
    refused = await scrape("192.0.2.1", TICKWIRE_METRICS_ALLOW=allow, TICKWIRE_METRICS_TOKEN="")
    assert refused.status_code == 403
    assert b"TICKWIRE_METRICS_ALLOW" in refused.content


async def test_a_bearer_token_opens_metrics_to_any_address_and_a_wrong_one_does_not():
    settings = {"TICKWIRE_METRICS_ALLOW": [], "TICKWIRE_METRICS_TOKEN": "s3cret-metrics-token"}
    assert (await scrape("192.0.2.1", "Bearer s3cret-metrics-token", **settings)).status_code == 200
    assert (await scrape("192.0.2.1", "Bearer wrong", **settings)).status_code == 403
    assert (await scrape("192.0.2.1", "Token s3cret-metrics-token", **settings)).status_code == 403
    assert (await scrape("192.0.2.1", None, **settings)).status_code == 403
    # No token configured: a Bearer header with an empty token opens nothing.
    empty = {"TICKWIRE_METRICS_ALLOW": [], "TICKWIRE_METRICS_TOKEN": ""}
    assert (await scrape("192.0.2.1", "Bearer ", **empty)).status_code == 403


def test_the_default_allowlist_is_loopback_only(settings):
    from tickwire.realtime.access import address_allowed

    allowed = settings.TICKWIRE_METRICS_ALLOW
    assert address_allowed("127.0.0.1", allowed)
    assert address_allowed("::1", allowed)
    assert address_allowed("::ffff:127.0.0.1", allowed)
    assert not address_allowed("10.0.0.1", allowed)
    assert not address_allowed("not-an-address", allowed)
    assert not address_allowed(None, allowed)
