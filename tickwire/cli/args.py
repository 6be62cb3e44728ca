"""The arguments every client command shares — connection, other feeds, symbols — and the
argument types the commands use."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any, TypeAlias

from tickwire.argtypes import number
from tickwire.client import Backoff, Client, RawFeed
from tickwire.stream.protocol import ProtocolError, normalize_symbol

__all__ = [
    "DEFAULT_URL",
    "Subparsers",
    "check_client",
    "client_parents",
    "finite",
    "make_client",
    "non_negative",
    "positive",
]

DEFAULT_URL = "ws://127.0.0.1:8000/ws/realtime/"
_DEFAULT_TEMPLATE = '{"type": "subscribe", "symbol": "{symbol}"}'

#: What ``ArgumentParser.add_subparsers`` returns (argparse has no public name for it);
#: each command adds its parser to it.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    return number(kind, above=0)


non_negative = number(float, minimum=0)
finite = number(float)
_retries = number(int, minimum=0, message="--retries must be 0 or more")


def client_parents() -> list[argparse.ArgumentParser]:
    """Parent parsers of a client command: connection options, other feeds, symbols."""
    common = argparse.ArgumentParser(add_help=False)
    conn = common.add_argument_group("connection")
    conn.add_argument(
        "--url",
        default=os.environ.get("TICKWIRE_URL", DEFAULT_URL),
        help=f"WebSocket URL (env TICKWIRE_URL; default {DEFAULT_URL})",
    )
    conn.add_argument(
        "--token",
        default=os.environ.get("TICKWIRE_TOKEN") or None,
        help="API token (env TICKWIRE_TOKEN)",
    )
    conn.add_argument(
        "--retries",
        type=_retries,
        default=None,
        help="give up after this many failed reconnect attempts in a row (default: never)",
    )
    conn.add_argument(
        "--heartbeat",
        type=positive(float),
        default=15.0,
        help="seconds between pings that keep the connection alive (default 15)",
    )
    conn.add_argument(
        "--no-batch",
        dest="batch",
        action="store_false",
        help="one update per frame (default: ask the server to batch frames)",
    )
    conn.add_argument("--duration", type=positive(float), help="stop after this many seconds")
    raw = common.add_argument_group("other feeds")
    raw.add_argument(
        "--raw", action="store_true", help="the URL is another JSON WebSocket feed, not Tickwire"
    )
    raw.add_argument(
        "--subscribe",
        metavar="TEMPLATE",
        default=_DEFAULT_TEMPLATE,
        help='with --raw: the subscribe message; "{symbol}" is replaced by each symbol, '
        '"{symbols}" by the list (default: %(default)s)',
    )
    raw.add_argument(
        "--price-field",
        default=None,
        help="with --raw: dotted path of the price in a message (default: price, data.price, p)",
    )
    raw.add_argument(
        "--symbol-field",
        default=None,
        help="with --raw: dotted path of the symbol (default: symbol, data.symbol, s)",
    )
    symbols = argparse.ArgumentParser(add_help=False)
    symbols.add_argument("symbols", nargs="+", metavar="SYMBOL", help="e.g. AAPL BTC-USD")
    return [common, symbols]


def make_client(args: argparse.Namespace) -> Client:
    """The client the connection options describe."""
    raw = None
    if args.raw:
        kwargs: dict[str, Any] = {"subscribe": args.subscribe}
        if args.price_field:
            kwargs["price_paths"] = (args.price_field,)
        if args.symbol_field:
            kwargs["symbol_paths"] = (args.symbol_field,)
        raw = RawFeed(**kwargs)
    return Client(
        args.url,
        token=args.token,
        backoff=Backoff(max_attempts=args.retries),
        heartbeat=args.heartbeat,
        batch=args.batch and not args.raw,
        raw=raw,
    )


def check_client(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors in the shared options: bad symbols, URL or raw template."""
    if not args.raw:
        try:
            args.symbols = [normalize_symbol(s) for s in args.symbols]
        except ProtocolError as exc:
            parser.error(exc.message.replace("'symbol' ", "symbol "))
    try:
        make_client(args)
    except ValueError as exc:
        parser.error(str(exc))
