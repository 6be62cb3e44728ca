"""REST API: tokens, owner-only CRUD of portfolios and positions, clear 400s, schema."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tickwire.portfolios.demo import load_demo_data
from tickwire.portfolios.models import Portfolio, Position

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    load_demo_data()
    return Portfolio.objects.get(owner__username="demo")


def token_client(username: str, password: str = "pw") -> APIClient:
    client = APIClient()
    r = client.post("/api/auth/token/", {"username": username, "password": password}, format="json")
    assert r.status_code == 200, r.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {r.json()['token']}")
    return client


@pytest.fixture
def alice() -> APIClient:
    get_user_model().objects.create_user("alice", password="pw")
    return token_client("alice")


def test_token_is_issued_for_valid_credentials_only(demo):
    client = APIClient()
    r = client.post("/api/auth/token/", {"username": "demo", "password": "demo"}, format="json")
    assert r.status_code == 200 and set(r.json()) == {"token"}
    again = client.post("/api/auth/token/", {"username": "demo", "password": "demo"})
    assert again.json()["token"] == r.json()["token"]  # form-encoded works too; same token
    bad = client.post("/api/auth/token/", {"username": "demo", "password": "nope"}, format="json")
    assert bad.status_code == 400 and "Unable to log in" in str(bad.json())
    missing = client.post("/api/auth/token/", {}, format="json")
    assert missing.status_code == 400 and set(missing.json()) == {"username", "password"}


def test_token_can_be_revoked(demo):
    client = token_client("demo", "demo")
    assert client.get("/api/portfolios/").status_code == 200
    assert client.delete("/api/auth/token/").status_code == 204
    assert not Token.objects.filter(user__username="demo").exists()
    assert client.get("/api/portfolios/").status_code == 401


def test_anonymous_and_bad_tokens_are_refused(demo):
    assert APIClient().get("/api/portfolios/").status_code in (401, 403)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0000")
    assert client.get("/api/portfolios/").status_code == 401


def test_detail_has_positions_with_live_price_and_value(demo):
    client = token_client("demo", "demo")
    listing = client.get("/api/portfolios/").json()
    assert listing["count"] == 1
    item = listing["results"][0]
    assert item["name"] == "Demo Portfolio" and item["position_count"] == 5
    detail = client.get(f"/api/portfolios/{item['id']}/").json()
    assert detail["status"] == "ok" and detail["currency"] == "USD"
    by_symbol = {p["symbol"]: p for p in detail["positions"]}
    assert set(by_symbol) == {"AAPL", "MSFT", "NVDA", "SPY", "BTC-USD"}
    aapl = by_symbol["AAPL"]
    assert Decimal(aapl["quantity"]) == 10 and Decimal(aapl["average_cost"]) == Decimal("189.5")
    assert Decimal(aapl["price"]) == Decimal("268.40") and aapl["value"] == "2684.00"
    total = sum(Decimal(p["value"]) for p in detail["positions"])
    assert abs(Decimal(detail["total_value"]) - total) <= Decimal("0.05")


def test_other_users_portfolio_is_404_like_a_missing_one(demo, alice):
    for url in (
        f"/api/portfolios/{demo.pk}/",
        f"/api/portfolios/{demo.pk}/positions/",
        "/api/portfolios/999999/",
    ):
        r = alice.get(url)
        assert r.status_code == 404, url
    assert alice.get("/api/portfolios/").json()["count"] == 0
    assert alice.delete(f"/api/portfolios/{demo.pk}/").status_code == 404
    r = alice.post(f"/api/portfolios/{demo.pk}/positions/", {"symbol": "AAPL", "quantity": "1"})
    assert r.status_code == 404
    assert Portfolio.objects.filter(pk=demo.pk).exists()


def test_portfolio_crud_and_validation(demo, alice):
    r = alice.post("/api/portfolios/", {"name": "Euro", "currency": "eur"}, format="json")
    assert r.status_code == 201, r.content
    pid = r.json()["id"]
    assert r.json()["currency"] == "EUR" and r.json()["positions"] == []
    dup = alice.post("/api/portfolios/", {"name": "Euro"}, format="json")
    assert dup.status_code == 400 and "already have a portfolio" in dup.json()["name"][0]
    bad = alice.post("/api/portfolios/", {"name": "X", "currency": "EURO"}, format="json")
    assert bad.status_code == 400 and "currency" in bad.json()
    r = alice.patch(f"/api/portfolios/{pid}/", {"name": "Euro 2"}, format="json")
    assert r.status_code == 200 and r.json()["name"] == "Euro 2"
    assert alice.delete(f"/api/portfolios/{pid}/").status_code == 204
    assert alice.get(f"/api/portfolios/{pid}/").status_code == 404


def test_position_crud_and_clear_400s(alice):
    load_demo_data()
    pid = alice.post("/api/portfolios/", {"name": "P"}, format="json").json()["id"]
    url = f"/api/portfolios/{pid}/positions/"
    r = alice.post(url, {"symbol": "aapl", "quantity": "2", "average_cost": "100"}, format="json")
    assert r.status_code == 201, r.content
    created = r.json()
    assert created["symbol"] == "AAPL" and created["value"] == "536.80"
    cases = [
        ({"symbol": "AAPL", "quantity": "-1"}, "quantity", "greater than zero"),
        ({"symbol": "AAPL", "quantity": "0"}, "quantity", "greater than zero"),
        ({"symbol": "NOPE", "quantity": "1"}, "symbol", "Unknown symbol 'NOPE'"),
        # Not SPY through Unicode case mapping (long s upper-cases to S).
        ({"symbol": "\u017fpy", "quantity": "1"}, "symbol", "Unknown symbol"),
        ({"symbol": "AAPL", "quantity": "1"}, "symbol", "already holds AAPL"),
        ({"symbol": "MSFT", "quantity": "1", "average_cost": "-5"}, "average_cost", "negative"),
        ({"symbol": "MSFT", "quantity": "abc"}, "quantity", "valid number"),
        ({"quantity": "1"}, "symbol", "required"),
    ]
    for body, field, text in cases:
        r = alice.post(url, body, format="json")
        assert r.status_code == 400, body
        assert text in " ".join(r.json()[field]), (body, r.json())
    assert Position.objects.filter(portfolio_id=pid).count() == 1
    purl = f"{url}{created['id']}/"
    r = alice.patch(purl, {"quantity": "3"}, format="json")
    assert r.status_code == 200 and r.json()["value"] == "805.20"
    r = alice.patch(purl, {"quantity": "-3"}, format="json")
    assert r.status_code == 400
    r = alice.put(purl, {"symbol": "MSFT", "quantity": "1", "average_cost": "1"}, format="json")
    assert r.status_code == 200 and r.json()["symbol"] == "MSFT"
    assert alice.delete(purl).status_code == 204
    assert alice.get(url).json()["count"] == 0


def test_session_auth_needs_csrf_for_writes(demo):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="demo", password="demo")
    assert client.get("/api/portfolios/").status_code == 200
    r = client.post("/api/portfolios/", {"name": "New"}, format="json")
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]


def test_foreign_currency_position_without_fx_rate_is_an_error_state(alice):
    load_demo_data()
    pid = alice.post("/api/portfolios/", {"name": "CHF", "currency": "CHF"}, format="json")
    pid = pid.json()["id"]
    alice.post(f"/api/portfolios/{pid}/positions/", {"symbol": "AAPL", "quantity": "1"})
    detail = alice.get(f"/api/portfolios/{pid}/").json()
    assert detail["status"] == "error" and detail["total_value"] is None
    assert detail["errors"][0]["code"] == "fx_rate_unavailable"
    assert detail["positions"][0]["error"]["code"] == "fx_rate_unavailable"


def test_schema_and_docs_pages(demo):
    client = APIClient()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/portfolios/", "/api/portfolios/{id}/", "/api/auth/token/"} <= set(paths)
    assert "/api/portfolios/{portfolio_pk}/positions/{id}/" in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
    assert b"/static/drf_spectacular_sidecar/" in docs.content  # served locally, no CDN
