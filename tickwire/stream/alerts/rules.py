"""Alert rules as plain data: a target, one condition and the guards around it.

A :class:`Rule` is a frozen dataclass validated when it is made; :func:`rule_from_dict`
reads the JSON form that :meth:`Rule.to_dict` writes. Every validation failure raises
:class:`RuleError` whose message starts with the field it is about (``condition.level``,
``cooldown``...): those messages are meant to be shown to whoever wrote the rule.

Levels, percentages and hysteresis are :class:`~decimal.Decimal` and are written to JSON as
strings, so ``"200.10"`` stays ``200.10``. Time windows and cooldowns are seconds (floats);
expiry is a time in seconds since the epoch. This module computes nothing: see
:mod:`tickwire.stream.alerts.evaluator`.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal

__all__ = [
    "Above",
    "Below",
    "ChangeAbove",
    "ChangeBelow",
    "Condition",
    "Cross",
    "Deviation",
    "Move",
    "Outside",
    "Rule",
    "RuleError",
    "Target",
    "condition_from_dict",
    "describe",
    "rule_from_dict",
    "to_decimal",
]

Direction = Literal["up", "down", "both"]


class RuleError(ValueError):
    """A rule, condition, target or observation that is not valid. ``field`` names the
    offending field (dotted for nested ones); the message starts with it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def to_decimal(value: object, field: str) -> Decimal:
    """``value`` (a Decimal, an int, a float or a numeric string) as a finite Decimal.

    A float is read through its shortest text form (``0.1`` → ``Decimal("0.1")``), so a
    price that came as a float compares with a level written as text the way a person
    reads them. Raises :class:`RuleError` naming ``field`` otherwise."""
    if isinstance(value, bool):
        raise RuleError(field, f"must be a number, not {value!r}")
    try:
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, str):
            number = Decimal(value.strip())
        else:
            raise RuleError(field, f"must be a number or a numeric string, not {value!r}")
    except InvalidOperation:
        raise RuleError(field, f"must be a number, not {value!r}") from None
    if not number.is_finite():
        raise RuleError(field, f"must be a finite number, not {value!r}")
    return number


def _seconds(value: object, field: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise RuleError(field, f"must be a number of seconds, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise RuleError(field, f"must be a number of seconds, not {value!r}") from None
    if not math.isfinite(number):
        raise RuleError(field, f"must be a finite number of seconds, not {value!r}")
    if positive and number <= 0:
        raise RuleError(field, f"must be more than 0 seconds, not {value!r}")
    if number < 0:
        raise RuleError(field, f"must be 0 seconds or more, not {value!r}")
    return number


def _positive_decimal(value: object, field: str) -> Decimal:
    number = to_decimal(value, field)
    if number <= 0:
        raise RuleError(field, f"must be more than 0, not {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class Target:
    """What a rule watches: an asset by its symbol, or a portfolio by its id."""

    kind: Literal["asset", "portfolio"]
    key: str | int

    def __post_init__(self) -> None:
        if self.kind == "asset":
            if not isinstance(self.key, str) or not self.key.strip():
                raise RuleError("target.asset", "must be a non-empty symbol")
        elif self.kind == "portfolio":
            if isinstance(self.key, bool) or not isinstance(self.key, int) or self.key < 1:
                raise RuleError("target.portfolio", "must be a positive integer id")
        else:
            raise RuleError("target", "must be an asset or a portfolio")

    @classmethod
    def asset(cls, symbol: str) -> Target:
        return cls("asset", symbol)

    @classmethod
    def portfolio(cls, portfolio_id: int) -> Target:
        return cls("portfolio", portfolio_id)

    def to_dict(self) -> dict[str, Any]:
        return {self.kind: self.key}

    @classmethod
    def from_dict(cls, data: object) -> Target:
        if not isinstance(data, dict) or len(data) != 1:
            raise RuleError("target", 'must be {"asset": SYMBOL} or {"portfolio": ID}')
        ((kind, key),) = data.items()
        if kind not in ("asset", "portfolio"):
            raise RuleError(
                "target", f'must be {{"asset": ...}} or {{"portfolio": ...}}, not {kind!r}'
            )
        return cls(kind, key)

    def __str__(self) -> str:
        return str(self.key) if self.kind == "asset" else f"portfolio {self.key}"


@dataclass(frozen=True, slots=True)
class Above:
    """The value (an asset's price, a portfolio's total value) is above ``level``.
    Hysteresis unit: the value's own (price or money)."""

    level: Decimal
    kind: ClassVar[str] = "above"
    unit: ClassVar[str] = "value"

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", to_decimal(self.level, "condition.level"))


@dataclass(frozen=True, slots=True)
class Below:
    """The value is below ``level``. Hysteresis unit: the value's own."""

    level: Decimal
    kind: ClassVar[str] = "below"
    unit: ClassVar[str] = "value"

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", to_decimal(self.level, "condition.level"))


@dataclass(frozen=True, slots=True)
class Outside:
    """The value is above ``above`` or below ``below`` (leaves a band); one cooldown for
    both lines. Hysteresis unit: the value's own."""

    above: Decimal
    below: Decimal
    kind: ClassVar[str] = "outside"
    unit: ClassVar[str] = "value"

    def __post_init__(self) -> None:
        above = to_decimal(self.above, "condition.above")
        below = to_decimal(self.below, "condition.below")
        if below > above:
            raise RuleError("condition.below", "must not be greater than condition.above")
        object.__setattr__(self, "above", above)
        object.__setattr__(self, "below", below)


@dataclass(frozen=True, slots=True)
class Cross:
    """The value crosses ``level``: ``direction`` ``up``, ``down`` or ``both``. The first
    value seen only tells which side it is on. Hysteresis unit: the value's own."""

    level: Decimal
    direction: Direction = "both"
    kind: ClassVar[str] = "cross"
    unit: ClassVar[str] = "value"

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", to_decimal(self.level, "condition.level"))
        if self.direction not in ("up", "down", "both"):
            raise RuleError("condition.direction", "must be 'up', 'down' or 'both'")


@dataclass(frozen=True, slots=True)
class ChangeAbove:
    """The change since the previous close, in percent, is above ``percent`` (``5`` is
    +5 %). Hysteresis unit: percentage points."""

    percent: Decimal
    kind: ClassVar[str] = "change_above"
    unit: ClassVar[str] = "percent"

    def __post_init__(self) -> None:
        object.__setattr__(self, "percent", to_decimal(self.percent, "condition.percent"))


@dataclass(frozen=True, slots=True)
class ChangeBelow:
    """The change since the previous close (for a portfolio: its daily change), in
    percent, is below ``percent`` (``-5`` is a 5 % drawdown). Hysteresis unit: percentage
    points."""

    percent: Decimal
    kind: ClassVar[str] = "change_below"
    unit: ClassVar[str] = "percent"

    def __post_init__(self) -> None:
        object.__setattr__(self, "percent", to_decimal(self.percent, "condition.percent"))


@dataclass(frozen=True, slots=True)
class Move:
    """The value moved by more than ``percent`` within ``seconds``: up from the lowest
    value of the window, down from the highest, or ``both``. The window holds the values
    of the last ``seconds`` (the current one included). Hysteresis unit: percentage
    points."""

    percent: Decimal
    seconds: float
    direction: Direction = "both"
    kind: ClassVar[str] = "move"
    unit: ClassVar[str] = "percent"

    def __post_init__(self) -> None:
        object.__setattr__(self, "percent", _positive_decimal(self.percent, "condition.percent"))
        object.__setattr__(
            self, "seconds", _seconds(self.seconds, "condition.seconds", positive=True)
        )
        if self.direction not in ("up", "down", "both"):
            raise RuleError("condition.direction", "must be 'up', 'down' or 'both'")


@dataclass(frozen=True, slots=True)
class Deviation:
    """The value is further than ``stds`` standard deviations, or than ``percent`` percent,
    from the mean of the values before it: the previous ``size`` values and/or those of the
    previous ``seconds`` (exactly one of ``stds`` and ``percent``; at least one of ``size``
    and ``seconds``). Hysteresis unit: that of the limit (standard deviations or percentage
    points)."""

    stds: Decimal | None = None
    percent: Decimal | None = None
    size: int | None = None
    seconds: float | None = None
    kind: ClassVar[str] = "deviation"
    unit: ClassVar[str] = "stds or percent"

    def __post_init__(self) -> None:
        if (self.stds is None) == (self.percent is None):
            raise RuleError("condition.stds", "give exactly one of stds and percent")
        if self.stds is not None:
            object.__setattr__(self, "stds", _positive_decimal(self.stds, "condition.stds"))
        if self.percent is not None:
            object.__setattr__(
                self, "percent", _positive_decimal(self.percent, "condition.percent")
            )
        if self.size is None and self.seconds is None:
            raise RuleError("condition.size", "give a window size (values) or seconds, or both")
        if self.size is not None and (
            isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 2
        ):
            raise RuleError("condition.size", f"must be an integer of 2 or more, not {self.size!r}")
        if self.seconds is not None:
            object.__setattr__(
                self, "seconds", _seconds(self.seconds, "condition.seconds", positive=True)
            )


Condition = Above | Below | Outside | Cross | ChangeAbove | ChangeBelow | Move | Deviation

_CONDITIONS: dict[str, type[Condition]] = {
    c.kind: c for c in (Above, Below, Outside, Cross, ChangeAbove, ChangeBelow, Move, Deviation)
}


def _condition_dict(condition: Condition) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": condition.kind}
    for f in fields(condition):
        value = getattr(condition, f.name)
        if value is None:
            continue
        out[f.name] = str(value) if isinstance(value, Decimal) else value
    return out


def condition_from_dict(data: object) -> Condition:
    """The condition written as ``{"kind": ..., field: value...}``; raises
    :class:`RuleError` naming the field for an unknown kind, a missing, unknown or bad
    field."""
    if not isinstance(data, dict):
        raise RuleError("condition", "must be an object with a kind")
    kind = data.get("kind")
    cls = _CONDITIONS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise RuleError("condition.kind", f"must be one of {', '.join(_CONDITIONS)}; not {kind!r}")
    known = {f.name: f for f in fields(cls)}
    extra = sorted(set(data) - set(known) - {"kind"})
    if extra:
        raise RuleError(f"condition.{extra[0]}", f"is not a field of a {kind} condition")
    missing = [
        name
        for name, f in known.items()
        if name not in data and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise RuleError(f"condition.{missing[0]}", "is required")
    kwargs = {name: value for name, value in data.items() if name != "kind"}
    return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class Rule:
    """One alert rule.

    ``hysteresis`` is in the condition's unit (see each condition): after firing, the rule
    re-arms only once the watched quantity has come back past the line by that much.
    ``cooldown``: at most one fire per that many seconds; a condition that becomes true
    during the cooldown fires when it ends, if it is still true then. ``expires_at``
    (seconds since the epoch): no fire at or after it. ``one_shot``: fires at most once.
    ``enabled=False``: never fires. Raises :class:`RuleError` naming the field.
    """

    id: str
    target: Target
    condition: Condition
    hysteresis: Decimal = Decimal(0)
    cooldown: float = 0.0
    expires_at: float | None = None
    one_shot: bool = False
    enabled: bool = True
    _fields: ClassVar[tuple[str, ...]] = (
        "id",
        "target",
        "condition",
        "hysteresis",
        "cooldown",
        "expires_at",
        "one_shot",
        "enabled",
    )

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise RuleError("id", "must be a non-empty string")
        if not isinstance(self.target, Target):
            raise RuleError("target", "must be a Target (an asset or a portfolio)")
        if not isinstance(self.condition, tuple(_CONDITIONS.values())):
            raise RuleError("condition", "must be one of the conditions")
        hysteresis = to_decimal(self.hysteresis, "hysteresis")
        if hysteresis < 0:
            raise RuleError("hysteresis", f"must be 0 or more, not {self.hysteresis!r}")
        object.__setattr__(self, "hysteresis", hysteresis)
        object.__setattr__(self, "cooldown", _seconds(self.cooldown, "cooldown", positive=False))
        if self.expires_at is not None:
            object.__setattr__(
                self, "expires_at", _seconds(self.expires_at, "expires_at", positive=False)
            )
        for name in ("one_shot", "enabled"):
            if not isinstance(getattr(self, name), bool):
                raise RuleError(name, "must be true or false")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: levels and hysteresis as Decimal strings."""
        return {
            "id": self.id,
            "target": self.target.to_dict(),
            "condition": _condition_dict(self.condition),
            "hysteresis": str(self.hysteresis),
            "cooldown": self.cooldown,
            "expires_at": self.expires_at,
            "one_shot": self.one_shot,
            "enabled": self.enabled,
        }

    def definition(self) -> dict[str, Any]:
        """What decides when the rule fires: target, condition and hysteresis. State kept
        for a rule is kept across an edit only while this stays the same."""
        return {
            "target": self.target.to_dict(),
            "condition": _condition_dict(self.condition),
            "hysteresis": str(self.hysteresis),
        }


def rule_from_dict(data: object) -> Rule:
    """The rule :meth:`Rule.to_dict` wrote (defaults for the optional fields). Raises
    :class:`RuleError` naming the first field that is missing, unknown or bad."""
    if not isinstance(data, dict):
        raise RuleError("rule", "must be an object")
    extra = sorted(set(data) - set(Rule._fields))
    if extra:
        raise RuleError(extra[0], "is not a field of a rule")
    for name in ("id", "target", "condition"):
        if name not in data:
            raise RuleError(name, "is required")
    kwargs = dict(data)
    kwargs["target"] = Target.from_dict(data["target"])
    kwargs["condition"] = condition_from_dict(data["condition"])
    return Rule(**kwargs)


def _number(number: Decimal | float) -> str:
    # As the fire messages write numbers: "200" for 200.00, "200.10" as written, never an
    # exponent; seconds as a short float.
    if isinstance(number, Decimal):
        return f"{number.normalize():f}" if number == number.to_integral() else f"{number:f}"
    return f"{number:g}"


def _window(size: int | None, seconds: float | None) -> str:
    parts = []
    if size is not None:
        parts.append(f"{size} values")
    if seconds is not None:
        parts.append(f"{_number(seconds)} s")
    return " and ".join(parts)


def describe(rule: Rule | Condition, target: Target | None = None) -> str:
    """What a rule watches, as a short sentence for people: ``AAPL above 200``,
    ``portfolio 12 change since the previous close below -5%``, ``BTC-USD moves up more
    than 3% within 300 s``. Given a bare condition, ``target`` names what it watches
    (``the value`` without one). The REST API's ``description``, the client and
    ``tickwire alerts`` show the same words."""
    if isinstance(rule, Rule):
        c: Condition = rule.condition
        who = str(rule.target)
    else:
        c = rule
        who = str(target) if target is not None else "the value"
    if isinstance(c, Above | Below):
        return f"{who} {c.kind} {_number(c.level)}"
    if isinstance(c, Outside):
        return f"{who} above {_number(c.above)} or below {_number(c.below)}"
    if isinstance(c, Cross):
        way = "" if c.direction == "both" else f" {c.direction} through"
        return f"{who} crosses{way} {_number(c.level)}"
    if isinstance(c, ChangeAbove | ChangeBelow):
        word = "above" if isinstance(c, ChangeAbove) else "below"
        return f"{who} change since the previous close {word} {_number(c.percent)}%"
    if isinstance(c, Move):
        way = "" if c.direction == "both" else f" {c.direction}"
        return f"{who} moves{way} more than {_number(c.percent)}% within {_number(c.seconds)} s"
    limit = (
        f"{_number(c.stds)} standard deviations"
        if c.stds is not None
        else (f"{_number(c.percent or Decimal(0))}%")
    )
    return f"{who} more than {limit} from its mean over {_window(c.size, c.seconds)}"
