"""What a :class:`~tickwire.client.Client` tells its caller besides server messages,
and the errors it raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tickwire.stream.messages import Alert, AssetUpdate, PortfolioUpdate, Resync, ServerMessage

__all__ = [
    "AlertFired",
    "AuthenticationError",
    "ConnectionFailed",
    "ConnectionStatus",
    "Event",
    "Gap",
    "RequestError",
    "ServerClosed",
    "TickwireError",
]


@dataclass(frozen=True, slots=True)
class Gap:
    """Updates of ``symbol`` were missed and could not be recovered.

    Sent after a reconnect when the server answers a resume with ``recovered: false``: its
    history no longer holds every update after ``last_seq`` (it restarted — a new
    ``epoch`` — or the client was away longer than the history lasts); and, on a live
    connection, after a ``resync`` message (the server's Redis lost the channel). The
    stream goes on from a fresh snapshot at ``resumed_seq`` in ``resumed_epoch``. A skip
    in ``seq`` *within* a live session is not a gap: the server conflates updates for a
    client that reads slowly, and the newest state always arrives.
    """

    symbol: str
    last_seq: int
    last_epoch: str
    resumed_seq: int
    resumed_epoch: str

    @property
    def reason(self) -> str:
        if self.last_epoch != self.resumed_epoch:
            return "the server's stream was reset (restarted); history from before is gone"
        return "the server's history no longer holds the missed updates"


@dataclass(frozen=True, slots=True)
class AlertFired:
    """One of your server-side alert rules fired (``/api/alerts/``, docs/alerts.md).

    The server pushes it to every open connection authenticated as the rule's owner, with
    no subscription and outside every stream (no ``seq``: it is not resumed after a
    reconnect — ``GET /api/alerts/events/`` lists what fired meanwhile). ``alert`` is the
    typed message; ``event_id`` is the same on every channel it is delivered by, so a
    program that also receives the webhook can drop the duplicate.
    """

    alert: Alert

    @property
    def event_id(self) -> str:
        return self.alert.event_id

    @property
    def rule_id(self) -> int | None:
        return self.alert.rule_id

    @property
    def message(self) -> str:
        return self.alert.message


ConnectionState = Literal["connecting", "connected", "disconnected", "closed"]


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """The connection changed state. ``disconnected`` comes with the reason and, when the
    client will retry, ``retry_in`` seconds and the ``attempt`` number."""

    state: ConnectionState
    url: str
    reason: str = ""
    close_code: int | None = None
    attempt: int = 0
    retry_in: float | None = None


#: What iterating a client yields.
Event = AssetUpdate | PortfolioUpdate | AlertFired | Resync | ServerMessage | Gap | ConnectionStatus


class TickwireError(Exception):
    """Base of every error the client library raises."""


class ConnectionFailed(TickwireError):
    """The server could not be reached (after the configured retries) or refused us for
    good (bad URL path, forbidden origin, too many connections, policy close)."""


class ServerClosed(ConnectionFailed):
    """The server closed the connection with a code that forbids reconnecting."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


class AuthenticationError(TickwireError):
    """The token was refused."""


class RequestError(TickwireError):
    """The server answered a request with an ``error`` message (``code`` is stable)."""

    def __init__(self, code: str, message: str, request_type: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_type = request_type
