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
        "describe",
        "rule_from_dict",
        "to_decimal",
    ]
    for name in alerts.__all__:
        assert getattr(alerts, name) is not None


def test_a_small_level_is_said_without_an_exponent():
    rule = alerts.Rule("r", alerts.Target.asset("SHIB"), alerts.Above("0.00000800"))
    fire = alerts.RuleEvaluator(rule).observe(alerts.Observation.asset("SHIB", "0.0000081", 0))
    assert fire.message == "SHIB at 0.0000081 is above 0.00000800"


def test_describe_says_what_a_rule_watches():
    asset, book = alerts.Target.asset("AAPL"), alerts.Target.portfolio(12)
    said = {
        alerts.Above("200.00"): "AAPL above 200",
        alerts.Below("0.00000800"): "AAPL below 0.00000800",
        alerts.Outside("210", "190"): "AAPL above 210 or below 190",
        alerts.Cross("200"): "AAPL crosses 200",
        alerts.Cross("200", "up"): "AAPL crosses up through 200",
        alerts.ChangeAbove("2.5"): "AAPL change since the previous close above 2.5%",
        alerts.Move("3", 300, "down"): "AAPL moves down more than 3% within 300 s",
        alerts.Deviation(stds="3", size=20): (
            "AAPL more than 3 standard deviations from its mean over 20 values"
        ),
        alerts.Deviation(percent="2", size=20, seconds=60): (
            "AAPL more than 2% from its mean over 20 values and 60 s"
        ),
    }
    for condition, sentence in said.items():
        assert alerts.describe(alerts.Rule("r", asset, condition)) == sentence
    drawdown = alerts.Rule("r", book, alerts.ChangeBelow("-5"))
    assert alerts.describe(drawdown) == "portfolio 12 change since the previous close below -5%"
    assert alerts.describe(alerts.Above("1")) == "the value above 1"
