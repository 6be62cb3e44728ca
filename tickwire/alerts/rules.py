"""Rule rows as the rule engine's rules, and back.

The engine (:mod:`tickwire.stream.alerts`) knows rules by a string id and targets by symbol
or portfolio id; a row knows its owner, its name and its delivery channels too. The
engine's id of a rule is its primary key as text.
"""

from __future__ import annotations

from dataclasses import dataclass

from tickwire.stream.alerts import Rule, Target, condition_from_dict

from .models import AlertRule

__all__ = ["RuleMeta", "engine_rule", "rule_meta", "rule_target"]


@dataclass(frozen=True, slots=True)
class RuleMeta:
    """What the outbox needs to know of a rule that fired, beside the fire itself."""

    rule_id: int
    owner_id: int
    name: str
    channels: tuple[str, ...]


def rule_target(row: AlertRule) -> Target:
    """The engine target of a row (its asset must be loaded, or is fetched)."""
    if row.portfolio_id is not None:
        return Target.portfolio(row.portfolio_id)
    assert row.asset is not None
    return Target.asset(row.asset.symbol)


def engine_rule(row: AlertRule) -> Rule:
    """The engine's rule for a row; raises ``RuleError`` naming the field for a row the
    engine refuses (written behind the API's back)."""
    return Rule(
        str(row.pk),
        rule_target(row),
        condition_from_dict(row.condition),
        hysteresis=row.hysteresis,
        cooldown=row.cooldown,
        expires_at=row.expires_at.timestamp() if row.expires_at is not None else None,
        one_shot=row.one_shot,
        enabled=row.enabled,
    )


def rule_meta(row: AlertRule) -> RuleMeta:
    return RuleMeta(row.pk, row.owner_id, row.name, tuple(row.channels or ()))
