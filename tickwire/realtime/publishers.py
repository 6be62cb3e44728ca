"""How this process's control messages reach the broker (:mod:`tickwire.stream.control`).

* :class:`LoopPublisher` — through a running broker, from any thread: the server's runtime
  binds one to its broker and event loop while it runs.
* :func:`publish_once` — from a process with no runtime (a management command, a shell):
  a short-lived broker connection when the broker is shared (Redis). With the in-process
  memory broker nobody else could hear the message, so nothing is sent. The app binds it
  when Django loads (:class:`tickwire.realtime.apps.RealtimeConfig`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Final

from asgiref.sync import async_to_sync
from django.conf import settings

from tickwire.stream.brokers import Broker, create_broker
from tickwire.stream.tasks import log_failure

__all__ = ["LoopPublisher", "broker_from_settings", "publish_once"]

log = logging.getLogger("tickwire.realtime.publishers")

_PUBLISH_TIMEOUT: Final = 5.0


def broker_from_settings(url: str | None = None) -> Broker:
    """The broker ``url`` (default ``TICKWIRE_BROKER_URL``) names, with the history and
    Redis settings."""
    return create_broker(
        url or settings.TICKWIRE_BROKER_URL,
        history_size=settings.TICKWIRE_HISTORY_SIZE,
        history_ttl=settings.TICKWIRE_HISTORY_TTL,
        prefix=settings.TICKWIRE_REDIS_PREFIX,
    )


class LoopPublisher:
    """Publishes through ``broker``, which runs on ``loop``, from any thread."""

    def __init__(self, broker: Broker, loop: asyncio.AbstractEventLoop) -> None:
        self.broker = broker
        self.loop = loop

    def __call__(self, channel: str, body: bytes) -> bool:
        """On the broker's loop: schedule the publication. From another thread: wait for
        it (up to 5 s). False, sending nothing, once the loop has stopped."""
        loop = self.loop
        if not loop.is_running():
            return False
        coro = self.broker.publish(channel, body)
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            task = loop.create_task(coro)
            task.add_done_callback(log_failure("publishing a control message", log))
        else:
            # A fresh context: the caller's (e.g. asgiref's thread-sensitive marker of a
            # sync view) must not leak into tasks the publication starts on the loop.
            future = contextvars.Context().run(asyncio.run_coroutine_threadsafe, coro, loop)
            future.result(_PUBLISH_TIMEOUT)
        return True


def publish_once(channel: str, body: bytes) -> bool:
    """Publish over a short-lived connection to a shared broker; nothing with the memory
    broker, whose subscribers all live in a server process (which binds its own)."""
    if not settings.TICKWIRE_BROKER_URL.startswith("memory:"):
        async_to_sync(_publish_once)(channel, body)
    return True


async def _publish_once(channel: str, body: bytes) -> None:
    # Publish-only: no start(), so no pub/sub reader is opened just to be torn down
    # again, and the broker is configured like the nodes' (same Redis key prefix).
    broker = broker_from_settings()
    try:
        await asyncio.wait_for(broker.publish(channel, body), _PUBLISH_TIMEOUT)
    finally:
        await broker.close()
