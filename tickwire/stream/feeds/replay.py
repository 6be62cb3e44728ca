"""Replaying a recorded file of ticks (CSV, or Parquet with the ``parquet`` extra).

Columns: ``symbol``, ``price``, optional ``volume``, and the time as ``ts``, ``time`` or
``timestamp`` (Unix seconds/milliseconds or ISO-8601). Rows must be in time order; the
gaps between them are kept, divided by ``speed`` (``speed=10`` plays ten times faster;
``speed=0`` plays as fast as the feed takes it). Ticks are stamped with the wall-clock
time they are played at (so a sped-up demo builds live-looking bars), unless
``original_time`` keeps the file's times. With ``loop`` the file starts over at its
end; otherwise the source ends and the feed stops (a finished demo). Bad rows are counted,
logged with their line number and skipped. History (``history_pages``) is the file's ticks
rolled up into bars by their own times; :meth:`ReplaySource.history_until` says when the
file ends, which is "now" for a backfill from it.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .bars import BarAggregator
from .base import Bar, Instrument, MalformedMessage, Source, SourceConfigError, Tick
from .common import SourceStats, to_price, to_unix, to_volume

__all__ = ["HISTORY_PAGE", "ReplaySource", "check_columns", "read_ticks"]

log = logging.getLogger("tickwire.feed")

_TIME_COLUMNS = ("ts", "time", "timestamp")

#: Bars per page of :meth:`ReplaySource.history_pages`.
HISTORY_PAGE = 1000


def _columns(path: Path) -> set[str]:
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise SourceConfigError(
                "replaying Parquet needs pyarrow: pip install 'tickwire[parquet]'"
            ) from None
        try:
            return set(pq.read_schema(path).names)
        except Exception as exc:  # pyarrow raises its own error types
            raise SourceConfigError(f"{path.name} is not a Parquet file: {exc}") from None
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return set(csv.DictReader(fh).fieldnames or ())
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SourceConfigError(f"{path.name} cannot be read as CSV: {exc}") from None


def check_columns(path: Path) -> None:
    """Raise SourceConfigError unless ``path`` has symbol, price and a time column."""
    columns = _columns(path)
    missing = sorted({"symbol", "price"} - columns)
    if not columns & set(_TIME_COLUMNS):
        missing.append("ts|time|timestamp")
    if missing:
        raise SourceConfigError(f"{path.name}: missing columns {missing}")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise SourceConfigError(
                "replaying Parquet needs pyarrow: pip install 'tickwire[parquet]'"
            ) from None
        line = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
            for row in batch.to_pylist():
                line += 1
                yield line, row
        return
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        try:
            missing = {"symbol", "price"} - set(reader.fieldnames or ())
            if missing:
                raise SourceConfigError(f"{path.name}: missing columns {sorted(missing)}")
            for row in reader:
                yield reader.line_num, row
        except (UnicodeDecodeError, csv.Error) as exc:
            # A file is text or it is not: the rows after an undecodable byte cannot be
            # trusted, so the file is refused rather than silently cut short.
            raise SourceConfigError(
                f"{path.name} cannot be read as CSV after line {reader.line_num}: {exc}"
            ) from None


def read_ticks(path: Path, stats: SourceStats | None = None) -> Iterator[Tick]:
    """Ticks from a CSV or Parquet file in file order; bad rows counted and skipped.

    Raises SourceConfigError when the file cannot be read or lacks the columns.
    """
    stats = stats or SourceStats()
    for line, row in _rows(path):
        try:
            symbol = str(row.get("symbol") or "").strip().upper()
            if not symbol:
                raise MalformedMessage("empty symbol")
            price = to_price(row.get("price"))
            volume = to_volume(row.get("volume") or None)
            raw_time = next((row[c] for c in _TIME_COLUMNS if row.get(c) not in (None, "")), None)
            if raw_time is None:
                raise MalformedMessage("no ts/time/timestamp")
            ts = raw_time.timestamp() if hasattr(raw_time, "timestamp") else to_unix(raw_time)
        except MalformedMessage as exc:
            stats.bad_payload("replay", f"{path.name} line {line}: {exc}", row)
            continue
        yield Tick(symbol, price, volume, ts)


class ReplaySource(Source):
    name = "replay"

    def __init__(
        self,
        instruments: Sequence[Instrument],
        *,
        file: str | Path | None = None,
        speed: float = 1.0,
        loop: bool = False,
        original_time: bool = False,
        batch_size: int = 50,
        max_gap: float = 60.0,
    ) -> None:
        if not file:
            raise SourceConfigError("the replay source needs a file (CSV or Parquet)")
        self.path = Path(file)
        if not self.path.is_file():
            raise SourceConfigError(f"replay file {str(self.path)!r} does not exist")
        check_columns(self.path)
        if speed < 0:
            raise SourceConfigError("speed must be 0 (as fast as possible) or positive")
        if batch_size < 1:
            raise SourceConfigError("batch_size must be at least 1")
        self.speed = speed
        self.loop = loop
        self.original_time = original_time
        self.batch_size = batch_size
        # A recording that spans a night would otherwise sit silent for hours.
        self.max_gap = max_gap
        self.symbols = {i.symbol for i in instruments}
        self.stats = SourceStats()
        self.played = 0
        self.rounds = 0
        self.finished = False
        self.latest: dict[str, Tick] = {}

    def _wanted(self, tick: Tick) -> bool:
        return not self.symbols or tick.symbol in self.symbols

    async def ticks(self) -> AsyncIterator[list[Tick]]:
        clock = asyncio.get_running_loop().time
        while True:
            self.rounds += 1
            self.stats.connected = True
            first_file_ts: float | None = None
            start_clock = clock()
            batch: list[Tick] = []
            prev_ts: float | None = None
            compressed = 0.0
            for tick in read_ticks(self.path, self.stats):
                if not self._wanted(tick):
                    continue
                if first_file_ts is None:
                    first_file_ts = tick.ts
                    start_wall = time.time()
                if prev_ts is not None and tick.ts < prev_ts:
                    self.stats.bad_payload("replay", "row out of time order", tick)
                    continue
                if prev_ts is not None and tick.ts - prev_ts > self.max_gap:
                    compressed += tick.ts - prev_ts - self.max_gap
                prev_ts = tick.ts
                due = (tick.ts - first_file_ts - compressed) / self.speed if self.speed else 0.0
                wait = start_clock + due - clock()
                if batch and (wait > 0 or len(batch) >= self.batch_size):
                    yield batch
                    batch = []
                    wait = start_clock + due - clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                elif self.speed == 0 and not batch:
                    await asyncio.sleep(0)
                if self.original_time:
                    stamp = tick.ts
                else:
                    stamp = start_wall + due if self.speed else time.time()
                out = Tick(tick.symbol, tick.price, tick.volume, stamp)
                batch.append(out)
                self.latest[out.symbol] = out
                self.played += 1
                self.stats.ticks += 1
                self.stats.messages += 1
                self.stats.last_message_at = time.time()
            if batch:
                yield batch
            if not self.loop or first_file_ts is None:
                break
        self.finished = True
        self.stats.connected = False
        log.info("replay of %s finished: %d ticks", self.path.name, self.played)

    async def refresh(self, symbols: Sequence[str]) -> list[Tick]:
        return []

    async def fetch(self, symbols: Sequence[str], timeout: float = 15.0) -> dict[str, Tick]:
        """The last tick of each symbol in the file, played now: stamped with the current
        time like every tick this source plays, unless ``original_time``."""
        wanted = set(symbols)
        last: dict[str, Tick] = {}
        for tick in read_ticks(self.path, self.stats):
            if tick.symbol in wanted:
                last[tick.symbol] = tick
        if not self.original_time:
            now = time.time()
            last = {s: replace(t, ts=now) for s, t in last.items()}
        return last

    def history_until(self) -> float:
        """The time of the file's last tick (0 for an empty file): "now" for its history."""
        last = 0.0
        for tick in read_ticks(self.path, SourceStats()):
            last = max(last, tick.ts)
        return last

    async def history_pages(
        self, symbol: str, interval: int, start: int, end: int
    ) -> AsyncIterator[list[Bar]]:
        """Bars of ``symbol`` rolled up from the file's ticks (by the file's own times)
        whose start lies in ``[start, end)``, in pages of up to :data:`HISTORY_PAGE` bars.

        Raises SourceConfigError when the file cannot be read.
        """
        agg = BarAggregator(interval)
        bars: list[Bar] = []
        for tick in read_ticks(self.path, SourceStats()):
            if tick.symbol == symbol and start <= agg.period(tick.ts) < end:
                closed = agg.add(tick)
                if closed is not None:
                    bars.append(closed)
        bars.extend(agg.drain())
        bars.sort(key=lambda b: b.start)
        for at in range(0, len(bars), HISTORY_PAGE):
            yield bars[at : at + HISTORY_PAGE]

    async def history(self, symbols: Sequence[str], days: int) -> list[Bar]:
        """Daily bars of the file's last ``days`` days (by the file's own times)."""
        last_day = int(self.history_until() // 86400) * 86400
        first_day = last_day - (days - 1) * 86400
        bars: list[Bar] = []
        for symbol in sorted(set(symbols)):
            async for page in self.history_pages(symbol, 86400, first_day, last_day + 86400):
                bars.extend(page)
        return bars

    def status(self) -> dict[str, object]:
        return {
            "source": self.name,
            "file": self.path.name,
            "speed": self.speed,
            "loop": self.loop,
            "played": self.played,
            "rounds": self.rounds,
            "finished": self.finished,
            **self.stats.as_dict(),
        }
