"""Streaming JSON WebSocket sources: a reconnecting base and the provider presets.

:class:`WebSocketSource` (:mod:`.source`) owns the connection: connecting, subscribing
again after every reconnect, backoff, silence detection, counting malformed payloads.
Presets: :class:`FinnhubSource` (trades), :class:`BinanceSource` (spot ``@trade`` /
``@ticker`` on the combined-stream endpoint), :class:`CoinbaseSource` (Advanced Trade
``ticker`` + ``heartbeats``) in :mod:`.exchanges`, and :class:`GenericWebSocketSource`
(URL, subscribe template and field paths, for any other JSON feed) in :mod:`.generic`.
"""

from .exchanges import BinanceSource, CoinbaseSource, FinnhubSource
from .generic import DEFAULT_GENERIC_FIELDS, DEFAULT_GENERIC_SUBSCRIBE, GenericWebSocketSource
from .source import FeedSilent, WebSocketSource

__all__ = [
    "DEFAULT_GENERIC_FIELDS",
    "DEFAULT_GENERIC_SUBSCRIBE",
    "BinanceSource",
    "CoinbaseSource",
    "FeedSilent",
    "FinnhubSource",
    "GenericWebSocketSource",
    "WebSocketSource",
]
