"""``tickwire stream``: every update as one JSON line on stdout, for pipes."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

import orjson

from tickwire.client import AlertFired, AssetUpdate, ConnectionStatus, Gap, ServerMessage

from .args import Subparsers, positive
from .output import gap_line, notice, status_notice
from .run import Feed

__all__ = ["add_parser", "run"]


def add_parser(commands: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "stream",
        parents=parents,
        help="newline-delimited JSON to stdout",
        description="Every update as one JSON line on stdout (gaps too, as type 'gap'; "
        "with --raw, the feed's other messages as they came); connection news on stderr.",
    )
    p.add_argument("--count", type=positive(int), help="stop after this many updates")
    p.set_defaults(body=run)


def _json_line(message: ServerMessage) -> bytes:
    out: dict[str, Any] = {"type": message.type, "data": message.data}
    if message.timestamp is not None:
        out["timestamp"] = message.timestamp
    if message.seq is not None:
        out["seq"] = message.seq
    return orjson.dumps(out) + b"\n"


def _gap_json(gap: Gap) -> bytes:
    data = {
        "symbol": gap.symbol,
        "last_seq": gap.last_seq,
        "resumed_seq": gap.resumed_seq,
        "reason": gap.reason,
    }
    return orjson.dumps({"type": "gap", "data": data}) + b"\n"


async def run(args: argparse.Namespace, feed: Feed) -> int:
    out = sys.stdout.buffer
    count = 0
    try:
        async for event in feed.events():
            if event is None:
                continue
            if isinstance(event, ConnectionStatus):
                if text := status_notice(event, feed.client):
                    notice(text)
                continue
            if isinstance(event, Gap):
                notice(gap_line(event))
                out.write(_gap_json(event))
                out.flush()
                continue
            if isinstance(event, AlertFired):
                event = event.alert  # the token's user's alert: the line as it came
            if args.raw and not isinstance(event, AssetUpdate):
                # Another feed's own message: as it came, not wrapped as a Tickwire one.
                out.write(orjson.dumps(event.data) + b"\n")
            else:
                out.write(_json_line(event))
            out.flush()
            if isinstance(event, AssetUpdate):
                count += 1
                if args.count and count >= args.count:
                    break
    except BrokenPipeError:
        # The reader (head, jq -n ...) is done: not an error. Keep Python from
        # complaining again when it flushes stdout at exit.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
