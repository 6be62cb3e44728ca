"""Reconnect delays: exponential backoff with jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before reconnect attempt ``n`` (1-based): ``initial * factor**(n-1)``, capped at
    ``maximum``, then scaled by a random factor in ``[1 - jitter, 1]`` so that many clients
    dropped at once by a server restart do not all come back in the same instant.

    ``max_attempts`` bounds consecutive failed attempts (None: retry for ever). The count
    starts again once a connection has been up for ``stable_after`` seconds, so a server
    that accepts and at once drops connections is still retried with growing delays.
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    max_attempts: int | None = None
    stable_after: float = 10.0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial:
            raise ValueError("Backoff needs 0 < initial <= maximum")
        if self.factor < 1:
            raise ValueError("Backoff factor must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("Backoff jitter must be within 0..1")
        if self.max_attempts is not None and self.max_attempts < 0:
            raise ValueError("Backoff max_attempts must be >= 0 or None")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt ``attempt`` (1 is the first retry)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))
        r = (rng or random).random()
        return base * (1.0 - self.jitter * r)

    def exhausted(self, attempt: int) -> bool:
        """True when attempt number ``attempt`` is past ``max_attempts``."""
        return self.max_attempts is not None and attempt > self.max_attempts
