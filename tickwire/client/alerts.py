"""Threshold and crossing alerts with hysteresis and a cooldown.

A price hovering at the line crosses it again and again; an alert that fires on each
crossing is a storm. Two guards stop that:

* **hysteresis** — after firing, an alert re-arms only once the value has come back past
  the line by ``hysteresis`` (for ``above=200, hysteresis=1``: it must drop to 199 or
  below before it can fire again);
* **cooldown** — at most one alert per ``cooldown`` seconds. A crossing during the cooldown
  is not forgotten: if the value is still beyond the line when the cooldown ends, the
  alert fires then.

:class:`Threshold` and :class:`Crossing` are thin wrappers over one rule of Tickwire's rule
engine (:mod:`tickwire.stream.alerts`): the decisions are the engine's, and values are
compared as Decimals read from their shortest text (``200.1`` is exactly the level
``200.1``). Their :attr:`~Threshold.rule` is the engine's rule, and
:meth:`~Threshold.export_state` / :meth:`~Threshold.import_state` carry an alert's state
across a restart. Pure computation: feed values with :meth:`Threshold.check` /
:meth:`Crossing.check`; the wall clock is read only when ``at`` is not given.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal, cast

from tickwire.stream.alerts import (
    Above,
    Below,
    Condition,
    Cross,
    Observation,
    Outside,
    Rule,
    RuleEvaluator,
    Target,
    to_decimal,
)

__all__ = ["AlertEvent", "Crossing", "Threshold"]

AlertKind = Literal["above", "below", "cross_up", "cross_down"]

# The engine's rules watch a named target; an alert made without a symbol watches this one.
_UNNAMED = "value"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An alert fired: ``value`` went ``kind`` the ``level`` at time ``at``.
    :meth:`describe` says so in words (without the symbol)."""

    kind: AlertKind
    value: float
    level: float
    at: float
    symbol: str = ""

    def describe(self) -> str:
        what = {
            "above": "is above",
            "below": "is below",
            "cross_up": "crossed up through",
            "cross_down": "crossed down through",
        }[self.kind]
        return f"{self.value:g} {what} {self.level:g}"


class _Alert:
    """One engine rule fed plain values."""

    def __init__(
        self, name: str, condition: Condition, hysteresis: float, cooldown: float, symbol: str
    ) -> None:
        self.symbol = symbol
        self.rule = Rule(
            id=name,
            target=Target.asset(symbol or _UNNAMED),
            condition=condition,
            hysteresis=to_decimal(hysteresis, "hysteresis"),
            cooldown=cooldown,
        )
        self._evaluator = RuleEvaluator(self.rule)

    def check(self, value: float, at: float | None = None) -> AlertEvent | None:
        """Feed one value observed at time ``at`` (default now); return the alert it fires,
        if any. Values that are not finite numbers are ignored."""
        if not math.isfinite(value):
            return None
        now = time.time() if at is None else at
        fire = self._evaluator.observe(
            Observation(self.rule.target, to_decimal(value, "value"), now)
        )
        if fire is None:
            return None
        kind = cast(AlertKind, fire.kind)
        return AlertEvent(kind, float(value), float(fire.level), fire.at, self.symbol)

    def export_state(self) -> dict[str, Any]:
        """The alert's state (armed lines, last alert time, ...) as a JSON-able dict."""
        return self._evaluator.export_state()

    def import_state(self, state: dict[str, Any]) -> bool:
        """Go on from :meth:`export_state`'s state; False (and a fresh start) when it was
        exported for different lines or hysteresis."""
        return self._evaluator.import_state(state)


class Threshold(_Alert):
    """Fires when a value is beyond a line: ``above`` and/or ``below``.

    It fires on the first value beyond the line (even the very first value seen), then not
    again until the value has come back by ``hysteresis`` and gone beyond once more, and
    never twice within ``cooldown`` seconds. Raises ``ValueError`` without a line, for
    ``below > above``, or for a negative hysteresis or cooldown.
    """

    def __init__(
        self,
        above: float | None = None,
        below: float | None = None,
        *,
        hysteresis: float = 0.0,
        cooldown: float = 0.0,
        symbol: str = "",
    ) -> None:
        if above is None and below is None:
            raise ValueError("a threshold needs above= or below= (or both)")
        condition: Condition
        if above is not None and below is not None:
            condition = Outside(to_decimal(above, "above"), to_decimal(below, "below"))
        elif above is not None:
            condition = Above(to_decimal(above, "above"))
        else:
            assert below is not None
            condition = Below(to_decimal(below, "below"))
        super().__init__("threshold", condition, hysteresis, cooldown, symbol)


class Crossing(_Alert):
    """Fires when a value crosses ``level``: ``direction`` ``"up"``, ``"down"`` or ``"both"``.

    Unlike :class:`Threshold`, a value already beyond the level when watching starts does
    not fire: the first value only tells which side it is on. After a crossing, the same
    crossing can fire again only once the value has come back past the level by
    ``hysteresis``; ``cooldown`` is as for :class:`Threshold`. Raises ``ValueError`` for a
    bad direction or a negative hysteresis or cooldown.
    """

    def __init__(
        self,
        level: float,
        *,
        direction: Literal["up", "down", "both"] = "both",
        hysteresis: float = 0.0,
        cooldown: float = 0.0,
        symbol: str = "",
    ) -> None:
        condition = Cross(to_decimal(level, "level"), direction)
        super().__init__("crossing", condition, hysteresis, cooldown, symbol)
        self.level = level
        self.direction = direction
