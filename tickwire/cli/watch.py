"""``tickwire watch``: a live table of prices with rolling mean, change and a sparkline."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rich.console import Console
from rich.live import Live
from rich.table import Table

from tickwire.client import (
    AssetUpdate,
    ConnectionStatus,
    Event,
    Gap,
    RollingStats,
    RollingWindow,
    ServerError,
)

from .args import Subparsers, positive
from .output import LibraryWarnings, clock, fmt, gap_line, status_line
from .run import Feed

__all__ = ["SPARK_BLOCKS", "Board", "add_parser", "run", "sparkline"]

_COLUMNS = (
    ("Symbol", "left"),
    ("Price", "right"),
    ("Change", "right"),
    ("Chg %", "right"),
    ("Mean({window})", "right"),
    ("Window Δ", "right"),
    ("Std", "right"),
    ("Trend", "left"),
    ("Updates", "right"),
    ("Time", "right"),
)

#: The sparkline's eight levels, lowest first.
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int) -> str:
    """The last ``width`` of ``values`` as block characters, scaled from their lowest
    (``▁``) to their highest (``█``); a flat line is drawn at mid height. Empty for no
    values."""
    shown = list(values)[-width:] if width > 0 else []
    if not shown:
        return ""
    low, high = min(shown), max(shown)
    if high == low:
        return SPARK_BLOCKS[3] * len(shown)
    top = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[int((v - low) / (high - low) * top + 0.5)] for v in shown)


class Board:
    """What ``watch`` shows: the latest update, the rolling window and the count per symbol,
    the connection state and the gaps; :meth:`table` renders it."""

    def __init__(self, symbols: Sequence[str], window: int, url: str, spark_width: int = 20):
        self.symbols = list(symbols)
        self.window = window
        self.spark_width = spark_width
        self.stats = RollingStats(window)
        self.latest: dict[str, AssetUpdate] = {}
        self.counts: dict[str, int] = {}
        self.status = f"connected to {url}"
        self.gaps: list[str] = []

    def apply(self, event: Event | None) -> None:
        """Take one event of the client in (None: nothing new)."""
        if isinstance(event, AssetUpdate):
            self.stats.update(event)
            self.latest[event.symbol] = event
            self.counts[event.symbol] = self.counts.get(event.symbol, 0) + 1
        elif isinstance(event, ConnectionStatus):
            self.status = status_line(event)
        elif isinstance(event, Gap):
            self.gaps.append(gap_line(event))
        elif isinstance(event, ServerError):
            self.status = f"server error {event.code}: {event.message}"

    def trend(self, window: RollingWindow) -> str:
        """The window's prices as a sparkline, green when the window rose, red when it fell."""
        line = sparkline(window.values(), self.spark_width)
        change = window.stats().change
        if not line or not change:
            return line
        return f"[{'green' if change > 0 else 'red'}]{line}[/]"

    def table(self) -> Table:
        gaps = self.gaps
        table = Table(
            title=f"tickwire · {len(self.latest)} of {len(self.symbols)} symbols",
            caption=self.status + (f" · gaps: {len(gaps)} ({gaps[-1]})" if gaps else ""),
            caption_justify="left",
        )
        for name, justify in _COLUMNS:
            # A sparkline wrapped onto two lines would read as two series: it never wraps.
            table.add_column(
                name.format(window=self.window),
                justify=justify,  # type: ignore[arg-type]
                no_wrap=name == "Trend",
            )
        for symbol, u in self.latest.items():
            window = self.stats[symbol]
            w = window.stats()
            colour = "green" if (u.change or 0) >= 0 else "red"
            digits = 4 if u.price < 10 else 2
            table.add_row(
                symbol,
                fmt(u.price, digits),
                f"[{colour}]{fmt(u.change, sign=True)}[/]",
                f"[{colour}]{fmt(u.change_percent, sign=True)}%[/]",
                fmt(w.mean, digits),
                fmt(w.change, digits, sign=True),
                fmt(w.std, 4),
                self.trend(window),
                str(self.counts[symbol]),
                clock(w.last_at),
            )
        return table


def add_parser(commands: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "watch",
        parents=parents,
        help="live table in the terminal",
        description="A live table of prices with rolling mean, change and a sparkline of "
        "the rolling window.",
    )
    p.add_argument(
        "--window", type=positive(int), default=20, help="rolling window, in updates (20)"
    )
    p.add_argument(
        "--spark-width",
        type=positive(int),
        default=20,
        help="characters of the Trend sparkline: the window's last prices (20)",
    )
    p.set_defaults(body=run)


async def run(args: argparse.Namespace, feed: Feed) -> int:
    board = Board(args.symbols, args.window, feed.client.url, args.spark_width)
    console = Console()
    live = Live(board.table(), console=console, refresh_per_second=4, transient=False)
    # The table's caption shows disconnects and retries.
    with LibraryWarnings.muting(), live:
        async for event in feed.events(tick=0.25):
            board.apply(event)
            live.update(board.table())
    return 0
