"""State shared by every server node: membership, per-user connection counts, stats, feeds.

With the memory broker there is one process and :class:`LocalCluster` keeps it all in
memory. With Redis, :class:`RedisCluster` registers this node under an expiring key that
a heartbeat refreshes, so a node that dies (even by SIGKILL) drops out of everything
within ``node_timeout`` seconds:

* ``{prefix}:nodes`` — a sorted set of node ids scored by their last heartbeat;
* ``{prefix}:node:<id>`` — the node's stats (JSON), expiring;
* ``{prefix}:node:<id>:users`` — a hash of user id → open connections on that node,
  expiring. ``MAX_CONNECTIONS_PER_USER`` is checked against the sum over live nodes, in a
  Lua script, so two nodes cannot both admit the last allowed connection;
* ``{prefix}:feeds`` and ``{prefix}:feed:<id>`` — the same for price-feed processes
  (:class:`FeedHeartbeat`), which ``/realtime/health/`` reads.

If Redis is unreachable, connection limits fall back to this node's own count (a limit
per node rather than none), and the heartbeat rewrites this node's counts once Redis is
back, so a Redis restart does not forget who is connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import orjson

from tickwire.stream.brokers import Broker

__all__ = [
    "Cluster",
    "FeedHeartbeat",
    "LocalCluster",
    "RedisCluster",
    "create_cluster",
    "new_node_id",
]

log = logging.getLogger("tickwire.realtime.cluster")

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


class LocalCluster(Cluster):
    """One process: counts in memory (the embedded default)."""

    async def acquire_user_slot(self, user_id: int, limit: int) -> bool:
        return self._local_acquire(user_id, limit)

    async def release_user_slot(self, user_id: int) -> None:
        self._local_release(user_id)

    async def user_connections(self, user_id: int) -> int:
        return self._local_users.get(user_id, 0)


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

# KEYS: members, stats_key, users_key   ARGV: id, stats_json, ttl_ms, [user, count]...
_BEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
if KEYS[3] == nil then return 1 end
if #ARGV > 3 then
  redis.call('DEL', KEYS[3])
  for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
end
if redis.call('PEXPIRE', KEYS[3], ttl) == 1 then return 1 end
return 0
"""

# KEYS: members   ARGV: timeout_ms -> live ids
_LIVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf')
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
        self._beat = client.register_script(_BEAT)
        self._live = client.register_script(_LIVE)
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
        await _withdraw(
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
        self._beat = client.register_script(_BEAT)
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
        await _withdraw(
            self.redis,
            task,
            f"{self.prefix}:feeds",
            self.feed_id,
            f"{self.prefix}:feed:{self.feed_id}",
        )


async def _withdraw(
    client: Any, task: asyncio.Task[None] | None, members: str, member: str, *keys: str
) -> None:
    """Stop a heartbeat ``task``, then remove ``member`` from the ``members`` set and its
    ``keys`` from Redis (best effort: Redis may be gone; its TTLs clean up then)."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    with contextlib.suppress(Exception):
        await client.zrem(members, member)
        await client.delete(*keys)


def create_cluster(
    broker: Broker, *, heartbeat: float = 2.0, node_timeout: float = 10.0
) -> Cluster:
    """A :class:`RedisCluster` on the broker's Redis, or a :class:`LocalCluster`."""
    client = getattr(broker, "redis", None)
    if client is None:
        return LocalCluster()
    return RedisCluster(
        client,
        prefix=getattr(broker, "prefix", "tickwire"),
        heartbeat=heartbeat,
        node_timeout=node_timeout,
    )
