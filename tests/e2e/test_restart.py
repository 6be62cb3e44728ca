"""Nothing is lost when the embedded server restarts: users, passwords, positions, prices
and bars are user data once the demo has been loaded (once, into a fresh database)."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from datetime import datetime
from decimal import Decimal

import pytest

from tests.cli.helpers import SCRIPT
from tests.servers import ROOT, ServerProcess

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "restart-Password-123"


def call(url, method="GET", body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def token_for(srv, password):
    return call(f"{srv.url}/api/auth/token/", "POST", {"username": "demo", "password": password})


def demo_position(srv, token, symbol):
    status, portfolios = call(f"{srv.url}/api/portfolios/", token=token)
    assert status == 200, portfolios
    (portfolio,) = [p for p in portfolios["results"] if p["name"] == "Demo Portfolio"]
    url = f"{srv.url}/api/portfolios/{portfolio['id']}/positions/"
    status, positions = call(url, token=token)
    assert status == 200, positions
    rows = positions["results"] if isinstance(positions, dict) else positions
    (row,) = [p for p in rows if p["symbol"] == symbol]
    return f"{url}{row['id']}/", row


def test_a_restart_keeps_positions_passwords_prices_and_bars(tmp_path):
    # Its own SQLite database, even in the PostgreSQL pass: this test changes demo data.
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "TICKWIRE_HOME": str(tmp_path)}
    first = ServerProcess(tmp_path, env=env).start()
    started = datetime.now().astimezone()
    try:
        status, body = token_for(first, "demo")
        assert status == 200, body
        token = body["token"]
        position_url, row = demo_position(first, token, "AAPL")
        assert Decimal(row["quantity"]) == Decimal("10")  # the demo quantity
        status, body = call(position_url, "PATCH", {"quantity": "42"}, token=token)
        assert status == 200, body
        script = (
            "from django.contrib.auth import get_user_model\n"
            "user = get_user_model().objects.get(username='demo')\n"
            f"user.set_password({NEW_PASSWORD!r})\n"
            "user.save()\n"
        )
        subprocess.run([str(SCRIPT), "manage", "shell", "-c", script], cwd=ROOT,
                       env=first.env, check=True, timeout=60)  # fmt: skip
    finally:
        first.stop()  # SIGTERM: the feed writes its last quotes and bars

    # No feed this time, so the prices read are exactly those the first run left.
    second = ServerProcess(tmp_path, env={**env, "TICKWIRE_FEED_IN_PROCESS": "0"}, port=first.port)
    second.start(wait_healthy=False)
    try:
        assert token_for(second, "demo")[0] == 400  # the demo password stayed changed
        status, body = token_for(second, NEW_PASSWORD)
        assert status == 200, body
        _, row = demo_position(second, body["token"], "AAPL")
        assert Decimal(row["quantity"]) == Decimal("42")
        status, asset = call(f"{second.url}/api/assets/AAPL/")
        assert status == 200, asset
        # The simulated walk moved the price away from the demo's seed quote, and the
        # restart did not put the seed back.
        assert Decimal(str(asset["price"])) != Decimal("268.40"), asset
        status, bars = call(f"{second.url}/api/assets/AAPL/bars/?interval=1m")
        assert status == 200, bars
        # The demo history ends where the first run's live minutes begin; the last bar is
        # one the feed wrote while running or on its way out, and closes at the last price.
        last = bars["bars"][-1]
        assert datetime.fromisoformat(last["start"]) >= started.replace(second=0, microsecond=0), (
            "the first run's bars are gone"
        )
        assert Decimal(str(last["close"])) == Decimal(str(asset["price"])), (last, asset)
    finally:
        second.stop()
