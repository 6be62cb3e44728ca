"""Rolling statistics checked against numpy/pandas on known sequences."""

import math
import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickwire.client import AssetUpdate, RollingStats, RollingWindow


def prices(n, seed=7, start=100.0):
    rng = random.Random(seed)
    out, p = [], start
    for _ in range(n):
        p *= math.exp(rng.gauss(0, 0.01))
        out.append(round(p, 4))
    return out


@pytest.mark.parametrize("size", [1, 2, 5, 20, 257])
def test_count_window_matches_pandas_rolling(size):
    xs = prices(3000)
    vs = [float(v) for v in np.random.default_rng(1).integers(0, 1000, len(xs))]
    series, vol = pd.Series(xs), pd.Series(vs)
    expect_mean = series.rolling(size, min_periods=1).mean()
    expect_std = series.rolling(size, min_periods=min(2, size)).std()
    expect_min = series.rolling(size, min_periods=1).min()
    expect_max = series.rolling(size, min_periods=1).max()
    pv = (series * vol).rolling(size, min_periods=1).sum()
    vsum = vol.rolling(size, min_periods=1).sum()
    expect_ewma = series.ewm(span=size, adjust=False).mean()
    win = RollingWindow(size)
    for i, (x, v) in enumerate(zip(xs, vs, strict=True)):
        win.add(x, v, at=float(i))
        assert len(win) == min(i + 1, size)
        assert win.mean == pytest.approx(expect_mean[i], rel=1e-12)
        if i == 0 or size == 1:
            assert win.std is None
        else:
            assert win.std == pytest.approx(expect_std[i], rel=1e-7, abs=1e-9)
        assert win.min == expect_min[i] and win.max == expect_max[i]
        if vsum[i] > 0:
            assert win.vwap == pytest.approx(pv[i] / vsum[i], rel=1e-12)
        else:
            assert win.vwap is None
        assert win.ewma == pytest.approx(expect_ewma[i], rel=1e-12)


def test_time_window_matches_pandas_time_rolling():
    rng = random.Random(3)
    t, times = 0.0, []
    for _ in range(2000):
        t += rng.expovariate(5.0)  # ~5 observations per second, irregular
        times.append(t)
    xs = prices(len(times), seed=11)
    index = pd.to_datetime(times, unit="s")
    series = pd.Series(xs, index=index)
    # pandas' "10s" window is (t-10s, t], the same as RollingWindow(seconds=10).
    roll = series.rolling("10s")
    expect = pd.DataFrame({"mean": roll.mean(), "std": roll.std(), "min": roll.min(),
                           "max": roll.max(), "count": roll.count()})  # fmt: skip
    win = RollingWindow(seconds=10.0)
    for i, (at, x) in enumerate(zip(times, xs, strict=True)):
        win.add(x, at=at)
        row = expect.iloc[i]
        assert len(win) == row["count"]
        assert win.mean == pytest.approx(row["mean"], rel=1e-10)
        assert win.min == row["min"] and win.max == row["max"]
        if len(win) > 1:
            assert win.std == pytest.approx(row["std"], rel=1e-6)


def test_memory_is_bounded_and_sums_do_not_drift():
    win = RollingWindow(50)
    xs = prices(200_000, seed=5, start=1e6)  # large level, small moves: cancellation-prone
    for i, x in enumerate(xs):
        win.add(x, 1.0, at=float(i))
    assert len(win) == 50 and len(win._minq) <= 50 and len(win._maxq) <= 50
    tail = np.array(xs[-50:])
    assert win.mean == pytest.approx(tail.mean(), rel=1e-13)
    assert win.std == pytest.approx(tail.std(ddof=1), rel=1e-6)
    assert win.vwap == pytest.approx(tail.mean(), rel=1e-12)


def test_time_window_caps_memory_and_says_so():
    win = RollingWindow(seconds=60, max_size=100)
    for i in range(1000):
        win.add(1.0 + i, at=i * 0.001)
    assert len(win) == 100 and win.truncated


def test_time_window_expires_without_new_observations():
    win = RollingWindow(seconds=5)
    win.add(1.0, at=100.0)
    win.add(2.0, at=103.0)
    win.expire(now=105.5)
    assert win.values() == [2.0]


def test_stats_snapshot_and_change():
    win = RollingWindow(3, symbol="X")
    for i, x in enumerate([10.0, 11.0, 12.0, 15.0]):
        win.add(x, at=float(i))
    s = win.stats()
    assert (s.symbol, s.count, s.first_at, s.last_at) == ("X", 3, 1.0, 3.0)
    assert s.change == 4.0 and s.change_percent == pytest.approx(4.0 / 11.0 * 100)
    assert s.mean == pytest.approx(np.mean([11, 12, 15]))


@pytest.mark.parametrize(
    "kwargs", [{}, {"size": 0}, {"size": -1}, {"seconds": 0}, {"size": 3, "span": 0.5}]
)
def test_bad_window_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        RollingWindow(**kwargs)


@pytest.mark.parametrize("bad", [(math.nan, 1.0), (math.inf, 1.0), (1.0, -1.0), (1.0, math.nan)])
def test_bad_observations_are_refused_and_change_nothing(bad):
    win = RollingWindow(3)
    win.add(5.0, 1.0, at=0.0)
    with pytest.raises(ValueError):
        win.add(*bad)
    assert win.values() == [5.0] and win.vwap == 5.0


def update(symbol, price, volume, ts="2024-01-15T10:30:00.000Z", seq=1):
    return AssetUpdate("asset_update", {}, ts, None, seq, symbol=symbol, price=price,
                       change=None, change_percent=None, volume=volume, high=None, low=None,
                       previous_close=None, currency=None)  # fmt: skip


def test_rolling_stats_weighs_vwap_by_traded_volume_from_cumulative_volume():
    stats = RollingStats(10)
    stats.update(update("A", 10.0, 1000))  # first: traded volume unknown, weighs 0
    stats.update(update("A", 12.0, 1100))  # 100 traded at 12
    s = stats.update(update("A", 11.0, 1400))  # 300 traded at 11
    assert s.vwap == pytest.approx((12 * 100 + 11 * 300) / 400)
    s = stats.update(update("A", 9.0, 50))  # new day: the new total counts
    assert s.vwap == pytest.approx((12 * 100 + 11 * 300 + 9 * 50) / 450)
    stats.update(update("B", 1.0, 5))
    assert set(stats) == {"A", "B"} and stats["B"].count == 1
    assert stats["A"].stats().last_at == 1705314600.0


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 30),
    st.lists(st.tuples(st.floats(-1e6, 1e6), st.one_of(st.just(0.0), st.floats(1e-3, 1e4))),
             min_size=1, max_size=300),
)  # fmt: skip
def test_any_sequence_matches_a_naive_recomputation(size, observations):
    win = RollingWindow(size)
    for i, (price, volume) in enumerate(observations):
        win.add(price, volume, at=float(i))
        tail = observations[max(0, i + 1 - size) : i + 1]
        ps = [p for p, _ in tail]
        assert win.values() == ps
        assert win.min == min(ps) and win.max == max(ps)
        assert win.mean == pytest.approx(math.fsum(ps) / len(ps), rel=1e-9, abs=1e-6)
        if len(ps) > 1:
            assert win.std == pytest.approx(np.std(ps, ddof=1), rel=1e-6, abs=1e-3)
        vol = math.fsum(v for _, v in tail)
        if vol > 0:
            expect = math.fsum(p * v for p, v in tail) / vol
            assert win.vwap == pytest.approx(expect, rel=1e-9, abs=1e-6)
