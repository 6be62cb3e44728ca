"""``tickwire watch``: a live table of prices with rolling mean and change."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.live import Live
from rich.table import Table

from tickwire.client import AssetUpdate, ConnectionStatus, Gap, RollingStats, ServerError

from .args import Subparsers, positive
from .output import LibraryWarnings, clock, fmt, gap_line, status_line
from .run import Feed

__all__ = ["add_parser", "run"]

_COLUMNS = (
    ("Symbol", "left"),
    ("Price", "right"),
    ("Change", "right"),
    ("Chg %", "right"),
    ("Mean({window})", "right"),
    ("Window Δ", "right"),
    ("Std", "right"),
    ("Updates", "right"),
    ("Time", "right"),
)


def add_parser(commands: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "watch",
        parents=parents,
        help="live table in the terminal",
        description="A live table of prices with rolling mean and change.",
    )
    p.add_argument(
        "--window", type=positive(int), default=20, help="rolling window, in updates (20)"
    )
    p.set_defaults(body=run)


async def run(args: argparse.Namespace, feed: Feed) -> int:
    stats = RollingStats(args.window)
    latest: dict[str, AssetUpdate] = {}
    counts: dict[str, int] = {}
    status = f"connected to {feed.client.url}"
    gaps: list[str] = []

    def render() -> Table:
        table = Table(
            title=f"tickwire · {len(latest)} of {len(args.symbols)} symbols",
            caption=status + (f" · gaps: {len(gaps)} ({gaps[-1]})" if gaps else ""),
            caption_justify="left",
        )
        for name, justify in _COLUMNS:
            table.add_column(name.format(window=args.window), justify=justify)  # type: ignore[arg-type]
        for symbol, u in latest.items():
            w = stats[symbol].stats()
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
                str(counts[symbol]),
                clock(w.last_at),
            )
        return table

    console = Console()
    live = Live(render(), console=console, refresh_per_second=4, transient=False)
    # The table's caption shows disconnects and retries.
    with LibraryWarnings.muting(), live:
        async for event in feed.events(tick=0.25):
            if isinstance(event, AssetUpdate):
                stats.update(event)
                latest[event.symbol] = event
                counts[event.symbol] = counts.get(event.symbol, 0) + 1
            elif isinstance(event, ConnectionStatus):
                status = status_line(event)
            elif isinstance(event, Gap):
                gaps.append(gap_line(event))
            elif isinstance(event, ServerError):
                status = f"server error {event.code}: {event.message}"
            live.update(render())
    return 0
