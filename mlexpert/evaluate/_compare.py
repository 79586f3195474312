"""Comparing two models scored on the same cross-validation folds."""
from __future__ import annotations

import math

import numpy as np


def corrected_t_test(a: list[float] | np.ndarray, b: list[float] | np.ndarray,
                     test_fraction: float) -> float:
    """One-sided p-value that model A's per-fold scores are higher than B's only by chance.

    Paired over the same folds, with Nadeau & Bengio's (2003) variance correction: the training
    sets of K-fold overlap, so the plain paired t-test is far too confident. ``test_fraction``
    is the share of rows each fold validates on (1/K for K-fold). NaN with fewer than 2 folds.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    k = len(d)
    if k < 2 or not np.all(np.isfinite(d)):
        return float("nan")
    mean, var = float(d.mean()), float(d.var(ddof=1))
    if var <= 1e-24:
        return 0.0 if mean > 0 else 1.0
    ratio = test_fraction / max(1e-9, 1 - test_fraction)
    t = mean / math.sqrt((1 / k + ratio) * var)
    from scipy import stats

    return float(stats.t.sf(t, k - 1))
