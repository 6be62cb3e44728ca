"""Server-side alerts: users' rules, the evaluator's saved state, and the outbox of fires.

* :class:`AlertRule` — an owner's rule on an asset or on one of the owner's portfolios. The
  condition is stored in the rule engine's JSON form (``tickwire.stream.alerts``); the rule
  engine validates it, and :mod:`tickwire.alerts.rules` turns a row into an engine ``Rule``.
* :class:`AlertRuleState` — what the evaluator remembers between observations (armed lines,
  last fire, windows), saved so that a restarted evaluator goes on where it stopped.
* :class:`AlertEvent` and :class:`AlertDelivery` — the transactional outbox: a fire is an
  event row written in the same transaction as the state that decided it, with one delivery
  row per channel; deliverers work through the delivery rows until each is delivered or
  has failed for good.
* :class:`AlertSettings` — where a user's alerts go besides the WebSocket: an email address
  and a webhook URL with its signing secret.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from tickwire.assets.models import Asset
from tickwire.portfolios.models import Portfolio

#: Delivery channels, in the order they are listed.
WEBSOCKET = "websocket"
EMAIL = "email"
WEBHOOK = "webhook"
CHANNELS = (WEBSOCKET, EMAIL, WEBHOOK)


def default_channels() -> list[str]:
    return [WEBSOCKET]


def new_webhook_secret() -> str:
    return secrets.token_hex(32)


class AlertRule(models.Model):
    """One rule: exactly one of ``asset`` / ``portfolio`` is its target."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_rules"
    )
    #: A label for people; the condition's sentence when left empty.
    name = models.CharField(max_length=200, blank=True, default="")
    asset = models.ForeignKey(
        Asset, on_delete=models.CASCADE, null=True, blank=True, related_name="alert_rules"
    )
    portfolio = models.ForeignKey(
        Portfolio, on_delete=models.CASCADE, null=True, blank=True, related_name="alert_rules"
    )
    #: The engine's condition JSON: ``{"kind": "above", "level": "200"}``.
    condition = models.JSONField()
    hysteresis = models.DecimalField(max_digits=28, decimal_places=10, default=0)
    cooldown = models.FloatField(default=0.0)
    expires_at = models.DateTimeField(null=True, blank=True)
    one_shot = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    #: Where fires go: a list drawn from :data:`CHANNELS`.
    channels = models.JSONField(default=default_channels)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["owner_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(asset__isnull=False) & Q(portfolio__isnull=True))
                | (Q(asset__isnull=True) & Q(portfolio__isnull=False)),
                name="alertrule_one_target",
            ),
            models.CheckConstraint(condition=Q(cooldown__gte=0), name="alertrule_cooldown_gte_0"),
            models.CheckConstraint(
                condition=Q(hysteresis__gte=0), name="alertrule_hysteresis_gte_0"
            ),
        ]
        indexes = [models.Index(fields=["owner", "id"], name="alertrule_owner_idx")]

    def __str__(self) -> str:
        return self.name or f"rule {self.pk}"


class AlertRuleState(models.Model):
    """The evaluator's state of one rule (``RuleEvaluator.export_state()``)."""

    rule = models.OneToOneField(
        AlertRule, on_delete=models.CASCADE, primary_key=True, related_name="saved_state"
    )
    state = models.JSONField()
    saved_at = models.DateTimeField(auto_now=True)


class AlertEvent(models.Model):
    """A rule fired: written in the same transaction as the rule state that decided it."""

    #: The idempotency key: the same on every channel and every retry of this event.
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_events"
    )
    #: Kept when the rule is deleted later (the event is history).
    rule = models.ForeignKey(
        AlertRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    #: The rule's name when it fired.
    name = models.CharField(max_length=200, blank=True, default="")
    #: The engine's ``Fire.to_dict()``: target, condition, kind, value, measure, level, at.
    fire = models.JSONField()
    message = models.TextField()
    fired_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-fired_at", "-id"]
        indexes = [models.Index(fields=["owner", "-fired_at"], name="alertevent_owner_idx")]

    def __str__(self) -> str:
        return self.message


class AlertDelivery(models.Model):
    """One channel's delivery of one event, worked through until delivered or failed."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    STATUSES = [(PENDING, "pending"), (DELIVERED, "delivered"), (FAILED, "failed")]

    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=[(c, c) for c in CHANNELS])
    status = models.CharField(max_length=16, choices=STATUSES, default=PENDING)
    #: The address or URL it goes to, fixed when the event is written.
    destination = models.CharField(max_length=2000, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["event_id", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["event", "channel"], name="alertdelivery_unique"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="alertdelivery_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.status}"


class AlertSettings(models.Model):
    """Where a user's alerts go besides the WebSocket."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="alert_settings",
    )
    #: Empty: the user's account email.
    email = models.EmailField(blank=True, default="")
    webhook_url = models.URLField(max_length=2000, blank=True, default="")
    #: HMAC-SHA256 key of ``X-Tickwire-Signature``.
    webhook_secret = models.CharField(max_length=128, default=new_webhook_secret)

    def __str__(self) -> str:
        return f"alert settings of user {self.user_id}"
