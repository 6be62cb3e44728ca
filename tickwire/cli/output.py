"""What the commands print besides their data: connection news, gaps, times and numbers,
and the client library's warnings."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from datetime import datetime

from tickwire.client import ConnectionStatus, Gap

__all__ = ["LibraryWarnings", "clock", "fmt", "gap_line", "status_line"]


def status_line(status: ConnectionStatus) -> str:
    if status.state == "disconnected":
        return (
            f"disconnected: {status.reason}; retrying in {status.retry_in or 0:.1f} s "
            f"(attempt {status.attempt})"
        )
    if status.state == "connected":
        return f"connected to {status.url}"
    return f"{status.state}: {status.reason}".rstrip(": ")


def gap_line(gap: Gap) -> str:
    return f"{gap.symbol}: updates after seq {gap.last_seq} are lost ({gap.reason})"


def clock(at: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if at is None else at).strftime("%H:%M:%S")


def fmt(value: float | None, digits: int = 2, sign: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+,.{digits}f}" if sign else f"{value:,.{digits}f}"


class LibraryWarnings(logging.Handler):
    """The client's warnings (disconnects, retries) as ``tickwire: ...`` lines on stderr."""

    #: True while a live display shows the connection state itself.
    muted = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or LibraryWarnings.muted:
            return  # fatal errors are raised, and printed once by main()
        with contextlib.suppress(Exception):
            print(f"tickwire: {record.getMessage()}", file=sys.stderr, flush=True)
