"""A price-feed process's heartbeat, which every node's ``/realtime/health/`` reads."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from .base import StatsFunction, new_node_id
from .membership import BEAT, withdraw

__all__ = ["FeedHeartbeat"]

log = logging.getLogger("tickwire.realtime.cluster")


class FeedHeartbeat:
    """A price feed's heartbeat in Redis: ``status()`` every ``interval`` seconds.

    The key expires after ``ttl`` seconds, so ``/realtime/health/`` on any node sees a
    dead feed process as gone, and a live one whose last publish is too old as stale.
    """

    def __init__(
        self,
        client: Any,
        status: StatsFunction,
        *,
        prefix: str = "tickwire",
        interval: float = 1.0,
        ttl: float = 10.0,
        feed_id: str | None = None,
    ) -> None:
        self.redis = client
        self.status = status
        self.prefix = prefix
        self.interval = interval
        self.ttl = ttl
        self.feed_id = feed_id or new_node_id("feed")
        self._beat = client.register_script(BEAT)
        self._task: asyncio.Task[None] | None = None

    async def beat(self) -> None:
        body = {"feed_id": self.feed_id, "heartbeat_at": time.time(), **self.status()}
        await self._beat(
            keys=[f"{self.prefix}:feeds", f"{self.prefix}:feed:{self.feed_id}"],
            args=[self.feed_id, orjson.dumps(body, default=str), max(1, int(self.ttl * 1000))],
        )

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                await self.beat()
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("feed heartbeat to Redis failed: %s", exc)
                failing = True
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        """Stop beating and remove the key (the feed is known stopped at once)."""
        task, self._task = self._task, None
        await withdraw(
            self.redis,
            task,
            f"{self.prefix}:feeds",
            self.feed_id,
            f"{self.prefix}:feed:{self.feed_id}",
        )
