"""REST API: your alert rules, the events they fired, and where alerts go.

``/api/alerts/`` (list, create, read, update, delete), ``/api/alerts/events/`` (newest
first, ``?rule=<id>``), ``/api/alerts/settings/`` and its ``rotate-secret/``. Everything is
the caller's own: another user's rule or event answers 404 exactly like a missing one, and a
portfolio that is not yours is a 400 on ``portfolio`` worded like a missing one, so ids do
not leak. Saving or deleting a rule reaches the evaluator through
:mod:`tickwire.alerts.signals`, whoever writes it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import AlertEvent, AlertRule, AlertSettings, new_webhook_secret
from .serializers import AlertEventSerializer, AlertRuleSerializer, AlertSettingsSerializer

__all__ = [
    "AlertEventViewSet",
    "AlertRuleViewSet",
    "AlertSettingsView",
    "RotateSecretView",
    "RuleLimitReached",
]


class RuleLimitReached(APIException):
    """400 ``{"detail": ...}``: the caller already has the most rules allowed."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "alert_rule_limit"


class AlertRuleViewSet(viewsets.ModelViewSet[AlertRule]):
    """Your alert rules. At most ``TICKWIRE_ALERT_RULES_PER_USER`` (100) each."""

    permission_classes = [IsAuthenticated]
    serializer_class = AlertRuleSerializer
    queryset = AlertRule.objects.none()

    def get_queryset(self) -> QuerySet[AlertRule]:
        return (
            AlertRule.objects.filter(owner_id=self.request.user.pk)
            .select_related("asset")
            .annotate(last_fired=Max("events__fired_at"))
            .order_by("id")
        )

    @extend_schema(
        responses={
            201: AlertRuleSerializer,
            400: OpenApiResponse(
                description="A field the rule engine refused, keyed by the field; or "
                '{"detail": ...} past TICKWIRE_ALERT_RULES_PER_USER'
            ),
        }
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer: Any) -> None:
        limit: int = settings.TICKWIRE_ALERT_RULES_PER_USER
        user_id = self.request.user.pk
        assert user_id is not None  # IsAuthenticated
        with transaction.atomic():
            # The owner's row is the lock: two concurrent creates count one after the other
            # (PostgreSQL; SQLite runs one writing transaction at a time anyway).
            get_user_model().objects.select_for_update().filter(pk=user_id).first()
            if AlertRule.objects.filter(owner_id=user_id).count() >= limit:
                raise RuleLimitReached(
                    f"You already have {limit} alert rules, the most allowed "
                    "(TICKWIRE_ALERT_RULES_PER_USER); delete one first."
                )
            serializer.save(owner=self.request.user)


class AlertEventViewSet(viewsets.ReadOnlyModelViewSet[AlertEvent]):
    """The events your rules fired, newest first, each with its deliveries per channel."""

    permission_classes = [IsAuthenticated]
    serializer_class = AlertEventSerializer
    queryset = AlertEvent.objects.none()

    def get_queryset(self) -> QuerySet[AlertEvent]:
        events = (
            AlertEvent.objects.filter(owner_id=self.request.user.pk)
            .prefetch_related("deliveries")
            .order_by("-fired_at", "-id")
        )
        rule = self.request.query_params.get("rule") if self.action == "list" else None
        if rule is not None:
            if not rule.isdigit():
                raise ValidationError({"rule": [f"Must be a rule id (an integer), not {rule!r}."]})
            events = events.filter(rule_id=int(rule))
        return events

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "rule", OpenApiTypes.INT, description="Only the events of this rule of yours"
            )
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


def _settings_of(request: Request) -> AlertSettings:
    user_id = request.user.pk
    assert user_id is not None  # IsAuthenticated
    prefs, _ = AlertSettings.objects.get_or_create(user_id=user_id)
    return prefs


class AlertSettingsView(APIView):
    """Where your alerts go besides the WebSocket: ``email`` (empty: your account's
    address) and ``webhook_url`` (http or https); ``webhook_secret`` signs webhook bodies."""

    permission_classes = [IsAuthenticated]
    serializer_class = AlertSettingsSerializer

    @extend_schema(responses=AlertSettingsSerializer)
    def get(self, request: Request) -> Response:
        return Response(AlertSettingsSerializer(_settings_of(request)).data)

    @extend_schema(
        request=AlertSettingsSerializer,
        responses={200: AlertSettingsSerializer, 400: OpenApiResponse(description="Bad field")},
    )
    def patch(self, request: Request) -> Response:
        serializer = AlertSettingsSerializer(_settings_of(request), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)


class RotateSecretView(APIView):
    """A new ``webhook_secret``; the old one stops signing at once."""

    permission_classes = [IsAuthenticated]
    serializer_class = AlertSettingsSerializer

    @extend_schema(request=None, responses=AlertSettingsSerializer)
    def post(self, request: Request) -> Response:
        prefs = _settings_of(request)
        prefs.webhook_secret = new_webhook_secret()
        prefs.save(update_fields=["webhook_secret"])
        return Response(AlertSettingsSerializer(prefs).data)
