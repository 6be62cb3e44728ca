"""Admin for alert rules, events (with their deliveries inline) and users' alert settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin

from .models import AlertDelivery, AlertEvent, AlertRule, AlertSettings

# ModelAdmin and its inlines are generic only in django-stubs: at run time they cannot be
# subscripted.
if TYPE_CHECKING:
    _RuleAdminBase = admin.ModelAdmin[AlertRule]
    _EventAdminBase = admin.ModelAdmin[AlertEvent]
    _SettingsAdminBase = admin.ModelAdmin[AlertSettings]
    _DeliveryInlineBase = admin.TabularInline[AlertDelivery, AlertEvent]
else:
    _RuleAdminBase = _EventAdminBase = _SettingsAdminBase = admin.ModelAdmin
    _DeliveryInlineBase = admin.TabularInline


@admin.register(AlertRule)
class AlertRuleAdmin(_RuleAdminBase):
    list_display = ("id", "owner", "name", "asset", "portfolio", "enabled", "updated_at")
    list_filter = ("enabled", "one_shot")
    raw_id_fields = ("owner", "asset", "portfolio")


class DeliveryInline(_DeliveryInlineBase):
    model = AlertDelivery
    extra = 0
    readonly_fields = (
        "channel",
        "status",
        "destination",
        "attempts",
        "next_attempt_at",
        "last_error",
        "delivered_at",
    )


@admin.register(AlertEvent)
class AlertEventAdmin(_EventAdminBase):
    list_display = ("id", "owner", "name", "message", "fired_at")
    raw_id_fields = ("owner", "rule")
    inlines = [DeliveryInline]


@admin.register(AlertSettings)
class AlertSettingsAdmin(_SettingsAdminBase):
    list_display = ("user", "email", "webhook_url")
    raw_id_fields = ("user",)
