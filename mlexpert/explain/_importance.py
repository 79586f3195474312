"""Permutation importance: how much the metric worsens when one input column's values are
shuffled, on labelled held-out rows, with a 95 % t-interval over the repeats."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._clock import Deadline
from mlexpert.evaluate import Metric

MAX_ROWS = 5_000  # rows used (a random sample beyond): the ranking is stable well before


def permutation_importance(predict: Callable[[pd.DataFrame], np.ndarray], X: pd.DataFrame,
                           y: np.ndarray, metric: Metric, *, n_repeats: int = 5, seed: int = 0,
                           deadline: Deadline | None = None) -> list[dict[str, Any]]:
    """One entry per column, most important first: the mean loss increase over ``n_repeats``
    shuffles (in the metric's units; positive = the column helps) with a 95 % interval.
    ``predict`` maps prepared rows to the raw prediction. Columns not reached before
    ``deadline`` are left out."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    if len(X) > MAX_ROWS:
        keep = np.sort(rng.choice(len(X), MAX_ROWS, replace=False))
        X, y = X.iloc[keep], y[keep]
    X = X.reset_index(drop=True)
    base = metric.loss(y, predict(X))
    out = []
    for col in X.columns:
        if deadline is not None and deadline.expired():
            break
        # all repeats of a column in one prediction call: per-call overhead dominates
        stacked = pd.concat([X] * n_repeats, ignore_index=True)
        stacked[col] = np.concatenate([X[col].to_numpy()[rng.permutation(len(X))]
                                       for _ in range(n_repeats)])
        pred = predict(stacked)
        drops = []
        for r in range(n_repeats):
            try:
                drops.append(metric.loss(y, pred[r * len(X):(r + 1) * len(X)]) - base)
            except ValueError:
                continue
        if not drops:
            continue
        d = np.asarray(drops)
        half = float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))) \
            if len(d) > 1 else float("nan")
        out.append({"column": str(col), "importance": float(d.mean()),
                    "low": float(d.mean() - half), "high": float(d.mean() + half),
                    "repeats": len(d)})
    out.sort(key=lambda r: -r["importance"])
    return out
