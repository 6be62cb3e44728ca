"""How the evaluator hears control channels where it runs.

The evaluator needs ``control.alerts`` (rule changes) and ``control.portfolio.<id>`` for
each portfolio it values. Where it runs decides how frames arrive:

* :class:`NodeChannels` — the embedded server: through the runtime's node, like the
  portfolio valuer, with one :class:`~tickwire.stream.control.FrameSink`;
* :class:`BrokerChannels` — the ``tickwire feed`` process, which has a broker and no node:
  the broker's own subscriptions, whose publications the process's handler passes on.

Neither replays a channel's snapshot: a control channel's latest message is an old event,
already reflected in what the evaluator reads from the database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from tickwire.stream.brokers import Broker
from tickwire.stream.control import FrameSink
from tickwire.stream.node import Node

__all__ = ["BrokerChannels", "ControlChannels", "NodeChannels"]


class ControlChannels(Protocol):
    """Subscribes the evaluator to channels; frames reach it by another way (see above)."""

    async def listen(self, channel: str) -> None: ...

    async def unlisten(self, channel: str) -> None: ...

    async def close(self) -> None: ...


class NodeChannels:
    """Frames of the channels listened to are handed to ``on_frame`` by the node."""

    def __init__(self, node: Node, on_frame: Callable[[bytes], None] | None = None) -> None:
        self.node = node
        self.on_frame = on_frame
        self.sink = FrameSink(self._frame)

    def _frame(self, frame: bytes) -> None:
        if self.on_frame is not None:
            self.on_frame(frame)

    async def listen(self, channel: str) -> None:
        if channel in self.sink.channels:
            return
        result = await self.node.subscribe(self.sink, channel)
        self.node.activate(self.sink, result)

    async def unlisten(self, channel: str) -> None:
        self.node.unsubscribe(self.sink, channel)

    async def close(self) -> None:
        self.node.remove(self.sink)
        self.sink.close()


class BrokerChannels:
    """Subscribes the broker; its publication handler must pass the frames on."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.channels: set[str] = set()

    async def listen(self, channel: str) -> None:
        if channel not in self.channels:
            self.channels.add(channel)
            await self.broker.subscribe(channel)

    async def unlisten(self, channel: str) -> None:
        if channel in self.channels:
            self.channels.discard(channel)
            await self.broker.unsubscribe(channel)

    async def close(self) -> None:
        for channel in sorted(self.channels):
            await self.unlisten(channel)
