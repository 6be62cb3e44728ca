"""Historical OHLCV bars as pandas DataFrames: from a server's REST API, or from a recording.

```python
from tickwire.client import history

frame = history.bars("AAPL", "5m", "2026-11-02", "2026-11-03", url="http://127.0.0.1:8000")
frame["close"].plot()
```

:func:`bars` reads ``GET /api/assets/<symbol>/bars/`` page by page: one request per
``page_size`` bars of the range, so a year of minutes is a few hundred requests of a known
size, never one the server would cut short (it answers at most 5,000 bars a request and
says so with ``truncated``; a page it cut is read again in smaller parts). The server rolls
5m, 15m and 1h up from its 1-minute bars, and 1d from stored daily bars where it has them.

:func:`recorded_bars` builds the same frame from a file ``tickwire record`` wrote (CSV,
Parquet, or the ``.parquet.parts`` folder of an interrupted recording): the ticks of one
symbol resampled into UTC-aligned buckets, by the same rule the server rolls its bars up
with. Only buckets with ticks appear; nothing is filled in.

Both return a frame indexed by ``start`` (timezone-aware UTC ``datetime64``, the start of
each bar, oldest first) with columns ``open``, ``high``, ``low``, ``close`` and ``volume``,
and ``frame.attrs`` holding ``symbol`` and ``interval``.

Prices: the server stores them as exact decimals and sends them as strings. By default the
columns are ``float64``, which holds 15 significant digits: every price the server stores
(at most 8 decimals) below 10 million comes back as the nearest float, and arithmetic on it
is float arithmetic, as everywhere in pandas. ``decimal=True`` gives ``object`` columns of
:class:`decimal.Decimal`, digit for digit what the server stored, for accounting where the
last digit matters. Recordings hold the floats the stream carried, so they are floats.

Needs the optional pandas dependency: ``pip install 'tickwire[pandas]'``. It does not
retry: a request that fails raises at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

import httpx

from tickwire.stream.protocol import ProtocolError, normalize_symbol

from .dataframes import BAR_COLUMNS, empty_bars, read_recording, resample_bars
from .events import AuthenticationError, ConnectionFailed
from .rest import APIError, http_base

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_SPAN", "INTERVALS", "MAX_PAGE", "Moment", "bars", "recorded_bars"]

#: The bar lengths the server serves, in seconds (its ``interval`` parameter).
INTERVALS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
#: The range read when ``start`` is not given: the server's default span per interval.
DEFAULT_SPAN: dict[str, timedelta] = {
    "1m": timedelta(days=1),
    "5m": timedelta(days=5),
    "15m": timedelta(days=14),
    "1h": timedelta(days=30),
    "1d": timedelta(days=365),
}
#: Most bars the server answers in one request.
MAX_PAGE = 5000

#: A point in time: an aware ``datetime`` (or ``pandas.Timestamp``), ISO-8601 text (UTC when
#: it names no zone; a date alone is its midnight), or Unix seconds.
Moment: TypeAlias = "datetime | str | int | float"

_TINY = timedelta(microseconds=1)


def _moment(value: Moment, name: str) -> datetime:
    """``value`` as an aware UTC datetime; ``ValueError`` naming ``name`` when it is none."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"{name}: {value!r} has no timezone; pass an aware datetime "
                "(datetime(..., tzinfo=UTC)) or ISO-8601 text"
            )
        moment = value.astimezone(UTC)
        # A pandas Timestamp may carry nanoseconds, which no ISO parser on the server reads.
        to_datetime = getattr(moment, "to_pydatetime", None)
        return to_datetime(warn=False) if to_datetime is not None else moment
    if isinstance(value, bool):
        raise ValueError(f"{name}: {value!r} is not a time")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{name}: {value!r} is out of range as Unix seconds") from None
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"{name}: {value!r} is not an ISO-8601 date or time (e.g. 2026-11-02 or "
                "2026-11-02T14:30:00+00:00)"
            ) from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise ValueError(f"{name}: {type(value).__name__} is not a time")


def _symbol(symbol: str) -> str:
    try:
        return normalize_symbol(symbol)
    except ProtocolError as exc:
        raise ValueError(exc.message.replace("'symbol' ", "symbol: ")) from None


def _interval(interval: str) -> int:
    seconds = INTERVALS.get(interval)
    if seconds is None:
        allowed = ", ".join(INTERVALS)
        raise ValueError(f"interval: {interval!r} is not one of {allowed}")
    return seconds


def _range(interval: str, start: Moment | None, end: Moment | None) -> tuple[datetime, datetime]:
    last = datetime.now(UTC) if end is None else _moment(end, "end")
    first = last - DEFAULT_SPAN[interval] if start is None else _moment(start, "start")
    if first > last:
        raise ValueError(f"start: {first.isoformat()} is after end {last.isoformat()}")
    return first, last


def _refusal(response: httpx.Response, symbol: str) -> APIError:
    method, path = response.request.method, response.request.url.path
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 404:
        detail = body.get("detail") if isinstance(body, dict) else None
        if detail:
            return APIError(404, {"symbol": [str(detail)]}, method, path)
        return APIError(
            404, {"detail": [f"not found: {path} (is this a Tickwire server?)"]}, method, path
        )
    if response.status_code < 500 and isinstance(body, dict) and body:
        errors = {
            str(field): [str(m) for m in (messages if isinstance(messages, list) else [messages])]
            for field, messages in body.items()
        }
        return APIError(response.status_code, errors, method, path)
    text = f"server error: HTTP {response.status_code} {response.reason_phrase}"
    if retry := response.headers.get("Retry-After"):
        text += f" (retry after {retry} s)"
    return APIError(
        response.status_code, {"detail": [f"{text} reading {symbol}'s bars"]}, method, path
    )


class _Pages:
    """The HTTP side of :func:`bars`: one request per page, errors as the client's."""

    def __init__(self, http: httpx.Client, base_url: str, symbol: str, interval: str) -> None:
        self.http = http
        self.base_url = base_url
        self.symbol = symbol
        self.interval = interval
        self.path = f"/api/assets/{quote(symbol, safe='')}/bars/"

    def get(self, start: datetime, end: datetime) -> Any:
        params = {"interval": self.interval, "start": start.isoformat(), "end": end.isoformat()}
        try:
            response = self.http.get(self.path, params=params)
        except httpx.TransportError as exc:
            raise ConnectionFailed(
                f"cannot reach {self.base_url}: {exc or type(exc).__name__}"
            ) from None
        if response.status_code in (401, 403):
            detail = _refusal(response, self.symbol).line()
            raise AuthenticationError(f"{detail} (send a token: token= or TICKWIRE_TOKEN)")
        if response.status_code >= 400:
            raise _refusal(response, self.symbol)
        try:
            page: Any = response.json()
        except ValueError:
            page = None
        if not isinstance(page, dict) or not isinstance(page.get("bars"), list):
            raise ConnectionFailed(
                f"{self.base_url}{self.path} did not answer bars: is it a Tickwire server?"
            )
        return page

    def walk(self, start: datetime, end: datetime) -> Iterator[list[dict[str, Any]]]:
        """The bars of ``[start, end]``, a page at a time, newest page first. A page the
        server cut short (it kept the latest bars) is followed by the part before it."""
        while True:
            page = self.get(start, end)
            rows: list[dict[str, Any]] = page["bars"]
            yield rows
            if not page.get("truncated") or not rows:
                return
            end = _moment(rows[0]["start"], "bar start") - _TINY
            if end < start:
                return


def bars(
    symbol: str,
    interval: str = "1m",
    start: Moment | None = None,
    end: Moment | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    decimal: bool = False,
    page_size: int = MAX_PAGE,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> pd.DataFrame:
    """OHLCV bars of ``symbol`` at ``interval`` (1m, 5m, 15m, 1h or 1d) whose start lies in
    ``[start, end]``, from a Tickwire server's REST API, as a DataFrame (see the module).

    ``start``/``end``: aware datetimes, ISO-8601 text (UTC when no zone is named) or Unix
    seconds; ``end`` defaults to now and ``start`` to :data:`DEFAULT_SPAN` before it.
    ``url``: the server (``http://host:8000``) or its WebSocket URL; default
    ``TICKWIRE_URL``, else ``http://127.0.0.1:8000``. ``token``: an API token (default
    ``TICKWIRE_TOKEN``; the bars are public on a default server). ``decimal``: exact
    :class:`~decimal.Decimal` columns instead of floats. ``page_size``: bars per request,
    at most :data:`MAX_PAGE`. ``transport``: for tests (``httpx.MockTransport``).

    Raises:
        ValueError: a bad ``interval``, ``start``, ``end`` (or start after end),
            ``page_size`` or ``url``, named in the message; nothing is requested.
        APIError: the server refused: ``errors["symbol"]`` for an unknown symbol (404), the
            parameter it names for a 400, ``errors["detail"]`` for a server error (5xx).
        AuthenticationError: the server wants a token and got none or a bad one.
        ConnectionFailed: the server cannot be reached or did not answer bars.
        ImportError: pandas is not installed.
    """
    seconds = _interval(interval)
    first, last = _range(interval, start, end)
    if isinstance(page_size, bool) or not 1 <= page_size <= MAX_PAGE:
        raise ValueError(f"page_size: {page_size!r} must be 1 to {MAX_PAGE} bars")
    name = _symbol(symbol)
    base = http_base(url or os.environ.get("TICKWIRE_URL") or "http://127.0.0.1:8000")
    token = token if token is not None else os.environ.get("TICKWIRE_TOKEN") or None
    headers = {"Accept": "application/json", "User-Agent": "tickwire-client"}
    if token:
        headers["Authorization"] = f"Token {token}"
    span = timedelta(seconds=seconds * page_size)
    rows: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=base, headers=headers, timeout=timeout, transport=transport) as http:
        pages = _Pages(http, base, name, interval)
        # Windows of page_size buckets, aligned to the interval so no bar straddles two.
        lo = first
        while lo <= last:
            aligned = datetime.fromtimestamp(lo.timestamp() // seconds * seconds, UTC)
            hi = min(aligned + span - _TINY, last)
            for page in pages.walk(lo, hi):
                for row in page:
                    rows[row["start"]] = row
            lo = hi + _TINY
    return _frame(list(rows.values()), name, interval, decimal)


def _frame(rows: list[dict[str, Any]], symbol: str, interval: str, decimal: bool) -> pd.DataFrame:
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("this needs pandas: pip install 'tickwire[pandas]'") from None
    if not rows:
        frame = empty_bars()
    else:
        index = pd.DatetimeIndex(
            pd.to_datetime([r["start"] for r in rows], utc=True, format="ISO8601"), name="start"
        )
        convert = Decimal if decimal else float
        frame = pd.DataFrame(
            {c: [convert(r[c]) for r in rows] for c in BAR_COLUMNS},
            index=index,
            dtype=object if decimal else "float64",
        ).sort_index()
    frame.attrs.update(symbol=symbol, interval=interval)
    return frame


def recorded_bars(
    path: str | os.PathLike[str],
    symbol: str,
    interval: str = "1m",
    start: Moment | None = None,
    end: Moment | None = None,
) -> pd.DataFrame:
    """Bars of ``symbol`` at ``interval`` built from a recording (``tickwire record`` or a
    recorder: ``*.csv``, ``*.parquet``, ``*.parquet.parts``), the same frame as :func:`bars`.

    Each tick counts at its own ``timestamp`` (the server's time of the price). ``volume``
    is what traded within the bar: the increase of the day's cumulative volume between
    ticks (a decrease is a new day, whose total counts). ``start``/``end`` keep bars whose
    start lies in ``[start, end]``; by default, every bar of the recording.

    Raises:
        ValueError: a bad ``interval``/``start``/``end``, or ``symbol`` not in the
            recording (the message lists the symbols it holds).
        FileNotFoundError: no such recording. ImportError: pandas is not installed.
    """
    seconds = _interval(interval)
    first = None if start is None else _moment(start, "start")
    last = None if end is None else _moment(end, "end")
    if first is not None and last is not None and first > last:
        raise ValueError(f"start: {first.isoformat()} is after end {last.isoformat()}")
    ticks = read_recording(path)
    name = _symbol(symbol)
    mine = ticks[ticks["symbol"] == name]
    if mine.empty and len(ticks):
        held = ", ".join(sorted(str(s) for s in ticks["symbol"].dropna().unique()))
        raise ValueError(f"symbol: {symbol!r} is not in {os.fspath(path)} (it holds {held})")
    frame = resample_bars(mine, seconds)
    if first is not None:
        frame = frame[frame.index >= first]
    if last is not None:
        frame = frame[frame.index <= last]
    frame.attrs.update(symbol=name, interval=interval)
    return frame
