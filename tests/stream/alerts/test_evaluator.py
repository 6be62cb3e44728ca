"""One rule's decisions: each condition, hysteresis, cooldown, one-shot, expiry, disabled,
Decimal levels against float prices, and the sentence a fire carries."""

import json
from dataclasses import replace
from decimal import Decimal

import pytest

from tickwire.stream import builders, protocol
from tickwire.stream.alerts import (
    Above,
    Below,
    ChangeAbove,
    ChangeBelow,
    Cross,
    Deviation,
    Move,
    Observation,
    Outside,
    Rule,
    RuleError,
    RuleEvaluator,
    Target,
)
from tickwire.stream.messages import parse_server_frame

AAPL = Target.asset("AAPL")


def run(rule, values, step=1.0, start=0.0, **extra):
    """Feed values ``step`` seconds apart; return (index, kind) of each fire."""
    evaluator = RuleEvaluator(rule)
    fired = []
    for i, v in enumerate(values):
        obs = Observation(rule.target, v, start + i * step, **extra)
        fire = evaluator.observe(obs)
        if fire is not None:
            fired.append((i, fire.kind))
    return fired


def rule(condition, target=AAPL, **kw):
    return Rule("r", target, condition, **kw)


HOVER = ["199", "200.5", "199.9", "200.2", "199.95", "200.1", "199.8", "200.3", "198.9",
         "200.4", "201"]  # fmt: skip


def test_above_and_below_fire_on_the_first_value_beyond():
    assert run(rule(Above("200")), ["250"]) == [(0, "above")]
    assert run(rule(Below("200")), ["150", "151", "201", "199"]) == [(0, "below"), (3, "below")]
    # At the level is not beyond it.
    assert run(rule(Above("200")), ["200", "200.00"]) == []


def test_hysteresis_rearms_only_after_coming_back_by_the_margin():
    assert run(rule(Above("200")), HOVER) == [(1, "above"), (3, "above"), (5, "above"),
                                              (7, "above"), (9, "above")]  # fmt: skip
    # Re-arms only at <= 199 (index 8): exactly at the margin counts.
    assert run(rule(Above("200"), hysteresis="1"), HOVER) == [(1, "above"), (9, "above")]
    assert run(rule(Below("100"), hysteresis="2"), ["99", "101.9", "99", "102", "99"]) == [
        (0, "below"),
        (4, "below"),
    ]


def test_the_observation_that_rearms_does_not_fire():
    # Hysteresis 0 re-arms at the level itself; the next value beyond fires.
    assert run(rule(Above("10")), ["11", "10", "11"]) == [(0, "above"), (2, "above")]


def test_a_crossing_during_the_cooldown_fires_when_it_ends_if_still_beyond():
    values = ["201", "199", "201", "201", "201", "201"]
    assert run(rule(Above("200"), cooldown=3), values) == [(0, "above"), (3, "above")]
    # Not if it came back before the cooldown ended.
    assert run(rule(Above("200"), cooldown=3), ["201", "199", "201", "199", "199"]) == [
        (0, "above")
    ]
    # Exactly cooldown seconds later is allowed.
    assert run(rule(Above("200"), cooldown=2), ["201", "199", "201"]) == [
        (0, "above"),
        (2, "above"),
    ]


def test_cooldown_pending_is_part_of_the_state():
    evaluator = RuleEvaluator(rule(Above("200"), cooldown=10))
    evaluator.observe(Observation(AAPL, "201", 0))
    evaluator.observe(Observation(AAPL, "199", 1))
    assert evaluator.observe(Observation(AAPL, "201", 2)) is None
    assert evaluator.export_state()["pending"] is True
    fire = evaluator.observe(Observation(AAPL, "202", 10))
    assert fire is not None and fire.at == 10.0
    assert evaluator.export_state()["pending"] is False


def test_outside_fires_each_side_under_one_cooldown():
    values = ["100", "111", "112", "105", "89", "95", "111"]
    assert run(rule(Outside("110", "90")), values) == [(1, "above"), (4, "below"), (6, "above")]
    assert run(rule(Outside("110", "90"), cooldown=4), values) == [(1, "above"), (6, "above")]


def test_crossing_needs_a_real_crossing_not_a_starting_position():
    assert run(rule(Cross("200", "up")), ["250", "260", "199", "201"]) == [(3, "cross_up")]
    assert run(rule(Cross("200", "down")), ["250", "199", "201", "198"]) == [
        (1, "cross_down"),
        (3, "cross_down"),
    ]
    assert run(rule(Cross("200")), ["190", "210", "190"]) == [(1, "cross_up"), (2, "cross_down")]
    assert run(rule(Cross("200", "up"), hysteresis="1"), HOVER) == [
        (1, "cross_up"),
        (9, "cross_up"),
    ]


def test_change_since_previous_close_from_the_close_or_the_given_percent():
    # previous close 100: 103 is +3 %, 96 is -4 %.
    values = ["101", "103", "102.5", "103.5", "99", "96"]
    assert run(rule(ChangeAbove("2.5")), values, previous_close="100") == [
        (1, "change_above"),
        (3, "change_above"),
    ]
    assert run(rule(ChangeAbove("2.5"), hysteresis="1"), values, previous_close="100") == [
        (1, "change_above")
    ]
    assert run(rule(ChangeBelow("-3")), values, previous_close="100") == [(5, "change_below")]
    # Without a previous close the update's own change percent is used; without either,
    # nothing is known and nothing fires.
    assert run(rule(ChangeBelow("-3")), ["96"], change_percent="-4") == [(0, "change_below")]
    assert run(rule(ChangeBelow("-3")), ["1", "2"]) == []


def test_portfolio_value_and_daily_drawdown():
    book = Target.portfolio(12)
    value = RuleEvaluator(Rule("v", book, Above("10000")))
    drawdown = RuleEvaluator(Rule("d", book, ChangeBelow("-5"), hysteresis="1"))
    seen = []
    for t, (total, day) in enumerate([("9900", "-1"), ("10000.01", "0.5"), ("9400", "-5.5"),
                                      ("9500", "-4.5"), ("9350", "-6"), ("9300", "-3.9"),
                                      ("9200", "-5.1")]):  # fmt: skip
        obs = Observation.portfolio(12, total, t, change_percent=day)
        seen += [(t, f.rule_id) for e in (value, drawdown) if (f := e.observe(obs))]
    assert seen == [(1, "v"), (2, "d"), (6, "d")]


def test_move_within_a_time_window():
    # 2 % up from the lowest value of the last 10 s (the current one included).
    values = ["100", "101", "101.5", "102.1", "102", *["99"] * 10, "97"]
    assert run(rule(Move("2", 10, "up")), values) == [(3, "move_up")]
    # Down: 102.1 -> 99 is -3.04 %. The re-arm needs the move back to <= 2 %: only once
    # 102 has left the window (t=14, 10 s after t=4); then 99 -> 97 is -2.02 %.
    assert run(rule(Move("2", 10, "down")), values) == [(5, "move_down"), (15, "move_down")]
    assert run(rule(Move("2", 10, "down")), [*values[:-2], "97"]) == [(5, "move_down")]
    # Values that left the window count no longer: a slow drift never fires.
    drift = [str(100 - i * 0.5) for i in range(20)]
    assert run(rule(Move("2", 3)), drift) == []
    assert run(rule(Move("2", 10)), drift) == [(5, "move_down")]


def test_deviation_from_the_mean_of_the_values_before():
    calm = ["100", "101", "100", "101", "100"]  # mean 100.4, sample std 0.5477
    # 102 is 2.92 std away from the previous five; 101.5 is 2.01.
    assert run(rule(Deviation(stds="2.5", size=5)), [*calm, "102"]) == [(5, "deviation")]
    assert run(rule(Deviation(stds="2.5", size=5)), [*calm, "101.5"]) == []
    assert run(rule(Deviation(stds="2", size=5)), [*calm, "101.5"]) == [(5, "deviation")]
    # In percent of the mean, over the previous 10 seconds.
    assert run(rule(Deviation(percent="1", seconds=10)), [*calm, "101.3", "99.3"]) == [
        (6, "deviation")
    ]
    # A flat window has no spread: a number of deviations is undefined and nothing fires.
    assert run(rule(Deviation(stds="2", size=3)), ["5", "5", "5", "6"]) == []


def test_one_shot_fires_once_and_is_then_inactive():
    r = rule(Above("200"), one_shot=True)
    assert run(r, ["201", "199", "201", "250"]) == [(0, "above")]
    evaluator = RuleEvaluator(r)
    evaluator.observe(Observation(AAPL, "201", 0))
    assert not evaluator.active(1) and evaluator.export_state()["fired_once"]


def test_an_expired_rule_never_fires():
    r = rule(Above("200"), expires_at=3.0)
    assert run(r, ["199", "199", "199", "201", "250"]) == []
    assert run(r, ["199", "199", "201", "250"]) == [(2, "above")]


def test_a_disabled_rule_never_fires():
    assert run(rule(Above("200"), enabled=False), ["201", "199", "300"]) == []
    assert run(rule(Cross("200"), enabled=False), ["199", "201", "199"]) == []


def test_decimal_levels_against_float_prices():
    # A float price is read through its shortest text: 200.1 is the level 200.1, neither
    # above nor below it, although the binary float is a little under 200.1.
    assert run(rule(Below("200.1")), [200.1]) == []
    assert run(rule(Above("200.1")), [200.1, 200.10000000000002]) == [(1, "above")]
    # 0.1 + 0.2 really is above 0.3 as a float; the level compares exactly.
    assert run(rule(Above("0.3")), [0.1 + 0.2]) == [(0, "above")]
    assert run(rule(Above("0.30")), [Decimal("0.3"), "0.300", 0.3]) == []
    fire = RuleEvaluator(rule(Above(Decimal("99.99")))).observe(Observation(AAPL, 100, 0))
    assert fire is not None and fire.value == Decimal(100) and fire.level == Decimal("99.99")


def test_a_fire_says_what_happened():
    fire = RuleEvaluator(rule(Cross("200", "up"))).observe(Observation(AAPL, "199", 0))
    assert fire is None
    evaluator = RuleEvaluator(rule(Cross("200", "up")))
    evaluator.observe(Observation(AAPL, "199", 0))
    fire = evaluator.observe(Observation(AAPL, "200.5", 1))
    assert fire.message == "AAPL crossed up through 200, now 200.5"
    assert fire.to_dict() == {"rule_id": "r", "target": {"asset": "AAPL"}, "condition": "cross",
                              "kind": "cross_up", "value": "200.5", "measure": "200.5",
                              "level": "200", "at": 1.0,
                              "message": "AAPL crossed up through 200, now 200.5"}  # fmt: skip
    json.dumps(fire.to_dict())
    drop = RuleEvaluator(Rule("d", Target.portfolio(3), ChangeBelow("-5")))
    fire = drop.observe(Observation.portfolio(3, "9400", 0, change_percent="-6"))
    assert (
        fire.message == "portfolio 3 at 9400 has changed -6% since the previous close (below -5%)"
    )
    dev = RuleEvaluator(rule(Deviation(stds="2.5", size=5)))
    for i, v in enumerate(["100", "101", "100", "101", "100", "102"]):
        fire = dev.observe(Observation(AAPL, v, i))
    assert fire.message == ("AAPL at 102 is 2.921 standard deviations from its mean over "
                            "5 values (more than 2.5)")  # fmt: skip


def test_other_targets_are_ignored():
    evaluator = RuleEvaluator(rule(Above("1")))
    assert evaluator.observe(Observation(Target.asset("MSFT"), "5", 0)) is None
    assert evaluator.observe(Observation(Target.portfolio(1), "5", 0)) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"value": "abc"}, "value"),
        ({"value": float("nan")}, "value"),
        ({"value": None}, "value"),
        ({"at": float("inf")}, "at"),
        ({"at": "noon"}, "at"),
        ({"previous_close": "x"}, "previous_close"),
        ({"change_percent": float("inf")}, "change_percent"),
    ],
)
def test_a_bad_observation_is_refused_naming_the_field(kwargs, field):
    with pytest.raises(RuleError) as caught:
        Observation(**{"target": AAPL, "value": "1", "at": 0.0, **kwargs})
    assert caught.value.field == field


TS = "2024-01-15T10:30:00.123Z"


def test_observations_from_the_wire_messages():
    [update] = parse_server_frame(
        builders.asset_update(
            "AAPL", 204.1, 4.1, 2.05, 1e6, 205, 199, 200.0, "USD", seq=3, timestamp=TS
        )
    )
    obs = Observation.from_message(update)
    assert obs == Observation(AAPL, Decimal("204.1"), 1705314600.123, Decimal(200), Decimal("2.05"))
    assert obs.change() == Decimal("2.05")
    valuation = {"currency": "USD", "total_value": 9400.5, "daily_change": -600.0,
                 "daily_change_percent": -6.0, "status": "ok", "errors": [], "positions": []}  # fmt: skip
    [update] = parse_server_frame(
        protocol.seal(builders.portfolio_update_body(9, "Growth", valuation, timestamp=TS), 1)
    )
    obs = Observation.from_message(update, at=5.0)
    assert (obs.target, obs.value, obs.at, obs.change()) == (
        Target.portfolio(9), Decimal("9400.5"), 5.0, Decimal("-6.0"),
    )  # fmt: skip
    fire = RuleEvaluator(Rule("d", Target.portfolio(9), ChangeBelow("-5"))).observe(obs)
    assert fire is not None and fire.kind == "change_below"
    without_value = replace(update, total_value=None)
    with pytest.raises(RuleError, match=r"^total_value: "):
        Observation.from_message(without_value)
    with pytest.raises(RuleError, match=r"^timestamp: "):
        Observation.from_message(replace(update, timestamp=None))
