"""Reading an ASGI connection scope (the handshake middlewares' shared needs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["header"]


def header(scope: Mapping[str, Any], name: bytes) -> str | None:
    """The first value of header ``name`` in ``scope``, or None if it was not sent.

    ``name`` is lower-case, as ASGI servers deliver header names. The value is decoded as
    latin-1, HTTP's header encoding, so no byte sequence makes this raise.
    """
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None
