"""compare_paired: the paired bootstrap of two models on the same rows and its recommendation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlexpert.evaluate import compare_paired, get_metric
from mlexpert.evaluate._paired import KEEP, PROMOTE, WAIT


def _binary(n: int, strength: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.5 + strength * (2 * y - 1) + rng.normal(0, 0.25, n), 0.01, 0.99)
    return y, np.c_[1 - p, p]


@pytest.mark.parametrize("name", ["roc_auc", "log_loss", "accuracy"])
def test_a_clearly_better_challenger_is_promoted_and_a_worse_one_kept(name):
    y, weak = _binary(600, 0.05, 0)
    _, strong = _binary(600, 0.3, 0)  # same labels (same seed), sharper probabilities
    metric = get_metric(name, "binary")
    up = compare_paired(metric, y, weak, strong)
    down = compare_paired(metric, y, strong, weak)
    assert up.decision == PROMOTE and up.challenger_better
    assert down.decision == KEEP and down.challenger_worse
    assert up.difference == pytest.approx(-down.difference)
    assert up.champion == pytest.approx(metric.score(y, weak))


def test_few_rows_wait_and_say_how_many_more():
    y, a = _binary(12, 0.2, 1)
    r = compare_paired(get_metric("log_loss", "binary"), y, a, a * 0.9 + 0.05)
    assert r.decision == WAIT and r.more_rows_needed >= 18 and "12 labelled rows" in r.reason


def test_a_small_difference_asks_for_the_sample_size_that_would_show_it():
    y, a = _binary(200, 0.15, 4)
    nudged = a[:, 1] + 0.005 * (2 * y - 1) + np.random.default_rng(7).normal(0, 0.05, 200)
    p = np.clip(nudged, 0.01, 0.99)
    r = compare_paired(get_metric("log_loss", "binary"), y, a, np.c_[1 - p, p])
    lo, hi = r.difference_interval
    assert lo < 0 < hi and r.decision == WAIT
    assert 200 < r.more_rows_needed <= 100 * 200 and "more labelled rows" in r.reason


def test_identical_models_never_promote_and_regression_works():
    rng = np.random.default_rng(3)
    y = rng.normal(size=300)
    pred = y + rng.normal(0, 0.5, 300)
    r = compare_paired(get_metric("rmse", "regression"), y, pred, pred.copy())
    assert r.difference == 0 and r.decision == KEEP and r.p_value == 1.0
    assert r.to_dict()["difference_interval"] == (0.0, 0.0)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(40, 200))
def test_the_interval_holds_the_difference_and_swapping_mirrors_it(seed, n):
    y, a = _binary(n, 0.15, seed)
    _, b = _binary(n, 0.2, seed + 1)
    metric = get_metric("brier", "binary")
    r, s = compare_paired(metric, y, a, b, n_resamples=300), \
        compare_paired(metric, y, b, a, n_resamples=300)
    lo, hi = r.difference_interval
    assert lo <= hi
    assert r.challenger == pytest.approx(s.champion) and r.champion == pytest.approx(s.challenger)
    assert (r.decision == PROMOTE) == (s.decision == KEEP and s.challenger_worse)
