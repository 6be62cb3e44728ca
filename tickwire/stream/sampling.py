"""A latency histogram fed by one observation in N: cheap enough to sit beside the hot path.

The node times one publication in every ``every`` (from its arrival to the moment its
frame has been handed to every local subscriber's socket) and counts it into fixed
buckets. Nothing here knows about Prometheus: the edge turns :meth:`snapshot` into a
histogram at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left

__all__ = ["BUCKETS", "SampledLatency"]

#: Upper bounds in seconds (Prometheus' ``le``); a final +Inf bucket is implied.
BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)


class SampledLatency:
    """Counts of sampled durations per bucket, their sum and how many were sampled.

    ``every`` says how many events make one sample: :meth:`due` is True once per
    ``every`` calls (the first call included), so a caller pays one integer decrement
    per event and a clock read only on the sampled ones.
    """

    __slots__ = ("_countdown", "buckets", "count", "counts", "every", "sum")

    def __init__(self, every: int = 32, buckets: tuple[float, ...] = BUCKETS) -> None:
        if every < 1:
            raise ValueError("every must be at least 1")
        self.every = every
        self.buckets = buckets
        #: One count per bucket, and one more for durations above the last bound.
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0
        self._countdown = 1

    def due(self) -> bool:
        """True when this event should be timed (one in ``every``)."""
        self._countdown -= 1
        if self._countdown:
            return False
        self._countdown = self.every
        return True

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.buckets, seconds)] += 1
        self.sum += seconds
        self.count += 1

    def snapshot(self) -> tuple[list[tuple[float, int]], float, int]:
        """(cumulative count per upper bound — the last bound is ``inf`` —, sum, count)."""
        out: list[tuple[float, int]] = []
        total = 0
        for bound, n in zip((*self.buckets, float("inf")), self.counts, strict=True):
            total += n
            out.append((bound, total))
        return out, self.sum, self.count
