"""Running a client command: connect, subscribe, hand the events to the command's body
until Ctrl-C, SIGTERM, ``--duration`` or the body itself stops."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TextIO

from tickwire.client import Client, ConnectionStatus, Event, TickwireError

from .args import make_client
from .output import notice, status_line, tidy

__all__ = ["Body", "Feed", "Stop", "run"]


class Stop:
    """Set by Ctrl-C / SIGTERM or the duration; commands poll it between events."""

    def __init__(self, duration: float | None) -> None:
        self.event = asyncio.Event()
        self.deadline = None if duration is None else time.monotonic() + duration
        self.interrupted = False

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    @property
    def done(self) -> bool:
        left = self.remaining()
        return self.event.is_set() or (left is not None and left <= 0)


class Feed:
    """What a command's body works with: the connected, subscribed client, what stops the
    command, and the client's events."""

    def __init__(self, client: Client, stop: Stop) -> None:
        self.client = client
        self.stop = stop
        #: Events read while connecting, for the body to see first.
        self.held: deque[Event] = deque()

    async def events(self, tick: float = 0.5) -> AsyncIterator[Event | None]:
        """The client's events until stopped; None every ``tick`` seconds without one."""
        client, stop = self.client, self.stop
        while self.held and not stop.done:
            yield self.held.popleft()
        while not stop.done:
            left = stop.remaining()
            timeout = tick if left is None else max(0.0, min(tick, left))
            waiter = asyncio.ensure_future(client.next_event())
            stopper = asyncio.ensure_future(stop.event.wait())
            done, _ = await asyncio.wait(
                {waiter, stopper}, timeout=timeout, return_when="FIRST_COMPLETED"
            )
            stopper.cancel()
            if waiter not in done:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
                yield None
                continue
            event = waiter.result()
            if event is None:
                return
            yield event


#: A command's body: runs on the connected, subscribed client; returns the exit status.
Body = Callable[[argparse.Namespace, Feed], Awaitable[int]]


async def _connect(feed: Feed, err: TextIO) -> bool:
    """Connect, printing each failed attempt as it happens; False when stopped first.

    The client reports a failed attempt as a ``disconnected`` event, which nobody would
    read before the first connection is made; so they are read here, while connecting.
    Raises the client's error when it gives up.
    """
    client, stop = feed.client, feed.stop
    connecting = asyncio.ensure_future(client.connect())
    await asyncio.sleep(0)  # connect() has started: its events can be read
    stopper = asyncio.ensure_future(stop.event.wait())
    waiter: asyncio.Future[Event | None] | None = None
    reading = True
    try:
        while not connecting.done():
            if waiter is None and reading:
                waiter = asyncio.ensure_future(client.next_event())
            pending = {connecting, stopper} | ({waiter} if waiter else set())
            done, _ = await asyncio.wait(
                pending, timeout=stop.remaining(), return_when="FIRST_COMPLETED"
            )
            if waiter is not None and waiter in done:
                event = None if waiter.exception() else waiter.result()
                waiter = None
                if event is None:
                    reading = False  # the client ended; connect() says why
                elif isinstance(event, ConnectionStatus) and event.state == "disconnected":
                    notice(status_line(event), err)
                else:
                    feed.held.append(event)
            elif connecting not in done:
                # Closing (not cancelling) lets connect() end with the client's own
                # error, which is awaited here instead of reported as never retrieved.
                await client.close()
                with contextlib.suppress(asyncio.CancelledError, TickwireError):
                    await connecting
                notice("stopped before a connection was made", err)
                return False
    finally:
        stopper.cancel()
        if waiter is not None:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await waiter  # what ended the client is connect()'s to raise
    connecting.result()
    return True


async def run(args: argparse.Namespace, body: Body, err: TextIO) -> int:
    """Connect, subscribe to ``args.symbols`` and run ``body``; 1 for a client error."""
    stop = Stop(args.duration)
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        stop.interrupted = True
        stop.event.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, interrupt)
    feed = Feed(make_client(args), stop)
    try:
        if not await _connect(feed, err):
            return 1
        try:
            if args.symbols:  # `alerts watch` subscribes to nothing: alerts come unasked
                await feed.client.subscribe(*args.symbols)
        except TimeoutError as exc:
            notice(str(exc), err)
        return await body(args, feed)
    except TickwireError as exc:
        notice(tidy(str(exc)), err)
        return 1
    finally:
        await feed.client.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
