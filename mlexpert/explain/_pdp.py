"""Partial dependence: the mean prediction as one input column is set to each value of a grid,
all other columns kept as they are in the rows given."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

GRID = 20
MAX_ROWS = 1_000
MAX_LEVELS = 12


def partial_dependence(predict: Callable[[pd.DataFrame], np.ndarray], X: pd.DataFrame, column: str,
                       *, numeric: bool, seed: int = 0) -> dict[str, Any]:
    """``{"column", "grid", "mean"}``: ``mean[i]`` is the average prediction (regression) or
    the average class probabilities (classification, one list per class) at ``grid[i]``.
    Numeric columns use 20 quantiles from the 5th to the 95th percentile; others their 12
    most frequent values."""
    rng = np.random.default_rng(seed)
    if len(X) > MAX_ROWS:
        X = X.iloc[np.sort(rng.choice(len(X), MAX_ROWS, replace=False))]
    values = X[column]
    if numeric:
        v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(float)
        grid = list(np.unique(np.quantile(v, np.linspace(0.05, 0.95, GRID)))) if len(v) else []
    else:
        grid = list(values.dropna().value_counts().index[:MAX_LEVELS])
    means = []
    if grid:  # every grid value in one prediction call
        stacked = pd.concat([X] * len(grid), ignore_index=True)
        stacked[column] = pd.Series(np.repeat(np.asarray(grid, dtype=object), len(X)),
                                    dtype=X[column].dtype)
        pred = np.asarray(predict(stacked))
        means = [pred[i * len(X):(i + 1) * len(X)].mean(axis=0).tolist() for i in range(len(grid))]
    return {"column": column, "numeric": numeric,
            "grid": [float(g) if numeric else str(g) for g in grid], "mean": means}
