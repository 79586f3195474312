"""The binary decision threshold: chosen on out-of-fold probabilities for a user objective (a
label metric such as F1, or a cost matrix), then used for every predicted label.

A row is predicted positive (the second class, as in ``predict_proba``'s columns) when its
probability is *above* the threshold; at 0.5 this is the usual argmax rule.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlexpert.errors import bad_option

OBJECTIVES = ("f1", "balanced_accuracy", "mcc", "accuracy", "cost")
MAX_CANDIDATES = 512


def check_cost_matrix(costs: Any) -> list[list[float]]:
    """A 2x2 cost matrix [[true neg, false pos], [false neg, true pos]] of finite numbers."""
    try:
        m = np.asarray(costs, dtype=float)
    except (TypeError, ValueError):
        m = None
    if m is None or m.shape != (2, 2) or not np.isfinite(m).all():
        raise bad_option("cost_matrix", costs, "2x2 finite numbers [[TN, FP], [FN, TP]] (costs "
                         "per row: rows are the true class, columns the predicted one)")
    if m[0, 1] <= m[0, 0] and m[1, 0] <= m[1, 1]:
        raise bad_option("cost_matrix", costs, "a matrix where some mistake costs more than the "
                         "right answer (FP > TN or FN > TP)")
    return m.tolist()


def _rates(p1: np.ndarray, y: np.ndarray, w: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, ...]:
    """Weighted TP, FP, FN, TN when predicting positive above each threshold."""
    order = np.argsort(p1)
    s, yy, ww = p1[order], y[order], w[order]
    cum_pos = np.r_[0.0, np.cumsum(ww * (yy == 1))]
    cum_neg = np.r_[0.0, np.cumsum(ww * (yy == 0))]
    k = np.searchsorted(s, thresholds, side="right")  # rows at or below: predicted negative
    fn, tn = cum_pos[k], cum_neg[k]
    tp, fp = cum_pos[-1] - fn, cum_neg[-1] - tn
    return tp, fp, fn, tn


def objective_values(p1: np.ndarray, y: np.ndarray, thresholds: np.ndarray, objective: str,
                     costs: Sequence[Sequence[float]] | None = None,
                     weight: np.ndarray | None = None) -> np.ndarray:
    """The objective at each threshold; higher is better (cost is returned negated)."""
    w = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=float)
    tp, fp, fn, tn = _rates(np.asarray(p1, float), np.asarray(y), w, np.asarray(thresholds, float))
    total = tp + fp + fn + tn
    with np.errstate(invalid="ignore", divide="ignore"):
        if objective == "f1":
            return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        if objective == "accuracy":
            return (tp + tn) / total
        if objective == "balanced_accuracy":
            return 0.5 * (tp / (tp + fn) + tn / (tn + fp))
        if objective == "mcc":
            denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
            return np.where(denom > 0, (tp * tn - fp * fn) / np.where(denom > 0, denom, 1), 0.0)
    c = np.asarray(costs, dtype=float)
    return -(c[0, 0] * tn + c[0, 1] * fp + c[1, 0] * fn + c[1, 1] * tp) / total


def choose_threshold(p1: np.ndarray, y: np.ndarray, objective: str,
                     costs: Sequence[Sequence[float]] | None = None,
                     weight: np.ndarray | None = None) -> dict[str, Any]:
    """The threshold that maximises ``objective`` (or minimises the expected cost) on these
    probabilities, with the objective there and at the default 0.5."""
    if objective not in OBJECTIVES:
        raise bad_option("optimize_threshold", objective, f"one of {', '.join(OBJECTIVES)}")
    if objective == "cost" and costs is None:
        raise bad_option("cost_matrix", None, "given when the threshold minimises cost")
    p1 = np.asarray(p1, dtype=float)
    qs = np.unique(np.quantile(p1, np.linspace(0, 1, MAX_CANDIDATES)))
    # midpoints between distinct probabilities generalize better than the observed values
    candidates = np.unique(np.r_[0.5, (qs[1:] + qs[:-1]) / 2, qs[0] - 1e-9])
    candidates = candidates[(candidates > 0) & (candidates < 1)]
    values = objective_values(p1, y, candidates, objective, costs, weight)
    best = int(np.nanargmax(values))
    default = float(objective_values(p1, y, np.array([0.5]), objective, costs, weight)[0])
    sign = -1.0 if objective == "cost" else 1.0
    return {"threshold": float(candidates[best]), "objective": objective,
            "value": sign * float(values[best]), "value_at_0.5": sign * default,
            "cost_matrix": None if costs is None else [list(map(float, r)) for r in costs]}


def thresholded(p: np.ndarray, threshold: float | None) -> np.ndarray:
    """Probabilities shifted so that argmax gives the thresholded label (for label metrics);
    unchanged when there is no threshold or more than two classes."""
    if threshold is None or p.shape[1] != 2:
        return p
    s = np.clip(p[:, 1] - threshold + 0.5, 0.0, 1.0)
    return np.column_stack([1 - s, s])
