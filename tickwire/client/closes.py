"""What the end of a connection means to the client: retry, or stop with an error.

Refused handshakes and close codes are read here, without I/O, so the driver only asks
"try again?" and the answers are in one place: retried are refused or lost connections,
timeouts, HTTP 5xx, and the closes a reconnect can cure (1001 restarting, 1011, 4000 idle,
4001 slow consumer); fatal are HTTP 4xx on the handshake, a refused token, and the closes
a reconnect would only repeat (1008, 1009, 4002, 4003). 1012 (the server is draining for a
restart) is retried at once, without the backoff delay: another node, or this one back,
takes the client, and waiting would only widen the gap to replay.
"""

from __future__ import annotations

from tickwire.stream.protocol import CloseCode

from .events import AuthenticationError, ConnectionFailed, ServerClosed, TickwireError

__all__ = ["FATAL_CLOSES", "IMMEDIATE_CLOSES", "closed", "describe", "reconnect_at_once", "refused"]

#: Close codes after which reconnecting would only repeat the refusal.
FATAL_CLOSES = {
    CloseCode.POLICY_VIOLATION: "the server closed the connection for a message flood (1008)",
    CloseCode.MESSAGE_TOO_BIG: "the server closed the connection: a message was too big (1009)",
    CloseCode.TOO_MANY_CONNECTIONS: (
        "the server refused the connection: too many connections for this user (4002, "
        "MAX_CONNECTIONS_PER_USER); close another connection first"
    ),
    CloseCode.SESSION_ENDED: "the server ended the session: logged out or expired (4003)",
}

#: Close codes after which the client reconnects at once (no backoff delay).
IMMEDIATE_CLOSES = {
    CloseCode.SERVICE_RESTART: "the server is restarting (1012)",
}

_RETRIED_CLOSES = {
    **IMMEDIATE_CLOSES,
    CloseCode.GOING_AWAY: "the server is restarting (1001)",
    CloseCode.SLOW_CONSUMER: "the server dropped us for reading too slowly (4001)",
    CloseCode.IDLE_TIMEOUT: "the server closed the idle connection (4000)",
}


def refused(url: str, status: int, phrase: str, *, token: bool) -> TickwireError | str:
    """A handshake refused with HTTP ``status``: the error to stop with, or the reason to
    report before retrying (5xx, 408, 429)."""
    hint = {
        403: "forbidden (origin or credentials refused)",
        404: "not found: check the path, e.g. /ws/realtime/",
    }.get(status, phrase)
    message = f"the server refused the WebSocket handshake with HTTP {status}: {hint}"
    if status == 403 and token:
        # This client sends no Origin, so a 403 with a token means the token.
        return AuthenticationError(
            f"authentication_failed: the server refused the API token ({message})"
        )
    if 400 <= status < 500 and status not in (408, 429):
        return ConnectionFailed(f"{url}: {message}")
    return message


def closed(code: int | None, reason: str) -> TickwireError | str:
    """A connection the server closed with ``code`` (None: lost without a close): the
    error to stop with, or the reason to report before retrying."""
    if code in FATAL_CLOSES:
        return ServerClosed(FATAL_CLOSES[CloseCode(code)], code)
    if code in _RETRIED_CLOSES:
        return _RETRIED_CLOSES[CloseCode(code)]
    if code is None:
        return "the connection was lost"
    return f"the server closed the connection ({code} {reason})"


def reconnect_at_once(code: int | None) -> bool:
    """Whether a connection closed with ``code`` should be retried without waiting."""
    return code in IMMEDIATE_CLOSES


def describe(exc: BaseException) -> str:
    """A short reason for a failed connection attempt."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
