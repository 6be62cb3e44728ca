"""Reconnect delays: exponential backoff with jitter.

One policy for everything in Tickwire that reconnects: the client library, the external
feed sources and the Redis broker's pub/sub link. :class:`Backoff` is the policy (a pure
function of the attempt number); :class:`Retries` counts one run of consecutive failures
under it, for loops that keep their attempt count in an object.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff", "Retries"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before reconnect attempt ``n`` (1-based): ``initial * factor**(n-1)``, capped at
    ``maximum``, then scaled by a random factor in ``[1 - jitter, 1]`` so that many clients
    dropped at once by a server restart do not all come back in the same instant.

    ``jitter`` 0.5 ("equal jitter") keeps every delay at least half the base, so nobody
    retries much too early; 1.0 ("full jitter") spreads retries over the whole interval.

    ``max_attempts`` bounds consecutive failed attempts (None: retry for ever). The count
    starts again once a connection has been up for ``stable_after`` seconds, so a server
    that accepts and at once drops connections is still retried with growing delays.

    Raises ValueError for a policy that makes no sense (``initial`` not positive or above
    ``maximum``, ``factor`` below 1, ``jitter`` outside 0..1, negative ``max_attempts``).
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
        try:
            base = min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))
        except OverflowError:
            # Hours of retrying at the cap: the power no longer fits in a float.
            base = self.maximum
        r = (rng or random).random()
        return base * (1.0 - self.jitter * r)

    def exhausted(self, attempt: int) -> bool:
        """True when attempt number ``attempt`` is past ``max_attempts``."""
        return self.max_attempts is not None and attempt > self.max_attempts

    def retries(self, rng: random.Random | None = None) -> Retries:
        """A fresh count of consecutive failures under this policy (``rng`` for jitter)."""
        return Retries(self, rng)


class Retries:
    """Consecutive failed attempts under one :class:`Backoff`, and the delay before the next.

    :meth:`next_delay` counts a failure and returns how long to wait; :meth:`reset` starts
    over once the connection works again. It neither sleeps nor gives up by itself.
    """

    __slots__ = ("_rng", "attempt", "policy")

    def __init__(self, policy: Backoff, rng: random.Random | None = None) -> None:
        self.policy = policy
        #: Failures so far; the delay just returned was for this attempt.
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """Count one more failure; the seconds to wait before trying again."""
        self.attempt += 1
        return self.policy.delay(self.attempt, self._rng)

    def reset(self) -> None:
        self.attempt = 0
