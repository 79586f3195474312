"""Target checks: class imbalance, classes too rare for cross-validation, a skewed regression
target, and whether the problem is learnable at all (a quick model against a dummy baseline)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlexpert.audits._context import AuditData, auc
from mlexpert.findings import Finding

IMBALANCE_INFO = 5.0  # majority/minority ratio from which imbalance is reported
IMBALANCE_WARNING = 100.0
CV_FOLDS = 5  # a class needs at least this many rows to appear in every fold
SKEW = 2.0  # |skewness| from which a regression target is called skewed


def single_value(d: AuditData) -> list[Finding]:
    values = d.y.dropna()
    n_unique = values.astype(str).nunique()
    if n_unique >= 2:
        return []
    only = values.iloc[0] if len(values) else None
    return [Finding(
        check="target_single_value", severity="error", columns=(d.target,),
        message=f"target {d.target!r} has a single value ({only!r}) over {len(values)} rows: "
                "there is nothing to learn.",
        evidence={"distinct": int(n_unique), "rows": int(len(values))},
        suggestion="check the target column and any filter applied before this table.")]


def missing_target(d: AuditData) -> list[Finding]:
    n_missing = int(d.y.isna().sum())
    if not n_missing:
        return []
    rows = np.flatnonzero(d.y.isna().to_numpy())
    return [Finding(
        check="target_missing", severity="warning", columns=(d.target,),
        rows=tuple(int(r) for r in rows[:1000]),
        message=f"{n_missing} row(s) have no target; fit drops them.",
        evidence={"rows_missing": n_missing, "share": round(n_missing / len(d.y), 4)},
        suggestion="fill in the target for those rows if they should count.")]


def imbalance(d: AuditData) -> list[Finding]:
    if d.task == "regression":
        return []
    counts = d._target_text.value_counts()
    if len(counts) < 2:
        return []
    out = []
    ratio = float(counts.iloc[0] / counts.iloc[-1])
    minority = str(counts.index[-1])
    if ratio >= IMBALANCE_INFO:
        metric = "roc_auc (or average precision)" if d.task == "binary" else "log_loss or f1_macro"
        out.append(Finding(
            check="class_imbalance", severity="warning" if ratio >= IMBALANCE_WARNING else "info",
            columns=(d.target,),
            message=f"classes are imbalanced: {counts.iloc[0]} {counts.index[0]!r} for every "
                    f"{counts.iloc[-1]} {minority!r} ({ratio:.1f} to 1).",
            evidence={"counts": {str(k): int(v) for k, v in counts.items()},
                      "ratio": round(ratio, 2), "minority_share": round(counts.iloc[-1] / counts.sum(), 4)},
            suggestion=f"judge models by {metric}, not accuracy; pass sample_weight to weight "
                       f"classes if errors on {minority!r} cost more, and choose the decision "
                       "threshold on predict_proba."))
    rare = counts[counts < CV_FOLDS]
    if len(rare):
        out.append(Finding(
            check="rare_class", severity="warning", columns=(d.target,),
            message=f"class(es) {', '.join(map(repr, rare.index[:5]))} have fewer than "
                    f"{CV_FOLDS} rows: too few to appear in every cross-validation fold"
                    + (" (single-row classes are dropped by fit)." if (rare < 2).any() else "."),
            evidence={"classes": {str(k): int(v) for k, v in rare.items()}},
            suggestion="collect more examples of those classes, or merge them into a related one."))
    return out


def skew(d: AuditData) -> list[Finding]:
    if d.task != "regression":
        return []
    v = pd.to_numeric(d.y, errors="coerce").dropna()
    if len(v) < 30 or v.std() == 0:
        return []
    s = float(v.skew())
    if abs(s) < SKEW:
        return []
    positive = bool((v > 0).all())
    hint = ("model log(target) and transform back (the target is positive)" if positive and s > 0
            else "consider a transform of the target (e.g. signed log) or the mae metric")
    return [Finding(
        check="target_skew", severity="info", columns=(d.target,),
        message=f"target {d.target!r} is skewed (skewness {s:+.2f}; median {v.median():.4g}, "
                f"max {v.max():.4g}).",
        evidence={"skewness": round(s, 3), "median": float(v.median()), "max": float(v.max()),
                  "min": float(v.min())},
        suggestion=f"{hint}; RMSE is dominated by the largest values.")]


def learnable(d: AuditData) -> list[Finding]:
    """A quick model's out-of-fold score against the dummy baseline, with a bootstrap interval,
    on the columns fit keeps: a column the audit proves leaks (fit leaves it out) is left out
    here too, and the score with it is only quoted, labelled as such."""
    from mlexpert.audits._leakage import leaking_columns

    full = d.oof
    if full is None:
        d.skipped.append("learnable: no time left or too few rows for a quick model")
        return []
    leaks = leaking_columns(d)
    oof = d.oof_without(leaks)
    if oof is None:  # every column leaks, or no time: the score with the leaks, labelled
        oof, leaks_in = full, True
    else:
        leaks_in = False
    name, dummy = ("r2", 0.0) if d.task == "regression" else ("roc_auc", 0.5)
    value, low, high = _score_interval(d, oof.y, oof.pred)
    evidence = {"metric": name, "quick_model": round(value, 4), "low": _f(low), "high": _f(high),
                "dummy": dummy, "rows": int(len(oof.y)), "folds": 3, "seconds": round(oof.seconds, 2)}
    note = ""
    if leaks:
        with_leaks = _score(d.task, full.y, full.pred)
        evidence.update(leaking_columns=list(leaks), leaks_included=leaks_in,
                        quick_model_with_leaks=_f(with_leaks))
        listed_ = ", ".join(map(repr, leaks))
        note = (f" (WITH the leaking column(s) {listed_}: no score without them)" if leaks_in
                else f" without the leaking column(s) {listed_} (with them: {name} "
                     f"{with_leaks:.3f}; fit leaves them out unless kept)")
    if np.isfinite(low) and low <= dummy:
        return [Finding(
            check="not_learnable", severity="warning", columns=(d.target,),
            message=f"a quick model is not clearly better than a dummy baseline{note}: {name} "
                    f"{value:.3f} (95% CI {low:.3f} to {high:.3f}) against {dummy:g}.",
            evidence=evidence,
            suggestion="check that the target is the right column and that the features were "
                       "recorded before the outcome; more rows or better features are needed.")]
    return [Finding(
        check="learnable", severity="info", columns=(d.target,),
        message=f"a quick model beats a dummy baseline{note}: out-of-fold {name} {value:.3f}"
                + (f" (95% CI {low:.3f} to {high:.3f})" if np.isfinite(low) else "")
                + f" against {dummy:g}.",
        evidence=evidence,
        suggestion="a baseline to beat: the full search should do at least this well.")]


def _score(task: str, y: np.ndarray, pred: np.ndarray) -> float:
    if task == "regression":
        sst = ((y - y.mean()) ** 2).sum()
        return float(1 - ((y - pred) ** 2).sum() / sst) if sst > 0 else float("nan")
    return auc(y, pred)


def _score_interval(d: AuditData, y: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """The score and its 95 % bootstrap interval (NaN bounds when too few resamples ran)."""
    rng = np.random.default_rng(d.seed)
    value = _score(d.task, y, pred)
    boots = []
    for _ in range(100):
        if d.deadline.expired():
            break
        idx = rng.integers(0, len(y), len(y))
        boots.append(_score(d.task, y[idx], pred[idx]))
    boots = [b for b in boots if np.isfinite(b)]
    low, high = (np.quantile(boots, [0.025, 0.975]) if len(boots) >= 30 else (np.nan, np.nan))
    return value, float(low), float(high)


def _f(x: float) -> float | None:
    return round(float(x), 4) if np.isfinite(x) else None


CHECKS = (single_value, missing_target, imbalance, skew, learnable)
