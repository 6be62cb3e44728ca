"""Argument types shared by the feed's management commands: bad values are usage errors."""

from __future__ import annotations

import argparse
import re

from tickwire.stream.feeds import SourceConfigError
from tickwire.stream.feeds.registry import parse_option

__all__ = ["broker_url", "option_pair", "positive_float", "positive_int", "symbol"]

_SYMBOL = re.compile(r"^[A-Z0-9]+(?:[.\-/][A-Z0-9]+)*$")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def symbol(text: str) -> str:
    """An asset symbol, upper-cased (AAPL, BRK.B, BTC-USD)."""
    value = text.strip().upper()
    if not _SYMBOL.match(value) or len(value) > 32:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid symbol")
    return value


def option_pair(text: str) -> tuple[str, str]:
    """A source option ``KEY=VALUE`` (see docs/sources.md)."""
    try:
        return parse_option(text)
    except SourceConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def broker_url(text: str) -> str:
    if not re.match(r"^(memory|redis|rediss|unix)://", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a broker URL (redis://host:port/db)")
    return text
