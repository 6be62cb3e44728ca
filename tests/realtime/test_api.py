"""POST /api/realtime/force_price_update/ reaches the feed through the broker, and the
feed's source state shows in /realtime/status/.

In-process here (memory broker, the embedded default) and through the feed-process
functions (tests/commands). Across processes it needs Redis: see test_feed_process.py.
"""

from __future__ import annotations

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.test import AsyncClient, Client

from tests.stream.feeds.fakes import eventually
from tickwire.realtime import runtime as runtime_module
from tickwire.stream.hub import Outbox


@pytest.fixture
async def feed_runtime(demo, settings):
    """A runtime with its in-process simulated feed, stepping only when forced."""
    settings.TICKWIRE_FEED_IN_PROCESS = True
    settings.REALTIME_UPDATE_INTERVAL = 3600
    rt = await runtime_module.get_runtime()
    await eventually(lambda: rt.feed is not None and rt.feed.batches >= 1, "the first step")
    yield rt
    await runtime_module.shutdown_runtime()


@pytest.fixture
def staff(transactional_db):
    return get_user_model().objects.create_user("ops", password="x", is_staff=True)


async def listen(rt, channel):
    frames = []
    box = Outbox(wake=lambda o: frames.extend(orjson.loads(f) for f in o.take()))
    result = await rt.node.subscribe(box, channel)
    rt.node.activate(box, result)
    return frames


async def test_staff_forces_an_update_that_subscribers_receive(feed_runtime, staff):
    frames = await listen(feed_runtime, "asset.MSFT")
    before = (await feed_runtime.broker.top("asset.MSFT"))[0]
    client = AsyncClient()
    await client.aforce_login(staff)
    response = await client.post(
        "/api/realtime/force_price_update/",
        {"symbols": ["msft", "MSFT"]},
        content_type="application/json",
    )
    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "symbols": ["MSFT"], "feed": "in_process"}
    await eventually(lambda: len(frames) == 1, "the forced MSFT update")
    assert frames[0]["type"] == "asset_update" and frames[0]["data"]["symbol"] == "MSFT"
    assert frames[0]["seq"] == before + 1
    assert feed_runtime.feed.status()["forced_updates"] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "non-empty list"),
        ({"symbols": []}, "non-empty list"),
        ({"symbols": "AAPL"}, "non-empty list"),
        ({"symbols": ["AAPL", 5]}, "Not symbols"),
        ({"symbols": ["AAPL", "NOPE", "ZZZ"]}, "Unknown symbols: NOPE, ZZZ"),
        ({"symbols": ["A"] * 501}, "At most 500"),
    ],
)
async def test_bad_bodies_are_400_with_the_reason(feed_runtime, staff, body, message):
    client = AsyncClient()
    await client.aforce_login(staff)
    response = await client.post(
        "/api/realtime/force_price_update/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert message in response.json()["symbols"][0]
    assert feed_runtime.feed.forced_updates == 0


async def test_only_staff_may_force_updates(feed_runtime, transactional_db):
    user = await get_user_model().objects.acreate_user("joe", password="x")
    client = AsyncClient()
    url = "/api/realtime/force_price_update/"
    body = {"symbols": ["AAPL"]}
    # anonymous: 401 (token auth answers with a WWW-Authenticate challenge)
    assert (await client.post(url, body, content_type="application/json")).status_code == 401
    await client.aforce_login(user)
    assert (await client.post(url, body, content_type="application/json")).status_code == 403


def test_without_a_runtime_the_request_is_503(demo, staff):
    client = Client()
    client.force_login(staff)
    response = client.post(
        "/api/realtime/force_price_update/", {"symbols": ["AAPL"]}, content_type="application/json"
    )
    assert response.status_code == 503 and "not running" in response.json()["detail"]


async def test_status_shows_staff_the_sources_state(feed_runtime, staff):
    assert "price_feed" not in (await AsyncClient().get("/realtime/status/")).json()
    client = AsyncClient()
    await client.aforce_login(staff)
    body = (await client.get("/realtime/status/")).json()
    feed = body["price_feed"]
    assert feed["running"] is True and feed["batches"] >= 1
    source = feed["source"]
    assert source["source"] == "simulator" and source["connected"] is True
    assert source["last_message_at"] is not None and source["errors"] == 0
    assert {"bars_written", "bars_pending", "forced_updates"} <= set(feed)
