"""Leakage checks: a feature that alone predicts the target almost perfectly, a feature that is a
deterministic function of the target, identifiers that carry signal through row order, rows or
entities shared between train and test, and dates later than the event time."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlexpert.audits._context import (
    MAX_BINS,
    AuditData,
    bin_codes,
    folds,
    listed,
    monotone_score,
    single_feature_score,
    skill,
)
from mlexpert.data import Role, category_text, epoch_ns, time_values
from mlexpert.findings import Finding

CONCLUSIVE = 0.999  # single-feature CV score (ROC AUC or R^2) from which a leak is certain
SUSPECTED_SKILL = 0.7  # skill (2 AUC - 1, or R^2) of one feature alone that is suspicious ...
SUSPECTED_SHARE = 0.9  # ... when it is also this share of what all features reach together ...
SUSPECTED_LEAD = 0.3  # ... and this much above the next best single feature (it stands alone)
ID_SIGNAL_SKILL = 0.3  # skill of an identifier's order that says rows are sorted by the target
MONOTONE = 0.999  # |Spearman| of a numeric feature with a regression target: a transformation
DUPLICATE_WARNING = 0.01  # excess share of test rows found in train (over train's own rate)
DUPLICATE_ERROR = 0.05
POST_EVENT = 0.9  # share of rows where a date column is later than the time column
MIN_ROWS = 30


def _r(x: float) -> float:
    return round(float(x), 4)


def feature_scores(d: AuditData) -> dict[str, float]:
    """Cross-validated single-feature score of every feature on the sample (cached on ``d``)."""
    if "feature_scores" in d.cache:
        return d.cache["feature_scores"]
    rows = d.sample
    y = d.codes_of(rows)
    scores: dict[str, float] = {}
    if len(rows) >= MIN_ROWS and (d.task == "regression" or len(np.unique(y)) >= 2):
        fold_list = folds(y, d.task, 5, d.seed)
        sub = d.frame.iloc[rows]
        max_bins = int(np.clip(len(rows) // 20, 16, MAX_BINS))  # ~20 rows per bin at least
        for c in d.schema.features:
            if d.deadline.expired():
                d.skipped.append("single-feature scores: time limit reached")
                break
            codes = bin_codes(sub[c.name], c.role, max_bins=max_bins)
            score = single_feature_score(codes, y, d.task, len(d.classes), fold_list)
            if c.role in (Role.NUMERIC, Role.DATETIME):  # the column itself as a ranking
                score = max(score, monotone_score(sub[c.name], c.role, y, d.task))
            scores[c.name] = score
    d.cache["feature_scores"] = scores
    return scores


def _metric(d: AuditData) -> str:
    return "r2" if d.task == "regression" else "roc_auc"


def single_feature_leak(d: AuditData) -> list[Finding]:
    scores = feature_scores(d)
    if not scores:
        return []
    oof = d.oof
    full = None
    if oof is not None:  # what all features reach together, on the same rows
        from mlexpert.audits._context import auc

        if d.task == "regression":
            sst = ((oof.y - oof.y.mean()) ** 2).sum()
            full = float(1 - ((oof.y - oof.pred) ** 2).sum() / sst) if sst > 0 else None
        else:
            full = auc(oof.y, oof.pred)
    full_skill = skill(full, d.task) if full is not None and np.isfinite(full) else None
    out = []
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    skills = [skill(v, d.task) for _, v in ranked]
    for i, (name, score) in enumerate(ranked):
        s = skills[i]
        runner_up = max([v for j, v in enumerate(skills) if j != i and ranked[j][1] < CONCLUSIVE],
                        default=0.0)
        evidence = {"metric": _metric(d), "single_feature_score": _r(score), "skill": _r(s),
                    "all_features_score": None if full is None else _r(full),
                    "rows": int(len(d.sample)), "folds": 5}
        if score >= CONCLUSIVE:
            out.append(Finding(
                check="target_leak", severity="error", columns=(name,),
                message=f"column {name!r} alone predicts the target almost perfectly "
                        f"(cross-validated {_metric(d)} {score:.4f}): it leaks the target.",
                evidence=evidence,
                suggestion=f"drop {name!r} unless it is truly known before the target at "
                           "prediction time; fit excludes it (keep_columns to override)."))
        elif (s >= SUSPECTED_SKILL and s - runner_up >= SUSPECTED_LEAD
              and (full_skill is None or s >= SUSPECTED_SHARE * full_skill)):
            evidence["next_best_skill"] = _r(runner_up)
            out.append(Finding(
                check="suspected_leak", severity="warning", columns=(name,),
                message=f"column {name!r} alone nearly matches all features together "
                        f"(cross-validated {_metric(d)} {score:.4f}"
                        + (f" vs {full:.4f}" if full is not None else "")
                        + f"; skill {s:.2f} against {runner_up:.2f} for the next best column): "
                        "check that it is known before the target.",
                evidence=evidence,
                suggestion=f"find out when and how {name!r} is recorded; if it is filled in after "
                           "the outcome (or derived from it), drop it or pass ignore_columns."))
    return out


def deterministic_function(d: AuditData) -> list[Finding]:
    """A feature fixed by the target value (constant within each class or each repeated target
    value), or a monotone transformation of a regression target."""
    rows = d.sample
    if len(rows) < MIN_ROWS:
        return []
    y = d.codes_of(rows)
    sub = d.frame.iloc[rows]
    out = []
    already = {f.columns[0] for f in single_feature_leak_cache(d)}
    y_key = pd.Series(y).astype(str).to_numpy() if d.task == "regression" else y
    groups = pd.Series(y_key)
    sizes = groups.value_counts()
    for c in d.schema.features:
        if c.name in already:
            continue
        codes = pd.Series(bin_codes(sub[c.name], c.role, max_bins=10**9))
        evidence: dict[str, object] = {}
        if codes.nunique() >= 2 and len(sizes) >= 2 and sizes.min() >= 5 and (
                d.task != "regression" or len(sizes) <= len(rows) / 5):
            per_value = codes.groupby(groups.to_numpy()).nunique()
            if (per_value == 1).all():
                evidence = {"target_values": int(len(sizes)), "feature_values": int(codes.nunique()),
                            "rows": int(len(rows))}
        if not evidence and d.task == "regression" and c.role == Role.NUMERIC:
            v = pd.to_numeric(sub[c.name], errors="coerce").to_numpy(dtype=float)
            ok = np.isfinite(v) & np.isfinite(y)
            if ok.sum() >= MIN_ROWS and len(np.unique(v[ok])) >= 20:
                from scipy.stats import spearmanr

                rho = float(spearmanr(v[ok], y[ok]).statistic)
                if np.isfinite(rho) and abs(rho) >= MONOTONE:
                    evidence = {"spearman_rho": round(rho, 5), "rows": int(ok.sum())}
        if evidence:
            out.append(Finding(
                check="target_function", severity="error", columns=(c.name,),
                message=f"column {c.name!r} is a deterministic function of the target "
                        + ("(one value per target value)" if "target_values" in evidence else
                           f"(a monotone transformation, Spearman rho {evidence['spearman_rho']:+.4f})")
                        + ": it is derived from the target and leaks it.",
                evidence=evidence,
                suggestion=f"drop {c.name!r}; fit excludes it (keep_columns to override)."))
    return out


def single_feature_leak_cache(d: AuditData) -> list[Finding]:
    """Conclusive single-feature leaks, computed once (the deterministic check skips them)."""
    return [Finding(check="target_leak", severity="error", message="", columns=(n,))
            for n, s in feature_scores(d).items() if s >= CONCLUSIVE]


def id_signal(d: AuditData) -> list[Finding]:
    """An identifier whose order predicts the target: the rows were sorted or numbered by it."""
    rows = d.sample
    if len(rows) < 100:
        return []
    y = d.codes_of(rows)
    if d.task != "regression" and len(np.unique(y)) < 2:
        return []
    fold_list = folds(y, d.task, 5, d.seed)
    out = []
    for c in d.schema.columns:
        if c.role != Role.ID:
            continue
        s = d.frame[c.name].iloc[rows]
        num = pd.to_numeric(s, errors="coerce")
        order = num.rank(method="first") if num.notna().mean() > 0.95 else s.astype(str).rank(method="first")
        codes = bin_codes(order, Role.NUMERIC, max_bins=64)
        score = single_feature_score(codes, y, d.task, len(d.classes), fold_list)
        if skill(score, d.task) >= ID_SIGNAL_SKILL:
            out.append(Finding(
                check="id_signal", severity="warning", columns=(c.name,),
                message=f"identifier {c.name!r} predicts the target through its order "
                        f"(cross-validated {_metric(d)} {score:.3f}): the rows were numbered after "
                        "sorting, or the key encodes time or the outcome.",
                evidence={"metric": _metric(d), "score": _r(score), "rows": int(len(rows))},
                suggestion="fit leaves identifiers out; if the order reflects time, pass "
                           "time_column so that validation respects it."))
    return out


def _row_keys(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    part = frame[columns]
    try:
        return pd.util.hash_pandas_object(part, index=False).to_numpy()
    except TypeError:
        return pd.util.hash_pandas_object(part.astype(str), index=False).to_numpy()


def train_test_overlap(d: AuditData) -> list[Finding]:
    """Test rows that repeat a training row, beyond what the training table's own duplicate rate
    predicts for a random split; shared entities (groups, identifiers)."""
    if d.test is None or not len(d.test):
        return []
    out = []
    ids = {c.name for c in d.schema.columns if c.role == Role.ID}
    cols = [str(c) for c in d.frame.columns if c in d.test.columns and c not in ids]
    if d.target in d.test.columns:
        cols_t = cols + [d.target]
        train = d.frame.assign(**{d.target: d.y.to_numpy()})
    else:
        cols_t, train = cols, d.frame
    if cols:
        numeric = {c for c in cols_t if c in d.frame.columns and d.schema_role(c) == Role.NUMERIC
                   and pd.api.types.is_numeric_dtype(d.frame[c].dtype)}

        def canon(frame: pd.DataFrame) -> pd.DataFrame:  # 1 and 1.0 (and '1') compare equal
            return pd.DataFrame({c: pd.to_numeric(frame[c], errors="coerce").astype(float)
                                 if c in numeric else category_text(frame[c]) for c in cols_t})

        tr_keys = _row_keys(canon(train), cols_t)
        te_keys = _row_keys(canon(d.test), cols_t)
        shared = np.isin(te_keys, tr_keys)
        n_shared = int(shared.sum())
        within = float(pd.Series(tr_keys).duplicated(keep=False).mean())
        share = n_shared / len(te_keys)
        excess = share - within
        if n_shared >= 3 and excess >= DUPLICATE_WARNING:
            out.append(Finding(
                check="train_test_duplicates",
                severity="error" if excess >= DUPLICATE_ERROR else "warning",
                columns=tuple(cols_t), rows=listed(np.flatnonzero(shared)),
                message=f"{n_shared} test row(s) ({share:.1%}) repeat a training row exactly, "
                        f"against {within:.1%} duplicates within the training table: the test "
                        "score will be optimistic.",
                evidence={"test_rows_in_train": n_shared, "share": _r(share),
                          "train_duplicate_rate": _r(within), "excess": _r(excess)},
                suggestion="remove the test rows found in training (rows lists them, as test "
                           "positions), and split by entity (groups=) if records repeat."))
    keyed = [(d.groups_column, "groups")] if d.groups_column else []
    keyed += [(c, "identifier") for c in sorted(ids)]
    for col, kind in keyed:
        train_values = d.groups if kind == "groups" else d.frame.get(col)
        if col not in d.test.columns or train_values is None:
            continue
        shared = d.test[col].isin(set(pd.Series(train_values).dropna())).to_numpy()
        n_shared = int(shared.sum())
        if n_shared and n_shared >= 0.01 * len(d.test):
            out.append(Finding(
                check="train_test_entities",
                severity="error" if kind == "groups" else "warning", columns=(col,),
                rows=listed(np.flatnonzero(shared)),
                message=f"{n_shared} test row(s) ({n_shared / len(d.test):.1%}) share their "
                        f"{col!r} value with training rows: the same entities are on both sides.",
                evidence={"test_rows_shared": n_shared, "share": _r(n_shared / len(d.test))},
                suggestion=f"split by {col!r} so that no entity is in both tables."))
    return out


def time_leak(d: AuditData) -> list[Finding]:
    """With a time column: dates later than the event time, and test rows older than training."""
    if d.time is None:
        return []
    out = []
    t = d.time
    for c in d.schema.columns:
        if c.role != Role.DATETIME or c.name == d.time_column:
            continue
        v = epoch_ns(d.frame[c.name], c.datetime_format)
        ok = ~np.isnan(v) & np.isfinite(t)
        if ok.sum() < 10:
            continue
        later = (v > t) & ok
        share = float(later[ok].mean())
        if share >= POST_EVENT:
            out.append(Finding(
                check="post_event_date", severity="warning", columns=(c.name,),
                rows=listed(np.flatnonzero(later)),
                message=f"column {c.name!r} is later than the time column {d.time_column!r} in "
                        f"{share:.1%} of rows: it may only be known after the event.",
                evidence={"share_later": _r(share), "rows_compared": int(ok.sum())},
                suggestion=f"use {c.name!r} only if it is known at prediction time (a scheduled "
                           "date); otherwise drop it."))
    if d.test is not None and d.time_column in d.test.columns:
        try:
            tt = time_values(d.test[d.time_column], d.time_column)
        except Exception:  # an unreadable test time column is reported by the value checks
            tt = None
        if tt is not None:
            before = tt < np.nanmax(t)
            share = float(before.mean())
            if share >= 0.05:
                out.append(Finding(
                    check="test_not_after_train", severity="warning", columns=(d.time_column,),
                    message=f"{share:.1%} of test rows are older than the newest training row "
                            f"(by {d.time_column!r}): the test does not measure forecasting "
                            "the future.",
                    evidence={"share_before_train_end": _r(share)},
                    suggestion="split at a date: train on rows before it and test on rows after."))
    return out


def target_leaks(d: AuditData) -> list[Finding]:
    """Deterministic functions of the target and single-feature leaks, one finding per column
    (the most severe)."""
    found = deterministic_function(d) + single_feature_leak(d)
    rank = {"error": 0, "warning": 1, "info": 2}
    best: dict[str, Finding] = {}
    for f in found:
        col = f.columns[0]
        if col not in best or rank[f.severity] < rank[best[col].severity]:
            best[col] = f
    return [f for f in found if best[f.columns[0]] is f]


CHECKS = (target_leaks, id_signal, train_test_overlap, time_leak)
