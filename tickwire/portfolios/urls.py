"""Portfolio and token routes, included at ``/api/`` by :mod:`tickwire.urls`."""

from django.urls import path

from .api import AuthTokenView, PortfolioViewSet, PositionViewSet

_collection = {"get": "list", "post": "create"}
_member = {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}

urlpatterns = [
    path("auth/token/", AuthTokenView.as_view(), name="auth-token"),
    path("portfolios/", PortfolioViewSet.as_view(_collection), name="portfolio-list"),
    path("portfolios/<int:pk>/", PortfolioViewSet.as_view(_member), name="portfolio-detail"),
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
