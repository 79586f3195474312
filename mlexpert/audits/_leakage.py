"""Leakage checks: a feature that alone predicts the target almost perfectly, a feature that is a
deterministic function of the target, identifiers that carry signal through row order, rows or
entities shared between train and test, and dates later than the event time."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlexpert.audits._context import (
    MAX_BINS,
    AuditData,
    auc,
    bin_codes,
    class_evidence,
    code_oof,
    folds,
    linear_oof_r2,
    listed,
    monotone_score,
    r2,
    single_feature_score,
    skill,
    tree_oof,
)
from mlexpert.data import Role, category_text, epoch_ns, time_values
from mlexpert.findings import Finding

CONCLUSIVE = 0.999  # single-feature CV ROC AUC from which a leak is certain
R2_CONCLUSIVE = 0.99  # out-of-fold R^2 of one column: it explains the target (regression)
CLASS_CONCLUSIVE = 0.995  # multiclass: every class's one-vs-rest AUC from one column ...
GAIN_CONCLUSIVE = 0.95  # ... and this share of the log loss removed: the column encodes the class
SUSPECTED_SKILL = 0.7  # skill (2 AUC - 1, R^2, or multiclass log-loss gain) of one feature ...
SUSPECTED_SHARE = 0.9  # ... that is suspicious when it is also this share of all features' ...
SUSPECTED_LEAD = 0.3  # ... and this much above the next best single feature (it stands alone)
ID_SIGNAL_SKILL = 0.3  # skill of an identifier's order that says rows are sorted by the target
MONOTONE = 0.999  # |Spearman| of a numeric feature with a regression target: a transformation
DUPLICATE_WARNING = 0.01  # excess share of test rows found in train (over train's own rate)
DUPLICATE_ERROR = 0.05
POST_EVENT = 0.9  # share of rows where a date column is later than the time column
MIN_ROWS = 30
INTERLEAVED = 10  # classes alternating this many times per class along a column's sorted values
# (or levels per class): the column determines the class (a route's distance names its airport),
# it does not copy it (a copy, even with noise, keeps each class in one or two stretches)


def _r(x: float) -> float:
    return round(float(x), 4)


def feature_evidence(d: AuditData) -> dict[str, dict[str, float]]:
    """Cross-validated power of every feature alone on the sample (cached on ``d``): ``score``
    (ROC AUC, macro one-vs-rest for multiclass, or out-of-fold R^2), its ``skill`` (0 chance,
    1 perfect) and, for multiclass, the worst class's AUC and the log-loss gain."""
    if "feature_evidence" in d.cache:
        return d.cache["feature_evidence"]
    rows = d.sample
    y = d.codes_of(rows)
    out: dict[str, dict[str, float]] = {}
    if len(rows) >= MIN_ROWS and (d.task == "regression" or len(np.unique(y)) >= 2):
        fold_list = folds(y, d.task, 5, d.seed)
        sub = d.frame.iloc[rows]
        max_bins = int(np.clip(len(rows) // 20, 16, MAX_BINS))  # ~20 rows per bin at least
        for c in d.schema.features:
            if d.deadline.expired():
                d.skipped.append("single-feature scores: time limit reached")
                break
            out[c.name] = _one_column(sub[c.name], c.role, y, d, fold_list, max_bins)
    d.cache["feature_evidence"] = out
    return out


def _one_column(values: pd.Series, role: Role, y: np.ndarray, d: AuditData,
                fold_list: list[tuple[np.ndarray, np.ndarray]], max_bins: int) -> dict[str, float]:
    codes = bin_codes(values, role, max_bins=max_bins)
    numeric = role in (Role.NUMERIC, Role.DATETIME)
    if d.task == "regression":
        score = r2(y, code_oof(codes, y, d.task, 0, fold_list))
        if numeric:  # the column itself as a straight line, out of fold
            x = epoch_ns(values) if role == Role.DATETIME else \
                np.array(pd.to_numeric(values, errors="coerce"), dtype=float)
            score = max(score, linear_oof_r2(x, y, fold_list))
        return {"score": score, "skill": score}
    k = len(d.classes)
    pred = code_oof(codes, y, d.task, k, fold_list)
    score = auc(y.astype(np.int64), pred)
    if numeric:  # the column itself as a ranking
        score = max(score, monotone_score(values, role, y, d.task))
    if d.task == "binary":
        return {"score": score, "skill": skill(score, d.task)}
    ev = class_evidence(y, pred, fold_list)
    if numeric:  # cut points where the classes change, not at fixed quantiles
        x = epoch_ns(values) if role == Role.DATETIME else \
            np.array(pd.to_numeric(values, errors="coerce"), dtype=float)
        tree = class_evidence(y, tree_oof(x, y, k, fold_list), fold_list)
        if tree["log_loss_gain"] > ev["log_loss_gain"]:
            ev = tree
    return {"score": max(score, ev["macro_auc"]), "skill": ev["log_loss_gain"],
            "min_class_auc": ev["min_class_auc"], "log_loss_gain": ev["log_loss_gain"]}


def feature_scores(d: AuditData) -> dict[str, float]:
    """Cross-validated single-feature score of every feature on the sample."""
    return {name: ev["score"] for name, ev in feature_evidence(d).items()}


def conclusive(ev: dict[str, float], task: str) -> bool:
    """Whether one column's evidence proves a leak: ROC AUC >= 0.999, R^2 >= 0.99 out of fold,
    or (multiclass) every class separated (AUC >= 0.995) with >= 95 % of the log loss removed."""
    if task == "regression":
        return ev["score"] >= R2_CONCLUSIVE
    if ev["score"] >= CONCLUSIVE:
        return True
    return task == "multiclass" and ev["min_class_auc"] >= CLASS_CONCLUSIVE and \
        ev["log_loss_gain"] >= GAIN_CONCLUSIVE


def _metric(d: AuditData) -> str:
    return "r2" if d.task == "regression" else "roc_auc"


def _all_features_skill(d: AuditData) -> tuple[float | None, float | None]:
    """The quick model's out-of-fold score and skill with every feature, on the same scale."""
    oof = d.oof
    if oof is None:
        return None, None
    if d.task == "regression":
        full = r2(oof.y, oof.pred)
        return full, full
    full = auc(oof.y, oof.pred)
    if d.task == "binary":
        return full, skill(full, d.task)
    given = np.clip(oof.pred[np.arange(len(oof.y)), oof.y], 1e-3, 1.0)
    shares = np.bincount(oof.y, minlength=oof.pred.shape[1]) / len(oof.y)
    base = float(-np.mean(np.log(shares[oof.y])))
    return full, (1.0 - float(-np.mean(np.log(given))) / base if base > 0 else None)


def _describe(ev: dict[str, float], d: AuditData) -> str:
    if d.task == "multiclass":
        return (f"out-of-fold ROC AUC {ev['score']:.4f}, worst class {ev['min_class_auc']:.4f}, "
                f"log-loss gain {ev['log_loss_gain']:.3f}")
    if d.task == "regression":
        return f"out-of-fold R^2 {ev['score']:.4f}: {ev['score']:.2%} of the target's variance"
    return f"cross-validated roc_auc {ev['score']:.4f}"


def single_feature_leak(d: AuditData) -> list[Finding]:
    evidences = feature_evidence(d)
    if not evidences:
        return []
    full, full_skill = _all_features_skill(d)
    if full is not None and not np.isfinite(full):
        full, full_skill = None, None
    out = []
    ranked = sorted(evidences.items(), key=lambda kv: -kv[1]["skill"])
    proven = {name for name, ev in ranked if conclusive(ev, d.task)}
    determines = {name: runs for name in proven
                  if (runs := class_alternations(d, name)) is not None}
    proven -= set(determines)
    for name, ev in ranked:
        s = ev["skill"]
        runner_up = max([e["skill"] for n, e in ranked if n != name and n not in proven],
                        default=0.0)
        evidence = {"metric": _metric(d), "single_feature_score": _r(ev["score"]), "skill": _r(s),
                    "all_features_score": None if full is None else _r(full),
                    "rows": int(len(d.sample)), "folds": 5}
        if d.task == "multiclass":
            evidence.update(min_class_auc=_r(ev["min_class_auc"]),
                            log_loss_gain=_r(ev["log_loss_gain"]))
        if name in determines:
            evidence["class_alternations_per_class"] = _r(determines[name])
            out.append(Finding(
                check="suspected_leak", severity="warning", columns=(name,),
                message=f"column {name!r} alone predicts the target almost perfectly "
                        f"({_describe(ev, d)}), yet its values of each class are spread among "
                        f"the other classes' ({determines[name]:.0f} alternations per class): "
                        "it looks like a property the target follows from, not a copy of it, "
                        "and is kept. Check that it is known at prediction time.",
                evidence=evidence,
                suggestion=f"if {name!r} is recorded after the outcome, drop it "
                           f"(ignore_columns=[{name!r}])."))
        elif name in proven:
            out.append(Finding(
                check="target_leak", severity="error", columns=(name,),
                message=f"column {name!r} alone predicts the target almost perfectly "
                        f"({_describe(ev, d)}): it leaks the target.",
                evidence=evidence,
                suggestion=f"drop {name!r} unless it is truly known before the target at "
                           "prediction time; fit excludes it (keep_columns to override)."))
        elif (s >= SUSPECTED_SKILL and s - runner_up >= SUSPECTED_LEAD
              and (full_skill is None or s >= SUSPECTED_SHARE * full_skill)):
            evidence["next_best_skill"] = _r(runner_up)
            out.append(Finding(
                check="suspected_leak", severity="warning", columns=(name,),
                message=f"column {name!r} alone nearly matches all features together "
                        f"({_describe(ev, d)}"
                        + (f" vs {full:.4f} with all features" if full is not None else "")
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
            for n, ev in feature_evidence(d).items()
            if conclusive(ev, d.task) and class_alternations(d, n) is None]


def class_alternations(d: AuditData, name: str) -> float | None:
    """For a classification target: how often the class changes along ``name``'s sorted values
    (numbers, dates), or the median number of levels per class (categories), per class, when it
    is at least ``INTERLEAVED``; else None (the column keeps each class together, like a copy)."""
    if d.task == "regression":
        return None
    key = ("class_alternations", name)
    if key not in d.cache:
        rows = d.sample
        y = d.codes_of(rows)
        values = d.frame.iloc[rows][name]
        role = next(c.role for c in d.schema.features if c.name == name)
        k = max(len(np.unique(y)), 1)
        if role == Role.CATEGORICAL:
            text = category_text(values).to_numpy()
            ok = pd.notna(text)
            per = pd.Series(text[ok]).groupby(y[ok]).nunique()
            runs = float(per.median()) if len(per) else 0.0
        else:
            v = np.asarray(epoch_ns(values) if role == Role.DATETIME
                           else pd.to_numeric(values, errors="coerce"), dtype=float)
            ok = np.isfinite(v)
            frame = pd.DataFrame({"v": v[ok], "y": y[ok]})
            # rows of one value count once per class: ties do not alternate
            frame = frame.drop_duplicates().sort_values(["v", "y"], kind="stable")
            runs = float((np.diff(frame["y"].to_numpy()) != 0).sum() + 1) / k
        d.cache[key] = runs if runs >= INTERLEAVED else None
    return d.cache[key]


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


def leaking_columns(d: AuditData) -> tuple[str, ...]:
    """Columns the audit proves leak the target (its errors; fit leaves them out by default)."""
    return tuple(f.columns[0] for f in target_leaks(d) if f.severity == "error")


def target_leaks(d: AuditData) -> list[Finding]:
    """Deterministic functions of the target and single-feature leaks, one finding per column
    (the most severe); computed once per audit."""
    if "target_leaks" not in d.cache:
        d.cache["target_leaks"] = _target_leaks(d)
    return list(d.cache["target_leaks"])


def _target_leaks(d: AuditData) -> list[Finding]:
    found = deterministic_function(d) + single_feature_leak(d)
    rank = {"error": 0, "warning": 1, "info": 2}
    best: dict[str, Finding] = {}
    for f in found:
        col = f.columns[0]
        if col not in best or rank[f.severity] < rank[best[col].severity]:
            best[col] = f
    return [f for f in found if best[f.columns[0]] is f]


CHECKS = (target_leaks, id_signal, train_test_overlap, time_leak)
