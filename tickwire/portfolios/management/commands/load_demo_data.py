"""``tickwire manage load_demo_data [--reset] [--history-days N]``: the demo assets, user
and portfolio, and optionally simulated bar history."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tickwire.assets.demo import demo_history_allowed
from tickwire.portfolios.demo import (
    DemoDataDisabled,
    add_demo_data,
    load_demo_data,
    write_demo_history,
)


class Command(BaseCommand):
    help = (
        "Add whatever is missing of the demo assets, the demo/demo user and its "
        "'Demo Portfolio', changing nothing that exists; --reset puts the demo quotes, the "
        "demo password and the demo positions back as shipped; --history-days N also writes "
        "N days of simulated 1-minute bars per demo asset ending at its current price "
        "(only with the simulator feed). Refuses unless settings.TICKWIRE_DEMO_DATA is true "
        "(never in production)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="reset the demo quotes, the demo user's password and the demo positions",
        )
        parser.add_argument(
            "--history-days",
            type=int,
            default=0,
            metavar="N",
            help="also write N days of simulated 1-minute bars per demo asset, ending at its "
            "current price and replacing stored bars of those minutes (default 0: none; "
            "refused unless TICKWIRE_FEED_SOURCE is simulator)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Load demo data and print a one-line summary.

        Raises:
            CommandError: demo data is disabled in the active settings, ``--history-days``
                is negative, or history is asked for under a real provider (exit status 1).
        """
        days = options["history_days"]
        if days < 0:
            raise CommandError(f"--history-days must be 0 or more, not {days}.")
        if days and not demo_history_allowed():
            raise CommandError(
                "--history-days writes simulated bars, which would be false data next to a "
                "real provider's prices; it needs TICKWIRE_FEED_SOURCE=simulator (and "
                "TICKWIRE_DEMO_DATA on)."
            )
        try:
            summary = load_demo_data() if options["reset"] else add_demo_data()
        except DemoDataDisabled as exc:
            raise CommandError(
                f"{exc} Refusing to load demo data; run with the local settings "
                "(DJANGO_SETTINGS_MODULE=tickwire.settings.local) for a demo."
            ) from exc
        if days:
            summary = replace(summary, bars=write_demo_history(days))
        if options["verbosity"] > 0:  # `serve` passes 0: its log lines may all be JSON
            self.stdout.write(self.style.SUCCESS(str(summary)))
