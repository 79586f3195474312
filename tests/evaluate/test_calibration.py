"""Calibration chosen out of fold, the decision threshold, and the diagnostics, checked against
scikit-learn and brute force on simulated data."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import f1_score

from mlexpert.errors import ConfigError
from mlexpert.evaluate import (
    Calibrator,
    check_cost_matrix,
    choose_calibration,
    choose_threshold,
    diagnostics,
    fit_calibrator,
    objective_values,
    post_fit,
    score_all,
    thresholded,
)


def simulated(n=3000, squash=3.0, seed=0):
    """True probabilities, labels drawn from them, and overconfident predictions."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(scale=1.5, size=n)
    p_true = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < p_true).astype(int)
    p_pred = 1 / (1 + np.exp(-squash * logit))
    return y, np.column_stack([1 - p_pred, p_pred])


def test_overconfident_probabilities_are_recalibrated_and_said():
    y, p = simulated(squash=3.0)
    cal, q, report = choose_calibration(p, y)
    assert cal is not None and report["applied"] in ("isotonic", "sigmoid")
    assert report["log_loss_after"] < 0.95 * report["log_loss_before"]
    assert q.shape == p.shape and np.allclose(q.sum(axis=1), 1)
    post = post_fit("binary", y, p)
    assert post.calibration["method"] == report["applied"]
    assert any(f.check == "calibration" and "lowered" in f.message for f in post.findings)


def test_calibrated_probabilities_are_left_alone():
    y, p = simulated(squash=1.0, seed=1)
    cal, q, report = choose_calibration(p, y)
    assert cal is None and q is p and "no calibrator" in report["reason"]
    post = post_fit("binary", y, p, calibrate=False)
    assert post.calibration is None and not post.findings


def test_isotonic_matches_sklearn_and_round_trips_as_json():
    y, p = simulated(n=500)
    cal = fit_calibrator("isotonic", p, y)
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p[:, 1], y)
    np.testing.assert_allclose(cal.apply(p)[:, 1], iso.predict(p[:, 1]), atol=1e-12)
    again = Calibrator.from_dict(cal.to_dict())
    np.testing.assert_array_equal(again.apply(p), cal.apply(p))


def test_multiclass_calibration_renormalizes():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 900)
    logits = rng.normal(size=(900, 3)) + 2.5 * np.eye(3)[y]
    p = np.exp(3 * logits)
    p /= p.sum(axis=1, keepdims=True)
    cal = fit_calibrator("sigmoid", p, y)
    q = cal.apply(p)
    assert q.shape == (900, 3) and np.allclose(q.sum(axis=1), 1)


def test_threshold_for_f1_is_the_brute_force_best():
    y, p = simulated(n=800, squash=1.0)
    d = choose_threshold(p[:, 1], y, "f1")
    best = f1_score(y, (p[:, 1] > d["threshold"]).astype(int))
    assert d["value"] == pytest.approx(best)
    for t in np.linspace(0.05, 0.95, 37):  # no threshold on a grid does better
        assert f1_score(y, (p[:, 1] > t).astype(int)) <= best + 1e-12
    assert d["value"] >= d["value_at_0.5"]


def test_cost_matrix_moves_the_threshold_towards_the_cheap_mistake():
    y, p = simulated(n=1000, squash=1.0, seed=2)
    fn_costly = choose_threshold(p[:, 1], y, "cost", [[0, 1], [10, 0]])
    fp_costly = choose_threshold(p[:, 1], y, "cost", [[0, 10], [1, 0]])
    assert fn_costly["threshold"] < 0.3 < 0.7 < fp_costly["threshold"]
    cost = -objective_values(p[:, 1], y, np.array([fn_costly["threshold"]]), "cost", [[0, 1], [10, 0]])[0]
    assert fn_costly["value"] == pytest.approx(cost) and cost <= fn_costly["value_at_0.5"]


def test_thresholded_labels_follow_the_rule():
    p1 = np.array([0.1, 0.3, 0.31, 0.9])
    p = np.column_stack([1 - p1, p1])
    assert thresholded(p, 0.3).argmax(axis=1).tolist() == [0, 0, 1, 1]
    assert thresholded(p, None) is p


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.none(), st.text(), st.lists(st.floats(allow_nan=True), max_size=5),
                 st.lists(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1,
                                   max_size=3), max_size=3)))
def test_cost_matrix_validation_never_crashes(value):
    try:
        out = check_cost_matrix(value)
    except ConfigError as exc:
        assert "cost_matrix must be" in str(exc)
    else:
        assert np.asarray(out).shape == (2, 2)


def test_bad_objective_is_a_config_error():
    y, p = simulated(n=50)
    with pytest.raises(ConfigError, match="optimize_threshold must be one of"):
        choose_threshold(p[:, 1], y, "precision")
    with pytest.raises(ConfigError, match="cost_matrix"):
        choose_threshold(p[:, 1], y, "cost")


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_diagnostics_and_score_all_shapes(task):
    rng = np.random.default_rng(0)
    if task == "regression":
        y = rng.normal(size=300)
        pred = y + rng.normal(scale=0.3, size=300)
    else:
        k = 2 if task == "binary" else 3
        y = rng.integers(0, k, 300)
        pred = rng.dirichlet(np.ones(k), 300) + 0.5 * np.eye(k)[y]
        pred /= pred.sum(axis=1, keepdims=True)
    d = diagnostics(task, y, pred, None if task == "regression" else list("abc")[: pred.shape[1]])
    scores = score_all(task, y, pred, n_resamples=200)
    if task == "regression":
        assert len(d["scatter"]["actual"]) == 300 and sum(d["residuals"]["counts"]) == 300
        assert set(scores) >= {"rmse", "mae", "r2", "median_ae"}
    else:
        assert np.asarray(d["confusion"]).sum() == 300 and d["roc"] and d["pr"]
        assert set(scores) >= {"roc_auc", "pr_auc", "log_loss", "mcc", "ece", "f1_weighted"}
    for entry in scores.values():
        assert entry["low"] <= entry["value"] + 1e-9 and entry["value"] <= entry["high"] + 1e-9


def test_sigmoid_matches_unregularized_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    y, p = simulated(n=2000, squash=2.5, seed=3)
    cal = fit_calibrator("sigmoid", p, y)
    z = np.log(p[:, 1] / (1 - p[:, 1]))[:, None]
    lr = LogisticRegression(C=1e10, max_iter=1000, tol=1e-10).fit(z, y)
    assert cal.maps[0]["a"] == pytest.approx(lr.coef_[0, 0], rel=1e-4)
    assert cal.maps[0]["b"] == pytest.approx(lr.intercept_[0], abs=1e-4)


def test_sigmoid_calibration_of_separable_scores_is_silent():
    """Scores that separate the classes perfectly make the sigmoid steep; exp() then
    overflowed with a RuntimeWarning the user saw after fit. The values stay in [0, 1]."""
    import warnings

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p1 = np.where(y == 1, 0.6, 0.4)
    raw = np.column_stack([1 - p1, p1])
    extreme = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cal = fit_calibrator("sigmoid", raw, y)
        out = cal.apply(np.vstack([raw, extreme]))
    assert np.all((out >= 0) & (out <= 1)) and np.allclose(out.sum(axis=1), 1.0)
