"""The cluster of one: the embedded default, alongside the memory broker."""

from __future__ import annotations

from .base import Cluster

__all__ = ["LocalCluster"]


class LocalCluster(Cluster):
    """One process: counts in memory (the embedded default)."""

    async def acquire_user_slot(self, user_id: int, limit: int) -> bool:
        return self._local_acquire(user_id, limit)

    async def release_user_slot(self, user_id: int) -> None:
        self._local_release(user_id)

    async def user_connections(self, user_id: int) -> int:
        return self._local_users.get(user_id, 0)
