"""The streaming core's rolling window carried across a restart. (Its statistics are checked
against numpy and pandas in tests/client/test_stats.py, through the client's re-export.)"""

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.client import stats as client_stats
from tickwire.stream import stats
from tickwire.stream.stats import RollingWindow


def test_the_client_re_exports_the_one_implementation():
    for name in stats.__all__:
        assert getattr(client_stats, name) is getattr(stats, name)


def snapshot(win):
    return (win.values(), win.mean, win.variance, win.min, win.max, win.vwap, win.ewma)


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from([(5, None), (None, 3.0), (40, 10.0), (1, None)]),
    st.lists(st.tuples(st.floats(1e-3, 1e6), st.floats(0, 1e3), st.floats(0, 2)), max_size=200),
    st.data(),
)
def test_a_window_rebuilt_from_its_state_goes_on_bit_for_bit(bounds, rows, data):
    size, seconds = bounds
    k = data.draw(st.integers(0, len(rows)), label="k")
    whole, first = RollingWindow(size, seconds=seconds), RollingWindow(size, seconds=seconds)
    t = 0.0
    timed = []
    for price, volume, gap in rows:
        t += gap
        timed.append((price, volume, t))
    for price, volume, at in timed[:k]:
        whole.add(price, volume, at)
        first.add(price, volume, at)
    state = json.loads(json.dumps(first.export_state()))
    second = RollingWindow.from_state(state, size, seconds=seconds)
    assert snapshot(second) == snapshot(first)
    for price, volume, at in timed[k:]:
        whole.add(price, volume, at)
        second.add(price, volume, at)
        assert snapshot(second) == snapshot(whole)


def test_a_long_run_restarted_keeps_its_recompute_schedule():
    rng = random.Random(4)
    xs = [1e6 + rng.gauss(0, 1) for _ in range(5000)]
    whole, first = RollingWindow(50), RollingWindow(50)
    for i, x in enumerate(xs[:2777]):
        whole.add(x, 1.0, at=float(i))
        first.add(x, 1.0, at=float(i))
    second = RollingWindow.from_state(json.loads(json.dumps(first.export_state())), 50)
    for i, x in enumerate(xs[2777:], 2777):
        whole.add(x, 1.0, at=float(i))
        second.add(x, 1.0, at=float(i))
        assert (second.mean, second.std, second.min) == (whole.mean, whole.std, whole.min)


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"rows": [[0, 1, 0]], "index": 0, "n_removed": 0, "sums": [0] * 8, "ewma": 1,
         "truncated": False},
        {"rows": [[0, "x", 0]], "index": 1, "n_removed": 0, "sums": [0] * 8, "ewma": 1,
         "truncated": False},
        {"rows": [[0, 1, 0]] * 4, "index": 4, "n_removed": 0, "sums": [0] * 8, "ewma": 1,
         "truncated": False},
        {"rows": [], "index": 0, "n_removed": 0, "sums": [0] * 7, "ewma": None,
         "truncated": False},
    ],
)  # fmt: skip
def test_a_state_that_does_not_fit_is_refused(state):
    with pytest.raises(ValueError):
        RollingWindow.from_state(state, 3)
