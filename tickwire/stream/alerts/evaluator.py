"""Evaluating one rule: observations in, fire decisions out, state that survives a restart.

A :class:`RuleEvaluator` is a state machine over the :class:`Observation` values it is fed;
it never reads a clock (time is the observation's ``at``) and does no I/O. Each condition is
a set of *lines*: a quantity measured from the observation (the value itself, the change
since the previous close, the move within a window, the deviation from a rolling mean) and
a level it must go beyond (above for an upward line, below for a downward one).

For each line, in the condition's order, as the client's alerts always did:

* an armed line whose quantity is beyond its level fires, unless the rule fired less than
  ``cooldown`` seconds ago — then it stays armed (the fire is *pending*) and fires on the
  first observation after the cooldown at which it is still beyond;
* after firing, the line re-arms only once the quantity is back past the level by the
  hysteresis (``<= level - hysteresis`` for an upward line, ``>= level + hysteresis``
  for a downward one); the observation that re-arms it does not fire;
* at most one line fires per observation (the rule has one cooldown).

A crossing's lines start disarmed when the first measured value is already beyond: that
first value only tells which side it is on. Every other line starts armed, so a price
already above an ``above`` level fires on the first observation.

Prices, levels and percentages are compared as :class:`~decimal.Decimal`. The windowed
conditions (``move``, ``deviation``) keep a :class:`~tickwire.stream.stats.RollingWindow`
of floats: their statistics are floats, read as Decimals through their shortest text (as
float prices are) for the comparison.

:meth:`RuleEvaluator.export_state` returns a JSON-able dict; :meth:`RuleEvaluator.import_state`
takes it back so that a fresh evaluator goes on exactly where the exported one stopped
(floats survive JSON exactly). State carries the rule's :meth:`~Rule.definition`: state
exported for another definition (an edited level, target, condition or hysteresis) is
dropped and the rule starts afresh; an edit of the cooldown, expiry, one-shot or enabled
flag keeps it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

from tickwire.stream.messages import AssetUpdate, PortfolioUpdate, parse_timestamp
from tickwire.stream.stats import RollingWindow

from .rules import (
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
    to_decimal,
)

__all__ = ["Fire", "Number", "Observation", "RuleEvaluator"]

#: What the wire may carry as a number: text, a Decimal, or a JSON number.
Number = Decimal | int | float | str

# A context of our own: the results never depend on what a caller did to the thread's.
_CTX = Context(prec=34)
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Observation:
    """One value of a target at time ``at`` (seconds since the epoch): an asset's price or
    a portfolio's total value. ``previous_close`` (assets) or ``change_percent`` (the day's
    change in percent; a portfolio's daily change) feed the change conditions; with
    both, the change is computed from ``previous_close``. Numbers may be Decimals, ints,
    floats or numeric strings; raises :class:`RuleError` naming the field otherwise."""

    target: Target
    value: Decimal
    at: float
    previous_close: Decimal | None = None
    change_percent: Decimal | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.target, Target):
            raise RuleError("target", "must be a Target (an asset or a portfolio)")
        object.__setattr__(self, "value", to_decimal(self.value, "value"))
        if isinstance(self.at, bool) or not isinstance(self.at, int | float):
            raise RuleError("at", f"must be a time in seconds, not {self.at!r}")
        if not math.isfinite(self.at):
            raise RuleError("at", f"must be a finite time in seconds, not {self.at!r}")
        object.__setattr__(self, "at", float(self.at))
        for name in ("previous_close", "change_percent"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, to_decimal(getattr(self, name), name))

    @classmethod
    def asset(
        cls,
        symbol: str,
        price: Number,
        at: float,
        *,
        previous_close: Number | None = None,
        change_percent: Number | None = None,
    ) -> Observation:
        """An asset's price (and, for the change conditions, its previous close or the
        day's change in percent)."""
        return cls(
            Target.asset(symbol),
            to_decimal(price, "value"),
            at,
            _optional(previous_close, "previous_close"),
            _optional(change_percent, "change_percent"),
        )

    @classmethod
    def portfolio(
        cls,
        portfolio_id: int,
        total_value: Number,
        at: float,
        *,
        change_percent: Number | None = None,
    ) -> Observation:
        """A portfolio's total value and its daily change in percent."""
        return cls(
            Target.portfolio(portfolio_id),
            to_decimal(total_value, "value"),
            at,
            None,
            _optional(change_percent, "change_percent"),
        )

    @classmethod
    def from_message(
        cls, message: AssetUpdate | PortfolioUpdate, at: float | None = None
    ) -> Observation:
        """The observation an asset update (price, previous close, change percent) or a
        portfolio update (total value, daily change percent) carries, at ``at`` or else its
        timestamp. Raises :class:`RuleError` for an update without a time or a value."""
        when = at if at is not None else parse_timestamp(message.timestamp)
        if when is None:
            raise RuleError("timestamp", f"must be an ISO-8601 time, not {message.timestamp!r}")
        if isinstance(message, AssetUpdate):
            return cls.asset(
                message.symbol,
                message.price,
                when,
                previous_close=message.previous_close,
                change_percent=message.change_percent,
            )
        if message.total_value is None:
            raise RuleError("total_value", "is required for a portfolio observation")
        return cls.portfolio(
            message.portfolio_id,
            message.total_value,
            when,
            change_percent=message.daily_change_percent,
        )

    def change(self) -> Decimal | None:
        """The change since the previous close in percent, or None when unknown."""
        if self.previous_close is not None and self.previous_close > 0:
            moved = _CTX.subtract(self.value, self.previous_close)
            return _CTX.multiply(_CTX.divide(moved, self.previous_close), _HUNDRED)
        return self.change_percent


@dataclass(frozen=True, slots=True)
class Fire:
    """A rule fired: ``kind`` names the line (``above``, ``cross_up``, ``move_down``...),
    ``measure`` is the quantity that went beyond ``level`` (the value itself for the value
    conditions, a percentage or a number of standard deviations for the others), ``value``
    the observed value, ``at`` the observation's time, ``message`` a sentence for people."""

    rule_id: str
    target: Target
    condition: str
    kind: str
    value: Decimal
    measure: Decimal
    level: Decimal
    at: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; Decimals as strings."""
        return {
            "rule_id": self.rule_id,
            "target": self.target.to_dict(),
            "condition": self.condition,
            "kind": self.kind,
            "value": str(self.value),
            "measure": str(self.measure),
            "level": str(self.level),
            "at": self.at,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class _Line:
    kind: str
    level: Decimal
    upward: bool


def _lines(rule: Rule) -> list[_Line]:
    c = rule.condition
    if isinstance(c, Above):
        return [_Line("above", c.level, True)]
    if isinstance(c, Below):
        return [_Line("below", c.level, False)]
    if isinstance(c, Outside):
        return [_Line("above", c.above, True), _Line("below", c.below, False)]
    if isinstance(c, Cross):
        up, down = _Line("cross_up", c.level, True), _Line("cross_down", c.level, False)
        return {"up": [up], "down": [down], "both": [up, down]}[c.direction]
    if isinstance(c, ChangeAbove):
        return [_Line("change_above", c.percent, True)]
    if isinstance(c, ChangeBelow):
        return [_Line("change_below", c.percent, False)]
    if isinstance(c, Move):
        up, down = _Line("move_up", c.percent, True), _Line("move_down", c.percent, True)
        return {"up": [up], "down": [down], "both": [up, down]}[c.direction]
    limit = c.stds if c.stds is not None else c.percent
    assert limit is not None  # Deviation validates that one of them is set
    return [_Line("deviation", limit, True)]


def _window(rule: Rule, state: dict[str, Any] | None = None) -> RollingWindow | None:
    c = rule.condition
    if isinstance(c, Move):
        args: tuple[int | None, float | None] = (None, c.seconds)
    elif isinstance(c, Deviation):
        args = (c.size, c.seconds)
    else:
        return None
    if state is None:
        return RollingWindow(args[0], seconds=args[1])
    return RollingWindow.from_state(state, args[0], seconds=args[1])


def _fmt(number: Decimal | float) -> str:
    if isinstance(number, Decimal):
        # "200" for 200.00, "200.10" as written, never an exponent.
        return f"{number.normalize():f}" if number == number.to_integral() else f"{number:f}"
    return f"{number:.4g}"


class RuleEvaluator:
    """The state of one :class:`Rule` and the decisions it makes (see the module's
    docstring). ``observe`` ignores observations of other targets."""

    __slots__ = ("_lines", "armed", "fired_once", "last", "last_fired", "pending", "rule", "seen",
                 "window")  # fmt: skip

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self._lines = _lines(rule)
        self._reset()

    def _reset(self) -> None:
        self.armed = [True] * len(self._lines)
        self.seen = False  # a first measured value has been seen (crossings arm on it)
        self.last: Decimal | None = None  # the last observed value
        self.last_fired: float | None = None
        self.pending = False  # beyond while armed, held back by the cooldown
        self.fired_once = False
        self.window = _window(self.rule)

    def active(self, at: float) -> bool:
        """Whether the rule can fire at time ``at``: enabled, not expired, and not a
        one-shot rule that has fired."""
        rule = self.rule
        if not rule.enabled or (rule.one_shot and self.fired_once):
            return False
        return rule.expires_at is None or at < rule.expires_at

    def _measures(self, obs: Observation) -> list[Decimal | None]:
        c = self.rule.condition
        if isinstance(c, Above | Below | Outside | Cross):
            return [obs.value] * len(self._lines)
        if isinstance(c, ChangeAbove | ChangeBelow):
            return [obs.change()]
        window = self.window
        assert window is not None
        value = float(obs.value)
        if isinstance(c, Move):
            window.add(value, at=obs.at)
            low, high = window.min, window.max
            assert low is not None and high is not None
            up = (value - low) / low * 100.0 if low > 0 else None
            down = (high - value) / high * 100.0 if high > 0 else None
            by_kind = {"move_up": up, "move_down": down}
            return [_exact(by_kind[line.kind]) for line in self._lines]
        # Deviation from the window of the values *before* this one.
        if c.seconds is not None:
            window.expire(obs.at)
        mean, std = window.mean, window.std
        window.add(value, at=obs.at)
        if mean is None:
            return [None]
        if c.stds is not None:
            if std is None or std == 0.0:
                return [None]  # no spread yet: a number of deviations means nothing
            return [_exact(abs(value - mean) / std)]
        if mean == 0.0:
            return [None]
        return [_exact(abs(value - mean) / abs(mean) * 100.0)]

    def observe(self, obs: Observation) -> Fire | None:
        """Feed one observation; return the fire it causes, if any. An inactive rule (see
        :meth:`active`) or an observation of another target changes nothing."""
        if obs.target != self.rule.target or not self.active(obs.at):
            return None
        measures = self._measures(obs)
        self.last = obs.value
        if not self.seen and any(m is not None for m in measures):
            self.seen = True
            if isinstance(self.rule.condition, Cross):
                for i, line in enumerate(self._lines):
                    m = measures[i]
                    self.armed[i] = m is None or not _beyond(line, m)
        fired: Fire | None = None
        pending = False
        hysteresis = self.rule.hysteresis
        for i, line in enumerate(self._lines):
            m = measures[i]
            if m is None:
                continue
            if not self.armed[i]:
                limit = line.level - hysteresis if line.upward else line.level + hysteresis
                if (m <= limit) if line.upward else (m >= limit):
                    self.armed[i] = True
            elif fired is None and _beyond(line, m):
                if self.last_fired is None or obs.at - self.last_fired >= self.rule.cooldown:
                    self.armed[i] = False
                    self.last_fired = obs.at
                    self.fired_once = True
                    fired = self._fire(obs, line, m)
                else:
                    pending = True
        self.pending = pending and fired is None
        return fired

    def _fire(self, obs: Observation, line: _Line, measure: Decimal) -> Fire:
        return Fire(
            rule_id=self.rule.id,
            target=self.rule.target,
            condition=self.rule.condition.kind,
            kind=line.kind,
            value=obs.value,
            measure=measure,
            level=line.level,
            at=obs.at,
            message=_sentence(self.rule, line, obs, measure),
        )

    def export_state(self) -> dict[str, Any]:
        """The state as a JSON-able dict, for :meth:`import_state`."""
        return {
            "definition": self.rule.definition(),
            "armed": list(self.armed),
            "seen": self.seen,
            "last": None if self.last is None else str(self.last),
            "last_fired": self.last_fired,
            "pending": self.pending,
            "fired_once": self.fired_once,
            "window": None if self.window is None else self.window.export_state(),
        }

    def import_state(self, state: dict[str, Any]) -> bool:
        """Take the state :meth:`export_state` wrote. State of another definition of the
        rule is dropped (the rule starts afresh) and False returned; True when taken.
        Raises :class:`RuleError` naming the part of a malformed state; the evaluator is
        then unchanged."""
        if not isinstance(state, dict):
            raise RuleError("state", "must be an object")
        if state.get("definition") != self.rule.definition():
            self._reset()
            return False
        armed = state.get("armed")
        if not isinstance(armed, list) or len(armed) != len(self._lines):
            raise RuleError("state.armed", f"must be a list of {len(self._lines)} booleans")
        if not all(isinstance(a, bool) for a in armed):
            raise RuleError("state.armed", "must hold booleans")
        flags = {}
        for name in ("seen", "pending", "fired_once"):
            flag = state.get(name)
            if not isinstance(flag, bool):
                raise RuleError(f"state.{name}", "must be true or false")
            flags[name] = flag
        last = None if state.get("last") is None else to_decimal(state["last"], "state.last")
        last_fired = state.get("last_fired")
        if last_fired is not None and (
            isinstance(last_fired, bool)
            or not isinstance(last_fired, int | float)
            or not math.isfinite(last_fired)
        ):
            raise RuleError("state.last_fired", "must be a time in seconds or null")
        window = None
        if self.window is not None:
            if not isinstance(state.get("window"), dict):
                raise RuleError("state.window", "must be the exported window")
            try:
                window = _window(self.rule, state["window"])
            except ValueError as exc:
                raise RuleError("state.window", str(exc)) from None
        self.armed = list(armed)
        self.seen = flags["seen"]
        self.pending = flags["pending"]
        self.fired_once = flags["fired_once"]
        self.last = last
        self.last_fired = None if last_fired is None else float(last_fired)
        self.window = window
        return True


def _optional(value: Number | None, field: str) -> Decimal | None:
    return None if value is None else to_decimal(value, field)


def _exact(number: float | None) -> Decimal | None:
    # Through the shortest text, as for float prices: 2.5 stays 2.5, and the measure a fire
    # reports is the one it was compared as.
    return None if number is None else Decimal(repr(number))


def _beyond(line: _Line, measure: Decimal) -> bool:
    return measure > line.level if line.upward else measure < line.level


def _sentence(rule: Rule, line: _Line, obs: Observation, measure: Decimal) -> str:
    who = str(rule.target)
    value, level = _fmt(obs.value), _fmt(line.level)
    kind = line.kind
    c = rule.condition
    if kind in ("above", "below"):
        return f"{who} at {value} is {kind} {level}"
    if kind in ("cross_up", "cross_down"):
        way = "up" if kind == "cross_up" else "down"
        return f"{who} crossed {way} through {level}, now {value}"
    if kind in ("change_above", "change_below"):
        word = "above" if kind == "change_above" else "below"
        change = _fmt(float(measure))
        return f"{who} at {value} has changed {change}% since the previous close ({word} {level}%)"
    if kind in ("move_up", "move_down"):
        assert isinstance(c, Move)
        way = "up" if kind == "move_up" else "down"
        moved, seconds = _fmt(float(measure)), _fmt(c.seconds)
        return f"{who} moved {way} {moved}% within {seconds} s to {value} (more than {level}%)"
    assert isinstance(c, Deviation)
    window = f"{c.size} values" if c.size is not None else f"{_fmt(c.seconds or 0.0)} s"
    far = _fmt(float(measure))
    far = f"{far} standard deviations" if c.stds is not None else f"{far}%"
    limit = level if c.stds is not None else f"{level}%"
    return f"{who} at {value} is {far} from its mean over {window} (more than {limit})"
