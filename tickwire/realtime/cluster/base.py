"""The :class:`Cluster` interface: what a server node shares with the other nodes."""

from __future__ import annotations

import os
import secrets
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

__all__ = ["Cluster", "StatsFunction", "new_node_id"]

#: Called at each heartbeat for the numbers a node or feed publishes about itself.
StatsFunction = Callable[[], dict[str, Any]]


def new_node_id(kind: str = "node") -> str:
    """A unique, readable id: ``node-<host>-<pid>-<random>``."""
    return f"{kind}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Cluster(ABC):
    """What a node shares with the others (or, alone, with nobody)."""

    #: True when several nodes share this state (Redis), False for one process.
    shared = False

    def __init__(self, node_id: str | None = None) -> None:
        self.node_id = node_id or new_node_id()
        self._local_users: dict[int, int] = {}

    async def start(self, stats: StatsFunction) -> None:  # noqa: B027 (optional hook)
        """Join the cluster; ``stats`` is called for this node's numbers at each beat."""

    async def stop(self) -> None:  # noqa: B027 (optional hook)
        """Leave the cluster (other nodes stop counting this one at once)."""

    @abstractmethod
    async def acquire_user_slot(self, user_id: int, limit: int) -> bool:
        """Count one more connection of ``user_id`` unless ``limit`` are already open."""

    @abstractmethod
    async def release_user_slot(self, user_id: int) -> None:
        """Count one connection of ``user_id`` fewer."""

    @abstractmethod
    async def user_connections(self, user_id: int) -> int:
        """Open connections of ``user_id`` on every live node."""

    async def nodes(self) -> list[dict[str, Any]]:
        """Stats of every live node (this one included)."""
        return []

    async def feeds(self) -> list[dict[str, Any]]:
        """Status of every live price-feed process (heartbeats not yet expired)."""
        return []

    async def authenticated_users(self) -> int | None:
        """Distinct users connected anywhere, or None if only local numbers are known."""
        return None

    # This node's own counts: all there is in one process, and what a shared backend
    # falls back to (and restores the shared state from) when its store is unreachable.

    def _local_acquire(self, user_id: int, limit: int) -> bool:
        count = self._local_users.get(user_id, 0)
        if count >= limit:
            return False
        self._local_users[user_id] = count + 1
        return True

    def _local_release(self, user_id: int) -> None:
        count = self._local_users.get(user_id, 0) - 1
        if count > 0:
            self._local_users[user_id] = count
        else:
            self._local_users.pop(user_id, None)
