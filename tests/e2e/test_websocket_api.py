"""The WebSocket API of seed 003 against a real server process, with a real client."""

import asyncio
import json
import urllib.error
import urllib.request

import pytest
import websockets
from websockets.asyncio.client import connect

pytestmark = pytest.mark.e2e


async def recv(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_type(ws, kind, timeout=5):
    async with asyncio.timeout(timeout):
        while True:
            msg = await recv(ws, timeout)
            if msg["type"] == kind:
                return msg


def get_json(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def test_connect_subscribe_snapshot_and_live_updates_with_increasing_seq(server):
    async with connect(server.ws_url) as ws:
        hello = await recv(ws)
        assert hello["type"] == "connection" and hello["data"]["status"] == "connected"
        await ws.send(
            json.dumps(
                {
                    "type": "subscribe_asset",
                    "data": {"symbol": "AAPL"},
                    "timestamp": "2024-01-15T10:30:00Z",
                }
            )
        )
        reply = await recv(ws)
        assert reply["type"] == "subscribed" and reply["data"]["symbols"] == ["AAPL"]
        snap = await recv(ws)
        assert snap["type"] == "asset_update" and snap["data"]["symbol"] == "AAPL"
        for field in ("price", "change", "change_percent", "volume", "high", "low"):
            assert isinstance(snap["data"][field], (int, float)), field
        seqs = [snap["seq"]]
        for _ in range(10):
            msg = await recv_type(ws, "asset_update")
            seqs.append(msg["seq"])
            d = msg["data"]
            assert d["low"] <= d["price"] <= d["high"]
            assert d["change"] == pytest.approx(d["price"] - d["previous_close"], abs=0.011)
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_short_form_and_symbol_lists(server):
    async with connect(server.ws_url) as ws:
        await recv(ws)
        await ws.send('{"type": "subscribe", "symbol": "BTC-USD"}')
        assert (await recv(ws))["data"]["symbols"] == ["BTC-USD"]
        await ws.send(
            json.dumps({"type": "subscribe_asset", "data": {"symbols": ["EUR-USD", "SPY"]}})
        )
        reply = await recv_type(ws, "subscribed")
        assert reply["data"]["symbols"] == ["EUR-USD", "SPY"]
        assert reply["data"]["subscription_count"] == 3
        seen = set()
        async with asyncio.timeout(5):
            while seen != {"BTC-USD", "EUR-USD", "SPY"}:
                msg = await recv(ws)
                if msg["type"] == "asset_update":
                    seen.add(msg["data"]["symbol"])


BAD = [
    ("not json at all", "invalid_json"),
    ("[1, 2, 3]", "invalid_message"),
    ('"just a string"', "invalid_message"),
    ('{"type": "teleport"}', "unknown_type"),
    ('{"type": "subscribe_asset", "data": {}}', "missing_field"),
    ('{"type": "subscribe_asset", "data": {"symbol": ["x"]}}', "invalid_field"),
    ('{"type": "subscribe_asset", "data": {"symbol": "NOSUCH"}}', "unknown_symbol"),
    ('{"type": "ping", "data": ' + "[" * 20000 + "]" * 20000 + "}", "invalid_json"),
]


async def test_every_bad_input_gets_its_error_code_and_the_connection_stays_usable(server):
    async with connect(server.ws_url) as ws:
        await recv(ws)
        for payload, code in BAD:
            await ws.send(payload)
            msg = await recv_type(ws, "error")
            assert msg["data"]["code"] == code, (payload[:40], msg)
            assert msg["data"]["message"]
            await ws.send('{"type": "ping"}')
            await recv_type(ws, "pong")
        # binary frames with JSON are accepted too
        await ws.send(b'{"type": "ping"}')
        await recv_type(ws, "pong")


async def test_subscription_limit_is_enforced(server):
    async with connect(server.ws_url) as ws:
        await recv(ws)
        symbols = [f"S{i}" for i in range(51)]
        await ws.send(json.dumps({"type": "subscribe_asset", "data": {"symbols": symbols}}))
        msg = await recv_type(ws, "error")
        assert msg["data"]["code"] == "subscription_limit"
        await ws.send('{"type": "ping"}')
        await recv_type(ws, "pong")


async def test_oversized_message_closes_with_1009(server):
    async with connect(server.ws_url, max_size=None) as ws:
        await recv(ws)
        await ws.send("x" * (64 * 1024 + 1))
        with pytest.raises(websockets.ConnectionClosed) as info:
            for _ in range(10):
                await recv(ws)
        assert info.value.rcvd.code == 1009


async def test_foreign_origin_refused_allowed_origin_and_no_origin_accepted(server):
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(server.ws_url, origin="https://evil.example"):
            pass
    assert info.value.response.status_code == 403
    async with connect(server.ws_url, origin=f"http://127.0.0.1:{server.port}") as ws:
        assert (await recv(ws))["type"] == "connection"
    # Another port of the same host is another origin.
    for other in (f"http://127.0.0.1:{server.port + 1}", f"http://localhost:{server.port}"):
        with pytest.raises(websockets.InvalidStatus) as info:
            async with connect(server.ws_url, origin=other):
                pass
        assert info.value.response.status_code == 403
    async with connect(server.ws_url) as ws:
        assert (await recv(ws))["type"] == "connection"


async def test_idle_connection_is_closed_after_websocket_timeout(make_server):
    srv = make_server({"WEBSOCKET_TIMEOUT": "1"})
    async with connect(srv.ws_url) as ws:
        await recv(ws)
        with pytest.raises(websockets.ConnectionClosed) as info:
            for _ in range(10):
                await recv(ws, timeout=5)
        assert info.value.rcvd.code == 4000


async def test_resume_after_reconnect_replays_the_gap(server):
    async with connect(server.ws_url) as ws:
        await recv(ws)
        await ws.send('{"type": "subscribe_asset", "data": {"symbol": "ETH-USD"}}')
        reply = await recv(ws)
        epoch = reply["data"]["streams"]["ETH-USD"]["epoch"]
        last = (await recv_type(ws, "asset_update"))["seq"]
    await asyncio.sleep(0.5)  # ~10 updates happen while we are away
    async with connect(server.ws_url) as ws:
        await recv(ws)
        await ws.send(
            json.dumps(
                {
                    "type": "subscribe_asset",
                    "data": {"symbol": "ETH-USD", "since": last, "epoch": epoch},
                }
            )
        )
        reply = await recv(ws)
        stream = reply["data"]["streams"]["ETH-USD"]
        assert stream["recovered"] is True and stream["seq"] > last + 3
        got = []
        while len(got) < stream["seq"] - last:
            got.append((await recv_type(ws, "asset_update"))["seq"])
        assert got == list(range(last + 1, stream["seq"] + 1))


def test_rest_endpoints_in_seed_shapes(server):
    status, info = get_json(server.url + "/realtime/websocket-info/")
    assert status == 200
    assert info["websocket_url"] == f"ws://127.0.0.1:{server.port}/ws/realtime/"
    assert info["connection_info"]["path"] == "/ws/realtime/"
    assert {"ping", "subscribe_asset"} <= set(info["message_types"])
    status, st = get_json(server.url + "/realtime/status/")
    assert status == 200 and st["service_status"] == "running"
    assert set(st["global_stats"]) == {
        "total_connections",
        "authenticated_users",
        "portfolio_subscriptions",
        "asset_subscriptions",
    }
    status, health = get_json(server.url + "/realtime/health/")
    assert status == 200 and health["price_feed_running"] is True
    assert "active_connections" in health and "timestamp" in health


async def test_status_counts_connections_and_subscriptions(server):
    async with connect(server.ws_url) as ws:
        await recv(ws)
        await ws.send('{"type": "subscribe_asset", "data": {"symbols": ["AAPL", "MSFT"]}}')
        await recv_type(ws, "subscribed")
        _, st = await asyncio.to_thread(get_json, server.url + "/realtime/status/")
        assert st["global_stats"]["total_connections"] >= 1
        assert st["global_stats"]["asset_subscriptions"] >= 2


def test_health_is_503_when_the_feed_is_not_running(make_server):
    srv = make_server({"TICKWIRE_FEED_IN_PROCESS": "false"}, wait_healthy=False)
    status, body = get_json(srv.url + "/realtime/health/")
    assert status == 503 and body["price_feed_running"] is False


def test_assets_api_serves_latest_prices(server):
    import time

    status, first = get_json(server.url + "/api/assets/AAPL/")
    assert status == 200 and first["symbol"] == "AAPL"
    time.sleep(1.2)  # the feed persists latest prices in batches (0.5 s in tests)
    _, later = get_json(server.url + "/api/assets/AAPL/")
    assert later["last_updated"] != first["last_updated"]
    status, listing = get_json(server.url + "/api/assets/")
    assert status == 200 and listing["count"] >= 12


def test_home_page_lists_assets(server):
    with urllib.request.urlopen(server.url + "/", timeout=5) as r:
        html = r.read().decode()
    assert "AAPL" in html and "home.js" in html


async def test_unknown_websocket_path_is_404_not_a_server_error(server):
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(server.ws_url.replace("/ws/realtime/", "/ws/elsewhere/")):
            pass
    assert info.value.response.status_code == 404
