"""Client behaviour the real server shows only on failure, or that needs a scripted peer:
portfolio streams, fatal close codes, refused handshakes, malformed frames, other feeds.

These use small WebSocket servers written here that follow the documented message shapes;
the portfolio stream against the real server is in test_client.py.
"""

import asyncio
import contextlib
import json

import pytest
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from tickwire.client import (
    AssetUpdate,
    Backoff,
    BlockingClient,
    Client,
    ConnectionFailed,
    Gap,
    PortfolioUpdate,
    RawFeed,
    RequestError,
    ServerClosed,
    ServerMessage,
    StreamPosition,
)
from tickwire.stream import builders
from tickwire.stream import protocol as p

FAST = Backoff(initial=0.05, maximum=0.2, max_attempts=3)


@contextlib.asynccontextmanager
async def fake(handler, **kw):
    async with serve(handler, "127.0.0.1", 0, **kw) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws/realtime/"


def hello():
    return p.encode("connection", {"status": "connected", "connection_id": "c1",
                                   "authenticated": True, "user_id": 1}).decode()  # fmt: skip


async def portfolio_server(ws):
    await ws.send(hello())
    async for raw in ws:
        req = p.parse_request(raw)
        if isinstance(req, p.SubscribePortfolio):
            if req.portfolio_id != 123:
                await ws.send(builders.error(p.ErrorCode.PORTFOLIO_NOT_FOUND,
                              f"portfolio {req.portfolio_id} not found",
                              request_id=req.id).decode())  # fmt: skip
                continue
            await ws.send(p.encode("subscribed", {"portfolio_id": 123}, id=req.id).decode())
            for i in range(3):
                data = {"portfolio_id": 123, "name": "Growth", "total_value": 50000.0 + i,
                        "daily_change": 125.5, "daily_change_percent": 0.25}  # fmt: skip
                await ws.send(p.seal(p.encode_body("portfolio_update", data), i + 1).decode())
        elif isinstance(req, p.UnsubscribePortfolio):
            await ws.send(p.encode("unsubscribed", {"portfolio_id": 123}, id=req.id).decode())


async def test_portfolio_subscription_and_updates():
    async with fake(portfolio_server) as url, Client(url, token="t") as client:
        await client.subscribe_portfolio(123)
        got = [await client.next_event(5) for _ in range(4)]
        updates = [e for e in got if isinstance(e, PortfolioUpdate)]
        assert [u.total_value for u in updates] == [50000.0, 50001.0, 50002.0]
        assert updates[0].name == "Growth" and client.portfolios == (123,)
        with pytest.raises(RequestError) as info:
            await client.subscribe_portfolio(7)
        assert info.value.code == "portfolio_not_found" and client.portfolios == (123,)
        await client.unsubscribe_portfolio(123)
        assert client.portfolios == ()


@pytest.mark.parametrize("code", [4002, 4003, 1008])
async def test_fatal_close_codes_stop_the_client_with_a_clear_error(code):
    async def handler(ws):
        await ws.send(hello())
        await ws.recv()
        await ws.close(code, "policy")

    async with fake(handler) as url:
        client = Client(url, backoff=FAST)
        await client.connect()
        with pytest.raises(ServerClosed) as info:
            await client.subscribe("AAPL")
        assert info.value.code == code
        with pytest.raises(ServerClosed):
            async for _ in client:
                pass
        assert client.state == "closed"
        await client.close()


async def test_a_4xx_handshake_refusal_is_fatal_at_once():
    calls = []

    def refuse(connection, request):
        calls.append(request.path)
        return Response(404, "Not Found", Headers(), b"nope")

    async with fake(lambda ws: None, process_request=refuse) as url:
        with pytest.raises(ConnectionFailed, match="HTTP 404: not found: check the path"):
            await Client(url, backoff=Backoff(initial=0.05)).connect()
    assert len(calls) == 1


async def test_malformed_frames_are_skipped_and_counted():
    async def handler(ws):
        await ws.send(hello())
        req = p.parse_request(await ws.recv())
        streams = {"AAPL": {"seq": 1, "epoch": "e"}}
        await ws.send(p.encode("subscribed", {"symbols": ["AAPL"], "streams": streams},
                               id=req.id).decode())  # fmt: skip
        await ws.send("not json")
        await ws.send('{"type": "asset_update", "data": {"symbol": "AAPL", "price": "x"}}')
        await ws.send(p.seal(p.encode_body("asset_update", {"symbol": "AAPL", "price": 1.5}),
                             1).decode())  # fmt: skip
        await ws.wait_closed()

    async with fake(handler) as url, Client(url) as client:
        await client.subscribe("AAPL")
        event = None
        while not isinstance(event, AssetUpdate):
            event = await client.next_event(5)
        assert event.price == 1.5 and client.malformed == 2


async def test_raw_feed_seed_000_style():
    """Another JSON feed: its own subscribe message, prices under its own field names."""
    seen = []

    async def feed(ws):
        sub = json.loads(await ws.recv())
        seen.append(sub)
        for i in range(5):
            await ws.send(json.dumps({"stream": sub["params"][0], "data": {"p": str(100 + i)}}))
        await ws.wait_closed()

    raw = RawFeed(subscribe='{"method": "SUBSCRIBE", "params": "{symbols}"}',
                  price_paths=("data.p",), symbol_paths=("stream",))  # fmt: skip
    async with fake(feed) as url, Client(url, raw=raw) as client:
        await client.subscribe("btcusdt")
        prices = []
        while len(prices) < 5:
            ev = await client.next_event(5)
            if isinstance(ev, AssetUpdate):
                assert ev.symbol == "btcusdt" and ev.seq is None
                prices.append(ev.price)
    assert seen == [{"method": "SUBSCRIBE", "params": ["btcusdt"]}]
    assert prices == [100.0, 101.0, 102.0, 103.0, 104.0]


async def test_raw_feed_passes_other_messages_on():
    async def feed(ws):
        await ws.recv()
        await ws.send('{"event": "heartbeat"}')
        await ws.wait_closed()

    async with fake(feed) as url, Client(url, raw=RawFeed()) as client:
        await client.subscribe("X")
        ev = None
        while not (isinstance(ev, ServerMessage) and ev.data.get("event") == "heartbeat"):
            ev = await client.next_event(5)


@pytest.mark.parametrize("template", ["not json", "[1, 2]"])
def test_bad_raw_templates_are_refused(template):
    with pytest.raises(ValueError, match="template"):
        RawFeed(subscribe=template)


async def test_blocking_client_works_inside_a_running_event_loop():
    """As in Jupyter: an event loop is running in this thread, and asyncio.run would fail."""
    asyncio.get_running_loop()
    async with fake(portfolio_server) as url:
        # The fake server runs on this loop, which the blocking calls below would stall,
        # so drive the blocking client from a worker thread, as a notebook cell's thread
        # would be independent of the server.
        def use() -> list[float]:
            with BlockingClient(url, token="t") as client:
                client.subscribe_portfolio(123)
                values = []
                for event in client:
                    if isinstance(event, PortfolioUpdate):
                        values.append(event.total_value)
                        if len(values) == 3:
                            break
                return values

        assert await asyncio.to_thread(use) == [50000.0, 50001.0, 50002.0]


async def test_a_server_error_on_the_handshake_is_retried_then_reported():
    attempts = []

    def unavailable(connection, request):
        attempts.append(request.path)
        return Response(503, "Service Unavailable", Headers(), b"starting up")

    async with fake(lambda ws: ws.wait_closed(), process_request=unavailable) as url:
        client = Client(url, backoff=FAST)
        with pytest.raises(ConnectionFailed, match="HTTP 503"):
            await client.connect()
    assert len(attempts) == 4  # the first try and three retries


def asset_frame(symbol, price, seq):
    body = p.encode_body("asset_update", {"symbol": symbol, "price": price})
    return p.seal(body, seq).decode()


async def test_a_resync_to_a_new_epoch_is_a_gap_and_the_stream_goes_on():
    """Redis lost the channel (FLUSHALL, restart): the server sends ``resync``, a snapshot
    and updates whose seqs restart at 1 in a new epoch. They must all arrive, and the next
    resume must name the new epoch."""
    resumes = []

    async def handler(ws):
        await ws.send(hello())
        req = p.parse_request(await ws.recv())
        if resumes or req.since:  # the second connection: record the resume, then idle
            resumes.append((dict(req.since), req.epoch_of("AAPL")))
            await ws.wait_closed()
            return
        resumes.append(None)
        streams = {"AAPL": {"seq": 5, "epoch": "old"}}
        await ws.send(p.encode("subscribed", {"symbols": ["AAPL"], "streams": streams},
                               id=req.id).decode())  # fmt: skip
        for seq in (5, 6, 7):
            await ws.send(asset_frame("AAPL", 100.0 + seq, seq))
        resync = {"channel": "asset.AAPL", "symbol": "AAPL", "seq": 1, "epoch": "new",
                  "recovered": False, "reason": "epoch_changed"}  # fmt: skip
        await ws.send(p.encode("resync", resync).decode())
        for seq in (1, 2, 3):
            await ws.send(asset_frame("AAPL", 200.0 + seq, seq))
        await ws.close(1001, "restarting")

    async with fake(handler) as url, Client(url, backoff=FAST) as client:
        await client.subscribe("AAPL")
        seen = []
        async with asyncio.timeout(5):
            while len(resumes) < 2 or client.state != "connected":
                with contextlib.suppress(TimeoutError):
                    event = await client.next_event(0.05)
                    if isinstance(event, (AssetUpdate, Gap)):
                        seen.append(event)
        assert [getattr(e, "seq", None) for e in seen] == [5, 6, 7, None, 1, 2, 3]
        assert seen[3] == Gap("AAPL", 7, "old", 1, "new")
        assert client.gaps == 1 and client.duplicates == 0
        assert client.position("AAPL") == StreamPosition(3, "new")
    assert resumes[1] == ({"AAPL": 3}, "new")


def drained_server(connections):
    """Sends AAPL seq 1 (then, on a resume, seq 2), and closes the first connection with
    1012 as a draining node does; records what each connection asked for."""

    async def handler(ws):
        connections.append([])
        first = len(connections) == 1
        await ws.send(hello())
        async for raw in ws:
            req = p.parse_request(raw)
            connections[-1].append(req)
            if not isinstance(req, p.SubscribeAssets):
                continue
            resumed = bool(req.since)
            stream = {"seq": 2 if resumed else 1, "epoch": "e1"}
            if resumed:
                stream["recovered"] = True
            await ws.send(p.encode("subscribed", {"symbols": ["AAPL"], "streams": {"AAPL": stream}},
                                   id=req.id).decode())  # fmt: skip
            body = p.encode_body("asset_update", {"symbol": "AAPL", "price": 150.0 + stream["seq"]})
            await ws.send(p.seal(body, stream["seq"]).decode())
            if first:
                await ws.close(1012, "server restarting")
                return

    return handler


async def test_a_1012_close_is_retried_at_once_and_the_stream_resumes():
    connections = []
    # An hour's backoff: only an immediate reconnect lets this test finish.
    slow = Backoff(initial=3600, maximum=3600)
    async with fake(drained_server(connections)) as url, Client(url, backoff=slow) as client:
        await client.subscribe("AAPL")
        events = []

        def seen():
            resumed = any(isinstance(e, AssetUpdate) and e.seq == 2 for e in events)
            return resumed and any(getattr(e, "state", None) == "disconnected" for e in events)

        while not seen():
            assert len(events) < 20
            events.append(await client.next_event(10))
        assert [e.seq for e in events if isinstance(e, AssetUpdate)] == [1, 2]
        drops = [e for e in events if getattr(e, "state", None) == "disconnected"]
        assert drops and drops[0].close_code == 1012 and drops[0].retry_in == 0.0
        resume = next(r for r in connections[1] if isinstance(r, p.SubscribeAssets))
        assert resume.since == {"AAPL": 1}


async def test_a_server_that_drains_every_connection_gets_one_immediate_retry_then_backoff():
    attempts = []

    async def handler(ws):
        attempts.append(1)
        await ws.send(hello())
        await ws.close(1012, "server restarting")

    async with fake(handler) as url:
        client = Client(url, backoff=Backoff(initial=0.05, maximum=0.05, max_attempts=2))
        await client.connect()
        states = []
        with contextlib.suppress(ConnectionFailed):
            async for event in client:
                if getattr(event, "state", None) == "disconnected":
                    states.append(event.retry_in)
        await client.close()
    assert states[0] == 0.0 and all(delay > 0 for delay in states[1:])
    assert len(states) >= 2


async def test_a_resume_answered_internal_error_is_asked_again_and_recovers():
    # The first connection ends after seq 2; the resume on the second is answered
    # internal_error once (a node under a reconnect storm), then recovered.
    connections = []

    async def flaky(ws):
        connections.append(ws)
        await ws.send(hello())
        failed = False
        async for raw in ws:
            req = p.parse_request(raw)
            if not isinstance(req, p.SubscribeAssets):
                continue
            if len(connections) == 1:
                data = {"symbols": ["AAPL"], "streams": {"AAPL": {"seq": 1, "epoch": "e"}}}
                await ws.send(p.encode("subscribed", data, id=req.id).decode())
                for seq in (1, 2):
                    await ws.send(p.seal(p.encode_body("asset_update", {"symbol": "AAPL",
                                  "price": 100.0 + seq}), seq).decode())  # fmt: skip
                await ws.close()
            elif not failed:
                failed = True
                await ws.send(builders.error(p.ErrorCode.INTERNAL_ERROR, "internal error",
                              request_id=req.id).decode())  # fmt: skip
            else:
                assert req.since == {"AAPL": 2} and req.epoch == "e"
                streams = {"AAPL": {"seq": 3, "epoch": "e", "recovered": True}}
                data = {"symbols": ["AAPL"], "streams": streams}
                await ws.send(p.encode("subscribed", data, id=req.id).decode())
                await ws.send(p.seal(p.encode_body("asset_update", {"symbol": "AAPL",
                              "price": 103.0}), 3).decode())  # fmt: skip

    async with fake(flaky) as url, Client(url, backoff=FAST) as client:
        await client.subscribe("AAPL")
        seen = []
        while len(seen) < 3:
            event = await client.next_event(10)
            if isinstance(event, AssetUpdate):
                seen.append(event.seq)
        assert seen == [1, 2, 3] and client.symbols == ("AAPL",) and client.gaps == 0
