"""Brokers carry channel updates between processes: memory (one process) or Redis."""

from __future__ import annotations

from urllib.parse import urlsplit

from .base import (
    Broker,
    BrokerUnavailable,
    ChannelReset,
    History,
    Publication,
    PublicationHandler,
    ResetHandler,
)
from .memory import MemoryBroker

__all__ = [
    "Broker",
    "BrokerUnavailable",
    "ChannelReset",
    "History",
    "MemoryBroker",
    "Publication",
    "PublicationHandler",
    "ResetHandler",
    "create_broker",
]


def create_broker(
    url: str,
    *,
    history_size: int = 1000,
    history_ttl: float = 3600.0,
    prefix: str = "tickwire",
) -> Broker:
    """Build the broker named by ``url`` (``memory://`` or ``redis://host:port/db``).

    ``prefix`` namespaces Redis keys and channels (ignored by the memory broker).
    Raises ValueError for an unknown scheme.
    """
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryBroker(history_size=history_size, history_ttl=history_ttl)
    if scheme in {"redis", "rediss", "unix"}:
        from .redis import RedisBroker

        return RedisBroker(url, history_size=history_size, history_ttl=history_ttl, prefix=prefix)
    raise ValueError(f"unknown broker URL scheme {scheme!r} in {url!r}")
