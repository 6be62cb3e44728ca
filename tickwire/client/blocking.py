"""A blocking client for plain scripts and Jupyter: the asyncio client on its own thread.

:class:`BlockingClient` runs a :class:`~tickwire.client.Client` on an event loop in a
background thread and hands calls to it. It never touches the caller's event loop, so it
works where one is already running — in a Jupyter notebook, where ``asyncio.run`` fails.
(In a notebook you can also ``await`` the asyncio :class:`Client` directly.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from tickwire.stream.messages import StreamPosition

from .connection import Client
from .events import Event

__all__ = ["BlockingClient"]

T = TypeVar("T")
E = TypeVar("E")


class BlockingClient:
    """The blocking twin of :class:`~tickwire.client.Client`; takes the same arguments.

    Connects on construction (raising what :meth:`Client.connect` raises). Consume events
    with ``for event in client`` (or :meth:`next_event` with a timeout), or register
    callbacks with :meth:`on` and call :meth:`start` to have them called on the background
    thread while your code — or your notebook — goes on. Close it with :meth:`close` or a
    ``with`` block.
    """

    def __init__(self, url: str, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tickwire-client", daemon=True
        )
        self._thread.start()
        self._runner: concurrent.futures.Future[None] | None = None
        try:
            self.client = Client(url, **options)
            self._call(self.client.connect())
        except BaseException:
            self._stop_loop()
            raise

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if not self._thread.is_alive():
            coro.close()
            raise RuntimeError("the client is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except (KeyboardInterrupt, concurrent.futures.TimeoutError):
            future.cancel()
            raise

    def subscribe(self, *symbols: str) -> dict[str, StreamPosition]:
        """See :meth:`Client.subscribe`."""
        return self._call(self.client.subscribe(*symbols))

    def unsubscribe(self, *symbols: str) -> None:
        """See :meth:`Client.unsubscribe`."""
        self._call(self.client.unsubscribe(*symbols))

    def subscribe_portfolio(self, portfolio_id: int) -> None:
        """See :meth:`Client.subscribe_portfolio`."""
        self._call(self.client.subscribe_portfolio(portfolio_id))

    def unsubscribe_portfolio(self, portfolio_id: int) -> None:
        """See :meth:`Client.unsubscribe_portfolio`."""
        self._call(self.client.unsubscribe_portfolio(portfolio_id))

    def on(self, kind: type[E], callback: Callable[[E], object]) -> Callable[[], None]:
        """See :meth:`Client.on`. Callbacks run on the client's background thread."""
        return self.client.on(kind, callback)

    def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event, or None once the client is closed. Raises ``TimeoutError``
        when none arrives within ``timeout`` seconds."""
        try:
            return self._call(self.client.next_event(), timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"no event within {timeout:g} s") from None

    def __iter__(self) -> Iterator[Event]:
        """Events in order until the client is closed (raises the fatal error, if any)."""
        while True:
            event = self.next_event()
            if event is None:
                return
            yield event

    def start(self) -> None:
        """Consume events on the background thread, calling the callbacks registered with
        :meth:`on`, until :meth:`close`. Do not iterate the client as well."""
        if self._runner is None:
            self._runner = asyncio.run_coroutine_threadsafe(self.client.run(), self._loop)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the background consumer started by :meth:`start` ends (the client
        was closed, or failed: its error is raised). ``TimeoutError`` after ``timeout``."""
        if self._runner is None:
            raise RuntimeError("call start() first")
        try:
            self._runner.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"still running after {timeout:g} s") from None

    @property
    def state(self) -> str:
        return self.client.state

    def close(self) -> None:
        """Close the connection and stop the background thread. Idempotent."""
        if self._thread.is_alive():
            try:
                self._call(self.client.close(), 10)
            finally:
                self._stop_loop()

    def _stop_loop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()

    def __enter__(self) -> BlockingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A notebook user who just drops the object should not leave a thread behind.
        try:
            if self._thread.is_alive():
                self._loop.call_soon_threadsafe(self._loop.stop)
        except Exception:
            pass
