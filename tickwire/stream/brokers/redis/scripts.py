"""The Lua scripts that keep a channel's seq, history and snapshot consistent in Redis.

Each runs atomically in Redis, so two publishers (or a publisher and a reader) never see
a channel half-updated. The publish script seals the pre-encoded body with its seq exactly
as :func:`tickwire.stream.protocol.seal` does; the broker relies on the two agreeing (the
frame it returns from a publish is the one subscribers and snapshots carry).
"""

from __future__ import annotations

__all__ = ["BATCH", "HISTORY", "PUBLISH", "TOP", "keys"]

# KEYS: meta_1, hist_1, meta_2, hist_2, ...
# ARGV: maxlen, ttl_ms, pub_prefix, new_epoch, channel_1, body_1, channel_2, body_2, ...
PUBLISH = """
local maxlen = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local pub_prefix = ARGV[3]
local new_epoch = ARGV[4]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #KEYS / 2 do
  local meta = KEYS[2 * i - 1]
  local hist = KEYS[2 * i]
  local channel = ARGV[3 + 2 * i]
  local body = ARGV[4 + 2 * i]
  local seq = redis.call('HINCRBY', meta, 'seq', 1)
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then
    -- A new lineage: whatever history remains belongs to the old one.
    epoch = new_epoch
    redis.call('HSET', meta, 'epoch', epoch)
    redis.call('DEL', hist)
  elseif seq == 1 then
    -- The first update of an epoch TOP created for a reader: no history before it.
    redis.call('DEL', hist)
  end
  local s = string.format('%d', seq)
  local frame = body .. ',"seq":' .. s .. '}'
  redis.call('HSET', meta, 'latest', frame)
  if maxlen > 0 then
    redis.call('XADD', hist, 'MAXLEN', '~', maxlen, '*', 's', s, 'f', frame)
    redis.call('XTRIM', hist, 'MINID', '~', now - ttl)
    redis.call('PEXPIRE', hist, ttl)
  end
  redis.call('PUBLISH', pub_prefix .. channel, epoch .. ' ' .. s .. ' ' .. frame)
  out[i] = {seq, epoch}
end
return out
"""

# KEYS: meta   ARGV: new_epoch -> {seq, epoch}
# A channel read before its first update gets its epoch now, so a subscriber told
# "seq 0" can resume in that epoch once updates come (PUBLISH keeps it).
TOP = """
local h = redis.call('HMGET', KEYS[1], 'seq', 'epoch')
if not h[2] then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1])
  return {h[1] or '0', ARGV[1]}
end
return {h[1] or '0', h[2]}
"""

# KEYS: meta, hist   ARGV: since, count
# -> {seq, epoch, latest, now_ms, entries newest first}
HISTORY = """
local h = redis.call('HMGET', KEYS[1], 'seq', 'epoch', 'latest')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local top = tonumber(h[1] or '0')
local since = tonumber(ARGV[1])
local entries = {}
local want = top - since
if want > 0 and want <= tonumber(ARGV[2]) then
  entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', want)
end
return {h[1] or '0', h[2] or '', h[3] or false, now, entries}
"""

BATCH = 500  # publications per script call: bounded so one call never stalls Redis


def keys(prefix: str, channel: str) -> tuple[str, str]:
    """The (meta hash, history Stream) keys of ``channel`` under ``prefix``."""
    return f"{prefix}:ch:{channel}", f"{prefix}:hist:{channel}"
