"""The cluster's valuer: a fixed tick sequence replayed through a real feed, node and broker,
every emitted portfolio_update checked against an independent calculation (exact
fractions); demand from nodes, position changes, deletion and the throttle window."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction as F

import orjson
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from tests.portfolios.feeds import QuietSource, tick
from tickwire.alerts.listening import NodeChannels
from tickwire.assets.models import Asset
from tickwire.portfolios.demand import (
    LEASE,
    RELEASE,
    VALUATION_CHANNEL,
    WATCH,
    NodeDemand,
    demand_body,
    parse_demand,
)
from tickwire.portfolios.models import Portfolio, Position
from tickwire.portfolios.services import portfolio_changed
from tickwire.portfolios.valuer import PortfolioValuer
from tickwire.realtime.services import load_instruments
from tickwire.stream import control
from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.channels import portfolio_channel
from tickwire.stream.feeds import FeedService
from tickwire.stream.hub import Outbox
from tickwire.stream.node import Node
from tickwire.stream.protocol import encode_body, seal

STORED = {  # symbol: (kind, currency, price, previous close)
    "AAPL": ("stock", "USD", "268.40", "265.12"),
    "BMW": ("stock", "EUR", "80.00", "79.50"),
    "TM": ("stock", "JPY", "3000", "2990"),
    "EUR-USD": ("fx", "USD", "1.16420", "1.16185"),
    "USD-JPY": ("fx", "JPY", "152.845", "153.210"),
}
HOLDINGS = {"AAPL": "10", "BMW": "7.5", "TM": "100"}  # valued in EUR
CURRENCY = {"AAPL": "USD", "BMW": "EUR", "TM": "JPY"}

TICKS = [  # (symbol, price, previous close) as the feed publishes them (floats on the wire)
    ("AAPL", 268.55, 265.12),
    ("EUR-USD", 1.16431, 1.16185),
    ("TM", 3001.5, 2990.0),
    ("BMW", 79.98, 79.5),
    ("USD-JPY", 152.801, 153.21),
    ("AAPL", 267.9, 265.12),
    ("EUR-USD", 1.16398, 1.16185),
    ("AAPL", 269.01, 265.12),
    ("BMW", 80.07, 79.5),
    ("TM", 2999.0, 2990.0),
]


def _fraction(text) -> F:
    return F(Decimal(repr(text) if isinstance(text, float) else text))


def _round(x: F, places: int) -> Decimal:
    q = x * 10**places
    n = math.floor(q + F(1, 2)) if q >= 0 else -math.floor(-q + F(1, 2))
    return Decimal(n).scaleb(-places)


def expected(prices: dict[str, tuple[F, F]]) -> dict:
    """EUR value of the holdings, computed independently with exact fractions."""
    eurusd, eurusd_prev = prices["EUR-USD"]
    usdjpy, usdjpy_prev = prices["USD-JPY"]
    to_eur = {
        "EUR": (F(1), F(1)),
        "USD": (1 / eurusd, 1 / eurusd_prev),
        "JPY": (1 / (usdjpy * eurusd), 1 / (usdjpy_prev * eurusd_prev)),
    }
    total = previous = F(0)
    positions = {}
    for symbol, qty in HOLDINGS.items():
        price, prev = prices[symbol]
        rate, prev_rate = to_eur[CURRENCY[symbol]]
        value = F(Decimal(qty)) * price * rate
        prev_value = F(Decimal(qty)) * prev * prev_rate
        total += value
        previous += prev_value
        positions[symbol] = (_round(value, 2), _round(value - prev_value, 2))
    return {
        "total_value": _round(total, 2),
        "daily_change": _round(total - previous, 2),
        "daily_change_percent": _round((total - previous) / previous * 100, 4),
        "positions": positions,
    }


@pytest.fixture
def portfolio(transactional_db):
    user = get_user_model().objects.create_user("valuer-test", password="pw")
    portfolio = Portfolio.objects.create(owner=user, name="Global", currency="EUR")
    for symbol, (kind, currency, price, prev) in STORED.items():
        asset = Asset.objects.create(
            symbol=symbol,
            name=symbol,
            kind=kind,
            currency=currency,
            current_price=Decimal(price),
            previous_close=Decimal(prev),
        )
        if symbol in HOLDINGS:
            Position.objects.create(
                portfolio=portfolio, asset=asset, quantity=Decimal(HOLDINGS[symbol])
            )
    return portfolio


async def next_update(outbox: Outbox) -> dict:
    await outbox.wait()
    frames = outbox.take()
    assert len(frames) == 1, frames
    message = orjson.loads(frames[0])
    assert message["type"] == "portfolio_update"
    return message


def assert_matches(message: dict, prices: dict[str, tuple[F, F]]) -> None:
    want = expected(prices)
    data = message["data"]
    assert data["status"] == "ok" and data["currency"] == "EUR"
    for key in ("total_value", "daily_change", "daily_change_percent"):
        assert Decimal(repr(data[key])) == want[key], (key, data[key], want[key])
    for position in data["positions"]:
        value, change = want["positions"][position["symbol"]]
        assert Decimal(repr(position["value"])) == value
        assert Decimal(repr(position["daily_change"])) == change


@dataclass
class Cluster:
    """One node (with its demand) and the valuer beside a quiet feed, on one broker."""

    broker: MemoryBroker
    node: Node
    demand: NodeDemand
    feed: FeedService
    valuer: PortfolioValuer

    async def follow(self, portfolio_id: int) -> Outbox:
        """A subscriber of the portfolio on the node, as the consumer makes one."""
        outbox = Outbox()
        channel = portfolio_channel(portfolio_id)
        self.node.activate(outbox, await self.node.subscribe(outbox, channel))
        await self.demand.watch(portfolio_id)
        return outbox


@contextlib.asynccontextmanager
async def running(broker, grace: float = 0.01, throttle: float = 0.0, lease: float = 10.0):
    """A started node, its demand, a quiet feed and the valuer on it; all closed after."""
    node = Node(broker, grace=grace)
    await node.start()
    demand = NodeDemand(node, lease_seconds=lease)
    await demand.start()
    feed = FeedService(broker, QuietSource(), await load_instruments())
    channels = NodeChannels(node)
    valuer = PortfolioValuer(channels, broker.publish_many, throttle=throttle, lease_seconds=lease)
    channels.on_frame = valuer.on_frame
    await valuer.start(feed)
    feed.start()
    try:
        yield Cluster(broker, node, demand, feed, valuer)
    finally:
        await feed.stop()
        await valuer.stop()
        await demand.close()
        await node.close()


async def eventually(check, what: str) -> None:
    for _ in range(300):  # bounded: 3 s
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within 3 s: {what}")


async def test_replayed_ticks_match_an_independent_calculation(portfolio):
    async with running(MemoryBroker()) as cluster:
        outbox = await cluster.follow(portfolio.pk)
        prices = {s: (_fraction(p), _fraction(c)) for s, (_, _, p, c) in STORED.items()}
        snapshot = await next_update(outbox)
        assert snapshot["data"]["portfolio_id"] == portfolio.pk
        assert snapshot["data"]["name"] == "Global"
        assert_matches(snapshot, prices)
        seqs = [snapshot["seq"]]
        for symbol, price, prev in TICKS:
            await tick(cluster.feed, symbol, price, prev)
            prices[symbol] = (_fraction(price), _fraction(prev))
            update = await next_update(outbox)
            assert_matches(update, prices)
            seqs.append(update["seq"])
        assert seqs == list(range(seqs[0], seqs[0] + len(TICKS) + 1))
        # Prices come from the feed: the node subscribes no asset channel for the valuer.
        assert not {c for c in cluster.node.broker_channels if c.startswith("asset.")}
        assert cluster.valuer.valuations == len(TICKS) + 1


async def test_a_released_portfolio_is_no_longer_valued_and_a_missing_one_is_not_found(
    portfolio,
):
    async with running(MemoryBroker(), grace=0.0) as cluster:
        outbox = await cluster.follow(portfolio.pk)
        await next_update(outbox)
        assert cluster.valuer.portfolio_ids == [portfolio.pk]
        cluster.node.unsubscribe(outbox, portfolio_channel(portfolio.pk))
        cluster.demand.release(portfolio.pk)
        await eventually(lambda: cluster.valuer.portfolio_ids == [], "the release")
        await tick(cluster.feed, "AAPL", 270.0)
        assert cluster.valuer.valuations == 1  # the tick values nothing
        again = await cluster.follow(portfolio.pk)  # valued again: at the feed's price now
        aapl = next(
            p for p in (await next_update(again))["data"]["positions"] if p["symbol"] == "AAPL"
        )
        assert aapl["price"] == 270.0
        cluster.node.unsubscribe(again, portfolio_channel(portfolio.pk))
        missing = await cluster.follow(10**9)
        message = orjson.loads((await _frames(missing))[0])
        assert message["type"] == "error"
        assert message["data"]["code"] == "portfolio_not_found"


async def _frames(outbox: Outbox) -> list[bytes]:
    await asyncio.wait_for(outbox.wait(), 5)
    return outbox.take()


async def test_a_node_that_stops_renewing_its_lease_loses_its_demand(portfolio):
    async with running(MemoryBroker(), lease=0.05) as cluster:  # expiry: 3 leases, 0.15 s
        await cluster.broker.publish(
            VALUATION_CHANNEL, demand_body(WATCH, "dead-node", [portfolio.pk])
        )
        await eventually(lambda: cluster.valuer.portfolio_ids == [portfolio.pk], "the watch")
        await eventually(lambda: cluster.valuer.portfolio_ids == [], "the lease's expiry")


async def test_a_live_nodes_lease_keeps_its_portfolios_valued(portfolio):
    async with running(MemoryBroker(), lease=0.05) as cluster:  # expiry: 3 leases, 0.15 s
        outbox = await cluster.follow(portfolio.pk)
        await next_update(outbox)
        await asyncio.sleep(0.5)  # ten lease periods
        assert cluster.valuer.portfolio_ids == [portfolio.pk]
        await tick(cluster.feed, "AAPL", 271.0)
        assert (await next_update(outbox))["data"]["portfolio_id"] == portfolio.pk


async def test_a_restarted_valuer_learns_every_nodes_demand_from_their_leases(portfolio):
    async with running(MemoryBroker()) as cluster:
        outbox = await cluster.follow(portfolio.pk)
        await next_update(outbox)
        heard: list = []
        sink = control.FrameSink(lambda frame: heard.append(parse_demand(frame)))
        result = await cluster.node.subscribe(sink, VALUATION_CHANNEL)
        cluster.node.activate(sink, result)
        await cluster.valuer.stop()
        fresh = PortfolioValuer(NodeChannels(cluster.node), cluster.broker.publish_many, throttle=0)
        fresh.channels.on_frame = fresh.on_frame  # type: ignore[attr-defined]
        await fresh.start(cluster.feed)  # says hello: the node answers with its lease
        try:
            update = await next_update(outbox)  # valued again without a new subscriber
            assert update["data"]["portfolio_id"] == portfolio.pk
            leases = [d for d in heard if d is not None and d.event == LEASE]
            assert leases and leases[0].portfolio_ids == (portfolio.pk,)
        finally:
            await fresh.stop()
            cluster.node.remove(sink)


async def test_an_old_position_change_event_does_not_trigger_a_second_snapshot(portfolio):
    """The valuation channel's stored last event is history, not news, for a new valuer."""
    broker = MemoryBroker()
    broker.publish_now(
        VALUATION_CHANNEL,
        encode_body(control.PORTFOLIO_CONTROL, {"portfolio_id": portfolio.pk}),
    )
    async with running(broker) as cluster:
        outbox = await cluster.follow(portfolio.pk)
        first = await next_update(outbox)
        await tick(cluster.feed, "BMW", 81.0, 79.5)
        second = await next_update(outbox)
        assert second["seq"] == first["seq"] + 1
        bmw = next(p for p in second["data"]["positions"] if p["symbol"] == "BMW")
        assert bmw["price"] == 81.0


async def test_a_position_change_revalues_at_once_and_a_deletion_is_told(portfolio):
    async with running(MemoryBroker(), throttle=3600) as cluster:
        outbox = await cluster.follow(portfolio.pk)
        await next_update(outbox)
        await tick(cluster.feed, "AAPL", 270.0)
        await asyncio.sleep(0.05)
        assert not outbox.take()  # throttled: one window per hour
        unbind = control.bind_publisher(
            lambda channel, body: bool(cluster.broker.publish_now(channel, body))
        )
        try:
            await sync_to_async(_double_aapl)(portfolio.pk)
            update = await next_update(outbox)
            aapl = next(p for p in update["data"]["positions"] if p["symbol"] == "AAPL")
            assert aapl["quantity"] == 20.0 and aapl["price"] == 270.0
            await sync_to_async(lambda: Portfolio.objects.filter(pk=portfolio.pk).delete())()
            message = orjson.loads((await _frames(outbox))[0])
            assert message["type"] == "error"
            assert message["data"]["code"] == "portfolio_not_found"
            assert cluster.valuer.portfolio_ids == []
        finally:
            unbind()


def _double_aapl(portfolio_id: int) -> None:
    Position.objects.filter(portfolio_id=portfolio_id, asset__symbol="AAPL").update(
        quantity=Decimal(20)
    )
    portfolio_changed(portfolio_id)  # update() sends no signal


async def test_the_ticks_of_a_window_fold_into_one_update_stamped_with_its_due_time(
    portfolio,
):
    async with running(MemoryBroker(), throttle=0.3) as cluster:
        outbox = await cluster.follow(portfolio.pk)
        await next_update(outbox)
        await asyncio.sleep(0.3)  # the window after start is over
        await tick(cluster.feed, "AAPL", 270.0)  # flushed on the next loop pass
        first = await next_update(outbox)
        for price in (271.0, 272.0, 273.0):
            await tick(cluster.feed, "AAPL", price)
        due = time.time() + 0.3  # about: the window opened with the first flush
        second = await next_update(outbox)
        aapl = next(p for p in second["data"]["positions"] if p["symbol"] == "AAPL")
        assert aapl["price"] == 273.0 and second["seq"] == first["seq"] + 1
        stamped = datetime.fromisoformat(second["timestamp"].replace("Z", "+00:00"))
        assert abs(stamped.timestamp() - due) < 0.1


def test_demand_messages_round_trip_and_bad_ones_name_the_field():
    def sealed(body: bytes) -> bytes:
        return seal(body, 1)

    demand = parse_demand(sealed(demand_body(RELEASE, "n1", [3, 1, 3])))
    assert demand is not None and demand.event == RELEASE and demand.node == "n1"
    assert demand.portfolio_ids == (1, 3)
    assert parse_demand(sealed(encode_body("asset_update", {}))) is None
    bad_ids = {"event": "watch", "node": "n", "portfolio_ids": ["x"]}
    with pytest.raises(ValueError, match="portfolio_ids"):
        parse_demand(sealed(encode_body("valuation_demand", bad_ids)))
    with pytest.raises(ValueError, match=r"data\.node"):
        parse_demand(sealed(encode_body("valuation_demand", {"event": "watch"})))
    with pytest.raises(ValueError, match="event"):
        demand_body("subscribe", "n1")


async def test_the_feed_processes_heartbeat_shows_its_valuer(portfolio):
    from tickwire.realtime.runtime import feed_heartbeat
    from tickwire.stream.brokers.redis import RedisBroker

    # Nothing connects: building the heartbeat opens no connection.
    broker = RedisBroker("redis://127.0.0.1:6379/0")
    try:
        async with running(MemoryBroker()) as cluster:
            await cluster.follow(portfolio.pk)
            await eventually(lambda: cluster.valuer.published == 1, "its value published")
            beat = feed_heartbeat(
                broker, cluster.feed, "redis://127.0.0.1:6379/0", valuer=cluster.valuer
            )
            assert beat is not None
            shown = beat.status()["portfolio_valuer"]
            assert shown == {"running": True, "portfolios": 1, "valuations": 1, "published": 1}
    finally:
        await broker.redis.aclose()


async def test_a_new_fx_asset_rebuilds_the_book_and_every_value_stays_exact(portfolio):
    async with running(MemoryBroker()) as cluster:
        outbox = await cluster.follow(portfolio.pk)
        await next_update(outbox)
        await sync_to_async(Asset.objects.create)(
            symbol="GBP-USD",
            name="GBP-USD",
            kind="fx",
            currency="USD",
            current_price=Decimal("1.27031"),
            previous_close=Decimal("1.26990"),
        )
        await cluster.broker.publish(
            VALUATION_CHANNEL,
            encode_body(control.PORTFOLIO_CONTROL, {"portfolio_id": portfolio.pk}),
        )
        update = await next_update(outbox)  # loaded again into a book over three pairs
        prices = {s: (_fraction(p), _fraction(c)) for s, (_, _, p, c) in STORED.items()}
        assert_matches(update, prices)
        assert [p.symbol for p in cluster.valuer._pairs] == ["EUR-USD", "GBP-USD", "USD-JPY"]
        await tick(cluster.feed, "BMW", 80.5)
        prices["BMW"] = (_fraction("80.5"), prices["BMW"][1])
        assert_matches(await next_update(outbox), prices)
