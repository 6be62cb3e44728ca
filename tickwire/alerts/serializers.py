"""DRF serializers for alert rules, their events and a user's alert settings.

A rule is validated by the rule engine itself (:mod:`tickwire.stream.alerts`): whatever it
refuses is a 400 keyed by the field the engine names — ``condition.level`` is reported under
``condition`` as ``level: must be a number, not 'abc'``. The condition is stored in the
engine's JSON form as the engine writes it back (levels as decimal strings, defaults filled
in). Decimals are strings, as everywhere in the API.

Rules may name the ``email`` and ``webhook`` channels before an address or URL is set: the
events they fire record, per channel, why they could not be delivered (see
:mod:`tickwire.alerts.outbox`), and setting the address later makes the next fires go out.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.db.models import Max, QuerySet
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tickwire.assets.models import Asset
from tickwire.portfolios.models import Portfolio
from tickwire.stream.alerts import (
    Rule,
    RuleError,
    Target,
    condition_from_dict,
    describe,
    to_decimal,
)
from tickwire.stream.builders import ALERT_FIELDS

from .models import CHANNELS, WEBSOCKET, AlertDelivery, AlertEvent, AlertRule, AlertSettings
from .outbox import event_payload
from .rules import engine_rule

__all__ = [
    "AlertDeliverySerializer",
    "AlertEventSerializer",
    "AlertRuleSerializer",
    "AlertSettingsSerializer",
    "rule_error",
]

#: Digits the hysteresis column holds (``AlertRule.hysteresis``).
_HYSTERESIS_PLACES = 10
_HYSTERESIS_MAX = Decimal(10) ** (28 - _HYSTERESIS_PLACES)


def _text(number: Decimal) -> str:
    # "0" for 0E-10, "1.5" for 1.5000000000: what was written, not the column's padding.
    number = number.normalize()
    return f"{number:f}"


def rule_error(exc: RuleError) -> dict[str, list[str]]:
    """The 400 body for a rule the engine refused: ``condition.level`` under
    ``condition`` as ``level: ...``, ``target.asset`` under ``asset``, others as named."""
    head, _, rest = exc.field.partition(".")
    if head == "condition":
        return {"condition": [f"{rest}: {exc.problem}" if rest else exc.problem]}
    if head == "target" and rest in ("asset", "portfolio"):
        return {rest: [exc.problem]}
    return {head: [exc.problem]}


@extend_schema_field(OpenApiTypes.STR)
class DecimalText(serializers.Field):  # type: ignore[type-arg]
    """A non-negative decimal written as a string (``"0.5"``); numbers are accepted too."""

    def to_internal_value(self, data: Any) -> Decimal:
        try:
            number = to_decimal(data, self.field_name or "value")
        except RuleError as exc:
            raise serializers.ValidationError(exc.problem) from None
        if number < 0:
            raise serializers.ValidationError(f"must be 0 or more, not {data!r}")
        if number >= _HYSTERESIS_MAX:
            raise serializers.ValidationError(f"must be less than {_HYSTERESIS_MAX:f}")
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -_HYSTERESIS_PLACES:
            raise serializers.ValidationError(
                f"at most {_HYSTERESIS_PLACES} decimal places, not {data!r}"
            )
        return number

    def to_representation(self, value: Any) -> str:
        return _text(Decimal(value))


class AwareDateTime(serializers.DateTimeField):
    """An ISO-8601 time with its timezone (``Z`` or ``+hh:mm``): a time without one would
    be read in the server's zone, which the caller cannot see."""

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, str):
            parsed = None
            with contextlib.suppress(ValueError):  # a date that does not exist: 2026-02-30
                parsed = parse_datetime(value.strip())
            if parsed is None:
                raise serializers.ValidationError(
                    f"must be an ISO-8601 time such as 2026-12-31T16:00:00Z, not {value!r}"
                )
            if parsed.tzinfo is None:
                raise serializers.ValidationError(
                    f"needs a timezone (Z or +hh:mm), e.g. {value.strip()}Z"
                )
        result: datetime = super().to_internal_value(value)
        return result


class _SymbolField(serializers.SlugRelatedField):  # type: ignore[type-arg]
    """An active asset by its symbol (any case)."""

    def to_internal_value(self, data: Any) -> Asset:
        if isinstance(data, str) and data.isascii():
            data = data.strip().upper()
        asset: Asset = super().to_internal_value(data)
        return asset


class _OwnPortfolioField(serializers.PrimaryKeyRelatedField):  # type: ignore[type-arg]
    """One of the caller's portfolios by id; someone else's is "not yours", like a missing
    one, so ids do not leak."""

    def get_queryset(self) -> QuerySet[Portfolio]:
        request = self.context.get("request")
        owner = request.user.pk if request is not None else None
        return Portfolio.objects.filter(owner_id=owner)


class AlertRuleSerializer(serializers.ModelSerializer[AlertRule]):
    """An alert rule: write ``asset`` (a symbol) or ``portfolio`` (an id of yours), the
    ``condition`` in the rule engine's JSON form and optionally the guards and channels;
    read back ``target``, ``description`` and ``last_fired_at`` too."""

    name = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")
    asset = _SymbolField(
        slug_field="symbol",
        queryset=Asset.objects.filter(is_active=True),
        allow_null=True,
        required=False,
        help_text="Asset symbol, e.g. AAPL (or give portfolio)",
        error_messages={
            "does_not_exist": "Unknown symbol '{value}'. See /api/assets/ for the symbols "
            "you can watch.",
            "invalid": "Must be a symbol such as AAPL.",
        },
    )
    portfolio = _OwnPortfolioField(
        allow_null=True,
        required=False,
        help_text="The id of one of your portfolios (or give asset)",
        error_messages={
            "does_not_exist": "You have no portfolio {pk_value}. See /api/portfolios/.",
            "incorrect_type": "Must be a portfolio id (an integer), not {data_type}.",
        },
    )
    target = serializers.SerializerMethodField()
    condition = serializers.JSONField(
        help_text='The rule engine\'s condition, e.g. {"kind": "above", "level": "200"} '
        "(docs/alerts.md, Conditions)"
    )
    hysteresis = DecimalText(required=False, default=Decimal(0))
    cooldown = serializers.FloatField(required=False, default=0.0, min_value=0)
    expires_at = AwareDateTime(required=False, allow_null=True, default=None)
    one_shot = serializers.BooleanField(required=False, default=False)
    enabled = serializers.BooleanField(required=False, default=True)
    channels = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=[WEBSOCKET],
        help_text=f"Where fires go: some of {', '.join(CHANNELS)}",
    )
    description = serializers.SerializerMethodField()
    last_fired_at = serializers.SerializerMethodField()

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "asset",
            "portfolio",
            "target",
            "condition",
            "hysteresis",
            "cooldown",
            "expires_at",
            "one_shot",
            "enabled",
            "channels",
            "description",
            "last_fired_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    # -- reading ----------------------------------------------------------------------------

    @extend_schema_field(
        {
            "type": "object",
            "description": '{"asset": SYMBOL} or {"portfolio": ID}',
            "example": {"asset": "AAPL"},
        }
    )
    def get_target(self, row: AlertRule) -> dict[str, Any]:
        if row.portfolio_id is not None:
            return {"portfolio": row.portfolio_id}
        return {"asset": row.asset.symbol if row.asset is not None else None}

    def get_description(self, row: AlertRule) -> str:
        try:
            return describe(engine_rule(row))
        except RuleError as exc:  # a row written behind the API's back
            return f"not a valid rule: {exc}"

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_last_fired_at(self, row: AlertRule) -> str | None:
        if hasattr(row, "last_fired"):
            last = row.last_fired
        else:
            last = row.events.aggregate(last=Max("fired_at"))["last"]
        return serializers.DateTimeField().to_representation(last) if last else None

    # -- writing ----------------------------------------------------------------------------

    def validate_channels(self, value: list[str]) -> list[str]:
        if not value:
            raise serializers.ValidationError(f"Name at least one channel: {', '.join(CHANNELS)}.")
        for channel in value:
            if channel not in CHANNELS:
                raise serializers.ValidationError(
                    f"'{channel}' is not a channel; choose from {', '.join(CHANNELS)}."
                )
        if len(set(value)) != len(value):
            twice = next(c for c in value if value.count(c) > 1)
            raise serializers.ValidationError(f"'{twice}' is named twice.")
        return [c for c in CHANNELS if c in value]

    def _target(self, attrs: dict[str, Any]) -> tuple[Asset | None, Portfolio | None]:
        # A PATCH keeps the target it does not name; a PUT names it again.
        row = self.instance if self.partial else None
        asset = attrs.get("asset", row.asset if row else None)
        portfolio = attrs.get("portfolio", row.portfolio if row else None)
        if row is not None:
            # Naming a new target replaces the other one.
            if attrs.get("asset") is not None and "portfolio" not in attrs:
                portfolio = None
            if attrs.get("portfolio") is not None and "asset" not in attrs:
                asset = None
        if asset is not None and portfolio is not None:
            raise serializers.ValidationError(
                {"asset": ["Give either asset (a symbol) or portfolio (an id), not both."]}
            )
        if asset is None and portfolio is None:
            raise serializers.ValidationError(
                {"asset": ["Give asset (a symbol) or portfolio (the id of one of yours)."]}
            )
        return asset, portfolio

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        asset, portfolio = self._target(attrs)
        attrs["asset"], attrs["portfolio"] = asset, portfolio
        row = self.instance

        def current(name: str) -> Any:
            return attrs[name] if name in attrs else getattr(row, name)

        expires_at = current("expires_at")
        try:
            target = (
                Target.portfolio(portfolio.pk)
                if portfolio is not None
                else Target.asset(asset.symbol)  # type: ignore[union-attr]
            )
            rule = Rule(
                "new" if row is None else str(row.pk),
                target,
                condition_from_dict(current("condition")),
                hysteresis=current("hysteresis"),
                cooldown=current("cooldown"),
                expires_at=expires_at.timestamp() if expires_at is not None else None,
                one_shot=current("one_shot"),
                enabled=current("enabled"),
            )
        except RuleError as exc:
            raise serializers.ValidationError(rule_error(exc)) from None
        # Stored as the engine writes it: levels as decimal strings, defaults filled in.
        attrs["condition"] = rule.to_dict()["condition"]
        return attrs


class AlertDeliverySerializer(serializers.ModelSerializer[AlertDelivery]):
    """One channel's delivery of an event: ``pending`` (being tried; ``next_attempt_at``),
    ``delivered``, or ``failed`` for good (``last_error`` says why)."""

    class Meta:
        model = AlertDelivery
        fields = [
            "channel",
            "status",
            "destination",
            "attempts",
            "last_error",
            "next_attempt_at",
            "delivered_at",
        ]
        read_only_fields = fields


class AlertEventSerializer(serializers.ModelSerializer[AlertEvent]):
    """A fire of one of your rules: the ``alert`` message's payload (the same object a
    webhook receives), its ``id`` here and its deliveries per channel."""

    event_id = serializers.UUIDField(source="key", read_only=True)
    rule_id = serializers.IntegerField(allow_null=True, read_only=True)
    target = serializers.JSONField(
        read_only=True, help_text='{"asset": SYMBOL} or {"portfolio": ID}'
    )
    condition = serializers.CharField(read_only=True, help_text="The rule's condition kind")
    kind = serializers.CharField(read_only=True, help_text="The line that fired")
    value = serializers.CharField(read_only=True)
    measure = serializers.CharField(read_only=True)
    level = serializers.CharField(read_only=True)
    deliveries = AlertDeliverySerializer(many=True, read_only=True)

    class Meta:
        model = AlertEvent
        # The alert payload's fields (the WebSocket's and the webhook's), framed.
        fields = ["id", *ALERT_FIELDS, "deliveries"]
        read_only_fields = fields

    def to_representation(self, instance: AlertEvent) -> dict[str, Any]:
        # The payload as the WebSocket and the webhook carry it, so the three agree.
        data: dict[str, Any] = {"id": instance.pk, **event_payload(instance)}
        data["deliveries"] = AlertDeliverySerializer(instance.deliveries.all(), many=True).data
        return data


class AlertSettingsSerializer(serializers.ModelSerializer[AlertSettings]):
    """Where your alerts go besides the WebSocket. An empty ``email`` means your account's
    address. Webhook bodies are signed with ``webhook_secret`` (rotate it with
    ``POST /api/alerts/settings/rotate-secret/``)."""

    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    webhook_url = serializers.URLField(required=False, allow_blank=True, max_length=2000)

    class Meta:
        model = AlertSettings
        fields = ["email", "webhook_url", "webhook_secret"]
        read_only_fields = ["webhook_secret"]

    def validate_webhook_url(self, value: str) -> str:
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise serializers.ValidationError("Must be an http:// or https:// URL.")
        return value
