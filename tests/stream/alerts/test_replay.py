"""A recorded tick file replayed through the engine: every rule fires exactly at the ticks a
plain recomputation says, and a restart half-way changes none of them.

``data/acme_ticks.csv`` is 800 ticks of one symbol (a seeded random walk with a few jumps,
irregular times about two seconds apart, previous close 100.00). The expected ticks are
computed here from the file with plain loops — window slices, ``statistics.mean`` and
``statistics.stdev`` — and a hand-written hysteresis/cooldown loop, never with the engine's
or the rolling window's code.
"""

import csv
import json
import statistics
from decimal import Decimal
from pathlib import Path

import pytest

from tickwire.stream.alerts import (
    Above,
    AlertEngine,
    Below,
    ChangeAbove,
    ChangeBelow,
    Cross,
    Deviation,
    Move,
    Observation,
    Rule,
    Target,
)

TICKS = Path(__file__).parent / "data" / "acme_ticks.csv"
ACME = Target.asset("ACME")


def load():
    with TICKS.open() as f:
        return [(float(r["at"]), r["price"], r["previous_close"]) for r in csv.DictReader(f)]


RULES = [
    Rule("above", ACME, Above("104"), hysteresis="0.5", cooldown=30),
    Rule("cross", ACME, Cross("100"), hysteresis="0.3"),
    Rule("cross-up", ACME, Cross("101.5", "up")),
    Rule("drop", ACME, ChangeBelow("-1"), hysteresis="0.2"),
    Rule("gain", ACME, ChangeAbove("5")),
    Rule("move", ACME, Move("1.5", 60)),
    Rule("dev-std", ACME, Deviation(stds="3", size=20)),
    Rule("dev-pct", ACME, Deviation(percent="1", seconds=120), cooldown=60),
    Rule("once", ACME, Below("99"), one_shot=True),
]


def lines_fired(times, measures, levels, hysteresis, cooldown, *, crossing=False, once=False):
    """Indices of the ticks that fire, from per-tick measures (one per line; None when the
    measure is undefined) and per-line (level, upward)."""
    armed = [True] * len(levels)
    seen, last_fire, out = False, None, []
    for i, t in enumerate(times):
        ms = measures[i]
        if once and out:
            break
        if not seen and any(m is not None for m in ms):
            seen = True
            if crossing:
                armed = [m is None or not (m > lv if up else m < lv)
                         for m, (lv, up) in zip(ms, levels, strict=True)]  # fmt: skip
        fired = False
        for j, (level, up) in enumerate(levels):
            m = ms[j]
            if m is None:
                continue
            if not armed[j]:
                if (up and m <= level - hysteresis) or (not up and m >= level + hysteresis):
                    armed[j] = True
                continue
            if fired or not (m > level if up else m < level):
                continue
            if last_fire is None or t - last_fire >= cooldown:
                armed[j] = False
                last_fire, fired = t, True
                out.append(i)
    return out


def expected(ticks):
    times = [t for t, _, _ in ticks]
    price = [Decimal(p) for _, p, _ in ticks]
    change = [(Decimal(p) - Decimal(c)) / Decimal(c) * 100 for _, p, c in ticks]
    flt = [float(p) for _, p, _ in ticks]

    def move(i):
        window = [flt[j] for j in range(i + 1) if times[j] > times[i] - 60]
        low, high = min(window), max(window)
        return [(flt[i] - low) / low * 100, (high - flt[i]) / high * 100]

    def dev_std(i):
        before = flt[max(0, i - 20) : i]
        if len(before) < 2 or statistics.stdev(before) == 0:
            return [None]
        return [abs(flt[i] - statistics.mean(before)) / statistics.stdev(before)]

    def dev_pct(i):
        before = [flt[j] for j in range(i) if times[j] > times[i] - 120]
        if not before:
            return [None]
        mean = statistics.mean(before)
        return [abs(flt[i] - mean) / mean * 100]

    D = Decimal
    return {
        "above": lines_fired(times, [[p] for p in price], [(D(104), True)], D("0.5"), 30),
        "cross": lines_fired(times, [[p, p] for p in price], [(D(100), True), (D(100), False)],
                             D("0.3"), 0, crossing=True),
        "cross-up": lines_fired(times, [[p] for p in price], [(D("101.5"), True)], 0, 0,
                                crossing=True),
        "drop": lines_fired(times, [[c] for c in change], [(D(-1), False)], D("0.2"), 0),
        "gain": lines_fired(times, [[c] for c in change], [(D(5), True)], 0, 0),
        "move": lines_fired(times, [move(i) for i in range(len(times))],
                            [(1.5, True), (1.5, True)], 0, 0),
        "dev-std": lines_fired(times, [dev_std(i) for i in range(len(times))], [(3, True)], 0, 0),
        "dev-pct": lines_fired(times, [dev_pct(i) for i in range(len(times))], [(1, True)], 0, 60),
        "once": lines_fired(times, [[p] for p in price], [(D(99), False)], 0, 0, once=True),
    }  # fmt: skip


def replay(engine, ticks, start=0):
    fired = {rule.id: [] for rule in RULES}
    for i, (at, price, close) in enumerate(ticks[start:], start):
        for fire in engine.observe(Observation.asset("ACME", price, at, previous_close=close)):
            fired[fire.rule_id].append(i)
    return fired


@pytest.fixture(scope="module")
def ticks():
    return load()


@pytest.fixture(scope="module")
def want(ticks):
    return expected(ticks)


def test_every_rule_fires_at_the_ticks_a_plain_recomputation_says(ticks, want):
    got = replay(AlertEngine(RULES), ticks)
    assert got == want
    # The file exercises every rule, most of them more than once.
    assert all(want[rule.id] for rule in RULES)
    assert sum(len(v) > 1 for v in want.values()) >= 6
    assert len(want["once"]) == 1


@pytest.mark.parametrize("k", [1, 137, 400, 799])
def test_a_restart_at_any_tick_changes_no_fire(ticks, want, k):
    engine = AlertEngine(RULES)
    first = replay(engine, ticks[:k])
    saved = json.loads(json.dumps(engine.export_state()))
    restarted = AlertEngine(RULES)
    assert sorted(restarted.import_state(saved)) == sorted(r.id for r in RULES)
    second = replay(restarted, ticks, start=k)
    assert {rid: first[rid] + second[rid] for rid in first} == want
