"""Per-connection bounds on their own: the read budget and the stalled-reader sweep."""

from __future__ import annotations

import asyncio
import socket

from tickwire.realtime import bounds as bounds_module
from tickwire.realtime.bounds import ReadBudget, StallWatch, send_progress


def test_the_read_budget_pauses_for_exactly_what_was_overspent():
    budget = ReadBudget(rate=1000, burst=2000, clock=lambda: 0.0)
    assert budget.spend(1500, now=0.0) == 0.0
    assert budget.spend(1500, now=0.0) == 1.0  # 1000 bytes over at 1000 bytes/s
    assert budget.spend(0, now=1.0) == 0.0  # refilled
    assert budget.spend(10_000, now=100.0) == 8.0  # refills only up to the burst


def test_send_progress_reads_acknowledged_and_queued_bytes_of_a_tcp_socket():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        with socket.create_connection(srv.getsockname()) as client:
            conn, _ = srv.accept()
            with conn:
                acked, queued = send_progress(conn)
                conn.sendall(b"x" * 1000)
                client.recv(1000)
                acked_after = acked
                for _ in range(100):  # the ACK may trail the data by a moment
                    acked_after, queued = send_progress(conn)
                    if acked_after >= acked + 1000:
                        break
                assert acked_after >= acked + 1000 and queued == 0
    assert send_progress(object()) is None


class Conn:
    """A connection as the sweep sees it: bytes queued for the peer, bytes it acknowledged."""

    def __init__(self, acked, queued, advancing=False):
        self.acked = acked
        self.queued = queued
        self.advancing = advancing
        self.stalled_after: float | None = None

    def next_acked(self):
        if self.advancing:  # the peer acknowledges something between any two looks
            self.acked += 1
        return self.acked

    def write_buffer_size(self):
        return 0

    def raw_socket(self):
        return self

    def stalled(self, seconds):
        self.stalled_after = seconds


async def test_a_connection_whose_peer_acknowledges_nothing_is_reported_once(monkeypatch):
    monkeypatch.setattr(bounds_module, "send_queue", lambda conn: conn.queued)
    monkeypatch.setattr(bounds_module, "bytes_acked", lambda conn: conn.next_acked())
    watch = StallWatch(asyncio.get_running_loop())
    reading = Conn(100, 50, advancing=True)  # data queued, the peer keeps acknowledging
    stuck = Conn(100, 50)  # data queued, nothing new acknowledged
    idle = Conn(100, 0)  # nothing queued: never stalled
    for conn in (reading, stuck, idle):
        watch.add(conn, 0.2)
    for _ in range(40):  # bounded: 40 sweeps of 0.05 s
        await asyncio.sleep(0.05)
        if stuck.stalled_after is not None:
            break
    assert stuck.stalled_after == 0.2
    assert reading.stalled_after is None and idle.stalled_after is None
    assert stuck not in watch.watched and reading in watch.watched
    for conn in (reading, idle):
        watch.discard(conn)
