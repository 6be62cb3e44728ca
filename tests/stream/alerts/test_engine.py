"""The engine: rules indexed by target, edits, and state that survives a restart — exactly
the fires of an uninterrupted run, no duplicate and no miss."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    Outside,
    Rule,
    RuleError,
    Target,
)

AAPL, MSFT, BOOK = Target.asset("AAPL"), Target.asset("MSFT"), Target.portfolio(4)


def restart(engine, rules=None):
    """A fresh engine holding ``rules`` (default: the same) and the state ``engine`` had,
    through JSON text as a store would keep it."""
    saved = json.loads(json.dumps(engine.export_state()))
    fresh = AlertEngine(engine.rules() if rules is None else rules)
    fresh.import_state(saved)
    return fresh


def test_observations_reach_only_the_rules_on_their_target():
    engine = AlertEngine([Rule("a", AAPL, Above("100")), Rule("m", MSFT, Above("100")),
                          Rule("p", BOOK, Above("100")), Rule("a2", AAPL, Below("50"))])  # fmt: skip
    assert [f.rule_id for f in engine.observe(Observation.asset("AAPL", "101", 0))] == ["a"]
    assert [f.rule_id for f in engine.observe(Observation.asset("AAPL", "49", 1))] == ["a2"]
    assert [f.rule_id for f in engine.observe(Observation.portfolio(4, "101", 2))] == ["p"]
    assert engine.observe(Observation.asset("IBM", "1000", 3)) == []
    assert len(engine) == 4 and "m" in engine


def test_a_rule_id_given_twice_is_refused():
    with pytest.raises(RuleError, match=r"^id: "):
        AlertEngine([Rule("a", AAPL, Above("1")), Rule("a", MSFT, Above("1"))])


def test_a_crossing_during_a_gap_fires_on_the_first_observation_after_import():
    engine = AlertEngine([Rule("x", AAPL, Cross("200", "up"))])
    assert engine.observe(Observation.asset("AAPL", "199", 0)) == []
    later = restart(engine)  # nobody evaluated while the price went through 200
    fires = later.observe(Observation.asset("AAPL", "201", 3600))
    assert [(f.rule_id, f.kind) for f in fires] == [("x", "cross_up")]
    # If it is no longer true after the gap, nothing fires.
    later = restart(engine)
    assert later.observe(Observation.asset("AAPL", "198", 3600)) == []


def test_a_cooldown_started_before_a_restart_still_holds_after_it():
    engine = AlertEngine([Rule("x", AAPL, Above("200"), cooldown=60)])
    assert engine.observe(Observation.asset("AAPL", "201", 0))
    engine.observe(Observation.asset("AAPL", "199", 1))
    later = restart(engine)
    assert later.observe(Observation.asset("AAPL", "201", 30)) == []
    assert later.observe(Observation.asset("AAPL", "202", 60))


def test_an_edited_level_starts_the_rule_afresh_other_edits_keep_its_state():
    rule = Rule("x", AAPL, Cross("200", "up"), cooldown=10)
    engine = AlertEngine([rule])
    engine.observe(Observation.asset("AAPL", "199", 0))
    # Cooldown edited: still armed from the value below 200.
    engine.set_rule(Rule("x", AAPL, Cross("200", "up"), cooldown=20))
    assert engine.evaluator("x").seen
    # Level edited: the next value only tells the side again, as for a new rule.
    engine.set_rule(Rule("x", AAPL, Cross("150", "up")))
    assert not engine.evaluator("x").seen
    assert engine.observe(Observation.asset("AAPL", "199", 1)) == []
    # The same through a restart: state saved for the old definition is dropped.
    engine = AlertEngine([rule])
    engine.observe(Observation.asset("AAPL", "199", 0))
    saved = json.loads(json.dumps(engine.export_state()))
    edited = AlertEngine([Rule("x", AAPL, Cross("201", "up"))])
    assert edited.import_state(saved) == []
    assert edited.observe(Observation.asset("AAPL", "202", 1)) == []


def test_disabling_and_reenabling_keeps_the_state():
    engine = AlertEngine([Rule("x", AAPL, Above("200"), hysteresis="5")])
    assert engine.observe(Observation.asset("AAPL", "201", 0))
    engine.set_rule(Rule("x", AAPL, Above("200"), hysteresis="5", enabled=False))
    assert engine.observe(Observation.asset("AAPL", "194", 1)) == []  # not evaluated
    engine.set_rule(Rule("x", AAPL, Above("200"), hysteresis="5"))
    assert engine.observe(Observation.asset("AAPL", "201", 2)) == []  # never re-armed


def test_a_moved_or_removed_rule_leaves_the_index():
    engine = AlertEngine([Rule("x", AAPL, Above("1"))])
    engine.set_rule(Rule("x", MSFT, Above("1")))
    assert engine.observe(Observation.asset("AAPL", "5", 0)) == []
    assert engine.observe(Observation.asset("MSFT", "5", 0))
    engine.remove_rule("x")
    assert engine.observe(Observation.asset("MSFT", "5", 9)) == [] and len(engine) == 0
    with pytest.raises(KeyError):
        engine.remove_rule("x")


@pytest.mark.parametrize(
    ("mangle", "field"),
    [
        (lambda s: {**s, "version": 9}, "state.version"),
        (lambda s: {**s, "rules": []}, "state.rules"),
        (lambda s: s["rules"]["c"].update(armed=[True]), "state.rules.c.armed"),
        (lambda s: s["rules"]["c"].update(seen="yes"), "state.rules.c.seen"),
        (lambda s: s["rules"]["c"].update(last_fired="noon"), "state.rules.c.last_fired"),
        (lambda s: s["rules"]["m"].update(window=None), "state.rules.m.window"),
        (lambda s: s["rules"]["m"]["window"].update(rows=[["x"]]), "state.rules.m.window"),
    ],
)
def test_a_malformed_state_is_refused_and_changes_nothing(mangle, field):
    rules = [Rule("c", AAPL, Cross("200")), Rule("m", AAPL, Move("1", 60))]
    engine = AlertEngine(rules)
    engine.observe(Observation.asset("AAPL", "199", 0))
    before = engine.export_state()
    state = json.loads(json.dumps(before))
    state = mangle(state) or state
    with pytest.raises(RuleError) as caught:
        engine.import_state(state)
    assert caught.value.field == field
    assert engine.export_state() == before


# Every kind of rule, on two assets and a portfolio, with guards that make state matter.
RULES = [
    Rule("above", AAPL, Above("101"), hysteresis="0.5", cooldown=3),
    Rule("below", AAPL, Below("99.5"), one_shot=True),
    Rule("band", MSFT, Outside("102", "98"), cooldown=2),
    Rule("cross", AAPL, Cross("100"), hysteresis="0.25"),
    Rule("cross-down", MSFT, Cross("100", "down"), cooldown=4),
    Rule("gain", AAPL, ChangeAbove("1"), hysteresis="0.5"),
    Rule("drop", BOOK, ChangeBelow("-2"), hysteresis="0.5", cooldown=5),
    Rule("value", BOOK, Above("10100"), expires_at=40),
    Rule("move", AAPL, Move("1.5", 5)),
    Rule("move-up", MSFT, Move("1", 3, "up"), cooldown=2),
    Rule("dev", AAPL, Deviation(stds="1.5", size=4)),
    Rule("dev-pct", MSFT, Deviation(percent="1", seconds=6), hysteresis="0.2"),
    Rule("off", AAPL, Above("0"), enabled=False),
]

prices = st.decimals(min_value=96, max_value=104, places=2).map(str)
observation = st.one_of(
    st.tuples(st.just("AAPL"), prices),
    st.tuples(st.just("MSFT"), prices),
    st.tuples(st.just("BOOK"), st.integers(9700, 10300), st.decimals(-4, 2, places=1)),
)


def to_observations(draws, gaps):
    out, t = [], 0.0
    for draw, gap in zip(draws, gaps, strict=False):
        t += gap
        if draw[0] == "BOOK":
            out.append(Observation.portfolio(4, draw[1], t, change_percent=draw[2]))
        else:
            out.append(Observation.asset(draw[0], draw[1], t, previous_close="100"))
    return out


def fires_of(engine, observations):
    return [f.to_dict() for obs in observations for f in engine.observe(obs)]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(observation, min_size=1, max_size=80),
    st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 3.0, 7.0]), min_size=80, max_size=80),
    st.data(),
)
def test_export_import_at_any_point_gives_exactly_the_uninterrupted_fires(draws, gaps, data):
    observations = to_observations(draws, gaps)
    k = data.draw(st.integers(0, len(observations)), label="k")
    whole = fires_of(AlertEngine(RULES), observations)
    engine = AlertEngine(RULES)
    before = fires_of(engine, observations[:k])
    after = fires_of(restart(engine), observations[k:])
    assert before + after == whole
