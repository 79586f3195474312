"""Prediction drift gated by significance of its effect, on a real table: same-distribution
rows whose effect sits at the threshold by chance are not called drifted, a planted shift still
is (issue #23, audit judgement)."""
import numpy as np
import pandas as pd
import pytest

from mlexpert.data import infer_schema
from mlexpert.monitor import build_reference, compare


@pytest.fixture(scope="module")
def scored():
    """Diabetes with the out-of-fold predictions of a ridge regression (real rows, real scores)."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import cross_val_predict

    frame = load_diabetes(as_frame=True, scaled=False).frame
    X = frame.drop(columns="target")[["bmi"]]
    pred = pd.Series(cross_val_predict(Ridge(), frame.drop(columns="target"), frame["target"], cv=5))
    return X, pred, infer_schema(X)


def _check(scored, reference_rows, current_rows, shift: float = 0.0):
    X, pred, schema = scored
    ref = build_reference(schema, schema.prepare(X.iloc[reference_rows]),
                          predictions=pred.iloc[reference_rows].reset_index(drop=True))
    current = pred.iloc[current_rows].reset_index(drop=True) + shift * pred.std()
    return compare(ref, schema.prepare(X.iloc[current_rows]), predictions=current,
                   domain_classifier=False).prediction_drift


@pytest.mark.parametrize("seed", [8, 43])  # random halves whose tests fired by chance before
def test_same_distribution_rows_are_not_called_drifted(scored, seed):
    order = np.random.default_rng(seed).permutation(len(scored[1]))
    out = _check(scored, order[:300], order[300:])
    assert not out["drifted"]
    assert "lower bound" in out["gate"]
    fired = [t for t in out["tests"] if t["p_adjusted"] is not None and t["p_adjusted"] <= 0.05
             and t["effect_size"] >= t["threshold"]]
    assert fired and all(t["effect_low"] <= t["threshold"] for t in fired)


def test_a_planted_shift_is_still_drifted(scored):
    order = np.random.default_rng(8).permutation(len(scored[1]))
    out = _check(scored, order[:300], order[300:], shift=0.8)
    assert out["drifted"]
    assert any(t["drifted"] and t["effect_low"] > t["threshold"] for t in out["tests"])


def test_no_false_alarm_in_null_splits(scored):
    alarms = 0
    for seed in range(30):
        order = np.random.default_rng(100 + seed).permutation(len(scored[1]))
        alarms += _check(scored, order[:300], order[300:])["drifted"]
    assert alarms == 0
