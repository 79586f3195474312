"""Shift: can a classifier tell the training rows from the test rows (or the first period from the
last when there is a time column)? Adversarial validation AUC with an interval, and the features
that drift most."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlexpert.audits._context import (
    SHIFT_ROWS,
    AuditData,
    auc,
    bin_codes,
    folds,
    quick_oof,
    single_feature_score,
)
from mlexpert.data import Role, category_text
from mlexpert.findings import Finding

WARNING_AUC = 0.6  # adversarial AUC (and its interval's low end above it) for a warning
ERROR_AUC = 0.85  # train vs test only: the test set is a different population
PERIOD = 0.3  # first and last share of rows (by time) compared when there is no test table
TOP = 5


def _sides(d: AuditData) -> tuple[pd.DataFrame, pd.DataFrame, str] | None:
    if d.test is not None and len(d.test):
        return d.frame, d.test, "test"
    if d.time is not None and len(d.frame) >= 100:
        order = np.argsort(d.time, kind="stable")
        k = int(len(order) * PERIOD)
        return d.frame.iloc[np.sort(order[:k])], d.frame.iloc[np.sort(order[-k:])], "period"
    return None


def shift(d: AuditData) -> list[Finding]:
    sides = _sides(d)
    if sides is None:
        return []
    a, b, kind = sides
    if len(a) < 20 or len(b) < 20:
        return []
    if d.deadline.expired():
        d.skipped.append("shift: time limit reached")
        return []
    rng = np.random.default_rng(d.seed)
    a = a.iloc[np.sort(rng.choice(len(a), min(len(a), SHIFT_ROWS), replace=False))]
    b = b.iloc[np.sort(rng.choice(len(b), min(len(b), SHIFT_ROWS), replace=False))]
    # dates and the time column separate periods by construction: compare the other columns
    columns = [c for c in d.model_columns if c in b.columns and c != d.time_column
               and not (kind == "period" and d.schema_role(c) == Role.DATETIME)]
    if not columns:
        return []
    # categories coded in sorted order over both sides: a value seen on one side only (a title,
    # a name) must not give the side away by being unknown
    cats = {c: sorted(set(category_text(a[c]).dropna()) | set(category_text(b[c]).dropna()))
            for c in columns if d.schema_role(c) == Role.CATEGORICAL}
    X = np.vstack([d.encode(a, columns, cats), d.encode(b, columns, cats)])
    y = np.r_[np.zeros(len(a), dtype=int), np.ones(len(b), dtype=int)]
    pred = quick_oof(X, y, "binary", 2, d.seed, d.deadline)
    if pred is None:
        d.skipped.append("shift: time limit reached")
        return []
    value = auc(y, pred)
    boots = []
    for _ in range(100):
        idx = rng.integers(0, len(y), len(y))
        if len(np.unique(y[idx])) == 2:
            boots.append(auc(y[idx], pred[idx]))
    low, high = np.quantile(boots, [0.025, 0.975])
    drifting = _drifting(d, a, b, columns)
    what = ("training and test rows" if kind == "test" else
            f"the first and last {PERIOD:.0%} of rows by {d.time_column!r}")
    evidence = {"adversarial_auc": round(value, 4), "low": round(float(low), 4),
                "high": round(float(high), 4), "rows": [int(len(a)), int(len(b))],
                "top_features": {k: round(v, 4) for k, v in drifting}}
    top = [k for k, _ in drifting]
    names = ", ".join(f"{k!r} (AUC {v:.2f})" for k, v in drifting[:3])
    if value >= WARNING_AUC and low > WARNING_AUC - 0.05:
        severe = kind == "test" and value >= ERROR_AUC
        return [Finding(
            check="shift" if kind == "test" else "time_shift",
            severity="error" if severe else "warning", columns=tuple(top),
            message=f"a classifier tells {what} apart (adversarial AUC {value:.3f}, 95% CI "
                    f"{low:.3f} to {high:.3f}); most drifting: {names}.",
            evidence=evidence,
            suggestion=("the test set is not drawn like the training set: scores on it will "
                        "differ from cross-validation; check how it was selected, or weight "
                        "training rows like the test population." if kind == "test" else
                        "the data changes over time: validate in time order (time_column) and "
                        "plan to retrain; check the drifting columns for changed definitions."))]
    return [Finding(
        check="shift" if kind == "test" else "time_shift", severity="info", columns=tuple(top[:3]),
        message=f"no material shift between {what} (adversarial AUC {value:.3f}, 95% CI "
                f"{low:.3f} to {high:.3f}).",
        evidence=evidence, suggestion="nothing to do.")]


def _drifting(d: AuditData, a: pd.DataFrame, b: pd.DataFrame,
              columns: list[str]) -> list[tuple[str, float]]:
    """Columns ranked by how well each alone separates the two sides (cross-validated AUC)."""
    both = pd.concat([a[columns], b[columns]], ignore_index=True)
    y = np.r_[np.zeros(len(a), dtype=int), np.ones(len(b), dtype=int)]
    fold_list = folds(y, "binary", 3, d.seed)
    scores = []
    for c in columns:
        codes = bin_codes(both[c], d.schema_role(c), max_bins=64)
        s = single_feature_score(codes, y, "binary", 2, fold_list)
        scores.append((c, max(s, 1 - s)))
    scores.sort(key=lambda kv: -kv[1])
    return [kv for kv in scores[:TOP] if kv[1] >= 0.55]


CHECKS = (shift,)
