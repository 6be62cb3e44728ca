"""ASGI entry point: ``tickwire.asgi:application``.

HTTP goes to Django; WebSocket handshakes pass the origin check, session authentication
(the cookie; a handshake without it is anonymous without a database query) and token
authentication (an ``Authorization: Token`` header), then reach the realtime consumer.
Lifespan events start the streaming runtime (broker, hub and, in the embedded default,
the simulated feed) and stop it, closing every socket with 1012 so clients reconnect and
resume.

Importing this module is a server starting (``uvicorn tickwire.asgi:application``): the
settings are loaded from ``TICKWIRE_HOME`` and the start-up checks run
(:mod:`tickwire.realtime.preflight`). A wrong setting, an unreachable database or broker,
an unmigrated database or a misconfigured data source is one line on stderr and exit
status 2, not a traceback from the first request.
"""

from __future__ import annotations

import logging
from typing import Any

from tickwire.boot import fail, setup
from tickwire.env import StartupError

try:
    setup()
except StartupError as exc:
    fail("tickwire", exc)

from django.conf import settings

from tickwire.realtime import preflight

if settings.TICKWIRE_STARTUP_CHECKS:
    # Before Django's handler is built, so nothing else is printed ahead of the one line.
    try:
        preflight.check_server()
    except StartupError as exc:
        fail("tickwire", exc)

from django.core.asgi import get_asgi_application

django_http = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from tickwire.realtime.auth import SessionAuthMiddleware, TokenAuthMiddleware  # noqa: E402
from tickwire.realtime.routing import websocket_urlpatterns  # noqa: E402
from tickwire.realtime.runtime import get_runtime, shutdown_runtime  # noqa: E402
from tickwire.realtime.security import OriginGuard  # noqa: E402
from tickwire.stream.brokers import BrokerUnavailable  # noqa: E402

log = logging.getLogger("tickwire.asgi")

router = ProtocolTypeRouter(
    {
        "http": django_http,
        "websocket": OriginGuard(
            SessionAuthMiddleware(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    else:
        await router(scope, receive, send)


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await get_runtime()
            except BrokerUnavailable as exc:
                # Not a bug: say what is unreachable, without a traceback.
                log.error("startup failed: %s", exc)
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            except Exception as exc:
                log.exception("startup failed")
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown_runtime()
            await send({"type": "lifespan.shutdown.complete"})
            return
