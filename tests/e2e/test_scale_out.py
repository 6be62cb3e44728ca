"""The scaled-out mode end to end: a real redis-server, two uvicorn nodes, the feed process.

Everything here is a separate OS process on a loopback port, as a deployment runs it:
``python -m tickwire.serve`` twice with ``TICKWIRE_BROKER_URL=redis://...`` (so neither
runs a feed of its own) and ``python manage.py start_price_feed`` publishing through Redis.
Then nginx in front of both nodes, and finally Redis killed and restarted mid-stream.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.infra import FeedProcess, NginxServer, RedisServer
from tests.servers import ROOT, ServerProcess, wait_until

pytestmark = pytest.mark.e2e

SYMBOLS = ["AAPL", "BTC-USD", "MSFT"]


@dataclass
class Deployment:
    workdir: Path
    redis: RedisServer
    a: ServerProcess
    b: ServerProcess
    feed: FeedProcess


def get_json(url: str, token: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Token {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def healthy(server: ServerProcess) -> bool:
    try:
        return get_json(server.url + "/realtime/health/")[0] == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("scale-out")
    redis = RedisServer(workdir).start()
    env = {
        "TICKWIRE_BROKER_URL": redis.url,
        "TICKWIRE_REDIS_PREFIX": "e2e",
        "TICKWIRE_NODE_HEARTBEAT_SECONDS": "0.2",
        "TICKWIRE_NODE_TIMEOUT_SECONDS": "1.5",
        "MAX_CONNECTIONS_PER_USER": "2",
    }
    a = ServerProcess(workdir, env=env)
    b = ServerProcess(workdir, env=env)
    feed = FeedProcess(workdir, a.env)
    try:
        # The nodes share one database; the first one migrates it.
        a.start(wait_healthy=False)
        b.start(wait_healthy=False)
        feed.start()
        for node in (a, b):
            wait_until(lambda n=node: healthy(n), 60, f"health of {node.url}")
        yield Deployment(workdir, redis, a, b, feed)
    finally:
        feed.stop()
        a.stop()
        b.stop()
        redis.stop()


async def recv(ws, timeout: float = 10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_type(ws, kind: str, timeout: float = 10):
    async with asyncio.timeout(timeout):
        while True:
            msg = await recv(ws, timeout)
            if msg["type"] == kind:
                return msg


async def subscribed(url: str, symbols: list[str], **headers):
    ws = await connect(url, additional_headers=headers or None)
    hello = await recv(ws)
    assert hello["type"] == "connection"
    await ws.send(json.dumps({"type": "subscribe_asset", "data": {"symbols": symbols}}))
    reply = await recv_type(ws, "subscribed")
    return ws, reply


def login_session(env: dict[str, str], username: str = "demo") -> str:
    """A real Django session for ``username`` in the deployment's database (its key)."""
    code = (
        "import django; django.setup()\n"
        "from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY\n"
        "from django.contrib.auth import get_user_model\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        f"user = get_user_model().objects.get(username={username!r})\n"
        "s = SessionStore()\n"
        "s[SESSION_KEY] = str(user.pk)\n"
        "s[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
        "s[HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
        "s.create()\n"
        "print(s.session_key)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, check=True
    )
    return out.stdout.decode().split()[-1]


# -- several nodes ---------------------------------------------------------------------------


async def test_clients_on_both_nodes_get_the_same_seq_with_the_same_price(deployment):
    ws_a, reply_a = await subscribed(deployment.a.ws_url, ["AAPL"])
    ws_b, reply_b = await subscribed(deployment.b.ws_url, ["AAPL"])
    try:
        # One channel, one epoch, whichever node answers.
        assert (
            reply_a["data"]["streams"]["AAPL"]["epoch"]
            == reply_b["data"]["streams"]["AAPL"]["epoch"]
        )
        frames: dict[str, dict[int, dict]] = {"a": {}, "b": {}}
        for name, ws in (("a", ws_a), ("b", ws_b)):
            for _ in range(12):
                msg = await recv_type(ws, "asset_update")
                frames[name][msg["seq"]] = msg
        common = sorted(set(frames["a"]) & set(frames["b"]))
        assert len(common) >= 5
        for seq in common:
            assert frames["a"][seq]["data"] == frames["b"][seq]["data"]
            assert frames["a"][seq]["timestamp"] == frames["b"][seq]["timestamp"]
        # Gap-free on each node.
        for got in frames.values():
            seqs = sorted(got)
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    finally:
        await ws_a.close()
        await ws_b.close()


async def test_resume_on_another_node_replays_from_the_shared_history(deployment):
    ws, reply = await subscribed(deployment.a.ws_url, ["MSFT"])
    epoch = reply["data"]["streams"]["MSFT"]["epoch"]
    last = (await recv_type(ws, "asset_update"))["seq"]
    await ws.close()
    await asyncio.sleep(0.5)  # updates go on while the client is away
    ws = await connect(deployment.b.ws_url)
    try:
        await recv(ws)
        await ws.send(
            json.dumps(
                {
                    "type": "subscribe_asset",
                    "data": {"symbol": "MSFT", "since": last, "epoch": {"MSFT": epoch}},
                }
            )
        )
        stream = (await recv_type(ws, "subscribed"))["data"]["streams"]["MSFT"]
        assert stream["recovered"] is True and stream["seq"] > last
        got = [(await recv_type(ws, "asset_update"))["seq"] for _ in range(stream["seq"] - last)]
        assert got == list(range(last + 1, stream["seq"] + 1))
        # A client from another epoch is told so and gets a fresh snapshot.
        await ws.send(
            json.dumps(
                {"type": "subscribe_asset", "data": {"symbol": "MSFT", "since": 3, "epoch": "x"}}
            )
        )
        stream = (await recv_type(ws, "subscribed"))["data"]["streams"]["MSFT"]
        assert stream["recovered"] is False
        snap = await recv_type(ws, "asset_update")
        assert snap["data"]["symbol"] == "MSFT" and snap["seq"] >= stream["seq"]
    finally:
        await ws.close()


def _token(server: ServerProcess) -> str:
    request = urllib.request.Request(
        server.url + "/api/auth/token/",
        data=json.dumps({"username": "demo", "password": "demo"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["token"]


async def test_a_portfolio_followed_on_both_nodes_is_valued_once_in_the_feed_process(
    deployment,
):
    token = await asyncio.to_thread(_token, deployment.a)
    auth = {"Authorization": f"Token {token}"}
    req = urllib.request.Request(deployment.a.url + "/api/portfolios/", headers=auth)
    listing = json.loads(await asyncio.to_thread(lambda: urllib.request.urlopen(req).read()))
    pid = (listing["results"] if isinstance(listing, dict) else listing)[0]["id"]
    seen: list[dict[int, float]] = [{}, {}]

    async def follow(url: str, values: dict[int, float]) -> None:
        async with connect(url, additional_headers=auth) as ws:
            hello = await recv(ws)
            assert hello["data"]["authenticated"] is True
            await ws.send(
                json.dumps({"type": "subscribe_portfolio", "data": {"portfolio_id": pid}})
            )
            await recv_type(ws, "subscribed")
            while True:  # the first value, then updates driven by the feed process
                msg = await recv_type(ws, "portfolio_update", timeout=15)
                assert msg["data"]["portfolio_id"] == pid
                assert msg["data"]["status"] == "ok", (msg["data"]["errors"], msg.get("seq"))
                values[msg["seq"]] = msg["data"]["total_value"]

    readers = [
        asyncio.ensure_future(follow(node.ws_url, values))
        for node, values in zip((deployment.a, deployment.b), seen, strict=True)
    ]
    try:
        async with asyncio.timeout(30):
            while len(seen[0].keys() & seen[1].keys()) < 3:
                for reader in readers:
                    if reader.done():
                        reader.result()  # a reader's failure, raised here
                await asyncio.sleep(0.05)
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    common = sorted(seen[0].keys() & seen[1].keys())
    # One stream for both nodes: the same value under each seq, and it moves.
    assert [seen[0][seq] for seq in common] == [seen[1][seq] for seq in common]
    assert len(set(seen[0].values()) | set(seen[1].values())) > 1, seen
    # Valued in the feed process, once for the cluster: its valuer holds the portfolio.
    staff = _staff_token(deployment.a.env)
    _, body = await asyncio.to_thread(get_json, deployment.a.url + "/realtime/status/", staff)
    valuer = body["price_feed_processes"][0]["portfolio_valuer"]
    assert valuer["running"] is True and valuer["valuations"] > 0
    assert valuer["portfolios"] >= 1


def _staff_token(env: dict[str, str]) -> str:
    code = (
        "import django; django.setup()\n"
        "from django.contrib.auth import get_user_model\n"
        "from rest_framework.authtoken.models import Token\n"
        "u, _ = get_user_model().objects.get_or_create(username='ops', defaults={'is_staff': True})\n"
        "print(Token.objects.get_or_create(user=u)[0].key)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, check=True
    )
    return out.stdout.decode().split()[-1]


def test_force_price_update_on_a_node_reaches_the_feed_process(deployment):
    token = _staff_token(deployment.a.env)

    def forced() -> int:
        _, status = get_json(deployment.b.url + "/realtime/status/", token)
        return sum(f.get("forced_updates", 0) for f in status.get("price_feed_processes", []))

    before = forced()
    request = urllib.request.Request(
        deployment.a.url + "/api/realtime/force_price_update/",
        data=json.dumps({"symbols": ["AAPL", "MSFT"]}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
    # The feed runs in its own process: the request crossed Redis to reach it.
    wait_until(lambda: forced() > before, 15, "a forced update in the feed process")


async def test_status_aggregates_every_live_node(deployment):
    token = _staff_token(deployment.a.env)  # per-node details are for staff
    socks = [
        (await subscribed(deployment.a.ws_url, ["AAPL"]))[0],
        (await subscribed(deployment.b.ws_url, ["AAPL", "MSFT"]))[0],
        (await subscribed(deployment.b.ws_url, ["BTC-USD"]))[0],
    ]
    try:

        def counted():
            status, body = get_json(deployment.a.url + "/realtime/status/", token)
            stats = body["global_stats"]
            return (
                status == 200
                and body["node_count"] == 2
                and stats["total_connections"] >= 3
                and stats["asset_subscriptions"] >= 4
                and body
            )

        body = await asyncio.to_thread(wait_until, counted, 15, "status counting both nodes")
        per_node = {n["node_id"]: n for n in body["nodes"]}
        assert len(per_node) == 2 and body["node_id"] in per_node
        assert all(n["broker_connected"] and not n["feed_in_process"] for n in body["nodes"])
        assert (
            sum(n["total_connections"] for n in body["nodes"])
            == (body["global_stats"]["total_connections"])
        )
        # Node B answers with the same cluster-wide view.
        _, other = get_json(deployment.b.url + "/realtime/status/", token)
        assert other["node_count"] == 2 and other["node_id"] != body["node_id"]
        assert body["price_feed"] is None and body["price_feed_processes"][0]["running"]
    finally:
        for ws in socks:
            await ws.close()


def test_health_follows_the_feed_process_heartbeat(deployment):
    status, body = get_json(deployment.a.url + "/realtime/health/")
    assert status == 200 and body["price_feed_running"] is True
    deployment.feed.stop()
    try:
        for node in (deployment.a, deployment.b):
            wait_until(lambda n=node: not healthy(n), 15, "health 503 without a feed")
            status, body = get_json(node.url + "/realtime/health/")
            assert status == 503 and body["price_feed_running"] is False
    finally:
        deployment.feed.start()
        for node in (deployment.a, deployment.b):
            wait_until(lambda n=node: healthy(n), 60, "health back with the feed")


async def test_connection_limit_holds_across_nodes_and_frees_when_a_node_dies(deployment):
    session = login_session(deployment.a.env)
    cookie = {"Cookie": f"sessionid={session}"}
    first = await connect(deployment.a.ws_url, additional_headers=cookie)
    second = await connect(deployment.b.ws_url, additional_headers=cookie)
    try:
        for ws in (first, second):
            hello = await recv(ws)
            assert hello["data"]["authenticated"] is True
        # MAX_CONNECTIONS_PER_USER=2: one on each node, so a third anywhere is refused.
        third = await connect(deployment.a.ws_url, additional_headers=cookie)
        with pytest.raises(ConnectionClosed) as closed:
            await recv(third)
        assert closed.value.rcvd.code == 4002
        assert "MAX_CONNECTIONS_PER_USER" in closed.value.rcvd.reason
        # Node B dies without saying goodbye; once its heartbeat expires its
        # connection no longer counts.
        deployment.b.kill()

        async def admitted():
            ws = await connect(deployment.a.ws_url, additional_headers=cookie)
            try:
                return (await recv(ws))["type"] == "connection" and ws
            except ConnectionClosed:
                return False

        ws = None
        for _ in range(100):  # bounded: the node timeout is 1.5 s in this deployment
            ws = await admitted()
            if ws:
                break
            await asyncio.sleep(0.1)
        assert ws, "the dead node's connection still counted"
        await ws.send('{"type": "ping"}')
        assert (await recv_type(ws, "pong"))["type"] == "pong"
        await ws.close()
    finally:
        await first.close()
        await second.close()
        if deployment.b.proc is None or deployment.b.proc.poll() is not None:
            await asyncio.to_thread(deployment.b.start)


async def test_streaming_through_nginx_in_front_of_both_nodes(deployment):
    proxy = NginxServer(deployment.workdir / "nginx", [deployment.a.port, deployment.b.port])
    proxy.start()
    token = _staff_token(deployment.a.env)
    socks = []
    try:
        status, info = get_json(proxy.url + "/realtime/websocket-info/")
        assert status == 200 and info["connection_info"]["path"] == "/ws/realtime/"
        for _ in range(2):  # round robin: one on each node
            ws, reply = await subscribed(proxy.ws_url, ["AAPL"])
            socks.append(ws)
            assert reply["data"]["symbols"] == ["AAPL"]
        for ws in socks:
            seqs = [(await recv_type(ws, "asset_update"))["seq"] for _ in range(5)]
            assert seqs == list(range(seqs[0], seqs[0] + 5))

        def both_used():
            _, body = get_json(proxy.url + "/realtime/status/", token)
            counts = [n["total_connections"] for n in body["nodes"]]
            return len(counts) == 2 and min(counts) >= 1

        await asyncio.to_thread(wait_until, both_used, 15, "a connection on each node")
        assert get_json(proxy.url + "/realtime/health/")[0] == 200
        assert get_json(proxy.url + "/realtime/ready/")[0] == 200
        # The shipped site keeps /metrics to the nodes themselves (Prometheus scrapes them).
        try:
            urllib.request.urlopen(proxy.url + "/metrics", timeout=5)
            raise AssertionError("/metrics answered through nginx")
        except urllib.error.HTTPError as e:
            assert e.code == 403
    finally:
        for ws in socks:
            await ws.close()
        proxy.stop()


# -- faults ----------------------------------------------------------------------------------


def check_stream(messages: list[dict], symbol: str) -> int:
    """Assert gap-free updates of ``symbol``, except after an explicit resync.

    Returns how many ``resync`` messages (each ``recovered: false``) the client got.
    """
    last = None
    floor = 0
    resyncs = 0
    for msg in messages:
        data = msg.get("data", {})
        if msg["type"] == "resync" and data.get("symbol") == symbol:
            assert data["recovered"] is False
            resyncs += 1
            last, floor = None, data["seq"]
        elif msg["type"] == "asset_update" and data["symbol"] == symbol:
            if last is None:
                # After a resync: the snapshot (or a newer state conflated over it).
                assert msg["seq"] >= floor, (msg["seq"], floor)
            else:
                assert msg["seq"] == last + 1, f"gap in {symbol}: {last} -> {msg['seq']}"
            last = msg["seq"]
    return resyncs


async def test_redis_restart_mid_stream_clients_keep_sockets_and_lose_nothing_silently(
    deployment,
):
    clients = []
    for node in (deployment.a, deployment.b, deployment.a, deployment.b):
        ws, _ = await subscribed(node.ws_url, SYMBOLS)
        clients.append((ws, []))

    async def read(ws, into, until_count):
        while sum(1 for m in into if m["type"] == "asset_update") < until_count:
            into.append(await recv(ws, 30))

    try:
        await asyncio.gather(*(read(ws, into, 10) for ws, into in clients))
        deployment.redis.restart()  # SIGKILL, then a fresh empty Redis on the same port
        # Each client carries on over the same socket until it has seen the new epoch and
        # plenty of updates after it.
        marks = [len(into) for _, into in clients]

        async def after_restart(ws, into, mark):
            while True:
                resyncs = [m for m in into[mark:] if m["type"] == "resync"]
                fresh = sum(1 for m in into[mark:] if m["type"] == "asset_update")
                if len(resyncs) >= len(SYMBOLS) and fresh >= 30:
                    return
                into.append(await recv(ws, 30))

        await asyncio.gather(
            *(
                after_restart(ws, into, mark)
                for (ws, into), mark in zip(clients, marks, strict=True)
            )
        )
        for ws, into in clients:
            for symbol in SYMBOLS:
                # Redis lost everything: each stream was told recovered:false exactly once
                # and is gap-free before and after.
                assert check_stream(into, symbol) == 1
            await ws.send('{"type": "ping"}')
            assert (await recv_type(ws, "pong"))["type"] == "pong"
        # The nodes and the feed are back in Redis (heartbeats rewritten).
        await asyncio.to_thread(wait_until, lambda: healthy(deployment.a), 30, "health")
        _, body = get_json(deployment.b.url + "/realtime/status/", _staff_token(deployment.a.env))
        assert body["node_count"] == 2 and body["broker"]["connected"] is True
    finally:
        for ws, _ in clients:
            await ws.close()
