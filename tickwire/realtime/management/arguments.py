"""Argument types shared by the feed's management commands: bad values are usage errors."""

from __future__ import annotations

import argparse
import re

from tickwire.argtypes import number
from tickwire.stream.feeds import SOURCES, SourceConfigError
from tickwire.stream.feeds.registry import parse_option

__all__ = [
    "add_source_arguments",
    "broker_url",
    "option_pair",
    "positive_float",
    "positive_int",
    "symbol",
]

_SYMBOL = re.compile(r"^[A-Z0-9]+(?:[.\-/][A-Z0-9]+)*$")


positive_float = number(float, above=0, message="{text} must be a positive number of seconds")
positive_int = number(int, minimum=1, message="{text} must be at least 1")


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


def add_source_arguments(parser: argparse.ArgumentParser, default_help: str) -> None:
    """``--source NAME`` and repeatable ``-o KEY=VALUE``, as every feed command takes them."""
    parser.add_argument(
        "--source",
        choices=sorted(SOURCES),
        default=None,
        help=f"data source (default {default_help})",
    )
    parser.add_argument(
        "-o",
        "--option",
        action="append",
        type=option_pair,
        default=[],
        metavar="KEY=VALUE",
        help="source option over TICKWIRE_FEED_<KEY>, e.g. url=wss://... (repeatable)",
    )
