"""The transactional outbox: a fire and the state that decided it, written together.

:func:`commit` writes, in one transaction, the rule states the evaluator changed and one
:class:`AlertEvent` per fire with a pending :class:`AlertDelivery` per channel of its rule.
Either all of it is stored or none of it: an evaluator that dies before the commit comes
back with the state from before the fire and judges the same crossing again (it fires then
if it is still true); one that dies after it finds the fire decided and the deliveries
waiting. Deliverers (:mod:`tickwire.alerts.delivery`) work through the delivery rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from tickwire.stream.alerts import Fire

from .models import (
    CHANNELS,
    EMAIL,
    WEBHOOK,
    AlertDelivery,
    AlertEvent,
    AlertRule,
    AlertRuleState,
    AlertSettings,
)
from .rules import RuleMeta

__all__ = ["commit", "destinations", "event_payload"]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_payload(event: AlertEvent) -> dict[str, Any]:
    """The event's JSON form: the ``alert`` message's ``data``, a webhook's body, the
    API's event (``tickwire.stream.builders.ALERT_FIELDS``)."""
    fire = event.fire
    return {
        "event_id": str(event.key),
        "rule_id": event.rule_id,
        "name": event.name,
        "target": fire.get("target"),
        "condition": fire.get("condition", ""),
        "kind": fire.get("kind", ""),
        "value": fire.get("value", ""),
        "measure": fire.get("measure", ""),
        "level": fire.get("level", ""),
        "message": event.message,
        "fired_at": _iso(event.fired_at),
    }


def destinations(owner_id: int) -> dict[str, str]:
    """Where each channel goes for this owner now: an address, a URL, or "" (nowhere;
    the WebSocket needs none). One read of the owner's settings (and of the account when
    no alert email is set)."""
    prefs = AlertSettings.objects.filter(user_id=owner_id).first()
    email = prefs.email if prefs is not None else ""
    if not email:
        user = get_user_model().objects.filter(pk=owner_id).only("email").first()
        email = (user.email if user is not None else "") or ""
    return {EMAIL: email, WEBHOOK: prefs.webhook_url if prefs is not None else ""}


_NOWHERE = {
    EMAIL: "no email address: set one at /api/alerts/settings/ or on the account",
    WEBHOOK: "no webhook URL: set one at /api/alerts/settings/",
}


def commit(
    fires: Sequence[tuple[RuleMeta, Fire]],
    states: Mapping[int, dict[str, Any]],
) -> list[AlertEvent]:
    """Store rule states (by rule id) and fires, with their deliveries, in one transaction;
    returns the events written. States of rules deleted meanwhile are skipped, and so are
    fires of rules deleted meanwhile (a deleted rule fires no more)."""
    now = timezone.now()
    with transaction.atomic():
        wanted = set(states) | {meta.rule_id for meta, _ in fires}
        alive = set(AlertRule.objects.filter(pk__in=wanted).values_list("pk", flat=True))
        rows = [
            AlertRuleState(rule_id=rule_id, state=state, saved_at=now)
            for rule_id, state in states.items()
            if rule_id in alive
        ]
        if rows:
            AlertRuleState.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["rule"],
                update_fields=["state", "saved_at"],
            )
        events = []
        for meta, fire in fires:
            if meta.rule_id not in alive:
                continue
            event = AlertEvent.objects.create(
                owner_id=meta.owner_id,
                rule_id=meta.rule_id,
                name=meta.name,
                fire=fire.to_dict(),
                message=fire.message,
                fired_at=datetime.fromtimestamp(fire.at, UTC),
            )
            deliveries = []
            channels = [c for c in CHANNELS if c in meta.channels]
            found = destinations(meta.owner_id) if set(channels) & set(_NOWHERE) else {}
            for channel in channels:
                where = found.get(channel, "")
                missing = channel in _NOWHERE and not where
                deliveries.append(
                    AlertDelivery(
                        event=event,
                        channel=channel,
                        destination=where,
                        status=AlertDelivery.FAILED if missing else AlertDelivery.PENDING,
                        last_error=_NOWHERE[channel] if missing else "",
                        next_attempt_at=now,
                    )
                )
            AlertDelivery.objects.bulk_create(deliveries)
            events.append(event)
    return events
