"""subscribe_portfolio over the consumer: owner only, snapshot, live ticks (throttled),
position changes at once, limits and status."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import AsyncClient
from rest_framework.authtoken.models import Token

from tests.portfolios.feeds import QuietSource
from tests.portfolios.feeds import tick as feed_tick
from tickwire.asgi import application
from tickwire.assets.models import Asset
from tickwire.portfolios.models import Portfolio, Position


def _setup():
    demo = get_user_model().objects.get(username="demo")
    bob = get_user_model().objects.create_user("bob", password="pw")
    return {
        "demo_token": Token.objects.get_or_create(user=demo)[0].key,
        "bob_token": Token.objects.get_or_create(user=bob)[0].key,
        "portfolio": Portfolio.objects.get(owner=demo).pk,
    }


@pytest.fixture
async def ctx(runtime):
    # The cluster's valuer runs beside the feed: a feed that ticks when a test says so.
    await runtime.start_feed(QuietSource())
    return await sync_to_async(_setup)()


async def connect(token=None):
    headers = [(b"authorization", f"Token {token}".encode())] if token else []
    comm = WebsocketCommunicator(application, "/ws/realtime/", headers=headers)
    connected, _ = await comm.connect()
    assert connected
    assert (await comm.receive_json_from())["type"] == "connection"
    return comm


async def send(comm, obj):
    await comm.send_to(text_data=orjson.dumps(obj).decode())


async def recv(comm, timeout=2):
    return await comm.receive_json_from(timeout=timeout)


async def subscribe(comm, portfolio_id):
    await send(comm, {"type": "subscribe_portfolio", "data": {"portfolio_id": portfolio_id}})
    reply = await recv(comm)
    assert reply["type"] == "subscribed", reply
    snapshot = await recv(comm)
    assert snapshot["type"] == "portfolio_update", snapshot
    return reply, snapshot


async def tick(runtime, symbol, price, previous_close):
    await feed_tick(runtime.feed, symbol, price, previous_close)


async def test_owner_gets_reply_then_snapshot_in_seed_shape(ctx):
    comm = await connect(ctx["demo_token"])
    reply, snap = await subscribe(comm, ctx["portfolio"])
    assert reply["data"]["portfolio_id"] == ctx["portfolio"]
    assert reply["data"]["subscription_count"] == 1
    data = snap["data"]
    assert data["portfolio_id"] == ctx["portfolio"] and data["name"] == "Demo Portfolio"
    for key in ("total_value", "daily_change", "daily_change_percent"):
        assert isinstance(data[key], float), key
    assert data["currency"] == "USD" and data["status"] == "ok"
    assert {p["symbol"] for p in data["positions"]} == {"AAPL", "MSFT", "NVDA", "SPY", "BTC-USD"}
    assert snap["seq"] > reply["data"]["seq"]
    # total = sum of quantity * price from the stored demo quotes
    expected = (
        10 * Decimal("268.40")
        + 5 * Decimal("512.30")
        + 3 * Decimal("192.45")
        + 20 * Decimal("702.35")
        + Decimal("0.25") * Decimal("104250.50")
    )
    assert Decimal(repr(data["total_value"])) == expected.quantize(Decimal("0.01"))
    await comm.disconnect()


async def test_someone_elses_and_a_missing_portfolio_get_the_same_error(ctx):
    comm = await connect(ctx["bob_token"])
    errors = []
    for pid in (ctx["portfolio"], 987654):
        for kind in ("subscribe_portfolio", "unsubscribe_portfolio"):
            await send(comm, {"type": kind, "data": {"portfolio_id": pid}})
            err = await recv(comm)
            assert err["type"] == "error" and err["data"]["code"] == "portfolio_not_found"
            errors.append(err["data"]["message"].replace(str(pid), "<id>"))
    assert len(set(errors)) == 1
    await comm.disconnect()


async def test_anonymous_is_refused(ctx):
    comm = await connect()
    await send(comm, {"type": "subscribe_portfolio", "data": {"portfolio_id": ctx["portfolio"]}})
    err = await recv(comm)
    assert err["data"]["code"] == "authentication_required"
    await comm.disconnect()


async def test_ticks_of_a_holding_move_the_value(settings, ctx, runtime):
    runtime.valuer.throttle = 0
    comm = await connect(ctx["demo_token"])
    _, snap = await subscribe(comm, ctx["portfolio"])
    await tick(runtime, "AAPL", 270.40, 265.12)  # +2.00 on 10 shares
    update = await recv(comm)
    assert update["type"] == "portfolio_update" and update["seq"] == snap["seq"] + 1
    diff = Decimal(repr(update["data"]["total_value"])) - Decimal(repr(snap["data"]["total_value"]))
    assert diff == Decimal("20.00")
    aapl = next(p for p in update["data"]["positions"] if p["symbol"] == "AAPL")
    assert aapl["price"] == 270.40 and aapl["value"] == 2704.0
    await tick(runtime, "EUR-USD", 1.2, 1.1)  # not a holding: no update
    await tick(runtime, "MSFT", 513.30, 508.75)
    update = await recv(comm)
    diff = Decimal(repr(update["data"]["total_value"])) - Decimal(repr(snap["data"]["total_value"]))
    assert diff == Decimal("25.00")
    await comm.disconnect()


def _add_position(portfolio_id, symbol, quantity):
    return Position.objects.create(
        portfolio_id=portfolio_id,
        asset=Asset.objects.get(symbol=symbol),
        quantity=Decimal(quantity),
    ).pk


async def test_ticks_are_throttled_but_a_position_change_is_published_at_once(ctx, runtime):
    runtime.valuer.throttle = 3600
    comm = await connect(ctx["demo_token"])
    _, snap = await subscribe(comm, ctx["portfolio"])
    await tick(runtime, "AAPL", 270.40, 265.12)
    assert await comm.receive_nothing(timeout=0.2)  # throttled: at most one per hour
    await sync_to_async(_add_position)(ctx["portfolio"], "TSLA", "2")
    update = await recv(comm)
    symbols = {p["symbol"] for p in update["data"]["positions"]}
    assert "TSLA" in symbols
    diff = Decimal(repr(update["data"]["total_value"])) - Decimal(repr(snap["data"]["total_value"]))
    assert diff == Decimal("20.00") + 2 * Decimal("412.60")  # the tick and the new position

    def change_and_delete():
        position = Position.objects.get(portfolio_id=ctx["portfolio"], asset__symbol="TSLA")
        position.quantity = Decimal("3")
        position.save()
        return position

    position = await sync_to_async(change_and_delete)()
    update = await recv(comm)
    tsla = next(p for p in update["data"]["positions"] if p["symbol"] == "TSLA")
    assert tsla["quantity"] == 3.0
    await sync_to_async(position.delete)()
    update = await recv(comm)
    assert "TSLA" not in {p["symbol"] for p in update["data"]["positions"]}
    await comm.disconnect()


async def test_deleting_the_portfolio_tells_its_subscribers(ctx, runtime):
    comm = await connect(ctx["demo_token"])
    await subscribe(comm, ctx["portfolio"])
    await sync_to_async(lambda: Portfolio.objects.get(pk=ctx["portfolio"]).delete())()
    msg = await recv(comm)
    assert msg["type"] == "error" and msg["data"]["code"] == "portfolio_not_found"
    assert msg["data"]["portfolio_id"] == ctx["portfolio"]
    await comm.disconnect()


async def test_unsubscribe_stops_updates_and_status_lists_subscriptions(ctx, runtime):
    runtime.valuer.throttle = 0
    comm = await connect(ctx["demo_token"])
    await subscribe(comm, ctx["portfolio"])
    await send(comm, {"type": "subscribe_asset", "data": {"symbol": "SPY"}})
    await recv(comm)  # subscribed
    await recv(comm)  # snapshot
    client = AsyncClient()
    auth = {"authorization": f"Token {ctx['demo_token']}"}
    body = (await client.get("/realtime/status/", headers=auth)).json()
    assert body["user_stats"]["subscriptions"] == {
        "portfolios": [ctx["portfolio"]],
        "assets": ["SPY"],
    }
    # Internal listeners (the valuer's, the node's demand) are not client subscriptions.
    assert body["global_stats"]["asset_subscriptions"] == 1
    assert body["global_stats"]["portfolio_subscriptions"] == 1
    await send(comm, {"type": "unsubscribe_portfolio", "data": {"portfolio_id": ctx["portfolio"]}})
    reply = await recv(comm)
    assert reply["type"] == "unsubscribed" and reply["data"]["subscription_count"] == 1
    await tick(runtime, "AAPL", 280.0, 265.12)
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()


async def test_portfolio_subscriptions_count_against_the_limit(settings, ctx):
    settings.MAX_SUBSCRIPTIONS_PER_CONNECTION = 1
    comm = await connect(ctx["demo_token"])
    await send(comm, {"type": "subscribe_asset", "data": {"symbol": "SPY"}})
    await recv(comm)
    await recv(comm)
    await send(comm, {"type": "subscribe_portfolio", "data": {"portfolio_id": ctx["portfolio"]}})
    err = await recv(comm)
    assert err["data"]["code"] == "subscription_limit"
    await comm.disconnect()


def _admin_edit_position(portfolio_id):
    from django.test import Client

    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(root)
    position = Position.objects.get(portfolio_id=portfolio_id, asset__symbol="AAPL")
    response = client.post(
        f"/admin/portfolios/position/{position.pk}/change/",
        {
            "portfolio": str(portfolio_id),
            "asset": str(position.asset_id),
            "quantity": "12",
            "average_cost": "189.5",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]


async def test_a_position_edited_in_the_admin_is_reflected_live(ctx, runtime):
    runtime.valuer.throttle = 3600
    comm = await connect(ctx["demo_token"])
    _, snap = await subscribe(comm, ctx["portfolio"])
    await sync_to_async(_admin_edit_position)(ctx["portfolio"])
    update = await recv(comm)
    aapl = next(p for p in update["data"]["positions"] if p["symbol"] == "AAPL")
    assert aapl["quantity"] == 12.0
    diff = Decimal(repr(update["data"]["total_value"])) - Decimal(repr(snap["data"]["total_value"]))
    assert diff == 2 * Decimal("268.40")
    await comm.disconnect()


def _admin_reassign(portfolio_id, username):
    from django.test import Client

    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(root)
    portfolio = Portfolio.objects.get(pk=portfolio_id)
    new_owner = get_user_model().objects.get(username=username)
    response = client.post(
        f"/admin/portfolios/portfolio/{portfolio_id}/change/",
        {
            "owner": str(new_owner.pk),
            "name": portfolio.name,
            "currency": portfolio.currency,
            "positions-TOTAL_FORMS": "0",
            "positions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Portfolio.objects.get(pk=portfolio_id).owner_id == new_owner.pk


async def test_a_portfolio_given_to_another_owner_stops_streaming_to_the_previous_one(ctx, runtime):
    runtime.valuer.throttle = 0
    previous = await connect(ctx["demo_token"])
    await subscribe(previous, ctx["portfolio"])
    await sync_to_async(_admin_reassign)(ctx["portfolio"], "bob")
    msg = await recv(previous)
    while msg["type"] == "portfolio_update":  # the reload after the save may come first
        msg = await recv(previous)
    assert msg["type"] == "error" and msg["data"]["code"] == "portfolio_not_found"
    assert msg["data"]["portfolio_id"] == ctx["portfolio"]
    await tick(runtime, "AAPL", 281.0, 265.12)
    assert await previous.receive_nothing(timeout=0.3)  # nothing more for the previous owner
    # The new owner may follow it.
    bob = await connect(ctx["bob_token"])
    _, snap = await subscribe(bob, ctx["portfolio"])
    assert snap["data"]["portfolio_id"] == ctx["portfolio"]
    await send(
        previous, {"type": "subscribe_portfolio", "data": {"portfolio_id": ctx["portfolio"]}}
    )
    assert (await recv(previous))["data"]["code"] == "portfolio_not_found"
    await previous.disconnect()
    await bob.disconnect()
