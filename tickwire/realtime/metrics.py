"""``GET /metrics``: this node's numbers in the Prometheus text format, read at scrape time.

Nothing on the hot path calls a metrics library: the hub, the outboxes, the node, the
broker, the feed and the valuer keep plain integer counters as they work, and
:class:`TickwireCollector` turns them into metric families when Prometheus asks. A scrape
costs one pass over this node's connections (for the conflation count) and, scaled out,
one Redis read of the feed processes' heartbeats.

Per node, so Prometheus scrapes every node itself (not through the load balancer). The
feed metrics come from this process's feed or, scaled out, from the heartbeat every feed
process writes to Redis; each node reports the same feeds, labelled by ``feed``, so
dashboards take ``max by (source)``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from tickwire.stream.channels import channel_portfolio_id, channel_symbol

from .runtime import Runtime
from .status import alerts_status

__all__ = ["CONTENT_TYPE", "TickwireCollector", "feed_states", "render"]

#: The Prometheus text exposition format, version 0.0.4.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def feed_states(runtime: Runtime, remote: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every feed this node knows of, as ``{"feed", "source", "running", "connected",
    "published", "rejected", "last_tick_at"}``: its own (in process) and, scaled out, the
    feed processes' heartbeats in ``remote``."""
    feeds: list[dict[str, Any]] = []
    if runtime.feed is not None:
        status = runtime.feed.status()
        feeds.append(_feed_state(f"{runtime.cluster.node_id}", status))
    for beat in remote:
        feeds.append(_feed_state(str(beat.get("feed_id", "feed")), beat))
    return feeds


def _feed_state(feed_id: str, status: Mapping[str, Any]) -> dict[str, Any]:
    source = status.get("source")
    source_status: Mapping[str, Any] = source if isinstance(source, Mapping) else {}
    running = bool(status.get("running"))
    return {
        "feed": feed_id,
        "source": str(source_status.get("source", "unknown")),
        "running": running,
        # Streaming sources say whether their upstream connection is open; the others
        # (simulator, polling, replay) are up while the feed runs.
        "connected": running and bool(source_status.get("connected", True)),
        "published": int(status.get("published") or 0),
        "rejected": int(status.get("rejected_ticks") or 0),
        "last_tick_at": status.get("last_publish_at") or status.get("started_at"),
        "routes": _routes(source_status),
    }


def _routes(source_status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A routed source's members (TICKWIRE_FEED_SOURCES), as ``{"route", "source", "up",
    "active_for", "failovers", "recoveries"}``; empty for a single source."""
    members = source_status.get("sources")
    if not isinstance(members, Mapping):
        return []
    out = []
    for name, member in members.items():
        if not isinstance(member, Mapping):
            continue
        inner = member.get("status")
        out.append(
            {
                "route": str(name),
                "source": str(inner.get("source", "unknown")) if isinstance(inner, Mapping) else "",
                "up": bool(member.get("up")),
                "active_for": int(member.get("active_for") or 0),
                "failovers": int(member.get("failovers") or 0),
                "recoveries": int(member.get("recoveries") or 0),
            }
        )
    return out


class TickwireCollector(Collector):
    """The runtime's counters as metric families, computed when collected."""

    def __init__(
        self,
        runtime: Runtime,
        feeds: list[dict[str, Any]],
        alerts: Mapping[str, Any] | None = None,
    ) -> None:
        self.runtime = runtime
        self.feeds = feeds
        self.alerts = alerts

    def collect(self) -> Iterator[Metric]:
        runtime = self.runtime
        hub = runtime.node.hub
        yield from self._connections()
        yield _counter(
            "tickwire_updates_published_total",
            "Updates this node fanned out (publications with local subscribers).",
            hub.published,
        )
        yield _counter(
            "tickwire_updates_delivered_total",
            "Updates handed to subscribers' outboxes (one per subscriber per update).",
            hub.fanned_out,
        )
        yield _counter(
            "tickwire_updates_conflated_total",
            "Updates replaced by a newer one of the same channel before they were sent.",
            runtime.conflated(),
        )
        closes = CounterMetricFamily(
            "tickwire_closes_total", "WebSocket connections ended, by close code.", labels=["code"]
        )
        for code, count in sorted(runtime.closes.items()):
            closes.add_metric([str(code)], count)
        yield closes
        broker = runtime.broker
        yield _gauge(
            "tickwire_broker_connected",
            "1 while the broker link is up (always 1 for the embedded memory broker).",
            1 if broker.is_connected else 0,
        )
        yield _counter(
            "tickwire_broker_reconnects_total",
            "Times the broker's pub/sub connection was re-established.",
            int(getattr(broker, "reconnects", 0)),
        )
        yield _counter(
            "tickwire_broker_resyncs_total",
            "Channel resets (history lost or a new epoch): subscribers got recovered:false.",
            runtime.node.resets,
        )
        yield _counter(
            "tickwire_portfolio_valuations_total",
            "Portfolio valuations computed on this node.",
            runtime.valuer.valuations,
        )
        yield _counter(
            "tickwire_portfolio_updates_published_total",
            "portfolio_update messages this node published.",
            runtime.valuer.published,
        )
        yield from self._feeds()
        yield from self._alerts()
        yield self._latency()
        yield self._alert_deliveries()

    def _alert_deliveries(self) -> Metric:
        family = CounterMetricFamily(
            "tickwire_alert_deliveries_total",
            "Alert delivery attempts of this process's dispatcher, by channel and result "
            "(delivered, retried, failed).",
            labels=["channel", "result"],
        )
        dispatcher = self.runtime.dispatcher
        if dispatcher is not None:
            for (channel, result), count in sorted(dispatcher.counts.items()):
                family.add_metric([channel, result], count)
        return family

    def _alerts(self) -> Iterator[Metric]:
        # The cluster's one evaluator: this process's, or the feed process's heartbeat.
        alerts = self.alerts
        if alerts is None:
            return
        yield _gauge("tickwire_alert_rules", "Alert rules the evaluator holds.", alerts["rules"])
        yield _counter(
            "tickwire_alert_fires_total",
            "Alert fires the evaluator decided since it started.",
            alerts["fires"],
        )
        yield _gauge(
            "tickwire_alert_state_writes_pending",
            "Alert fires and rule states not written to the database yet.",
            alerts["writes_pending"],
        )

    def _connections(self) -> Iterator[Metric]:
        connections = GaugeMetricFamily(
            "tickwire_connections", "Open WebSocket connections.", labels=["authenticated"]
        )
        authenticated = assets = portfolios = 0
        for conn in self.runtime.connections.values():
            if conn.user_id is not None:
                authenticated += 1
            for channel in conn.outbox.channels:
                if channel_portfolio_id(channel) is not None:
                    portfolios += 1
                elif channel_symbol(channel) is not None:
                    assets += 1
        total = len(self.runtime.connections)
        connections.add_metric(["true"], authenticated)
        connections.add_metric(["false"], total - authenticated)
        yield connections
        subscriptions = GaugeMetricFamily(
            "tickwire_subscriptions", "Client subscriptions, by kind.", labels=["kind"]
        )
        subscriptions.add_metric(["asset"], assets)
        subscriptions.add_metric(["portfolio"], portfolios)
        yield subscriptions

    def _feeds(self) -> Iterator[Metric]:
        labels = ["source", "feed"]
        ticks = CounterMetricFamily(
            "tickwire_feed_ticks_total", "Ticks the feed accepted and published.", labels=labels
        )
        rejected = CounterMetricFamily(
            "tickwire_feed_ticks_rejected_total",
            "Ticks the feed rejected (unknown symbol, nonsensical price).",
            labels=labels,
        )
        up = GaugeMetricFamily(
            "tickwire_feed_source_up",
            "1 while the feed runs and its source is connected.",
            labels=labels,
        )
        age = GaugeMetricFamily(
            "tickwire_feed_last_tick_age_seconds",
            "Seconds since the feed last published a tick (since its start if none yet).",
            labels=labels,
        )
        now = time.time()
        for feed in self.feeds:
            key = [feed["source"], feed["feed"]]
            ticks.add_metric(key, feed["published"])
            rejected.add_metric(key, feed["rejected"])
            up.add_metric(key, 1 if feed["connected"] else 0)
            if feed["last_tick_at"] is not None:
                age.add_metric(key, max(0.0, now - float(feed["last_tick_at"])))
        yield from (ticks, rejected, up, age)
        yield from self._routes()

    def _routes(self) -> Iterator[Metric]:
        # Per route (a configured source), never per asset: label sets stay few.
        labels = ["route", "source", "feed"]
        up = GaugeMetricFamily(
            "tickwire_feed_route_up",
            "1 while a source of TICKWIRE_FEED_SOURCES is up (connected, its ticks running).",
            labels=labels,
        )
        active = GaugeMetricFamily(
            "tickwire_feed_route_active_assets",
            "Assets a source of TICKWIRE_FEED_SOURCES serves right now (as primary or backup).",
            labels=labels,
        )
        switches = CounterMetricFamily(
            "tickwire_feed_failovers_total",
            "Assets switched away from this primary source to its backup (direction "
            "to_backup) and back to it (to_primary).",
            labels=[*labels, "direction"],
        )
        for feed in self.feeds:
            for route in feed["routes"]:
                key = [route["route"], route["source"], feed["feed"]]
                up.add_metric(key, 1 if route["up"] else 0)
                active.add_metric(key, route["active_for"])
                switches.add_metric([*key, "to_backup"], route["failovers"])
                switches.add_metric([*key, "to_primary"], route["recoveries"])
        yield from (up, active, switches)

    def _latency(self) -> Metric:
        buckets, total, _count = self.runtime.node.latency.snapshot()
        family = HistogramMetricFamily(
            "tickwire_publish_to_send_seconds",
            "Sampled (1 in 32): from a publication reaching this node to its frame handed "
            "to every local subscriber's socket.",
        )
        family.add_metric(
            [], [("+Inf" if b == float("inf") else repr(b), n) for b, n in buckets], total
        )
        return family


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def render(runtime: Runtime | None, remote_feeds: list[dict[str, Any]]) -> bytes:
    """The text exposition of this process: Tickwire's metrics (while a runtime runs) and
    the standard ``process_*`` ones (CPU, memory, open files, start time)."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    if runtime is not None:
        alerts = alerts_status(runtime, remote_feeds)
        registry.register(TickwireCollector(runtime, feed_states(runtime, remote_feeds), alerts))
    return generate_latest(registry)
