"""Handshake checks: refuse WebSocket handshakes from origins that are not allowed.

A browser always sends ``Origin``; a page on another site must not be able to open a
socket that carries this site's cookies (cross-site WebSocket hijacking). Programs and
scripts send no ``Origin`` and are allowed.

Origins are matched exactly — scheme, host and port — never by host alone: another port
of the same host is another origin (another application, perhaps one a user can write
to). Allowed are the page's own origin (the handshake's scheme and ``Host``, when that
host is in ``ALLOWED_HOSTS``), and the origins listed in ``TICKWIRE_ALLOWED_ORIGINS`` and
``CSRF_TRUSTED_ORIGINS``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from .scope import header

__all__ = ["OriginGuard", "normalize_origin", "origin_allowed"]

log = logging.getLogger("tickwire.realtime.security")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(origin: str) -> str | None:
    """``scheme://host:port`` in lower case with the port always written, or None when
    ``origin`` is not an http(s) origin (no path, query, user or fragment)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if (
        scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port or _DEFAULT_PORTS[scheme]}"


def _allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def _listed(origins: Iterable[str]) -> set[str]:
    return {n for n in (normalize_origin(o) for o in origins) if n is not None}


def own_origin(scope: Mapping[str, Any]) -> str | None:
    """The origin a page served by this handshake's host has: its scheme (``https``
    behind a proxy that says so through ``SECURE_PROXY_SSL_HEADER``) and ``Host``; None
    when the host is not in ``ALLOWED_HOSTS``."""
    host = header(scope, b"host")
    if not host:
        return None
    domain, _port = split_domain_port(host.lower())
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None
    secure = scope.get("scheme") in ("wss", "https")
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, value = proxy
        forwarded = header(scope, name.removeprefix("HTTP_").lower().replace("_", "-").encode())
        if forwarded is not None:
            secure = forwarded.split(",")[0].strip() == value
    return normalize_origin(f"{'https' if secure else 'http'}://{host}")


def origin_allowed(origin: str, own: str | None = None) -> bool:
    """True if a handshake with this ``Origin`` header value may proceed: it is ``own``
    (the handshake's own origin, :func:`own_origin`) or listed in
    ``TICKWIRE_ALLOWED_ORIGINS`` or ``CSRF_TRUSTED_ORIGINS`` — scheme, host and port."""
    wanted = normalize_origin(origin)
    if wanted is None:
        return False
    if own is not None and wanted == own:
        return True
    listed = [*settings.TICKWIRE_ALLOWED_ORIGINS, *settings.CSRF_TRUSTED_ORIGINS]
    return wanted in _listed(listed)


class OriginGuard:
    """ASGI middleware: close (HTTP 403) handshakes whose Origin is not allowed."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            origin = header(scope, b"origin")
            if origin is not None and not origin_allowed(origin, own_origin(scope)):
                log.warning("refused WebSocket handshake from origin %r", origin)
                message = await receive()
                if message["type"] == "websocket.connect":
                    await send({"type": "websocket.close", "code": 403})
                return
        await self.app(scope, receive, send)
