"""Alerts scaled out: two server nodes and one evaluator on Redis, each alert delivered once
per channel.

Every part is its own OS process or a real server on a loopback port: redis-server, two
``python -m tickwire.serve`` nodes, ``start_price_feed`` (the cluster's one evaluator and
delivery dispatcher) replaying a file that takes AAPL up through 205 and back, a webhook
receiver that checks the signature as docs/alerts.md says, and an SMTP server (aiosmtpd).
The owner has three sockets, two on one node and one on the other; the rule is created
through the REST API of one node while everything runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.alerts.receivers import SmtpReceiver, WebhookReceiver
from tests.e2e.test_alerts import manage_shell, metrics
from tests.infra import FeedProcess, RedisServer
from tests.realtime.prometheus import samples
from tests.servers import ServerProcess, wait_until

pytestmark = pytest.mark.e2e

SECRET = "b" * 64

OWNER = """
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from tickwire.alerts.models import AlertSettings
owner = get_user_model().objects.create_user("carol", "carol@example.com", "pw")
AlertSettings.objects.create(user=owner, webhook_url={url!r}, webhook_secret={secret!r})
print(Token.objects.create(user=owner).key)
"""


@pytest.fixture
def home(request) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tw-", dir="/tmp"))
    if os.environ.get("TICKWIRE_TEST_DATABASE") == "postgres":
        # Its own database: this test owns its user, rules and events.
        pg = request.getfixturevalue("postgres_server")
        url = pg.create_database("tickwire_cluster_" + path.name[3:].lower().replace("-", "_"))
    else:
        url = f"sqlite:///{path / 'db.sqlite3'}"
    (path / "database-url").write_text(url)
    prices = [195 + i for i in range(11)] + [205 - i for i in range(1, 10)]
    (path / "feed.csv").write_text(
        "symbol,price,volume,ts\n"
        + "".join(f"AAPL,{p},1,{1764489600 + i * 0.1:.1f}\n" for i, p in enumerate(prices))
    )
    yield path
    shutil.rmtree(path, ignore_errors=True)


def api(server: ServerProcess, method: str, path: str, token: str, body: dict | None = None):
    request = urllib.request.Request(
        server.url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def delivery_count(server: ServerProcess, channel: str) -> float:
    with urllib.request.urlopen(server.url + "/metrics", timeout=5) as r:
        found = samples(r.read())
    labels = (("channel", channel), ("result", "delivered"))
    return found.get(("tickwire_alert_deliveries_total", labels), 0)


async def alerts_on(sockets, until: float) -> list[list[dict]]:
    """Every alert message each socket receives until ``until`` (loop time)."""
    got: list[list[dict]] = [[] for _ in sockets]

    async def read(i: int, ws) -> None:
        loop = asyncio.get_running_loop()
        while (left := until - loop.time()) > 0:
            try:
                frame = await asyncio.wait_for(ws.recv(), left)
            except TimeoutError:
                return
            message = json.loads(frame)
            if message["type"] == "alert":
                got[i].append(message)

    await asyncio.gather(*(read(i, ws) for i, ws in enumerate(sockets)))
    return got


async def test_two_nodes_one_evaluator_each_alert_once_per_channel(home):
    redis = RedisServer(home).start()
    hook = WebhookReceiver(SECRET)
    smtp = SmtpReceiver()
    env = {
        "DATABASE_URL": (home / "database-url").read_text(),
        "TICKWIRE_BROKER_URL": redis.url,
        "TICKWIRE_REDIS_PREFIX": "alerts-cluster",
        "TICKWIRE_NODE_HEARTBEAT_SECONDS": "0.2",
        "TICKWIRE_NODE_TIMEOUT_SECONDS": "2",
        "TICKWIRE_FEED_SOURCE": "replay",
        "TICKWIRE_FEED_FILE": str(home / "feed.csv"),
        "TICKWIRE_FEED_LOOP": "true",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "TICKWIRE_ALERT_RETRY_BASE_SECONDS": "0.2",
    }
    a = ServerProcess(home, env=env)
    b = ServerProcess(home, env=env)
    feed = FeedProcess(home, a.env)
    try:
        a.start(wait_healthy=False)  # migrates and loads the demo assets
        b.start(wait_healthy=False)
        token = manage_shell(a, OWNER.format(url=hook.url, secret=SECRET))
        feed.start()
        wait_until(lambda: metrics(a).get("tickwire_alert_rules") == 0, 60, "the evaluator")
        headers = {"Authorization": f"Token {token}"}
        sockets = [await connect(node.ws_url, additional_headers=headers) for node in (a, a, b)]
        for ws in sockets:
            assert json.loads(await ws.recv())["data"]["authenticated"] is True
        status, rule = api(
            b,
            "POST",
            "/api/alerts/",
            token,
            {
                "name": "AAPL over 200",
                "asset": "AAPL",
                "condition": {"kind": "above", "level": "200"},
                "one_shot": True,
                "channels": ["websocket", "email", "webhook"],
            },
        )
        assert status == 201, rule
        loop = asyncio.get_running_loop()
        # The file loops every 2 s, so a one-shot rule fires once in the first pass that
        # crosses 200; the wait goes on well past it, so a second delivery would be seen.
        received = await alerts_on(sockets, loop.time() + 12)
        for ws in sockets:
            await ws.close()
        events = wait_until(
            lambda: (
                (r := api(a, "GET", "/api/alerts/events/", token)[1]["results"])
                and all(d["status"] == "delivered" for d in r[0]["deliveries"])
                and r
            ),
            30,
            "every delivery of the event done",
        )
        # The dispatcher runs in the feed process; a node's /metrics shows its counts
        # (from the feed's heartbeat), as an operator scrapes them.
        wait_until(
            lambda: all(
                delivery_count(a, channel) == 1 for channel in ("websocket", "email", "webhook")
            ),
            30,
            "the feed process's deliveries in a node's /metrics",
        )
    finally:
        feed.stop()
        a.stop()
        b.stop()
        redis.stop()
        hook.close()
        smtp.close()
    # One event: a second evaluator (on a node) would have fired the one-shot rule again.
    [event] = events
    assert event["rule_id"] == rule["id"] and event["kind"] == "above"
    assert float(event["value"]) > 200
    assert {d["channel"]: d["attempts"] for d in event["deliveries"]} == {
        "websocket": 1,
        "email": 1,
        "webhook": 1,
    }
    # Each of the owner's three sockets, on both nodes, got the alert exactly once.
    assert [len(r) for r in received] == [1, 1, 1], received
    assert {m["data"]["event_id"] for r in received for m in r} == {event["event_id"]}
    assert received[2][0]["data"]["message"] == event["message"]
    # One signed webhook and one email, with the same idempotency key.
    [post] = hook.received
    assert post.signed and post.headers["Idempotency-Key"] == event["event_id"]
    assert json.loads(post.body)["data"]["event_id"] == event["event_id"]
    [(_, recipients, mail)] = smtp.messages
    assert recipients == ["carol@example.com"]
    assert mail["X-Tickwire-Event-Id"] == event["event_id"]
