"""Latest quotes into the database: the feed's batched write of each asset's price row.

The feed hands over the quotes that changed since its last write (every
``TICKWIRE_PERSIST_INTERVAL``). One transaction runs one ``UPDATE`` statement per asset
with ``executemany`` (a prepared statement SQLite steps through, a pipeline on
PostgreSQL): no read of the rows first, and no ``CASE`` per column and row as the ORM's
``bulk_update`` builds, which cost the feed seconds per write at 500 quotes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection, transaction

from tickwire.stream.feeds import Quote

from .columns import column, decimal_shape
from .models import Asset

__all__ = ["save_quotes"]

_EIGHT = Decimal("0.00000001")
#: The Asset columns a quote sets, in the order of :func:`_row`'s values.
_COLUMNS = ("current_price", "previous_close", "day_high", "day_low", "volume", "last_updated")


def _dec(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(_EIGHT)


def save_quotes(quotes: Sequence[Quote]) -> int:
    """Write each quote's price, previous close, day high/low, volume and time to its
    asset's row, in one transaction; returns how many rows were updated (quotes of
    symbols with no asset are skipped)."""
    if not quotes:
        return 0
    ops = connection.ops
    q = ops.quote_name
    sets = ", ".join(f"{q(column(Asset, name))} = %s" for name in _COLUMNS)
    sql = f"UPDATE {q(Asset._meta.db_table)} SET {sets} WHERE {q(column(Asset, 'symbol'))} = %s"
    digits, places = decimal_shape(Asset, "current_price")
    vdigits, _ = decimal_shape(Asset, "volume")
    rows = [
        (
            ops.adapt_decimalfield_value(_dec(x.price), digits, places),
            ops.adapt_decimalfield_value(_dec(x.previous_close), digits, places),
            ops.adapt_decimalfield_value(_dec(x.high), digits, places),
            ops.adapt_decimalfield_value(_dec(x.low), digits, places),
            ops.adapt_decimalfield_value(_dec(x.volume), vdigits, places),
            ops.adapt_datetimefield_value(datetime.fromtimestamp(x.ts, UTC)),
            x.symbol,
        )
        for x in {x.symbol: x for x in quotes}.values()
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)
        updated: int = cursor.rowcount
    return max(updated, 0)
