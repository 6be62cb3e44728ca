"""Alerts: hysteresis and cooldown keep a price hovering at the line from firing a storm."""

import math

import pytest

from tickwire.client import Crossing, Threshold


def run(alert, values, step=1.0):
    """Feed values one second apart; return (index, kind) of each alert."""
    fired = []
    for i, v in enumerate(values):
        event = alert.check(v, at=i * step)
        if event is not None:
            fired.append((i, event.kind))
    return fired


HOVER = [199.0, 200.5, 199.9, 200.2, 199.95, 200.1, 199.8, 200.3, 198.9, 200.4, 201.0]


def test_without_guards_a_hovering_price_fires_on_every_crossing():
    assert run(Threshold(above=200), HOVER) == [(1, "above"), (3, "above"), (5, "above"),
                                                (7, "above"), (9, "above")]  # fmt: skip


def test_hysteresis_rearms_only_after_coming_back_by_the_band():
    # Re-arms only at <= 199.0 (index 8), so fires at 1 and again at 9.
    assert run(Threshold(above=200, hysteresis=1.0), HOVER) == [(1, "above"), (9, "above")]


def test_cooldown_allows_one_alert_per_period_and_fires_late_if_still_beyond():
    # Cooldown 5 s: 1 fires; 3 (re-armed, beyond) waits; at 6 it is below; at 7 (t=7 >= 6)
    # it is beyond again and fires.
    assert run(Threshold(above=200, cooldown=5.0), HOVER) == [(1, "above"), (7, "above")]
    # A crossing during the cooldown fires when the cooldown ends if still beyond.
    values = [201, 199, 201, 201, 201, 201]
    assert run(Threshold(above=200, cooldown=3.0), values) == [(0, "above"), (3, "above")]


def test_threshold_fires_on_the_first_value_when_already_beyond():
    assert run(Threshold(above=200), [250.0]) == [(0, "above")]


def test_band_threshold_fires_each_side():
    values = [100, 111, 112, 105, 89, 95, 111]
    assert run(Threshold(above=110, below=90), values) == [(1, "above"), (4, "below"),
                                                           (6, "above")]  # fmt: skip


def test_crossing_needs_a_real_crossing_not_a_starting_position():
    assert run(Crossing(200, direction="up"), [250, 260, 199, 201]) == [(3, "cross_up")]
    assert run(Crossing(200, direction="down"), [250, 199, 201, 198]) == [
        (1, "cross_down"),
        (3, "cross_down"),
    ]
    assert run(Crossing(200), [190, 210, 190]) == [(1, "cross_up"), (2, "cross_down")]


def test_crossing_with_hysteresis_and_cooldown_on_a_hovering_price():
    fired = run(Crossing(200, direction="up", hysteresis=1.0), HOVER)
    assert fired == [(1, "cross_up"), (9, "cross_up")]
    fired = run(Crossing(200, direction="up", cooldown=100.0), HOVER)
    assert fired == [(1, "cross_up")]


def test_alert_event_describes_itself():
    event = Threshold(above=200, symbol="AAPL").check(200.5, at=0)
    assert event is not None and event.symbol == "AAPL"
    assert event.describe() == "200.5 is above 200"


def test_non_finite_values_are_ignored():
    t = Threshold(above=1)
    assert t.check(math.nan, at=0) is None and t.check(math.inf, at=0) is None
    assert t.check(2, at=0) is not None


@pytest.mark.parametrize(
    "make",
    [
        lambda: Threshold(),
        lambda: Threshold(above=1, below=2),
        lambda: Threshold(above=1, hysteresis=-1),
        lambda: Threshold(above=1, cooldown=math.nan),
        lambda: Threshold(above=math.inf),
        lambda: Crossing(1, direction="sideways"),
        lambda: Crossing(math.nan),
    ],
)
def test_bad_alert_arguments_are_refused(make):
    with pytest.raises(ValueError):
        make()
