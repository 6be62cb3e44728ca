"""pandas helpers: windows, updates and recordings as DataFrames, and ticks as OHLCV bars.

Needs the optional pandas dependency: ``pip install 'tickwire[pandas]'``. Times become
timezone-aware (UTC) ``datetime64`` columns. Bars from a server or a recording, by symbol
and interval: :mod:`tickwire.client.history`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tickwire.stream.messages import AssetUpdate

from .record import COLUMNS
from .stats import RollingStats, RollingWindow

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BAR_COLUMNS",
    "empty_bars",
    "read_recording",
    "resample_bars",
    "stats_frame",
    "updates_frame",
    "window_frame",
]

#: The columns of a bars frame (indexed by ``start``, the UTC start of each bar).
BAR_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")


def _no_pandas() -> ImportError:
    return ImportError("this needs pandas: pip install 'tickwire[pandas]'")


def window_frame(window: RollingWindow) -> pd.DataFrame:
    """The observations in a window: columns ``at`` (UTC), ``price``, ``volume``."""
    try:
        import pandas as pd
    except ImportError:
        raise _no_pandas() from None
    rows = list(window.rows())
    frame = pd.DataFrame(rows, columns=["at", "price", "volume"])
    frame["at"] = pd.to_datetime(frame["at"], unit="s", utc=True)
    return frame


def updates_frame(updates: Iterable[AssetUpdate]) -> pd.DataFrame:
    """Asset updates as rows: the recording columns, without ``received_at``/``gap_before``."""
    try:
        import pandas as pd
    except ImportError:
        raise _no_pandas() from None
    cols = [c for c in COLUMNS if c not in ("received_at", "gap_before")]
    frame = pd.DataFrame(
        [[getattr(u, c) for c in cols] for u in updates if isinstance(u, AssetUpdate)],
        columns=cols,
    )
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    return frame


def stats_frame(stats: RollingStats) -> pd.DataFrame:
    """One row per symbol with its window's statistics, indexed by symbol."""
    try:
        import pandas as pd
    except ImportError:
        raise _no_pandas() from None
    rows = [
        {
            "symbol": s.symbol,
            "count": s.count,
            "last": s.last,
            "mean": s.mean,
            "std": s.std,
            "min": s.min,
            "max": s.max,
            "vwap": s.vwap,
            "ewma": s.ewma,
            "change": s.change,
            "change_percent": s.change_percent,
        }
        for s in stats.stats().values()
    ]
    return pd.DataFrame(rows).set_index("symbol") if rows else pd.DataFrame(rows)


def read_recording(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a recording made by ``tickwire record`` or a recorder: ``*.csv``,
    ``*.parquet``, or the ``*.parquet.parts`` folder an interrupted recording left.

    Raises ``FileNotFoundError`` and ``ValueError`` for an unknown file type.
    """
    try:
        import pandas as pd
    except ImportError:
        raise _no_pandas() from None
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    if p.suffix.lower() == ".csv":
        frame = pd.read_csv(
            p,
            dtype={"symbol": "string", "currency": "string"},
            true_values=["true"],
            false_values=["false"],
        )
        for col in ("received_at", "timestamp"):
            frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
        frame["seq"] = frame["seq"].astype("Int64")
        frame["gap_before"] = frame["gap_before"].astype(bool)
        return frame
    if p.suffix.lower() in (".parquet", ".pq", ".parts"):
        return pd.read_parquet(p)
    raise ValueError(f"{p.name}: not a recording (expected .csv, .parquet or .parquet.parts)")


def empty_bars() -> pd.DataFrame:
    """A bars frame with no rows: the :data:`BAR_COLUMNS` as floats, an empty UTC index."""
    try:
        import pandas as pd
    except ImportError:
        raise _no_pandas() from None
    index = pd.DatetimeIndex([], tz="UTC", name="start")
    return pd.DataFrame({c: pd.Series([], dtype="float64") for c in BAR_COLUMNS}, index=index)


def resample_bars(ticks: pd.DataFrame, seconds: int) -> pd.DataFrame:
    """Ticks of one symbol (a recording's rows: ``timestamp``, ``price``, ``volume``) as
    OHLCV bars of ``seconds``, indexed by each bar's UTC start.

    The buckets are aligned to the Unix epoch (a day starts at UTC midnight) and only those
    with ticks appear, as the server rolls its bars up. ``volume`` is the day's cumulative
    volume the stream carries, so a bar's volume is its increase over the bar (a decrease is
    a new day: its total counts), the rule :class:`RollingStats` weighs VWAP by. A tick
    without ``timestamp`` counts at ``received_at``.

    Raises ``ValueError`` for ``seconds`` < 1 or a frame missing those columns.
    """
    try:
        import pandas as pd
    except ImportError:
        raise _no_pandas() from None
    if isinstance(seconds, bool) or seconds < 1:
        raise ValueError(f"seconds: {seconds!r} must be a positive whole number")
    missing = [c for c in ("timestamp", "price") if c not in ticks.columns]
    if missing:
        raise ValueError(f"ticks need the columns timestamp and price; missing {missing}")
    if ticks.empty:
        return empty_bars()
    at = pd.to_datetime(ticks["timestamp"], utc=True, format="ISO8601")
    if "received_at" in ticks.columns:
        at = at.fillna(pd.to_datetime(ticks["received_at"], utc=True, format="ISO8601"))
    cumulative = (
        ticks["volume"].astype("float64")
        if "volume" in ticks.columns
        else pd.Series(float("nan"), index=ticks.index)
    )
    rows = pd.DataFrame(
        {"at": at, "price": ticks["price"].astype("float64"), "cumulative": cumulative}
    )
    rows = rows.dropna(subset=["at", "price"]).sort_values("at", kind="stable")
    before = rows["cumulative"].ffill().shift()
    traded = (rows["cumulative"] - before).where(rows["cumulative"] >= before, rows["cumulative"])
    rows["traded"] = traded.where(before.notna(), 0.0).fillna(0.0)
    buckets = rows.set_index("at").resample(
        f"{seconds}s", origin="epoch", label="left", closed="left"
    )
    frame = buckets["price"].ohlc()
    frame["volume"] = buckets["traded"].sum()
    frame = frame[buckets["price"].count() > 0].astype("float64")
    frame.index = pd.DatetimeIndex(frame.index, name="start")
    return frame[list(BAR_COLUMNS)]
