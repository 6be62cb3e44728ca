"""The one reconnect policy the client, the feed sources and the Redis broker share."""

import random

import pytest

from tickwire.client import Backoff as ClientBackoff
from tickwire.stream.backoff import Backoff, Retries


def test_delays_grow_by_the_factor_from_initial_up_to_the_cap():
    b = Backoff(initial=0.5, maximum=4.0, factor=2.0, jitter=0.0)
    assert [b.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert Backoff(initial=1.0, maximum=100.0, factor=3.0, jitter=0.0).delay(3) == 9.0


def test_attempt_zero_or_below_waits_the_initial_delay():
    b = Backoff(initial=0.5, maximum=4.0, jitter=0.0)
    assert b.delay(0) == b.delay(-3) == 0.5


def test_hours_of_retries_stay_at_the_cap_instead_of_overflowing():
    assert Backoff(initial=0.5, maximum=30.0, jitter=0.0).delay(5000) == 30.0
    assert Backoff(initial=0.5, maximum=30.0, factor=2, jitter=0.0).delay(5000) == 30.0


@pytest.mark.parametrize(("jitter", "low"), [(0.5, 0.5), (1.0, 0.0), (0.2, 0.8)])
def test_jitter_spreads_delays_over_its_share_of_the_base(jitter, low):
    b = Backoff(initial=1.0, maximum=8.0, jitter=jitter)
    rng = random.Random(7)
    for attempt, base in [(1, 1.0), (3, 4.0), (10, 8.0)]:
        delays = [b.delay(attempt, rng) for _ in range(500)]
        assert all(base * low <= d <= base for d in delays)
        # Spread over (nearly) the whole allowed range, not bunched at one end.
        assert min(delays) < base * (low + 0.1 * jitter)
        assert max(delays) > base * (1 - 0.1 * jitter)


def test_full_jitter_never_returns_a_zero_delay():
    b = Backoff(initial=0.1, maximum=1.0, jitter=1.0)
    rng = random.Random(3)
    assert all(b.delay(1, rng) > 0 for _ in range(2000))


def test_a_seeded_rng_gives_the_same_delays():
    b = Backoff(initial=0.5, maximum=30.0)
    one, two = random.Random(42), random.Random(42)
    assert [b.delay(n, one) for n in range(1, 9)] == [b.delay(n, two) for n in range(1, 9)]


def test_retries_count_failures_and_start_over_on_reset():
    retries = Backoff(initial=0.5, maximum=2.0, jitter=0.0).retries()
    assert isinstance(retries, Retries) and retries.attempt == 0
    assert [retries.next_delay() for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]
    assert retries.attempt == 4
    retries.reset()
    assert retries.attempt == 0 and retries.next_delay() == 0.5


def test_retries_draw_jitter_from_their_own_rng():
    policy = Backoff(initial=1.0, maximum=8.0, jitter=0.5)
    a, b = policy.retries(random.Random(5)), policy.retries(random.Random(5))
    delays = [a.next_delay() for _ in range(6)]
    assert delays == [b.next_delay() for _ in range(6)]
    assert all(0.5 * base <= d <= base for d, base in zip(delays, [1, 2, 4, 8, 8, 8], strict=True))


def test_attempt_limit():
    assert not Backoff(max_attempts=None).exhausted(10**6)
    b = Backoff(max_attempts=2)
    assert not b.exhausted(2) and b.exhausted(3)


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 0}, {"initial": -1}, {"initial": 5, "maximum": 1}, {"factor": 0.5},
     {"jitter": -0.1}, {"jitter": 1.5}, {"max_attempts": -1}],
)  # fmt: skip
def test_a_policy_that_makes_no_sense_is_refused(kwargs):
    with pytest.raises(ValueError, match="Backoff"):
        Backoff(**kwargs)


def test_the_client_library_exposes_the_same_policy():
    assert ClientBackoff is Backoff
    assert ClientBackoff(initial=0.1, maximum=0.5) == Backoff(0.1, 0.5)
