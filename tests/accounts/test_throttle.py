"""Password guessing throttled per account and per address, on every sign-in form."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.servers import ROOT
from tickwire.accounts.throttle import blocked_for, record_failure

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"


@pytest.fixture(autouse=True)
def limits(settings):
    settings.TICKWIRE_LOGIN_FAILURES_PER_ACCOUNT = 5
    settings.TICKWIRE_LOGIN_FAILURES_PER_ADDRESS = 20
    settings.TICKWIRE_LOGIN_WINDOW_SECONDS = 300


@pytest.fixture
def alice():
    get_user_model().objects.create_user("bob", password="bob-pass-123")
    return get_user_model().objects.create_user("alice", password="s3cret-pass")


def token(client, username, password, address="10.0.0.1"):
    return client.post(
        TOKEN,
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
    )


def assert_throttled(response):
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 300


def test_the_token_endpoint_refuses_even_the_right_password_after_five_failures(alice):
    client = Client()
    for _ in range(5):
        assert token(client, "alice", "guess").status_code == 400
    response = token(client, "alice", "s3cret-pass")
    assert_throttled(response)
    assert response.json()["code"] == "throttled"
    # Per account: from another address too. Another account is not affected.
    assert_throttled(token(client, "ALICE", "s3cret-pass", address="10.9.9.9"))
    assert token(client, "bob", "bob-pass-123").status_code == 200


def test_one_address_guessing_across_accounts_is_throttled(alice):
    client = Client()
    for i in range(20):
        assert token(client, f"user{i}", "guess", address="10.0.0.7").status_code == 400
    assert_throttled(token(client, "alice", "s3cret-pass", address="10.0.0.7"))
    assert token(client, "alice", "s3cret-pass", address="10.0.0.8").status_code == 200


def test_the_login_page_is_throttled(alice):
    client = Client()
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "alice", "password": "x"})
        assert response.status_code == 200  # the form again, with its error
    response = client.post("/accounts/login/", {"username": "alice", "password": "s3cret-pass"})
    assert_throttled(response)
    assert "_auth_user_id" not in client.session


def test_the_admin_login_is_throttled():
    get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-123")
    client = Client()
    for _ in range(5):
        response = client.post("/admin/login/", {"username": "root", "password": "x"})
        assert response.status_code == 200
    assert_throttled(
        client.post("/admin/login/", {"username": "root", "password": "root-pass-123"})
    )


def test_the_window_ending_lifts_the_throttle(alice, settings, monkeypatch):
    import tickwire.accounts.throttle as throttle

    now = [1_000_000.0]
    monkeypatch.setattr(throttle.time, "time", lambda: now[0])
    for _ in range(5):
        record_failure("alice", "10.0.0.1")
    assert blocked_for("alice", "10.0.0.1") == 200.0  # the 300 s window ends at 1_000_200
    now[0] += 200
    assert blocked_for("alice", "10.0.0.1") == 0.0


def test_scaled_out_failures_counted_on_one_node_throttle_every_node(redis_server):
    """Two processes with the same Redis broker URL: one records, the other refuses."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tickwire.settings.local",
        "TICKWIRE_BROKER_URL": redis_server.url,
        "TICKWIRE_REDIS_PREFIX": "throttle-test",
        "TICKWIRE_LOGIN_FAILURES_PER_ACCOUNT": "3",
    }
    prelude = "import django; django.setup()\nfrom tickwire.accounts import throttle\n"

    def node(code):
        out = subprocess.run(
            [sys.executable, "-c", prelude + code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert node("print(throttle.blocked_for('carol', '10.1.1.1'))") == "0.0"
    node("for _ in range(3): throttle.record_failure('carol', '10.2.2.2')")
    assert float(node("print(throttle.blocked_for('carol', '10.1.1.1'))")) > 0
    backend = node("from django.conf import settings; print(settings.CACHES['default']['BACKEND'])")
    assert backend.endswith("RedisCache")
