"""``python manage.py update_asset_prices``: fetch prices (or daily history) once.

Prices come from the configured data source (``--source``, default TICKWIRE_FEED_SOURCE):
one quote per asset, written in one transaction. ``--historical --days N [--interval
1m|1d]`` backfills bars instead, page by page and resumably, from the source's history
where it has one, else rolled up from the stored 1-minute bars (see
:mod:`tickwire.realtime.management.history`). ``--dry-run`` prints what would change and
writes nothing.
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
from tickwire.realtime.runtime import build_feed_source
from tickwire.realtime.services import instruments_from_assets, persist_quotes, price_decimals
from tickwire.stream.feeds import Instrument, Quote, Source

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
            self._prices(source, assets, options["timeout"], options["dry_run"])

    def _prices(self, source: Source, assets: list[Asset], timeout: float, dry: bool) -> None:
        ticks = asyncio.run(source.fetch([a.symbol for a in assets], timeout))
        quotes: list[Quote] = []
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
            if old:
                move = f"{(tick.price - old) / old * 100:+.2f}%"
                self.stdout.write(f"{asset.symbol:<10} {old:>14g} -> {tick.price:<14g} {move}")
            else:
                self.stdout.write(f"{asset.symbol:<10} {'-':>14} -> {tick.price:g}")
        verb = "would update" if dry else "updated"
        if quotes and not dry:
            persist_quotes(quotes)
        self.stdout.write(f"{verb} {len(quotes)} of {len(assets)} assets from {source.name}")
        if missing:
            raise CommandError(f"no quote from {source.name} for: {', '.join(missing)}")


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
