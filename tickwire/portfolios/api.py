"""REST API: portfolios and their positions, visible and editable by their owner only.

``/api/portfolios/`` and ``/api/portfolios/<id>/positions/`` (list, create, read, update,
delete); ``/api/portfolios/<id>/history/`` (read: the value chart's points). Another
user's portfolio answers 404 exactly like a missing one, so ids do not
leak. Authentication: ``Authorization: Token <key>`` (from ``POST /api/auth/token/``) or
the browser session (with CSRF on unsafe methods).
"""

from __future__ import annotations

from typing import Any, cast

from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.exceptions import NotAuthenticated, NotFound, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tickwire.assets.api import MAX_BARS, bar_range
from tickwire.assets.rollup import INTERVALS

from .history import value_history
from .models import Portfolio, Position
from .serializers import PortfolioDetailSerializer, PortfolioSerializer, PositionSerializer
from .services import load_book, valuate

__all__ = ["AuthTokenView", "PortfolioHistoryView", "PortfolioViewSet", "PositionViewSet"]


def _integrity_error(exc: IntegrityError) -> ValidationError:
    # A concurrent request won the race past the serializer's checks; the database's
    # constraints caught it. Report it like the check would have.
    text = str(exc).lower()
    if "name" in text:
        return ValidationError({"name": ["You already have a portfolio with this name."]})
    return ValidationError({"symbol": ["This portfolio already holds this asset."]})


class PortfolioViewSet(viewsets.ModelViewSet[Portfolio]):
    """Your portfolios. The detail (and the answer to create/update) includes positions
    and the live valuation."""

    permission_classes = [IsAuthenticated]
    queryset = Portfolio.objects.none()

    def get_queryset(self) -> QuerySet[Portfolio]:
        return (
            Portfolio.objects.filter(owner_id=self.request.user.pk)
            .annotate(position_count=Count("positions"))
            .order_by("name", "id")
        )

    def get_serializer_class(self) -> type[PortfolioSerializer]:
        return PortfolioSerializer if self.action == "list" else PortfolioDetailSerializer

    def perform_create(self, serializer: Any) -> None:
        try:
            with transaction.atomic():
                serializer.save(owner=self.request.user)
        except IntegrityError as exc:
            raise _integrity_error(exc) from None

    def perform_update(self, serializer: Any) -> None:
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError as exc:
            raise _integrity_error(exc) from None


class PositionViewSet(viewsets.ModelViewSet[Position]):
    """The positions of one of your portfolios, each with its live price and value."""

    permission_classes = [IsAuthenticated]
    serializer_class = PositionSerializer
    queryset = Position.objects.none()

    def portfolio(self) -> Portfolio:
        cached: Portfolio | None = getattr(self, "_portfolio", None)
        if cached is None:
            cached = get_object_or_404(
                Portfolio, pk=self.kwargs["portfolio_pk"], owner_id=self.request.user.pk
            )
            self._portfolio = cached
        return cached

    def get_queryset(self) -> QuerySet[Position]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Position.objects.none()
        return (
            Position.objects.filter(portfolio=self.portfolio())
            .select_related("asset")
            .order_by("asset__symbol")
        )

    def get_serializer_context(self) -> dict[str, Any]:
        # A dict at run time; the stubs promise only a Mapping.
        context = cast(dict[str, Any], super().get_serializer_context())
        if getattr(self, "swagger_fake_view", False) or "portfolio_pk" not in self.kwargs:
            return context
        portfolio = self.portfolio()
        context["portfolio"] = portfolio
        if self.request.method in ("GET", "POST", "PUT", "PATCH"):
            context["valuation"] = _LazyValuation(portfolio.pk)
        return context

    def perform_create(self, serializer: Any) -> None:
        try:
            with transaction.atomic():
                serializer.save(portfolio=self.portfolio())
        except IntegrityError as exc:
            raise _integrity_error(exc) from None

    def perform_update(self, serializer: Any) -> None:
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError as exc:
            raise _integrity_error(exc) from None


class _LazyValuation:
    """The portfolio's valuation, computed when a response first reads it (after a write,
    so a created or changed position is valued with its new quantity)."""

    def __init__(self, portfolio_id: int) -> None:
        self.portfolio_id = portfolio_id
        self._value: Any = None

    @property
    def positions(self) -> Any:
        if self._value is None:
            book = load_book(self.portfolio_id)
            self._value = valuate(book) if book is not None else None
        return self._value.positions if self._value is not None else ()


_HistoryResponse = inline_serializer(
    "PortfolioHistoryResponse",
    {
        "portfolio_id": serializers.IntegerField(),
        "currency": serializers.CharField(),
        "interval": serializers.ChoiceField(choices=list(INTERVALS)),
        "start": serializers.DateTimeField(),
        "end": serializers.DateTimeField(),
        "count": serializers.IntegerField(),
        "truncated": serializers.BooleanField(),
        "missing": serializers.ListField(child=serializers.CharField()),
        "points": inline_serializer(
            "PortfolioValuePoint",
            {
                "time": serializers.DateTimeField(),
                "value": serializers.DecimalField(max_digits=40, decimal_places=2),
            },
            many=True,
        ),
    },
)


class PortfolioHistoryView(APIView):
    """``GET /api/portfolios/<id>/history/?interval=1m|5m|15m|1h|1d&start=&end=``: the
    portfolio's value at each bar start: its current holdings valued at the stored bars'
    closes, converted to its currency with the FX assets' closes
    (:mod:`tickwire.portfolios.history`). ``start``/``end`` as for the bars API (the same
    defaults per interval); ``missing`` names symbols with no bar in the range (then there
    are no points).

    Raises:
        rest_framework.exceptions.NotFound: not one of your portfolios (HTTP 404).
        rest_framework.exceptions.ValidationError: bad interval, time or range (HTTP 400).
    """

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "interval",
                OpenApiTypes.STR,
                enum=list(INTERVALS),
                default="5m",
                description="Bar length whose closes value the holdings.",
            ),
            OpenApiParameter(
                "start",
                OpenApiTypes.STR,
                description="First bar start (ISO-8601 or Unix seconds); default as for "
                "/api/assets/<symbol>/bars/.",
            ),
            OpenApiParameter("end", OpenApiTypes.STR, description="Last bar start; default now."),
        ],
        responses={
            200: _HistoryResponse,
            400: OpenApiResponse(description="Unknown interval, bad time or start after end"),
            404: OpenApiResponse(description="Not one of your portfolios"),
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        get_object_or_404(Portfolio, pk=pk, owner_id=request.user.pk)
        interval, start, end = bar_range(request.query_params, "5m")
        book = load_book(pk)
        if book is None:  # deleted since the ownership check
            raise NotFound(f"No portfolio {pk}.")
        series = value_history(book, interval, start, end, MAX_BARS)
        return Response(
            {
                "portfolio_id": book.portfolio_id,
                "currency": book.currency,
                "interval": interval,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "count": len(series.points),
                "truncated": series.truncated,
                "missing": list(series.missing),
                "points": [
                    {"time": p.time.isoformat(), "value": str(p.value)} for p in series.points
                ],
            }
        )


_TokenResponse = inline_serializer("AuthTokenResponse", {"token": serializers.CharField()})


class AuthTokenView(APIView):
    """``POST`` username and password for your API token; ``DELETE`` (with the token) to
    revoke it, which also closes the WebSockets authenticated with it."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [AllowAny]
    serializer_class = AuthTokenSerializer

    @extend_schema(
        request=AuthTokenSerializer,
        responses={
            200: _TokenResponse,
            400: OpenApiResponse(description="Missing fields or wrong username/password"),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = AuthTokenSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    @extend_schema(request=None, responses={204: None, 401: None})
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, Token):
            raise NotAuthenticated("Send the token to revoke: Authorization: Token <key>.")
        request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
