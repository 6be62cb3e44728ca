"""``python manage.py update_asset_prices``: fetch prices (or daily history) once.

Prices come from the configured data source (``--source``, default TICKWIRE_FEED_SOURCE):
one quote per asset. While a price feed runs (the embedded server's, or a feed process on
Redis) the quotes go through it (:mod:`tickwire.realtime.oneoff`), so subscribers get them
and the feed's own persistence does not overwrite them; with no feed running they are
written in one transaction. ``--historical --days N [--interval 1m|1d]`` backfills bars
instead, page by page and resumably, from the source's history where it has one, else
rolled up from the stored 1-minute bars (see :mod:`tickwire.realtime.management.history`).
``--dry-run`` prints what would change and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tickwire.assets.models import Asset
from tickwire.realtime.management.arguments import (
    add_source_arguments,
    positive_float,
    positive_int,
    symbol,
)
from tickwire.realtime.management.history import INTERVALS, run_history
from tickwire.realtime.oneoff import (
    Delivery,
    FeedDidNotAnswer,
    FeedUnreachable,
    deliver_quotes,
)
from tickwire.realtime.runtime import build_feed_source
from tickwire.realtime.services import instruments_from_assets, persist_quotes, price_decimals
from tickwire.stream.feeds import Instrument, Quote, Source, Tick
from tickwire.stream.feeds.quote_requests import ControlMessageError, QuoteUpdate

MAX_DAYS = 3650


def _days(text: str) -> int:
    value = positive_int(text)
    if value > MAX_DAYS:
        raise argparse.ArgumentTypeError(f"{text!r} is more than {MAX_DAYS} days")
    return value


class Command(BaseCommand):
    help = (
        "Fetch current prices (or --historical daily bars) from the data source once and "
        "store them. --dry-run shows what would change without writing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--symbols", nargs="+", type=symbol, default=[], help="only these symbols"
        )
        parser.add_argument(
            "--historical", action="store_true", help="write daily bars instead of prices"
        )
        parser.add_argument(
            "--days", type=_days, default=None, help="days of history (with --historical)"
        )
        parser.add_argument(
            "--interval",
            choices=sorted(INTERVALS),
            default=None,
            help="bar interval of --historical (default 1d)",
        )
        parser.add_argument(
            "--refetch",
            action="store_true",
            help="with --historical: fetch the whole range again, even what earlier runs got",
        )
        parser.add_argument("--dry-run", action="store_true", help="print, write nothing")
        add_source_arguments(parser, "TICKWIRE_FEED_SOURCE")
        parser.add_argument(
            "--timeout",
            type=positive_float,
            default=15.0,
            help="seconds to wait for streaming sources to quote every symbol (default 15)",
        )
        parser.add_argument(
            "--ack-timeout",
            type=positive_float,
            default=10.0,
            help="seconds to wait for a running price feed to acknowledge (default 10)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] is not None and not options["historical"]:
            raise CommandError("--days goes with --historical")
        for flag in ("interval", "refetch"):
            if options[flag] not in (None, False) and not options["historical"]:
                raise CommandError(f"--{flag} goes with --historical")
        wanted = list(dict.fromkeys(options["symbols"]))
        assets = list(Asset.objects.filter(is_active=True).order_by("symbol"))
        if wanted:
            by_symbol = {a.symbol: a for a in assets}
            unknown = [s for s in wanted if s not in by_symbol]
            if unknown:
                raise CommandError(f"unknown symbols: {', '.join(unknown)}")
            assets = [by_symbol[s] for s in wanted]
        if not assets:
            raise CommandError("no active assets to update")
        source = _source(options, _instruments(assets), subset=bool(wanted))
        symbols = [a.symbol for a in assets]
        if options["historical"]:
            out = cast(TextIO, getattr(self.stdout, "_out", sys.stdout))  # the stream, for rich
            interval = INTERVALS[options["interval"] or "1d"]
            days = options["days"] or 30
            run_history(
                out, source, symbols, days, interval, options["dry_run"], options["refetch"]
            )
        else:
            self._prices(
                source, assets, options["timeout"], options["dry_run"], options["ack_timeout"]
            )

    def _prices(
        self, source: Source, assets: list[Asset], timeout: float, dry: bool, ack_timeout: float
    ) -> None:
        ticks = asyncio.run(source.fetch([a.symbol for a in assets], timeout))
        quotes: list[Quote] = []
        fetched: list[Tick] = []
        missing: list[str] = []
        for asset in assets:
            tick = ticks.get(asset.symbol)
            if tick is None or not tick.price > 0:
                missing.append(asset.symbol)
                self.stdout.write(f"{asset.symbol:<10} no quote from {source.name}")
                continue
            quote = _quote(asset, tick.price)
            old = float(asset.current_price) if asset.current_price is not None else None
            quote.apply(tick)
            quotes.append(quote)
            fetched.append(tick)
            if old:
                move = f"{(tick.price - old) / old * 100:+.2f}%"
                self.stdout.write(f"{asset.symbol:<10} {old:>14g} -> {tick.price:<14g} {move}")
            else:
                self.stdout.write(f"{asset.symbol:<10} {'-':>14} -> {tick.price:g}")
        if dry or not quotes:
            verb = "would update" if dry else "updated"
            self.stdout.write(f"{verb} {len(quotes)} of {len(assets)} assets from {source.name}")
        else:
            delivery = self._deliver(fetched, ack_timeout)
            if not delivery.through_feed:
                persist_quotes(quotes)
                self.stdout.write(
                    f"updated {len(quotes)} of {len(assets)} assets from {source.name}: "
                    "no price feed is running: written to the database"
                )
            else:
                self._report(delivery, len(assets), source.name)
        if missing:
            raise CommandError(f"no quote from {source.name} for: {', '.join(missing)}")

    def _deliver(self, ticks: list[Tick], ack_timeout: float) -> Delivery:
        updates = [QuoteUpdate(t.symbol, t.price, t.volume, t.day_volume, t.ts) for t in ticks]
        try:
            delivery = deliver_quotes(updates, ack_timeout)
        except ControlMessageError as exc:
            raise CommandError(f"the source's quotes cannot be sent: {exc}") from None
        except FeedDidNotAnswer as exc:
            # A direct write now would race a feed that may be running: write nothing.
            raise CommandError(
                f"{exc}; nothing was written (the feed refuses the request once it expires)"
            ) from None
        except FeedUnreachable as exc:
            raise CommandError(f"{exc}; nothing was written") from None
        if delivery.note:
            self.stdout.write(delivery.note)
        return delivery

    def _report(self, delivery: Delivery, total: int, origin: str) -> None:
        ack = delivery.ack
        assert ack is not None
        if ack.error:
            raise CommandError(f"the running price feed ({delivery.via}) refused: {ack.error}")
        self.stdout.write(
            f"updated {len(ack.applied)} of {total} assets from {origin}: sent through the "
            f"running price feed ({delivery.via}): {len(ack.applied)} published, "
            f"{len(ack.rejected)} rejected"
        )
        for rejection in ack.rejected:
            self.stdout.write(f"{rejection.symbol:<10} rejected by the feed: {rejection.reason}")
        if not ack.persisted:
            self.stdout.write(
                "the feed could not write the database yet; it retries with its next batch"
            )
        if ack.rejected:
            names = ", ".join(r.symbol for r in ack.rejected)
            raise CommandError(f"the running price feed rejected: {names}")


def _source(options: dict[str, Any], instruments: list[Instrument], subset: bool) -> Source:
    """``--source``/``--option``: that one source for every asset; else the settings' feed
    source (TICKWIRE_FEED_SOURCES when set: each asset from its route)."""
    try:
        return build_feed_source(
            instruments,
            source=options["source"],
            options=dict(options["option"]),
            complete=not subset,
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _instruments(assets: list[Asset]) -> list[Instrument]:
    priced = {i.symbol: i for i in instruments_from_assets(assets)}
    # Assets without a price yet can still be quoted by external sources.
    return [
        priced.get(a.symbol) or Instrument(a.symbol, 0.0, kind=a.kind, exchange=a.exchange)
        for a in assets
    ]


def _quote(asset: Asset, price: float) -> Quote:
    """The asset's stored quote, as the feed would hold it, to apply one tick to."""
    current = float(asset.current_price) if asset.current_price is not None else price
    prev = float(asset.previous_close) if asset.previous_close is not None else current
    stamp = asset.last_updated.timestamp() if asset.last_updated else 0.0
    return Quote(
        symbol=asset.symbol,
        price=current,
        previous_close=prev,
        high=float(asset.day_high) if asset.day_high is not None else current,
        low=float(asset.day_low) if asset.day_low is not None else current,
        volume=float(asset.volume or 0),
        decimals=price_decimals(asset.kind, current),
        currency=asset.currency,
        kind=asset.kind,
        ts=stamp,
    )
