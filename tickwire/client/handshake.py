"""The start of a connection to a Tickwire server: the greeting, authentication, batching.

Run by the driver on a fresh socket before anything is subscribed (other feeds have no
handshake). Raises :class:`~tickwire.client.events.TickwireError` subclasses for what a
reconnect would only repeat, so the driver stops instead of retrying.
"""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import ClientConnection

from tickwire.stream.messages import Connected, ServerError, ServerMessage
from tickwire.stream.protocol import Authenticate, Configure, encode_request

from .events import AuthenticationError, ConnectionFailed
from .sansio import BaseSession

__all__ = ["handshake"]


async def handshake(
    ws: ClientConnection,
    session: BaseSession,
    *,
    url: str,
    token: str | None,
    batch: bool,
    open_timeout: float,
    request_timeout: float,
) -> Connected:
    """Read the server's ``connection`` message, authenticate with ``token`` when the
    handshake header did not, and ask for batching; returns the greeting.

    Raises :class:`ConnectionFailed` when the peer is not a Tickwire server,
    :class:`AuthenticationError` when the token is refused, ``TimeoutError`` and the
    socket's errors.
    """
    hello = await _recv_message(ws, session, open_timeout)
    if not isinstance(hello, Connected):
        raise ConnectionFailed(
            f"{url} is not a Tickwire endpoint (first message was "
            f"{hello.type!r}, not 'connection'); use raw mode for other feeds"
        )
    if token and not hello.authenticated:
        rid = session.next_id()
        await ws.send(encode_request(Authenticate(rid, token)).decode())
        while True:
            reply = await _recv_message(ws, session, request_timeout)
            if reply.id != rid:
                continue
            if isinstance(reply, ServerError):
                raise AuthenticationError(f"{reply.code}: {reply.message}")
            break
    if batch:
        await ws.send(encode_request(Configure(session.next_id(), True)).decode())
    return hello


async def _recv_message(
    ws: ClientConnection, session: BaseSession, timeout: float
) -> ServerMessage:
    async with asyncio.timeout(timeout):
        while True:
            messages = session.parse(await ws.recv())
            if messages:
                return messages[0]
