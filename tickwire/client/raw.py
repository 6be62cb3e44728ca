"""Reading any JSON WebSocket feed (not only Tickwire's): subscribe template, field paths.

Seed 000's scripts connect to some feed, send a subscribe message of that feed's own
shape, and read ``price`` out of whatever comes back. :class:`RawFeed` describes such a
feed, so the client, the statistics and the CLI work on it unchanged: messages that carry a
price become :class:`~tickwire.stream.messages.AssetUpdate` objects (without ``seq``, since
such feeds have none: after a reconnect the client cannot tell what was missed, and says so
with a ``disconnected`` status), all others are passed on as plain
:class:`~tickwire.stream.messages.ServerMessage` objects. :class:`RawSession` is the
client's bookkeeping for such a feed, in place of :class:`~tickwire.client.session.Session`:
the subscribe frames come from the templates, and there is no handshake, no ``seq``, no
portfolio and no reply to wait for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tickwire.stream.messages import AssetUpdate, ServerMessage, StreamPosition

from .events import Event, TickwireError
from .sansio import Answer, BaseSession, Outgoing, decode_frame

__all__ = ["RawFeed", "RawSession"]


def _lookup(message: Any, path: str) -> Any:
    node = message
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _render(node: Any, symbol: str, symbols: list[str]) -> Any:
    if isinstance(node, str):
        if node == "{symbols}":
            return list(symbols)
        return node.replace("{symbol}", symbol)
    if isinstance(node, dict):
        return {k: _render(v, symbol, symbols) for k, v in node.items()}
    if isinstance(node, list):
        return [_render(v, symbol, symbols) for v in node]
    return node


def _contains(node: Any, marker: str) -> bool:
    if isinstance(node, str):
        return marker in node
    if isinstance(node, dict):
        return any(_contains(v, marker) for v in node.values())
    if isinstance(node, list):
        return any(_contains(v, marker) for v in node)
    return False


@dataclass(frozen=True, slots=True)
class RawFeed:
    """A foreign JSON feed: what to send to subscribe, and where a message keeps its data.

    ``subscribe`` is a JSON object template. A string ``"{symbol}"`` anywhere in it is
    replaced by the symbol (one message per symbol is sent); a string ``"{symbols}"`` is
    replaced by the list of all symbols (one message for all). Paths are dotted
    (``data.price``, ``payload.0.p``); the first path that resolves wins.

    Raises ``ValueError`` when the template is not a JSON object.
    """

    subscribe: str = '{"type": "subscribe", "symbol": "{symbol}"}'
    unsubscribe: str | None = None
    symbol_paths: tuple[str, ...] = ("symbol", "data.symbol", "s")
    price_paths: tuple[str, ...] = ("price", "data.price", "p")
    volume_paths: tuple[str, ...] = ("volume", "data.volume", "v")

    def __post_init__(self) -> None:
        for name in ("subscribe", "unsubscribe"):
            text = getattr(self, name)
            if text is None:
                continue
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{name} template is not valid JSON: {exc}") from None
            if not isinstance(parsed, dict):
                raise ValueError(f"{name} template must be a JSON object")

    def _messages(self, template: str, symbols: list[str]) -> list[str]:
        parsed = json.loads(template)
        if _contains(parsed, "{symbols}"):
            return [json.dumps(_render(parsed, symbols[0] if symbols else "", symbols))]
        return [json.dumps(_render(parsed, s, symbols)) for s in symbols]

    def subscribe_messages(self, symbols: list[str]) -> list[str]:
        """The text frames that subscribe ``symbols``."""
        return self._messages(self.subscribe, symbols)

    def unsubscribe_messages(self, symbols: list[str]) -> list[str]:
        """The text frames that unsubscribe ``symbols`` (none if no template was given)."""
        return [] if self.unsubscribe is None else self._messages(self.unsubscribe, symbols)

    def _first(self, message: Any, paths: tuple[str, ...]) -> Any:
        for path in paths:
            value = _lookup(message, path)
            if value is not None:
                return value
        return None

    def to_message(self, message: Any, default_symbol: str | None) -> ServerMessage:
        """Type one decoded message: an AssetUpdate when it has a numeric price."""
        data = message if isinstance(message, dict) else {"value": message}
        kind = data.get("type")
        kind = kind if isinstance(kind, str) else "message"
        ts = data.get("timestamp")
        ts = ts if isinstance(ts, str) else None
        price = self._first(message, self.price_paths)
        if isinstance(price, str):
            try:
                price = float(price)
            except ValueError:
                price = None
        symbol = self._first(message, self.symbol_paths)
        if not isinstance(symbol, str):
            symbol = default_symbol
        if isinstance(price, (int, float)) and not isinstance(price, bool) and symbol:
            volume = self._first(message, self.volume_paths)
            if isinstance(volume, bool) or not isinstance(volume, (int, float)):
                volume = None
            return AssetUpdate(
                "asset_update",
                data,
                ts,
                None,
                None,
                symbol=symbol,
                price=float(price),
                change=None,
                change_percent=None,
                volume=None if volume is None else float(volume),
                high=None,
                low=None,
                previous_close=None,
                currency=None,
            )
        return ServerMessage(kind, data, ts, None, None)


class RawSession(BaseSession):
    """The client's bookkeeping for a :class:`RawFeed` (sans-I/O, like
    :class:`~tickwire.client.session.Session`).

    Symbols keep the feed's own spelling (some feeds want lower case). A subscription
    counts as confirmed once its frame is sent, since such feeds do not answer in a known
    shape; every message is passed on. Raises :class:`TickwireError` for portfolios, a
    Tickwire feature.
    """

    handshake = False

    def __init__(self, feed: RawFeed) -> None:
        super().__init__()
        self.feed = feed
        self._sent: set[str] = set()

    def normalize(self, symbols: tuple[str, ...]) -> list[str]:
        if not symbols:
            raise ValueError("name at least one symbol")
        out: dict[str, None] = {}
        for symbol in symbols:
            if not isinstance(symbol, str) or not symbol.strip() or len(symbol) > 100:
                raise ValueError(f"{symbol!r} is not a symbol")
            out[symbol.strip()] = None
        return list(out)

    def want_symbols(self, symbols: list[str]) -> None:
        for s in symbols:
            self._symbols.setdefault(s, None)

    def drop_symbols(self, symbols: list[str]) -> list[str]:
        gone = [s for s in symbols if s in self._symbols]
        for s in gone:
            del self._symbols[s]
        return gone

    def unsubscribe(self, symbols: list[str]) -> list[Outgoing]:
        return [Outgoing(text) for text in self.feed.unsubscribe_messages(symbols)]

    def want_portfolio(self, portfolio_id: int) -> None:
        raise TickwireError("portfolios are a Tickwire feature; not available with raw=")

    def drop_portfolio(self, portfolio_id: int) -> list[Outgoing]:
        return []

    def position(self, symbol: str) -> StreamPosition | None:
        return None  # such feeds have no seq

    def settled(self, keys: list[str] | list[int]) -> bool:
        return True  # nothing to wait for: the feed does not confirm

    def subscribe_result(self, symbols: list[str]) -> dict[str, StreamPosition]:
        return {s: StreamPosition(0, "") for s in symbols}

    def portfolio_result(self, portfolio_id: int) -> None:
        raise TickwireError("portfolios are a Tickwire feature; not available with raw=")

    def connected(self) -> None:
        self._sent.clear()

    def disconnected(self) -> None:
        pass  # no request waits for an answer

    def subscriptions(self) -> list[Outgoing]:
        todo = [s for s in self._symbols if s not in self._sent]
        if not todo:
            return []
        self._sent.update(todo)
        return [Outgoing(text) for text in self.feed.subscribe_messages(todo)]

    def parse(self, frame: str | bytes) -> list[ServerMessage]:
        items = decode_frame(frame)
        if items is None:
            self.malformed += 1
            return []
        # A message that names no symbol is taken to be about the only one subscribed.
        default = next(iter(self._symbols)) if len(self._symbols) == 1 else None
        return [self.feed.to_message(item, default) for item in items]

    def receive(self, message: ServerMessage) -> list[Event]:
        return [message]

    def answers(self) -> list[Answer]:
        return []
