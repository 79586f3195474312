"""The metric registry agrees with scikit-learn; intervals bracket the estimate."""
import numpy as np
import pytest
from sklearn import metrics as skm

from mlexpert.errors import ConfigError
from mlexpert.evaluate import METRICS, bootstrap_interval, default_metric, get_metric

RNG = np.random.default_rng(0)
Y2 = RNG.integers(0, 2, 300)
P2 = np.clip(Y2 * 0.3 + RNG.uniform(0, 0.7, 300), 0, 1)
PROBA2 = np.column_stack([1 - P2, P2])
Y3 = RNG.integers(0, 3, 300)
PROBA3 = RNG.dirichlet([1, 1, 1], 300)
YR = RNG.normal(size=300)
PR = YR + RNG.normal(scale=0.5, size=300)


@pytest.mark.parametrize("name, ours, theirs", [
    ("roc_auc", lambda: METRICS["roc_auc"].score(Y2, PROBA2), lambda: skm.roc_auc_score(Y2, P2)),
    ("log_loss", lambda: METRICS["log_loss"].score(Y3, PROBA3), lambda: skm.log_loss(Y3, PROBA3)),
    ("accuracy", lambda: METRICS["accuracy"].score(Y3, PROBA3),
     lambda: skm.accuracy_score(Y3, PROBA3.argmax(1))),
    ("brier", lambda: METRICS["brier"].score(Y2, PROBA2), lambda: skm.brier_score_loss(Y2, P2)),
    ("rmse", lambda: METRICS["rmse"].score(YR, PR), lambda: skm.root_mean_squared_error(YR, PR)),
    ("r2", lambda: METRICS["r2"].score(YR, PR), lambda: skm.r2_score(YR, PR)),
])
def test_agrees_with_sklearn(name, ours, theirs):
    assert ours() == pytest.approx(theirs(), rel=1e-9)


def test_defaults_and_lookup():
    assert [default_metric(t).name for t in ("binary", "multiclass", "regression")] == [
        "roc_auc", "log_loss", "rmse"]
    assert get_metric("RMSE", "regression").name == "rmse"
    with pytest.raises(ConfigError, match="roc_auc"):
        get_metric("rmse", "binary")


def test_loss_is_lower_is_better():
    auc = METRICS["roc_auc"]
    assert auc.loss(Y2, PROBA2) == -auc.score(Y2, PROBA2)
    assert auc.better(0.9, 0.8) and METRICS["rmse"].better(0.8, 0.9)


@pytest.mark.parametrize("name, y, p", [("roc_auc", Y2, PROBA2), ("rmse", YR, PR)])
def test_interval_brackets_estimate(name, y, p):
    m = METRICS[name]
    lo, hi = bootstrap_interval(m, y, p, n_resamples=300)
    assert lo < m.score(y, p) < hi
    assert hi - lo < 0.3 * abs(m.score(y, p)) + 0.2


@pytest.mark.parametrize("name, ours, theirs", [
    ("pr_auc", lambda: METRICS["pr_auc"].score(Y2, PROBA2),
     lambda: skm.average_precision_score(Y2, P2)),
    ("pr_auc3", lambda: METRICS["pr_auc"].score(Y3, PROBA3),
     lambda: skm.average_precision_score(np.eye(3)[Y3], PROBA3, average="macro")),
    ("f1_weighted", lambda: METRICS["f1_weighted"].score(Y3, PROBA3),
     lambda: skm.f1_score(Y3, PROBA3.argmax(1), average="weighted")),
    ("mcc", lambda: METRICS["mcc"].score(Y3, PROBA3),
     lambda: skm.matthews_corrcoef(Y3, PROBA3.argmax(1))),
    ("median_ae", lambda: METRICS["median_ae"].score(YR, PR),
     lambda: skm.median_absolute_error(YR, PR)),
    ("mape", lambda: METRICS["mape"].score(YR + 10, PR + 10),
     lambda: skm.mean_absolute_percentage_error(YR + 10, PR + 10)),
])
def test_new_metrics_agree_with_sklearn(name, ours, theirs):
    assert ours() == pytest.approx(theirs(), rel=1e-9)


def test_ece_of_perfectly_calibrated_bins_is_zero():
    y = np.array([1] * 7 + [0] * 3 + [1] * 2 + [0] * 8)
    p1 = np.array([0.7] * 10 + [0.2] * 10)
    p = np.column_stack([1 - p1, p1])
    # top-label confidence 0.7 with accuracy 0.7, 0.8 with accuracy 0.8
    assert METRICS["ece"].score(y, p) == pytest.approx(0.0, abs=1e-12)
