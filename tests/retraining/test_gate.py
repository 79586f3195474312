"""The promotion gate's guardrails and verdict, from numbers alone."""
from __future__ import annotations

import numpy as np
import pytest

from mlexpert.evaluate import compare_paired, get_metric
from mlexpert.retraining import judge
from mlexpert.retraining._gate import (
    calibration_guard,
    gap_guard,
    latency_guard,
    schema_guard,
)


def _comparison(better: bool):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    sharp = np.clip(0.5 + 0.3 * (2 * y - 1) + rng.normal(0, .2, 500), .01, .99)
    dull = np.clip(0.5 + 0.05 * (2 * y - 1) + rng.normal(0, .2, 500), .01, .99)
    a, b = np.c_[1 - dull, dull], np.c_[1 - sharp, sharp]
    return compare_paired(get_metric("roc_auc", "binary"), y, *((a, b) if better else (b, a)))


def test_latency_guard_allows_the_larger_of_a_ratio_and_a_slack():
    assert latency_guard(0.2, 1.1).passed            # +1 ms allowed on a fast model
    assert not latency_guard(0.2, 1.3).passed
    assert latency_guard(10.0, 14.9).passed          # 1.5x on a slow one
    assert not latency_guard(10.0, 15.1).passed
    assert latency_guard(None, 3.0).passed and "not compared" in latency_guard(None, 3.0).note


def test_calibration_schema_and_gap_guards():
    assert calibration_guard(0.03, 0.049).passed and not calibration_guard(0.03, 0.06).passed
    assert schema_guard(["a", "b"], ["a"]).passed
    bad = schema_guard(["a"], ["a", "z"])
    assert not bad.passed and "'z'" in bad.note
    assert gap_guard("demographic_parity_difference", 0.1, 0.14, "sex").passed
    assert not gap_guard("demographic_parity_difference", 0.1, 0.2, "sex").passed
    assert gap_guard("demographic_parity_difference", None, 0.2, "sex").passed


def test_the_verdict_needs_a_better_metric_and_every_guardrail():
    better, worse = _comparison(True), _comparison(False)
    ok = [latency_guard(1.0, 1.2), calibration_guard(0.02, 0.03)]
    assert judge(better, ok).promote
    assert "Every guardrail passed" in judge(better, ok).reason
    slow = judge(better, [*ok, latency_guard(1.0, 5.0)])
    assert not slow.promote and "worse on" in slow.reason and "ms per row" in slow.reason
    v = judge(worse, ok)
    assert not v.promote and "significantly worse" in v.reason
    assert v.to_dict()["comparison"]["decision"] == "keep"
    assert [g["name"] for g in v.to_dict()["guardrails"]] == ["latency_ms_per_row", "ece"]


@pytest.mark.parametrize("champion_ms", [0.05, 2.0, 40.0])
def test_latency_limit_is_monotone(champion_ms):
    g = latency_guard(champion_ms, champion_ms)
    assert g.passed and g.limit >= champion_ms
