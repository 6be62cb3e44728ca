"""Bounds on what one WebSocket client can make the server hold, for the direct front end.

:mod:`tickwire.realtime.fastws` applies these to each connection once the consumer has
accepted it (``DirectLink.bound``); the values come from settings (docs/protocol.md,
"Bounds"):

* **Send buffer** — the transport's write buffer pauses at ``send_buffer`` bytes and the
  kernel's socket send buffer is set to the same size (instead of growing to megabytes on
  its own). While the transport is paused, updates wait (conflated) in the outbox and the
  connection's *reading* stops too: every WebSocket ping the client sends makes a pong the
  server must hold, so a client that sends pings but never reads would otherwise grow the
  server without bound. Reading resumes when the client has read enough.
* **Read rate** — at most ``read_rate`` bytes per second from one connection (bursts of
  ``read_burst``): past it, reading pauses until the budget refills, so TCP pushes back on
  the client. Pings, pongs and messages all count.
* **Receive queue** — at most ``receive_queue`` messages waiting for the consumer; one
  read can hold many small frames, and a client that packs more than that into one read
  is flooding: it is closed with 1008.
* **Stalled reader** — :class:`StallWatch`: a connection with bytes waiting in its send
  buffers whose peer has acknowledged nothing new for ``stall_seconds`` is closed with
  4001 (slow consumer). Without it a client that stops reading is noticed only when the
  kernel buffers are full, minutes later at market-data rates.

What this module does not do: it reads no settings (the consumer passes :class:`Bounds`),
and on a platform without ``TCP_INFO``/``TIOCOUTQ`` (or a Unix socket) the stalled-reader
check is skipped — the outbox's own bounds still close a client once the transport pauses.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import socket
import struct
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "Bounds",
    "ReadBudget",
    "StallWatch",
    "Stallable",
    "bytes_acked",
    "send_progress",
    "send_queue",
]

# struct tcp_info (linux/tcp.h): tcpi_bytes_acked is a u64 at this offset (Linux >= 4.1).
_TCPI_BYTES_ACKED = 120
_TCPI_SIZE = 256


@dataclass(frozen=True, slots=True)
class Bounds:
    """Per-connection limits (one shared instance per setting values)."""

    send_buffer: int
    read_rate: float
    read_burst: int
    receive_queue: int
    stall_seconds: float


class ReadBudget:
    """Token bucket over bytes read; :meth:`spend` says how long to pause reading."""

    __slots__ = ("at", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.at = clock()

    def spend(self, nbytes: int, now: float) -> float:
        """Take ``nbytes``; return 0, or the seconds to pause before reading again."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        self.tokens -= nbytes
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


def send_queue(sock: Any) -> int | None:
    """Bytes in a socket's kernel send queue (sent but not acknowledged, or not yet sent);
    None where the kernel does not say."""
    try:
        queued = array.array("i", [0])
        fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, queued)
    except (OSError, AttributeError, ValueError):
        return None
    return queued[0]


def bytes_acked(sock: Any) -> int | None:
    """How many bytes the peer of a TCP socket has acknowledged so far (Linux's
    ``tcpi_bytes_acked``); None where the kernel does not say."""
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCPI_SIZE)
    except (OSError, AttributeError, ValueError):
        return None
    if len(raw) < _TCPI_BYTES_ACKED + 8:
        return None
    acked: int = struct.unpack_from("Q", raw, _TCPI_BYTES_ACKED)[0]
    return acked


def send_progress(sock: Any) -> tuple[int, int] | None:
    """(bytes the peer has acknowledged, bytes in the kernel send queue) of a TCP socket;
    None where the kernel does not say (not Linux, not TCP, socket gone)."""
    queued = send_queue(sock)
    acked = bytes_acked(sock) if queued is not None else None
    return None if acked is None or queued is None else (acked, queued)


class Stallable(Protocol):
    """What :class:`StallWatch` needs of a connection."""

    #: Bytes in the connection's user-space write buffer.
    def write_buffer_size(self) -> int: ...

    #: The socket, for :func:`send_progress` (None when unknown).
    def raw_socket(self) -> Any: ...

    def stalled(self, seconds: float) -> None:
        """Called once when the peer has taken nothing for ``seconds`` with data waiting."""


class _State:
    __slots__ = ("acked", "since")

    def __init__(self) -> None:
        self.acked = -1
        self.since = 0.0


class StallWatch:
    """One sweeper per event loop over every bounded connection (a timer per connection
    would cost memory on every idle one); get it with :meth:`for_loop`."""

    _by_loop: dict[asyncio.AbstractEventLoop, StallWatch] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.watched: dict[Stallable, tuple[_State, float]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._interval = 1.0

    @classmethod
    def for_loop(cls) -> StallWatch:
        loop = asyncio.get_running_loop()
        watch = cls._by_loop.get(loop)
        if watch is None:
            for old in [lp for lp in cls._by_loop if lp.is_closed()]:
                del cls._by_loop[old]
            watch = cls._by_loop[loop] = cls(loop)
        return watch

    def add(self, conn: Stallable, seconds: float) -> None:
        """Watch ``conn``: stalled after ``seconds`` without progress. Checked about
        ``seconds / 4`` apart (at most a second), so it is closed within ``seconds`` plus
        one check of the peer's last acknowledgement."""
        self.watched[conn] = (_State(), seconds)
        self._interval = min(self._interval, max(0.05, seconds / 4))
        if self._handle is None:
            self._handle = self.loop.call_later(self._interval, self._sweep)

    def discard(self, conn: Stallable) -> None:
        self.watched.pop(conn, None)

    def _sweep(self) -> None:
        self._handle = None
        now = time.monotonic()
        stalled: list[tuple[Stallable, float]] = []
        for conn, (state, seconds) in self.watched.items():
            sock = conn.raw_socket()
            queued = send_queue(sock)
            if queued is None:
                continue
            if queued == 0 and conn.write_buffer_size() == 0:
                # Nothing waits for the peer (the common, idle case: one system call).
                state.since = now
                continue
            acked = bytes_acked(sock)
            if acked is None:
                continue
            if acked != state.acked:
                state.acked = acked
                state.since = now
            elif now - state.since >= seconds:
                stalled.append((conn, seconds))
        for conn, seconds in stalled:
            self.watched.pop(conn, None)
            conn.stalled(seconds)
        if self.watched:
            self._handle = self.loop.call_later(self._interval, self._sweep)
