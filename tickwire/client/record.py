"""Recording asset updates to CSV or Parquet, in batches, so a crash loses at most one batch.

Rows are buffered and written every ``batch_size`` rows or ``flush_seconds`` seconds,
whichever comes first. CSV batches are appended, flushed and fsynced, so the file always
holds every complete batch. A Parquet file is only readable once its footer is written at
the end, so :class:`ParquetRecorder` writes each batch as its own small Parquet file in
``<out>.parts/`` (atomically: written aside, then renamed) and on :meth:`close` merges them
into ``<out>``. After a hard crash the batches are still in ``<out>.parts/``, which
``pandas.read_parquet`` and ``pyarrow.dataset`` read as one table.

Parquet needs the optional ``pyarrow`` dependency (``pip install 'tickwire[parquet]'``).
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import time
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from tickwire.stream.messages import AssetUpdate

__all__ = ["COLUMNS", "CsvRecorder", "ParquetRecorder", "Recorder", "open_recorder"]

#: The recorded columns, in order.
COLUMNS: tuple[str, ...] = (
    "received_at",
    "timestamp",
    "seq",
    "symbol",
    "price",
    "change",
    "change_percent",
    "volume",
    "high",
    "low",
    "previous_close",
    "currency",
    "gap_before",
)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds")


class Recorder(ABC):
    """Buffers rows and writes them in batches. Use as a context manager, or call
    :meth:`close`, so the last batch is written.

    ``gap_before`` is True on the first row of a symbol after updates were lost (see
    :meth:`mark_gap`), so an analysis can tell a quiet market from missing data.
    """

    def __init__(self, path: str | os.PathLike[str], batch_size: int, flush_seconds: float):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if not flush_seconds > 0:
            raise ValueError("flush_seconds must be > 0")
        self.path = Path(path)
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        #: Rows written to disk so far.
        self.rows_written = 0
        #: Batches written to disk so far.
        self.batches_written = 0
        self._rows: list[dict[str, Any]] = []
        self._gaps: set[str] = set()
        self._last_flush = time.monotonic()
        self.closed = False

    @property
    def rows_pending(self) -> int:
        """Rows buffered and not yet on disk."""
        return len(self._rows)

    def mark_gap(self, symbol: str) -> None:
        """Flag the next row of ``symbol`` with ``gap_before`` (updates before it are lost)."""
        self._gaps.add(symbol)

    def write(self, update: AssetUpdate, received_at: float | None = None) -> None:
        """Buffer one update; write the batch when it is full or old enough.

        Raises ``ValueError`` after :meth:`close`, ``OSError`` when the disk write fails
        (the rows stay buffered and are retried with the next batch).
        """
        if self.closed:
            raise ValueError("recorder is closed")
        self._rows.append(
            {
                "received_at": time.time() if received_at is None else received_at,
                "timestamp": update.timestamp,
                "seq": update.seq,
                "symbol": update.symbol,
                "price": update.price,
                "change": update.change,
                "change_percent": update.change_percent,
                "volume": update.volume,
                "high": update.high,
                "low": update.low,
                "previous_close": update.previous_close,
                "currency": update.currency,
                "gap_before": update.symbol in self._gaps,
            }
        )
        self._gaps.discard(update.symbol)
        if len(self._rows) >= self.batch_size or self.flush_due():
            self.flush()

    def flush_due(self) -> bool:
        """True when rows are pending for longer than ``flush_seconds``."""
        return bool(self._rows) and time.monotonic() - self._last_flush >= self.flush_seconds

    def flush(self) -> None:
        """Write the buffered rows as one batch (nothing when none are pending)."""
        self._last_flush = time.monotonic()
        if not self._rows:
            return
        rows = self._rows
        self._write_batch(rows)
        self._rows = []
        self.rows_written += len(rows)
        self.batches_written += 1

    def close(self) -> None:
        """Write the last batch and finish the file. Idempotent."""
        if self.closed:
            return
        self.flush()
        self._finish()
        self.closed = True

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def _write_batch(self, rows: list[dict[str, Any]]) -> None: ...

    @abstractmethod
    def _finish(self) -> None: ...


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


class CsvRecorder(Recorder):
    """CSV with a header row; times are ISO-8601 UTC, empty cells are missing values."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        batch_size: int = 500,
        flush_seconds: float = 1.0,
        overwrite: bool = False,
    ) -> None:
        super().__init__(path, batch_size, flush_seconds)
        _claim(self.path, overwrite)
        self._file: TextIO = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._csv = csv.writer(self._file)
        self._csv.writerow(COLUMNS)
        self._sync()

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def _write_batch(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            out = dict(row, received_at=_iso(row["received_at"]))
            self._csv.writerow([_cell(out[c]) for c in COLUMNS])
        self._sync()

    def _finish(self) -> None:
        self._file.close()


class ParquetRecorder(Recorder):
    """Parquet (needs ``pyarrow``); ``received_at`` and ``timestamp`` are UTC timestamps."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        batch_size: int = 1000,
        flush_seconds: float = 1.0,
        overwrite: bool = False,
    ) -> None:
        super().__init__(path, batch_size, flush_seconds)
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError(
                "recording Parquet needs pyarrow: pip install 'tickwire[parquet]' "
                "(or record to a .csv file)"
            ) from None
        self._pa = pa
        self._pq = pq
        self.parts = self.path.with_name(self.path.name + ".parts")
        if self.parts.exists():
            if not overwrite:
                raise FileExistsError(
                    f"{self.parts} exists: batches of an interrupted recording. Read them "
                    f"with pandas.read_parquet('{self.parts}'), or remove the folder (or pass "
                    "overwrite) to record again"
                )
            shutil.rmtree(self.parts)
        _claim(self.path, overwrite)
        self.parts.mkdir(parents=True)
        self.schema = pa.schema(
            [
                ("received_at", pa.timestamp("us", tz="UTC")),
                ("timestamp", pa.timestamp("ms", tz="UTC")),
                ("seq", pa.int64()),
                ("symbol", pa.string()),
                ("price", pa.float64()),
                ("change", pa.float64()),
                ("change_percent", pa.float64()),
                ("volume", pa.float64()),
                ("high", pa.float64()),
                ("low", pa.float64()),
                ("previous_close", pa.float64()),
                ("currency", pa.string()),
                ("gap_before", pa.bool_()),
            ]
        )

    def _write_batch(self, rows: list[dict[str, Any]]) -> None:
        columns: dict[str, list[Any]] = {c: [] for c in COLUMNS}
        for row in rows:
            for c in COLUMNS:
                value = row[c]
                if c == "received_at":
                    value = datetime.fromtimestamp(value, UTC)
                elif c == "timestamp" and value is not None:
                    try:
                        value = datetime.fromisoformat(value)
                    except ValueError:
                        value = None
                columns[c].append(value)
        table = self._pa.table(columns, schema=self.schema)
        final = self.parts / f"part-{self.batches_written:06d}.parquet"
        tmp = final.with_suffix(".tmp")
        self._pq.write_table(table, tmp)
        os.replace(tmp, final)

    def _finish(self) -> None:
        parts = sorted(self.parts.glob("part-*.parquet"))
        tables = [self._pq.read_table(p, schema=self.schema) for p in parts]
        table = self._pa.concat_tables(tables) if tables else self.schema.empty_table()
        tmp = self.path.with_name(self.path.name + ".tmp")
        self._pq.write_table(table, tmp)
        os.replace(tmp, self.path)
        shutil.rmtree(self.parts)


def _claim(path: Path, overwrite: bool) -> None:
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another name or allow overwriting")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"folder {path.parent} does not exist")


def open_recorder(
    path: str | os.PathLike[str],
    *,
    batch_size: int | None = None,
    flush_seconds: float = 1.0,
    overwrite: bool = False,
) -> Recorder:
    """A :class:`CsvRecorder` for ``*.csv``, a :class:`ParquetRecorder` for ``*.parquet``.

    Raises ``ValueError`` for another suffix, ``FileExistsError`` when the file exists and
    ``overwrite`` is false, ``FileNotFoundError`` when its folder does not exist,
    ``ImportError`` for Parquet without pyarrow.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return CsvRecorder(
            p, batch_size=batch_size or 500, flush_seconds=flush_seconds, overwrite=overwrite
        )
    if suffix in (".parquet", ".pq"):
        return ParquetRecorder(
            p, batch_size=batch_size or 1000, flush_seconds=flush_seconds, overwrite=overwrite
        )
    raise ValueError(f"cannot record to {p.name!r}: the file name must end in .csv or .parquet")
