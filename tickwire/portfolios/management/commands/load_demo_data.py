"""``tickwire manage load_demo_data [--reset]``: the demo assets, user and portfolio."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tickwire.portfolios.demo import DemoDataDisabled, add_demo_data, load_demo_data


class Command(BaseCommand):
    help = (
        "Add whatever is missing of the demo assets, the demo/demo user and its "
        "'Demo Portfolio', changing nothing that exists; --reset puts the demo quotes, the "
        "demo password and the demo positions back as shipped. Refuses unless "
        "settings.TICKWIRE_DEMO_DATA is true (never in production)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="reset the demo quotes, the demo user's password and the demo positions",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Load demo data and print a one-line summary.

        Raises:
            CommandError: demo data is disabled in the active settings (exit status 1).
        """
        try:
            summary = load_demo_data() if options["reset"] else add_demo_data()
        except DemoDataDisabled as exc:
            raise CommandError(
                f"{exc} Refusing to load demo data; run with the local settings "
                "(DJANGO_SETTINGS_MODULE=tickwire.settings.local) for a demo."
            ) from exc
        if options["verbosity"] > 0:  # `serve` passes 0: its log lines may all be JSON
            self.stdout.write(self.style.SUCCESS(str(summary)))
