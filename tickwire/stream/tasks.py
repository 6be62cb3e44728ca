"""Fire-and-forget tasks whose failures are logged, never lost silently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["log_failure"]


def log_failure(
    what: str, logger: logging.Logger, *, level: int = logging.WARNING
) -> Callable[[asyncio.Future[Any]], None]:
    """A done-callback that logs ``what`` failed, with the exception, at ``level``.

    A cancelled task is not a failure. Retrieving the exception here also keeps asyncio from
    printing "Task exception was never retrieved" for a task nobody awaits.
    """

    def done(task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.log(level, "%s failed: %s", what, exc, exc_info=exc)

    return done
