"""PostgreSQL stopped under a running server, then started again: honest answers while it
is down, and nothing the feed accepted lost once it is back."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

from tests.infra import PostgresServer
from tests.servers import ServerProcess

pytestmark = pytest.mark.e2e


def get(url: str) -> tuple[int, dict[str, str], dict]:
    """Status, headers (lower-case names) and JSON body."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, json.loads(r.read())
    except urllib.error.HTTPError as e:
        headers = {k.lower(): v for k, v in e.headers.items()}
        return e.code, headers, json.loads(e.read() or b"{}")


def poll(check, rounds: int = 300, pause: float = 0.1):
    """Call ``check`` until it returns something truthy (bounded); return the last value."""
    value = None
    for _ in range(rounds):
        value = check()
        if value:
            return value
        time.sleep(pause)
    return value


@pytest.fixture
def postgres():
    workdir = Path(tempfile.mkdtemp(prefix="tickwire-pgfault-"))
    srv = PostgresServer(workdir)
    try:
        yield srv.start()
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_postgres_down_is_503_and_the_feeds_writes_resume_when_it_is_back(postgres, tmp_path):
    url = postgres.create_database("faults")
    server = ServerProcess(
        tmp_path, env={"DATABASE_URL": url, "TICKWIRE_RETRY_AFTER_SECONDS": "3"}
    ).start()
    try:
        assert get(server.url + "/api/assets/AAPL/")[0] == 200
        postgres.stop()

        def refused():
            status, headers, body = get(server.url + "/api/assets/AAPL/")
            return (status, headers, body) if status != 200 else None

        status, headers, body = poll(refused)
        assert status == 503 and headers.get("retry-after") == "3", (status, headers, body)
        assert body["code"] == "database_unavailable"
        status, _, health = get(server.url + "/realtime/health/")
        assert status == 503 and "database" in health["failing"]
        assert health["price_feed_running"] is True  # the stream goes on without it
        back_at = time.time()
        postgres.launch()

        def persisted_after_restart():
            status, _, asset = get(server.url + "/api/assets/AAPL/")
            if status != 200 or not asset.get("last_updated"):
                return None
            stored = datetime.fromisoformat(asset["last_updated"].replace("Z", "+00:00"))
            return asset if stored.timestamp() > back_at else None

        # The feed's writes failed while the database was down and were kept; the same
        # connection is not reused, so they go through once it answers again.
        assert poll(persisted_after_restart), server.log()
        status, _, health = get(server.url + "/realtime/health/")
        assert status == 200 and health["failing"] == []
    finally:
        server.stop()
