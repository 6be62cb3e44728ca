"""API-token authentication for WebSocket handshakes and the realtime JSON views.

Programs authenticate a socket with the header ``Authorization: Token <key>`` on the
handshake (the same token as the REST API's). A present but invalid token refuses the
handshake (HTTP 403) rather than silently connecting anonymously: the program asked to be
someone and is not. Browsers cannot set that header; they use the session cookie, which
Channels' ``AuthMiddlewareStack`` resolves (:class:`SessionAuthMiddleware`).

A handshake with neither the session cookie nor the token header is anonymous, and that is
decided without I/O: no hop to a thread, no database. Channels' stack would hop to a thread
for every handshake just to find an empty session (8-30% of the server's time in a burst
of anonymous clients connecting at once, BENCHMARKS.md).
"""

from __future__ import annotations

import logging
from importlib import import_module
from typing import Any

from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.cookie import parse_cookie
from rest_framework.authtoken.models import Token

from .scope import header

__all__ = [
    "SessionAuthMiddleware",
    "TokenAuthMiddleware",
    "token_from_header",
    "user_for_token",
]

log = logging.getLogger("tickwire.realtime.auth")


def token_from_header(value: str | None) -> str | None:
    """The key of an ``Authorization: Token <key>`` header value; None for other schemes."""
    if not value:
        return None
    scheme, _, key = value.strip().partition(" ")
    if scheme.lower() != "token":
        return None
    return key.strip()


def _user_for_token(key: str) -> Any | None:
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


async def user_for_token(key: str) -> Any | None:
    """The active user owning API token ``key``, or None."""
    if not key or len(key) > 128:
        return None
    return await sync_to_async(_user_for_token)(key)


class TokenAuthMiddleware:
    """ASGI middleware (inside ``AuthMiddlewareStack``): a valid token header sets
    ``scope["user"]`` and ``scope["auth_token"]``; an invalid one refuses the handshake."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            value = header(scope, b"authorization")
            key = token_from_header(value)
            if value is not None and key is not None:
                user = await user_for_token(key)
                if user is None:
                    log.info("refused WebSocket handshake with an invalid API token")
                    message = await receive()
                    if message["type"] == "websocket.connect":
                        await send({"type": "websocket.close", "code": 403})
                    return
                scope = {**scope, "user": user, "auth_token": key}
        await self.app(scope, receive, send)


class SessionAuthMiddleware:
    """ASGI middleware: ``scope["cookies"]``, ``scope["session"]`` and ``scope["user"]``
    for WebSocket handshakes, as Channels' ``AuthMiddlewareStack`` sets them.

    A handshake carrying the session cookie goes through Channels' stack (the session and
    its user are read from the database, in a thread). One without it gets an empty,
    unsaved session and the anonymous user at once, with no thread hop and no query; a
    token header, if any, is resolved by :class:`TokenAuthMiddleware` inside.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.stack = AuthMiddlewareStack(app)
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            raw = header(scope, b"cookie")
            cookies = parse_cookie(raw) if raw is not None else {}
            if not cookies.get(settings.SESSION_COOKIE_NAME):
                scope = {
                    **scope,
                    "cookies": cookies,
                    "session": self.session_store(None),
                    "user": AnonymousUser(),
                }
                await self.app(scope, receive, send)
                return
        await self.stack(scope, receive, send)
