"""Internal control messages between server processes, carried by the broker.

Some events happen in one process and must reach every node: a position edited through
the API or the admin (each node's portfolio valuer reloads the holdings), a user logging
out or a token being revoked (each node closes the sockets that used it). They are
published as broker publications on internal ``control.*`` channels, which nodes subscribe
to exactly like a client channel, so the memory broker and Redis carry them the same way.
Clients can never subscribe to these channels: client channels are ``asset.<symbol>`` and
``portfolio.<id>`` only.

Control bodies are wire frames (``{"type", "data", "timestamp"}``) like every publication.

The code that has something to announce (a service, a signal receiver) calls
:func:`publish` and knows nothing of how the message travels. Whoever owns a broker in the
process binds a :class:`Publisher` with :func:`bind_publisher`: the server's runtime while
it runs, the Django app a one-off connection for commands and shells. In-process listeners
subscribe a :class:`FrameSink` through the node.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable
from typing import Any, Final, Protocol

from .channels import ALERTS_CONTROL_CHANNEL, portfolio_control_channel, user_control_channel
from .hub import Outbox
from .protocol import encode_body

__all__ = [
    "ALERTS_CONTROL",
    "ALERTS_CONTROL_CHANNEL",
    "ALERT_RULE_CHANGED",
    "CREDENTIAL_REVOKED",
    "PORTFOLIO_CHANGED",
    "PORTFOLIO_CONTROL",
    "PORTFOLIO_REVOKED",
    "USER_ALERT",
    "USER_CONTROL",
    "USER_DISABLED",
    "FrameSink",
    "Publisher",
    "bind_publisher",
    "credential_ref",
    "portfolio_control_channel",
    "publish",
    "user_control_channel",
]

log = logging.getLogger("tickwire.stream.control")

#: Frame types on control channels.
PORTFOLIO_CONTROL: Final = "portfolio_control"
USER_CONTROL: Final = "user_control"
#: Events.
PORTFOLIO_CHANGED: Final = "changed"
CREDENTIAL_REVOKED: Final = "credential_revoked"
USER_DISABLED: Final = "user_disabled"
#: A portfolio of the user's was given to another owner: their subscriptions to it end.
PORTFOLIO_REVOKED: Final = "portfolio_revoked"
#: On ``control.user.<id>``: an alert of the user's fired; ``data["alert"]`` is the event's
#: JSON form, which every node sends as an ``alert`` message to the user's connections.
USER_ALERT: Final = "alert"
#: On ``control.alerts``: a rule was created, changed or deleted (``data["rule_id"]``);
#: the evaluator reloads it from the database.
ALERTS_CONTROL: Final = "alerts_control"
ALERT_RULE_CHANGED: Final = "rule_changed"


def credential_ref(kind: str, secret: str) -> str:
    """A stable, non-secret name for a session key or token, safe to send between nodes."""
    return kind + ":" + hashlib.sha256(secret.encode()).hexdigest()[:32]


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


class Publisher(Protocol):
    """Sends a control body on a channel; called from synchronous code, in any thread."""

    def __call__(self, channel: str, body: bytes) -> bool:
        """Send (or schedule) ``body``; False if this publisher cannot any more (its event
        loop stopped), so that the one bound before it is asked instead. May raise."""
        ...


_publishers: list[Publisher] = []


def bind_publisher(publisher: Publisher) -> Callable[[], None]:
    """Send control messages through ``publisher`` until the returned function is called.

    The publisher bound last is asked first; unbinding one leaves the others as they were.
    """
    _publishers.append(publisher)

    def unbind() -> None:
        with contextlib.suppress(ValueError):
            _publishers.remove(publisher)

    return unbind


def publish(channel: str, kind: str, data: dict[str, Any]) -> None:
    """Publish a control message from synchronous code (services, signal receivers).

    With no publisher bound (nothing in this process owns a broker) nothing is sent.
    Failures are logged, never raised: the database change that caused the message has
    already been committed and must not be reported as failed.
    """
    body = encode_body(kind, data)
    for publisher in reversed(list(_publishers)):
        try:
            if publisher(channel, body):
                return
        except Exception:
            log.exception("publishing control message on %s failed", channel)
            return
