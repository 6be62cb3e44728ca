"""Server-side alerts in a real server: a rule stored before the server starts fires on
the server's own feed.

``python -m tickwire.serve`` (the embedded default: memory broker, the feed and the alert
evaluator in the server) on a fresh TICKWIRE_HOME, its feed a looping replay that takes
AAPL from 195 up through 205 and back. The rule is written with the ORM by
``tickwire manage shell`` (as an operator would) while the server is down; the events
are read back the same way, and /metrics shows what the evaluator counted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra import FeedProcess, RedisServer
from tests.realtime.prometheus import samples
from tests.servers import ROOT, ServerProcess, wait_until

pytestmark = pytest.mark.e2e

TICKWIRE = Path(sys.executable).parent / "tickwire"

CREATE_RULE = """
from django.contrib.auth import get_user_model
from tickwire.alerts.models import AlertRule
from tickwire.assets.models import Asset
owner = get_user_model().objects.create_user("alert-owner", "owner@example.com", "pw")
rule = AlertRule.objects.create(
    owner=owner, name="AAPL over 200", asset=Asset.objects.get(symbol="AAPL"),
    condition={"kind": "above", "level": "200"},
)
print(rule.pk)
"""

READ_EVENTS = """
import json
from tickwire.alerts.models import AlertEvent
print(json.dumps([
    {"rule": e.rule_id, "name": e.name, "kind": e.fire["kind"], "value": e.fire["value"],
     "message": e.message, "channels": [d.channel for d in e.deliveries.all()]}
    for e in AlertEvent.objects.order_by("fired_at", "id")
]))
"""


@pytest.fixture
def home(request) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tw-", dir="/tmp"))
    if os.environ.get("TICKWIRE_TEST_DATABASE") == "postgres":
        # Not the e2e session's shared database: this test owns its rules and events.
        pg = request.getfixturevalue("postgres_server")
        url = pg.create_database("tickwire_alerts_" + path.name[3:].lower().replace("-", "_"))
    else:
        url = f"sqlite:///{path / 'db.sqlite3'}"
    (path / ".env").write_text(f"DATABASE_URL={url}\n")
    prices = [195 + i for i in range(11)] + [205 - i for i in range(1, 10)]
    (path / "feed.csv").write_text(
        "symbol,price,volume,ts\n"
        + "".join(f"AAPL,{p},1,{1764489600 + i * 0.1:.1f}\n" for i, p in enumerate(prices))
    )
    yield path
    shutil.rmtree(path, ignore_errors=True)


def manage_shell(server: ServerProcess, code: str) -> str:
    proc = subprocess.run(
        [str(TICKWIRE), "manage", "shell", "-c", code],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def metrics(server: ServerProcess) -> dict[str, float]:
    with urllib.request.urlopen(server.url + "/metrics", timeout=5) as r:
        found = samples(r.read())
    return {name: value for (name, labels), value in found.items() if not labels}


def test_a_rule_stored_before_start_fires_on_the_servers_feed(home):
    database = (home / ".env").read_text().strip().removeprefix("DATABASE_URL=")
    server = ServerProcess(
        home,
        env={
            "DATABASE_URL": database,
            "TICKWIRE_FEED_SOURCE": "replay",
            "TICKWIRE_FEED_FILE": str(home / "feed.csv"),
            "TICKWIRE_FEED_LOOP": "true",
        },
    )
    server.start()  # migrates and loads the demo assets
    server.stop()
    rule_id = int(manage_shell(server, CREATE_RULE))
    server.start()
    try:
        wait_until(
            lambda: metrics(server).get("tickwire_alert_fires_total", 0) >= 1,
            60,
            "a fire counted in /metrics",
        )
        assert metrics(server)["tickwire_alert_rules"] == 1
        events = wait_until(
            lambda: json.loads(manage_shell(server, READ_EVENTS)), 60, "the events stored"
        )
    finally:
        server.stop()
    assert events, server.log()
    first = events[0]
    assert first["rule"] == rule_id and first["name"] == "AAPL over 200"
    assert first["kind"] == "above" and float(first["value"]) > 200
    assert first["message"].startswith("AAPL at ") and "is above 200" in first["message"]
    assert first["channels"] == ["websocket"]
    # Each pass of the looping file fires once, at its first price above 200 (the rule
    # re-arms on the way down), never at a later one.
    values = [float(e["value"]) for e in events]
    assert values == [201.0] * len(values), values


def test_scaled_out_the_feed_process_evaluates_a_rule_created_while_it_runs(home):
    """Redis, a server node and ``start_price_feed``: the rule is written by another
    process while both run, announced through Redis, evaluated by the feed process only,
    and the node's /metrics shows the feed process's evaluator (its heartbeat)."""
    database = (home / ".env").read_text().strip().removeprefix("DATABASE_URL=")
    redis = RedisServer(home).start()
    env = {
        "DATABASE_URL": database,
        "TICKWIRE_BROKER_URL": redis.url,
        "TICKWIRE_REDIS_PREFIX": "alerts",
        "TICKWIRE_NODE_HEARTBEAT_SECONDS": "0.2",
        "TICKWIRE_NODE_TIMEOUT_SECONDS": "2",
        "TICKWIRE_FEED_SOURCE": "replay",
        "TICKWIRE_FEED_FILE": str(home / "feed.csv"),
        "TICKWIRE_FEED_LOOP": "true",
    }
    node = ServerProcess(home, env=env)
    feed = FeedProcess(home, node.env)
    try:
        node.start(wait_healthy=False)  # migrates and loads the demo assets
        feed.start()
        wait_until(lambda: metrics(node).get("tickwire_alert_rules") == 0, 60, "the evaluator")
        rule_id = int(manage_shell(node, CREATE_RULE))
        wait_until(
            lambda: metrics(node).get("tickwire_alert_fires_total", 0) >= 1,
            60,
            "a fire counted by the feed process",
        )
        assert metrics(node)["tickwire_alert_rules"] == 1
        events = wait_until(
            lambda: json.loads(manage_shell(node, READ_EVENTS)), 60, "the events stored"
        )
    finally:
        feed.stop()
        node.stop()
        redis.stop()
    assert events and {e["rule"] for e in events} == {rule_id}, feed.log()
    # The first fire comes at the first price above 200 the new rule sees (wherever the
    # loop was when it arrived); every later pass fires at 201.
    values = [float(e["value"]) for e in events]
    assert values[0] > 200 and values[1:] == [201.0] * (len(values) - 1), values
    # The feed process's evaluator started before the rule existed.
    assert "alert evaluator watching 0 rules" in feed.log_path.read_text(errors="replace")
