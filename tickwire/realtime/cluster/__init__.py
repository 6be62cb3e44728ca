"""State shared by every server node: membership, per-user connection counts, stats, feeds.

One interface (:mod:`.base`), one module per backend — :mod:`.local` for one process
(alongside the memory broker), :mod:`.redis` for nodes sharing a Redis — and the price
feed's heartbeat (:mod:`.heartbeat`). The broker URL picks the backend, as it picks the
broker: :func:`create_cluster` and :func:`create_feed_heartbeat`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tickwire.stream.brokers import Broker

from .base import Cluster, StatsFunction, new_node_id
from .heartbeat import FeedHeartbeat
from .local import LocalCluster
from .redis import RedisCluster

if TYPE_CHECKING:
    from tickwire.stream.brokers.redis import RedisBroker

__all__ = [
    "Cluster",
    "FeedHeartbeat",
    "LocalCluster",
    "RedisCluster",
    "StatsFunction",
    "create_cluster",
    "create_feed_heartbeat",
    "new_node_id",
]

# The schemes create_broker builds a RedisBroker for.
_REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})


def _redis_broker(url: str, broker: Broker) -> RedisBroker | None:
    """None when ``url`` is ``memory:``; ``broker`` when it is a Redis URL (the cluster
    shares the broker's client: one connection pool per process).

    Raises ValueError for an unknown scheme, or a Redis URL with a broker that is not a
    :class:`RedisBroker`.
    """
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return None
    if scheme not in _REDIS_SCHEMES:
        raise ValueError(f"unknown broker URL scheme {scheme!r} in {url!r}")
    # redis-py is the redis extra: imported only when a Redis URL is used, so the embedded
    # default (memory://) runs without it.
    from tickwire.stream.brokers.redis import RedisBroker

    if not isinstance(broker, RedisBroker):
        raise ValueError(f"broker URL {url!r} needs a RedisBroker, not {type(broker).__name__}")
    return broker


def create_cluster(
    url: str, broker: Broker, *, heartbeat: float = 2.0, node_timeout: float = 10.0
) -> Cluster:
    """The cluster for broker ``url``: a :class:`LocalCluster` for ``memory:``, a
    :class:`RedisCluster` on the Redis ``broker`` uses (and its key prefix) otherwise.

    Raises ValueError for an unknown scheme, or a Redis URL with another broker.
    """
    redis_broker = _redis_broker(url, broker)
    if redis_broker is None:
        return LocalCluster()
    return RedisCluster(
        redis_broker.redis,
        prefix=redis_broker.prefix,
        heartbeat=heartbeat,
        node_timeout=node_timeout,
    )


def create_feed_heartbeat(
    url: str,
    broker: Broker,
    status: StatsFunction,
    *,
    prefix: str = "tickwire",
    interval: float = 1.0,
    ttl: float = 10.0,
) -> FeedHeartbeat | None:
    """A :class:`FeedHeartbeat` on the Redis of broker ``url``, or None for ``memory:``
    (one process: the server reads its own feed's status directly).

    Raises ValueError for an unknown scheme, or a Redis URL with another broker.
    """
    redis_broker = _redis_broker(url, broker)
    if redis_broker is None:
        return None
    return FeedHeartbeat(redis_broker.redis, status, prefix=prefix, interval=interval, ttl=ttl)
