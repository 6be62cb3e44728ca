"""``tickwire record``: updates to a Parquet or CSV file, written in batches."""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

from tickwire.client import AssetUpdate, ConnectionStatus, Gap, Recorder, open_recorder

from .args import Subparsers, positive
from .output import gap_line, notice, status_line, status_notice
from .run import Feed
from .status import status_display

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
    """Why the output cannot be written, found before connecting; None when it can.

    The output is not touched here (an anonymous temporary file tests that the folder is
    writable): with ``--force`` an existing output is replaced only once the connection is
    made, so a failed connect leaves it as it was.
    """
    out = Path(args.out)
    parquet = out.suffix.lower() in (".parquet", ".pq")
    parts = out.with_name(out.name + ".parts")
    if out.is_dir():
        return f"{out} is a directory"
    if not out.parent.is_dir():
        return f"folder {out.parent} does not exist"
    if parquet and importlib.util.find_spec("pyarrow") is None:
        return (
            "recording Parquet needs pyarrow: pip install 'tickwire[parquet]' "
            "(or record to a .csv file)"
        )
    if not args.force:
        if out.exists():
            return f"{out} exists; choose another name, or pass --force to replace it"
        if parquet and parts.exists():
            return (
                f"{parts} exists: batches of an interrupted recording. Read them with "
                f"pandas.read_parquet('{parts}'), or pass --force to discard them and "
                "record again"
            )
    try:
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as exc:
        return f"cannot write to folder {out.parent}: {exc.strerror or exc}"
    return None


def _summary(args: argparse.Namespace, recorder: Recorder, gaps: int) -> str:
    return f"recorded {recorder.rows_written} rows to {args.out}" + (
        f" ({gaps} gaps, marked in column gap_before)" if gaps else ""
    )


async def run(args: argparse.Namespace, feed: Feed) -> int:
    try:
        recorder = open_recorder(
            args.out,
            batch_size=args.batch_size,
            flush_seconds=args.flush_seconds,
            overwrite=args.force,
        )
    except (OSError, ValueError, ImportError) as exc:
        notice(str(exc))
        return 1
    started = time.monotonic()
    per_symbol: dict[str, int] = {}
    gaps = 0
    status = f"connected to {feed.client.url}"

    def lines() -> list[str]:
        elapsed = time.monotonic() - started
        total = recorder.rows_written + recorder.rows_pending
        rate = total / elapsed if elapsed > 0 else 0.0
        return [
            f"recording to {args.out}: {recorder.rows_written} rows written "
            f"({recorder.batches_written} batches), {recorder.rows_pending} pending, "
            f"{rate:.1f}/s, {elapsed:.0f} s, gaps {gaps} · {status}",
            "  ".join(f"{s} {n}" for s, n in per_symbol.items()),
        ]

    display = status_display()
    try:
        display.show(lines())
        async for event in feed.events(tick=min(0.5, args.flush_seconds)):
            if isinstance(event, AssetUpdate):
                recorder.write(event)
                per_symbol[event.symbol] = per_symbol.get(event.symbol, 0) + 1
            elif isinstance(event, Gap):
                gaps += 1
                recorder.mark_gap(event.symbol)
                display.notice(gap_line(event))
            elif isinstance(event, ConnectionStatus):
                status = status_line(event)
                if text := status_notice(event, feed.client):
                    display.notice(text)
            if recorder.flush_due():
                recorder.flush()
            display.show(lines())
    finally:
        display.close()
        recorder.close()
    notice(_summary(args, recorder, gaps))
    return 0
