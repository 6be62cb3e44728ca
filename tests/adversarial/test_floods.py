"""Memory under floods: what a client can make the server hold.

A message flood (JSON requests as fast as the socket takes them, up to the 64 KiB limit
each) is answered by the rate limit: ``rate_limited``, then close 1008. A ping flood
(WebSocket ping frames from a client that never reads the pongs) must be bounded too:
the websockets library's own server stops reading after a few MB of unanswered pongs.
The server's resident memory is measured before, at the peak and after, and reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

import pytest

from tests.servers import wait_until

from .figures import report, rss_mib
from .wire import OP_PING, OP_TEXT, RawSocket, active_connections, encode_frame

pytestmark = pytest.mark.e2e

#: Bounds a flood runs to: whichever comes first.
FLOOD_SECONDS = 10.0
FLOOD_BYTES = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tickwire_server):
    return tickwire_server


class PeakRss:
    """Samples a process's RSS every 50 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_mib(self.pid))
            except (OSError, RuntimeError):
                return
            self._stop.wait(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def flood(raw: RawSocket, frame: bytes, seconds: float = FLOOD_SECONDS) -> tuple[int, str]:
    """Send ``frame`` over and over, never reading, within the flood bounds.

    Returns (bytes sent, why it stopped): the bounds, the server no longer reading (a send
    blocked for 2 s: backpressure), or the connection closed.
    """
    raw.sock.settimeout(2.0)
    sent = 0
    deadline = time.monotonic() + seconds
    batch = frame * max(1, 65536 // len(frame))
    while sent < FLOOD_BYTES:
        if time.monotonic() > deadline:
            return sent, "time bound"
        try:
            raw.sock.sendall(batch)
        except TimeoutError:
            return sent, "server stopped reading"
        except OSError:
            return sent, "connection closed"
        sent += len(batch)
    return sent, "byte bound"


@pytest.fixture(scope="module")
def message_flood(server):
    """Four clients send requests of nearly the largest accepted size (each an error to
    parse and answer), never reading; then each reads what it was sent back."""
    pid = server.proc.pid
    before = rss_mib(pid)
    junk = b'{"type": "subscribe_asset", "data": {"symbol": "' + b"x" * 60000 + b'"}}'
    frame = encode_frame(OP_TEXT, junk)
    flooders = [RawSocket.connect(server.port) for _ in range(4)]
    results: list[tuple[int, str]] = []
    try:
        with PeakRss(pid) as peak:
            results.extend(
                asyncio.run(
                    _gather_threads(*(lambda raw=raw: flood(raw, frame, 5.0) for raw in flooders))
                )
            )
        # A closed flooder finds the close frame after the replies; an open one times out.
        endings = asyncio.run(
            _gather_threads(*(lambda raw=raw: raw.drain(timeout=3) for raw in flooders))
        )
    finally:
        for raw in flooders:
            raw.close()
    wait_until(lambda: active_connections(server.url) == 0, 20, "every flooder gone")
    after = rss_mib(pid)
    sent = sum(r[0] for r in results)
    report(
        "message flood",
        f"4 clients sending 60 KB requests for 5 s without reading: {sent / 2**20:.0f} MiB "
        f"sent, stopped by {sorted({r[1] for r in results})}, ended with "
        f"{sorted({f'{code} ({how})' for _, code, how in endings})}; server RSS "
        f"{before:.0f} -> peak {peak.peak:.0f} -> {after:.0f} MiB",
    )
    return {"before": before, "peak": peak.peak, "endings": endings}


async def _gather_threads(*calls):
    return await asyncio.gather(*(asyncio.to_thread(call) for call in calls))


def test_message_flood_leaves_memory_bounded(message_flood):
    assert message_flood["peak"] - message_flood["before"] < 256


def test_large_requests_are_held_back_by_the_read_budget(message_flood):
    # 60 KB requests never reach the message rate limit: the read budget
    # (TICKWIRE_READ_BYTES_PER_SECOND) pauses reading first, so TCP pushes back on the
    # flooder, which is neither answered faster nor closed.
    assert all(how != "connection closed" for _, _, how in message_flood["endings"])


def test_requests_at_many_times_the_rate_limit_are_closed_with_1008(server):
    # docs/protocol.md: 1008 for a client that kept sending at more than twice the limit
    # (50/s by default): here ~20x, small requests well inside the read budget.
    raw = RawSocket.connect(server.port)
    try:
        raw.recv_json("connection")
        burst = encode_frame(OP_TEXT, b'{"type": "ping"}') * 10
        raw.sock.settimeout(2.0)
        sent = 0
        deadline = time.monotonic() + 10.0
        with contextlib.suppress(OSError):
            while time.monotonic() < deadline:
                raw.sock.sendall(burst)
                sent += 10
                time.sleep(0.01)
        texts, code, how = raw.drain(timeout=5)
    finally:
        raw.close()
    report("rate flood", f"{sent} pings at ~1,000/s: {texts} answers, then {code} ({how})")
    assert code == 1008, (code, how)


def test_ping_flood_from_a_client_that_never_reads_is_bounded(server):
    pid = server.proc.pid
    before = rss_mib(pid)
    raw = RawSocket.connect(server.port, rcvbuf=4096)
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    try:
        with PeakRss(pid) as peak:
            sent, why = flood(raw, encode_frame(OP_PING, b"p" * 125))
        time.sleep(1)
        peak_after = max(peak.peak, rss_mib(pid))
    finally:
        raw.close()
    report(
        "ping flood",
        f"one client sending 125-byte pings without reading: {sent / 2**20:.0f} MiB sent, "
        f"stopped by {why}; server RSS {before:.0f} -> peak {peak_after:.0f} MiB",
    )
    # Pending pongs are bounded: the server stops reading (backpressure) or closes.
    assert peak_after - before < 64


@pytest.mark.soak
def test_flood_rounds_leave_no_growth(server):
    """Rounds of 20 clients flooding small requests; the server's memory after each round
    returns to a plateau."""
    pid = server.proc.pid
    frame = encode_frame(OP_TEXT, b'{"type": "ping"}')
    plateau = []
    for _ in range(4):
        flooders = [RawSocket.connect(server.port) for _ in range(20)]
        threads = [threading.Thread(target=flood, args=(raw, frame, 5.0)) for raw in flooders]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for raw in flooders:
            raw.close()
        wait_until(lambda: active_connections(server.url) == 0, 30, "flooders gone")
        plateau.append(rss_mib(pid))
    report("message flood rounds", " -> ".join(f"{m:.0f}" for m in plateau) + " MiB")
    assert plateau[-1] - plateau[1] < 64
