"""Closing the sockets of a session that ended: logout, expiry, revoked token, disabled user.

* Logout, token revocation and deactivation happen in whichever process served that
  request; they publish a ``user_control`` message on ``control.user.<id>`` (see
  :mod:`tickwire.stream.control` and :mod:`tickwire.accounts.signals`). Every node with a
  socket of that user listens on that channel and closes the matching sockets with 4003.
* A portfolio given to another owner ends the previous owner's subscriptions to it: the
  same channel carries ``portfolio_revoked`` for the previous owner.
* An alert of the user's fired: the same channel carries ``alert`` (from the delivery
  dispatcher, :mod:`tickwire.alerts.delivery`), pushed as an ``alert`` message to each of
  the user's open sockets here; no subscription needed.
* A session can also just expire. Every ``TICKWIRE_SESSION_CHECK_SECONDS`` the guard checks
  each distinct session behind this process's sockets against the session store (as
  Django's own ``get_user`` does: exists, not expired, same user, password unchanged, user
  active) and closes the sockets of the ones that are gone.

Credentials are named between nodes by :func:`control.credential_ref` (a hash), never by
the session key or token itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from importlib import import_module
from types import SimpleNamespace
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user

from tickwire.stream import builders, control
from tickwire.stream.node import Node
from tickwire.stream.protocol import CloseCode

from .connection import Connection

__all__ = ["SessionGuard", "live_sessions"]

log = logging.getLogger("tickwire.realtime.sessions")


def live_sessions(sessions: dict[str, int]) -> set[str]:
    """Which of these session keys still authenticate the user id they are paired with."""
    engine = import_module(settings.SESSION_ENGINE)
    alive = set()
    for key, user_id in sessions.items():
        request = SimpleNamespace(session=engine.SessionStore(session_key=key))
        user = get_user(request)  # type: ignore[arg-type]
        if user.is_authenticated and user.pk == user_id:
            alive.add(key)
    return alive


class SessionGuard:
    """Tracks which users have sockets here and closes them when their session ends."""

    def __init__(
        self,
        node: Node,
        connections: Callable[[], Iterable[Connection]],
        *,
        check_interval: float = 60.0,
        revoke_portfolio: Callable[[Connection, int], None] | None = None,
    ) -> None:
        self.node = node
        self.connections = connections
        #: Ends a connection's subscription to a portfolio its user no longer owns.
        self.revoke_portfolio = revoke_portfolio
        self.check_interval = check_interval
        self.closed_sockets = 0
        #: ``alert`` messages pushed to sockets here.
        self.alerts_sent = 0
        self._sink = control.FrameSink(self._on_frame)
        self._users: dict[int, set[str]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._sweep_loop())

    async def close(self) -> None:
        self._sink.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def attach(self, conn: Connection) -> None:
        """Listen for the end of ``conn``'s user's sessions (conn.user_id is set)."""
        assert conn.user_id is not None
        ids = self._users.setdefault(conn.user_id, set())
        ids.add(conn.connection_id)
        channel = control.user_control_channel(conn.user_id)
        if channel not in self._sink.channels:
            result = await self.node.subscribe(self._sink, channel)
            self.node.activate(self._sink, result)  # the snapshot is history: ignore it

    def detach(self, conn: Connection) -> None:
        if conn.user_id is None:
            return
        ids = self._users.get(conn.user_id)
        if ids is None:
            return
        ids.discard(conn.connection_id)
        if not ids:
            del self._users[conn.user_id]
            self.node.unsubscribe(self._sink, control.user_control_channel(conn.user_id))

    def _on_frame(self, frame: bytes) -> None:
        message = orjson.loads(frame)
        if message.get("type") != control.USER_CONTROL:
            return
        data: dict[str, Any] = message.get("data") or {}
        user_id = data.get("user_id")
        event = data.get("event")
        if event == control.CREDENTIAL_REVOKED:
            ref = data.get("credential")
            reason = str(data.get("reason") or "session ended")
            self._close(lambda c: c.user_id == user_id and c.credential == ref, reason)
        elif event == control.USER_DISABLED:
            self._close(lambda c: c.user_id == user_id, "user account disabled")
        elif event == control.PORTFOLIO_REVOKED:
            portfolio_id = data.get("portfolio_id")
            if isinstance(portfolio_id, int) and self.revoke_portfolio is not None:
                for conn in list(self.connections()):
                    if conn.user_id == user_id and not conn.outbox.closed:
                        self.revoke_portfolio(conn, portfolio_id)
        elif event == control.USER_ALERT and isinstance(user_id, int):
            self._push_alert(user_id, data.get("alert"))

    def _push_alert(self, user_id: int, payload: Any) -> None:
        if not isinstance(payload, dict):
            log.warning("an alert for user %s without its event was ignored", user_id)
            return
        frame = builders.alert(payload)  # encoded once for every socket of the user
        for conn in list(self.connections()):
            if conn.user_id == user_id and not conn.outbox.closed and conn.outbox.push(frame):
                self.alerts_sent += 1

    def _close(self, match: Callable[[Connection], bool], reason: str) -> int:
        closed = 0
        for conn in list(self.connections()):
            if conn.user_id is not None and match(conn) and not conn.outbox.closed:
                conn.outbox.close(CloseCode.SESSION_ENDED, reason)
                closed += 1
        self.closed_sockets += closed
        return closed

    async def sweep(self) -> int:
        """Close the sockets whose session no longer authenticates their user."""
        sessions = {
            c.session_key: c.user_id
            for c in self.connections()
            if c.session_key is not None and c.user_id is not None and not c.outbox.closed
        }
        if not sessions:
            return 0
        alive = await sync_to_async(live_sessions)(sessions)
        gone = set(sessions) - alive
        if not gone:
            return 0
        return self._close(lambda c: c.session_key in gone, "session expired")

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("checking sessions failed")
