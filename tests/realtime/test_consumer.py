"""The /ws/realtime/ consumer through Channels' WebsocketCommunicator (no server)."""

import asyncio

import orjson
import pytest
from channels.testing import WebsocketCommunicator

from tickwire.asgi import application
from tickwire.stream.protocol import CloseCode, encode_body


async def connect(headers=None):
    comm = WebsocketCommunicator(application, "/ws/realtime/", headers=headers or [])
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from()
    assert hello["type"] == "connection"
    return comm, hello


async def send(comm, obj):
    await comm.send_to(text_data=obj if isinstance(obj, str) else orjson.dumps(obj).decode())


async def recv(comm, timeout=2):
    return await comm.receive_json_from(timeout=timeout)


async def publish(rt, symbol, price):
    body = encode_body("asset_update", {"symbol": symbol, "price": price}, timestamp="T")
    return await rt.broker.publish("asset." + symbol, body)


async def test_connection_message_in_seed_shape(runtime):
    comm, hello = await connect()
    assert hello["data"]["status"] == "connected"
    assert hello["data"]["authenticated"] is False and hello["data"]["user_id"] is None
    assert len(hello["data"]["connection_id"]) == 36
    assert hello["timestamp"].endswith("Z")
    await comm.disconnect()


async def test_ping_pong_echoes_id(runtime):
    comm, _ = await connect()
    await send(comm, {"type": "ping", "data": {}, "id": 9})
    pong = await recv(comm)
    assert pong["type"] == "pong" and pong["id"] == 9
    await comm.disconnect()


async def test_subscribe_gets_reply_then_db_snapshot_then_live_updates(runtime):
    comm, _ = await connect()
    await send(comm, {"type": "subscribe_asset", "data": {"symbol": "AAPL"}})
    reply = await recv(comm)
    assert reply["type"] == "subscribed" and reply["data"]["symbols"] == ["AAPL"]
    assert reply["data"]["subscription_count"] == 1
    snap = await recv(comm)
    assert snap["type"] == "asset_update" and snap["data"]["symbol"] == "AAPL"
    assert snap["data"]["price"] > 0 and snap["seq"] == 0
    got = []
    for price in (1.0, 2.0, 3.0):
        await publish(runtime, "AAPL", price)
        got.append(await recv(comm))
    assert [m["seq"] for m in got] == [1, 2, 3]
    assert got[-1]["data"]["price"] == 3.0
    await comm.disconnect()


async def test_updates_published_faster_than_written_are_conflated_to_latest(runtime):
    comm, _ = await connect()
    await send(comm, {"type": "subscribe_asset", "data": {"symbol": "AAPL"}})
    await recv(comm)
    await recv(comm)
    for price in (1.0, 2.0, 3.0):  # no await between: the writer cannot run
        await publish(runtime, "AAPL", price)
    latest = await recv(comm)
    assert latest["seq"] == 3 and latest["data"]["price"] == 3.0
    assert await comm.receive_nothing(timeout=0.1)
    await comm.disconnect()


async def test_snapshot_comes_from_latest_publication(runtime):
    await publish(runtime, "MSFT", 10.0)
    await publish(runtime, "MSFT", 11.0)
    comm, _ = await connect()
    await send(comm, {"type": "subscribe", "symbol": "msft"})  # short form
    reply = await recv(comm)
    assert reply["data"]["streams"]["MSFT"]["seq"] == 2
    snap = await recv(comm)
    assert snap["seq"] == 2 and snap["data"]["price"] == 11.0
    await comm.disconnect()


async def test_resume_since_replays_missed_updates(runtime):
    for p in range(1, 6):
        await publish(runtime, "NVDA", float(p))
    epoch = runtime.broker.epoch
    comm, _ = await connect()
    await send(
        comm, {"type": "subscribe_asset", "data": {"symbol": "NVDA", "since": 2, "epoch": epoch}}
    )
    reply = await recv(comm)
    assert reply["data"]["streams"]["NVDA"] == {"seq": 5, "epoch": epoch, "recovered": True}
    assert [(await recv(comm))["seq"] for _ in range(3)] == [3, 4, 5]
    await send(
        comm, {"type": "subscribe_asset", "data": {"symbol": "TSLA", "since": 3, "epoch": "gone"}}
    )
    reply = await recv(comm)
    assert reply["data"]["streams"]["TSLA"]["recovered"] is False
    snap = await recv(comm)
    assert snap["type"] == "asset_update" and snap["data"]["symbol"] == "TSLA"
    await comm.disconnect()


async def test_unsubscribe_stops_updates(runtime):
    comm, _ = await connect()
    await send(comm, {"type": "subscribe_asset", "data": {"symbols": ["AAPL", "SPY"]}})
    await recv(comm)
    await recv(comm)
    await recv(comm)
    await send(comm, {"type": "unsubscribe_asset", "data": {"symbol": "AAPL"}})
    reply = await recv(comm)
    assert reply["type"] == "unsubscribed" and reply["data"]["subscription_count"] == 1
    await publish(runtime, "AAPL", 5.0)
    await publish(runtime, "SPY", 6.0)
    msg = await recv(comm)
    assert msg["data"]["symbol"] == "SPY"
    await comm.disconnect()
    await asyncio.sleep(0.05)
    assert runtime.node.hub.subscription_count() == 0


@pytest.mark.parametrize(
    "payload, code",
    [
        ("{oops", "invalid_json"),
        ("[1]", "invalid_message"),
        ('{"type":"fly"}', "unknown_type"),
        ('{"type":"subscribe_asset","data":{}}', "missing_field"),
        ('{"type":"subscribe_asset","data":{"symbol":42}}', "invalid_field"),
        ('{"type":"subscribe_asset","data":{"symbol":"ZZZZ"}}', "unknown_symbol"),
        ('{"type":"subscribe_portfolio","data":{"portfolio_id":1}}', "authentication_required"),
        ("[" * 30000 + "]" * 30000, "invalid_json"),
    ],
)
async def test_bad_input_gets_error_and_connection_stays_usable(runtime, payload, code):
    comm, _ = await connect()
    await send(comm, payload)
    msg = await recv(comm)
    assert msg["type"] == "error" and msg["data"]["code"] == code, msg
    await send(comm, {"type": "ping"})
    assert (await recv(comm))["type"] == "pong"
    await comm.disconnect()


async def test_unknown_symbol_in_a_list_still_subscribes_the_rest(runtime):
    comm, _ = await connect()
    await send(comm, {"type": "subscribe_asset", "data": {"symbols": ["AAPL", "NOPE1"]}})
    reply = await recv(comm)
    assert reply["type"] == "subscribed" and reply["data"]["symbols"] == ["AAPL"]
    await recv(comm)  # snapshot
    err = await recv(comm)
    assert err["data"]["code"] == "unknown_symbol" and "NOPE1" in err["data"]["message"]
    assert err["data"]["request_type"] == "subscribe_asset"
    await comm.disconnect()


async def test_subscription_limit(runtime, settings):
    settings.MAX_SUBSCRIPTIONS_PER_CONNECTION = 2
    comm, _ = await connect()
    await send(comm, {"type": "subscribe_asset", "data": {"symbols": ["AAPL", "MSFT", "SPY"]}})
    err = await recv(comm)
    assert err["data"]["code"] == "subscription_limit"
    await send(comm, {"type": "subscribe_asset", "data": {"symbols": ["AAPL", "MSFT"]}})
    assert (await recv(comm))["type"] == "subscribed"
    await comm.disconnect()


async def test_oversized_message_closes_with_1009(runtime):
    comm, _ = await connect()
    await send(comm, '{"type":"ping","data":{"pad":"' + "x" * 70000 + '"}}')
    out = await comm.receive_output(timeout=2)
    assert out == {
        "type": "websocket.close",
        "code": CloseCode.MESSAGE_TOO_BIG,
        "reason": "message larger than 65536 bytes",
    }


async def test_flood_is_answered_then_closed_with_1008(runtime, settings):
    settings.TICKWIRE_RATE_LIMIT_PER_SECOND = 1
    settings.TICKWIRE_RATE_LIMIT_BURST = 3
    comm, _ = await connect()
    for _ in range(20):
        await send(comm, {"type": "ping"})
    seen = []
    while True:
        out = await comm.receive_output(timeout=2)
        if out["type"] == "websocket.close":
            assert out["code"] == CloseCode.POLICY_VIOLATION
            break
        seen.append(orjson.loads(out["text"])["type"])
    assert seen[:3] == ["pong", "pong", "pong"] and "error" in seen


async def test_batching_is_opt_in(runtime):
    comm, _ = await connect()
    await send(comm, {"type": "configure", "data": {"batch": True}})
    assert (await recv(comm))["data"] == {"batch": True}
    await comm.disconnect()


async def test_symbol_directory_rechecks_known_symbols_after_cache_timeout(runtime):
    from asgiref.sync import sync_to_async

    from tickwire.assets.models import Asset
    from tickwire.realtime.services import SymbolDirectory

    directory = SymbolDirectory(ttl=0.0, negative_ttl=0.0)
    assert await directory.unknown(("AAPL", "NOPE")) == ["NOPE"]
    await sync_to_async(Asset.objects.filter(symbol="AAPL").update)(is_active=False)
    assert await directory.unknown(("AAPL",)) == ["AAPL"]
    cached = SymbolDirectory(ttl=300.0)
    await sync_to_async(Asset.objects.filter(symbol="AAPL").update)(is_active=True)
    assert await cached.unknown(("AAPL",)) == []
    await sync_to_async(Asset.objects.filter(symbol="AAPL").update)(is_active=False)
    assert await cached.unknown(("AAPL",)) == []  # trusted until REALTIME_CACHE_TIMEOUT


async def test_symbol_directory_looks_a_symbol_up_once_for_a_crowd_of_subscribers(
    runtime, monkeypatch
):
    # A node back from a restart starts with an empty cache and gets thousands of
    # resubscriptions at once: one database lookup per symbol, not one per client.
    from tickwire.realtime import services

    lookups = []
    existing = services._existing

    def counted(symbols):
        lookups.append(list(symbols))
        return existing(symbols)

    monkeypatch.setattr(services, "_existing", counted)
    directory = services.SymbolDirectory(ttl=300.0)
    answers = await asyncio.gather(*(directory.unknown(("AAPL", "NOPE")) for _ in range(200)))
    assert answers == [["NOPE"]] * 200
    assert lookups == [["AAPL", "NOPE"]]


async def test_errors_from_handling_a_request_echo_its_id_and_type(runtime):
    """Clients match an error to the request it answers by id (unknown symbol, login needed)."""
    comm, _ = await connect()
    await send(comm, {"type": "subscribe_asset", "data": {"symbols": ["AAPL", "NOPE"]}, "id": "s1"})
    reply = await recv(comm)
    assert reply["type"] == "subscribed" and reply["id"] == "s1"
    assert reply["data"]["symbols"] == ["AAPL"]
    while (msg := await recv(comm))["type"] != "error":
        pass
    assert msg["id"] == "s1"
    assert msg["data"]["code"] == "unknown_symbol"
    assert msg["data"]["request_type"] == "subscribe_asset"
    await send(comm, {"type": "subscribe_portfolio", "data": {"portfolio_id": 1}, "id": 77})
    while (msg := await recv(comm))["type"] != "error":
        pass
    assert msg["id"] == 77 and msg["data"]["request_type"] == "subscribe_portfolio"
    assert msg["data"]["code"] == "authentication_required"
    await comm.disconnect()
