"""Column names and decimal shapes of model fields, for the writers' own SQL
(:mod:`.quotes`, :mod:`.bars`), so their statements follow the models."""

from __future__ import annotations

from django.db import models

__all__ = ["column", "decimal_shape"]


def column(model: type[models.Model], name: str) -> str:
    """The database column of ``model``'s field ``name`` (``asset`` → ``asset_id``)."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or field.column is None:
        raise ValueError(f"{model.__name__}.{name} is not a concrete field")
    return str(field.column)


def decimal_shape(model: type[models.Model], name: str) -> tuple[int, int]:
    """(max_digits, decimal_places) of ``model``'s decimal field ``name``."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.DecimalField):
        raise ValueError(f"{model.__name__}.{name} is not a DecimalField")
    return int(field.max_digits or 0), int(field.decimal_places or 0)
