"""Faults answered honestly: a database that cannot be reached is a 503, not a 500.

While the database is down (stopped, restarting, unreachable, or SQLite locked past its
timeout) a request that needs it cannot succeed *now* but will later: that is 503 Service
Unavailable with ``Retry-After``, which clients, load balancers and proxies know to retry,
not 500, which says the server is broken. Two entry points share the answer:

* :func:`api_exception_handler` — the REST API's (``REST_FRAMEWORK["EXCEPTION_HANDLER"]``):
  every DRF view, including its authentication (a token lookup is a query).
* :class:`DatabaseUnavailableMiddleware` — every other view (pages, login, admin).

Only errors that mean "cannot talk to the database" count (``OperationalError``,
``InterfaceError``); an ``IntegrityError`` is the request's fault and keeps its answer.
The connection that failed is closed, so the next request reconnects instead of reusing
a dead one; :func:`database_work` does the same for work outside requests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.response import Response
from rest_framework.views import exception_handler

__all__ = [
    "DATABASE_UNAVAILABLE",
    "DatabaseUnavailableMiddleware",
    "api_exception_handler",
    "is_database_down",
]

log = logging.getLogger("tickwire.faults")

#: The error code in a 503 body.
DATABASE_UNAVAILABLE = "database_unavailable"
_MESSAGE = "The database is unavailable; retry shortly."


def is_database_down(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached (as opposed to a bad query)."""
    return isinstance(exc, (OperationalError, InterfaceError))


def _retry_after() -> str:
    return str(int(settings.TICKWIRE_RETRY_AFTER_SECONDS))


def _forget_connections(exc: BaseException) -> None:
    log.warning("database unavailable: %s", exc)
    # A connection that failed is not reused: the next request connects afresh.
    close_old_connections()


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus 503 with ``Retry-After`` for an unreachable database."""
    if is_database_down(exc):
        _forget_connections(exc)
        return Response(
            {"detail": _MESSAGE, "code": DATABASE_UNAVAILABLE},
            status=503,
            headers={"Retry-After": _retry_after()},
        )
    return exception_handler(exc, context)


class DatabaseUnavailableMiddleware:
    """503 with ``Retry-After`` for any other view that fails to reach the database."""

    sync_capable = True
    async_capable = False  # Django adapts it; the exception hook is synchronous anyway

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_down(exception):
            return None
        _forget_connections(exception)
        response: HttpResponse
        if request.path.startswith("/api/") or "json" in request.headers.get("Accept", ""):
            response = JsonResponse(
                {"detail": _MESSAGE, "code": DATABASE_UNAVAILABLE}, status=503
            )
        else:
            response = HttpResponse(_MESSAGE, status=503, content_type="text/plain")
        response["Retry-After"] = _retry_after()
        return response
