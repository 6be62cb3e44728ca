"""The server's alert evaluator on a recorded tick file through the real feed.

A ``ReplaySource`` plays ``data/ticks.csv`` (file times kept) through a ``FeedService`` on a
``MemoryBroker`` with a real node, the evaluator watching it and writing to the test
database. Which ticks must fire is computed here, plainly and independently of the rule
engine, from the file itself: each rule's fires are compared tick by tick (time, value).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction as F
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from tickwire.alerts.evaluator import AlertEvaluator, node_evaluator
from tickwire.alerts.models import AlertEvent, AlertRule, AlertRuleState
from tickwire.assets.models import Asset
from tickwire.portfolios.models import Portfolio, Position
from tickwire.realtime.publishers import LoopPublisher
from tickwire.stream import control
from tickwire.stream.brokers import MemoryBroker
from tickwire.stream.feeds import FeedService, Instrument, Quote
from tickwire.stream.feeds.replay import ReplaySource
from tickwire.stream.node import Node

pytestmark = pytest.mark.django_db(transaction=True)

TICKS = Path(__file__).parent / "data" / "ticks.csv"
#: symbol: (kind, currency, price at start, previous close, decimals)
ASSETS = {
    "AAPL": ("stock", "USD", "199.00", "198.50", 2),
    "MSFT": ("stock", "USD", "401.00", "402.00", 2),
    "SAP": ("stock", "EUR", "150.00", "152.00", 2),
    "EUR-USD": ("fx", "USD", "1.1640", "1.1650", 4),
    "TSLA": ("stock", "USD", "290.00", "290.00", 2),
}
#: The portfolio (valued in USD): SAP converts through EUR-USD.
HOLDINGS = {"AAPL": "100", "SAP": "40"}


def instruments() -> list[Instrument]:
    return [
        Instrument(s, float(p), float(c), kind=k, currency=cur, decimals=d)
        for s, (k, cur, p, c, d) in ASSETS.items()
    ]


def read_file(path: Path) -> list[tuple[str, float, Decimal]]:
    """(symbol, time, price) per row, as recorded."""
    with path.open(newline="") as fh:
        return [(r["symbol"], float(r["ts"]), Decimal(r["price"])) for r in csv.DictReader(fh)]


# -- the independent computation --------------------------------------------------------------


def expected_fires(
    series: list[tuple[float, Decimal]],
    level: Decimal,
    *,
    up: bool,
    hysteresis: Decimal = Decimal(0),
    cooldown: float = 0.0,
    cross: bool = False,
) -> list[tuple[float, Decimal]]:
    """The (time, value) of each fire of "above/below ``level``" (or a crossing) as
    docs/alerts.md describes it: fire when beyond the level and armed and out of the
    cooldown (a fire held back by the cooldown comes on the first value after it that is
    still beyond); disarm on a fire; re-arm (without firing) once back past the level by
    the hysteresis. A crossing is armed at first only if its first value is not beyond."""
    fires = []
    armed: bool | None = None
    last_fire: float | None = None
    for at, value in series:
        beyond = value > level if up else value < level
        if armed is None:
            armed = not beyond if cross else True
        if not armed:
            back = value <= level - hysteresis if up else value >= level + hysteresis
            if back:
                armed = True
        elif beyond and (last_fire is None or at - last_fire >= cooldown):
            fires.append((at, value))
            armed = False
            last_fire = at
    return fires


def _round(x: F, places: int) -> Decimal:
    q = x * 10**places
    n = math.floor(q + F(1, 2)) if q >= 0 else -math.floor(-q + F(1, 2))
    return Decimal(n).scaleb(-places)


def portfolio_series(rows) -> tuple[list[tuple[float, Decimal]], list[tuple[float, Decimal]]]:
    """After each tick the portfolio's value reads: (time, total in cents) and (time,
    daily change in percent, 4 places), computed with exact fractions."""
    price = {s: F(Decimal(v[2])) for s, v in ASSETS.items()}
    prev = {s: F(Decimal(v[3])) for s, v in ASSETS.items()}
    totals, changes = [], []
    for symbol, at, value in rows:
        price[symbol] = F(value)
        if symbol not in ("AAPL", "SAP", "EUR-USD"):
            continue
        q_aapl, q_sap = F(Decimal(HOLDINGS["AAPL"])), F(Decimal(HOLDINGS["SAP"]))
        total = q_aapl * price["AAPL"] + q_sap * price["SAP"] * price["EUR-USD"]
        before = q_aapl * prev["AAPL"] + q_sap * prev["SAP"] * prev["EUR-USD"]
        totals.append((at, _round(total, 2)))
        changes.append((at, _round((total - before) / before * 100, 4)))
    return totals, changes


# -- the running parts ------------------------------------------------------------------------


@dataclass
class Run:
    broker: MemoryBroker
    node: Node
    feed: FeedService
    evaluator: AlertEvaluator
    committed: list[AlertEvent] = field(default_factory=list)


@contextlib.asynccontextmanager
async def running(path: Path, speed: float = 0.0) -> AsyncIterator[Run]:
    """The feed replaying ``path`` with the evaluator attached (started, not yet playing:
    call ``run.feed.start()``); everything stopped after."""
    broker = MemoryBroker()
    node = Node(broker)
    await node.start()
    source = ReplaySource(instruments(), file=path, speed=speed, original_time=True)
    feed = FeedService(broker, source, instruments())
    committed: list[AlertEvent] = []
    evaluator = node_evaluator(feed, node, on_committed=committed.extend)
    run = Run(broker, node, feed, evaluator, committed)
    await evaluator.start()
    try:
        yield run
    finally:
        await feed.stop()
        await evaluator.stop()
        await node.close()


async def play(run: Run) -> None:
    await asyncio.wait_for(run.feed.start(), 60)


async def wait_for(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


@sync_to_async
def fired(rule: AlertRule, quantity: str = "value") -> list[tuple[float, Decimal]]:
    """(time, value) of the rule's events; ``quantity="measure"``: the quantity compared
    (the change in percent of a change rule)."""
    events = AlertEvent.objects.filter(rule=rule).order_by("fired_at", "id")
    return [(e.fired_at.timestamp(), Decimal(e.fire[quantity])) for e in events]


# -- fixtures ---------------------------------------------------------------------------------


def create_owner():
    return get_user_model().objects.create_user("eve", "eve@example.com", "pw")


def create_assets() -> dict[str, Asset]:
    return {
        symbol: Asset.objects.create(
            symbol=symbol,
            name=symbol,
            kind=kind,
            currency=currency,
            current_price=Decimal(price),
            previous_close=Decimal(close),
        )
        for symbol, (kind, currency, price, close, _) in ASSETS.items()
    }


def create_portfolio(owner, assets: dict[str, Asset]) -> Portfolio:
    portfolio = Portfolio.objects.create(owner=owner, name="Main", currency="USD")
    for symbol, quantity in HOLDINGS.items():
        Position.objects.create(
            portfolio=portfolio, asset=assets[symbol], quantity=Decimal(quantity)
        )
    return portfolio


def make_rule(owner, target, condition, **options) -> AlertRule:
    where = {"portfolio": target} if isinstance(target, Portfolio) else {"asset": target}
    return AlertRule.objects.create(owner=owner, condition=condition, **where, **options)


# -- tests ------------------------------------------------------------------------------------


async def test_each_rule_fires_at_exactly_the_ticks_an_independent_computation_says(
    owner, assets, portfolio
):
    create = sync_to_async(make_rule)
    aapl, msft = assets["AAPL"], assets["MSFT"]
    above = await create(owner, aapl, {"kind": "above", "level": "200"})
    sticky = await create(owner, aapl, {"kind": "above", "level": "200"}, hysteresis="1.5")
    cross = await create(
        owner, aapl, {"kind": "cross", "level": "199", "direction": "up"}, cooldown=20
    )
    below = await create(owner, msft, {"kind": "below", "level": "400.5"})
    value = await create(owner, portfolio, {"kind": "below", "level": "26750"})
    drawdown = await create(
        owner, portfolio, {"kind": "change_below", "percent": "-0.5"}, hysteresis="0.2"
    )
    rows = read_file(TICKS)
    series = {s: [(at, v) for sym, at, v in rows if sym == s] for s in ASSETS}
    totals, changes = portfolio_series(rows)
    want = {
        above.pk: expected_fires(series["AAPL"], Decimal(200), up=True),
        sticky.pk: expected_fires(series["AAPL"], Decimal(200), up=True, hysteresis=Decimal("1.5")),
        cross.pk: expected_fires(series["AAPL"], Decimal(199), up=True, cooldown=20, cross=True),
        below.pk: expected_fires(series["MSFT"], Decimal("400.5"), up=False),
        value.pk: expected_fires(totals, Decimal(26750), up=False),
        drawdown.pk: expected_fires(changes, Decimal("-0.5"), up=False, hysteresis=Decimal("0.2")),
    }
    # The file and the levels make every guard matter: hysteresis and cooldowns hold
    # back fires that the plain rule would have had.
    assert len(want[above.pk]) >= 3 and len(want[sticky.pk]) < len(want[above.pk])
    assert len(want[cross.pk]) >= 2
    assert len(expected_fires(series["AAPL"], Decimal(199), up=True, cross=True)) > len(
        want[cross.pk]
    )
    assert len(want[below.pk]) >= 2 and len(want[value.pk]) >= 2
    assert len(want[drawdown.pk]) >= 2
    assert len(expected_fires(changes, Decimal("-0.5"), up=False)) > len(want[drawdown.pk])

    async with running(TICKS) as run:
        assert run.evaluator.status()["rules"] == 6
        assert run.evaluator.status()["portfolios"] == 1
        await play(run)
    for rule in (above, sticky, cross, below, value):
        assert await fired(rule) == want[rule.pk], rule.condition
    assert await fired(drawdown, "measure") == want[drawdown.pk]
    total = sum(len(w) for w in want.values())
    status = run.evaluator.status()
    assert status["fires"] == status["events_written"] == total
    assert status["writes_pending"] == 0 and status["last_error"] is None
    # The dispatcher's callback heard of every event written, once.
    assert (
        sorted(e.pk for e in run.committed)
        == await sync_to_async(lambda: sorted(AlertEvent.objects.values_list("pk", flat=True)))()
    )


async def test_a_rule_the_engine_refuses_is_skipped_and_the_others_run(owner, assets):
    create = sync_to_async(make_rule)
    good = await create(owner, assets["AAPL"], {"kind": "above", "level": "200"})
    # Written behind the API's back: no level.
    bad = await create(owner, assets["AAPL"], {"kind": "above", "level": "abc"})
    async with running(TICKS) as run:
        status = run.evaluator.status()
        assert (status["rules"], status["rules_refused"]) == (1, 1)
        await play(run)
    aapl = [(at, v) for s, at, v in read_file(TICKS) if s == "AAPL"]
    assert await fired(good) == expected_fires(aapl, Decimal(200), up=True)
    assert await fired(bad) == []


def write_ticks(path: Path, rows: list[tuple[str, str, float]]) -> Path:
    path.write_text("symbol,price,volume,ts\n" + "".join(f"{s},{p},1,{t}\n" for s, p, t in rows))
    return path


async def test_a_restart_fires_a_crossing_still_true_once_and_nothing_twice(
    owner, assets, tmp_path
):
    create = sync_to_async(make_rule)
    # A crossing that happens again while the evaluator is down and is still true after.
    again = await create(
        owner, assets["AAPL"], {"kind": "cross", "level": "200", "direction": "up"}
    )
    # One that happens while it is down and is over by the restart.
    over = await create(owner, assets["MSFT"], {"kind": "cross", "level": "400", "direction": "up"})
    # One that fired before the stop and is still beyond its level after it.
    held = await create(owner, assets["TSLA"], {"kind": "above", "level": "300"})
    t = 1764489600.0
    before = write_ticks(
        tmp_path / "before.csv",
        [
            ("AAPL", "199", t + 1),
            ("MSFT", "399", t + 2),
            ("TSLA", "299", t + 3),
            ("AAPL", "201", t + 4),  # fires
            ("MSFT", "401", t + 5),  # fires
            ("TSLA", "301", t + 6),  # fires
            ("AAPL", "199.5", t + 7),  # back below: re-armed
            ("MSFT", "399", t + 8),  # back below: re-armed
            ("TSLA", "305", t + 9),
        ],
    )
    async with running(before) as run:
        await play(run)
    assert await fired(again) == [(t + 4, Decimal(201))]
    assert await fired(over) == [(t + 5, Decimal(401))]
    assert await fired(held) == [(t + 6, Decimal(301))]
    saved = await sync_to_async(lambda: dict(AlertRuleState.objects.values_list("rule", "state")))()
    assert saved[again.pk]["armed"] == [True] and saved[held.pk]["armed"] == [False]
    assert Decimal(saved[held.pk]["last"]) == 305  # the timed part too, written at stop

    # While nobody evaluates: AAPL went up through 200 (and stays), MSFT went up through
    # 400 and back, TSLA stayed above 300. The restarted feed's first ticks say so.
    after = write_ticks(
        tmp_path / "after.csv",
        [
            ("AAPL", "202", t + 100),
            ("MSFT", "398", t + 101),
            ("TSLA", "306", t + 102),
            ("AAPL", "202.5", t + 103),
            ("TSLA", "307", t + 104),
        ],
    )
    async with running(after) as run:
        await play(run)
    assert await fired(again) == [(t + 4, Decimal(201)), (t + 100, Decimal(202))]
    assert await fired(over) == [(t + 5, Decimal(401))]
    assert await fired(held) == [(t + 6, Decimal(301))]


async def test_rules_created_changed_and_deleted_while_ticks_flow(owner, assets, tmp_path):
    """Through the real path: the ORM's signal publishes on control.alerts after the
    commit, the runtime's publisher sends it through the broker, the node hands it to the
    evaluator, which reads the rule back."""
    t = 1764489600.0
    prices = [Decimal(200) + Decimal(round(8 * math.sin(i / 3), 2)) for i in range(360)]
    path = write_ticks(
        tmp_path / "wave.csv", [("AAPL", str(p), t + i * 0.015) for i, p in enumerate(prices)]
    )
    key: list[str] = []
    seen: list[tuple[float, Decimal, Decimal | None]] = []  # (time, price, level in force)

    def record(quote: Quote) -> None:
        # Runs right after the evaluator's own observer: the rule it just judged with.
        engine = run.evaluator.engine
        rule = engine.rule(key[0]) if key and key[0] in engine else None
        level = rule.condition.level if rule is not None else None
        seen.append((quote.ts, Decimal(repr(quote.price)), level))

    async with running(path, speed=1.0) as run:
        unbind = control.bind_publisher(LoopPublisher(run.broker, asyncio.get_running_loop()))
        try:
            run.feed.observers.append(record)
            run.feed.start()

            def past(i: int) -> Callable[[], bool]:
                return lambda: len(seen) > i

            await wait_for(past(40), "tick 40")
            rule = await sync_to_async(make_rule)(
                owner, assets["AAPL"], {"kind": "above", "level": "205"}
            )
            key.append(str(rule.pk))
            await wait_for(lambda: key[0] in run.evaluator.engine, "the new rule")
            await wait_for(past(140), "tick 140")
            rule.condition = {"kind": "above", "level": "195"}
            await sync_to_async(rule.save)()
            await wait_for(
                lambda: run.evaluator.engine.rule(key[0]).condition.level == 195,
                "the changed rule",
            )
            await wait_for(past(240), "tick 240")
            # Fires the evaluator decides from here until it hears of the delete may find
            # the rule gone when they are written, and are then dropped: a deleted rule
            # fires no more.
            judged_before_delete = seen[-1][0]
            await sync_to_async(rule.delete)()
            await wait_for(lambda: key[0] not in run.evaluator.engine, "the rule deleted")
            await asyncio.wait_for(run.feed.start(), 30)
        finally:
            unbind()
    # Every regime had ticks: before the rule, at 205, at 195, after the delete.
    levels = [level for _, _, level in seen]
    first_205, first_195 = levels.index(Decimal(205)), levels.index(Decimal(195))
    gone = len(levels) - levels[::-1].index(Decimal(195))
    assert 0 < first_205 < first_195 < gone < len(levels)
    # Each level is a new definition: it starts afresh, as a new rule would.
    want = expected_fires(
        [(at, p) for at, p, level in seen[first_205:first_195]], Decimal(205), up=True
    ) + expected_fires([(at, p) for at, p, level in seen[first_195:gone]], Decimal(195), up=True)
    events = await sync_to_async(
        lambda: [
            (e.fired_at.timestamp(), Decimal(e.fire["value"]))
            for e in AlertEvent.objects.order_by("fired_at", "id")
        ]
    )()
    sure = [(at, v) for at, v in want if at <= judged_before_delete]
    late = [(at, v) for at, v in want if at > judged_before_delete]
    # The rule's events outlive it (rule set to NULL): exactly the expected ones, and of
    # those decided while the delete was on its way, the ones written before it.
    assert len(sure) >= 2
    stored = [(round(a, 3), v) for a, v in events]
    assert stored[: len(sure)] == [(round(a, 3), v) for a, v in sure]
    assert stored[len(sure) :] == [(round(a, 3), v) for a, v in late][: len(stored) - len(sure)]
