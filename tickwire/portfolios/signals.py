"""Publish a change event whenever a portfolio or one of its positions is saved or deleted.

Signals rather than calls in each view, so the REST API, the admin (inline position
edits) and any other writer all reach the live valuers the same way.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from .models import Portfolio, Position
from .services import portfolio_changed, portfolio_owner_changed


@receiver(post_save, sender=Position, dispatch_uid="tickwire.position_saved")
@receiver(post_delete, sender=Position, dispatch_uid="tickwire.position_deleted")
def _position_changed(sender: type[Position], instance: Position, **kwargs: Any) -> None:
    portfolio_changed(instance.portfolio_id)


@receiver(post_save, sender=Portfolio, dispatch_uid="tickwire.portfolio_saved")
@receiver(post_delete, sender=Portfolio, dispatch_uid="tickwire.portfolio_deleted")
def _portfolio_changed(sender: type[Portfolio], instance: Portfolio, **kwargs: Any) -> None:
    portfolio_changed(instance.pk)
    previous = getattr(instance, "_previous_owner_id", None)
    if previous is not None and previous != instance.owner_id:
        portfolio_owner_changed(instance.pk, previous)
    instance._previous_owner_id = instance.owner_id  # type: ignore[attr-defined]


@receiver(pre_save, sender=Portfolio, dispatch_uid="tickwire.portfolio_owner_before")
def _remember_owner(sender: type[Portfolio], instance: Portfolio, **kwargs: Any) -> None:
    # The owner as stored, read at save time (not when the object was loaded, which may be
    # long before): a change of owner must end the previous owner's live subscriptions.
    if instance.pk is None:
        return
    stored = Portfolio.objects.filter(pk=instance.pk).values_list("owner_id", flat=True)
    instance._previous_owner_id = stored.first()  # type: ignore[attr-defined]
