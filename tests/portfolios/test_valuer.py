"""The live valuer: a fixed tick sequence replayed through a real node and broker, every
emitted portfolio_update checked against an independent calculation (exact fractions)."""

from __future__ import annotations

import asyncio
import contextlib
import math
from decimal import Decimal
from fractions import Fraction as F

import orjson
import pytest
from django.contrib.auth import get_user_model

from tickwire.assets.models import Asset
from tickwire.portfolios.models import Portfolio, Position
from tickwire.portfolios.valuer import PortfolioValuer
from tickwire.stream import control
from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.channels import asset_channel, portfolio_channel
from tickwire.stream.hub import Outbox
from tickwire.stream.node import Node
from tickwire.stream.protocol import encode_body

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


@contextlib.asynccontextmanager
async def running(broker, node_grace: float = 0.01, **valuer_options):
    """A started node on ``broker`` and a started valuer on it; both closed after."""
    node = Node(broker, grace=node_grace)
    await node.start()
    valuer = PortfolioValuer(node, throttle=0, **valuer_options)
    valuer.start()
    try:
        yield node, valuer
    finally:
        await valuer.close()
        await node.close()


async def test_replayed_ticks_match_an_independent_calculation(portfolio):
    broker = MemoryBroker()
    async with running(broker) as (node, valuer):
        outbox = Outbox()
        channel = portfolio_channel(portfolio.pk)
        node.activate(outbox, await node.subscribe(outbox, channel))
        assert await valuer.watch(portfolio.pk)
        prices = {s: (_fraction(p), _fraction(c)) for s, (_, _, p, c) in STORED.items()}
        snapshot = await next_update(outbox)
        assert snapshot["data"]["portfolio_id"] == portfolio.pk
        assert snapshot["data"]["name"] == "Global"
        assert_matches(snapshot, prices)
        seqs = [snapshot["seq"]]
        for symbol, price, prev in TICKS:
            body = encode_body(
                "asset_update", {"symbol": symbol, "price": price, "previous_close": prev}
            )
            broker.publish_now(asset_channel(symbol), body)
            prices[symbol] = (_fraction(price), _fraction(prev))
            update = await next_update(outbox)
            assert_matches(update, prices)
            seqs.append(update["seq"])
        assert seqs == list(range(seqs[0], seqs[0] + len(TICKS) + 1))
        # The valuer listens to exactly the holdings and the FX legs they need.
        assert {c for c in node.broker_channels if c.startswith("asset.")} == {
            asset_channel(s) for s in STORED
        }


async def test_unwatched_portfolio_releases_its_asset_channels(portfolio):
    broker = MemoryBroker()
    async with running(broker, node_grace=0.0, grace=0.0) as (node, valuer):
        outbox = Outbox()
        channel = portfolio_channel(portfolio.pk)
        node.activate(outbox, await node.subscribe(outbox, channel))
        await valuer.watch(portfolio.pk)
        await next_update(outbox)
        node.unsubscribe(outbox, channel)
        valuer.release(portfolio.pk)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if not node.broker_channels:
                break
        assert valuer.portfolio_ids == []
        assert node.broker_channels == frozenset()
        assert await valuer.watch(10**9) is False  # a missing portfolio is not watched


async def test_an_old_position_change_event_does_not_trigger_a_second_snapshot(portfolio):
    """The control channel's stored last event is history, not news, for a new watcher."""
    broker = MemoryBroker()
    async with running(broker) as (node, valuer):
        broker.publish_now(
            control.portfolio_control_channel(portfolio.pk),
            encode_body(control.PORTFOLIO_CONTROL, {"portfolio_id": portfolio.pk}),
        )
        outbox = Outbox()
        node.activate(outbox, await node.subscribe(outbox, portfolio_channel(portfolio.pk)))
        assert await valuer.watch(portfolio.pk)
        assert not valuer._watched[portfolio.pk].reloading
        first = await next_update(outbox)
        broker.publish_now(
            asset_channel("BMW"),
            encode_body("asset_update", {"symbol": "BMW", "price": 81.0, "previous_close": 79.5}),
        )
        second = await next_update(outbox)
        assert second["seq"] == first["seq"] + 1
        bmw = next(p for p in second["data"]["positions"] if p["symbol"] == "BMW")
        assert bmw["price"] == 81.0


class _RoundTripBroker(MemoryBroker):
    """A memory broker whose subscribe takes a network round trip, as Redis's does."""

    async def subscribe(self, channel: str) -> None:
        await asyncio.sleep(0.02)
        await super().subscribe(channel)


async def test_a_tick_during_loading_never_values_holdings_without_their_stored_price(
    portfolio,
):
    broker = _RoundTripBroker()
    async with running(broker) as (node, valuer):
        outbox = Outbox()
        channel = portfolio_channel(portfolio.pk)
        node.activate(outbox, await node.subscribe(outbox, channel))
        watching = asyncio.ensure_future(valuer.watch(portfolio.pk))

        async def tick_while_loading():
            # AAPL is the first holding subscribed: tick it while the others still load.
            while asset_channel("AAPL") not in broker.subscribed_channels:
                await asyncio.sleep(0.001)
            body = encode_body(
                "asset_update", {"symbol": "AAPL", "price": 270.0, "previous_close": 265.12}
            )
            broker.publish_now(asset_channel("AAPL"), body)

        await asyncio.wait_for(asyncio.gather(tick_while_loading(), watching), 10)
        await asyncio.sleep(0.05)
        # Every publication on the channel (the outbox would conflate them: state).
        history = await broker.history(channel, 0, broker.epoch)
        published = [orjson.loads(p.frame)["data"] for p in history.publications]
        assert len(published) >= 2, published  # the tick's valuation, then the snapshot
        for data in published:
            assert data["status"] == "ok", data.get("errors")
