"""A redis-py connection that packs commands with hiredis's C encoder.

redis-py's asyncio connection packs every argument in Python; a feed's publish script call
carries two keys and two arguments per update (2,000+ arguments per call), and packing
them was a quarter of the feed's time with a Redis broker. ``hiredis.pack_command`` writes
the same bytes (RESP arrays of bulk strings) in C. Arguments it might spell differently
(floats, memoryviews, anything not str/bytes/int) are packed by redis-py as before, and so
are its errors (a bool is refused the same way).
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio.connection import Connection

__all__ = ["PackedConnection"]

_PLAIN = frozenset((str, bytes, int))


class PackedConnection(Connection):
    """:class:`redis.asyncio.Connection` whose :meth:`pack_command` runs in C."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if not args or not set(map(type, args)) <= _PLAIN:
            return super().pack_command(*args)
        head = args[0]
        # As redis-py does: a command name with literal arguments ("CONFIG GET") is split.
        if isinstance(head, str):
            args = tuple(head.encode().split()) + args[1:]
        elif isinstance(head, bytes) and b" " in head:
            args = tuple(head.split()) + args[1:]
        packed: bytes = hiredis.pack_command(args)
        return [packed]
