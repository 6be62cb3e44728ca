"""What every data source produces: ticks, in batches; and what it can be asked for."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

__all__ = [
    "Bar",
    "HistoryUnavailable",
    "Instrument",
    "MalformedMessage",
    "Source",
    "SourceConfigError",
    "Tick",
]


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made
# building a Tick 4x slower (0.9 vs 0.2 µs), and every source builds one per trade. Hashed
# and compared by value as before; nothing changes a Tick once built.
@dataclass(slots=True, unsafe_hash=True)
class Tick:
    """One observed trade or quote. ``volume`` is the size of this trade (may be 0).
    Treat it as immutable: it is hashed by value."""

    symbol: str
    price: float
    volume: float = 0.0
    #: Unix time of the observation (seconds).
    ts: float = 0.0
    #: The day's cumulative volume when the provider reports it (quote endpoints do);
    #: the feed then takes it as the quote's volume instead of adding ``volume``.
    day_volume: float | None = None


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV candle: ``interval`` seconds starting at Unix time ``start``."""

    symbol: str
    interval: int
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    #: How many ticks went into it (0 for bars that came from a provider's history).
    ticks: int = 0


@dataclass(frozen=True, slots=True)
class Instrument:
    """What the feed knows of an asset when it starts: its last state from the database."""

    symbol: str
    price: float
    previous_close: float | None = None
    kind: str = "stock"
    currency: str = "USD"
    day_high: float | None = None
    day_low: float | None = None
    volume: float = 0.0
    #: Decimal places prices are rounded to (the instrument's tick size).
    decimals: int = 2
    #: Where it trades (``Asset.exchange``); feed routes may select by it.
    exchange: str = ""


class SourceConfigError(ValueError):
    """A source's settings are missing or wrong. The message names the option."""


class MalformedMessage(ValueError):
    """A provider payload that cannot be turned into ticks (counted, logged, skipped)."""


class HistoryUnavailable(Exception):
    """The source cannot provide historical bars."""


class Source(ABC):
    """A data source. ``name`` selects it in settings and on the command line."""

    name: str = "source"

    @abstractmethod
    def ticks(self) -> AsyncIterator[Sequence[Tick]]:
        """Yield batches of ticks until cancelled. Errors are handled inside the source."""

    async def refresh(self, symbols: Sequence[str]) -> list[Tick]:
        """Fetch fresh observations of ``symbols`` now (a forced update).

        Sources that can ask for a quote on demand (HTTP polling, the simulator) return new
        ticks; streaming sources return ``[]`` and the feed republishes its latest quote.
        """
        return []

    async def fetch(self, symbols: Sequence[str], timeout: float = 15.0) -> dict[str, Tick]:
        """One observation per symbol, for one-shot updates; returns those it got in time.

        The default runs :meth:`ticks` until every symbol was seen or ``timeout`` passed.
        """
        wanted = set(symbols)
        got: dict[str, Tick] = {}
        gen = self.ticks()

        async def collect() -> None:
            async for batch in gen:
                for tick in batch:
                    if tick.symbol in wanted:
                        got[tick.symbol] = tick
                if wanted <= got.keys():
                    return

        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(collect(), timeout)
        finally:
            await gen.aclose()  # type: ignore[attr-defined]
        return got

    async def history(self, symbols: Sequence[str], days: int) -> list[Bar]:
        """Daily bars of the last ``days`` days. Raises HistoryUnavailable if unsupported."""
        raise HistoryUnavailable(f"the {self.name} source provides no history")

    def history_pages(
        self, symbol: str, interval: int, start: int, end: int
    ) -> AsyncIterator[list[Bar]]:
        """Bars of ``symbol`` of ``interval`` seconds (60 or 86400) whose start lies in
        ``[start, end)`` (Unix seconds, multiples of ``interval``), oldest first, one
        provider page per item. Every bar of a page starts after every bar of the pages
        before it, so a caller can write pages as they come and resume after the last.

        Raises HistoryUnavailable (when iterated) if the source has no history API.
        """
        return _no_history(self.name)

    def adopt(self, ticks: Sequence[Tick]) -> None:
        """The feed published ``ticks`` that did not come from this source (one-off quotes
        sent through the running feed). A source that makes prices up (the simulator)
        continues from them; a provider's next real tick supersedes them anyway."""
        return None

    def status(self) -> dict[str, object]:
        """State for ``/realtime/status/``: connected, last message, errors."""
        return {"source": self.name}


async def _no_history(name: str) -> AsyncIterator[list[Bar]]:
    raise HistoryUnavailable(f"the {name} source provides no history")
    yield []  # pragma: no cover - makes this an async generator
