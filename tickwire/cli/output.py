"""What the commands print besides their data: connection news, gaps, times and numbers,
and the client library's warnings."""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import TextIO

from tickwire.client import Client, ConnectionStatus, Gap

__all__ = [
    "LibraryWarnings",
    "clock",
    "fmt",
    "gap_line",
    "notice",
    "status_line",
    "status_notice",
    "tidy",
]

# "(1012 )": the client library writes a close as "(<code> <reason>)", leaving a space
# before the parenthesis when the server gave no reason.
_BARE_CLOSE = re.compile(r"\((\d{4}) \)")


def tidy(message: str) -> str:
    """A message of the client library, as the command prints it."""
    return _BARE_CLOSE.sub(r"(\1)", message)


def notice(text: str, err: TextIO | None = None) -> None:
    """One line of news on stderr: ``tickwire: text``."""
    print(f"tickwire: {text}", file=err or sys.stderr, flush=True)


def status_line(status: ConnectionStatus) -> str:
    if status.state == "disconnected":
        return (
            f"disconnected from {status.url}: {tidy(status.reason)}; retrying in "
            f"{status.retry_in or 0:.1f} s (attempt {status.attempt})"
        )
    if status.state == "connected":
        return f"connected to {status.url}"
    return tidy(f"{status.state}: {status.reason}".rstrip(": "))


def status_notice(status: ConnectionStatus, client: Client) -> str | None:
    """The line a command prints for ``status``, or None when it says nothing new: the
    first connection (the data that follows shows it) or the end (the error is printed)."""
    if status.state == "closed" or (status.state == "connected" and client.reconnects == 0):
        return None
    return status_line(status)


def gap_line(gap: Gap) -> str:
    return f"{gap.symbol}: updates after seq {gap.last_seq} are lost ({gap.reason})"


def clock(at: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if at is None else at).strftime("%H:%M:%S")


def fmt(value: float | None, digits: int = 2, sign: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+,.{digits}f}" if sign else f"{value:,.{digits}f}"


#: The client library's warnings that repeat an event the commands report themselves (a
#: disconnect and its retry, a gap): printing both would say everything twice.
_REPORTED_FROM_EVENTS = ("disconnected from ", "%s: updates after seq %d could not be recovered")


class LibraryWarnings(logging.Handler):
    """The client library's other warnings (malformed frames, a silent server, server
    errors) as ``tickwire: ...`` lines on stderr."""

    #: True while a live display shows the connection state itself.
    muted = False

    @classmethod
    @contextlib.contextmanager
    def muting(cls) -> Iterator[None]:
        """No warnings printed inside: a live display on the terminal shows the news."""
        cls.muted = True
        try:
            yield
        finally:
            cls.muted = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or LibraryWarnings.muted:
            return  # fatal errors are raised, and printed once by main()
        if isinstance(record.msg, str) and record.msg.startswith(_REPORTED_FROM_EVENTS):
            return
        with contextlib.suppress(Exception):
            notice(tidy(record.getMessage()))
