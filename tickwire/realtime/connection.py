"""What the runtime knows of one open WebSocket: its outbox, its user and how they logged in."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tickwire.stream.hub import Outbox

__all__ = ["Connection"]


@dataclass(eq=False, slots=True)
class Connection:
    """What the runtime knows of one open WebSocket (for limits and status)."""

    connection_id: str
    outbox: Outbox
    user_id: int | None = None
    opened_at: float = field(default_factory=time.time)
    #: How the user was authenticated: "session" or "token" (None while anonymous).
    auth: str | None = None
    #: :func:`tickwire.stream.control.credential_ref` of the session or token (what a logout names).
    credential: str | None = None
    #: The session key of a session-authenticated socket (checked for expiry).
    session_key: str | None = None
    #: True while this connection counts toward MAX_CONNECTIONS_PER_USER.
    holds_user_slot: bool = False
