# PYTHON_ARGCOMPLETE_OK (argcomplete's marker: `activate-global-python-argcomplete` completes
# the console script of a module that carries it)
"""The ``tickwire`` command: watch, stream, record and alert on live prices; serve.

    tickwire watch AAPL MSFT                      live table with rolling mean and change
    tickwire stream AAPL | jq .data.price         newline-delimited JSON on stdout
    tickwire record AAPL --out ticks.parquet      record, flushing in batches
    tickwire alert AAPL --above 200 --window 20   seed 000's running-mean alert, as a tool
    tickwire alerts add AAPL above 200            a rule the server keeps and evaluates
    tickwire serve                                start the server (what `make run` does)
    tickwire feed                                 run the price feed as its own process
    tickwire manage migrate                       Django's management commands

Every client command takes ``--url`` and ``--token`` (or ``TICKWIRE_URL`` and
``TICKWIRE_TOKEN``), reconnects with backoff when the connection drops, and with ``--raw``
and ``--subscribe TEMPLATE`` reads any other JSON WebSocket feed. Ctrl-C (or SIGTERM)
stops a command cleanly: a recording writes its last batch first.

``tickwire --version`` prints the package and protocol versions; help is coloured on a
terminal (rich-argparse, :mod:`.helpformat`); tab completion comes from argcomplete (bash:
``eval "$(register-python-argcomplete tickwire)"``; README.md). The client commands need
only the base install; ``serve``, ``feed`` and ``manage`` need the server extra and say so
in one line when it is missing.

One module per command, each defining its arguments (``add_parser``) and its body (``run``,
called with the connected, subscribed client); :mod:`.run` connects and stops, :mod:`.args`
holds the shared options, :mod:`.output` what is printed besides the data.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from tickwire import __version__
from tickwire.extras import explain, require
from tickwire.stream.protocol import PROTOCOL_VERSION

from . import alert, alerts, feed, manage, record, serve, stream, watch
from .args import check_client, client_parents
from .helpformat import colour
from .output import LibraryWarnings
from .run import run

__all__ = ["build_parser", "main", "version_line"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tickwire`` command."""
    parser = argparse.ArgumentParser(
        prog="tickwire",
        description="Live market data from a Tickwire server (or any JSON WebSocket feed).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  tickwire watch AAPL MSFT\n"
            "  tickwire stream BTC-USD --count 10\n"
            "  tickwire record AAPL MSFT --out ticks.parquet --duration 3600\n"
            "  tickwire alert AAPL --above 200 --window 20 --webhook https://example.org/hook\n"
            "  tickwire alerts add AAPL above 200 --cooldown 300\n"
            "  tickwire serve --port 8000\n"
            "  tickwire manage createsuperuser"
        ),
    )
    parser.add_argument(
        "--version", action="version", version=version_line(), help="print the version and exit"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    parents = client_parents()
    for command in (watch, stream, record, alert):
        command.add_parser(commands, parents)
    alerts.add_parser(commands)
    for server_command in (serve, feed, manage):
        server_command.add_parser(commands)
    colour(parser)
    return parser


def version_line() -> str:
    """What ``tickwire --version`` prints: the package and the protocol it speaks."""
    return f"tickwire {__version__} (protocol {PROTOCOL_VERSION})"


_SERVER_COMMANDS = {"serve": serve.main, "feed": feed.main, "manage": manage.main}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tickwire`` command; returns the exit status (2 for usage errors)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "_ARGCOMPLETE" in os.environ:
        # Completing (the shell runs the command with the line in COMP_LINE): prints the
        # candidates and exits; the server's commands complete by name only. Imported
        # here, not at the top: every other run of the command would pay for it.
        import argcomplete

        argcomplete.autocomplete(build_parser())
    # The server's commands parse their own options (and load Django only then).
    if argv and argv[0] in _SERVER_COMMANDS:
        return _server_command(argv[0], argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    # `tickwire alerts` talks to the REST API and parses its own actions.
    standalone = getattr(args, "standalone", None)
    if standalone is None:
        check_client(parser, args)
    if check := getattr(args, "check", None):
        check(parser, args)
    logger = logging.getLogger("tickwire.client")
    if not logger.handlers:
        logger.addHandler(LibraryWarnings())
        logger.setLevel(logging.WARNING)
        logger.propagate = False
    if standalone is not None:
        code: int = standalone(parser, args)
        return code
    if prepare := getattr(args, "prepare", None):
        # What a command can find wrong before connecting (record: its output file).
        problem = prepare(args)
        if problem is not None:
            print(f"tickwire: {problem}", file=sys.stderr)
            return 1
    try:
        return asyncio.run(run(args, args.body, sys.stderr))
    except KeyboardInterrupt:
        return 130


def _server_command(name: str, argv: list[str]) -> int:
    """Run ``tickwire serve|feed|manage``; without the server extra (or an extra the
    settings need, such as redis or postgres), one line naming it and status 2."""
    what = f"tickwire {name}"
    try:
        require("server", what)
        return _SERVER_COMMANDS[name](argv)
    except ModuleNotFoundError as exc:
        missing = explain(exc, what)
        if missing is None:
            raise
        print(f"tickwire: {missing}", file=sys.stderr, flush=True)
        return 2
