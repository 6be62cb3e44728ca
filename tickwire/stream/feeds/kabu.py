"""KabuStation API PUSH adapter (seed 002's broker API).

KabuStation runs on the trader's own machine. Before every (re)connection the adapter:

1. ``POST {api_url}/token`` with ``{"APIPassword": ...}`` and takes ``Token`` from the
   answer (a KabuStation restart invalidates tokens, so it is fetched afresh each time);
2. ``PUT {api_url}/register`` with header ``X-API-KEY: <token>`` and
   ``{"Symbols": [{"Symbol": "7203", "Exchange": 1}, ...]}`` (at most 50 symbols);
3. opens the PUSH WebSocket ``{api_url}/websocket`` and receives one JSON board message
   per price change: ``Symbol``, ``CurrentPrice``, ``CurrentPriceTime``, ``TradingVolume``
   (the day's cumulative volume), ``Exchange``.

Tickwire symbols map to KabuStation codes through ``symbol_map`` (``{"TOYOTA": "7203"}``,
or ``"7203@3"`` for another exchange); by default the symbol itself is the code and the
exchange is ``exchange`` (1 = Tokyo).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from .base import Instrument, MalformedMessage, SourceConfigError, Tick
from .common import check_url, parse_fields
from .websocket import WebSocketSource

__all__ = ["KABU_MAX_SYMBOLS", "KabuAuthError", "KabuStationSource"]

log = logging.getLogger("tickwire.feed")

KABU_MAX_SYMBOLS = 50
_FIELDS = {
    "symbol": "Symbol",
    "price": "CurrentPrice",
    "volume": "TradingVolume",
    "time": "CurrentPriceTime",
}


class KabuAuthError(Exception):
    """KabuStation refused the API password or the symbol registration."""


class KabuStationSource(WebSocketSource):
    name = "kabu"
    default_url = "ws://localhost:18080/kabusapi/websocket"

    def __init__(
        self,
        instruments: Sequence[Instrument],
        *,
        api_url: str = "http://localhost:18080/kabusapi",
        password: str | None = None,
        exchange: int = 1,
        symbol_map: Mapping[str, str] | None = None,
        url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **kw: Any,
    ) -> None:
        if not password:
            raise SourceConfigError("the kabu source needs the KabuStation API password")
        self.api_url = check_url(api_url.rstrip("/"), ("http", "https"), "api_url")
        if url is None:
            parts = urlsplit(self.api_url)
            scheme = "wss" if parts.scheme == "https" else "ws"
            url = urlunsplit((scheme, parts.netloc, parts.path + "/websocket", "", ""))
        self.exchange = exchange
        codes: dict[str, str] = {}
        self.registrations: list[dict[str, Any]] = []
        for sym, value in (symbol_map or {}).items():
            code, _, exch = value.partition("@")
            codes[sym] = code
            if exch and not exch.isdigit():
                raise SourceConfigError(
                    f"kabu symbol_map value {value!r} must be CODE or CODE@EXCHANGE"
                )
        super().__init__(instruments, url=url, symbol_map=codes, **kw)
        for sym, code in self.symbols.to_provider.items():
            exch = (symbol_map or {}).get(sym, "").partition("@")[2]
            self.registrations.append({"Symbol": code, "Exchange": int(exch) if exch else exchange})
        if len(self.registrations) > KABU_MAX_SYMBOLS:
            raise SourceConfigError(
                f"KabuStation registers at most {KABU_MAX_SYMBOLS} symbols, "
                f"not {len(self.registrations)}; narrow them with --symbols"
            )
        self._password = password
        self._transport = transport
        self.token: str | None = None
        self.registered = 0
        self._day_volume: dict[str, float] = {}

    async def prepare(self) -> None:
        """Fetch a token with the API password, then register the symbols with it.

        Raises KabuAuthError (retried with backoff by the connection loop).
        """
        async with httpx.AsyncClient(timeout=self.open_timeout, transport=self._transport) as http:
            answer = await http.post(f"{self.api_url}/token", json={"APIPassword": self._password})
            body = _json(answer)
            token = body.get("Token") if isinstance(body, dict) else None
            if answer.status_code != 200 or not isinstance(token, str) or not token:
                raise KabuAuthError(
                    f"token request failed: HTTP {answer.status_code} {_brief(body)}"
                )
            self.token = token
            answer = await http.put(
                f"{self.api_url}/register",
                json={"Symbols": self.registrations},
                headers={"X-API-KEY": token},
            )
            body = _json(answer)
            if answer.status_code != 200:
                raise KabuAuthError(f"register failed: HTTP {answer.status_code} {_brief(body)}")
            regist = body.get("RegistList") if isinstance(body, dict) else None
            self.registered = len(regist) if isinstance(regist, list) else 0
            log.info("kabu: token acquired, %d symbols registered", self.registered)

    def parse(self, message: Any, received_at: float) -> list[Tick]:
        if not isinstance(message, dict):
            raise MalformedMessage("not a JSON object")
        if message.get("CurrentPrice") is None and "Symbol" in message:
            return []  # a board message before the first trade of the day
        sym, price, day_volume, ts = parse_fields(message, _FIELDS, received_at=received_at)
        symbol = self.symbols.tickwire(sym)
        if symbol is None:
            self.ignored += 1
            return []
        prev = self._day_volume.get(symbol)
        self._day_volume[symbol] = day_volume
        volume = day_volume - prev if prev is not None and day_volume >= prev else 0.0
        return [Tick(symbol, price, volume, ts if ts is not None else received_at, day_volume)]

    def status(self) -> dict[str, object]:
        return {**super().status(), "api_url": self.api_url, "registered": self.registered}


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _brief(body: Any) -> str:
    text = repr(body)
    return text if len(text) < 200 else text[:200] + "..."
