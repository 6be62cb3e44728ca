"""Data sources by name, configured from a plain dict of options.

``build_source("binance", instruments, interval=1, batch_size=50, options={...})`` is how
the server, ``start_price_feed`` and ``update_asset_prices`` make their source. Options
come from Django settings (``TICKWIRE_FEED_OPTIONS``) which read them from environment
variables ``TICKWIRE_FEED_<OPTION>`` (see :func:`options_from_env`), and from ``--option
KEY=VALUE`` on the command line. Values may be strings (from the environment) or already
typed; every one is validated here, and a bad one raises :class:`SourceConfigError`
naming the option and its variable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .base import Instrument, Source, SourceConfigError

__all__ = ["OPTIONS", "SOURCES", "build_source", "env_name", "options_from_env", "parse_option"]

#: Every option any source takes, with a one-line description (docs/sources.md has more).
OPTIONS: dict[str, str] = {
    "url": "WebSocket (ws://, wss://) or HTTP quote URL of the provider",
    "api_key": "API key or token of the provider (coinbase: the CDP API key name)",
    "api_secret": "coinbase: the CDP API key's EC private key (PEM; literal \\n allowed)",
    "api_secret_file": "coinbase: a file holding the CDP API key's EC private key (PEM)",
    "symbol_map": "Tickwire to provider symbols: BTC-USD=BTCUSDT,ETH-USD=ETHUSDT",
    "silence_timeout": "seconds without any frame (message, ping, pong) before a stream is dead",
    "backoff_initial": "first reconnect delay in seconds (doubles per attempt, jittered)",
    "backoff_max": "longest reconnect delay in seconds",
    "streams": "binance: trade and/or ticker (comma-separated)",
    "subscribe": 'websocket: JSON subscribe template with {symbol} or "{symbols}"',
    "items": "websocket/http: path of the quote list in a message, e.g. data",
    "fields": "websocket/http: paths of symbol, price, volume, time: symbol=s,price=p",
    "match": "websocket: only messages where path=value, e.g. type=trade",
    "api_key_header": "http: header carrying the key (default Authorization)",
    "api_key_prefix": "http: text before the key in that header (default 'Bearer ')",
    "timeout": "http: request timeout in seconds",
    "api_url": "kabu: KabuStation REST base, default http://localhost:18080/kabusapi",
    "password": "kabu: the KabuStation API password",
    "exchange": "kabu: default exchange code (1 = Tokyo)",
    "file": "replay: CSV or Parquet file of ticks",
    "speed": "replay: playback speed factor (1 = original, 0 = as fast as possible)",
    "loop": "replay: start over at the end of the file",
    "original_time": "replay: keep the file's timestamps instead of starting now",
    "seed": "simulator: random seed for a reproducible walk",
    "rest_url": "binance/coinbase/finnhub: REST base for history, default the provider's",
    "weight_limit": "binance: request weight per minute history keeps under (default 6000)",
    "history_url": "http: history URL template with {symbol} {interval} {start} {end}",
    "history_items": "http: path of the bar list in a history answer, e.g. data.bars",
    "history_fields": "http: paths of time, open, high, low, close, volume in a bar",
    "history_page": "http: bars asked for per history request (time windows; default 1000)",
    "history_cursor": "http: path of the next history page's cursor (pages by cursor)",
}


def env_name(option: str) -> str:
    """The environment variable of an option: ``api_key`` → ``TICKWIRE_FEED_API_KEY``."""
    return f"TICKWIRE_FEED_{option.upper()}"


def options_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The source options set in ``environ`` (``TICKWIRE_FEED_URL`` and friends)."""
    return {key: environ[env_name(key)] for key in OPTIONS if env_name(key) in environ}


def parse_option(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` from the command line. Raises SourceConfigError for unknown keys."""
    key, sep, value = text.partition("=")
    key = key.strip().lower().replace("-", "_")
    if not sep or not key:
        raise SourceConfigError(f"option {text!r} must look like KEY=VALUE")
    if key not in OPTIONS:
        raise SourceConfigError(f"unknown option {key!r}; known: {', '.join(sorted(OPTIONS))}")
    return key, value


class _Options:
    """Typed access to one source's options, with errors that name the variable."""

    def __init__(self, source: str, raw: Mapping[str, Any]) -> None:
        unknown = sorted(set(raw) - set(OPTIONS))
        if unknown:
            raise SourceConfigError(
                f"unknown source options {unknown}; known: {', '.join(sorted(OPTIONS))}"
            )
        self.source = source
        self.raw = {k: v for k, v in raw.items() if v is not None and v != ""}

    def _bad(self, key: str, expected: str) -> SourceConfigError:
        return SourceConfigError(
            f"{self.source} option {key} ({env_name(key)}) = {self.raw[key]!r}: expected {expected}"
        )

    def get_str(self, key: str, default: str | None = None) -> str | None:
        value = self.raw.get(key, default)
        return None if value is None else str(value)

    def get_float(self, key: str, default: float, minimum: float = 0.0) -> float:
        if key not in self.raw:
            return default
        try:
            value = float(self.raw[key])
        except (TypeError, ValueError):
            raise self._bad(key, "a number") from None
        if not value >= minimum or value == float("inf"):
            raise self._bad(key, f"a number >= {minimum:g}")
        return value

    def get_int(self, key: str, default: int | None) -> int | None:
        if key not in self.raw:
            return default
        value = self.raw[key]
        if isinstance(value, bool):
            raise self._bad(key, "an integer")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise self._bad(key, "an integer") from None

    def get_bool(self, key: str, default: bool) -> bool:
        if key not in self.raw:
            return default
        value = self.raw[key]
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise self._bad(key, "true or false")

    def get_list(self, key: str, default: Sequence[str]) -> list[str]:
        if key not in self.raw:
            return list(default)
        value = self.raw[key]
        if isinstance(value, list | tuple):
            return [str(v) for v in value]
        return [v.strip() for v in str(value).split(",") if v.strip()]

    def get_map(self, key: str) -> dict[str, str]:
        if key not in self.raw:
            return {}
        value = self.raw[key]
        if isinstance(value, Mapping):
            return {str(k): str(v) for k, v in value.items()}
        out = {}
        for pair in str(value).split(","):
            if not pair.strip():
                continue
            name, sep, target = pair.partition("=")
            if not sep or not name.strip() or not target.strip():
                raise self._bad(key, "NAME=VALUE pairs separated by commas")
            out[name.strip()] = target.strip()
        return out

    def stream_common(self) -> dict[str, Any]:
        return {
            "url": self.get_str("url"),
            "api_key": self.get_str("api_key"),
            "symbol_map": {k.upper(): v for k, v in self.get_map("symbol_map").items()},
            "silence_timeout": self.get_float("silence_timeout", 30.0, minimum=0.001),
            "backoff_initial": self.get_float("backoff_initial", 0.5, minimum=0.001),
            "backoff_max": self.get_float("backoff_max", 30.0, minimum=0.001),
        }


Factory = Callable[[list[Instrument], float, int, _Options], Source]


def _simulator(inst: list[Instrument], interval: float, batch: int, o: _Options) -> Source:
    from .simulator import SimulatorSource

    return SimulatorSource(inst, interval=interval, batch_size=batch, seed=o.get_int("seed", None))


def _finnhub(inst: list[Instrument], interval: float, batch: int, o: _Options) -> Source:
    from .websocket import FinnhubSource

    return FinnhubSource(
        inst, batch_size=batch, rest_url=o.get_str("rest_url"), **o.stream_common()
    )


def _binance(inst: list[Instrument], interval: float, batch: int, o: _Options) -> Source:
    from .websocket import BinanceSource

    streams = o.get_list("streams", ["trade"])
    return BinanceSource(
        inst,
        streams=streams,
        batch_size=batch,
        rest_url=o.get_str("rest_url"),
        weight_limit=o.get_int("weight_limit", 6000) or 0,
        **o.stream_common(),
    )


def _coinbase(inst: list[Instrument], interval: float, batch: int, o: _Options) -> Source:
    from .websocket import CoinbaseSource

    return CoinbaseSource(
        inst,
        batch_size=batch,
        api_secret=o.get_str("api_secret"),
        api_secret_file=o.get_str("api_secret_file"),
        rest_url=o.get_str("rest_url"),
        **o.stream_common(),
    )


def _websocket(inst: list[Instrument], interval: float, batch: int, o: _Options) -> Source:
    from .websocket import DEFAULT_GENERIC_SUBSCRIBE, GenericWebSocketSource

    return GenericWebSocketSource(
        inst,
        batch_size=batch,
        subscribe=o.get_str("subscribe", DEFAULT_GENERIC_SUBSCRIBE),
        items=o.get_str("items", "") or "",
        fields=o.get_map("fields"),
        match=o.get_str("match"),
        **o.stream_common(),
    )


def _http(inst: list[Instrument], interval: float, batch: int, o: _Options) -> Source:
    from .http import HttpPollingSource

    common = o.stream_common()
    return HttpPollingSource(
        inst,
        url=common["url"],
        api_key=common["api_key"],
        symbol_map=common["symbol_map"],
        api_key_header=o.get_str("api_key_header", "Authorization") or "",
        api_key_prefix=o.get_str("api_key_prefix", "Bearer ") or "",
        items=o.get_str("items", "") or "",
        fields=o.get_map("fields"),
        interval=interval,
        batch_size=batch,
        timeout=o.get_float("timeout", 10.0, minimum=0.001),
        backoff_max=o.get_float("backoff_max", 300.0, minimum=0.001),
        history_url=o.get_str("history_url"),
        history_items=o.get_str("history_items", "") or "",
        history_fields=o.get_map("history_fields"),
        history_page=o.get_int("history_page", 1000) or 0,
        history_cursor=o.get_str("history_cursor", "") or "",
    )


def _kabu(inst: list[Instrument], interval: float, batch: int, o: _Options) -> Source:
    from .kabu import KabuStationSource

    common = o.stream_common()
    common.pop("api_key")
    return KabuStationSource(
        inst,
        api_url=o.get_str("api_url", "http://localhost:18080/kabusapi") or "",
        password=o.get_str("password") or o.get_str("api_key"),
        exchange=o.get_int("exchange", 1) or 1,
        batch_size=batch,
        **common,
    )


def _replay(inst: list[Instrument], interval: float, batch: int, o: _Options) -> Source:
    from .replay import ReplaySource

    return ReplaySource(
        inst,
        file=o.get_str("file"),
        speed=o.get_float("speed", 1.0),
        loop=o.get_bool("loop", False),
        original_time=o.get_bool("original_time", False),
        batch_size=batch,
    )


#: Source name → factory. The names are what ``--source`` and TICKWIRE_FEED_SOURCE take.
SOURCES: dict[str, Factory] = {
    "simulator": _simulator,
    "finnhub": _finnhub,
    "binance": _binance,
    "coinbase": _coinbase,
    "websocket": _websocket,
    "http": _http,
    "kabu": _kabu,
    "replay": _replay,
}


def build_source(
    name: str,
    instruments: Sequence[Instrument],
    *,
    interval: float,
    batch_size: int,
    options: Mapping[str, Any] | None = None,
) -> Source:
    """Make the source called ``name`` for ``instruments``.

    Raises SourceConfigError (a ValueError) for an unknown name or a bad option.
    """
    factory = SOURCES.get(name)
    if factory is None:
        raise SourceConfigError(f"unknown data source {name!r}; available: {', '.join(SOURCES)}")
    if not interval > 0:
        raise SourceConfigError("interval must be a positive number of seconds")
    if batch_size < 1:
        raise SourceConfigError("batch size must be at least 1")
    return factory(list(instruments), interval, batch_size, _Options(name, options or {}))
