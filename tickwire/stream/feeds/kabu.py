"""KabuStation API PUSH adapter (seed 002's broker API).

KabuStation runs on the trader's own machine. Before every (re)connection the adapter:

1. if it holds no token yet, ``POST {api_url}/token`` with ``{"APIPassword": ...}`` and
   takes ``Token`` from the answer;
2. ``PUT {api_url}/register`` with header ``X-API-KEY: <token>`` and
   ``{"Symbols": [{"Symbol": "7203", "Exchange": 1}, ...]}`` (at most 50 symbols);
3. opens the PUSH WebSocket ``{api_url}/websocket`` and receives one JSON board message
   per price change: ``Symbol``, ``CurrentPrice``, ``CurrentPriceTime``, ``TradingVolume``
   (the day's cumulative volume), ``Exchange``.

Tokens are precious: each new one voids the token of every other client of the same
KabuStation. So a token is kept across reconnects and a new one is fetched only when
KabuStation refuses the current one (HTTP 401, or code 4001009 "API key mismatch": after a
KabuStation restart, or another client took a token). A quiet lunch break or evening
keeps the PUSH socket (it answers pings), hence the token too.

Tickwire symbols map to KabuStation codes through ``symbol_map`` (``{"TOYOTA": "7203"}``,
or ``"7203@3"`` for another exchange). With a ``symbol_map`` the source serves exactly the
mapped symbols; without one every instrument's symbol is its code and the exchange is
``exchange`` (1 = Tokyo).
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

__all__ = ["KABU_MAX_SYMBOLS", "KABU_TOKEN_MISMATCH", "KabuAuthError", "KabuStationSource"]

log = logging.getLogger("tickwire.feed")

KABU_MAX_SYMBOLS = 50
#: KabuStation's error code for a token it does not know (APIキー不一致).
KABU_TOKEN_MISMATCH = 4001009
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
        if codes:
            # A map names the station's symbols; other assets (AAPL, BTC-USD...) are not
            # KabuStation codes and would only be refused by register.
            instruments = [i for i in instruments if i.symbol in codes]
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
        self.tokens_fetched = 0
        self.registered = 0
        self._day_volume: dict[str, float] = {}

    async def prepare(self) -> None:
        """Register the symbols with the current token, fetching one first if there is none
        and once more if KabuStation refuses it.

        Raises KabuAuthError (retried with backoff by the connection loop).
        """
        async with httpx.AsyncClient(timeout=self.open_timeout, transport=self._transport) as http:
            fresh = self.token is None
            if fresh:
                await self._fetch_token(http)
            answer = await self._register(http)
            if _token_refused(answer) and not fresh:
                log.info("kabu: KabuStation refused the token; fetching a new one")
                self.token = None
                await self._fetch_token(http)
                answer = await self._register(http)
            body = _json(answer)
            if answer.status_code != 200:
                if _token_refused(answer):
                    self.token = None
                raise KabuAuthError(f"register failed: HTTP {answer.status_code} {_brief(body)}")
            regist = body.get("RegistList") if isinstance(body, dict) else None
            self.registered = len(regist) if isinstance(regist, list) else 0
            log.info("kabu: %d symbols registered", self.registered)

    async def _fetch_token(self, http: httpx.AsyncClient) -> None:
        answer = await http.post(f"{self.api_url}/token", json={"APIPassword": self._password})
        body = _json(answer)
        token = body.get("Token") if isinstance(body, dict) else None
        if answer.status_code != 200 or not isinstance(token, str) or not token:
            raise KabuAuthError(f"token request failed: HTTP {answer.status_code} {_brief(body)}")
        self.token = token
        self.tokens_fetched += 1
        log.info("kabu: token acquired (%d so far)", self.tokens_fetched)

    async def _register(self, http: httpx.AsyncClient) -> httpx.Response:
        assert self.token is not None
        return await http.put(
            f"{self.api_url}/register",
            json={"Symbols": self.registrations},
            headers={"X-API-KEY": self.token},
        )

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
        return {
            **super().status(),
            "api_url": self.api_url,
            "registered": self.registered,
            "tokens_fetched": self.tokens_fetched,
        }


def _token_refused(response: httpx.Response) -> bool:
    """KabuStation does not know the token: HTTP 401, or its token-mismatch code."""
    if response.status_code == 401:
        return True
    body = _json(response)
    return isinstance(body, dict) and body.get("Code") == KABU_TOKEN_MISMATCH


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _brief(body: Any) -> str:
    text = repr(body)
    return text if len(text) < 200 else text[:200] + "..."
