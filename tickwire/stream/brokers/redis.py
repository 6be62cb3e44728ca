"""Redis broker: pub/sub between nodes, Streams for history, a hash for each snapshot.

Per channel ``C`` (under a key prefix, ``tickwire`` by default) Redis holds:

* ``{prefix}:ch:C`` — a hash with the channel's ``seq``, its ``epoch`` and its ``latest``
  frame (the snapshot any node can answer a new subscriber with at once);
* ``{prefix}:hist:C`` — a Stream of the last publications, bounded by length
  (``MAXLEN ~``) and by age (``MINID ~``, and the key expires after the age bound);
* ``{prefix}:pub:C`` — the pub/sub channel that carries ``"<epoch> <seq> <frame>"``.

A Lua script publishes atomically: INCR the seq, seal the pre-encoded body with it, XADD
it to the history, store it as the latest, PUBLISH it. The epoch is created with the
channel's seq, so when Redis loses its data (a restart without persistence) every
channel starts a new epoch and resumes from before are answered ``recovered: false``.

Each node holds one pub/sub connection and one Redis subscription per channel, however
many local clients watch it, and concurrent snapshot (or top) reads of a channel (a
thousand clients subscribing at once) share one Redis read instead of one each. When that connection
drops, the broker reconnects with exponential backoff and full jitter, resubscribes every
channel, and for each one fills the gap since the last delivered seq from the Stream; if
history no longer covers it (or the epoch changed) it reports a :class:`ChannelReset`
instead, so nothing is lost silently. Handlers are called on the event loop that started the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..backoff import Backoff
from .base import (
    Broker,
    BrokerUnavailable,
    ChannelReset,
    History,
    Publication,
    PublicationHandler,
    ResetHandler,
)

__all__ = ["RedisBroker"]

log = logging.getLogger("tickwire.stream.redis")

# KEYS: meta_1, hist_1, meta_2, hist_2, ...
# ARGV: maxlen, ttl_ms, pub_prefix, new_epoch, channel_1, body_1, channel_2, body_2, ...
_PUBLISH = """
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
  if seq == 1 or not epoch then
    -- A new lineage: whatever history remains belongs to the old one.
    epoch = new_epoch
    redis.call('HSET', meta, 'epoch', epoch)
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

# KEYS: meta, hist   ARGV: since, count
# -> {seq, epoch, latest, now_ms, entries newest first}
_HISTORY = """
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

_BATCH = 500  # publications per script call: bounded so one call never stalls Redis


class _PubSubLink:
    """One raw pub/sub connection (asyncio streams + the hiredis parser).

    Kept apart from redis-py's connection objects so that reconnecting, cancelling and
    detecting a dead link are entirely ours: ``send`` never waits, ``read`` returns the
    replies that arrived, and a closed link raises ConnectionError.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = hiredis.Reader()

    @classmethod
    async def open(cls, url: str, timeout: float) -> _PubSubLink:
        opts = parse_url(url)
        if "path" in opts:
            coro = asyncio.open_unix_connection(opts["path"])
        else:
            ssl = url.startswith("rediss:") or None
            coro = asyncio.open_connection(
                opts.get("host", "localhost"), opts.get("port", 6379), ssl=ssl
            )
        reader, writer = await asyncio.wait_for(coro, timeout)
        link = cls(reader, writer)
        if opts.get("password"):
            auth = [opts["username"]] if opts.get("username") else []
            link.send("AUTH", *auth, opts["password"])
            reply = await asyncio.wait_for(link.read(), timeout)
            if reply and isinstance(reply[0], hiredis.ReplyError):
                link.close()
                raise RedisConnectionError(f"Redis refused AUTH: {reply[0]}")
        return link

    def send(self, *args: str | bytes) -> None:
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg.encode() if isinstance(arg, str) else arg
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self._writer.write(b"".join(parts))

    async def read(self) -> list[Any]:
        data = await self._reader.read(65536)
        if not data:
            raise RedisConnectionError("Redis closed the pub/sub connection")
        self._parser.feed(data)
        out = []
        while (reply := self._parser.gets()) is not False:
            out.append(reply)
        return out

    def close(self) -> None:
        self._writer.close()


@dataclass(slots=True)
class _Channel:
    """What this node knows of one subscribed channel."""

    #: (epoch, seq) of the last publication handed to the handler; None before a baseline.
    epoch: str | None = None
    seq: int | None = None
    #: Set when the Redis subscription is confirmed on the current connection.
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)
    #: While a gap is being filled, live publications wait here (None: not recovering).
    pending: list[Publication] | None = None
    recovery: asyncio.Task[None] | None = None


class RedisBroker(Broker):
    """Broker over Redis (redis-py asyncio with hiredis). One instance per process.

    ``history_size`` and ``history_ttl`` bound each channel's history by length and age;
    ``prefix`` namespaces every key and pub/sub channel (several deployments, or tests,
    can share one Redis). ``subscribe_timeout`` bounds how long :meth:`subscribe` waits
    for Redis before raising :class:`BrokerUnavailable`.
    """

    def __init__(
        self,
        url: str,
        *,
        history_size: int = 1000,
        history_ttl: float = 3600.0,
        prefix: str = "tickwire",
        subscribe_timeout: float = 10.0,
        backoff_base: float = 0.05,
        backoff_cap: float = 5.0,
        ping_interval: float = 5.0,
    ) -> None:
        self.url = url
        self.history_size = history_size
        self.history_ttl = history_ttl
        self.prefix = prefix
        self.subscribe_timeout = subscribe_timeout
        # Full jitter: many nodes that lost the same Redis spread their reconnects over
        # the whole interval instead of coming back in step.
        self.backoff = Backoff(backoff_base, backoff_cap, jitter=1.0)
        self.ping_interval = ping_interval
        self._pub_prefix = f"{prefix}:pub:"
        # Commands retry briefly on a dropped connection, so a short Redis restart is
        # invisible to callers; a longer outage surfaces as BrokerUnavailable.
        self.redis: Redis = Redis.from_url(
            url,
            retry=Retry(ExponentialWithJitterBackoff(cap=1.0, base=0.05), retries=8),
            retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
            socket_connect_timeout=2.0,
            health_check_interval=30,
        )
        self._publish_script = self.redis.register_script(_PUBLISH)
        self._history_script = self.redis.register_script(_HISTORY)
        self._channels: dict[str, _Channel] = {}
        # Snapshot and top reads per (kind, channel): the one not yet sent, which callers
        # join, and the one in flight, which the next waits for (at most one in Redis).
        self._reads_next: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self._reads_inflight: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._handler: PublicationHandler | None = None
        self._on_reset: ResetHandler | None = None
        self._conn: _PubSubLink | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closed = False
        self._last_received = 0.0
        #: How many times the pub/sub connection was re-established (for status).
        self.reconnects = 0
        #: Publications recovered from history after reconnects, and channels reset.
        self.replayed = 0
        self.resets = 0

    # -- lifecycle ----------------------------------------------------------------------

    async def start(
        self, handler: PublicationHandler, on_reset: ResetHandler | None = None
    ) -> None:
        self._handler = handler
        self._on_reset = on_reset
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"cannot reach Redis at {self._safe_url()}: {exc}") from exc
        self._closed = False
        self._reader = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        self._closed = True
        tasks = [self._reader] + [ch.recovery for ch in self._channels.values()]
        tasks += list(self._reads_inflight.values())
        for task in tasks:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._reader = None
        self._channels.clear()
        self._drop_connection()
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        self._handler = None

    @property
    def is_connected(self) -> bool:
        return self._connected.is_set()

    @property
    def subscribed_channels(self) -> set[str]:
        return set(self._channels)

    def _safe_url(self) -> str:
        # Never log a password.
        _, sep, tail = self.url.rpartition("@")
        return f"{self.url.split('://', 1)[0]}://***@{tail}" if sep else self.url

    # -- publishing ---------------------------------------------------------------------

    def _keys(self, channel: str) -> tuple[str, str]:
        return f"{self.prefix}:ch:{channel}", f"{self.prefix}:hist:{channel}"

    async def publish(self, channel: str, body: bytes) -> Publication:
        return (await self.publish_many([(channel, body)]))[0]

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> list[Publication]:
        """Publish in one script call per 500 updates (one round trip for a feed tick)."""
        out: list[Publication] = []
        for start in range(0, len(items), _BATCH):
            chunk = items[start : start + _BATCH]
            keys: list[str] = []
            args: list[Any] = [
                self.history_size,
                max(1, int(self.history_ttl * 1000)),
                self._pub_prefix,
                secrets.token_hex(4),
            ]
            for channel, body in chunk:
                keys.extend(self._keys(channel))
                args.append(channel)
                args.append(body)
            try:
                result = await self._publish_script(keys=keys, args=args)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                raise BrokerUnavailable(f"publishing to Redis failed: {exc}") from exc
            for (channel, body), (seq, epoch) in zip(chunk, result, strict=True):
                seq = int(seq)
                frame = body + b',"seq":' + str(seq).encode() + b"}"
                out.append(Publication(channel, seq, epoch.decode(), frame))
        return out

    # -- reading ------------------------------------------------------------------------

    async def latest(self, channel: str) -> Publication | None:
        """The channel's snapshot, read from Redis after this call began.

        Concurrent callers share one read: a caller joins the read that has not been sent
        yet (so it still reflects everything published before the call), and that read
        waits for the one in flight. Raises :class:`BrokerUnavailable` if Redis fails.
        """
        result: Publication | None = await self._coalesced("latest", channel, self._latest_now)
        return result

    async def _coalesced(
        self, kind: str, channel: str, read: Callable[[str], Awaitable[Any]]
    ) -> Any:
        key = (kind, channel)
        waiting = self._reads_next.get(key)
        if waiting is None:
            waiting = asyncio.get_running_loop().create_future()
            # Callers that go away leave the outcome unretrieved: mark it seen.
            waiting.add_done_callback(_retrieve)
            self._reads_next[key] = waiting
            previous = self._reads_inflight.get(key)
            self._reads_inflight[key] = asyncio.ensure_future(
                self._read_once(key, read, waiting, previous)
            )
        return await asyncio.shield(waiting)

    async def _read_once(
        self,
        key: tuple[str, str],
        read: Callable[[str], Awaitable[Any]],
        waiting: asyncio.Future[Any],
        previous: asyncio.Task[None] | None,
    ) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])
            # From here on, new callers start the next read: this one may be sent now.
            if self._reads_next.get(key) is waiting:
                del self._reads_next[key]
            result = await read(key[1])
        except BaseException as exc:
            if not waiting.done():
                waiting.set_exception(
                    exc if isinstance(exc, Exception) else BrokerUnavailable("read cancelled")
                )
            if self._reads_next.get(key) is waiting:
                del self._reads_next[key]
            if not isinstance(exc, Exception):
                raise
        else:
            if not waiting.done():
                waiting.set_result(result)
        finally:
            if self._reads_inflight.get(key) is asyncio.current_task():
                del self._reads_inflight[key]

    async def _latest_now(self, channel: str) -> Publication | None:
        meta, _ = self._keys(channel)
        try:
            seq, epoch, frame = await self.redis.hmget(meta, ["seq", "epoch", "latest"])
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise BrokerUnavailable(f"reading from Redis failed: {exc}") from exc
        if frame is None or seq is None:
            return None
        return Publication(channel, int(seq), _text(epoch), _bytes(frame))

    async def top(self, channel: str) -> tuple[int, str]:
        """The channel's (seq, epoch), read after this call began; concurrent callers share
        one read as in :meth:`latest`. Raises :class:`BrokerUnavailable` if Redis fails."""
        result: tuple[int, str] = await self._coalesced("top", channel, self._top_now)
        return result

    async def _top_now(self, channel: str) -> tuple[int, str]:
        meta, _ = self._keys(channel)
        try:
            seq, epoch = await self.redis.hmget(meta, ["seq", "epoch"])
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise BrokerUnavailable(f"reading from Redis failed: {exc}") from exc
        return (int(seq) if seq else 0), _text(epoch)

    async def _read_history(
        self, channel: str, since: int
    ) -> tuple[int, str, Publication | None, list[Publication] | None]:
        """(top, epoch, latest, publications after ``since`` or None if not all there)."""
        meta, hist = self._keys(channel)
        try:
            raw = await self._history_script(keys=[meta, hist], args=[since, self.history_size])
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise BrokerUnavailable(f"reading from Redis failed: {exc}") from exc
        top, epoch, latest_frame, now_ms, entries = raw
        top = int(top)
        epoch = epoch.decode() if isinstance(epoch, bytes) else str(epoch)
        latest = Publication(channel, top, epoch, bytes(latest_frame)) if latest_frame else None
        if since >= top:
            return top, epoch, latest, [] if since == top else None
        cutoff = int(now_ms) - int(self.history_ttl * 1000)
        pubs: list[Publication] = []
        for entry_id, fields in reversed(entries):
            ms = int(entry_id.split(b"-", 1)[0])
            if ms < cutoff:
                continue  # older than the age bound, even if not trimmed yet
            fmap = _pairs(fields)
            pubs.append(Publication(channel, int(fmap[b"s"]), epoch, fmap[b"f"]))
        complete = (
            len(pubs) == top - since
            and bool(pubs)
            and pubs[0].seq == since + 1
            and pubs[-1].seq == top
        )
        return top, epoch, latest, pubs if complete else None

    async def history(self, channel: str, since: int, epoch: str | None) -> History:
        top, current, _, pubs = await self._read_history(channel, since)
        if epoch is not None and epoch != current:
            return History(False, [], top, current)
        if pubs is None:
            return History(False, [], top, current)
        return History(True, pubs, top, current)

    # -- subscriptions ------------------------------------------------------------------

    async def subscribe(self, channel: str) -> None:
        """Subscribe this node and wait until Redis confirms it.

        When this returns, every publication after the channel's current top reaches the
        handler. Raises :class:`BrokerUnavailable` if Redis does not confirm in time.
        """
        state = self._channels.get(channel)
        if state is None:
            state = self._channels[channel] = _Channel()
            if self._conn is not None and self._connected.is_set():
                # If the link is dying, the reader resubscribes on reconnect.
                self._send("SUBSCRIBE", self._pub_prefix + channel)
        try:
            await asyncio.wait_for(state.confirmed.wait(), self.subscribe_timeout)
        except TimeoutError:
            if self._channels.get(channel) is state and state.seq is None:
                self._channels.pop(channel, None)
            raise BrokerUnavailable(
                f"Redis did not confirm the subscription to {channel!r} "
                f"within {self.subscribe_timeout:g} s"
            ) from None
        if state.seq is None:
            # The baseline: everything after the current top arrives over pub/sub now.
            seq, epoch = await self.top(channel)
            if state.seq is None:
                state.epoch, state.seq = epoch, seq

    async def unsubscribe(self, channel: str) -> None:
        state = self._channels.pop(channel, None)
        if state is None:
            return
        if state.recovery is not None and not state.recovery.done():
            state.recovery.cancel()
        if self._conn is not None and self._connected.is_set():
            self._send("UNSUBSCRIBE", self._pub_prefix + channel)

    def _send(self, *args: str) -> None:
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(OSError, RuntimeError):
                conn.send(*args)

    # -- the pub/sub connection ---------------------------------------------------------

    async def _run(self) -> None:
        retries = self.backoff.retries()
        while not self._closed:
            try:
                conn = await _PubSubLink.open(self.url, 2.0)
                self._conn = conn
                names = list(self._channels)
                for name in names:
                    state = self._channels[name]
                    state.confirmed.clear()
                    if state.seq is not None:
                        # Hold live publications until the gap since state.seq is filled.
                        state.pending = []
                # Connected before sending: a subscribe() racing with this one sends its
                # own SUBSCRIBE instead of waiting for a reconnect that never comes.
                self._connected.set()
                if names:
                    self._send("SUBSCRIBE", *(self._pub_prefix + n for n in names))
                if retries.attempt:
                    self.reconnects += 1
                    log.warning("Redis pub/sub reconnected; resubscribed %d channels", len(names))
                retries.reset()
                await self._read_loop(conn)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                if self._closed:
                    break
                log.warning("Redis pub/sub connection lost: %s", exc or type(exc).__name__)
            except Exception:
                log.exception("Redis pub/sub reader failed")
            finally:
                self._connected.clear()
                self._drop_connection()
            if self._closed:
                break
            await asyncio.sleep(retries.next_delay())

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    async def _read_loop(self, conn: _PubSubLink) -> None:
        loop = asyncio.get_running_loop()
        keepalive = asyncio.ensure_future(self._keepalive(conn))
        try:
            while True:
                replies = await conn.read()
                self._last_received = loop.time()
                for msg in replies:
                    if isinstance(msg, hiredis.ReplyError):
                        log.warning("Redis pub/sub error reply: %s", msg)
                        continue
                    if not isinstance(msg, list) or len(msg) < 3:
                        continue  # PONG
                    kind = msg[0]
                    if kind == b"message":
                        self._on_message(msg[1], msg[2])
                    elif kind == b"subscribe":
                        self._on_confirmed(msg[1])
        finally:
            keepalive.cancel()

    async def _keepalive(self, conn: _PubSubLink) -> None:
        """PING the pub/sub connection; a silent one (no RST, no data) is dropped."""
        loop = asyncio.get_running_loop()
        self._last_received = loop.time()
        while True:
            await asyncio.sleep(self.ping_interval)
            if loop.time() - self._last_received > 3 * self.ping_interval:
                log.warning("Redis pub/sub connection silent; reconnecting")
                conn.close()
                return
            self._send("PING")

    def _on_confirmed(self, raw_name: bytes) -> None:
        name = raw_name.decode()
        if not name.startswith(self._pub_prefix):
            return
        state = self._channels.get(name[len(self._pub_prefix) :])
        if state is None:
            return
        state.confirmed.set()
        if state.pending is not None and state.recovery is None:
            state.recovery = asyncio.ensure_future(self._recover(name[len(self._pub_prefix) :]))

    def _on_message(self, raw_name: bytes, data: bytes) -> None:
        channel = raw_name.decode()[len(self._pub_prefix) :]
        state = self._channels.get(channel)
        if state is None:
            return
        epoch, seq_text, frame = data.split(b" ", 2)
        self._accept(state, Publication(channel, int(seq_text), epoch.decode(), frame))

    def _accept(self, state: _Channel, pub: Publication) -> None:
        if state.pending is not None:
            state.pending.append(pub)
            return
        if state.seq is None:
            state.epoch, state.seq = pub.epoch, pub.seq
            self._deliver(pub)
            return
        if not state.epoch and state.seq == 0:
            # The channel did not exist at our baseline: its first epoch is no change.
            state.epoch = pub.epoch
        if pub.epoch != state.epoch:
            # Redis lost the channel (flushed or restarted) while we stayed connected:
            # this publication is the new lineage's state.
            self._reset(ChannelReset(pub.channel, pub.seq, pub.epoch, pub, "epoch_changed"))
            state.epoch, state.seq = pub.epoch, pub.seq
        elif pub.seq <= state.seq:
            return  # already delivered (replayed from history)
        elif pub.seq == state.seq + 1:
            state.seq = pub.seq
            self._deliver(pub)
        else:
            # A gap on a live connection: fill it from history before going on.
            state.pending = [pub]
            if state.recovery is None:
                state.recovery = asyncio.ensure_future(self._recover(pub.channel))

    def _deliver(self, pub: Publication) -> None:
        handler = self._handler
        if handler is not None:
            handler(pub)

    def _reset(self, reset: ChannelReset) -> None:
        self.resets += 1
        log.warning(
            "channel %s: %s; subscribers get recovered=false and a snapshot",
            reset.channel,
            reset.reason,
        )
        if self._on_reset is not None:
            self._on_reset(reset)

    async def _recover(self, channel: str) -> None:
        """Fill the gap since the last delivered seq, then release held publications."""
        retries = self.backoff.retries()
        try:
            while True:
                state = self._channels.get(channel)
                if state is None or state.seq is None:
                    return
                # Read history only once the subscription is live again, so nothing
                # published in between falls through the crack.
                await state.confirmed.wait()
                try:
                    top, epoch, latest, pubs = await self._read_history(channel, state.seq)
                    break
                except BrokerUnavailable:
                    # The pub/sub side will reconnect too; keep trying while we are wanted.
                    await asyncio.sleep(retries.next_delay())
            if not state.epoch and state.seq == 0:
                state.epoch = epoch  # the channel did not exist at our baseline
            if epoch == state.epoch and pubs is not None:
                for pub in pubs:
                    if pub.seq > state.seq:
                        state.seq = pub.seq
                        self.replayed += 1
                        self._deliver(_replayed(pub))
            elif epoch != state.epoch or top != state.seq:
                reason = "epoch_changed" if epoch != state.epoch else "history_lost"
                snapshot = _replayed(latest) if latest is not None else None
                state.epoch, state.seq = epoch, top
                self._reset(ChannelReset(channel, top, epoch, snapshot, reason))
            pending, state.pending = state.pending or [], None
            state.recovery = None
            for pub in pending:
                # Live ones that queued up meanwhile: in order, unconflated, duplicates out.
                self._accept(state, _replayed(pub))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("recovering channel %s failed", channel)
            state = self._channels.get(channel)
            if state is not None:
                state.recovery = None
                state.pending = None


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _replayed(pub: Publication) -> Publication:
    return Publication(pub.channel, pub.seq, pub.epoch, pub.frame, replayed=True)


def _pairs(fields: list[bytes]) -> dict[bytes, bytes]:
    return {fields[i]: fields[i + 1] for i in range(0, len(fields) - 1, 2)}
