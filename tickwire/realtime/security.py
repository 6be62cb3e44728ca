"""Handshake checks: refuse WebSocket handshakes from origins that are not allowed.

A browser always sends ``Origin``; a page on another site must not be able to open a
socket that carries this site's cookies (cross-site WebSocket hijacking). Programs and
scripts send no ``Origin`` and are allowed. Allowed origins are the ``ALLOWED_HOSTS``
(matched as Django matches the Host header) and the exact ``CSRF_TRUSTED_ORIGINS``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import validate_host

from .scope import header

__all__ = ["OriginGuard", "origin_allowed"]

log = logging.getLogger("tickwire.realtime.security")


def _allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def origin_allowed(origin: str) -> bool:
    """True if a handshake with this ``Origin`` header value may proceed."""
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return False
    host = parts.netloc.rsplit("@", 1)[-1].lower()
    # ALLOWED_HOSTS entries may or may not name a port; accept either form.
    hostname = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    allowed = _allowed_hosts()
    return validate_host(host, allowed) or validate_host(hostname, allowed)


class OriginGuard:
    """ASGI middleware: close (HTTP 403) handshakes whose Origin is not allowed."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            origin = header(scope, b"origin")
            if origin is not None and not origin_allowed(origin):
                log.warning("refused WebSocket handshake from origin %r", origin)
                message = await receive()
                if message["type"] == "websocket.connect":
                    await send({"type": "websocket.close", "code": 403})
                return
        await self.app(scope, receive, send)
