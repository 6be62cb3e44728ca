"""One Redis connection for publishing, pipelined: commands go out in call order at once,
replies come back in the same order.

redis-py sends a command and waits for its reply before the connection takes the next, so
a feed publishing through it waits for Redis to run each batch's script before folding
the next batch. :class:`PublishPipe` writes a command as soon as it is given one (the
order of publications is fixed when :meth:`PublishPipe.call` returns, not when Redis
answers) and matches replies to calls by their order, so the feed's Python and Redis's
script run at the same time, on two cores.

On a lost connection it reconnects under the broker's backoff and sends again, in order,
every command Redis had not answered, as redis-py's retry does (a command whose reply was
lost may run twice, as there). After ``backoff.max_attempts`` failed attempts in a row,
every waiting call fails with :class:`~tickwire.stream.brokers.base.BrokerUnavailable`;
the next call starts over. It does not bound how many commands wait: callers do (the feed
keeps a few batches in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import hiredis
from redis.asyncio.connection import parse_url

from ...backoff import Backoff
from ..base import BrokerUnavailable

__all__ = ["PublishPipe"]


class PublishPipe:
    """Pipelined commands on one connection to the Redis at ``url`` (``redis://``,
    ``rediss://`` or ``unix://``; password, username and database number from the URL)."""

    def __init__(self, url: str, backoff: Backoff, *, connect_timeout: float = 2.0) -> None:
        self.url = url
        self.backoff = backoff
        self.connect_timeout = connect_timeout
        #: Commands sent (or to send) and not yet answered, oldest first.
        self._pending: deque[tuple[bytes, asyncio.Future[Any]]] = deque()
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        #: Times the connection was re-established with commands waiting (for status).
        self.reconnects = 0

    def call(self, packed: bytes) -> asyncio.Future[Any]:
        """Send one packed command after every command given before; the future gets its
        reply (a Redis error reply as :class:`hiredis.ReplyError`, a lost Redis as
        :class:`BrokerUnavailable`). Never waits."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A pipe is bound to the loop that uses it; a new loop (a short-lived publisher
            # run with asyncio.run again) starts with a fresh connection.
            self._forget()
            self._loop = loop
        if self._closed:
            raise BrokerUnavailable("the broker is closed")
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((packed, future))
        if self._writer is not None:
            self._writer.write(packed)
        elif self._task is None:
            self._task = loop.create_task(self._run())
        return future

    async def close(self) -> None:
        """Close the connection; calls still waiting fail with BrokerUnavailable."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._drop_writer()
        self._fail_all(BrokerUnavailable("the broker was closed"))

    def _forget(self) -> None:
        # What belonged to the old loop cannot be closed or resolved from this one (it has
        # ended, as a short-lived publisher's asyncio.run does): it is dropped.
        self._writer = None
        self._task = None
        self._pending = deque()

    def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()

    def _fail_all(self, exc: Exception) -> None:
        pending, self._pending = self._pending, deque()
        for _, future in pending:
            if not future.done():
                future.set_exception(exc)

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        opts = parse_url(self.url)
        if "path" in opts:
            coro = asyncio.open_unix_connection(opts["path"])
        else:
            ssl = self.url.startswith("rediss:") or None
            coro = asyncio.open_connection(
                opts.get("host", "localhost"), opts.get("port", 6379), ssl=ssl
            )
        reader, writer = await asyncio.wait_for(coro, self.connect_timeout)
        try:
            setup: list[tuple[Any, ...]] = []
            if opts.get("password"):
                user = [opts["username"]] if opts.get("username") else []
                setup.append(("AUTH", *user, opts["password"]))
            if opts.get("db"):
                setup.append(("SELECT", int(opts["db"])))
            if setup:
                parser = hiredis.Reader()
                writer.write(b"".join(hiredis.pack_command(c) for c in setup))
                answered = 0
                while answered < len(setup):
                    data = await asyncio.wait_for(reader.read(65536), self.connect_timeout)
                    if not data:
                        raise ConnectionError("Redis closed the connection during set-up")
                    parser.feed(data)
                    while (reply := parser.gets()) is not False:
                        if isinstance(reply, hiredis.ReplyError):
                            raise ConnectionError(f"Redis refused {setup[answered][0]}: {reply}")
                        answered += 1
        except BaseException:
            writer.close()
            raise
        return reader, writer

    async def _run(self) -> None:
        retries = self.backoff.retries()
        try:
            while self._pending and not self._closed:
                try:
                    reader, writer = await self._open()
                except (OSError, ConnectionError, TimeoutError) as exc:
                    if not await self._wait_to_retry(retries, exc):
                        return
                    continue
                # Every unanswered command again, in order, then whatever comes next.
                writer.write(b"".join(packed for packed, _ in self._pending))
                self._writer = writer
                if retries.attempt:
                    self.reconnects += 1
                try:
                    await self._read(reader)
                except (OSError, ConnectionError, TimeoutError) as exc:
                    self._drop_writer()
                    if not await self._wait_to_retry(retries, exc):
                        return
                else:
                    return  # idle and the connection closed: the next call reopens it
        finally:
            self._drop_writer()
            if self._task is asyncio.current_task():
                self._task = None

    async def _read(self, reader: asyncio.StreamReader) -> None:
        """Hand replies to their calls until the connection fails (raises) or ends while
        nothing waits (returns)."""
        parser = hiredis.Reader()
        pending = self._pending
        while True:
            data = await reader.read(262144)
            if not data:
                if pending:
                    raise ConnectionError("Redis closed the publishing connection")
                return
            parser.feed(data)
            while (reply := parser.gets()) is not False:
                _, future = pending.popleft()
                if future.done():
                    continue  # its caller gave up; the command ran all the same
                if isinstance(reply, hiredis.ReplyError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)

    async def _wait_to_retry(self, retries: Any, exc: BaseException) -> bool:
        delay = retries.next_delay()
        if self.backoff.exhausted(retries.attempt):
            self._fail_all(BrokerUnavailable(f"publishing to Redis failed: {exc}"))
            return False
        await asyncio.sleep(delay)
        return True
