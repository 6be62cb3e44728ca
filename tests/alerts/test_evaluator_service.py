"""The evaluator as a service: books reloaded on a position edit, the reconcile pass, a
database outage, and the two places it runs (the embedded runtime, the feed process)
with what staff status and /metrics show of it."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection
from django.test import override_settings
from django.utils import timezone

from tests.alerts.test_evaluator import (
    TICKS,
    expected_fires,
    fired,
    make_rule,
    play,
    read_file,
    running,
    wait_for,
    write_ticks,
)
from tests.realtime.prometheus import samples
from tickwire.alerts.models import AlertEvent, AlertRule, AlertRuleState
from tickwire.portfolios.models import Position
from tickwire.realtime import metrics
from tickwire.realtime.feedprocess import FeedOptions, run_feed_process
from tickwire.realtime.publishers import LoopPublisher
from tickwire.realtime.runtime import Runtime
from tickwire.realtime.status import alerts_status, service_status
from tickwire.stream import control
from tickwire.stream.brokers import Broker, MemoryBroker
from tickwire.stream.brokers.redis import RedisBroker

pytestmark = pytest.mark.django_db(transaction=True)


def steady(path: Path, symbol: str, prices: list[str], count: int, gap: float = 0.015) -> Path:
    t = 1764489600.0
    rows = [(symbol, prices[i % len(prices)], t + i * gap) for i in range(count)]
    return write_ticks(path, rows)


@contextlib.contextmanager
def publisher_on(broker: MemoryBroker):
    """Control messages of this process go through ``broker``, as the runtime binds it."""
    unbind = control.bind_publisher(LoopPublisher(broker, asyncio.get_running_loop()))
    try:
        yield
    finally:
        unbind()


async def test_a_position_edit_reloads_the_book_and_the_new_total_is_judged(
    owner, assets, portfolio, tmp_path
):
    # 100 AAPL and 40 SAP (in EUR) are worth about 26,900 USD; 50 TSLA at 290 more: 41,400.
    rule = await sync_to_async(make_rule)(owner, portfolio, {"kind": "above", "level": "40000"})
    path = steady(tmp_path / "steady.csv", "AAPL", ["199", "199.5"], 300)
    async with running(path, speed=1.0) as run:
        with publisher_on(run.broker):
            run.feed.start()
            await wait_for(lambda: run.evaluator.observations > 20, "portfolio valuations")
            assert await fired(rule) == []
            await sync_to_async(Position.objects.create)(
                portfolio=portfolio, asset=assets["TSLA"], quantity=Decimal(50)
            )
            await wait_for(lambda: run.evaluator.fires == 1, "the fire on the new total")
            await asyncio.wait_for(run.feed.start(), 30)
    [(_, value)] = await fired(rule)
    # 100 AAPL at 199 or 199.5, 40 SAP at 150 EUR at 1.1640 USD, 50 TSLA at 290.
    assert value in {Decimal("41384.00"), Decimal("41434.00")}


async def test_the_reconcile_pass_finds_changes_whose_message_was_lost(owner, assets):
    create = sync_to_async(make_rule)
    changed = await create(owner, assets["AAPL"], {"kind": "above", "level": "300"})
    deleted = await create(owner, assets["MSFT"], {"kind": "below", "level": "1"})
    async with running(TICKS) as run:
        evaluator = run.evaluator
        assert evaluator.status()["rules"] == 2
        # No publisher is bound: these changes announce themselves to no one.
        await sync_to_async(
            lambda: AlertRule.objects.filter(pk=changed.pk).update(
                condition={"kind": "above", "level": "200"}, updated_at=timezone.now()
            )
        )()
        added = await create(owner, assets["MSFT"], {"kind": "below", "level": "400.5"})
        await sync_to_async(deleted.delete)()
        assert await evaluator.reconcile() == 3
        await wait_for(
            lambda: (
                str(deleted.pk) not in evaluator.engine
                and str(added.pk) in evaluator.engine
                and evaluator.engine.rule(str(changed.pk)).condition.level == 200
            ),
            "the reconciled rules",
        )
        assert await evaluator.reconcile() == 0
        await play(run)
    rows = read_file(TICKS)
    aapl = [(at, v) for s, at, v in rows if s == "AAPL"]
    msft = [(at, v) for s, at, v in rows if s == "MSFT"]
    assert await fired(changed) == expected_fires(aapl, Decimal(200), up=True)
    assert await fired(added) == expected_fires(msft, Decimal("400.5"), up=False)


async def test_a_database_outage_keeps_every_fire_in_order_and_writes_it_once_back(owner, assets):
    rule = await sync_to_async(make_rule)(owner, assets["AAPL"], {"kind": "above", "level": "200"})

    def down(execute, sql, params, many, context):
        raise OperationalError("connection refused: the database is down")

    outage = contextlib.ExitStack()
    async with running(TICKS) as run:
        evaluator = run.evaluator
        # The evaluator's database calls run in asgiref's one thread-sensitive thread:
        # every query there fails until the outage ends.
        await sync_to_async(lambda: outage.enter_context(connection.execute_wrapper(down)))()
        try:
            await play(run)
            await wait_for(lambda: evaluator.writer.failures >= 1, "a failed write")
            status = evaluator.status()
            assert status["database_ok"] is False
            assert "the database is down" in status["last_error"]
            assert status["writes_pending"] >= status["fires"] >= 3
            # Read on another thread, where the database answers: nothing written yet.
            count = sync_to_async(AlertEvent.objects.count, thread_sensitive=False)
            assert await count() == 0
        finally:
            await sync_to_async(outage.close)()
        await wait_for(lambda: evaluator.writer.pending == 0, "the queue written", 60)
        status = evaluator.status()
        assert status["database_ok"] is True and status["writes_pending"] == 0
        # The last error stays on show for whoever looks later.
        assert "the database is down" in status["last_error"]
    aapl = [(at, v) for s, at, v in read_file(TICKS) if s == "AAPL"]
    # Every fire decided during the outage, in order, once.
    assert await fired(rule) == expected_fires(aapl, Decimal(200), up=True)
    assert (
        sorted(e.pk for e in run.committed)
        == await sync_to_async(lambda: sorted(AlertEvent.objects.values_list("pk", flat=True)))()
    )


def replay_settings(path: Path, **extra):
    return override_settings(
        TICKWIRE_FEED_SOURCES=None,
        TICKWIRE_FEED_SOURCE="replay",
        TICKWIRE_FEED_OPTIONS={"file": str(path), "speed": 0, "original_time": True},
        **extra,
    )


async def test_the_embedded_runtime_runs_it_beside_its_feed_and_shows_it(owner, assets):
    rule = await sync_to_async(make_rule)(owner, assets["AAPL"], {"kind": "above", "level": "200"})
    with replay_settings(TICKS):
        runtime = Runtime(broker=MemoryBroker())
        await runtime.start(run_feed=True)
        try:
            assert runtime.alerts is not None and runtime.feed is not None
            await asyncio.wait_for(runtime.feed.start(), 30)
            aapl = [(at, v) for s, at, v in read_file(TICKS) if s == "AAPL"]
            want = expected_fires(aapl, Decimal(200), up=True)
            await wait_for(lambda: runtime.alerts.writer.pending == 0, "the fires written")
            body = await service_status(runtime, None, staff=True)
            assert body["alerts"]["rules"] == 1
            assert body["alerts"]["fires"] == body["alerts"]["events_written"] == len(want)
            assert body["alerts"]["database_ok"] is True
            assert body["alerts"]["last_save_at"] is not None
            got = samples(metrics.render(runtime, []))
            assert got[("tickwire_alert_rules", ())] == 1
            assert got[("tickwire_alert_fires_total", ())] == len(want)
            assert got[("tickwire_alert_state_writes_pending", ())] == 0
            assert "alerts" not in await service_status(runtime, None)  # staff only
        finally:
            await runtime.stop()
    assert runtime.alerts is None
    assert await fired(rule) == want


async def test_no_evaluator_when_alerts_are_turned_off(owner, assets):
    with replay_settings(TICKS, TICKWIRE_ALERTS_ENABLED=False):
        runtime = Runtime(broker=MemoryBroker())
        await runtime.start(run_feed=True)
        try:
            assert runtime.feed is not None and runtime.alerts is None
            assert (await service_status(runtime, None, staff=True))["alerts"] is None
            got = samples(metrics.render(runtime, []))
            assert ("tickwire_alert_rules", ()) not in got
        finally:
            await runtime.stop()


def test_scaled_out_nodes_show_the_feed_processs_evaluator():
    """A node without a feed reports the evaluator status its feed process's heartbeat
    carries (what runtime.feed_heartbeat adds)."""

    class NoFeed:
        alerts = None

    beat = {"feed_id": "feed-1", "alerts": {"rules": 3, "fires": 7, "writes_pending": 0}}
    assert alerts_status(NoFeed(), [{"feed_id": "feed-0"}, beat]) == beat["alerts"]
    assert alerts_status(NoFeed(), [{"feed_id": "feed-0"}]) is None


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_the_feed_process_hears_rule_changes_through_its_broker(
    owner, assets, tmp_path, request, kind
):
    """``tickwire feed``'s evaluator: control.alerts reaches it by the broker's handler,
    on the memory broker and on a real Redis."""
    path = steady(tmp_path / "wave.csv", "AAPL", ["199", "201"], 2000, gap=0.01)
    if kind == "redis":
        url = request.getfixturevalue("redis_server").url
        broker: Broker = RedisBroker(url, prefix=f"alerts-{tmp_path.name}")
    else:
        broker = MemoryBroker()
    stop = asyncio.Event()
    options = FeedOptions(
        interval=0.01,
        batch_size=10,
        symbols=("AAPL",),
        source="replay",
        source_options={"file": str(path), "speed": 1, "original_time": True},
    )
    task = asyncio.ensure_future(run_feed_process(options, broker=broker, stop=stop))
    try:
        for _ in range(2000):  # bounded: 20 s
            if (await broker.top("asset.AAPL"))[0] > 0:
                break  # publishing: the evaluator, started before the feed, listens
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the feed did not start")
        with publisher_on(broker):
            rule = await sync_to_async(make_rule)(
                owner, assets["AAPL"], {"kind": "above", "level": "200"}
            )
            for _ in range(2000):  # bounded: 20 s
                if await AlertEvent.objects.filter(rule_id=rule.pk).aexists():
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("no fire of the rule created while the feed runs")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await broker.close()
    fires = await fired(rule)
    assert fires and all(value == 201 for _, value in fires)
    # Every fire is a new pass above 200 (the price alternates): one per two ticks at most.
    assert len({at for at, _ in fires}) == len(fires)


async def test_fires_and_armed_state_are_stored_at_once_and_the_rest_on_the_timer(
    owner, assets, settings, tmp_path
):
    """Without any stop: what a crash would leave in the database."""
    settings.TICKWIRE_ALERT_STATE_SAVE_SECONDS = 0.2
    rule = await sync_to_async(make_rule)(owner, assets["AAPL"], {"kind": "above", "level": "200"})
    t = 1764489600.0
    path = write_ticks(
        tmp_path / "up.csv",
        [("AAPL", "201", t + 1), ("AAPL", "199", t + 2), ("AAPL", "198", t + 3)],
    )

    @sync_to_async
    def saved() -> dict | None:
        return AlertRuleState.objects.filter(rule=rule).values_list("state", flat=True).first()

    async with running(path) as run:
        await play(run)
        await wait_for(lambda: run.evaluator.writer.pending == 0, "the writes")
        # The fire, and the re-arming on the way back: written as they happened.
        assert await fired(rule) == [(t + 1, Decimal(201))]
        state = await saved()
        assert state is not None and state["armed"] == [True] and state["last_fired"] == t + 1
        # 198 changed nothing but the last value, the timed part: there within a save
        # period or two.
        for _ in range(500):  # bounded: 5 s
            state = await saved()
            if state is not None and Decimal(state["last"]) == 198:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError(f"the last value was not saved on the timer: {state}")
