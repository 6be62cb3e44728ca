"""The asyncio client against a real server process: subscribe, reconnect, resume, gaps."""

import asyncio

import pytest

from tests.servers import ServerProcess, free_port
from tickwire.client import (
    AssetUpdate,
    AuthenticationError,
    Backoff,
    Client,
    ConnectionFailed,
    ConnectionStatus,
    Gap,
    RequestError,
)

from .fixtures import IDLE_TIMEOUT, Proxy

pytestmark = pytest.mark.e2e

FAST = Backoff(initial=0.1, maximum=0.5)


async def updates(client, n, symbols=None, timeout=20):
    """The next ``n`` asset updates (of ``symbols``), and every other event seen."""
    got, other = [], []
    async with asyncio.timeout(timeout):
        while len(got) < n:
            ev = await client.next_event()
            assert ev is not None, "client closed"
            if isinstance(ev, AssetUpdate) and (symbols is None or ev.symbol in symbols):
                got.append(ev)
            else:
                other.append(ev)
    return got, other


async def test_subscribe_and_receive_snapshot_then_live_updates(server):
    async with Client(server.ws_url, heartbeat=1, backoff=FAST) as client:
        positions = await client.subscribe("aapl", "BTC-USD")
        assert set(positions) == {"AAPL", "BTC-USD"} and client.symbols == ("AAPL", "BTC-USD")
        got, _ = await updates(client, 20)
        by_symbol = {s: [u.seq for u in got if u.symbol == s] for s in ("AAPL", "BTC-USD")}
        for symbol, seqs in by_symbol.items():
            assert seqs, symbol
            assert seqs[0] == positions[symbol].seq  # the snapshot comes first
            assert seqs == sorted(set(seqs))
        assert all(u.low <= u.price <= u.high for u in got)
        assert client.position("AAPL").seq == by_symbol["AAPL"][-1]


async def test_batched_frames_and_callbacks(server):
    seen = []
    async with Client(server.ws_url, heartbeat=1, batch=True) as client:
        remove = client.on(AssetUpdate, lambda u: seen.append(u.symbol))

        async def on_async(u):
            seen.append("async:" + u.symbol)

        client.on(AssetUpdate, on_async)
        await client.subscribe("SPY", "QQQ", "EUR-USD")
        got, _ = await updates(client, 12)
        assert {u.symbol for u in got} <= {"SPY", "QQQ", "EUR-USD"}
        assert seen.count("SPY") == seen.count("async:SPY") > 0
        remove()
        before = len(seen)
        await updates(client, 3)
        assert len(seen) == before + 3  # only the async callback is left


async def test_unknown_symbols_are_refused_and_the_rest_subscribed(server):
    async with Client(server.ws_url, heartbeat=1) as client:
        with pytest.raises(RequestError) as info:
            await client.subscribe("MSFT", "NOSUCH")
        assert info.value.code == "unknown_symbol" and "NOSUCH" in str(info.value)
        assert client.symbols == ("MSFT",)
        got, _ = await updates(client, 2)
        assert {u.symbol for u in got} == {"MSFT"}
        with pytest.raises(ValueError):
            await client.subscribe("not a symbol!")


async def test_unsubscribe_stops_updates(server):
    async with Client(server.ws_url, heartbeat=1) as client:
        await client.subscribe("AAPL", "MSFT")
        await updates(client, 4)
        await client.unsubscribe("AAPL")
        got, _ = await updates(client, 10)
        assert {u.symbol for u in got} == {"MSFT"}


async def test_portfolio_needs_authentication_on_this_server(server):
    async with Client(server.ws_url, heartbeat=1) as client:
        with pytest.raises(RequestError) as info:
            await client.subscribe_portfolio(1)
        assert info.value.code == "authentication_required"
        assert client.portfolios == ()


async def test_a_refused_token_is_fatal_with_a_clear_error(server):
    with pytest.raises(AuthenticationError, match="authentication_failed"):
        await Client(server.ws_url, token="wrong-token", backoff=FAST).connect()


async def test_a_wrong_path_is_fatal_with_a_clear_error(server):
    # The server answers a handshake on an unknown path with 404: no point retrying.
    client = Client(server.ws_url.replace("/ws/realtime/", "/ws/nope/"), backoff=FAST)
    with pytest.raises(ConnectionFailed, match="HTTP 404: not found"):
        await client.connect()


async def test_unreachable_server_is_retried_then_reported():
    client = Client(f"ws://127.0.0.1:{free_port()}/ws/realtime/", backoff=Backoff(
        initial=0.05, maximum=0.1, max_attempts=3))  # fmt: skip
    with pytest.raises(ConnectionFailed, match=r"connection refused.*gave up after 4 attempts"):
        await client.connect()


async def test_heartbeats_keep_an_idle_connection_open(server):
    # The server closes connections silent for IDLE_TIMEOUT s (4000); pings prevent it.
    async with Client(server.ws_url, heartbeat=1) as client:
        await client.subscribe("AAPL")
        await asyncio.sleep(IDLE_TIMEOUT + 1.5)
        assert client.reconnects == 0 and client.state == "connected"


async def test_without_heartbeats_the_idle_close_is_survived_by_reconnecting(server):
    async with Client(server.ws_url, heartbeat=60, backoff=FAST) as client:
        await client.subscribe("AAPL")
        async with asyncio.timeout(IDLE_TIMEOUT * 3):
            while True:
                ev = await client.next_event()
                if isinstance(ev, ConnectionStatus) and ev.state == "disconnected":
                    break
        assert ev.close_code == 4000
        got, _ = await updates(client, 3)  # and it resumes: still subscribed
        assert {u.symbol for u in got} == {"AAPL"} and client.reconnects == 1


async def test_network_drop_reconnects_and_resumes_without_a_gap(server):
    proxy = await Proxy(server.port).start()
    try:
        url = f"ws://127.0.0.1:{proxy.port}/ws/realtime/"
        async with Client(url, heartbeat=1, backoff=FAST) as client:
            await client.subscribe("AAPL")
            before, _ = await updates(client, 5, {"AAPL"})
            await proxy.cut()
            # Offline long enough for the feed (every 50 ms) to publish updates we miss.
            async with asyncio.timeout(10):
                while client.state == "connected":
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            await proxy.restore()
            after, other = await updates(client, 30, {"AAPL"})
        seqs = [u.seq for u in before + after]
        assert not [e for e in other if isinstance(e, Gap)]
        assert client.reconnects == 1 and client.recovered == 1
        assert seqs == sorted(set(seqs))
        # Every seq from the first to the last was delivered, except those the server
        # conflated in a live session (counted); the ones missed while offline were
        # replayed (never conflated).
        assert len(seqs) + client.conflated == seqs[-1] - seqs[0] + 1
        assert proxy.accepted == 2
    finally:
        await proxy.close()


@pytest.fixture
def own_server(tmp_path):
    srv = ServerProcess(tmp_path, port=free_port()).start()
    yield srv
    srv.stop()


async def test_server_killed_and_restarted_the_client_reports_the_gap(own_server):
    async with Client(own_server.ws_url, heartbeat=1, backoff=FAST) as client:
        await client.subscribe("AAPL", "MSFT")
        before, _ = await updates(client, 6)
        await asyncio.to_thread(own_server.kill)
        await asyncio.to_thread(own_server.start)
        events = []
        after_gap: dict[str, list[AssetUpdate]] = {"AAPL": [], "MSFT": []}
        gaps: dict[str, Gap] = {}
        async with asyncio.timeout(30):
            while min(len(v) for v in after_gap.values()) < 2:
                ev = await client.next_event()
                events.append(ev)
                if isinstance(ev, Gap):
                    gaps[ev.symbol] = ev
                elif isinstance(ev, AssetUpdate) and ev.symbol in gaps:
                    after_gap[ev.symbol].append(ev)
    # The embedded server keeps history in memory: after a restart it starts a new epoch,
    # so nothing can be replayed, and the client says so for each symbol.
    assert set(gaps) == {"AAPL", "MSFT"}
    for symbol, g in gaps.items():
        assert g.last_epoch != g.resumed_epoch and "restarted" in g.reason
        seen = [u.seq for u in before + events if isinstance(u, AssetUpdate)
                and u.symbol == symbol and u not in after_gap[symbol]]  # fmt: skip
        assert g.last_seq == max(seen)  # the last update delivered before the outage
        # The stream goes on from the new server's snapshot.
        assert after_gap[symbol][0].seq == g.resumed_seq
    states = [e.state for e in events if isinstance(e, ConnectionStatus)]
    assert "disconnected" in states and states[-1] == "connected"
    assert client.reconnects == 1 and client.gaps == 2


def _demo_token(server) -> str:
    import json
    import urllib.request

    request = urllib.request.Request(
        server.url + "/api/auth/token/",
        data=json.dumps({"username": "demo", "password": "demo"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["token"]


async def test_portfolio_stream_from_the_real_server_with_a_token(server):
    import json
    import urllib.request

    from tickwire.client import PortfolioUpdate

    token = await asyncio.to_thread(_demo_token, server)
    request = urllib.request.Request(
        server.url + "/api/portfolios/", headers={"Authorization": f"Token {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        listing = json.loads(response.read())
    portfolios = listing["results"] if isinstance(listing, dict) else listing
    pid = portfolios[0]["id"]
    async with Client(server.ws_url, token=token) as client:
        assert client.connection.authenticated
        await client.subscribe_portfolio(pid)
        updates = []
        async with asyncio.timeout(20):
            async for event in client:
                if isinstance(event, PortfolioUpdate):
                    updates.append(event)
                    if len(updates) == 2:
                        break
        assert all(u.portfolio_id == pid for u in updates)
        assert updates[0].total_value > 0 and updates[0].name == "Demo Portfolio"
