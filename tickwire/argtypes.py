"""argparse value types shared by every command line (``tickwire``, ``python -m
tickwire.serve``, the feed's management commands): a bad value is a usage error whose
message names the value and what was expected."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

__all__ = ["number"]

N = TypeVar("N", int, float)


def number(
    kind: type[N],
    *,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    message: str | None = None,
) -> Callable[[str], N]:
    """A parser for a finite ``int`` or ``float`` within bounds.

    ``minimum``/``maximum`` are inclusive, ``above`` exclusive. ``message`` (formatted with
    ``{text}``) replaces the default out-of-range message.
    """
    noun = "a whole number" if kind is int else "a number"

    def parse(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        bad = (
            (minimum is not None and value < minimum)
            or (above is not None and value <= above)
            or (maximum is not None and value > maximum)
        )
        if bad:
            raise argparse.ArgumentTypeError(
                message.format(text=repr(text))
                if message
                else _range(text, minimum, above, maximum)
            )
        return value

    return parse


def _range(text: str, minimum: float | None, above: float | None, maximum: float | None) -> str:
    if above is not None:
        return f"{text!r} must be greater than {above:g}"
    if minimum is not None and maximum is not None:
        return f"{text!r} must be from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f"{text!r} must be {minimum:g} or more"
    return f"{text!r} must be at most {maximum:g}"
