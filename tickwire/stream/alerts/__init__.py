"""The alert rule engine: rules on prices and portfolios as plain data, evaluated
deterministically, with state that survives a restart.

* :mod:`.rules` — :class:`Rule`, its :class:`Target` and conditions, validation
  (:class:`RuleError` names the field) and the JSON form;
* :mod:`.evaluator` — :class:`Observation` in, :class:`Fire` out: one rule's state machine
  (hysteresis, cooldown, expiry, one-shot) and its exportable state;
* :mod:`.engine` — :class:`AlertEngine`: many rules indexed by target.

No I/O and no clock: time is the observation's. The client library's ``Threshold`` and
``Crossing`` (``tickwire alert``) are built on it. See docs/alerts.md.
"""

from .engine import STATE_VERSION, AlertEngine
from .evaluator import Fire, Observation, RuleEvaluator
from .rules import (
    Above,
    Below,
    ChangeAbove,
    ChangeBelow,
    Condition,
    Cross,
    Deviation,
    Move,
    Outside,
    Rule,
    RuleError,
    Target,
    condition_from_dict,
    describe,
    rule_from_dict,
    to_decimal,
)

__all__ = [
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
