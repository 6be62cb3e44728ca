"""Operating a real server process: /metrics as Prometheus reads it (and the Grafana
dashboard's queries against it), the probes, and LOG_FORMAT=json with secrets kept out."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from tests.servers import ROOT

pytestmark = pytest.mark.e2e

DASHBOARD = ROOT / "deploy" / "grafana" / "tickwire-dashboard.json"


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def scrape(base: str, headers: dict[str, str] | None = None) -> dict[str, list]:
    status, body = fetch(base + "/metrics", headers)
    assert status == 200, body
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


async def one_session(ws_url: str, *messages: dict) -> list[dict]:
    got = []
    async with connect(ws_url) as ws:
        got.append(json.loads(await ws.recv()))
        for message in messages:
            await ws.send(json.dumps(message))
            got.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
    return got


def dashboard_metrics() -> set[str]:
    """Every metric name a query of the shipped Grafana dashboard reads."""
    exprs = [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]
    assert exprs
    return {name for e in exprs for name in re.findall(r"\b((?:tickwire|process)_\w+)\{", e)}


async def test_metrics_cover_the_dashboard_and_count_what_happened(server):
    async with connect(server.ws_url) as ws:
        await ws.send(json.dumps({"type": "subscribe_asset", "data": {"symbol": "AAPL"}}))
        seqs = set()
        while len(seqs) < 3:  # the snapshot, then live updates fanned out by the hub
            msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if msg["type"] == "asset_update":
                seqs.add(msg["seq"])

    def closed_normally(samples):
        return any(s.labels["code"] == "1000" for s in samples.get("tickwire_closes_total", []))

    for _ in range(50):  # the server counts the close when it has processed it
        samples = await asyncio.to_thread(scrape, server.url)
        if closed_normally(samples):
            break
        await asyncio.sleep(0.1)
    missing = dashboard_metrics() - set(samples)
    assert not missing, f"the dashboard queries metrics /metrics does not have: {missing}"
    # The in-process simulator feeds, and the session above closed normally.
    assert [s.labels["source"] for s in samples["tickwire_feed_source_up"]] == ["simulator"]
    assert samples["tickwire_feed_source_up"][0].value == 1
    assert samples["tickwire_feed_ticks_total"][0].value > 0
    assert closed_normally(samples)
    assert samples["tickwire_updates_delivered_total"][0].value >= 1


async def test_probes_of_a_running_server(server):
    assert fetch(server.url + "/realtime/live/") == (200, b'{"status": "alive"}')
    status, body = fetch(server.url + "/realtime/ready/")
    assert status == 200 and json.loads(body)["checks"]["broker"] == "ok"


def test_metrics_by_bearer_token_when_no_address_is_allowed(make_server):
    srv = make_server(
        env={"TICKWIRE_METRICS_ALLOW": "", "TICKWIRE_METRICS_TOKEN": "m3trics-t0ken-for-tests"}
    )
    status, body = fetch(srv.url + "/metrics")
    assert status == 403 and b"TICKWIRE_METRICS_TOKEN" in body
    samples = scrape(srv.url, {"Authorization": "Bearer m3trics-t0ken-for-tests"})
    assert "tickwire_connections" in samples


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_json_logs_every_line_and_no_secret(make_server):
    api_key = "fh-api-key-5ecret-0123456789"
    bad_token = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    query_token = "qs-token-5ecret-abcdef"
    srv = make_server(
        env={
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "DEBUG",
            # A Finnhub feed whose server is down: its URL (with the key) is retried.
            "TICKWIRE_FEED_SOURCE": "finnhub",
            "TICKWIRE_FEED_API_KEY": api_key,
            "TICKWIRE_FEED_URL": f"ws://127.0.0.1:{closed_port()}/",
        },
        wait_healthy=False,
    )
    got = await one_session(
        srv.ws_url, {"type": "authenticate", "data": {"token": bad_token}, "id": 1}
    )
    assert got[-1]["data"]["code"] == "authentication_failed"
    fetch(f"{srv.url}/realtime/status/?token={query_token}")
    fetch(srv.url + "/api/portfolios/", {"Authorization": f"Token {bad_token}"})
    srv.stop()  # the shutdown lines too
    text = Path(srv.log_path).read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    for secret in (api_key, bad_token, query_token):
        assert secret not in text
    messages = [r["message"] for r in records]
    assert any(m.startswith("Tickwire on http://") for m in messages)  # the banner
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any(r["path"].startswith("/realtime/status/?token=") for r in access)
    events = [r for r in records if r["logger"] == "tickwire.realtime.consumer"]
    assert {r["message"].split(":")[0] for r in events} >= {
        "websocket opened",
        "authenticate failed",
        "websocket closed",
    }
    assert all("connection_id" in r and "user_id" in r for r in events)
    assert any("finnhub" in m for m in messages)  # the feed did log its failures
