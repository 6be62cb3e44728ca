"""``update_asset_prices --historical``: backfill bars from the source's history, page by page.

For each symbol the range of ``days`` days up to now is split into what the source's
history has not covered yet (:func:`~tickwire.assets.bars.coverage_gaps`), and each gap is
fetched with ``Source.history_pages``. Every page is written as it arrives, with the range
it completes, in one transaction (:func:`~tickwire.assets.bars.save_history_page`): an
interrupted run keeps what it wrote, and a rerun asks only for the rest. The interval still
open (today's daily bar, the current minute) is written but not recorded as covered, so
the next run fetches it again, complete. Running twice writes the same rows and values.

One symbol's failure (an HTTP error, a malformed answer) is reported and the others go
on; the command then exits non-zero naming the failed symbols. A source with no history
API keeps the old way: its own ``history()`` if it has one (daily bars), else daily bars
rolled up from the stored 1-minute bars — and says so.

On a terminal, progress is a rich bar per symbol and one for the whole run; elsewhere
(a pipe, a log, a test) it is one line per symbol and a total.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TextIO

from django.core.management.base import CommandError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn

from tickwire.assets.bars import coverage_gaps, rollup_daily, save_bars, save_history_page
from tickwire.stream.feeds import Bar, HistoryUnavailable, Source
from tickwire.stream.feeds.history import HistoryError
from tickwire.stream.feeds.replay import ReplaySource

__all__ = [
    "INTERVALS",
    "BackfillProgress",
    "PlainProgress",
    "SymbolResult",
    "TerminalProgress",
    "backfill",
    "run_history",
    "summary",
]

#: ``--interval`` choices and their length in seconds.
INTERVALS = {"1m": 60, "1d": 86400}
_NAMES = {60: "1-minute", 86400: "daily"}


@dataclass
class SymbolResult:
    """What a backfill did for one symbol."""

    symbol: str
    total: int  # seconds in the range asked for
    already: int  # seconds of it covered by earlier runs (not fetched again)
    bars: int = 0
    pages: int = 0
    first: int | None = None
    last: int | None = None
    last_close: float | None = None
    error: str | None = None


class BackfillProgress(Protocol):
    """How a backfill reports: a symbol begins, advances (seconds of its range done), ends."""

    def begin(self, result: SymbolResult) -> None: ...
    def advance(self, result: SymbolResult, done: int) -> None: ...
    def end(self, result: SymbolResult, interval: int) -> None: ...
    def close(self) -> None: ...


class PlainProgress:
    """One line per symbol when it is done (for pipes, logs and tests)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def begin(self, result: SymbolResult) -> None:
        pass

    def advance(self, result: SymbolResult, done: int) -> None:
        pass

    def end(self, result: SymbolResult, interval: int) -> None:
        self.out.write(summary(result, interval) + "\n")
        self.out.flush()

    def close(self) -> None:
        pass


class TerminalProgress:
    """A rich progress bar per symbol and one for the whole run."""

    def __init__(self, console: Console, symbols: int, total: int, interval: int) -> None:
        self.interval = interval
        self.progress = Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[bars]:>7} bars {task.fields[note]}"),
            console=console,
        )
        self.overall = self.progress.add_task(
            f"{symbols} symbols", total=max(1, total * symbols), bars=0, note=""
        )
        self.tasks: dict[str, TaskID] = {}
        self.done: dict[str, int] = {}
        self.progress.start()

    def begin(self, result: SymbolResult) -> None:
        already = result.already // self.interval
        self.tasks[result.symbol] = self.progress.add_task(
            result.symbol,
            total=max(1, result.total),
            bars=0,
            note=f"({already} already fetched)" if already else "",
        )
        self.advance(result, result.already)

    def advance(self, result: SymbolResult, done: int) -> None:
        before = self.done.get(result.symbol, 0)
        self.done[result.symbol] = done
        self.progress.update(self.tasks[result.symbol], completed=done, bars=result.bars)
        total_bars = sum(int(t.fields["bars"]) for t in self.progress.tasks[1:])
        self.progress.update(self.overall, advance=done - before, bars=total_bars)

    def end(self, result: SymbolResult, interval: int) -> None:
        if result.error is None:
            self.advance(result, result.total)
        else:
            self.progress.update(self.tasks[result.symbol], note=f"failed: {result.error}")

    def close(self) -> None:
        self.progress.stop()


def _day(ts: int, interval: int) -> str:
    fmt = "%Y-%m-%d" if interval >= 86400 else "%Y-%m-%d %H:%M"
    return datetime.fromtimestamp(ts, UTC).strftime(fmt)


def summary(result: SymbolResult, interval: int) -> str:
    """The one line a symbol's backfill is reported with."""
    name = _NAMES[interval]
    already = result.already // interval
    kept = f", {already} already fetched" if already else ""
    if result.error is not None:
        return (
            f"{result.symbol:<10} failed after {result.pages} pages "
            f"({result.bars} {name} bars kept): {result.error}"
        )
    if result.first is None or result.last is None:
        return f"{result.symbol:<10} {0:>5} {name} bars{kept}"
    return (
        f"{result.symbol:<10} {result.bars:>5} {name} bars {_day(result.first, interval)} .. "
        f"{_day(result.last, interval)}, last close {result.last_close:g}, "
        f"{result.pages} pages{kept}"
    )


async def _next(pages: AsyncIterator[list[Bar]]) -> list[Bar] | None:
    try:
        return await anext(pages)
    except StopAsyncIteration:
        return None


def _fetch_gap(
    loop: asyncio.AbstractEventLoop,
    source: Source,
    result: SymbolResult,
    interval: int,
    gap: tuple[int, int],
    completed: int,
    dry_run: bool,
    progress: BackfillProgress,
    done_before: int,
) -> None:
    lo, hi = gap
    pages = source.history_pages(result.symbol, interval, lo, hi)
    last = lo - interval
    try:
        while (page := loop.run_until_complete(_next(pages))) is not None:
            if not page:
                continue
            bad = [b for b in page if not (lo <= b.start < hi and b.start > last)]
            if bad or any(b.symbol != result.symbol or b.interval != interval for b in page):
                raise HistoryError(
                    f"{source.name} sent bars out of order or out of range (at {bad[:1]})"
                )
            last = page[-1].start
            if not dry_run:
                save_history_page(
                    page,
                    symbol=result.symbol,
                    interval=interval,
                    source=source.name,
                    covered=(lo, min(last + interval, completed)),
                )
            result.pages += 1
            result.bars += len(page)
            result.first = page[0].start if result.first is None else result.first
            result.last = last
            result.last_close = page[-1].close
            progress.advance(result, done_before + last + interval - lo)
        if not dry_run:
            save_history_page(
                [],
                symbol=result.symbol,
                interval=interval,
                source=source.name,
                covered=(lo, min(hi, completed)),
            )
    finally:
        loop.run_until_complete(pages.aclose())  # type: ignore[attr-defined]


def backfill(
    source: Source,
    symbols: list[str],
    interval: int,
    days: int,
    *,
    dry_run: bool = False,
    now: float | None = None,
    progress: BackfillProgress | None = None,
) -> list[SymbolResult] | None:
    """Fetch and write ``days`` days of ``interval``-second bars per symbol (module
    docstring). Returns one result per symbol, or None when the source has no history."""
    if now is None:
        now = source.history_until() if isinstance(source, ReplaySource) else time.time()
    completed = int(now // interval) * interval
    end = completed + interval
    start = end - days * 86400
    progress = progress or _Silent()
    results: list[SymbolResult] = []
    loop = asyncio.new_event_loop()
    try:
        for symbol in symbols:
            gaps = coverage_gaps(symbol, interval, source.name, start, end)
            missing = sum(hi - lo for lo, hi in gaps)
            result = SymbolResult(symbol, end - start, end - start - missing)
            progress.begin(result)
            done = result.already
            try:
                for gap in gaps:
                    _fetch_gap(
                        loop, source, result, interval, gap, completed, dry_run, progress, done
                    )
                    done += gap[1] - gap[0]
            except HistoryUnavailable as exc:
                if not results and result.pages == 0:
                    progress.close()
                    return None  # the source has no history at all
                result.error = str(exc)
            except (HistoryError, ValueError) as exc:
                result.error = str(exc)
            results.append(result)
            progress.end(result, interval)
    finally:
        loop.close()
    progress.close()
    return results


class _Silent:
    def begin(self, result: SymbolResult) -> None:
        pass

    def advance(self, result: SymbolResult, done: int) -> None:
        pass

    def end(self, result: SymbolResult, interval: int) -> None:
        pass

    def close(self) -> None:
        pass


def run_history(
    out: TextIO, source: Source, symbols: list[str], days: int, interval: int, dry_run: bool
) -> None:
    """The ``--historical`` part of the command: backfill, report, and raise CommandError
    naming the symbols that failed (their bars so far, and everyone else's, are kept)."""
    console = Console(file=out)
    progress: BackfillProgress
    if console.is_terminal:
        progress = TerminalProgress(console, len(symbols), days * 86400, interval)
    else:
        progress = PlainProgress(out)
    results = backfill(source, symbols, interval, days, dry_run=dry_run, progress=progress)
    if results is None:
        _fallback(out, source, symbols, days, interval, dry_run)
        return
    name = _NAMES[interval]
    verb = "would write" if dry_run else "wrote"
    bars = sum(r.bars for r in results)
    assets = sum(1 for r in results if r.bars)
    out.write(f"{verb} {bars} {name} bars for {assets} assets from {source.name}\n")
    failed = [r.symbol for r in results if r.error is not None]
    if failed:
        raise CommandError(f"history from {source.name} failed for: {', '.join(failed)}")


def _fallback(
    out: TextIO, source: Source, symbols: list[str], days: int, interval: int, dry_run: bool
) -> None:
    if interval != 86400:
        raise CommandError(
            f"the {source.name} source provides no history; 1-minute bars come only from "
            "the running feed (use --interval 1d to roll them up into daily bars)"
        )
    try:
        bars = asyncio.run(source.history(symbols, days))
        origin = source.name
    except HistoryUnavailable as exc:
        bars = rollup_daily(symbols, days)
        origin = "stored 1-minute bars"
        out.write(f"{exc}; rolling up {origin}\n")
    per_symbol: dict[str, list[Bar]] = {}
    for bar in bars:
        per_symbol.setdefault(bar.symbol, []).append(bar)
    for sym in symbols:
        got = sorted(per_symbol.get(sym, []), key=lambda b: b.start)
        if got:
            first, last = _day(got[0].start, 86400), _day(got[-1].start, 86400)
            out.write(
                f"{sym:<10} {len(got):>4} daily bars {first} .. {last}, "
                f"last close {got[-1].close:g}\n"
            )
        else:
            out.write(f"{sym:<10}    0 daily bars\n")
    if not dry_run:
        save_bars(bars, merge=False)
    verb = "would write" if dry_run else "wrote"
    out.write(f"{verb} {len(bars)} daily bars for {len(per_symbol)} assets from {origin}\n")
    empty = [s for s in symbols if s not in per_symbol]
    if empty:
        raise CommandError(f"no history from {origin} for: {', '.join(empty)}")
