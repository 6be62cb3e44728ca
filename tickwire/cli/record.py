"""``tickwire record``: updates to a Parquet or CSV file, written in batches."""

from __future__ import annotations

import argparse
import os
import sys
import time

from rich.console import Console
from rich.live import Live
from rich.text import Text

from tickwire.client import AssetUpdate, ConnectionStatus, Gap, open_recorder

from .args import Subparsers, positive
from .output import gap_line, status_line
from .run import Feed

__all__ = ["add_parser", "check", "prepare", "run"]


def add_parser(commands: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "record",
        parents=parents,
        help="record updates to Parquet or CSV",
        description="Record updates to a .parquet or .csv file, written in batches so a "
        "crash loses at most the last one. Ctrl-C stops and writes the last batch.",
    )
    p.add_argument("--out", required=True, help="output file: *.parquet or *.csv")
    p.add_argument("--batch-size", type=positive(int), help="rows per batch (1000; CSV 500)")
    p.add_argument(
        "--flush-seconds",
        type=positive(float),
        default=1.0,
        help="write a batch at least this often (1 s)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(body=run, check=check, prepare=prepare)


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not args.out.lower().endswith((".csv", ".parquet", ".pq")):
        parser.error("--out must end in .parquet or .csv")


def prepare(args: argparse.Namespace) -> str | None:
    """Why the output cannot be written, found before connecting; None when it can."""
    try:
        open_recorder(args.out, overwrite=args.force).close()
        os.remove(args.out)
    except (OSError, ValueError, ImportError) as exc:
        return str(exc)
    return None


async def run(args: argparse.Namespace, feed: Feed) -> int:
    recorder = open_recorder(
        args.out,
        batch_size=args.batch_size,
        flush_seconds=args.flush_seconds,
        overwrite=args.force,
    )
    started = time.monotonic()
    per_symbol: dict[str, int] = {}
    gaps = 0
    status = "connected"
    err = Console(stderr=True)

    def render() -> Text:
        elapsed = time.monotonic() - started
        total = recorder.rows_written + recorder.rows_pending
        rate = total / elapsed if elapsed > 0 else 0.0
        symbols = "  ".join(f"{s} {n}" for s, n in per_symbol.items())
        return Text(
            f"recording to {args.out}: {recorder.rows_written} rows written "
            f"({recorder.batches_written} batches), {recorder.rows_pending} pending, "
            f"{rate:.1f}/s, {elapsed:.0f} s, gaps {gaps} · {status}\n{symbols}"
        )

    try:
        with Live(render(), console=err, refresh_per_second=2, transient=False) as live:
            async for event in feed.events(tick=min(0.5, args.flush_seconds)):
                if isinstance(event, AssetUpdate):
                    recorder.write(event)
                    per_symbol[event.symbol] = per_symbol.get(event.symbol, 0) + 1
                elif isinstance(event, Gap):
                    gaps += 1
                    recorder.mark_gap(event.symbol)
                    err.print(f"tickwire: {gap_line(event)}")
                elif isinstance(event, ConnectionStatus):
                    status = status_line(event)
                if recorder.flush_due():
                    recorder.flush()
                live.update(render())
    finally:
        recorder.close()
    print(
        f"tickwire: recorded {recorder.rows_written} rows to {args.out}"
        + (f" ({gaps} gaps, marked in column gap_before)" if gaps else ""),
        file=sys.stderr,
    )
    return 0
