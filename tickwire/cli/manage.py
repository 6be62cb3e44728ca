"""``tickwire manage COMMAND ...``: Django's management commands for an installed Tickwire
(migrate, createsuperuser, collectstatic, load_demo_data, update_asset_prices, ...)."""

from __future__ import annotations

from collections.abc import Sequence

from .args import Subparsers

__all__ = ["add_parser", "main"]


def add_parser(commands: Subparsers) -> None:
    # Listed for --help only: main() hands "manage ..." to Django before parsing.
    commands.add_parser(
        "manage",
        help="run a management command: migrate, createsuperuser, load_demo_data, ...",
        description="Run a Django management command with Tickwire's settings "
        "(`tickwire manage help` lists them).",
        add_help=False,
    )


def main(argv: Sequence[str], prog: str = "tickwire manage") -> int:
    """Run the command; 2 with one line on stderr for a setting or database error."""
    # Django: loaded only to manage.
    from django.core.management import execute_from_command_line
    from django.db import DatabaseError

    from tickwire.boot import fail, setup
    from tickwire.env import StartupError

    try:
        setup()
    except StartupError as exc:
        fail(prog, exc)
    from tickwire.realtime.preflight import database_error

    try:
        execute_from_command_line([prog, *argv])
    except DatabaseError as exc:
        # Unreachable or unmigrated: what to do, not a traceback from inside the ORM.
        fail(prog, StartupError(database_error(exc)))
    return 0
