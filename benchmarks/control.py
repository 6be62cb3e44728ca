"""The publisher inside each server under test, and the stdin/stdout control channel.

The harness writes commands to a server's stdin, one per line, and reads JSON lines from
its stdout:

* ``rate R``: publish R updates/s of the one symbol (``0`` stops, ``max`` publishes as fast
  as the server can: one update per event-loop iteration, fanned out before the next).
* ``stats``: answer ``{"published": n}``.
* ``quit``: stop the server.

A server prints ``{"event": "ready"}`` once it accepts connections.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Publisher", "emit", "serve_control"]

PublishFn = Callable[[int], Awaitable[None] | None]


def emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class Publisher:
    """Calls ``publish(seq)`` at the commanded rate (seq counts from 1)."""

    def __init__(self, publish: PublishFn) -> None:
        self.publish = publish
        self.rate = 0.0  # updates/s; < 0 means "as fast as possible"
        self.published = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def set_rate(self, rate: float) -> None:
        self.rate = rate
        self._changed.set()

    async def _one(self) -> None:
        self.published += 1
        result = self.publish(self.published)
        if inspect.isawaitable(result):
            await result

    async def _run(self) -> None:
        while True:
            if self.rate == 0:
                self._changed.clear()
                await self._changed.wait()
                continue
            self._changed.clear()
            if self.rate < 0:
                while self.rate < 0:
                    await self._one()
                    await asyncio.sleep(0)
                continue
            rate = self.rate
            start = time.monotonic()
            sent = 0
            while self.rate == rate:
                due = int((time.monotonic() - start) * rate) - sent
                # Behind schedule: catch up with at most 50 at once and skip the rest, so a
                # server that cannot keep up is measured, not buried (``published`` counts
                # what was really offered).
                for _ in range(min(due, 50)):
                    await self._one()
                if due > 0:
                    sent += due
                next_at = start + (sent + 1) / rate
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def serve_control(publish: PublishFn, stop: Callable[[], None]) -> None:
    """Start a :class:`Publisher` of ``publish``, announce ``ready``, then read commands
    from stdin until ``quit`` or EOF, and call ``stop``."""
    publisher = Publisher(publish)
    publisher.start()
    emit(event="ready", pid=os.getpid())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if not line or line == "quit":
            break
        cmd, _, arg = line.partition(" ")
        if cmd == "rate":
            publisher.set_rate(-1.0 if arg == "max" else float(arg))
            emit(event="ok")
        elif cmd == "memdump" and os.environ.get("TW_TRACEMALLOC"):
            import tracemalloc

            snap = tracemalloc.take_snapshot()
            print("traced total KiB", tracemalloc.get_traced_memory()[0] / 1024, file=sys.stderr)
            for stat in snap.statistics("traceback")[:30]:
                print(
                    f"{stat.size / 1024:.0f} KiB {stat.count}",
                    " <- ".join(
                        f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}"
                        for f in list(stat.traceback)[::-1][:4]
                    ),
                    file=sys.stderr,
                )
        elif cmd == "stats":
            emit(event="stats", published=publisher.published)
        else:
            emit(event="error", message=f"unknown command {line!r}")
    stop()
