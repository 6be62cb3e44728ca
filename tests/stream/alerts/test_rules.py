"""Rules as data: validation names the field, and the JSON form reads back to the same rule."""

import json
import math
from decimal import Decimal

import pytest

from tickwire.stream.alerts import (
    Above,
    Below,
    ChangeAbove,
    ChangeBelow,
    Cross,
    Deviation,
    Move,
    Outside,
    Rule,
    RuleError,
    Target,
    condition_from_dict,
    rule_from_dict,
)

AAPL = Target.asset("AAPL")

CONDITIONS = [
    Above("200.10"),
    Below(199),
    Outside(above="210", below="190.5"),
    Cross("200", "up"),
    Cross(200.25),
    ChangeAbove("2.5"),
    ChangeBelow("-5"),
    Move("1.5", 60, "down"),
    Deviation(stds="2", size=20),
    Deviation(percent="0.5", seconds=300),
    Deviation(stds=3, size=50, seconds=600),
]


@pytest.mark.parametrize("condition", CONDITIONS, ids=lambda c: c.kind)
def test_every_condition_survives_the_json_round_trip(condition):
    rule = Rule("r", AAPL, condition, hysteresis="0.25", cooldown=30, expires_at=1.8e9,
                one_shot=True, enabled=False)  # fmt: skip
    text = json.dumps(rule.to_dict())
    assert rule_from_dict(json.loads(text)) == rule
    assert condition_from_dict(json.loads(text)["condition"]) == condition


def test_levels_are_decimals_written_as_strings():
    rule = Rule("r", Target.portfolio(7), Above("10000.50"))
    assert rule.condition.level == Decimal("10000.50")
    data = rule.to_dict()
    assert data["condition"] == {"kind": "above", "level": "10000.50"}
    assert data["target"] == {"portfolio": 7} and data["hysteresis"] == "0"
    # A float level is read through its shortest text, not its binary expansion.
    assert Above(0.1).level == Decimal("0.1")


def test_defaults_are_filled_in_from_json():
    rule = rule_from_dict({"id": "x", "target": {"asset": "MSFT"},
                           "condition": {"kind": "cross", "level": "300"}})  # fmt: skip
    assert (rule.hysteresis, rule.cooldown, rule.expires_at) == (Decimal(0), 0.0, None)
    assert (rule.one_shot, rule.enabled) == (False, True)
    assert rule.condition == Cross(Decimal(300), "both")


GOOD = {"id": "x", "target": {"asset": "A"}, "condition": {"kind": "above", "level": "1"}}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": ""}, "id"),
        ({"id": None}, "id"),
        ({"target": {"asset": ""}}, "target.asset"),
        ({"target": {"portfolio": "7"}}, "target.portfolio"),
        ({"target": {"portfolio": 0}}, "target.portfolio"),
        ({"target": {"bond": "X"}}, "target"),
        ({"target": "AAPL"}, "target"),
        ({"condition": {"kind": "sideways"}}, "condition.kind"),
        ({"condition": {"kind": "above"}}, "condition.level"),
        ({"condition": {"kind": "above", "level": "abc"}}, "condition.level"),
        ({"condition": {"kind": "above", "level": "NaN"}}, "condition.level"),
        ({"condition": {"kind": "above", "level": math.inf}}, "condition.level"),
        ({"condition": {"kind": "above", "level": True}}, "condition.level"),
        ({"condition": {"kind": "above", "level": "1", "lvl": 2}}, "condition.lvl"),
        ({"condition": {"kind": "outside", "above": "1", "below": "2"}}, "condition.below"),
        (
            {"condition": {"kind": "cross", "level": "1", "direction": "left"}},
            "condition.direction",
        ),
        ({"condition": {"kind": "move", "percent": "0", "seconds": 60}}, "condition.percent"),
        ({"condition": {"kind": "move", "percent": "1", "seconds": 0}}, "condition.seconds"),
        ({"condition": {"kind": "move", "percent": "1"}}, "condition.seconds"),
        ({"condition": {"kind": "deviation", "size": 5}}, "condition.stds"),
        (
            {"condition": {"kind": "deviation", "stds": 2, "percent": 1, "size": 5}},
            "condition.stds",
        ),
        ({"condition": {"kind": "deviation", "stds": 2}}, "condition.size"),
        ({"condition": {"kind": "deviation", "stds": 2, "size": 1}}, "condition.size"),
        ({"condition": {"kind": "deviation", "stds": -2, "size": 5}}, "condition.stds"),
        ({"condition": {"kind": "deviation", "percent": 1, "seconds": -5}}, "condition.seconds"),
        ({"condition": "above 1"}, "condition"),
        ({"hysteresis": "-0.5"}, "hysteresis"),
        ({"hysteresis": "x"}, "hysteresis"),
        ({"cooldown": -1}, "cooldown"),
        ({"cooldown": math.nan}, "cooldown"),
        ({"cooldown": "soon"}, "cooldown"),
        ({"expires_at": math.inf}, "expires_at"),
        ({"one_shot": "yes"}, "one_shot"),
        ({"enabled": 1}, "enabled"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(change, field):
    with pytest.raises(RuleError) as caught:
        rule_from_dict({**GOOD, **change})
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize("missing", ["id", "target", "condition"])
def test_a_missing_required_field_is_named(missing):
    data = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(RuleError, match=f"^{missing}: is required"):
        rule_from_dict(data)


def test_rule_errors_are_value_errors():
    with pytest.raises(ValueError):
        rule_from_dict([])
