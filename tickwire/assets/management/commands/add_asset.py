"""``tickwire manage add_asset SYMBOL [...]``: add an asset (or change one with ``--update``).

The feed serves active assets, and a source's ``symbol_map`` may only name assets that
exist: this is how an instrument the demo data lacks (a Tokyo stock for the kabu source,
an FX pair for an HTTP quote API) gets into the database. Values are checked by the same
validators as the admin and the API; a bad one is a usage error naming the field.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from tickwire.assets.models import Asset


def _price(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise CommandError(f"--price {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise CommandError(f"--price {text!r} must be a positive number")
    return value


class Command(BaseCommand):
    help = (
        "Add an asset the feed should serve (e.g. TOYOTA for the kabu source); --update "
        "changes the given fields of an existing one. Without --price the asset has no "
        "price until its source sends the first one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("symbol", help="Tickwire symbol, e.g. TOYOTA, EUR-USD, BRK.B")
        parser.add_argument("--name", help="display name (default: the symbol)")
        parser.add_argument("--kind", choices=Asset.Kind.values, help="asset kind (default stock)")
        parser.add_argument("--exchange", help="exchange code, e.g. TSE, NASDAQ")
        parser.add_argument("--currency", help="quote currency, ISO 4217 (default USD)")
        parser.add_argument("--price", help="a first price (also the previous close)")
        parser.add_argument(
            "--inactive", action="store_true", help="add it inactive (the feed skips it)"
        )
        parser.add_argument(
            "--update", action="store_true", help="change an existing asset instead"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Create or update the asset and print it.

        Raises:
            CommandError: a field is invalid, the asset exists (without --update) or does
                not (with --update).
        """
        symbol = str(options["symbol"]).strip().upper()
        price = _price(options["price"]) if options["price"] is not None else None
        with transaction.atomic():
            asset = Asset.objects.select_for_update().filter(symbol=symbol).first()
            if options["update"]:
                if asset is None:
                    raise CommandError(f"no asset {symbol}; add it without --update")
            elif asset is not None:
                raise CommandError(
                    f"asset {symbol} exists ({asset.name}, {asset.kind}); use --update to change it"
                )
            created = asset is None
            if asset is None:
                asset = Asset(symbol=symbol, name=symbol)
            for field in ("name", "kind", "exchange", "currency"):
                if options[field] is not None:
                    setattr(asset, field, options[field].strip())
            if options["inactive"]:
                asset.is_active = False
            if price is not None:
                asset.current_price = price
                asset.day_high = asset.day_low = price
                if created or asset.previous_close is None:
                    asset.previous_close = price
                asset.last_updated = timezone.now()
            try:
                asset.full_clean()
            except ValidationError as exc:
                problems = "; ".join(
                    f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
                )
                raise CommandError(f"invalid asset {symbol}: {problems}") from None
            asset.save()
        verb = "added" if created else "updated"
        shown = f"{asset.current_price.normalize():f}" if asset.current_price else "no price yet"
        self.stdout.write(
            f"{verb} {asset.symbol}: {asset.name}, {asset.kind}"
            f"{', ' + asset.exchange if asset.exchange else ''}, {asset.currency}, {shown}"
            f"{'' if asset.is_active else ', inactive'}"
        )
