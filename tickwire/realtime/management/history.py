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
import contextlib
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
    "Backfill",
    "BackfillProgress",
    "PlainProgress",
    "SymbolResult",
    "TerminalProgress",
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
            self.progress.update(self.tasks[result.symbol], note="failed")
            self.progress.console.print(summary(result, interval), markup=False, highlight=False)

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


class Backfill:
    """One backfill run: ``days`` days of ``interval``-second bars up to ``now`` from
    ``source``, symbol by symbol (see the module docstring).

    ``refetch`` asks for the whole range again, covered or not. ``now`` defaults to the
    wall clock (for a replay source, the end of its file).
    """

    def __init__(
        self,
        source: Source,
        interval: int,
        days: int,
        *,
        dry_run: bool = False,
        refetch: bool = False,
        now: float | None = None,
        progress: BackfillProgress | None = None,
    ) -> None:
        if now is None:
            now = source.history_until() if isinstance(source, ReplaySource) else time.time()
        self.source = source
        self.interval = interval
        self.dry_run = dry_run
        self.refetch = refetch
        #: Intervals before this one are complete and may be recorded as covered.
        self.completed = int(now // interval) * interval
        self.end = self.completed + interval
        self.start = self.end - days * 86400
        self.progress = progress or _Silent()
        self.loop = asyncio.new_event_loop()

    def run(self, symbols: list[str]) -> list[SymbolResult] | None:
        """One result per symbol, or None (nothing fetched) if the source has no history."""
        results: list[SymbolResult] = []
        try:
            for n, symbol in enumerate(symbols):
                try:
                    results.append(self._symbol(symbol, first=n == 0))
                except HistoryUnavailable:
                    return None  # the first symbol found the source has no history
        finally:
            self.progress.close()
            self.loop.close()
        return results

    def _symbol(self, symbol: str, *, first: bool) -> SymbolResult:
        if self.refetch:
            gaps = [(self.start, self.end)]
        else:
            gaps = coverage_gaps(symbol, self.interval, self.source.name, self.start, self.end)
        total = self.end - self.start
        result = SymbolResult(symbol, total, total - sum(hi - lo for lo, hi in gaps))
        self.progress.begin(result)
        done = result.already
        try:
            for lo, hi in gaps:
                self._gap(result, lo, hi, done)
                done += hi - lo
        except HistoryUnavailable as exc:
            if first and result.pages == 0:
                raise
            result.error = str(exc)
        except (HistoryError, ValueError) as exc:
            result.error = str(exc)
        self.progress.end(result, self.interval)
        return result

    def _gap(self, result: SymbolResult, lo: int, hi: int, done_before: int) -> None:
        pages = self.source.history_pages(result.symbol, self.interval, lo, hi)
        last = lo - self.interval
        try:
            while (page := self._pull(pages)) is not None:
                if not page:
                    continue
                wrong = [
                    b
                    for b in page
                    if not lo <= b.start < hi
                    or b.start <= last
                    or (b.symbol, b.interval) != (result.symbol, self.interval)
                ]
                if wrong:
                    raise HistoryError(
                        f"{self.source.name} sent a bar out of order or out of range: {wrong[0]}"
                    )
                last = page[-1].start
                self._save(page, result.symbol, (lo, last + self.interval))
                result.pages += 1
                result.bars += len(page)
                result.first = page[0].start if result.first is None else result.first
                result.last = last
                result.last_close = page[-1].close
                self.progress.advance(result, done_before + last + self.interval - lo)
            self._save([], result.symbol, (lo, hi))
        finally:
            self.loop.run_until_complete(pages.aclose())  # type: ignore[attr-defined]

    def _pull(self, pages: AsyncIterator[list[Bar]]) -> list[Bar] | None:
        task = self.loop.create_task(_next(pages))
        try:
            return self.loop.run_until_complete(task)
        except BaseException:
            # Interrupted (Ctrl-C) while a request was under way: let the request and the
            # provider's client close before the error goes on, so the generator can end.
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    self.loop.run_until_complete(task)
            raise

    def _save(self, bars: list[Bar], symbol: str, covered: tuple[int, int]) -> None:
        if self.dry_run:
            return
        save_history_page(
            bars,
            symbol=symbol,
            interval=self.interval,
            source=self.source.name,
            covered=(covered[0], min(covered[1], self.completed)),
        )


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
    out: TextIO,
    source: Source,
    symbols: list[str],
    days: int,
    interval: int,
    dry_run: bool,
    refetch: bool = False,
) -> None:
    """The ``--historical`` part of the command: backfill, report, and raise CommandError
    naming the symbols that failed (their bars so far, and everyone else's, are kept)."""
    console = Console(file=out)
    progress: BackfillProgress
    if console.is_terminal:
        progress = TerminalProgress(console, len(symbols), days * 86400, interval)
    else:
        progress = PlainProgress(out)
    run = Backfill(source, interval, days, dry_run=dry_run, refetch=refetch, progress=progress)
    results = run.run(symbols)
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
