"""Running a client command: connect, subscribe, hand the events to the command's body
until Ctrl-C, SIGTERM, ``--duration`` or the body itself stops."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TextIO

from tickwire.client import Client, Event, TickwireError

from .args import make_client

__all__ = ["Body", "Stop", "events", "run"]


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


#: A command's body: runs on the connected, subscribed client; returns the exit status.
Body = Callable[[argparse.Namespace, Client, Stop], Awaitable[int]]


async def events(client: Client, stop: Stop, tick: float = 0.5) -> AsyncIterator[Event | None]:
    """The client's events until stopped; None every ``tick`` seconds without one."""
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
    client = make_client(args)
    try:
        connecting = asyncio.ensure_future(client.connect())
        stopper = asyncio.ensure_future(stop.event.wait())
        left = stop.remaining()
        done, _ = await asyncio.wait(
            {connecting, stopper}, timeout=left, return_when="FIRST_COMPLETED"
        )
        stopper.cancel()
        if connecting not in done:
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, TickwireError):
                await connecting
            print("tickwire: stopped before a connection was made", file=err)
            return 1
        connecting.result()
        try:
            await client.subscribe(*args.symbols)
        except TimeoutError as exc:
            print(f"tickwire: {exc}", file=err)
        return await body(args, client, stop)
    except TickwireError as exc:
        print(f"tickwire: {exc}", file=err)
        return 1
    finally:
        await client.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
