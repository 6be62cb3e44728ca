"""WebSocket routes. Any other path is refused with HTTP 404 (or 403 where the server
cannot send a response body), never a server error."""

from typing import Any

from django.urls import path, re_path

from .consumer import RealtimeConsumer


async def websocket_not_found(scope: dict[str, Any], receive: Any, send: Any) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        body = b'{"detail": "no WebSocket endpoint here; use /ws/realtime/"}'
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 403})


websocket_urlpatterns = [
    path("ws/realtime/", RealtimeConsumer.as_asgi()),
    # Channels routes ASGI applications with Django's path(); the stubs expect views.
    re_path(r"", websocket_not_found),  # type: ignore[arg-type]
]
