"""Percentile bootstrap confidence intervals for any registered metric."""
from __future__ import annotations

import numpy as np

from mlexpert._clock import Deadline
from mlexpert.evaluate._metrics import Metric

MIN_RESAMPLES = 50


def bootstrap_interval(metric: Metric, y: np.ndarray, pred: np.ndarray,
                       weight: np.ndarray | None = None, *, n_resamples: int = 200,
                       level: float = 0.95, seed: int = 0,
                       deadline: Deadline | None = None) -> tuple[float, float]:
    """(low, high) percentile interval of ``metric`` over row resamples.

    NaN when undefined: too many resamples where the metric is (e.g. one class for ROC AUC), or
    fewer than 50 resamples done before ``deadline``.
    """
    rng = np.random.default_rng(seed)
    n = len(y)
    scores: list[float] = []
    for _ in range(n_resamples):
        if deadline is not None and deadline.expired():
            if len(scores) < MIN_RESAMPLES:
                return float("nan"), float("nan")
            break
        idx = rng.integers(0, n, n)
        try:
            scores.append(metric.score(y[idx], pred[idx], None if weight is None else weight[idx]))
        except ValueError:  # e.g. a resample with one class for ROC AUC
            continue
    if len(scores) < MIN_RESAMPLES:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    lo, hi = np.quantile(scores, [alpha, 1 - alpha])
    return float(lo), float(hi)
