"""Several sources in one feed: two fake providers on loopback ports behind a RoutedSource,
through a real FeedService and MemoryBroker — failover on a dead or silent primary, the hand
back after recover_after, no tick going back in time, contiguous seqs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import orjson
import pytest

from tickwire.stream.brokers import MemoryBroker, Publication
from tickwire.stream.feeds import (
    Bar,
    FeedService,
    HistoryUnavailable,
    Instrument,
    RoutedSource,
    Source,
    Tick,
)
from tickwire.stream.feeds.router import Member
from tickwire.stream.feeds.routes import build_routed_source, parse_routes
from tickwire.stream.feeds.simulator import SimulatorSource

from .conftest import CRYPTO, STOCKS
from .fakes import FakeConn, eventually
from .providers import Provider


def routes(primary: Provider, backup: Provider, **failover: float) -> list[dict]:
    fast = {"backoff_initial": 0.02, "backoff_max": 0.05}
    return [
        {
            "name": "main",
            "source": "websocket",
            "kinds": ["stock", "crypto"],
            "options": {"url": primary.url("/main"), **fast},
            "backup": "spare",
            **failover,
        },
        {"name": "spare", "source": "websocket", "options": {"url": backup.url("/spare"), **fast}},
    ]


class Feed:
    """A FeedService over ``source`` on a MemoryBroker, recording what it publishes."""

    def __init__(self, source: Source, instruments: list[Instrument]) -> None:
        self.broker = MemoryBroker()
        self.service = FeedService(self.broker, source, instruments)
        self.published: list[Publication] = []

    async def __aenter__(self) -> Feed:
        await self.broker.start(self.published.append)
        await self.broker.subscribe("asset.AAPL")
        await self.broker.subscribe("asset.BTC-USD")
        self.service.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.service.stop()
        await self.broker.close()

    def prices(self, symbol: str) -> list[tuple[int, float]]:
        out = []
        for pub in self.published:
            if pub.channel == f"asset.{symbol}":
                out.append((pub.seq, orjson.loads(pub.frame)["data"]["price"]))
        return out

    async def wait_prices(self, symbol: str, n: int) -> list[tuple[int, float]]:
        await eventually(lambda: len(self.prices(symbol)) >= n, f"{n} updates of {symbol}")
        return self.prices(symbol)


def routed(primary: Provider, backup: Provider, **failover: float) -> RoutedSource:
    source = build_routed_source(
        parse_routes(routes(primary, backup, **failover)),
        STOCKS[:1] + CRYPTO[:1],
        interval=1.0,
        batch_size=50,
        check_interval=0.02,
    )
    assert isinstance(source, RoutedSource)
    return source


async def test_a_dead_primary_hands_over_to_the_hot_backup_and_takes_back_after_recovering():
    async with Provider() as main, Provider() as spare:
        source = routed(main, spare, recover_after=0.3)
        async with Feed(source, STOCKS[:1] + CRYPTO[:1]) as feed:
            m, s = await main.next_connection(), await spare.next_connection()
            # The backup runs hot: subscribed to the assets it stands by for.
            assert len(await s.wait_received(2)) == 2
            await eventually(lambda: source.status()["connected"] is True, "both up")
            await main.trade(m, "AAPL", 270.0, 1000.0)
            await feed.wait_prices("AAPL", 1)
            await spare.trade(s, "AAPL", 999.0, 1000.5)  # standby: not let through
            await main.go_down()
            await eventually(lambda: source.routes["AAPL"].active == "spare", "failover")
            route = source.status()["assets"]["AAPL"]
            assert route["switches"] == 1 and "main down" in route["last_switch_reason"]
            await spare.trade(s, "AAPL", 271.0, 1001.0)
            await spare.trade(s, "AAPL", 1.0, 999.0)  # older than what was let through
            await spare.trade(s, "AAPL", 272.0, 1002.0)
            await feed.wait_prices("AAPL", 3)
            m = await main.come_back()
            await eventually(lambda: source.routes["AAPL"].active == "main", "hand back")
            route = source.status()["assets"]["AAPL"]
            assert route["switches"] == 2
            assert "main healthy again" in route["last_switch_reason"]
            await spare.trade(s, "AAPL", 998.0, 1003.0)  # standby again
            await main.trade(m, "AAPL", 273.0, 1002.0)  # same time as spare's last: a repeat
            await main.trade(m, "AAPL", 274.0, 1004.0)
            prices = await feed.wait_prices("AAPL", 4)
    # Seqs contiguous across the switch and back; no price from the standby, none older.
    assert prices == [(1, 270.0), (2, 271.0), (3, 272.0), (4, 274.0)]
    status = source.status()
    assert status["out_of_order_ticks"] == 2
    assert status["standby_ticks"] >= 2
    # Counted per asset switched: AAPL and BTC-USD both went over and back.
    assert status["sources"]["main"]["failovers"] == 2
    assert status["sources"]["main"]["recoveries"] == 2


async def test_a_primary_silent_for_one_asset_hands_only_that_asset_over():
    async with Provider() as main, Provider() as spare:
        source = routed(main, spare, stale_after=0.3, recover_after=0.3)
        async with Feed(source, STOCKS[:1] + CRYPTO[:1]) as feed:
            m, s = await main.next_connection(), await spare.next_connection()
            await eventually(lambda: source.status()["connected"] is True, "both up")
            ts = 2000.0

            async def keep(provider: Provider, conn: FakeConn, symbol: str) -> None:
                nonlocal ts
                while True:
                    ts += 0.01
                    await provider.trade(conn, symbol, 100.0 + ts % 1, ts)
                    await asyncio.sleep(0.02)

            # main keeps BTC-USD going but says nothing of AAPL; spare quotes AAPL.
            tasks = [
                asyncio.ensure_future(keep(main, m, "BTC-USD")),
                asyncio.ensure_future(keep(spare, s, "AAPL")),
            ]
            try:
                await eventually(lambda: source.routes["AAPL"].active == "spare", "failover")
                assert "main silent for AAPL" in (source.routes["AAPL"].reason or "")
                assert source.routes["BTC-USD"].active == "main"
                await feed.wait_prices("AAPL", 3)
                # main quotes AAPL again: after recover_after it takes it back.
                tasks.append(asyncio.ensure_future(keep(main, m, "AAPL")))
                await eventually(lambda: source.routes["AAPL"].active == "main", "hand back")
                n = len(feed.prices("AAPL"))
                await feed.wait_prices("AAPL", n + 3)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            prices = feed.prices("AAPL")
    assert [seq for seq, _ in prices] == list(range(1, len(prices) + 1))
    assert source.routes["BTC-USD"].switches == 0
    assert source.routes["AAPL"].switches == 2


async def test_no_failover_while_the_backup_is_down_too():
    async with Provider() as main, Provider() as spare:
        source = routed(main, spare, recover_after=0.1)
        async with Feed(source, STOCKS[:1] + CRYPTO[:1]):
            await main.next_connection()
            await spare.next_connection()
            await eventually(lambda: source.status()["connected"] is True, "both up")
            await spare.go_down()
            await eventually(lambda: not source.members["spare"].is_up(), "spare down")
            await main.go_down()
            await eventually(lambda: source.status()["connected"] is False, "main down")
            await asyncio.sleep(0.1)
            assert source.routes["AAPL"].active == "main"
            assert source.routes["AAPL"].switches == 0


class Canned(Source):
    """A source answering from fixed data (for the delegation of one-off requests)."""

    def __init__(self, name: str, price: float, history: bool = True) -> None:
        self.name = name
        self.price = price
        self.has_history = history
        self.asked: list[tuple[str, list[str]]] = []

    async def ticks(self) -> AsyncIterator[list[Tick]]:
        await asyncio.Event().wait()
        yield []

    async def refresh(self, symbols: Sequence[str]) -> list[Tick]:
        self.asked.append(("refresh", list(symbols)))
        return [Tick(s, self.price, 0, 5000.0) for s in symbols]

    async def fetch(self, symbols: Sequence[str], timeout: float = 15.0) -> dict[str, Tick]:
        self.asked.append(("fetch", list(symbols)))
        quoted = [s for s in symbols if s != "ETH-USD" or self.name == "spare"]
        return {s: Tick(s, self.price, 0, 5000.0) for s in quoted}

    async def history_pages(
        self, symbol: str, interval: int, start: int, end: int
    ) -> AsyncIterator[list[Bar]]:
        if not self.has_history:
            raise HistoryUnavailable(f"the {self.name} source provides no history")
        yield [Bar(symbol, interval, start, 1, 1, 1, self.price)]


def canned(main_history: bool = True) -> tuple[RoutedSource, Canned, Canned]:
    main, spare = Canned("main", 1.0, main_history), Canned("spare", 2.0)
    source = RoutedSource(
        [Member("main", main), Member("spare", spare)],
        primary={"AAPL": "main", "BTC-USD": "main", "ETH-USD": "main"},
        backup={"BTC-USD": "spare", "ETH-USD": "spare"},
    )
    return source, main, spare


async def test_forced_updates_go_to_each_assets_active_source():
    source, main, spare = canned()
    source._switch(source.routes["BTC-USD"], "spare", "test")
    ticks = await source.refresh(["AAPL", "BTC-USD", "NOPE"])
    assert sorted((t.symbol, t.price) for t in ticks) == [("AAPL", 1.0), ("BTC-USD", 2.0)]
    assert main.asked == [("refresh", ["AAPL"])] and spare.asked == [("refresh", ["BTC-USD"])]


async def test_one_off_quotes_come_from_the_active_source_and_its_backup_for_the_rest():
    source, main, spare = canned()
    got = await source.fetch(["AAPL", "ETH-USD"], timeout=1)
    assert {s: t.price for s, t in got.items()} == {"AAPL": 1.0, "ETH-USD": 2.0}
    assert main.asked == [("fetch", ["AAPL", "ETH-USD"])]
    assert spare.asked == [("fetch", ["ETH-USD"])]


async def test_history_pages_come_from_the_primary_or_its_backup_when_it_has_none():
    source, _, _ = canned(main_history=False)
    pages = [p async for p in source.history_pages("BTC-USD", 60, 0, 600)]
    assert pages == [[Bar("BTC-USD", 60, 0, 1, 1, 1, 2.0)]]
    with pytest.raises(HistoryUnavailable, match="main source provides no history"):
        [p async for p in source.history_pages("AAPL", 60, 0, 600)]
    with pytest.raises(HistoryUnavailable, match="no configured source serves NOPE"):
        [p async for p in source.history_pages("NOPE", 60, 0, 600)]
    source, _, _ = canned()
    assert [p async for p in source.history_pages("BTC-USD", 60, 0, 600)] == [
        [Bar("BTC-USD", 60, 0, 1, 1, 1, 1.0)]
    ]


class Finite(Source):
    """A source that yields its batches, then ends (as a replay without loop does)."""

    def __init__(self, *batches: list[Tick]) -> None:
        self.batches = batches

    async def ticks(self) -> AsyncIterator[list[Tick]]:
        for batch in self.batches:
            yield batch


async def test_a_source_whose_ticks_end_is_down_and_the_feed_ends_when_every_one_has():
    source = RoutedSource(
        [
            Member("once", Finite([Tick("AAPL", 1.0, 0, 10.0)])),
            Member("sim", SimulatorSource(STOCKS[:1], interval=0.01, batch_size=5, seed=1)),
        ],
        primary={"AAPL": "once"},
        backup={"AAPL": "sim"},
        check_interval=0.01,
    )
    got: list[Tick] = []
    async for batch in source.ticks():
        got.extend(batch)
        if len(got) >= 4:
            break
    assert got[0] == Tick("AAPL", 1.0, 0, 10.0)
    assert all(t.ts > 0 for t in got)  # the simulator's ticks, let through in time order
    route = source.routes["AAPL"]
    assert route.active == "sim" and route.reason == "once down: its ticks ended"
    ends = RoutedSource(
        [Member("a", Finite([Tick("AAPL", 1.0, 0, 10.0)])), Member("b", Finite())],
        primary={"AAPL": "a", "MSFT": "b"},
    )
    assert [t async for batch in ends.ticks() for t in batch] == [Tick("AAPL", 1.0, 0, 10.0)]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_silence_rules_on_a_clock_quiet_everywhere_is_no_reason_to_switch():
    clock = Clock()
    source = RoutedSource(
        [
            Member("main", Canned("main", 1.0), stale_after=5.0, recover_after=3.0),
            Member("spare", Canned("spare", 2.0)),
        ],
        primary={"AAPL": "main"},
        backup={"AAPL": "spare"},
        clock=clock,
    )
    route = source.routes["AAPL"]
    source.check()
    clock.now = 1.0
    assert source.admit("main", [Tick("AAPL", 1.0, 0, 100.0)])
    clock.now = 10.0
    source.check()
    assert route.active == "main"  # main is quiet, but so is spare
    assert source.admit("spare", [Tick("AAPL", 2.0, 0, 101.0)]) == []
    source.check()
    assert route.active == "spare" and route.reason == "main silent for AAPL for 9.0s"
    for now in (11.0, 12.0, 13.9):
        clock.now = now
        source.admit("main", [Tick("AAPL", 1.0, 0, 100.0 + now)])
        source.check()
        assert route.active == "spare"  # healthy again since 11.0, not yet for 3s
    clock.now = 14.0
    source.check()
    assert route.active == "main" and route.reason == "main healthy again for 3.0s"
    assert route.switches == 2
