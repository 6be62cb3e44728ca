"""Expiring membership in Redis, shared by server nodes and price-feed processes.

A member of the set ``{prefix}:<members>`` is scored by its last heartbeat (Redis's clock,
so members on machines with skewed clocks agree) and keeps its stats under a key that
expires after the same TTL: a member that dies, even by SIGKILL, drops out by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["BEAT", "LIVE", "withdraw"]

# KEYS: members, stats_key, users_key   ARGV: id, stats_json, ttl_ms, [user, count]...
BEAT = """
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
LIVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[1]), '+inf')
"""


async def withdraw(
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
