"""Group checks: metrics per value of a sensitive column with intervals, and the gaps a fairness
review asks for (demographic parity and equal opportunity differences, binary tasks).

A small group (under ``SMALL_GROUP_ROWS`` rows, or under ``SMALL_CLASS_ROWS`` of either class in
a binary task) is scored but marked: a bootstrap of 5 rows gives AUC 1.000 [1.000, 1.000], so
its intervals are left undefined (NaN) with a warning, and the gaps are taken between the
groups large enough to compare."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlexpert.errors import missing_column
from mlexpert.evaluate import score_all, thresholded

MIN_GROUP_ROWS = 5
MAX_GROUPS = 20
SMALL_GROUP_ROWS = 30  # fewer rows: no interval (a bootstrap of a few rows is falsely narrow)
SMALL_CLASS_ROWS = 5  # binary: fewer rows of either class in the group: the same


def group_checks(model: Any, frame: pd.DataFrame, y: np.ndarray, raw: np.ndarray, column: str,
                 *, n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Per group of ``frame[column]`` (rows aligned with ``y`` and ``raw``): rows, every metric
    with a 95 % interval, the positive-prediction rate and true-positive rate (binary) or mean
    prediction (regression); and the largest gaps between groups."""
    if column not in frame.columns:
        raise missing_column(column, "sensitive", frame.columns)
    values = frame[column].astype("string").fillna("(missing)").to_numpy()
    counts = pd.Series(values).value_counts()
    groups, small = list(counts.index[:MAX_GROUPS]), []
    threshold = getattr(model, "threshold", None)
    rows = []
    for g in groups:
        m = values == g
        if m.sum() < MIN_GROUP_ROWS:
            small.append(str(g))
            continue
        entry: dict[str, Any] = {"group": str(g), "rows": int(m.sum()),
                                 "metrics": score_all(model.task, y[m], raw[m],
                                                      threshold=threshold,
                                                      n_resamples=n_resamples, seed=seed)}
        reason = _small(model.task, y[m])
        entry["small_sample"] = reason is not None
        if reason is not None:
            for e in entry["metrics"].values():  # undefined, not a falsely narrow interval
                e.update(low=float("nan"), high=float("nan"))
            entry["warning"] = (f"group {str(g)!r}: {reason}; its metrics are point values "
                                "without an interval and it is left out of the gaps.")
        if model.task == "binary":
            pred = thresholded(raw[m], threshold).argmax(axis=1)
            entry["positive_rate"] = float(pred.mean())
            pos = y[m] == 1
            entry["true_positive_rate"] = float(pred[pos].mean()) if pos.any() else None
        elif model.task == "regression":
            entry["mean_prediction"] = float(raw[m].mean())
        else:
            pred = raw[m].argmax(axis=1)
            entry["predicted_share"] = np.bincount(pred, minlength=raw.shape[1]).astype(float).tolist()
            entry["predicted_share"] = [v / m.sum() for v in entry["predicted_share"]]
        rows.append(entry)
    out: dict[str, Any] = {"column": column, "groups": rows, "too_small": small,
                           "warnings": [r["warning"] for r in rows if r["small_sample"]]}
    compared = [r for r in rows if not r["small_sample"]]
    out["gap_groups"] = [r["group"] for r in compared]
    out.update(_gaps(model.task, compared))
    if len(rows) > 1 and len(compared) < 2:
        out["warnings"].append("fewer than two groups are large enough to compare: no gap "
                               "between groups is reported.")
    return out


def _small(task: str, y: np.ndarray) -> str | None:
    """Why a group is too small for an honest interval, or None."""
    if len(y) < SMALL_GROUP_ROWS:
        return f"only {len(y)} rows (under {SMALL_GROUP_ROWS})"
    if task == "binary":
        least = int(min((y == 1).sum(), (y == 0).sum()))
        if least < SMALL_CLASS_ROWS:
            return f"only {least} row(s) of one class (under {SMALL_CLASS_ROWS})"
    return None


def _gaps(task: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The largest differences between the groups ``rows``."""
    out: dict[str, Any] = {}
    if task == "binary" and len(rows) > 1:
        rates = [r["positive_rate"] for r in rows]
        tprs = [r["true_positive_rate"] for r in rows if r["true_positive_rate"] is not None]
        out["demographic_parity_difference"] = float(max(rates) - min(rates))
        out["equal_opportunity_difference"] = float(max(tprs) - min(tprs)) if len(tprs) > 1 else None
    elif task == "multiclass" and len(rows) > 1:
        shares = np.array([r["predicted_share"] for r in rows])
        out["demographic_parity_difference"] = float((shares.max(axis=0) - shares.min(axis=0)).max())
    elif task == "regression" and len(rows) > 1:
        means = [r["mean_prediction"] for r in rows]
        out["mean_prediction_difference"] = float(max(means) - min(means))
    elif task == "binary":
        out.update(demographic_parity_difference=None, equal_opportunity_difference=None)
    elif task == "multiclass":
        out["demographic_parity_difference"] = None
    else:
        out["mean_prediction_difference"] = None
    return out
