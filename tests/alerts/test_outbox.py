"""The outbox: fires and the states that decided them are stored together or not at all."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from tickwire.alerts import outbox
from tickwire.alerts.models import (
    AlertDelivery,
    AlertEvent,
    AlertRule,
    AlertRuleState,
    AlertSettings,
)
from tickwire.alerts.rules import engine_rule, rule_meta
from tickwire.assets.models import Asset
from tickwire.stream import control
from tickwire.stream.alerts import AlertEngine, Observation
from tickwire.stream.builders import ALERT_FIELDS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def rule():
    user = get_user_model().objects.create_user("ann", "ann@example.com", "pw")
    asset = Asset.objects.create(symbol="AAPL", name="Apple", current_price=190)
    return AlertRule.objects.create(
        owner=user,
        name="AAPL over 200",
        asset=asset,
        condition={"kind": "above", "level": "200"},
        channels=["websocket", "email", "webhook"],
    )


def test_a_fire_is_stored_with_its_state_and_a_delivery_per_channel(rule):
    engine = AlertEngine([engine_rule(rule)])
    [fire] = engine.observe(Observation.asset("AAPL", "200.5", at=1764489600.25))
    state = engine.export_state()["rules"][str(rule.pk)]
    [event] = outbox.commit([(rule_meta(rule), fire)], {rule.pk: state})
    assert AlertRuleState.objects.get(rule=rule).state == state
    payload = outbox.event_payload(AlertEvent.objects.get(pk=event.pk))
    assert tuple(payload) == ALERT_FIELDS
    assert (
        payload["value"] == "200.5" and payload["level"] == "200" and payload["rule_id"] == rule.pk
    )
    assert payload["fired_at"] == "2025-11-30T08:00:00.250Z"
    deliveries = {d.channel: d for d in AlertDelivery.objects.filter(event=event)}
    assert deliveries["websocket"].status == "pending"
    assert (deliveries["email"].status, deliveries["email"].destination) == (
        "pending",
        "ann@example.com",
    )
    # No webhook URL was set: failed at once, saying what to do.
    assert deliveries["webhook"].status == "failed"
    assert "/api/alerts/settings/" in deliveries["webhook"].last_error


def test_the_settings_address_and_url_are_used_when_set(rule):
    AlertSettings.objects.create(
        user=rule.owner, email="alerts@example.com", webhook_url="http://127.0.0.1:9/hook"
    )
    engine = AlertEngine([engine_rule(rule)])
    [fire] = engine.observe(Observation.asset("AAPL", "201", at=1764489600.0))
    [event] = outbox.commit([(rule_meta(rule), fire)], {})
    where = dict(AlertDelivery.objects.filter(event=event).values_list("channel", "destination"))
    assert where == {
        "websocket": "",
        "email": "alerts@example.com",
        "webhook": "http://127.0.0.1:9/hook",
    }


def test_nothing_is_stored_when_the_transaction_fails(rule):
    engine = AlertEngine([engine_rule(rule)])
    [fire] = engine.observe(Observation.asset("AAPL", "201", at=1764489600.0))
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.commit([(rule_meta(rule), fire)], {rule.pk: {"x": 1}})
        raise RuntimeError("the database went away")
    assert not AlertEvent.objects.exists() and not AlertRuleState.objects.exists()


def test_a_deleted_rule_neither_fires_nor_keeps_state(rule):
    engine = AlertEngine([engine_rule(rule)])
    [fire] = engine.observe(Observation.asset("AAPL", "201", at=1764489600.0))
    meta = rule_meta(rule)
    rule.delete()
    assert outbox.commit([(meta, fire)], {meta.rule_id: {"x": 1}}) == []
    assert not AlertEvent.objects.exists() and not AlertRuleState.objects.exists()


def test_saving_or_deleting_a_rule_announces_it_after_commit(rule):
    sent = []
    unbind = control.bind_publisher(lambda channel, body: sent.append((channel, body)) or True)
    try:
        with transaction.atomic():
            rule.enabled = False
            rule.save()
            assert sent == []  # not before the commit
        rule_id = rule.pk
        rule.delete()
    finally:
        unbind()
    assert [c for c, _ in sent] == ["control.alerts", "control.alerts"]
    assert all(f'"rule_id":{rule_id}'.encode() in body for _, body in sent)
