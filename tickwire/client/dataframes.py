"""pandas helpers: windows, updates and recordings as DataFrames.

Needs the optional pandas dependency: ``pip install 'tickwire[pandas]'``. Times become
timezone-aware (UTC) ``datetime64`` columns.
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

__all__ = ["read_recording", "stats_frame", "updates_frame", "window_frame"]


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
