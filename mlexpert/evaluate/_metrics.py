"""One registry of metrics. Every metric consumes encoded targets and the model's raw output.

Classification: ``y`` holds class indices 0..K-1 and the prediction is an (n, K) probability
matrix. Regression: ``y`` and the prediction are float vectors.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlexpert.errors import bad_option
from mlexpert.evaluate import _batch

Task = str  # "binary" | "multiclass" | "regression"
CLASSIFICATION = ("binary", "multiclass")


@dataclass(frozen=True)
class Metric:
    """A named score; ``loss`` turns it into lower-is-better for search and ensembling."""

    name: str
    greater_is_better: bool
    tasks: tuple[str, ...]
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray | None], float]
    # vectorized over bootstrap resamples: (W (b, n) row weights, y, pred) -> (b,) scores
    batch: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
    # whether the metric is defined for these targets (MAPE: the target never crosses zero)
    applies: Callable[[np.ndarray], bool] | None = None
    uses_labels: bool = False  # scores hard labels: a binary decision threshold changes it

    def score(self, y: np.ndarray, pred: np.ndarray, weight: np.ndarray | None = None) -> float:
        return float(self.fn(y, pred, weight))

    def loss(self, y: np.ndarray, pred: np.ndarray, weight: np.ndarray | None = None) -> float:
        s = self.score(y, pred, weight)
        return -s if self.greater_is_better else s

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` is strictly better than score ``b``."""
        return a > b if self.greater_is_better else a < b

    def shortfall(self, score: float) -> float:
        """How far ``score`` is from a perfect one: every greater-is-better metric here peaks
        at 1, every lower-is-better one at 0."""
        return 1.0 - score if self.greater_is_better else score


def _labels(p: np.ndarray) -> np.ndarray:
    return p.argmax(axis=1)


def _roc_auc(y, p, w):
    from sklearn.metrics import roc_auc_score

    if p.shape[1] == 2:
        return roc_auc_score(y, p[:, 1], sample_weight=w)
    present = np.unique(y)
    if len(present) < p.shape[1]:  # a class absent from this sample: score the classes present
        q = p[:, present] / np.clip(p[:, present].sum(axis=1, keepdims=True), 1e-15, None)
        y = np.searchsorted(present, y)
        if len(present) == 2:
            return roc_auc_score(y, q[:, 1], sample_weight=w)
        return roc_auc_score(y, q, multi_class="ovr", average="macro", sample_weight=w)
    return roc_auc_score(y, p, multi_class="ovr", average="macro", sample_weight=w)


def _log_loss(y, p, w):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    p = p / p.sum(axis=1, keepdims=True)
    ll = -np.log(p[np.arange(len(y)), y])
    return float(np.average(ll, weights=w))


def _accuracy(y, p, w):
    return float(np.average(_labels(p) == y, weights=w))


def _balanced_accuracy(y, p, w):
    from sklearn.metrics import balanced_accuracy_score

    return balanced_accuracy_score(y, _labels(p), sample_weight=w)


def _f1_macro(y, p, w):
    from sklearn.metrics import f1_score

    return f1_score(y, _labels(p), average="macro", sample_weight=w,
                    labels=np.arange(p.shape[1]), zero_division=0)


def _brier(y, p, w):
    """Mean squared error of the probabilities: of the positive class for binary (the usual
    definition), summed over classes for multiclass."""
    if p.shape[1] == 2:
        return float(np.average((p[:, 1] - y) ** 2, weights=w))
    onehot = np.eye(p.shape[1])[y]
    return float(np.average(((p - onehot) ** 2).sum(axis=1), weights=w))


def _pr_auc(y, p, w):
    """Average precision: of the positive class for binary, macro one-vs-rest for multiclass."""
    from sklearn.metrics import average_precision_score

    if p.shape[1] == 2:
        return average_precision_score(y, p[:, 1], sample_weight=w)
    onehot = np.eye(p.shape[1])[y]
    present = onehot.sum(axis=0) > 0
    return average_precision_score(onehot[:, present], p[:, present], average="macro",
                                   sample_weight=w)


def _f1_weighted(y, p, w):
    from sklearn.metrics import f1_score

    return f1_score(y, _labels(p), average="weighted", sample_weight=w,
                    labels=np.arange(p.shape[1]), zero_division=0)


def _mcc(y, p, w):
    from sklearn.metrics import matthews_corrcoef

    return matthews_corrcoef(y, _labels(p), sample_weight=w)


ECE_BINS = 10


def _ece(y, p, w):
    """Expected calibration error of the top-label confidence: the weighted mean gap between
    confidence and accuracy over 10 equal-width confidence bins."""
    conf = p.max(axis=1)
    gap = (_labels(p) == y) - conf
    bins = np.minimum((conf * ECE_BINS).astype(int), ECE_BINS - 1)
    w = np.ones(len(y)) if w is None else np.asarray(w, float)
    sums = np.bincount(bins, weights=w * gap, minlength=ECE_BINS)
    return float(np.abs(sums).sum() / w.sum())


def _median_ae(y, p, w):
    from sklearn.metrics import median_absolute_error

    return median_absolute_error(y, p, sample_weight=w)


def _mape(y, p, w):
    from sklearn.metrics import mean_absolute_percentage_error

    return mean_absolute_percentage_error(y, p, sample_weight=w)


def _one_sign(y: np.ndarray) -> bool:
    """MAPE is meaningful only when the target never crosses (or touches) zero."""
    y = np.asarray(y, dtype=float)
    return bool(len(y)) and (bool((y > 0).all()) or bool((y < 0).all()))


def _rmse(y, p, w):
    return float(np.sqrt(np.average((y - p) ** 2, weights=w)))


def _mae(y, p, w):
    return float(np.average(np.abs(y - p), weights=w))


def _r2(y, p, w):
    from sklearn.metrics import r2_score

    return r2_score(y, p, sample_weight=w)


METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("roc_auc", True, CLASSIFICATION, _roc_auc, _batch.roc_auc),
    Metric("log_loss", False, CLASSIFICATION, _log_loss, _batch.log_loss),
    Metric("accuracy", True, CLASSIFICATION, _accuracy, _batch.accuracy, uses_labels=True),
    Metric("balanced_accuracy", True, CLASSIFICATION, _balanced_accuracy,
           _batch.balanced_accuracy, uses_labels=True),
    Metric("f1_macro", True, CLASSIFICATION, _f1_macro, _batch.f1_macro, uses_labels=True),
    Metric("brier", False, CLASSIFICATION, _brier, _batch.brier),
    Metric("rmse", False, ("regression",), _rmse, _batch.rmse),
    Metric("mae", False, ("regression",), _mae, _batch.mae),
    Metric("r2", True, ("regression",), _r2, _batch.r2),
    Metric("pr_auc", True, CLASSIFICATION, _pr_auc, _batch.pr_auc),
    Metric("f1_weighted", True, CLASSIFICATION, _f1_weighted, _batch.f1_weighted,
           uses_labels=True),
    Metric("mcc", True, CLASSIFICATION, _mcc, _batch.mcc, uses_labels=True),
    Metric("ece", False, CLASSIFICATION, _ece, _batch.ece),
    Metric("median_ae", False, ("regression",), _median_ae, _batch.median_ae),
    Metric("mape", False, ("regression",), _mape, _batch.mape, applies=_one_sign),
]}

_DEFAULT = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


def default_metric(task: Task) -> Metric:
    """ROC AUC for binary, log loss for multiclass, RMSE for regression."""
    return METRICS[_DEFAULT[task]]


def get_metric(name: str, task: Task) -> Metric:
    """The registered metric ``name``; a ConfigError lists the valid ones for ``task``."""
    valid = [m for m, v in METRICS.items() if task in v.tasks]
    metric = METRICS.get(str(name).lower())
    if metric is None or task not in metric.tasks:
        raise bad_option("metric", name, f"one of {', '.join(valid)} for a {task} task")
    return metric


def metrics_for(task: Task, y: np.ndarray | None = None) -> list[Metric]:
    """Every registered metric that applies to ``task`` (and, given, to targets ``y``: MAPE only
    when they never cross zero), the default first."""
    first = default_metric(task)
    return [first] + [m for m in METRICS.values() if task in m.tasks and m is not first
                      and (y is None or m.applies is None or m.applies(y))]
