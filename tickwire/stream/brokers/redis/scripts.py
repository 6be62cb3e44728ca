"""The Lua scripts that keep a channel's seq, history and snapshot consistent in Redis.

Each runs atomically in Redis, so two publishers (or a publisher and a reader) never see
a channel half-updated. The publish script seals the pre-encoded body with its seq exactly
as :func:`tickwire.stream.protocol.seal` does; the broker relies on the two agreeing (the
frame it returns from a publish is the one subscribers and snapshots carry).
"""

from __future__ import annotations

__all__ = ["BATCH", "HISTORY", "PUBLISH", "TOP", "keys"]

# ARGV: maxlen, ttl_ms, pub_prefix, meta_prefix, hist_prefix, new_epoch,
#       channel_1, body_1, channel_2, body_2, ...
# -> {seq_1, epoch_1, seq_2, epoch_2, ...}
#
# Per update: one HMGET, one HSET, XADD, PUBLISH. What only bounds memory is done now and
# then, not per update, without changing what a reader sees:
# - the Stream is trimmed to ``maxlen`` (approximately, as ``MAXLEN ~`` does) every
#   ``maxlen / 4`` publications, so it holds at least ``maxlen`` entries, as before;
# - entries older than the age bound are trimmed, and the Stream's expiry pushed to
#   ``ttl + ttl / 8`` ahead, only when the expiry set last time is less than ``ttl`` ahead
#   (the meta hash remembers it in ``exp``). So the Stream still outlives its newest entry
#   by at least ``ttl``; readers drop entries older than ``ttl`` themselves.
# Keys are built here from the prefixes (the same as :func:`keys`), so the call carries two
# arguments per update instead of four.
PUBLISH = """
local maxlen = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local pub_prefix = ARGV[3]
local meta_prefix = ARGV[4]
local hist_prefix = ARGV[5]
local new_epoch = ARGV[6]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slack = math.max(1, math.floor(ttl / 8))
local trim_every = math.max(1, math.floor(maxlen / 4))
local out = {}
for i = 1, (#ARGV - 6) / 2 do
  local channel = ARGV[5 + 2 * i]
  local body = ARGV[6 + 2 * i]
  local meta = meta_prefix .. channel
  local hist = hist_prefix .. channel
  local h = redis.call('HMGET', meta, 'seq', 'epoch', 'exp')
  local seq = tonumber(h[1] or '0') + 1
  local epoch = h[2]
  local s = string.format('%d', seq)
  local frame = body .. ',"seq":' .. s .. '}'
  local fresh = seq == 1 or not epoch
  if not epoch then
    -- A new lineage: whatever history remains belongs to the old one.
    epoch = new_epoch
    redis.call('DEL', hist)
    redis.call('HSET', meta, 'seq', s, 'latest', frame, 'epoch', epoch)
  elseif seq == 1 then
    -- The first update of an epoch TOP created for a reader: no history before it, and
    -- the epoch that reader was given stays.
    redis.call('DEL', hist)
    redis.call('HSET', meta, 'seq', s, 'latest', frame)
  else
    redis.call('HSET', meta, 'seq', s, 'latest', frame)
  end
  if maxlen > 0 then
    redis.call('XADD', hist, '*', 's', s, 'f', frame)
    if seq % trim_every == 0 then
      redis.call('XTRIM', hist, 'MAXLEN', '~', maxlen)
    end
    if fresh or tonumber(h[3] or '0') < now + ttl then
      redis.call('XTRIM', hist, 'MINID', '~', now - ttl)
      redis.call('PEXPIREAT', hist, now + ttl + slack)
      redis.call('HSET', meta, 'exp', now + ttl + slack)
    end
  end
  redis.call('PUBLISH', pub_prefix .. channel, epoch .. ' ' .. s .. ' ' .. frame)
  out[2 * i - 1] = seq
  out[2 * i] = epoch
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
