"""Which portfolios the cluster's valuer values: those with a subscriber on some node.

The valuer runs once per cluster, beside the price feed (:mod:`.valuer`); the nodes that
hold the subscribers tell it what they follow, on internal control channels:

* ``control.valuation`` (nodes → valuer): ``watch`` when a node's first subscriber of a
  portfolio arrives (the valuer loads it if needed and publishes its value at once, so
  the new subscriber gets the current value), ``release`` a grace period after its last
  one left, and a ``lease`` every :data:`LEASE_SECONDS` listing everything the node
  follows. A node that dies stops renewing its lease; the valuer forgets its demand after
  :data:`LEASE_TIMEOUTS` leases. Position changes are announced here too
  (``portfolio_control``, by :func:`~tickwire.portfolios.services.portfolio_changed`), so
  the valuer listens to one channel, not one per portfolio.
* ``control.valuation.nodes`` (valuer → nodes): ``hello`` when a valuer starts (a feed
  process restarted), answered by every node with its lease at once.

This module holds the messages (built and parsed here, nowhere else) and the node's side,
:class:`NodeDemand`. It does not value anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from tickwire.stream.channels import portfolio_channel
from tickwire.stream.control import FrameSink
from tickwire.stream.node import Node
from tickwire.stream.protocol import encode_body
from tickwire.stream.tasks import log_failure

__all__ = [
    "DEMAND",
    "HELLO",
    "LEASE",
    "LEASE_SECONDS",
    "LEASE_TIMEOUTS",
    "RELEASE",
    "VALUATION_CHANNEL",
    "VALUATION_NODES_CHANNEL",
    "WATCH",
    "Demand",
    "NodeDemand",
    "demand_body",
    "parse_demand",
]

log = logging.getLogger("tickwire.portfolios.demand")

#: Nodes → valuer: demand and position changes.
VALUATION_CHANNEL: Final = "control.valuation"
#: Valuer → nodes: a valuer started and asks for every node's lease.
VALUATION_NODES_CHANNEL: Final = "control.valuation.nodes"
#: The frame type of every demand message.
DEMAND: Final = "valuation_demand"
WATCH: Final = "watch"
RELEASE: Final = "release"
LEASE: Final = "lease"
HELLO: Final = "hello"
_EVENTS: Final = frozenset({WATCH, RELEASE, LEASE, HELLO})
#: How often a node renews the list of portfolios it follows.
LEASE_SECONDS: Final = 10.0
#: Leases missed before the valuer forgets a node's demand (the node died).
LEASE_TIMEOUTS: Final = 3


@dataclass(frozen=True, slots=True)
class Demand:
    """One demand message: ``event`` from ``node`` about ``portfolio_ids``."""

    event: str
    node: str
    portfolio_ids: tuple[int, ...] = ()


def demand_body(event: str, node: str, portfolio_ids: Iterable[int] = ()) -> bytes:
    """The body of a demand message, to publish on its channel.

    Raises:
        ValueError: ``event`` is not one of watch, release, lease, hello.
    """
    if event not in _EVENTS:
        raise ValueError(f"event must be one of {sorted(_EVENTS)}, not {event!r}")
    return encode_body(
        DEMAND, {"event": event, "node": node, "portfolio_ids": sorted(set(portfolio_ids))}
    )


def parse_demand(frame: bytes) -> Demand | None:
    """The demand in ``frame``; None if the frame is another message type.

    Raises:
        ValueError: a demand message with a missing or wrong field (named).
    """
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or message.get("type") != DEMAND:
        return None
    data = message.get("data")
    if not isinstance(data, dict):
        raise ValueError("valuation_demand needs data, an object")
    event, node, ids = data.get("event"), data.get("node"), data.get("portfolio_ids", [])
    if event not in _EVENTS:
        raise ValueError(f"valuation_demand data.event must be one of {sorted(_EVENTS)}")
    if not isinstance(node, str) or not node:
        raise ValueError("valuation_demand data.node must be a non-empty string")
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    ):
        raise ValueError("valuation_demand data.portfolio_ids must be a list of integers")
    return Demand(event, node, tuple(ids))


def node_name() -> str:
    """A name for this node's demand, unique across processes and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class NodeDemand:
    """A node's side: tells the cluster's valuer which portfolios its clients follow.

    :meth:`watch` when a client subscribes (the valuer then publishes the portfolio's value
    at once on ``portfolio.<id>``), :meth:`release` when one leaves: after ``grace``, if no
    client of this node follows the portfolio any more, the valuer is told. A lease of
    everything followed goes out every ``lease_seconds`` and whenever a valuer says hello.
    """

    def __init__(
        self, node: Node, *, grace: float | None = None, lease_seconds: float = LEASE_SECONDS
    ) -> None:
        self.node = node
        self.name = node_name()
        self.grace = node.grace if grace is None else grace
        self.lease_seconds = lease_seconds
        self._watched: set[int] = set()
        self._drops: dict[int, asyncio.TimerHandle] = {}
        self._sink = FrameSink(self._on_frame)
        self._tasks: set[asyncio.Task[None]] = set()
        self._lease_task: asyncio.Task[None] | None = None

    @property
    def portfolio_ids(self) -> list[int]:
        """The portfolios this node follows (told to the valuer)."""
        return sorted(self._watched)

    async def start(self) -> None:
        if self._lease_task is None:
            self._lease_task = asyncio.ensure_future(self._lease_loop())

    async def _listen(self) -> None:
        # Only while this node follows something: a node that follows nothing has no
        # lease to give a valuer that says hello.
        if VALUATION_NODES_CHANNEL in self._sink.channels:
            return
        result = await self.node.subscribe(self._sink, VALUATION_NODES_CHANNEL)
        self.node.activate(self._sink, result)  # an old hello (its snapshot) is not news

    async def close(self) -> None:
        """Stop, telling the valuer this node follows nothing any more."""
        for handle in self._drops.values():
            handle.cancel()
        self._drops.clear()
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._lease_task
            self._lease_task = None
        self.node.remove(self._sink)
        self._sink.close()
        if self._watched:
            watched, self._watched = self._watched, set()
            with contextlib.suppress(Exception):
                await self._send(RELEASE, watched)
        for task in list(self._tasks):
            task.cancel()

    async def watch(self, portfolio_id: int) -> None:
        """A client of this node subscribed: have the portfolio valued, its value now."""
        drop = self._drops.pop(portfolio_id, None)
        if drop is not None:
            drop.cancel()
        self._watched.add(portfolio_id)
        await self._listen()
        await self._send(WATCH, (portfolio_id,))

    def release(self, portfolio_id: int) -> None:
        """A client left; the valuer is told after ``grace`` if it was this node's last."""
        if portfolio_id not in self._watched or portfolio_id in self._drops:
            return
        if self.node.hub.subscribers(portfolio_channel(portfolio_id)):
            return
        loop = asyncio.get_running_loop()
        self._drops[portfolio_id] = loop.call_later(self.grace, self._drop, portfolio_id)

    def _drop(self, portfolio_id: int) -> None:
        self._drops.pop(portfolio_id, None)
        if self.node.hub.subscribers(portfolio_channel(portfolio_id)):
            return
        self._watched.discard(portfolio_id)
        if not self._watched:
            self.node.unsubscribe(self._sink, VALUATION_NODES_CHANNEL)
        self._spawn(self._send(RELEASE, (portfolio_id,)))

    def _on_frame(self, frame: bytes) -> None:
        try:
            demand = parse_demand(frame)
        except ValueError as exc:
            log.warning("ignored a valuation message: %s", exc)
            return
        if demand is not None and demand.event == HELLO and self._watched:
            self._spawn(self._send(LEASE, self._watched))

    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds)
            if self._watched:
                try:
                    await self._send(LEASE, self._watched)
                except Exception:
                    log.exception("renewing this node's valuation lease failed")

    async def _send(self, event: str, portfolio_ids: Iterable[int]) -> None:
        await self.node.broker.publish(
            VALUATION_CHANNEL, demand_body(event, self.name, portfolio_ids)
        )

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(log_failure("telling the valuer this node's demand", log))
