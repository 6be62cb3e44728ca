"""A long-running command's status: redrawn in place on a terminal, whole lines elsewhere.

On a terminal the status stays at the bottom, redrawn as it changes, and notices (a
disconnect, a gap) scroll above it. Redirected to a file or a pipe, a redrawn status would
be a run of carriage-return updates glued to whatever comes next; there the status is
written as a whole ``tickwire: ...`` line now and then, and notices as lines of their own.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from .output import notice

__all__ = ["PlainStatus", "StatusDisplay", "TerminalStatus", "status_display"]


class StatusDisplay(Protocol):
    def show(self, lines: list[str]) -> None:
        """The current status (a terminal shows every update, a log only some)."""

    def notice(self, text: str) -> None:
        """A line of news that stays: ``tickwire: text``."""

    def close(self) -> None:
        """Leave the last status; what is printed next starts on a line of its own."""


class TerminalStatus:
    """The status at the bottom of a terminal, redrawn at most twice a second."""

    def __init__(self, console: Console) -> None:
        self._live = Live(Text(""), console=console, refresh_per_second=2, transient=False)
        self._live.start()

    def show(self, lines: list[str]) -> None:
        self._live.update(Text("\n".join(lines)))

    def notice(self, text: str) -> None:
        self._live.console.print(f"tickwire: {text}", markup=False, highlight=False)

    def close(self) -> None:
        self._live.stop()  # ends the status with a newline


class PlainStatus:
    """The status as a whole line, the first at once and then at most every ``every``
    seconds, for a log file or a pipe."""

    def __init__(
        self,
        err: TextIO,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.err = err
        self.every = every
        self._clock = clock
        self._last: float | None = None

    def show(self, lines: list[str]) -> None:
        now = self._clock()
        if self._last is not None and now - self._last < self.every:
            return
        self._last = now
        notice(" · ".join(line for line in lines if line), self.err)

    def notice(self, text: str) -> None:
        notice(text, self.err)

    def close(self) -> None:
        pass


def status_display(err: TextIO | None = None) -> StatusDisplay:
    """A :class:`TerminalStatus` when ``err`` (stderr) is a terminal, else a
    :class:`PlainStatus`."""
    err = err or sys.stderr
    console = Console(file=err)
    if console.is_terminal:
        return TerminalStatus(console)
    return PlainStatus(err)
