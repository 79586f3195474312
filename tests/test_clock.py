"""The shared timers."""
from __future__ import annotations

from mlexpert._clock import median_seconds


def test_a_timing_budget_stops_after_three_calls_once_spent():
    calls = []
    assert median_seconds(lambda: calls.append(1), 5) >= 0
    assert len(calls) == 6  # one warm-up, then every repeat
    calls.clear()

    def slow():
        calls.append(1)
        sum(range(200_000))

    median_seconds(slow, 30, budget=1e-9)
    assert len(calls) == 4  # warm-up and the three calls a median needs
