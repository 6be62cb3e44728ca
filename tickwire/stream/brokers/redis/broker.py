"""RedisBroker: publishing, snapshots and history over Redis (key layout: the package).

A Lua script publishes atomically: INCR the seq, seal the pre-encoded body with it, XADD
it to the history, store it as the latest, PUBLISH it. The epoch is created with the
channel's seq, so when Redis loses its data (a restart without persistence) every
channel starts a new epoch and resumes from before are answered ``recovered: false``.

Concurrent snapshot (or top) reads of a channel (a thousand clients subscribing at once)
share one Redis read instead of one each, and so do concurrent history reads (the clients
of a restarted node resuming together): one read from the furthest-back ``since`` serves
every caller its own missed updates. Subscriptions, and repairing them after a lost
connection, are the :class:`~.listener.PubSubListener`'s; the scripts are in
:mod:`.scripts`, the raw pub/sub connection in :mod:`.link`. Handlers are called on the
event loop that started the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import hiredis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...backoff import Backoff
from ..base import (
    Broker,
    BrokerUnavailable,
    History,
    Publication,
    PublicationHandler,
    ResetHandler,
)
from .listener import HistoryRead, PubSubListener
from .packing import PackedConnection
from .pipe import PublishPipe
from .scripts import BATCH, HISTORY, PUBLISH, TOP, keys

__all__ = ["RedisBroker"]

#: Publication's tuple built directly (all five fields given): a third of the time of
#: calling the named tuple's __new__, once per published update.
_new = tuple.__new__


class RedisBroker(Broker):
    """Broker over Redis (redis-py asyncio with hiredis). One instance per process.

    ``history_size`` and ``history_ttl`` bound each channel's history by length and age;
    ``prefix`` namespaces every key and pub/sub channel (several deployments, or tests,
    can share one Redis). ``subscribe_timeout`` bounds how long :meth:`subscribe` waits
    for Redis before raising :class:`BrokerUnavailable`, and how long a command waits for
    one of the ``max_connections`` command connections to be free.
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
        max_connections: int = 32,
    ) -> None:
        self.url = url
        self.history_size = history_size
        self.history_ttl = history_ttl
        self.prefix = prefix
        self._pub_prefix = f"{prefix}:pub:"
        # Commands retry briefly on a dropped connection, so a short Redis restart is
        # invisible to callers; a longer outage surfaces as BrokerUnavailable.
        # Commands packed in C for plain TCP URLs (TLS and Unix sockets keep their own class).
        packed: dict[str, Any] = (
            {"connection_class": PackedConnection} if url.startswith("redis://") else {}
        )
        # A bounded pool that makes a command wait for a free connection: a node back from
        # a restart gets thousands of resuming clients at once, each reading its channel's
        # history, and redis-py's default pool fails every command past its 100th
        # connection ("Too many connections", an internal_error to the client). Redis runs
        # one command at a time; a few dozen connections keep it busy.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=subscribe_timeout,
            **packed,
            retry=Retry(ExponentialWithJitterBackoff(cap=1.0, base=0.05), retries=8),
            retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
            socket_connect_timeout=2.0,
            health_check_interval=30,
        )
        self.redis: Redis = Redis.from_pool(pool)
        # Publishing has a pipelined connection of its own; reads go through redis-py.
        self._pipe = PublishPipe(
            url,
            Backoff(0.05, 1.0, jitter=0.5, max_attempts=8),
            connect_timeout=2.0,
        )
        self._publish_head: tuple[Any, ...] = (
            "EVAL",
            PUBLISH,
            0,
            history_size,
            max(1, int(history_ttl * 1000)),
            self._pub_prefix,
            *keys(prefix, ""),
        )
        #: Epochs as sent by Redis -> as text (a few per channel lineage).
        self._epochs: dict[bytes, str] = {}
        self._history_script = self.redis.register_script(HISTORY)
        self._top_script = self.redis.register_script(TOP)
        self._listener = PubSubListener(
            url,
            self._pub_prefix,
            top=self.top,
            read_history=self._read_history,
            # Full jitter: many nodes that lost the same Redis spread their reconnects
            # over the whole interval instead of coming back in step.
            backoff=Backoff(backoff_base, backoff_cap, jitter=1.0),
            ping_interval=ping_interval,
            subscribe_timeout=subscribe_timeout,
        )
        # Snapshot and top reads per (kind, channel): the one not yet sent, which callers
        # join, and the one in flight, which the next waits for (at most one in Redis).
        self._reads_next: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self._reads_inflight: dict[tuple[str, str], asyncio.Task[None]] = {}
        # The ``since`` the history read not yet sent starts from, per channel: the
        # smallest of its callers'.
        self._history_from: dict[str, int] = {}

    # -- lifecycle ----------------------------------------------------------------------

    async def start(
        self, handler: PublicationHandler, on_reset: ResetHandler | None = None
    ) -> None:
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            raise BrokerUnavailable(f"cannot reach Redis at {self._safe_url()}: {exc}") from exc
        self._listener.start(handler, on_reset)

    async def close(self) -> None:
        await self._listener.close()
        await self._pipe.close()
        for task in list(self._reads_inflight.values()):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    @property
    def is_connected(self) -> bool:
        return self._listener.is_connected

    @property
    def subscribed_channels(self) -> set[str]:
        return set(self._listener.channels)

    @property
    def backoff(self) -> Backoff:
        """How the pub/sub connection (and a failed gap fill) is retried."""
        return self._listener.backoff

    @property
    def reconnects(self) -> int:
        """How many times the pub/sub connection was re-established (for status)."""
        return self._listener.reconnects

    @property
    def replayed(self) -> int:
        """Publications recovered from history after reconnects."""
        return self._listener.replayed

    @property
    def resets(self) -> int:
        """Channels reported reset (history lost or a new epoch)."""
        return self._listener.resets

    def _safe_url(self) -> str:
        # Never log a password.
        _, sep, tail = self.url.rpartition("@")
        return f"{self.url.split('://', 1)[0]}://***@{tail}" if sep else self.url

    # -- publishing ---------------------------------------------------------------------

    def _keys(self, channel: str) -> tuple[str, str]:
        return keys(self.prefix, channel)

    async def publish(self, channel: str, body: bytes) -> Publication:
        return (await self.enqueue_many([(channel, body)]))[0]

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> list[Publication]:
        """Publish in one script call per 500 updates (one round trip for a feed tick)."""
        return await self.enqueue_many(items)

    def enqueue_many(self, items: Sequence[tuple[str, bytes]]) -> Awaitable[list[Publication]]:
        """Write the script calls for ``items`` to the publishing connection now, behind
        every call before them, and return what to await for their publications.

        One ``EVAL`` per 500 updates, packed in C, pipelined (:class:`.pipe.PublishPipe`):
        Redis runs this batch while the caller folds the next. Awaiting raises
        :class:`BrokerUnavailable` if Redis stays unreachable.
        """
        calls: list[tuple[Sequence[tuple[str, bytes]], asyncio.Future[Any]]] = []
        head = self._publish_head
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            args: list[Any] = [*head, secrets.token_hex(4)]
            for channel, body in chunk:
                args.append(channel)
                args.append(body)
            calls.append((chunk, self._pipe.call(hiredis.pack_command(tuple(args)))))
        return self._publications(calls)

    async def _publications(
        self, calls: list[tuple[Sequence[tuple[str, bytes]], asyncio.Future[Any]]]
    ) -> list[Publication]:
        out: list[Publication] = []
        append = out.append
        epochs = self._epochs
        for chunk, future in calls:
            try:
                reply = await future
            except hiredis.ReplyError as exc:
                raise BrokerUnavailable(f"publishing to Redis failed: {exc}") from exc
            for i, (channel, body) in enumerate(chunk):
                seq = reply[2 * i]
                raw = reply[2 * i + 1]
                epoch = epochs.get(raw)
                if epoch is None:
                    if len(epochs) > 4096:
                        epochs.clear()
                    epoch = epochs[raw] = raw.decode()
                # protocol.seal's bytes, in one formatting operation
                append(
                    _new(Publication, (channel, seq, epoch, b'%b,"seq":%d}' % (body, seq), False))
                )
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
        one read as in :meth:`latest`. A channel with no update yet gets its epoch here,
        and its first update keeps it. Raises :class:`BrokerUnavailable` if Redis fails."""
        result: tuple[int, str] = await self._coalesced("top", channel, self._top_now)
        return result

    async def _top_now(self, channel: str) -> tuple[int, str]:
        meta, _ = self._keys(channel)
        try:
            seq, epoch = await self._top_script(keys=[meta], args=[secrets.token_hex(4)])
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise BrokerUnavailable(f"reading from Redis failed: {exc}") from exc
        return (int(seq) if seq else 0), _text(epoch)

    async def _history_raw(self, channel: str, since: int) -> _RawHistory:
        """The channel's top, epoch, latest frame, and the newest ``top - since`` entries
        of its history (none past ``history_size``), oldest first."""
        meta, hist = self._keys(channel)
        try:
            raw = await self._history_script(keys=[meta, hist], args=[since, self.history_size])
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise BrokerUnavailable(f"reading from Redis failed: {exc}") from exc
        top, epoch, latest_frame, now_ms, entries = raw
        top = int(top)
        epoch = epoch.decode() if isinstance(epoch, bytes) else str(epoch)
        latest = Publication(channel, top, epoch, bytes(latest_frame)) if latest_frame else None
        parsed: list[tuple[int, int, bytes]] = []
        for entry_id, fields in reversed(entries):
            fmap = _pairs(fields)
            parsed.append((int(entry_id.split(b"-", 1)[0]), int(fmap[b"s"]), fmap[b"f"]))
        return _RawHistory(top, epoch, latest, int(now_ms), parsed)

    def _history_after(self, channel: str, since: int, raw: _RawHistory) -> HistoryRead:
        """(top, epoch, latest, publications after ``since`` or None if not all there)."""
        top, epoch, latest = raw.top, raw.epoch, raw.latest
        if since >= top:
            return top, epoch, latest, [] if since == top else None
        # Entries older than the age bound do not count, even if not trimmed yet.
        cutoff = raw.now_ms - int(self.history_ttl * 1000)
        pubs = [
            Publication(channel, seq, epoch, frame)
            for ms, seq, frame in raw.entries
            if seq > since and ms >= cutoff
        ]
        complete = (
            len(pubs) == top - since
            and bool(pubs)
            and pubs[0].seq == since + 1
            and pubs[-1].seq == top
        )
        return top, epoch, latest, pubs if complete else None

    async def _read_history(self, channel: str, since: int) -> HistoryRead:
        """(top, epoch, latest, publications after ``since`` or None if not all there)."""
        return self._history_after(channel, since, await self._history_raw(channel, since))

    async def _history_now(self, channel: str) -> tuple[int, _RawHistory]:
        since = self._history_from.pop(channel)
        return since, await self._history_raw(channel, since)

    async def history(self, channel: str, since: int, epoch: str | None) -> History:
        """The updates of ``channel`` after ``since`` if its history still holds every one
        in ``epoch``. Concurrent callers share one read (from the smallest ``since`` among
        those that joined it before it was sent), read after each call began. Raises
        :class:`BrokerUnavailable` if Redis fails."""
        if ("history", channel) in self._reads_next:
            self._history_from[channel] = min(self._history_from[channel], since)
        else:
            self._history_from[channel] = since
        start, raw = await self._coalesced("history", channel, self._history_now)
        top, current, _, pubs = self._history_after(channel, since, raw)
        if pubs is None and start < since < top and len(raw.entries) < top - since:
            # The shared read asked for more than the history keeps and got nothing back;
            # a read of this caller's own gap may still be covered.
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
        await self._listener.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        await self._listener.unsubscribe(channel)


@dataclass(frozen=True, slots=True)
class _RawHistory:
    top: int
    epoch: str
    latest: Publication | None
    now_ms: int
    #: (ms, seq, frame) of the entries read, oldest first.
    entries: list[tuple[int, int, bytes]]


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _pairs(fields: list[bytes]) -> dict[bytes, bytes]:
    return {fields[i]: fields[i + 1] for i in range(0, len(fields) - 1, 2)}
