"""Portfolio and token routes, included at ``/api/`` by :mod:`tickwire.urls`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.urls import path

from .api import AuthTokenView, PortfolioHistoryView, PortfolioViewSet, PositionViewSet

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
    path("auth/token/", AuthTokenView.as_view(), name="auth-token"),
    path("portfolios/", PortfolioViewSet.as_view(_collection), name="portfolio-list"),
    path("portfolios/<int:pk>/", PortfolioViewSet.as_view(_member), name="portfolio-detail"),
    path("portfolios/<int:pk>/history/", PortfolioHistoryView.as_view(), name="portfolio-history"),
    path(
        "portfolios/<int:portfolio_pk>/positions/",
        PositionViewSet.as_view(_collection),
        name="position-list",
    ),
    path(
        "portfolios/<int:portfolio_pk>/positions/<int:pk>/",
        PositionViewSet.as_view(_member),
        name="position-detail",
    ),
]
