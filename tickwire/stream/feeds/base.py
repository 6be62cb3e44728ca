"""What every data source produces: ticks, in batches."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

__all__ = ["Instrument", "Source", "Tick"]


@dataclass(frozen=True, slots=True)
class Tick:
    """One observed trade or quote. ``volume`` is the size of this trade (may be 0)."""

    symbol: str
    price: float
    volume: float = 0.0
    #: Unix time of the observation (seconds).
    ts: float = 0.0


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


class Source(ABC):
    """A data source. ``name`` selects it in settings and on the command line."""

    name: str = "source"

    @abstractmethod
    def ticks(self) -> AsyncIterator[Sequence[Tick]]:
        """Yield batches of ticks until cancelled. Errors are handled inside the source."""

    def status(self) -> dict[str, object]:
        """State for ``/realtime/status/``: connected, last message, errors."""
        return {"source": self.name}
