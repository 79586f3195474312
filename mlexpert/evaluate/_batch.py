"""Metrics vectorized over bootstrap resamples.

Each function takes ``W`` (b, n): one row of per-row weights per resample (resample counts times
the sample weights), the encoded targets ``y`` and the raw prediction, and returns the metric of
every resample at once (b,). Resampling rows is weighting them by their counts, so each function
equals its loop twin in ``_metrics`` called with ``weight=W[i]`` (the tests check this). NaN marks
a resample where the metric is undefined (e.g. one class only for ROC AUC).
"""
from __future__ import annotations

import numpy as np

ECE_BINS = 10


def _mean(W: np.ndarray, v: np.ndarray) -> np.ndarray:
    return _ratio(W @ v.astype(W.dtype), W.sum(axis=1))


def _labels(p: np.ndarray) -> np.ndarray:
    return p.argmax(axis=1)


def _confusion(W: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(b, K, K) weighted confusion matrices, rows true class, columns predicted class."""
    k = p.shape[1]
    cell = y * k + _labels(p)
    onehot = np.zeros((len(y), k * k), dtype=W.dtype)
    onehot[np.arange(len(y)), cell] = 1.0
    return (W @ onehot).astype(np.float64).reshape(-1, k, k)


# -- classification -----------------------------------------------------------------------------
def log_loss(W, y, p):
    q = np.clip(p, 1e-15, 1 - 1e-15)
    q = q / q.sum(axis=1, keepdims=True)
    return _mean(W, -np.log(q[np.arange(len(y)), y]))


def accuracy(W, y, p):
    return _mean(W, (_labels(p) == y).astype(float))


def brier(W, y, p):
    if p.shape[1] == 2:
        return _mean(W, (p[:, 1] - y) ** 2)
    return _mean(W, ((p - np.eye(p.shape[1])[y]) ** 2).sum(axis=1))


def ece(W, y, p):
    conf = p.max(axis=1)
    gap = (_labels(p) == y) - conf
    bins = np.minimum((conf * ECE_BINS).astype(int), ECE_BINS - 1)
    D = np.zeros((len(y), ECE_BINS), dtype=W.dtype)
    D[np.arange(len(y)), bins] = gap
    return _ratio(np.abs(W @ D).sum(axis=1), W.sum(axis=1))


def balanced_accuracy(W, y, p):
    C = _confusion(W, y, p)
    support = C.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.diagonal(C, axis1=1, axis2=2) / support
    return np.nanmean(np.where(support > 0, recall, np.nan), axis=1)


def _f1_per_class(C: np.ndarray) -> np.ndarray:
    tp = np.diagonal(C, axis1=1, axis2=2)
    denom = C.sum(axis=1) + C.sum(axis=2)  # 2tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 2 * tp / denom, 0.0)


def f1_macro(W, y, p):
    return _f1_per_class(_confusion(W, y, p)).mean(axis=1)


def f1_weighted(W, y, p):
    C = _confusion(W, y, p)
    support = C.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (_f1_per_class(C) * support).sum(axis=1) / support.sum(axis=1)
    return np.where(support.sum(axis=1) > 0, out, 0.0)


def mcc(W, y, p):
    """Matthews correlation from the confusion matrix, as scikit-learn (0 when undefined)."""
    C = _confusion(W, y, p)
    t, q = C.sum(axis=2), C.sum(axis=1)
    correct = np.trace(C, axis1=1, axis2=2)
    n = C.sum(axis=(1, 2))
    cov_tp = correct * n - (t * q).sum(axis=1)
    cov_pp = n ** 2 - (q * q).sum(axis=1)
    cov_tt = n ** 2 - (t * t).sum(axis=1)
    denom = cov_tt * cov_pp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, cov_tp / np.sqrt(np.where(denom > 0, denom, 1.0)), 0.0)


def _cumulative(W: np.ndarray, idx: np.ndarray, score: np.ndarray,
                descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``idx`` sorted by score, and their running weight per resample with a leading 0."""
    key = -score[idx] if descending else score[idx]
    sort = np.argsort(key, kind="mergesort")
    cum = np.zeros((len(W), len(idx) + 1), dtype=W.dtype)
    np.cumsum(np.take(W, idx[sort], axis=1), axis=1, out=cum[:, 1:])
    return key[sort], cum


def _ratio(num: np.ndarray, denom: np.ndarray) -> np.ndarray:
    num, denom = num.astype(np.float64), denom.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, num / np.where(denom > 0, denom, 1.0), np.nan)


def _binary_auc(W: np.ndarray, pos: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney statistic: P(score_pos > score_neg) + half the ties. Only the
    negatives are sorted and accumulated; each positive looks up the weight of the negatives
    below and tied with it (fewer passes over the (b, n) matrix than a full sort)."""
    pos_idx = np.flatnonzero(pos)
    s_neg, cum = _cumulative(W, np.flatnonzero(~pos), score, descending=False)
    s_pos = score[pos_idx]
    left = np.searchsorted(s_neg, s_pos, side="left")
    right = np.searchsorted(s_neg, s_pos, side="right")
    below = np.take(cum, left, axis=1)
    if not np.array_equal(left, right):  # some positives tie a negative: they count half
        below = below + 0.5 * (np.take(cum, right, axis=1) - below)
    Wp = np.take(W, pos_idx, axis=1)
    return _ratio(np.einsum("ij,ij->i", Wp, below), Wp.sum(axis=1) * cum[:, -1])


def _binary_ap(W: np.ndarray, pos: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Average precision: the precision at each positive's score (all rows scoring at least as
    high), weighted by the positive's weight, over the positives' total weight."""
    s_pos, cum_pos = _cumulative(W, np.flatnonzero(pos), score, descending=True)
    s_neg, cum_neg = _cumulative(W, np.flatnonzero(~pos), score, descending=True)
    k = np.searchsorted(s_pos, s_pos, side="right")
    tp = cum_pos[:, 1:] if np.array_equal(k, np.arange(1, len(k) + 1)) else np.take(cum_pos, k, axis=1)
    fp = np.take(cum_neg, np.searchsorted(s_neg, s_pos, side="right"), axis=1)
    Wp = np.diff(cum_pos, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
    return _ratio(np.einsum("ij,ij->i", Wp, precision), cum_pos[:, -1])


def _one_vs_rest(fn, W, y, p):
    if p.shape[1] == 2:
        return fn(W, y == 1, p[:, 1])
    return np.nanmean(np.column_stack([fn(W, y == k, p[:, k]) for k in range(p.shape[1])]),
                      axis=1)


def roc_auc(W, y, p):
    return _one_vs_rest(_binary_auc, W, y, p)


def pr_auc(W, y, p):
    return _one_vs_rest(_binary_ap, W, y, p)


# -- regression ---------------------------------------------------------------------------------
def rmse(W, y, p):
    return np.sqrt(_mean(W, (y - p) ** 2))


def mae(W, y, p):
    return _mean(W, np.abs(y - p))


def mape(W, y, p):
    eps = np.finfo(np.float64).eps
    return _mean(W, np.abs(y - p) / np.maximum(np.abs(y), eps))


def r2(W, y, p):
    c = y - np.average(y)  # centred: sums of squares without cancellation
    total = W.sum(axis=1).astype(np.float64)
    S = (W @ np.column_stack([c, c * c, (y - p) ** 2]).astype(W.dtype)).astype(np.float64)
    ss_tot = S[:, 1] - S[:, 0] ** 2 / total
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ss_tot > 1e-12 * np.maximum(S[:, 1], 1e-300), 1 - S[:, 2] / ss_tot, np.nan)


def median_ae(W, y, p):
    """Weighted median of |y - p| as scikit-learn's: for whole-number weights (plain resamples)
    the mean of the two middle values of the resample, else the lower weighted median."""
    err = np.abs(y - p)
    order = np.argsort(err, kind="mergesort")
    e = err[order]
    cum = np.cumsum(np.take(W, order, axis=1), axis=1)
    total = cum[:, -1:]
    if np.array_equal(W, np.round(W)):
        lo = (cum >= np.floor((total + 1) / 2)).argmax(axis=1)
        hi = (cum >= np.floor(total / 2) + 1).argmax(axis=1)
        return (e[lo] + e[hi]) / 2
    return e[(cum >= 0.5 * total).argmax(axis=1)]
