"""Announce every saved or deleted rule, so the evaluator reloads it within a second.

Signals rather than calls in each view, so the REST API, the admin and any other writer
reach the evaluator the same way. The message goes after the transaction commits, on
``control.alerts`` (see :mod:`tickwire.stream.control`).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from tickwire.stream import control

from .models import AlertRule

__all__ = ["rule_changed"]


def rule_changed(rule_id: int) -> None:
    """Tell the evaluator, once the current transaction commits, that ``rule_id`` was
    created, changed or deleted (it reads the rule back, or finds it gone)."""

    def send() -> None:
        control.publish(
            control.ALERTS_CONTROL_CHANNEL,
            control.ALERTS_CONTROL,
            {"event": control.ALERT_RULE_CHANGED, "rule_id": rule_id},
        )

    transaction.on_commit(send)


@receiver(post_save, sender=AlertRule, dispatch_uid="tickwire.alert_rule_saved")
@receiver(post_delete, sender=AlertRule, dispatch_uid="tickwire.alert_rule_deleted")
def _rule_changed(sender: type[AlertRule], instance: AlertRule, **kwargs: Any) -> None:
    rule_changed(instance.pk)
