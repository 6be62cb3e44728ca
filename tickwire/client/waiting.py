"""Callers of a client waiting on the server: for the answer to a request, or for their
subscriptions to be confirmed or refused.

The session decides what answers what (:meth:`~tickwire.client.sansio.BaseSession.answers`,
:meth:`~tickwire.client.sansio.BaseSession.settled`); this holds the futures and the
condition callers wait on, and wakes them when the driver says the session changed. It
does not send or read anything itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tickwire.stream.messages import ServerMessage

from .sansio import Answer, BaseSession, Outgoing

__all__ = ["Waiters"]


class Waiters:
    """Futures for awaited requests, by request id, and a condition for subscriptions."""

    def __init__(self, session: BaseSession) -> None:
        self._session = session
        self._futures: dict[int, asyncio.Future[ServerMessage]] = {}
        self._changed: asyncio.Condition | None = None

    def start(self) -> None:
        """Allow waiting (on the running event loop)."""
        self._changed = asyncio.Condition()

    async def notify(self) -> None:
        """Wake the callers waiting for subscriptions to check again."""
        cond = self._changed
        if cond is not None:
            async with cond:
                cond.notify_all()

    def answer(self, answers: list[Answer]) -> None:
        """Resolve the futures of answered requests."""
        for answer in answers:
            future = self._futures.get(answer.id)
            if future is None or future.done():
                continue
            if answer.error is not None:
                future.set_exception(answer.error)
            else:
                assert answer.reply is not None
                future.set_result(answer.reply)

    async def request(
        self, send: Callable[[str], Awaitable[None]], outgoing: list[Outgoing], timeout: float
    ) -> None:
        """Send ``outgoing`` and wait up to ``timeout`` seconds for the answers to the
        awaited requests among them.

        Raises what answered them with an error (e.g. :class:`RequestError`, or
        :class:`ConnectionFailed` when the connection was lost) and ``TimeoutError``.
        """
        ids = [o.awaited for o in outgoing if o.awaited is not None]
        loop = asyncio.get_running_loop()
        for rid in ids:
            self._futures[rid] = loop.create_future()
        try:
            for o in outgoing:
                await send(o.text)
            for rid in ids:
                await asyncio.wait_for(self._futures[rid], timeout)
        finally:
            for rid in ids:
                self._futures.pop(rid, None)

    async def settle(
        self, keys: list[str] | list[int], stop: Callable[[], bool], timeout: float
    ) -> None:
        """Wait until every symbol or portfolio id in ``keys`` is confirmed or refused, or
        ``stop()`` is true.

        Raises ``RuntimeError`` before :meth:`start`, ``TimeoutError`` after ``timeout``
        seconds (the subscriptions stay wanted).
        """
        session = self._session
        if not stop() and session.settled(keys):
            return
        cond = self._changed
        if cond is None:
            raise RuntimeError("call connect() (or use 'async with') before subscribing")
        session.wait_on(keys)
        try:
            async with asyncio.timeout(timeout), cond:
                await cond.wait_for(lambda: stop() or session.settled(keys))
        except TimeoutError:
            raise TimeoutError(
                f"the server did not confirm the subscription within {timeout:g} s "
                "(it stays registered and is sent again on reconnect)"
            ) from None
        finally:
            session.stop_waiting(keys)
