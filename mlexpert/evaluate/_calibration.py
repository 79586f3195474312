"""Post-hoc probability calibration, chosen out of fold, and the reliability curve.

Isotonic and sigmoid (Platt) calibrators are fitted one-vs-rest on out-of-fold probabilities;
each is scored by cross-fitting (fitted on four fifths of the rows, applied to the fifth) and the
better one is kept only when it lowers log loss on those held-out predictions. A calibrator is
plain numbers (JSON in the bundle manifest), never a pickled object.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlexpert._clock import Deadline
from mlexpert.evaluate._metrics import METRICS

METHODS = ("isotonic", "sigmoid")
MIN_GAIN = 1e-3  # relative log-loss gain a calibrator must bring to be applied
CALIBRATION_FOLDS = 5
CHOICE_ROWS = 20_000  # rows the method choice is cross-fitted on (a stratified sample beyond)
SECONDS_PER_CELL = 1e-5  # per row and class: rough cost of calibrating out of fold (about 3x the
# 3e-6 s measured on a busy 2-core machine); skipped when the budget lacks it


@dataclass
class Calibrator:
    """One monotone map per calibrated column: isotonic knots (x, y) or sigmoid (a, b) on the
    logit. Binary models calibrate the positive column; multiclass ones every column, then
    renormalize."""

    method: str
    maps: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        if p.shape[1] == 2:
            q = _apply_one(self.method, self.maps[0], p[:, 1])
            return np.column_stack([1 - q, q])
        q = np.column_stack([_apply_one(self.method, m, p[:, k]) for k, m in enumerate(self.maps)])
        q = np.clip(q, 1e-12, None)
        return q / q.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "maps": self.maps}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        return cls(d["method"], list(d["maps"]))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x); e^-x overflows to inf for x below about -709, which gives exactly 0."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def _apply_one(method: str, m: dict[str, Any], p: np.ndarray) -> np.ndarray:
    if method == "isotonic":
        return np.interp(p, m["x"], m["y"])
    return _sigmoid(m["a"] * _logit(p) + m["b"])


def _fit_one(method: str, p: np.ndarray, target: np.ndarray, w: np.ndarray | None) -> dict[str, Any]:
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(p, target, sample_weight=w)
        return {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
    if target.min() == target.max():  # one class in this slice: a constant map
        return {"a": 0.0, "b": float(_logit(np.array([target.mean()]))[0])}
    a, b = _platt(_logit(p), target, w)
    return {"a": a, "b": b}


def _platt(z: np.ndarray, t: np.ndarray, w: np.ndarray | None, iterations: int = 50) -> tuple[float, float]:
    """Logistic regression of ``t`` on ``z`` (slope, intercept) by Newton's method: two
    parameters, so each step is a 2x2 solve (LogisticRegression was ~30x slower here)."""
    w = np.ones(len(z)) if w is None else np.asarray(w, dtype=float)
    X = np.column_stack([z, np.ones(len(z))])

    def nll(beta: np.ndarray) -> float:
        m = X @ beta
        return float(np.sum(w * (np.logaddexp(0, m) - t * m)))

    beta = np.array([1.0, 0.0])
    current = nll(beta)
    for _ in range(iterations):
        q = _sigmoid(X @ beta)
        grad = X.T @ (w * (t - q))
        hess = (X * (w * q * (1 - q))[:, None]).T @ X + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        size = 1.0
        while size > 1e-6 and nll(beta + size * step) > current:  # backtrack: no overshoot
            size /= 2
        beta = beta + size * step
        new = nll(beta)
        if abs(current - new) < 1e-12 * max(1.0, abs(current)):
            break
        current = new
    return float(beta[0]), float(beta[1])


def fit_calibrator(method: str, p: np.ndarray, y: np.ndarray,
                   weight: np.ndarray | None = None) -> Calibrator:
    """A ``method`` calibrator fitted on probabilities ``p`` (n, K) and class indices ``y``."""
    columns = [1] if p.shape[1] == 2 else range(p.shape[1])
    return Calibrator(method, [_fit_one(method, p[:, k], (y == k).astype(float), weight)
                               for k in columns])


def _cross_fitted(method: str, p: np.ndarray, y: np.ndarray, w: np.ndarray | None,
                  seed: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold

    out = np.empty_like(p)
    n_splits = min(CALIBRATION_FOLDS, int(np.bincount(y).min()))
    for tr, va in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(p, y):
        cal = fit_calibrator(method, p[tr], y[tr], None if w is None else w[tr])
        out[va] = cal.apply(p[va])
    return out


def choose_calibration(p: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, *,
                       seed: int = 0, deadline: Deadline | None = None
                       ) -> tuple[Calibrator | None, np.ndarray, dict[str, Any]]:
    """(calibrator or None, the out-of-fold probabilities to report, what was tried).

    Each method's log loss is measured on cross-fitted predictions; the best is applied (and
    refitted on all rows) only when it lowers log loss by at least ``MIN_GAIN`` relative. The
    returned probabilities are the cross-fitted calibrated ones when applied, so the metrics
    reported for the calibrated model stay out of fold. The choice is made on at most 20,000
    rows; it is skipped (and said) when ``deadline`` leaves too little time.
    """
    log_loss = METRICS["log_loss"]
    before = log_loss.score(y, p, weight)
    report: dict[str, Any] = {"log_loss_before": before, "tried": {}, "applied": None}
    counts = np.bincount(y, minlength=p.shape[1])
    if (counts[counts > 0] < 2).any() or (counts > 0).sum() < 2:
        report["reason"] = "too few rows per class to calibrate out of fold"
        return None, p, report
    if deadline is not None and deadline.remaining() < SECONDS_PER_CELL * p.size:
        report["reason"] = "the time limit left no time to calibrate out of fold"
        return None, p, report
    rows = np.arange(len(y))
    if len(y) > CHOICE_ROWS:
        from sklearn.model_selection import train_test_split

        rows = np.sort(train_test_split(rows, train_size=CHOICE_ROWS, stratify=y,
                                        random_state=seed)[0])
    w_rows = None if weight is None else weight[rows]
    before_rows = log_loss.score(y[rows], p[rows], w_rows)
    best_method, best_loss = None, before_rows
    for method in METHODS:
        loss = log_loss.score(y[rows], _cross_fitted(method, p[rows], y[rows], w_rows, seed), w_rows)
        report["tried"][method] = loss
        if loss < best_loss:
            best_method, best_loss = method, loss
    if best_method is None or best_loss > before_rows * (1 - MIN_GAIN):
        report["reason"] = "no calibrator lowered the out-of-fold log loss"
        return None, p, report
    method = best_method
    q = _cross_fitted(method, p, y, weight, seed) if len(rows) < len(y) else \
        _cross_fitted(method, p[rows], y[rows], w_rows, seed)
    loss = log_loss.score(y, q, weight)
    report.update(applied=method, log_loss_after=loss)
    return fit_calibrator(method, p, y, weight), q, report


def reliability_curve(p: np.ndarray, y: np.ndarray, n_bins: int = 10) -> dict[str, list[float]]:
    """Mean predicted probability vs observed frequency in equal-width bins: of the positive
    class for binary, of the top label (confidence vs accuracy) for multiclass."""
    if p.shape[1] == 2:
        conf, hit = p[:, 1], (y == 1).astype(float)
    else:
        conf, hit = p.max(axis=1), (p.argmax(axis=1) == y).astype(float)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    keep = count > 0
    mean_p = np.bincount(bins, conf, n_bins)[keep] / count[keep]
    freq = np.bincount(bins, hit, n_bins)[keep] / count[keep]
    return {"predicted": mean_p.tolist(), "observed": freq.tolist(), "count": count[keep].tolist(),
            "kind": "positive class" if p.shape[1] == 2 else "top label"}
