"""Internal control messages between server processes, carried by the broker.

Some events happen in one process and must reach every node: a position edited through
the API or the admin (each node's portfolio valuer reloads the holdings), a user logging
out or a token being revoked (each node closes the sockets that used it). They are
published as broker publications on internal ``control.*`` channels, which nodes subscribe
to exactly like a client channel, so the memory broker and Redis carry them the same way.
Clients can never subscribe to these channels: client channels are ``asset.<symbol>`` and
``portfolio.<id>`` only.

Control bodies are wire frames (``{"type", "data", "timestamp"}``) like every publication.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
from collections.abc import Callable
from typing import Any, Final

from asgiref.sync import async_to_sync
from django.conf import settings

from tickwire.stream.hub import Outbox
from tickwire.stream.protocol import encode_body
from tickwire.stream.tasks import log_failure

__all__ = [
    "CREDENTIAL_REVOKED",
    "PORTFOLIO_CHANGED",
    "PORTFOLIO_CONTROL",
    "USER_CONTROL",
    "USER_DISABLED",
    "FrameSink",
    "credential_ref",
    "portfolio_control_channel",
    "publish",
    "user_control_channel",
]

log = logging.getLogger("tickwire.realtime.control")

#: Frame types on control channels.
PORTFOLIO_CONTROL: Final = "portfolio_control"
USER_CONTROL: Final = "user_control"
#: Events.
PORTFOLIO_CHANGED: Final = "changed"
CREDENTIAL_REVOKED: Final = "credential_revoked"
USER_DISABLED: Final = "user_disabled"

_PUBLISH_TIMEOUT: Final = 5.0


class FrameSink(Outbox):
    """An internal subscriber: hands each frame to a callback at once instead of queueing.

    Subscribed through the node like a connection's outbox (so the broker subscription,
    snapshot and resume ordering work as for clients), it lets in-process services such
    as the portfolio valuer listen to channels without touching the hub's fan-out.
    """

    def __init__(self, on_frame: Callable[[bytes], None]) -> None:
        super().__init__(limit=1 << 30, slow_seconds=float("inf"))
        self._on_frame = on_frame

    def push(self, frame: bytes, key: str | None = None) -> bool:
        if self.closed:
            return False
        try:
            self._on_frame(frame)
        except Exception:  # one bad frame must not cut the service off its channels
            log.exception("an internal subscriber failed on a frame")
        return True


def portfolio_control_channel(portfolio_id: int) -> str:
    return f"control.portfolio.{portfolio_id}"


def user_control_channel(user_id: int) -> str:
    return f"control.user.{user_id}"


def credential_ref(kind: str, secret: str) -> str:
    """A stable, non-secret name for a session key or token, safe to send between nodes."""
    return kind + ":" + hashlib.sha256(secret.encode()).hexdigest()[:32]


def publish(channel: str, kind: str, data: dict[str, Any]) -> None:
    """Publish a control message from synchronous code (views, signals, commands).

    In a server process it goes through the running runtime's broker. Elsewhere (a
    management command, a shell) it goes through a short-lived broker connection when the
    broker is shared (Redis); with the in-process memory broker nobody else could hear it,
    so nothing is sent. Failures are logged, never raised: the database change that caused
    the message has already been committed and must not be reported as failed.
    """
    body = encode_body(kind, data)
    from .runtime import current_runtime

    runtime = current_runtime()
    loop = runtime.loop if runtime is not None else None
    try:
        if runtime is not None and loop is not None and loop.is_running():
            coro = runtime.broker.publish(channel, body)
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                task = loop.create_task(coro)
                task.add_done_callback(log_failure("publishing a control message", log))
            else:
                # A fresh context: the caller's (e.g. asgiref's thread-sensitive marker of
                # a sync view) must not leak into tasks the publication starts on the loop.
                future = contextvars.Context().run(asyncio.run_coroutine_threadsafe, coro, loop)
                future.result(_PUBLISH_TIMEOUT)
            return
        if not settings.TICKWIRE_BROKER_URL.startswith("memory:"):
            async_to_sync(_publish_once)(channel, body)
    except Exception:
        log.exception("publishing control message on %s failed", channel)


async def _publish_once(channel: str, body: bytes) -> None:
    # Publish-only: no start(), so no pub/sub reader is opened just to be torn down
    # again, and the broker is configured like the nodes' (same Redis key prefix).
    from .runtime import broker_from_settings

    broker = broker_from_settings()
    try:
        await asyncio.wait_for(broker.publish(channel, body), _PUBLISH_TIMEOUT)
    finally:
        await broker.close()
