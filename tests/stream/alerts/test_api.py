"""The rule engine's public names, pinned: the API, the evaluator process and the client
library build on exactly these."""

import tickwire.stream.alerts as alerts


def test_public_names():
    assert alerts.__all__ == [
        "STATE_VERSION",
        "Above",
        "AlertEngine",
        "Below",
        "ChangeAbove",
        "ChangeBelow",
        "Condition",
        "Cross",
        "Deviation",
        "Fire",
        "Move",
        "Observation",
        "Outside",
        "Rule",
        "RuleError",
        "RuleEvaluator",
        "Target",
        "condition_from_dict",
        "rule_from_dict",
        "to_decimal",
    ]
    for name in alerts.__all__:
        assert getattr(alerts, name) is not None


def test_a_small_level_is_said_without_an_exponent():
    rule = alerts.Rule("r", alerts.Target.asset("SHIB"), alerts.Above("0.00000800"))
    fire = alerts.RuleEvaluator(rule).observe(alerts.Observation.asset("SHIB", "0.0000081", 0))
    assert fire.message == "SHIB at 0.0000081 is above 0.00000800"
