"""The blocking client against a real server: plain scripts, and notebooks whose event
loop is already running."""

import asyncio
import threading

import pytest

from tests.servers import free_port
from tickwire.client import AssetUpdate, Backoff, BlockingClient, ConnectionFailed

pytestmark = pytest.mark.e2e


def test_plain_script_iterates_updates(server):
    with BlockingClient(server.ws_url, heartbeat=1) as client:
        client.subscribe("AAPL")
        prices = []
        for event in client:
            if isinstance(event, AssetUpdate):
                prices.append(event.price)
                if len(prices) == 5:
                    break
        assert all(p > 0 for p in prices)
    assert client.state == "closed"


async def test_inside_a_running_event_loop_like_jupyter(server):
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError):  # what seed 000's asyncio.run does in a notebook
        asyncio.run(coro)
    coro.close()
    with BlockingClient(server.ws_url, heartbeat=1) as client:
        client.subscribe("MSFT")
        event = client.next_event(timeout=10)
        while not isinstance(event, AssetUpdate):
            event = client.next_event(timeout=10)
        assert event.symbol == "MSFT"


def test_callbacks_run_in_the_background_while_the_caller_goes_on(server):
    got = []
    done = threading.Event()

    def on_update(update):
        got.append(update.symbol)
        if len(got) >= 5:
            done.set()

    with BlockingClient(server.ws_url, heartbeat=1) as client:
        client.on(AssetUpdate, on_update)
        client.subscribe("BTC-USD")
        client.start()
        assert done.wait(20)
    assert set(got) == {"BTC-USD"}


def test_next_event_times_out_and_unreachable_servers_raise():
    with pytest.raises(ConnectionFailed, match="connection refused"):
        BlockingClient(f"ws://127.0.0.1:{free_port()}/ws/realtime/",
                       backoff=Backoff(initial=0.05, max_attempts=1))  # fmt: skip


def test_next_event_timeout(server):
    with BlockingClient(server.ws_url, heartbeat=1) as client:
        client.next_event(timeout=5)  # the "connected" status
        with pytest.raises(TimeoutError):
            client.next_event(timeout=0.2)  # nothing subscribed: nothing comes
