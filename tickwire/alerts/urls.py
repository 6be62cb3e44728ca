"""Alert routes, included at ``/api/`` by :mod:`tickwire.urls`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.urls import path

from .api import AlertEventViewSet, AlertRuleViewSet, AlertSettingsView, RotateSecretView

if TYPE_CHECKING:
    from rest_framework.decorators import ViewSetAction

# HTTP method → viewset action, typed as as_view() takes it.
_collection: dict[str, str | ViewSetAction[Any]] = {"get": "list", "post": "create"}
_member: dict[str, str | ViewSetAction[Any]] = {
    "get": "retrieve",
    "put": "update",
    "patch": "partial_update",
    "delete": "destroy",
}

urlpatterns = [
    path("alerts/", AlertRuleViewSet.as_view(_collection), name="alert-list"),
    path("alerts/<int:pk>/", AlertRuleViewSet.as_view(_member), name="alert-detail"),
    path("alerts/events/", AlertEventViewSet.as_view({"get": "list"}), name="alert-event-list"),
    path(
        "alerts/events/<int:pk>/",
        AlertEventViewSet.as_view({"get": "retrieve"}),
        name="alert-event-detail",
    ),
    path("alerts/settings/", AlertSettingsView.as_view(), name="alert-settings"),
    path(
        "alerts/settings/rotate-secret/",
        RotateSecretView.as_view(),
        name="alert-settings-rotate-secret",
    ),
]
