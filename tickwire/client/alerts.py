"""Threshold and crossing alerts with hysteresis and a cooldown.

A price hovering at the line crosses it again and again; an alert that fires on each
crossing is a storm. Two guards stop that:

* **hysteresis** — after firing, an alert re-arms only once the value has come back past
  the line by ``hysteresis`` (for ``above=200, hysteresis=1``: it must drop to 199 or
  below before it can fire again);
* **cooldown** — at most one alert per ``cooldown`` seconds. A crossing during the cooldown
  is not forgotten: if the value is still beyond the line when the cooldown ends, the
  alert fires then.

Pure computation: feed values with :meth:`Threshold.check` / :meth:`Crossing.check`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

__all__ = ["AlertEvent", "Crossing", "Threshold"]

AlertKind = Literal["above", "below", "cross_up", "cross_down"]


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


def _check_params(hysteresis: float, cooldown: float) -> None:
    if not (math.isfinite(hysteresis) and hysteresis >= 0):
        raise ValueError("hysteresis must be a finite number >= 0")
    if not (math.isfinite(cooldown) and cooldown >= 0):
        raise ValueError("cooldown must be a finite number >= 0 (seconds)")


class _Side:
    """One armed/fired line with its hysteresis."""

    __slots__ = ("armed", "hysteresis", "kind", "level", "upward")

    def __init__(self, level: float, upward: bool, hysteresis: float, kind: AlertKind) -> None:
        if not math.isfinite(level):
            raise ValueError("alert level must be a finite number")
        self.level = level
        self.upward = upward
        self.hysteresis = hysteresis
        self.kind = kind
        self.armed = True

    def beyond(self, value: float) -> bool:
        return value > self.level if self.upward else value < self.level

    def rearmed(self, value: float) -> bool:
        if self.upward:
            return value <= self.level - self.hysteresis
        return value >= self.level + self.hysteresis


class _Cooldown:
    __slots__ = ("last", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.last: float | None = None

    def ready(self, now: float) -> bool:
        return self.last is None or now - self.last >= self.seconds


class _Lines:
    """Lines that fire when the value goes beyond them, guarded by hysteresis and cooldown."""

    def __init__(self, sides: list[_Side], cooldown: float, symbol: str) -> None:
        self.symbol = symbol
        self._sides = sides
        self._cooldown = _Cooldown(cooldown)
        self._seen = False

    def _first(self, value: float) -> None:
        """Called with the first value seen, before it is checked."""

    def check(self, value: float, at: float | None = None) -> AlertEvent | None:
        """Feed one value observed at time ``at`` (default now); return the alert it fires,
        if any. Values that are not finite numbers are ignored."""
        if not math.isfinite(value):
            return None
        if not self._seen:
            self._seen = True
            self._first(value)
        now = time.time() if at is None else at
        fired: AlertEvent | None = None
        for side in self._sides:
            if not side.armed:
                if side.rearmed(value):
                    side.armed = True
            elif fired is None and side.beyond(value) and self._cooldown.ready(now):
                # Armed and beyond during a cooldown: it stays armed and fires once the
                # cooldown is over if the value is still beyond the line.
                side.armed = False
                self._cooldown.last = now
                fired = AlertEvent(side.kind, value, side.level, now, self.symbol)
        return fired


class Threshold(_Lines):
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
        if above is not None and below is not None and below > above:
            raise ValueError("below must not be greater than above")
        _check_params(hysteresis, cooldown)
        sides = []
        if above is not None:
            sides.append(_Side(above, True, hysteresis, "above"))
        if below is not None:
            sides.append(_Side(below, False, hysteresis, "below"))
        super().__init__(sides, cooldown, symbol)


class Crossing(_Lines):
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
        if direction not in ("up", "down", "both"):
            raise ValueError("direction must be 'up', 'down' or 'both'")
        _check_params(hysteresis, cooldown)
        sides = []
        if direction in ("up", "both"):
            sides.append(_Side(level, True, hysteresis, "cross_up"))
        if direction in ("down", "both"):
            sides.append(_Side(level, False, hysteresis, "cross_down"))
        super().__init__(sides, cooldown, symbol)
        self.level = level
        self.direction = direction

    def _first(self, value: float) -> None:
        for side in self._sides:
            side.armed = not side.beyond(value)
