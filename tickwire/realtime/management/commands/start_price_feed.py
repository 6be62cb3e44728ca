"""``tickwire feed`` (``tickwire manage start_price_feed``): the price feed as its own
process.

Every configuration or dependency error at start — the database, the data source, the
broker — is one line naming what to change, with exit status 2."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tickwire.env import StartupError
from tickwire.realtime import preflight
from tickwire.realtime.feedprocess import (
    FeedOptions,
    MemoryBrokerFeedError,
    NoInstrumentsError,
    UnknownSymbolsError,
    run_feed_process,
)
from tickwire.realtime.management.arguments import (
    add_source_arguments,
    broker_url,
    positive_float,
    positive_int,
    symbol,
)
from tickwire.stream.brokers import BrokerUnavailable

# Kept importable from here: other code and tests used them before arguments.py existed.
__all__ = ["Command", "positive_float", "positive_int"]


class Command(BaseCommand):
    help = (
        "Run the real-time price feed service until stopped (SIGTERM/SIGINT). "
        "Sources and their options: docs/sources.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval",
            type=positive_float,
            default=None,
            help="seconds between updates or polls (default REALTIME_UPDATE_INTERVAL)",
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=None,
            help="assets per batch / per HTTP request (default REALTIME_BATCH_SIZE)",
        )
        add_source_arguments(parser, "TICKWIRE_FEED_SOURCES when set, else TICKWIRE_FEED_SOURCE")
        parser.add_argument(
            "--symbols", nargs="+", type=symbol, default=[], help="only these symbols"
        )
        parser.add_argument(
            "--broker",
            type=broker_url,
            default=None,
            metavar="URL",
            help="broker URL over TICKWIRE_BROKER_URL, e.g. redis://127.0.0.1:6379/0",
        )
        parser.add_argument("--verbose", action="store_true", help="log one line per batch")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["verbose"]:
            logging.getLogger("tickwire").setLevel(logging.INFO)
        feed_options = FeedOptions(
            interval=options["interval"] or settings.REALTIME_UPDATE_INTERVAL,
            batch_size=options["batch_size"] or settings.REALTIME_BATCH_SIZE,
            source=options["source"],
            symbols=tuple(dict.fromkeys(options["symbols"])),
            verbose=options["verbose"],
            source_options=dict(options["option"]),
            broker_url=options["broker"],
        )
        try:
            preflight.check_database()
        except StartupError as exc:
            raise CommandError(str(exc), returncode=2) from None
        try:
            asyncio.run(run_feed_process(feed_options))
        except BrokerUnavailable as exc:
            raise CommandError(
                f"{str(exc).rstrip('.')} (TICKWIRE_BROKER_URL or --broker: is Redis running "
                "there?)",
                returncode=2,
            ) from None
        except (MemoryBrokerFeedError, UnknownSymbolsError, NoInstrumentsError) as exc:
            raise CommandError(str(exc), returncode=2) from None
        except ValueError as exc:  # SourceConfigError: the source's URL, key, file...
            raise CommandError(
                preflight.feed_error(feed_options.source, exc), returncode=2
            ) from None
