"""REST endpoints of the realtime app: ``POST /api/realtime/force_price_update/``."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tickwire.assets.models import Asset

from .runtime import Runtime, current_runtime

__all__ = ["MAX_FORCED_SYMBOLS", "FeedUnavailable", "ForcePriceUpdateView"]

#: Most symbols one forced update may name.
MAX_FORCED_SYMBOLS = 500
_SYMBOL = re.compile(r"^[A-Z0-9]+(?:[.\-/][A-Z0-9]+)*$")


class FeedUnavailable(Exception):
    """No realtime runtime runs in this process, so nothing can carry the request."""


def validate_symbols(body: Any) -> list[str]:
    """The distinct, upper-cased, known symbols of a force-update body.

    Raises:
        rest_framework.exceptions.ValidationError: missing, malformed or unknown (HTTP 400).
    """
    symbols = body.get("symbols") if isinstance(body, dict) else None
    if not isinstance(symbols, list) or not symbols:
        raise ValidationError({"symbols": ["A non-empty list of symbols is required."]})
    if len(symbols) > MAX_FORCED_SYMBOLS:
        raise ValidationError({"symbols": [f"At most {MAX_FORCED_SYMBOLS} symbols."]})
    bad = [s for s in symbols if not isinstance(s, str) or not _SYMBOL.match(s.strip().upper())]
    if bad:
        raise ValidationError({"symbols": [f"Not symbols: {bad[:10]}"]})
    wanted = list(dict.fromkeys(s.strip().upper() for s in symbols))
    known = set(
        Asset.objects.filter(symbol__in=wanted, is_active=True).values_list("symbol", flat=True)
    )
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise ValidationError({"symbols": [f"Unknown symbols: {', '.join(unknown)}"]})
    return wanted


def send_price_update(symbols: list[str], timeout: float = 5.0) -> Runtime:
    """Publish the request through this process's runtime (from a worker thread).

    Raises FeedUnavailable when no runtime runs here, TimeoutError if the broker is stuck.
    """
    runtime = current_runtime()
    loop = runtime.loop if runtime is not None else None
    if runtime is None or loop is None or not loop.is_running():
        raise FeedUnavailable("the realtime runtime is not running in this process")
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:  # pragma: no cover - Django runs sync views in a worker thread
        raise FeedUnavailable("cannot wait for the runtime from its own event loop")
    future = asyncio.run_coroutine_threadsafe(runtime.request_price_update(symbols), loop)
    future.result(timeout)
    return runtime


class ForcePriceUpdateView(APIView):
    """``POST {"symbols": [...]}`` (staff only): the running price feed fetches and
    publishes those symbols now — whether it runs in this server or in its own process
    (``start_price_feed``), since the request travels through the broker.

    Answers 202 with the symbols; 400 for a bad body or unknown symbols; 403 for
    non-staff; 503 when this process runs no realtime runtime.
    """

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(
        request=inline_serializer(
            "ForcePriceUpdateRequest",
            {"symbols": serializers.ListField(child=serializers.CharField(), min_length=1)},
        ),
        responses={
            202: inline_serializer(
                "ForcePriceUpdateAccepted",
                {
                    "status": serializers.CharField(),
                    "symbols": serializers.ListField(child=serializers.CharField()),
                    "feed": serializers.ChoiceField(["in_process", "external"]),
                },
            ),
            400: OpenApiResponse(description="a bad body or unknown symbols, by field"),
            403: OpenApiResponse(description="not staff"),
            503: OpenApiResponse(description="no realtime runtime runs in this process"),
        },
    )
    def post(self, request: Request) -> Response:
        symbols = validate_symbols(request.data)
        try:
            runtime = send_price_update(symbols)
        except (FeedUnavailable, TimeoutError) as exc:
            return Response(
                {"detail": f"Price update could not be sent: {exc}"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response(
            {
                "status": "accepted",
                "symbols": symbols,
                "feed": "in_process" if runtime.feed is not None else "external",
            },
            status=status.HTTP_202_ACCEPTED,
        )
