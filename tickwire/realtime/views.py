"""HTTP views of the realtime app: home page, websocket-info, status, health, probes, metrics.

The JSON views are async so they read the runtime from the event loop that owns it.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from tickwire.assets.models import Asset
from tickwire.stream.protocol import PROTOCOL_VERSION, ClientType, CloseCode, ErrorCode

from . import metrics
from .access import address_allowed, token_matches
from .auth import token_from_header, user_for_token
from .runtime import current_runtime
from .status import feed_heartbeats, health_report, readiness, service_status

WS_PATH = "/ws/realtime/"

CLIENT_MESSAGES = {
    ClientType.PING: "Health check message; answered with pong",
    ClientType.SUBSCRIBE_ASSET: "Subscribe to asset price updates: {symbol} or {symbols: [...]}, "
    "optional since (last seq seen) to resume",
    ClientType.UNSUBSCRIBE_ASSET: "Stop asset price updates: {symbol} or {symbols: [...]}",
    ClientType.SUBSCRIBE_PORTFOLIO: "Subscribe to live portfolio values: {portfolio_id} "
    "(owner only, authenticated)",
    ClientType.UNSUBSCRIBE_PORTFOLIO: "Stop portfolio updates: {portfolio_id}",
    ClientType.AUTHENTICATE: "Authenticate this connection with an API token: {token}",
    ClientType.CONFIGURE: "Connection options: {batch: true} delivers several updates per "
    "frame as a JSON array",
}


def home(request: HttpRequest) -> HttpResponse:
    assets = Asset.objects.filter(is_active=True).order_by("kind", "symbol")[:50]
    return render(request, "home.html", {"assets": assets})


def _ws_url(request: HttpRequest) -> tuple[str, str, str]:
    protocol = "wss" if request.is_secure() else "ws"
    host = request.get_host()
    return f"{protocol}://{host}{WS_PATH}", protocol, host


async def websocket_info(request: HttpRequest) -> JsonResponse:
    url, protocol, host = _ws_url(request)
    return JsonResponse(
        {
            "websocket_url": url,
            "connection_info": {
                "protocol": protocol,
                "host": host,
                "path": WS_PATH,
                "authentication": "session-based",
                "authentication_methods": ["session", "token-header", "authenticate-message"],
                "protocol_version": PROTOCOL_VERSION,
            },
            "message_types": {t.value: text for t, text in CLIENT_MESSAGES.items()},
            "error_codes": [c.value for c in ErrorCode],
            "close_codes": {c.name.lower(): c.value for c in CloseCode},
            "limits": {
                "max_message_bytes": settings.TICKWIRE_MAX_MESSAGE_BYTES,
                "max_subscriptions_per_connection": settings.MAX_SUBSCRIPTIONS_PER_CONNECTION,
                "max_connections_per_user": settings.MAX_CONNECTIONS_PER_USER,
                "websocket_timeout": settings.WEBSOCKET_TIMEOUT,
                "rate_limit_per_second": settings.TICKWIRE_RATE_LIMIT_PER_SECOND,
            },
        }
    )


async def _caller(request: HttpRequest) -> tuple[int | None, bool]:
    """The caller's user id and whether they are staff: an ``Authorization: Token``
    header, else the session."""
    key = token_from_header(request.headers.get("Authorization"))
    if key is not None:
        token_user = await user_for_token(key)
        if token_user is None:
            return None, False
        return token_user.pk, bool(token_user.is_staff)
    user = await request.auser()
    if not user.is_authenticated:
        return None, False
    return user.pk, bool(user.is_staff)


async def status(request: HttpRequest) -> JsonResponse:
    """Service status; with Redis, ``global_stats`` sums every live node. Staff also see
    each node, the feed and the broker."""
    user_id, staff = await _caller(request)
    return JsonResponse(await service_status(current_runtime(), user_id, staff=staff))


async def health(request: HttpRequest) -> JsonResponse:
    """Public (for load balancers): 200 when the price feed is live, 503 when it is stale.

    In the scaled-out mode the feed runs in its own process: its heartbeat in Redis says.
    """
    body, healthy = await health_report(current_runtime())
    return JsonResponse(body, status=200 if healthy else 503)


async def live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers HTTP. Touches nothing else, so a slow database or a
    lost broker never gets a node restarted (that is what readiness is for)."""
    return JsonResponse({"status": "alive"})


async def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 while the database and the broker answer, else 503 naming the
    failing one. Not tied to the feed: a dead feed must not take every node out of the
    load balancer (``/realtime/health/`` reports the feed)."""
    body, ok = await readiness(current_runtime())
    return JsonResponse(body, status=200 if ok else 503)


async def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """``/metrics`` for Prometheus: from ``TICKWIRE_METRICS_ALLOW`` addresses, or with
    ``Authorization: Bearer`` and ``TICKWIRE_METRICS_TOKEN``; 403 otherwise."""
    allowed = address_allowed(
        request.META.get("REMOTE_ADDR"), settings.TICKWIRE_METRICS_ALLOW
    ) or token_matches(request.headers.get("Authorization"), settings.TICKWIRE_METRICS_TOKEN)
    if not allowed:
        return HttpResponse(
            "forbidden: this address is not in TICKWIRE_METRICS_ALLOW and no valid "
            "bearer token (TICKWIRE_METRICS_TOKEN) was sent\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    runtime = current_runtime()
    remote = await feed_heartbeats(runtime) if runtime is not None else []
    return HttpResponse(metrics.render(runtime, remote), content_type=metrics.CONTENT_TYPE)
