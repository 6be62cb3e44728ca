"""Subscription rules: limits, known symbols, owners only, and what a new subscriber is sent
first (missed updates, else the snapshot, else the database's price) — after the reply."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from tests.portfolios.feeds import QuietSource
from tickwire.alerts.listening import NodeChannels
from tickwire.portfolios.demand import NodeDemand
from tickwire.portfolios.models import Portfolio
from tickwire.portfolios.valuer import PortfolioValuer
from tickwire.realtime import services
from tickwire.realtime.services import SymbolDirectory, load_instruments
from tickwire.realtime.subscriptions import Subscriptions
from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.feeds import FeedService
from tickwire.stream.hub import Outbox
from tickwire.stream.node import Node
from tickwire.stream.protocol import ErrorCode, ProtocolError, SubscribeAssets, encode_body

REPLY = b'{"type":"reply"}'


@pytest.fixture
async def subs(demo):
    """Subscriptions over a started node of their own, and the cluster's valuer beside a
    quiet feed (memory broker)."""
    broker = MemoryBroker()
    node = Node(broker, grace=0.05)
    await node.start()
    demand = NodeDemand(node, grace=0.05)
    await demand.start()
    channels = NodeChannels(node)
    valuer = PortfolioValuer(channels, broker.publish_many, throttle=0)
    channels.on_frame = valuer.on_frame
    feed = FeedService(broker, QuietSource(), await load_instruments())
    await valuer.start(feed)
    subscriptions = Subscriptions(node, demand, SymbolDirectory(ttl=0.0, negative_ttl=0.0))
    subscriptions.valuer = valuer  # type: ignore[attr-defined]
    yield subscriptions
    await valuer.stop()
    await demand.close()
    await node.close()


@pytest.fixture
async def owners(demo):
    def setup():
        demo_user = get_user_model().objects.get(username="demo")
        bob = get_user_model().objects.create_user("bob", password="pw")
        return demo_user.pk, bob.pk, Portfolio.objects.get(owner=demo_user).pk

    return await sync_to_async(setup)()


def assets(*symbols: str, **kw) -> SubscribeAssets:
    return SubscribeAssets(id=None, symbols=symbols, **kw)


def frames(outbox: Outbox) -> list[dict]:
    return [orjson.loads(f) for f in outbox.take()]


async def publish(subs: Subscriptions, symbol: str, price: float) -> None:
    body = encode_body("asset_update", {"symbol": symbol, "price": price})
    await subs.node.broker.publish("asset." + symbol, body)


async def test_over_the_limit_nothing_is_subscribed(subs, settings):
    settings.MAX_SUBSCRIPTIONS_PER_CONNECTION = 2
    outbox = Outbox()
    with pytest.raises(ProtocolError) as refused:
        async with subs.assets(outbox, assets("AAPL", "MSFT", "SPY")):
            pytest.fail("the block must not run")
    assert refused.value.code == ErrorCode.SUBSCRIPTION_LIMIT
    assert "has 0 and asked for 3 more" in refused.value.message
    assert outbox.channels == frozenset() and outbox.take() == []
    # Symbols already subscribed do not count twice.
    async with subs.assets(outbox, assets("AAPL", "MSFT")):
        pass
    async with subs.assets(outbox, assets("AAPL")) as granted:
        assert granted.symbols == ["AAPL"]


async def test_the_reply_comes_first_then_the_databases_price_then_live_updates(subs):
    outbox = Outbox()
    async with subs.assets(outbox, assets("AAPL")) as granted:
        assert granted.symbols == ["AAPL"] and granted.results[0].seq == 0
        outbox.push(REPLY)
    reply, snapshot = frames(outbox)
    assert reply == {"type": "reply"}
    assert snapshot["type"] == "asset_update" and snapshot["seq"] == 0
    assert snapshot["data"]["symbol"] == "AAPL" and snapshot["data"]["price"] > 0
    await publish(subs, "AAPL", 1.5)
    [live] = frames(outbox)
    assert live["seq"] == 1 and live["data"]["price"] == 1.5


async def test_a_published_channel_answers_with_its_latest_publication(subs):
    await publish(subs, "MSFT", 10.0)
    await publish(subs, "MSFT", 11.0)
    outbox = Outbox()
    async with subs.assets(outbox, assets("MSFT")) as granted:
        assert granted.results[0].seq == 2
    [snapshot] = frames(outbox)
    assert snapshot["seq"] == 2 and snapshot["data"]["price"] == 11.0


async def test_a_resume_sends_every_missed_update_in_order(subs):
    for price in range(1, 6):
        await publish(subs, "NVDA", float(price))
    epoch = subs.node.broker.epoch
    outbox = Outbox()
    async with subs.assets(outbox, assets("NVDA", since={"NVDA": 2}, epoch=epoch)) as granted:
        assert granted.results[0].recovered is True
    assert [f["seq"] for f in frames(outbox)] == [3, 4, 5]


async def test_unknown_symbols_are_refused_after_the_known_ones_are_subscribed(subs):
    outbox = Outbox()
    with pytest.raises(ProtocolError) as refused:
        async with subs.assets(outbox, assets("AAPL", "NOPE1", "NOPE2")) as granted:
            assert granted.symbols == ["AAPL"]
            outbox.push(REPLY)
    assert refused.value.code == ErrorCode.UNKNOWN_SYMBOL
    assert refused.value.message == "unknown symbols: NOPE1, NOPE2"
    assert outbox.channels == frozenset({"asset.AAPL"})
    assert [f["type"] for f in frames(outbox)] == ["reply", "asset_update"]
    subs.unsubscribe_assets(outbox, ["AAPL"])
    assert outbox.channels == frozenset()


async def test_portfolios_are_for_their_owner_and_never_reveal_which_ids_exist(subs, owners):
    demo_id, bob_id, portfolio = owners
    outbox = Outbox()
    with pytest.raises(ProtocolError) as anonymous:
        async with subs.portfolio(outbox, None, portfolio):
            pass
    assert anonymous.value.code == ErrorCode.AUTHENTICATION_REQUIRED
    refusals = []
    for user_id, portfolio_id in ((bob_id, portfolio), (demo_id, 10**9)):
        with pytest.raises(ProtocolError) as refused:
            async with subs.portfolio(outbox, user_id, portfolio_id):
                pass
        refusals.append((refused.value.code, refused.value.message.replace(str(portfolio_id), "N")))
    assert refusals == [(ErrorCode.PORTFOLIO_NOT_FOUND, "portfolio N not found")] * 2
    for user_id in (bob_id, None):
        with pytest.raises(ProtocolError):
            await subs.unsubscribe_portfolio(outbox, user_id, portfolio)
    assert outbox.channels == frozenset()


async def test_the_owner_gets_the_reply_then_the_current_value(subs, owners):
    demo_id, _, portfolio = owners
    outbox = Outbox()
    async with subs.portfolio(outbox, demo_id, portfolio) as result:
        assert result.channel == f"portfolio.{portfolio}"
        outbox.push(REPLY)
    for _ in range(100):  # bounded: the valuer publishes from its own task
        if len(outbox) >= 2:
            break
        await asyncio.sleep(0.01)
    reply, value = frames(outbox)
    assert reply == {"type": "reply"}
    assert value["type"] == "portfolio_update" and value["data"]["portfolio_id"] == portfolio
    await subs.unsubscribe_portfolio(outbox, demo_id, portfolio)
    assert outbox.channels == frozenset()
    for _ in range(100):  # the node releases it after its grace period
        if not subs.valuer.portfolio_ids:
            break
        await asyncio.sleep(0.01)
    assert subs.valuer.portfolio_ids == []


async def test_a_failure_while_replying_undoes_the_portfolio_subscription(subs, owners):
    demo_id, _, portfolio = owners
    outbox = Outbox()
    with pytest.raises(RuntimeError):
        async with subs.portfolio(outbox, demo_id, portfolio):
            raise RuntimeError("the reply could not be built")
    assert outbox.channels == frozenset()


async def test_portfolios_count_against_the_subscription_limit(subs, owners, settings):
    settings.MAX_SUBSCRIPTIONS_PER_CONNECTION = 1
    demo_id, _, portfolio = owners
    outbox = Outbox()
    async with subs.assets(outbox, assets("AAPL")):
        pass
    with pytest.raises(ProtocolError) as refused:
        async with subs.portfolio(outbox, demo_id, portfolio):
            pass
    assert refused.value.code == ErrorCode.SUBSCRIPTION_LIMIT
    assert "portfolios included" in refused.value.message
    assert outbox.channels == frozenset({"asset.AAPL"})


async def test_ownership_that_ends_while_subscribing_leaves_no_subscription(
    subs, owners, monkeypatch
):
    # The portfolio is given away between the ownership check and the subscription: the
    # message that ends the previous owner's subscriptions found none to end, so the
    # check is made again once subscribed.
    import tickwire.realtime.subscriptions as subscriptions_module

    demo_id, _, portfolio = owners
    answers = iter([True, False])

    async def owns(portfolio_id, user_id):
        return next(answers)

    monkeypatch.setattr(subscriptions_module, "owns_portfolio", owns)
    outbox = Outbox()
    with pytest.raises(ProtocolError) as refused:
        async with subs.portfolio(outbox, demo_id, portfolio):
            pass
    assert refused.value.code is ErrorCode.PORTFOLIO_NOT_FOUND
    assert not outbox.channels
    assert not frames(outbox)


async def test_subscribers_arriving_together_share_one_read_of_the_databases_price(
    subs, monkeypatch
):
    reads = []
    real = services.asset_snapshot_frame

    async def counted(symbol):
        reads.append(symbol)
        return await real(symbol)

    monkeypatch.setattr(services, "asset_snapshot_frame", counted)

    async def subscriber():
        outbox = Outbox()
        async with subs.assets(outbox, assets("AAPL")):
            outbox.push(REPLY)
        return frames(outbox)

    answers = await asyncio.wait_for(asyncio.gather(*(subscriber() for _ in range(20))), 30)
    assert reads == ["AAPL"]
    for reply, snapshot in answers:
        assert reply == {"type": "reply"}
        assert snapshot["data"]["symbol"] == "AAPL" and snapshot["seq"] == 0
    outbox = Outbox()
    async with subs.assets(outbox, assets("AAPL")):
        pass
    assert reads == ["AAPL", "AAPL"]  # a later subscriber reads again: nothing is cached
