"""A dispatcher process killed (SIGKILL) while it retries loses nothing: the next one
delivers the event, with the same idempotency key.

The dispatchers are real processes on a file SQLite database (one at a time, as SQLite
needs); the rows are written with ``outbox.commit`` by another process first.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.servers import free_port, wait_until

from .receivers import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
SECRET = "restart-secret"

SEED = textwrap.dedent(
    """
    import sys, time, django
    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model
    from tickwire.alerts import outbox
    from tickwire.alerts.models import AlertRule, AlertSettings
    from tickwire.alerts.rules import engine_rule, rule_meta
    from tickwire.assets.models import Asset
    from tickwire.stream.alerts import AlertEngine, Observation
    user = get_user_model().objects.create_user("ann", "ann@example.com", "pw")
    AlertSettings.objects.create(user=user, webhook_url=sys.argv[1], webhook_secret=sys.argv[2])
    asset = Asset.objects.create(symbol="AAPL", name="Apple", current_price=190)
    rule = AlertRule.objects.create(owner=user, name="AAPL over 200", asset=asset,
        condition={"kind": "above", "level": "200"}, channels=["webhook"])
    engine = AlertEngine([engine_rule(rule)])
    [fire] = engine.observe(Observation.asset("AAPL", "201", at=time.time()))
    [event] = outbox.commit([(rule_meta(rule), fire)], {})
    print(event.key, flush=True)
    """
)

RUN = textwrap.dedent(
    """
    import asyncio, django
    django.setup()
    from tickwire.alerts.delivery import Dispatcher

    async def nowhere(channel, body):
        return None

    async def main():
        dispatcher = Dispatcher(nowhere, poll=0.05)
        dispatcher.start()
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


@pytest.fixture
def env(tmp_path):
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tickwire.settings.test",
        "TICKWIRE_HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'alerts.sqlite3'}",
        "TICKWIRE_ALERT_RETRY_BASE_SECONDS": "0.05",
        "TICKWIRE_ALERT_RETRY_MAX_SECONDS": "0.2",
        "TICKWIRE_ALERT_RETRY_FOR_SECONDS": "120",
        "TICKWIRE_ALERT_DELIVERY_TIMEOUT": "2",
    }


def row(tmp_path):
    with sqlite3.connect(tmp_path / "alerts.sqlite3") as db:
        return db.execute(
            "SELECT status, attempts, last_error FROM alerts_alertdelivery"
        ).fetchone()


def dispatcher(env):
    return subprocess.Popen([sys.executable, "-c", RUN], env=env, cwd=ROOT, start_new_session=True)


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        os.kill(proc.pid, sig)
    proc.wait(timeout=10)


def test_a_dispatcher_killed_mid_retry_loses_nothing(tmp_path, env):
    port = free_port()  # the receiver is down when the event fires
    seeded = subprocess.run(
        [sys.executable, "-c", SEED, f"http://127.0.0.1:{port}/hook", SECRET],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    key = seeded.stdout.strip()
    first = dispatcher(env)
    try:
        wait_until(lambda: row(tmp_path)[1] >= 3, timeout=60, what="three failed attempts")
    finally:
        stop(first, signal.SIGKILL)
    status, attempts, last_error = row(tmp_path)
    assert status == "pending" and "ConnectError" in last_error
    receiver = WebhookReceiver(SECRET, port=port)
    second = dispatcher(env)
    try:
        wait_until(lambda: receiver.received, timeout=60, what="the event at the receiver")
        wait_until(lambda: row(tmp_path)[0] == "delivered", timeout=30, what="delivered")
    finally:
        stop(second)
        receiver.close()
    [got] = receiver.received
    assert got.signed
    assert got.headers["Idempotency-Key"] == got.headers["X-Tickwire-Event-Id"] == key
    assert int(got.headers["X-Tickwire-Delivery-Attempt"]) > attempts
    assert row(tmp_path)[:2] == ("delivered", int(got.headers["X-Tickwire-Delivery-Attempt"]))
