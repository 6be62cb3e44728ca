"""REST API of alerts: owner-only CRUD of rules, every refusal keyed by its field, the
per-user limit, events with their deliveries, settings, the schema."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from tests.conftest import POSTGRES
from tickwire.alerts import outbox
from tickwire.alerts.models import AlertRule, AlertSettings
from tickwire.alerts.rules import engine_rule, rule_meta
from tickwire.assets.models import Asset
from tickwire.portfolios.models import Portfolio
from tickwire.stream import control
from tickwire.stream.alerts import AlertEngine, Observation
from tickwire.stream.builders import ALERT_FIELDS

pytestmark = pytest.mark.django_db


def client_for(username: str) -> APIClient:
    user = get_user_model().objects.create_user(username, f"{username}@example.com", "pw")
    client = APIClient()
    client.force_authenticate(user)
    client.user = user  # type: ignore[attr-defined]
    return client


@pytest.fixture
def ann() -> APIClient:
    Asset.objects.create(symbol="AAPL", name="Apple", current_price=190)
    Asset.objects.create(symbol="BTC-USD", name="Bitcoin", current_price=90000, kind="crypto")
    return client_for("ann")


@pytest.fixture
def bob(ann) -> APIClient:
    return client_for("bob")


def create(client: APIClient, **body) -> dict:
    r = client.post("/api/alerts/", body, format="json")
    assert r.status_code == 201, r.content
    return r.json()


def refused(client: APIClient, body: dict, method: str = "post", url: str = "/api/alerts/") -> dict:
    r = getattr(client, method)(url, body, format="json")
    assert r.status_code == 400, r.content
    return r.json()


def test_a_rule_is_created_with_the_defaults_and_read_back(ann):
    rule = create(ann, asset="aapl", condition={"kind": "above", "level": 200})
    assert rule == {
        "id": rule["id"],
        "name": "",
        "asset": "AAPL",
        "portfolio": None,
        "target": {"asset": "AAPL"},
        "condition": {"kind": "above", "level": "200"},
        "hysteresis": "0",
        "cooldown": 0.0,
        "expires_at": None,
        "one_shot": False,
        "enabled": True,
        "channels": ["websocket"],
        "description": "AAPL above 200",
        "last_fired_at": None,
        "created_at": rule["created_at"],
        "updated_at": rule["updated_at"],
    }
    assert ann.get(f"/api/alerts/{rule['id']}/").json() == rule
    listing = ann.get("/api/alerts/").json()
    assert listing["count"] == 1 and listing["results"] == [rule]


def test_every_field_is_written_and_the_condition_stored_in_the_engines_form(ann):
    portfolio = Portfolio.objects.create(owner=ann.user, name="Main")
    rule = create(
        ann,
        name="drawdown",
        portfolio=portfolio.pk,
        condition={"kind": "change_below", "percent": "-5.0"},
        hysteresis="0.5",
        cooldown=300,
        expires_at="2030-01-01T09:00:00+01:00",
        one_shot=True,
        enabled=False,
        channels=["webhook", "websocket"],
    )
    assert rule["target"] == {"portfolio": portfolio.pk} and rule["asset"] is None
    assert rule["condition"] == {"kind": "change_below", "percent": "-5.0"}
    assert (rule["hysteresis"], rule["cooldown"]) == ("0.5", 300.0)
    assert rule["expires_at"].startswith("2030-01-01T08:00:00")
    assert rule["channels"] == ["websocket", "webhook"]  # in the documented order
    assert (
        rule["description"] == f"portfolio {portfolio.pk} change since the previous close below -5%"
    )
    cross = create(ann, asset="AAPL", condition={"kind": "cross", "level": "190"})
    assert cross["condition"] == {"kind": "cross", "level": "190", "direction": "both"}


def test_update_partial_update_and_delete_send_the_control_message(
    ann, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(control, "publish", lambda *a: sent.append(a))
    with django_capture_on_commit_callbacks(execute=True):
        rule = create(ann, asset="AAPL", condition={"kind": "above", "level": "200"})
    url = f"/api/alerts/{rule['id']}/"
    with django_capture_on_commit_callbacks(execute=True):
        patched = ann.patch(url, {"condition": {"kind": "below", "level": "150"}}, format="json")
    assert patched.status_code == 200 and patched.json()["description"] == "AAPL below 150"
    with django_capture_on_commit_callbacks(execute=True):
        moved = ann.patch(url, {"asset": "BTC-USD"}, format="json").json()
    assert moved["target"] == {"asset": "BTC-USD"}
    no_target = ann.put(url, {"condition": {"kind": "above", "level": "1"}}, format="json")
    assert no_target.status_code == 400 and set(no_target.json()) == {"asset"}
    put = ann.put(
        url, {"asset": "AAPL", "condition": {"kind": "above", "level": "1"}}, format="json"
    )
    assert put.status_code == 200 and put.json()["cooldown"] == 0.0
    with django_capture_on_commit_callbacks(execute=True):
        assert ann.delete(url).status_code == 204
    assert ann.get(url).status_code == 404
    change = (control.ALERTS_CONTROL_CHANNEL, control.ALERTS_CONTROL,
              {"event": control.ALERT_RULE_CHANGED, "rule_id": rule["id"]})  # fmt: skip
    assert sent == [change] * 4


def test_another_users_rule_is_404_and_their_portfolio_a_400(ann, bob):
    rule = create(ann, asset="AAPL", condition={"kind": "above", "level": "200"})
    url = f"/api/alerts/{rule['id']}/"
    for method in ("get", "patch", "put", "delete"):
        assert getattr(bob, method)(url, {}, format="json").status_code == 404
    assert bob.get("/api/alerts/").json()["count"] == 0
    theirs = Portfolio.objects.create(owner=ann.user, name="Main")
    body = {"portfolio": theirs.pk, "condition": {"kind": "above", "level": "1"}}
    assert refused(bob, body) == {
        "portfolio": [f"You have no portfolio {theirs.pk}. See /api/portfolios/."]
    }
    missing = {"portfolio": 999999, "condition": {"kind": "above", "level": "1"}}
    assert refused(bob, missing) == {
        "portfolio": ["You have no portfolio 999999. See /api/portfolios/."]
    }
    assert AlertRule.objects.get(pk=rule["id"]).condition["level"] == "200"  # untouched


def test_anonymous_callers_are_refused():
    assert APIClient().get("/api/alerts/").status_code in (401, 403)
    assert APIClient().get("/api/alerts/settings/").status_code in (401, 403)


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"asset": "AAPL", "condition": {"kind": "above", "level": "abc"}},
         {"condition": ["level: must be a number, not 'abc'"]}),
        ({"asset": "AAPL", "condition": {"kind": "sideways"}},
         {"condition": ["kind: must be one of above, below, outside, cross, change_above, "
                        "change_below, move, deviation; not 'sideways'"]}),
        ({"asset": "AAPL", "condition": {"kind": "above"}}, {"condition": ["level: is required"]}),
        ({"asset": "AAPL", "condition": {"kind": "above", "level": 1, "x": 2}},
         {"condition": ["x: is not a field of a above condition"]}),
        ({"asset": "AAPL", "condition": "above 200"}, {"condition": ["must be an object with a kind"]}),
        ({"asset": "AAPL"}, {"condition": ["This field is required."]}),
        ({"condition": {"kind": "above", "level": 1}},
         {"asset": ["Give asset (a symbol) or portfolio (the id of one of yours)."]}),
        ({"asset": "NOPE", "condition": {"kind": "above", "level": 1}},
         {"asset": ["Unknown symbol 'NOPE'. See /api/assets/ for the symbols you can watch."]}),
        ({"asset": "AAPL", "condition": {"kind": "above", "level": 1}, "hysteresis": "-1"},
         {"hysteresis": ["must be 0 or more, not '-1'"]}),
        ({"asset": "AAPL", "condition": {"kind": "above", "level": 1}, "hysteresis": "x"},
         {"hysteresis": ["must be a number, not 'x'"]}),
        ({"asset": "AAPL", "condition": {"kind": "above", "level": 1}, "cooldown": -1},
         {"cooldown": ["Ensure this value is greater than or equal to 0."]}),
        ({"asset": "AAPL", "condition": {"kind": "above", "level": 1},
          "expires_at": "2030-01-01T09:00:00"},
         {"expires_at": ["needs a timezone (Z or +hh:mm), e.g. 2030-01-01T09:00:00Z"]}),
        ({"asset": "AAPL", "condition": {"kind": "above", "level": 1}, "expires_at": "soon"},
         {"expires_at": ["must be an ISO-8601 time such as 2026-12-31T16:00:00Z, not 'soon'"]}),
        ({"asset": "AAPL", "condition": {"kind": "above", "level": 1}, "channels": []},
         {"channels": ["Name at least one channel: websocket, email, webhook."]}),
        ({"asset": "AAPL", "condition": {"kind": "above", "level": 1}, "channels": ["sms"]},
         {"channels": ["'sms' is not a channel; choose from websocket, email, webhook."]}),
        ({"asset": "AAPL", "condition": {"kind": "above", "level": 1},
          "channels": ["email", "email"]},
         {"channels": ["'email' is named twice."]}),
        ({"asset": "AAPL", "condition": {"kind": "move", "percent": "3", "seconds": 0}},
         {"condition": ["seconds: must be more than 0 seconds, not 0"]}),
        ({"asset": "AAPL", "condition": {"kind": "above", "level": 1}, "name": "x" * 201},
         {"name": ["Ensure this field has no more than 200 characters."]}),
    ],
)  # fmt: skip
def test_each_refusal_names_its_field(ann, body, errors):
    assert refused(ann, body) == errors
    assert not AlertRule.objects.exists()  # nothing half-written


def test_both_targets_at_once_and_a_bad_edit_are_refused(ann):
    portfolio = Portfolio.objects.create(owner=ann.user, name="Main")
    both = {"asset": "AAPL", "portfolio": portfolio.pk, "condition": {"kind": "above", "level": 1}}
    assert refused(ann, both) == {
        "asset": ["Give either asset (a symbol) or portfolio (an id), not both."]
    }
    rule = create(ann, asset="AAPL", condition={"kind": "above", "level": "200"})
    url = f"/api/alerts/{rule['id']}/"
    bad = refused(ann, {"condition": {"kind": "above", "level": "x"}}, "patch", url)
    assert bad == {"condition": ["level: must be a number, not 'x'"]}
    assert ann.get(url).json()["condition"] == {"kind": "above", "level": "200"}


def test_email_and_webhook_channels_are_taken_without_a_destination(ann):
    # The events they fire then say, per channel, why nothing was sent.
    rule = create(ann, asset="AAPL", condition={"kind": "above", "level": "1"},
                  channels=["websocket", "email", "webhook"])  # fmt: skip
    assert rule["channels"] == ["websocket", "email", "webhook"]


def test_the_rule_limit_is_a_400_naming_the_setting(ann, settings):
    settings.TICKWIRE_ALERT_RULES_PER_USER = 2
    for level in (1, 2):
        create(ann, asset="AAPL", condition={"kind": "above", "level": level})
    over = refused(ann, {"asset": "AAPL", "condition": {"kind": "above", "level": 3}})
    assert set(over) == {"detail"} and "TICKWIRE_ALERT_RULES_PER_USER" in over["detail"]
    assert "2 alert rules" in over["detail"]
    assert AlertRule.objects.count() == 2


@pytest.mark.skipif(not POSTGRES, reason="row locks need PostgreSQL (the Makefile's second pass)")
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_cannot_pass_the_limit(settings):
    settings.TICKWIRE_ALERT_RULES_PER_USER = 3
    Asset.objects.create(symbol="AAPL", name="Apple", current_price=190)
    user = get_user_model().objects.create_user("cat", password="pw")
    codes: list[int] = []
    start = threading.Barrier(8)

    def post(level: int) -> None:
        client = APIClient()
        client.force_authenticate(user)
        start.wait(10)
        try:
            r = client.post("/api/alerts/", {"asset": "AAPL", "condition": {"kind": "above", "level": level}},
                            format="json")  # fmt: skip
            codes.append(r.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(codes) == [201] * 3 + [400] * 5
    assert AlertRule.objects.filter(owner=user).count() == 3


def _fire(row: AlertRule, price: str, at: float):
    engine = AlertEngine([engine_rule(row)])
    [fire] = engine.observe(Observation.asset(row.asset.symbol, price, at=at))
    [event] = outbox.commit([(rule_meta(row), fire)], {})
    return event


def test_events_newest_first_with_deliveries_and_the_rule_filter(ann, bob):
    first = create(ann, name="over 100", asset="AAPL", condition={"kind": "above", "level": "100"},
                   channels=["websocket", "webhook"])  # fmt: skip
    second = create(ann, asset="BTC-USD", condition={"kind": "above", "level": "5"})
    rows = {r.pk: r for r in AlertRule.objects.select_related("asset")}
    _fire(rows[first["id"]], "101", 1764489600.0)
    latest = _fire(rows[second["id"]], "6", 1764489660.5)
    page = ann.get("/api/alerts/events/").json()
    assert page["count"] == 2 and page["next"] is None and page["previous"] is None
    top, older = page["results"]
    assert set(top) == {"id", *ALERT_FIELDS, "deliveries"}
    assert top["event_id"] == str(latest.key) and top["fired_at"] == "2025-11-30T08:01:00.500Z"
    assert (top["value"], top["level"], top["kind"], top["condition"]) == (
        "6",
        "5",
        "above",
        "above",
    )
    assert top["target"] == {"asset": "BTC-USD"}
    assert older["name"] == "over 100" and older["message"] == "AAPL at 101 is above 100"
    by_channel = {d["channel"]: d for d in older["deliveries"]}
    assert by_channel["websocket"]["status"] == "pending"
    hook = by_channel["webhook"]
    assert hook["status"] == "failed" and "/api/alerts/settings/" in hook["last_error"]
    assert set(hook) == {"channel", "status", "destination", "attempts", "last_error",
                         "next_attempt_at", "delivered_at"}  # fmt: skip
    only = ann.get(f"/api/alerts/events/?rule={first['id']}").json()
    assert [e["rule_id"] for e in only["results"]] == [first["id"]]
    assert ann.get("/api/alerts/events/?rule=x").json() == {
        "rule": ["Must be a rule id (an integer), not 'x'."]
    }
    assert ann.get(f"/api/alerts/events/{top['id']}/").json() == top
    assert (
        ann.get(f"/api/alerts/{first['id']}/")
        .json()["last_fired_at"]
        .startswith("2025-11-30T08:00:00")
    )
    # Another user sees none of it.
    assert bob.get("/api/alerts/events/").json()["count"] == 0
    assert bob.get(f"/api/alerts/events/{top['id']}/").status_code == 404
    # Events outlive their rule.
    ann.delete(f"/api/alerts/{first['id']}/")
    assert ann.get("/api/alerts/events/").json()["results"][1]["rule_id"] is None


def test_settings_read_edit_and_rotate(ann):
    first = ann.get("/api/alerts/settings/").json()
    assert (
        first["email"] == "" and first["webhook_url"] == "" and len(first["webhook_secret"]) == 64
    )
    r = ann.patch("/api/alerts/settings/", {"email": "me@example.org",
                  "webhook_url": "https://example.org/hook"}, format="json")  # fmt: skip
    assert r.status_code == 200 and r.json()["webhook_secret"] == first["webhook_secret"]
    stored = AlertSettings.objects.get(user=ann.user)
    assert (stored.email, stored.webhook_url) == ("me@example.org", "https://example.org/hook")
    rotated = ann.post("/api/alerts/settings/rotate-secret/").json()
    assert rotated["webhook_secret"] != first["webhook_secret"]
    assert ann.get("/api/alerts/settings/").json() == rotated


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"email": "not-an-address"}, "email", "valid email"),
        ({"webhook_url": "ftp://example.org/hook"}, "webhook_url", "http:// or https://"),
        ({"webhook_url": "javascript:alert(1)"}, "webhook_url", "valid URL"),
        ({"webhook_url": "https://example.org/" + "a" * 2000}, "webhook_url", "2000 characters"),
    ],
)
def test_settings_refusals_name_the_field(ann, body, field, says):
    errors = refused(ann, body, "patch", "/api/alerts/settings/")
    assert list(errors) == [field] and says in errors[field][0]
    assert AlertSettings.objects.get(user=ann.user).webhook_url == ""


def test_the_schema_has_every_alert_path(ann):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {
        "/api/alerts/",
        "/api/alerts/{id}/",
        "/api/alerts/events/",
        "/api/alerts/events/{id}/",
        "/api/alerts/settings/",
        "/api/alerts/settings/rotate-secret/",
    } <= set(paths)
    assert set(paths["/api/alerts/{id}/"]) >= {"get", "put", "patch", "delete"}
    assert "patch" in paths["/api/alerts/settings/"]
    names = [p["name"] for p in paths["/api/alerts/events/"]["get"]["parameters"]]
    assert "rule" in names
    rule = schema.json()["components"]["schemas"]["AlertRule"]["properties"]
    assert {"description", "last_fired_at", "target", "channels"} <= set(rule)


def test_datetime_of_an_event_is_utc(ann):
    # fired_at is written as UTC with a Z, whatever the server's zone.
    create(ann, asset="AAPL", condition={"kind": "above", "level": "1"})
    row = AlertRule.objects.select_related("asset").get()
    event = _fire(row, "2", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp())
    assert (
        ann.get(f"/api/alerts/events/{event.pk}/").json()["fired_at"] == "2026-01-02T03:04:05.000Z"
    )
