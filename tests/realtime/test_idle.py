"""The idle sweeper: silent connections are closed (4000) after WEBSOCKET_TIMEOUT.

The unit tests drive :class:`IdleWatch` with a fake clock and a fake loop, so no test
waits for real time to pass; the last one checks the consumer's close through Channels.
"""

import asyncio
from types import SimpleNamespace

import pytest
from channels.testing import WebsocketCommunicator

from tickwire.asgi import application
from tickwire.realtime import idle
from tickwire.realtime.idle import IdleWatch
from tickwire.stream.protocol import CloseCode


class FakeLoop:
    """Records call_later; the test fires the pending timer by hand."""

    def __init__(self):
        self.timers = []

    def call_later(self, delay, callback):
        self.timers.append((delay, callback))
        return SimpleNamespace(cancel=lambda: None)

    def fire(self):
        delay, callback = self.timers.pop(0)
        callback()
        return delay


class Conn:
    def __init__(self, clock):
        self.clock = clock
        self.last_received = clock.now
        self.closed = 0

    def speak(self):
        self.last_received = self.clock.now

    def idle_timeout(self):
        self.closed += 1


@pytest.fixture
def clock(monkeypatch):
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(idle, "time", SimpleNamespace(monotonic=lambda: clock.now))
    return clock


@pytest.fixture
def loop():
    return FakeLoop()


def test_a_silent_connection_is_closed_once_past_the_timeout(clock, loop):
    watch = IdleWatch(loop, lambda: 10.0)
    silent, talking = Conn(clock), Conn(clock)
    watch.add(silent)
    watch.add(talking)
    assert len(loop.timers) == 1  # one timer for the loop, not one per connection
    clock.now += 9.0
    talking.speak()
    loop.fire()
    assert silent.closed == 0  # 9 s of silence: not yet
    clock.now += 1.0
    loop.fire()
    assert silent.closed == 1 and talking.closed == 0
    assert list(watch.watched) == [talking]  # closed connections are not swept again
    clock.now += 100.0
    loop.fire()
    assert silent.closed == 1 and talking.closed == 1
    assert loop.timers == []  # nothing left to watch: no timer either


@pytest.mark.parametrize(("timeout", "interval"), [(10.0, 1.0), (2.0, 0.5), (0.02, 0.01)])
def test_the_sweep_interval_is_a_quarter_of_the_timeout_within_bounds(
    clock, loop, timeout, interval
):
    # A connection closes within timeout + one interval of its last message.
    watch = IdleWatch(loop, lambda: timeout)
    watch.add(Conn(clock))
    assert loop.fire() == interval


def test_a_discarded_connection_is_never_closed(clock, loop):
    watch = IdleWatch(loop, lambda: 5.0)
    conn = Conn(clock)
    watch.add(conn)
    watch.discard(conn)
    watch.discard(conn)  # idempotent
    clock.now += 60.0
    loop.fire()
    assert conn.closed == 0 and loop.timers == []


def test_the_timeout_is_read_at_each_sweep(clock, loop):
    timeout = {"seconds": 60.0}
    watch = IdleWatch(loop, lambda: timeout["seconds"])
    conn = Conn(clock)
    watch.add(conn)
    clock.now += 5.0
    loop.fire()
    assert conn.closed == 0
    timeout["seconds"] = 5.0  # WEBSOCKET_TIMEOUT changed while the server runs
    loop.fire()
    assert conn.closed == 1


async def test_one_watch_per_event_loop():
    here = IdleWatch.for_loop(lambda: 1.0)
    assert IdleWatch.for_loop(lambda: 2.0) is here and here.loop is asyncio.get_running_loop()

    async def other_loop():
        return IdleWatch.for_loop(lambda: 1.0)

    there = await asyncio.to_thread(asyncio.run, other_loop())
    assert there is not here


async def _connect():
    comm = WebsocketCommunicator(application, "/ws/realtime/")
    connected, _ = await comm.connect()
    assert connected and (await comm.receive_json_from())["type"] == "connection"
    return comm


async def test_idle_connection_closed_with_4000(runtime, settings):
    settings.WEBSOCKET_TIMEOUT = 0.2
    comm = await _connect()
    out = await comm.receive_output(timeout=2)
    assert out["type"] == "websocket.close" and out["code"] == CloseCode.IDLE_TIMEOUT


async def test_a_client_that_pings_stays_open(runtime, settings):
    settings.WEBSOCKET_TIMEOUT = 0.3
    comm = await _connect()
    for _ in range(6):  # 0.6 s in all, twice the timeout
        await asyncio.sleep(0.1)
        await comm.send_to(text_data='{"type": "ping"}')
        assert (await comm.receive_json_from(timeout=2))["type"] == "pong"
    await comm.disconnect()
