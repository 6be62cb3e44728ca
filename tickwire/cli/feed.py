"""``tickwire feed``: the price feed as its own process (``start_price_feed``'s flags)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .args import Subparsers

__all__ = ["add_parser", "main"]

PROG = "tickwire feed"


def add_parser(commands: Subparsers) -> None:
    # Listed for --help only: main() hands "feed ..." over before parsing, so its options
    # and its own --help are those of the start_price_feed management command.
    commands.add_parser(
        "feed",
        help="run the price feed as its own process (scaled out, with Redis)",
        description="Run the price feed; options are those of `tickwire manage "
        "start_price_feed` (--interval, --batch-size, --source, --option, --symbols, ...).",
        add_help=False,
    )


def main(argv: Sequence[str]) -> int:
    """Run the feed until SIGTERM/SIGINT; 2 with one line on stderr for a setup error."""
    # Django and the feed: loaded only to run it.
    from django.core.management import CommandError, load_command_class

    from tickwire.boot import fail, setup
    from tickwire.env import StartupError

    try:
        setup()
    except StartupError as exc:
        fail(PROG, exc)
    command = load_command_class("tickwire.realtime", "start_price_feed")
    # As run_from_argv sets it: a usage error prints the usage line and exits 2.
    command._called_from_command_line = True  # type: ignore[attr-defined]
    parser = command.create_parser("tickwire", "feed")
    options = vars(parser.parse_args(list(argv)))
    args = options.pop("args", ())
    try:
        command.execute(*args, **options)
    except CommandError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr, flush=True)
        return exc.returncode
    return 0
