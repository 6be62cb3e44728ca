"""Nodes sharing one Redis: membership, per-user connection counts, stats, feeds.

:class:`RedisCluster` registers this node under an expiring key that a heartbeat
refreshes, so a node that dies (even by SIGKILL) drops out of everything within
``node_timeout`` seconds:

* ``{prefix}:nodes`` — a sorted set of node ids scored by their last heartbeat;
* ``{prefix}:node:<id>`` — the node's stats (JSON), expiring;
* ``{prefix}:node:<id>:users`` — a hash of user id → open connections on that node,
  expiring. ``MAX_CONNECTIONS_PER_USER`` is checked against the sum over live nodes, in a
  Lua script, so two nodes cannot both admit the last allowed connection;
* ``{prefix}:feeds`` and ``{prefix}:feed:<id>`` — the same for price-feed processes
  (:class:`~.heartbeat.FeedHeartbeat`), which ``/realtime/health/`` reads.

If Redis is unreachable, connection limits fall back to this node's own count (a limit
per node rather than none), and the heartbeat rewrites this node's counts once Redis is
back, so a Redis restart does not forget who is connected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from .base import Cluster, StatsFunction
from .membership import BEAT, LIVE, withdraw

__all__ = ["RedisCluster"]

log = logging.getLogger("tickwire.realtime.cluster")

# KEYS: nodes   ARGV: prefix, own_id, user_id, limit, timeout_ms
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix, own, user = ARGV[1], ARGV[2], ARGV[3]
local limit, timeout = tonumber(ARGV[4]), tonumber(ARGV[5])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], now - timeout, '+inf')
local total, seen_own = 0, false
for _, id in ipairs(ids) do
  if id == own then seen_own = true end
  total = total + tonumber(redis.call('HGET', prefix .. ':node:' .. id .. ':users', user) or '0')
end
local own_key = prefix .. ':node:' .. own .. ':users'
if not seen_own then
  total = total + tonumber(redis.call('HGET', own_key, user) or '0')
end
if total >= limit then return {0, total} end
redis.call('HINCRBY', own_key, user, 1)
redis.call('PEXPIRE', own_key, timeout)
return {1, total + 1}
"""

# KEYS: users   ARGV: user_id
_RELEASE = """
local left = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if left <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return left
"""


class RedisCluster(Cluster):
    """Nodes sharing one Redis. ``client`` is a redis-py asyncio client (the broker's).

    ``heartbeat`` is how often this node refreshes its keys, ``node_timeout`` how long
    after its last beat a node counts as dead and its connections stop counting.
    """

    shared = True

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "tickwire",
        heartbeat: float = 2.0,
        node_timeout: float = 10.0,
        node_id: str | None = None,
    ) -> None:
        super().__init__(node_id)
        self.redis = client
        self.prefix = prefix
        self.heartbeat = heartbeat
        self.node_timeout = node_timeout
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._beat = client.register_script(BEAT)
        self._live = client.register_script(LIVE)
        self._stats: StatsFunction = dict
        self._task: asyncio.Task[None] | None = None
        #: Whether the last heartbeat reached Redis.
        self.healthy = False

    def _users_key(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}:users"

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.node_timeout * 1000))

    async def start(self, stats: StatsFunction) -> None:
        self._stats = stats
        await self.beat()
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await withdraw(
            self.redis,
            task,
            f"{self.prefix}:nodes",
            self.node_id,
            f"{self.prefix}:node:{self.node_id}",
            self._users_key(self.node_id),
        )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            await self.beat()

    async def beat(self) -> None:
        """Refresh this node's keys; rewrite its user counts if Redis lost them."""
        stats = {"node_id": self.node_id, "heartbeat_at": time.time(), **self._stats()}
        keys = [f"{self.prefix}:nodes", f"{self.prefix}:node:{self.node_id}"]
        keys.append(self._users_key(self.node_id))
        args: list[Any] = [self.node_id, orjson.dumps(stats), self._ttl_ms]
        try:
            present = await self._beat(keys=keys, args=args)
            if not present and self._local_users:
                for user, count in self._local_users.items():
                    args += [user, count]
                await self._beat(keys=keys, args=args)
                log.warning("rewrote %d users' connection counts to Redis", len(self._local_users))
            self.healthy = True
        except Exception as exc:
            if self.healthy:
                log.warning("node heartbeat to Redis failed: %s", exc)
            self.healthy = False

    async def acquire_user_slot(self, user_id: int, limit: int) -> bool:
        try:
            ok, _ = await self._acquire(
                keys=[f"{self.prefix}:nodes"],
                args=[self.prefix, self.node_id, user_id, limit, self._ttl_ms],
            )
        except Exception as exc:
            log.warning("connection limit check in Redis failed (%s); using this node's", exc)
            return self._local_acquire(user_id, limit)
        if ok:
            self._local_users[user_id] = self._local_users.get(user_id, 0) + 1
        return bool(ok)

    async def release_user_slot(self, user_id: int) -> None:
        self._local_release(user_id)
        try:
            await self._release(keys=[self._users_key(self.node_id)], args=[user_id])
        except Exception as exc:
            # The next heartbeat after Redis returns rewrites the counts from ours.
            log.warning("releasing a connection slot in Redis failed: %s", exc)

    async def _live_ids(self, members: str) -> list[str]:
        ids = await self._live(keys=[f"{self.prefix}:{members}"], args=[self._ttl_ms])
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    async def user_connections(self, user_id: int) -> int:
        ids = await self._live_ids("nodes")
        if not ids:
            return self._local_users.get(user_id, 0)
        counts = await asyncio.gather(
            *(self.redis.hget(self._users_key(i), str(user_id)) for i in ids)
        )
        return sum(int(c) for c in counts if c)

    async def _members(self, members: str, kind: str) -> list[dict[str, Any]]:
        ids = await self._live_ids(members)
        if not ids:
            return []
        raw = await self.redis.mget([f"{self.prefix}:{kind}:{i}" for i in ids])
        return [orjson.loads(r) for r in raw if r]

    async def nodes(self) -> list[dict[str, Any]]:
        found = await self._members("nodes", "node")
        # Our own numbers fresh rather than as of the last beat.
        own = {"node_id": self.node_id, "heartbeat_at": time.time(), **self._stats()}
        return [own] + [n for n in found if n.get("node_id") != self.node_id]

    async def feeds(self) -> list[dict[str, Any]]:
        return await self._members("feeds", "feed")

    async def authenticated_users(self) -> int | None:
        ids = await self._live_ids("nodes")
        users: set[bytes] = set()
        for keys in await asyncio.gather(*(self.redis.hkeys(self._users_key(i)) for i in ids)):
            users.update(keys)
        return len(users)
