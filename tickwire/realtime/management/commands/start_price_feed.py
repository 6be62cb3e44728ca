"""``python manage.py start_price_feed``: run the price feed as its own process."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tickwire.realtime.feedprocess import FeedOptions, MemoryBrokerFeedError, run_feed_process
from tickwire.stream.brokers import BrokerUnavailable


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


class Command(BaseCommand):
    help = "Run the real-time price feed service until stopped (SIGTERM/SIGINT)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--interval",
            type=positive_float,
            default=None,
            help="seconds between updates (default REALTIME_UPDATE_INTERVAL)",
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=None,
            help="assets per batch (default REALTIME_BATCH_SIZE)",
        )
        parser.add_argument("--source", default=None, help="data source (default simulator)")
        parser.add_argument("--symbols", nargs="+", default=[], help="only these symbols")
        parser.add_argument("--verbose", action="store_true", help="log one line per batch")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["verbose"]:
            logging.getLogger("tickwire").setLevel(logging.INFO)
        feed_options = FeedOptions(
            interval=options["interval"] or settings.REALTIME_UPDATE_INTERVAL,
            batch_size=options["batch_size"] or settings.REALTIME_BATCH_SIZE,
            source=options["source"] or settings.TICKWIRE_FEED_SOURCE,
            symbols=tuple(s.upper() for s in options["symbols"]),
            verbose=options["verbose"],
        )
        try:
            asyncio.run(run_feed_process(feed_options))
        except MemoryBrokerFeedError as exc:
            raise CommandError(str(exc)) from None
        except BrokerUnavailable as exc:
            raise CommandError(f"{exc}\nIs Redis running at TICKWIRE_BROKER_URL?") from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
