"""Many rules at once, indexed by what they watch.

An :class:`AlertEngine` holds rules by id and finds the ones an observation concerns by its
target, so feeding it every price of a busy feed costs only the rules on that symbol. Its
state is the state of each rule (see :mod:`tickwire.stream.alerts.evaluator`), exported and
imported as one JSON-able dict. Like the evaluator, it reads no clock and does no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .evaluator import Fire, Observation, RuleEvaluator
from .rules import Rule, RuleError, Target

__all__ = ["STATE_VERSION", "AlertEngine"]

#: The version of :meth:`AlertEngine.export_state`'s format.
STATE_VERSION = 1


class AlertEngine:
    """Rules by id, evaluated per observation. Fires come in the order the rules were
    added. Raises :class:`RuleError` for a rule id given twice to the constructor."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._evaluators: dict[str, RuleEvaluator] = {}
        self._by_target: dict[Target, dict[str, RuleEvaluator]] = {}
        for rule in rules:
            if rule.id in self._evaluators:
                raise RuleError("id", f"{rule.id!r} is given twice")
            self.set_rule(rule)

    def __len__(self) -> int:
        return len(self._evaluators)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._evaluators

    def rules(self) -> list[Rule]:
        return [e.rule for e in self._evaluators.values()]

    def rule(self, rule_id: str) -> Rule:
        """The rule with that id; ``KeyError`` if there is none."""
        return self._evaluators[rule_id].rule

    def evaluator(self, rule_id: str) -> RuleEvaluator:
        return self._evaluators[rule_id]

    def set_rule(self, rule: Rule) -> None:
        """Add a rule, or replace the one with its id. A replaced rule keeps its state if
        its :meth:`~Rule.definition` (target, condition, hysteresis) is unchanged — so
        disabling, re-enabling or changing the cooldown or expiry loses nothing — and
        starts afresh otherwise (a crossing then waits for a first value again)."""
        old = self._evaluators.get(rule.id)
        fresh = RuleEvaluator(rule)
        if old is not None:
            fresh.import_state(old.export_state())
            self._unindex(old)
        self._evaluators[rule.id] = fresh
        self._by_target.setdefault(rule.target, {})[rule.id] = fresh

    def remove_rule(self, rule_id: str) -> None:
        """Forget a rule and its state; ``KeyError`` if there is none."""
        self._unindex(self._evaluators.pop(rule_id))

    def _unindex(self, evaluator: RuleEvaluator) -> None:
        target = evaluator.rule.target
        by_id = self._by_target[target]
        del by_id[evaluator.rule.id]
        if not by_id:
            del self._by_target[target]

    def observe(self, obs: Observation) -> list[Fire]:
        """Evaluate every rule on ``obs.target``; return the fires, possibly none."""
        by_id = self._by_target.get(obs.target)
        if not by_id:
            return []
        fires = []
        for evaluator in by_id.values():
            fire = evaluator.observe(obs)
            if fire is not None:
                fires.append(fire)
        return fires

    def export_state(self) -> dict[str, Any]:
        """Every rule's state, as a JSON-able dict for :meth:`import_state`."""
        return {
            "version": STATE_VERSION,
            "rules": {rule_id: e.export_state() for rule_id, e in self._evaluators.items()},
        }

    def import_state(self, state: dict[str, Any]) -> list[str]:
        """Take the state :meth:`export_state` wrote, for the rules held now: state of a
        rule no longer held is ignored, a rule without state (or whose definition changed
        since) starts afresh. Returns the ids of the rules that took their state. Raises
        :class:`RuleError` naming the part of a malformed state, before changing any rule.
        """
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise RuleError("state.version", f"must be {STATE_VERSION}")
        rules = state.get("rules")
        if not isinstance(rules, dict):
            raise RuleError("state.rules", "must be an object of rule states by id")
        # Import into fresh evaluators first: a malformed part leaves the engine as it was.
        fresh = {rule_id: RuleEvaluator(e.rule) for rule_id, e in self._evaluators.items()}
        taken = []
        for rule_id, evaluator in fresh.items():
            if rule_id in rules:
                try:
                    ok = evaluator.import_state(rules[rule_id])
                except RuleError as exc:
                    part = exc.field.removeprefix("state.")
                    raise RuleError(f"state.rules.{rule_id}.{part}", exc.problem) from None
                if ok:
                    taken.append(rule_id)
        for rule_id, evaluator in fresh.items():
            self._unindex(self._evaluators[rule_id])
            self._evaluators[rule_id] = evaluator
            self._by_target.setdefault(evaluator.rule.target, {})[rule_id] = evaluator
        return taken
