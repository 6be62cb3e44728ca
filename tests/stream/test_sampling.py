"""The sampled latency histogram: one event in N timed, durations counted into buckets."""

import pytest

from tickwire.stream.sampling import SampledLatency


def test_one_event_in_every_n_is_due_starting_with_the_first():
    sampler = SampledLatency(every=4)
    due = [sampler.due() for _ in range(12)]
    assert due == [True, False, False, False] * 3


def test_durations_land_in_the_first_bucket_whose_bound_holds_them():
    sampler = SampledLatency(buckets=(0.001, 0.01))
    for seconds in (0.0005, 0.001, 0.002, 0.5):
        sampler.observe(seconds)
    buckets, total, count = sampler.snapshot()
    # Cumulative, as Prometheus reads them: le=0.001 holds 0.0005 and 0.001 itself.
    assert buckets == [(0.001, 2), (0.01, 3), (float("inf"), 4)]
    assert total == pytest.approx(0.5035)
    assert count == 4


def test_a_sampler_needs_at_least_one_event_per_sample():
    with pytest.raises(ValueError):
        SampledLatency(every=0)
