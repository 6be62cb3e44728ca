"""Both Tickwire clients, run against a real server and recorded for the fault tests.

:class:`PyStream` drives :class:`tickwire.client.Client`; :class:`JsStream` runs the
browser client under Node (``js_stream.mjs``, stopped by its pid). Each records what it
delivered as :class:`Delivery` rows — updates with the position the client holds after
them, gaps, resyncs — so a test can ask "did both keep delivering after the fault, and
did they adopt the new epoch?".
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

from tests.static import node as static_node
from tickwire.client import AssetUpdate, Backoff, Client, ConnectionStatus, Gap, Resync

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Delivery:
    kind: str  # "update", "gap", "resync", "state"
    symbol: str | None = None
    seq: int | None = None
    epoch: str | None = None
    at: float = 0.0


class Recorder:
    name = "client"

    def __init__(self) -> None:
        self.rows: list[Delivery] = []

    def updates(self, since: int = 0, symbol: str | None = None) -> list[Delivery]:
        return [
            r
            for r in self.rows[since:]
            if r.kind == "update" and (symbol is None or r.symbol == symbol)
        ]

    def mark(self) -> int:
        return len(self.rows)

    async def wait_for(self, predicate, timeout: float, what: str) -> None:
        """Wait (bounded) until ``predicate(self)`` holds."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                tail = self.rows[-5:]
                raise AssertionError(f"{self.name}: {what} within {timeout}s; last rows {tail}")
            await asyncio.sleep(0.1)


class PyStream(Recorder):
    name = "python client"

    def __init__(self, url: str, symbols: list[str]) -> None:
        super().__init__()
        self.client = Client(
            url,
            heartbeat=1.0,
            heartbeat_timeout=3.0,
            backoff=Backoff(initial=0.2, maximum=2.0, stable_after=1.0),
        )
        self.symbols = symbols
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> PyStream:
        await self.client.connect()
        await self.client.subscribe(*self.symbols)
        self._task = asyncio.create_task(self._consume())
        return self

    async def _consume(self) -> None:
        async for event in self.client:
            now = time.monotonic()
            if isinstance(event, AssetUpdate):
                pos = self.client.position(event.symbol)
                epoch = pos.epoch if pos else None
                self.rows.append(Delivery("update", event.symbol, event.seq, epoch, now))
            elif isinstance(event, Gap):
                self.rows.append(
                    Delivery("gap", event.symbol, event.resumed_seq, event.resumed_epoch, now)
                )
            elif isinstance(event, Resync):
                self.rows.append(Delivery("resync", event.symbol, event.seq, event.epoch, now))
            elif isinstance(event, ConnectionStatus):
                self.rows.append(Delivery("state", None, event.close_code, event.state, now))

    async def stop(self) -> None:
        await self.client.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def node_command() -> list[str]:
    """``node``, with the flags the browser client needs under it (tests/static/node.py)."""
    return list(static_node.node_command())


class JsStream(Recorder):
    name = "JS client"

    def __init__(self, url: str, symbols: list[str]) -> None:
        super().__init__()
        self.url = url
        self.symbols = symbols
        self.proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self.stderr = b""

    async def start(self) -> JsStream:
        self.proc = await asyncio.create_subprocess_exec(
            *node_command(),
            "--no-warnings",
            str(HERE / "js_stream.mjs"),
            self.url,
            ",".join(self.symbols),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._task = asyncio.create_task(self._consume())
        await self.wait_for(lambda r: r.updates(), 20, "a first update")
        return self

    async def _consume(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            row = json.loads(line)
            now = time.monotonic()
            kind = row["e"]
            if kind == "update":
                self.rows.append(Delivery("update", row["symbol"], row["seq"], row["epoch"], now))
            elif kind == "gap":
                self.rows.append(Delivery("gap", row["symbol"], row["seq"], row["epoch"], now))
            elif kind == "resync":
                self.rows.append(Delivery("resync", row["symbol"], row["seq"], row["epoch"], now))
            elif kind == "state":
                self.rows.append(Delivery("state", None, row.get("code"), row["state"], now))

    async def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if proc.stderr is not None:
            self.stderr = await proc.stderr.read()
