"""The one value per row a model's output is summarised by (drift, reproduction checks)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def prediction_values(raw: np.ndarray, task: str, classes: list[Any] | None) -> pd.Series:
    """The model output whose distribution prediction drift compares: the positive class's
    probability (binary), the predicted class (multiclass), the predicted value (regression).
    Rows of ``raw`` that are all NaN (no validation prediction) stay missing."""
    raw = np.asarray(raw, dtype=float)
    if task == "regression":
        return pd.Series(raw.reshape(-1), dtype=float)
    total = raw.sum(axis=1, keepdims=True)
    ok = np.isfinite(raw).all(axis=1) & (total[:, 0] > 0)
    if task == "binary":
        out = np.full(len(raw), np.nan)
        out[ok] = raw[ok, 1] / total[ok, 0]
        return pd.Series(out, dtype=float)
    labels = np.asarray([str(c) for c in classes or range(raw.shape[1])], dtype=object)
    out = np.full(len(raw), np.nan, dtype=object)
    out[ok] = labels[np.nanargmax(np.where(np.isfinite(raw[ok]), raw[ok], -np.inf), axis=1)]
    return pd.Series(out, dtype=object)
