"""What ``/realtime/status/`` and ``/realtime/health/`` report.

Assembled from this process's runtime and, scaled out (Redis), from every live node's and
feed process's heartbeat. The views only find the caller and turn these into responses.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from tickwire.stream.channels import parse_channel

from .runtime import Runtime

__all__ = [
    "alerts_status",
    "cluster_stats",
    "database_ok",
    "feed_heartbeats",
    "feed_routes",
    "feed_running",
    "health_report",
    "price_feed_running",
    "readiness",
    "service_status",
    "user_stats",
]

log = logging.getLogger("tickwire.realtime")

_STAT_KEYS = ("total_connections", "portfolio_subscriptions", "asset_subscriptions")


async def service_status(
    runtime: Runtime | None, user_id: int | None, *, staff: bool = False
) -> dict[str, Any]:
    """The status body: seed 003's ``service_status`` and ``global_stats`` (summed over
    every live node) for anyone, ``user_stats`` for a caller ``user_id``, and — for
    ``staff`` only, since host names, pids and the deployment's shape help an attacker
    more than a user — the feed's, the broker's and each node's state."""
    if runtime is None:
        return {
            "service_status": "stopped",
            "global_stats": {
                "total_connections": 0,
                "authenticated_users": 0,
                "portfolio_subscriptions": 0,
                "asset_subscriptions": 0,
            },
        }
    global_stats, nodes = await cluster_stats(runtime)
    body: dict[str, Any] = {"service_status": "running", "global_stats": global_stats}
    if user_id is not None:
        body["user_stats"] = user_stats(runtime, user_id)
        # Connections count across nodes; subscriptions are this node's.
        body["user_stats"]["connection_count"] = await runtime.user_connections(user_id)
    if not staff:
        return body
    body["price_feed"] = runtime.feed.status() if runtime.feed is not None else None
    feeds = [body["price_feed"]] if body["price_feed"] is not None else []
    if runtime.cluster.shared and body["price_feed"] is None:
        feeds = body["price_feed_processes"] = await _feeds(runtime)
    routes = [r for r in (feed_routes(f) for f in feeds) if r is not None]
    if routes:
        body["feed_routes"] = routes[0]
    body["alerts"] = alerts_status(runtime, feeds)
    body["broker"] = {
        "url_scheme": settings.TICKWIRE_BROKER_URL.split(":", 1)[0],
        "connected": runtime.broker.is_connected,
        "channels": len(runtime.node.broker_channels),
    }
    if runtime.dispatcher is not None:
        body["alert_deliveries"] = await runtime.dispatcher.status()
    body["node_id"] = runtime.cluster.node_id
    body["node_count"] = len(nodes)
    body["nodes"] = nodes
    body["uptime_seconds"] = round(_now().timestamp() - runtime.started_at, 1)
    return body


def alerts_status(runtime: Runtime, feeds: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The alert evaluator's status: this process's, else (scaled out) the one in a feed
    process's heartbeat; None where no evaluator runs."""
    if runtime.alerts is not None:
        return runtime.alerts.status()
    for feed in feeds:
        if isinstance(feed.get("alerts"), dict):
            return dict(feed["alerts"])
    return None


async def health_report(runtime: Runtime | None) -> tuple[dict[str, Any], bool]:
    """The health body, and whether this process is healthy: a price feed publishes (here
    or, scaled out, in its own process), the database answers and the broker is connected.
    ``failing`` names each dependency that is not, so an operator reading a 503 knows
    where to look."""
    running = runtime is not None and await price_feed_running(runtime)
    db_ok = await sync_to_async(database_ok)()
    broker_ok = runtime is not None and runtime.broker.is_connected
    failing = [
        name
        for name, ok in (("price_feed", running), ("database", db_ok), ("broker", broker_ok))
        if not ok
    ]
    body = {
        "price_feed_running": running,
        "active_connections": len(runtime.connections) if runtime is not None else 0,
        "database": "ok" if db_ok else "unavailable",
        "broker": "ok" if broker_ok else "unavailable",
        "failing": failing,
        "timestamp": _now().isoformat(),
    }
    return body, not failing


async def readiness(runtime: Runtime | None) -> tuple[dict[str, Any], bool]:
    """The readiness body, and whether this node can serve: its runtime runs, the database
    answers and the broker link is up. ``failing`` names what is not."""
    db_ok = await sync_to_async(database_ok)()
    checks = {
        "runtime": "ok" if runtime is not None else "not started",
        "database": "ok" if db_ok else "unavailable",
        "broker": "ok" if runtime is not None and runtime.broker.is_connected else "unavailable",
    }
    failing = [name for name, state in checks.items() if state != "ok"]
    body = {
        "status": "ready" if not failing else "not ready",
        "checks": checks,
        "failing": failing,
        "timestamp": _now().isoformat(),
    }
    return body, not failing


async def feed_heartbeats(runtime: Runtime) -> list[dict[str, Any]]:
    """The feed processes' heartbeats (scaled out; empty with one process or no Redis)."""
    if not runtime.cluster.shared:
        return []
    return await _feeds(runtime)


def feed_routes(feed: dict[str, Any]) -> dict[str, Any] | None:
    """Which source serves each asset, and each source's state, of a feed running
    TICKWIRE_FEED_SOURCES (None for a single source): ``{"sources": {name: {"source",
    "up", "primary_for", "backup_for", "active_for", "failovers", "recoveries"}},
    "assets": {symbol: {"active", "primary", "backup", "since", "switches",
    "last_switch_reason"}}, "unrouted": [...]}``."""
    source = feed.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("sources"), dict):
        return None
    sources = {}
    for name, member in source["sources"].items():
        inner = member.get("status") or {}
        sources[name] = {
            "source": inner.get("source"),
            "connected": inner.get("connected"),
            **{k: v for k, v in member.items() if k != "status"},
        }
    return {
        "sources": sources,
        "assets": source.get("assets", {}),
        "unrouted": source.get("unrouted", []),
        "switches": source.get("switches", 0),
    }


def feed_running(runtime: Runtime) -> bool:
    """Whether this process's own feed is publishing: one with no instruments is not."""
    feed = runtime.feed
    return (
        feed is not None
        and bool(feed.quotes)
        and not feed.is_stale(settings.TICKWIRE_FEED_STALE_SECONDS)
    )


async def price_feed_running(runtime: Runtime) -> bool:
    """Whether a price feed publishes: this process's, or (Redis) any live feed's."""
    if feed_running(runtime):
        return True
    if not runtime.cluster.shared:
        return False
    try:
        feeds = await runtime.cluster.feeds()
    except Exception:
        return False
    now = time.time()
    stale = settings.TICKWIRE_FEED_STALE_SECONDS
    for feed in feeds:
        last = feed.get("last_publish_at") or feed.get("started_at") or 0.0
        # A heartbeat says how many symbols its feed has; one with none publishes nothing.
        if feed.get("running") and feed.get("symbols", 1) and now - float(last) <= stale:
            return True
    return False


async def cluster_stats(runtime: Runtime) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """(global stats summed over every live node, each node's stats)."""
    cluster = runtime.cluster
    if not cluster.shared:
        return runtime.global_stats(), [runtime.node_stats() | {"node_id": cluster.node_id}]
    try:
        nodes = await cluster.nodes()
        users = await cluster.authenticated_users()
    except Exception as exc:
        log.warning("reading cluster stats from Redis failed: %s", exc)
        return runtime.global_stats(), [runtime.node_stats() | {"node_id": cluster.node_id}]
    totals = {k: sum(int(n.get(k, 0)) for n in nodes) for k in _STAT_KEYS}
    totals["authenticated_users"] = (
        users if users is not None else sum(int(n.get("authenticated_users", 0)) for n in nodes)
    )
    order = ("total_connections", "authenticated_users", *_STAT_KEYS[1:])
    return {k: totals[k] for k in order}, nodes


def user_stats(runtime: Runtime, user_id: int) -> dict[str, Any]:
    """``user_id``'s connections and subscriptions on this node."""
    conns = [c for c in runtime.connections.values() if c.user_id == user_id]
    portfolios: set[int] = set()
    assets: set[str] = set()
    for conn in conns:
        for channel in conn.outbox.channels:
            name = parse_channel(channel)
            if name.portfolio_id is not None:
                portfolios.add(name.portfolio_id)
            elif name.symbol is not None:
                assets.add(name.symbol)
    return {
        "connection_count": len(conns),
        "subscriptions": {"portfolios": sorted(portfolios), "assets": sorted(assets)},
    }


def database_ok() -> bool:
    """Whether the database answers a query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


async def _feeds(runtime: Runtime) -> list[dict[str, Any]]:
    try:
        return await runtime.cluster.feeds()
    except Exception:
        return []


def _now() -> datetime:
    return datetime.now(UTC)
