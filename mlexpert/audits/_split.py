"""Split hints: a column that names an entity (groups) or a date the target trends along (time),
when the user chose neither. The one place these hints come from: ``audit`` reports them, and fit
records them through ``audit_for_fit``.

A group hint needs evidence that the column names an entity, not a rounded measurement: text or
integer codes (never numbers with decimals, nor amounts mostly in round hundreds), many levels in
small repeated blocks, rows of one value alike in the target (intraclass correlation, F-test)
far beyond what the value's order explains (a measurement's smooth relation), and, as the
evidence shown, the score gap of a quick model between random and grouped K-fold.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlexpert.audits._context import AuditData, auc, bin_codes, quick_oof, skill
from mlexpert.data import (
    Role,
    as_time,
    category_text,
    entity_keys,
    panel_entity,
    repeats,
    time_candidates,
)
from mlexpert.findings import Finding

MIN_LEVELS = 20  # an entity column has at least this many values, and at least sqrt(rows)
MIN_ROWS_PER_LEVEL = 1.5  # mean rows per value: at least a third of the rows repeat a value
MIN_ICC = 0.05  # rows of one value alike in the target: intraclass correlation at least this
MAX_P = 1e-3  # ... and the one-way ANOVA F-test's p-value at most this
ORDER_SHARE = 0.5  # a measurement: coarse bins of its ordered values explain this share of the ICC
ORDER_BINS = (5, 50)  # bins of the ordered values: levels // 5 within these bounds
GAP_ROWS = 4_000  # rows (whole blocks of one value) the random-vs-grouped comparison sees at most
GAP_SECONDS = 0.5  # seconds left at least before the comparison starts
MAX_HINTS = 3  # group hints per table at most (the most alike first)
MIN_TREND = 0.1  # |Spearman rho| of the target along a date for a time hint
# an amount, not a code: this share of its values from 100 up are whole hundreds (codes: ~1 %;
# lendingclub's funded_amnt, 816 loan sizes over 7,885 rows: 89 %)
ROUND_SHARE = 0.5


@dataclass(frozen=True)
class Entity:
    """Why a column looks like an entity key: its blocks and how alike their rows are."""

    column: str
    levels: int
    rows: int
    icc: float  # intraclass correlation of the target within the column's values
    p_value: float
    order_icc: float | None  # the same over bins of the ordered values (None for text codes)


def split_groups(d: AuditData) -> list[Finding]:
    """Group hints: columns that name entities whose rows are alike in the target."""
    if d.groups is not None or d.time is not None:  # the user chose the split
        return []
    entities = sorted((e for c in d.schema.columns if (e := entity(d, c.name)) is not None),
                      key=lambda e: -e.icc)
    return [_group_finding(d, e) for e in entities[:MAX_HINTS]]


def split_time(d: AuditData) -> list[Finding]:
    """Time hints: a date column along which the target trends suggests a time-ordered split."""
    from scipy.stats import spearmanr

    if d.groups is not None or d.time is not None:
        return []
    out = []
    rows = d.labelled
    y = d.codes_of(rows).astype(float)
    if d.task == "multiclass":  # the most frequent class against the others
        y = (y == np.bincount(y.astype(int)).argmax()).astype(float)
    for c in d.schema.columns:
        if c.role != Role.DATETIME:
            continue
        t = pd.to_datetime(d.frame[c.name].iloc[rows], errors="coerce", format=c.datetime_format)
        ok = t.notna().to_numpy()
        if ok.sum() < 30 or t[ok].nunique() < 10:
            continue
        rho = spearmanr(t[ok].astype("int64"), y[ok]).statistic
        if np.isfinite(rho) and abs(rho) >= MIN_TREND:
            out.append(Finding(
                check="split_time_suggested", severity="warning", columns=(c.name,),
                message=f"the target trends along {c.name!r} (Spearman rho {rho:+.2f}); if new "
                        "data comes from later dates, random K-fold overstates the score.",
                evidence={"spearman_rho": round(float(rho), 3), "rows": int(ok.sum())},
                suggestion=f"pass time_column={c.name!r} (CLI: --time-column {c.name})."))
    return out


def entity(d: AuditData, name: str) -> Entity | None:
    """The evidence that column ``name`` names an entity, or None when it does not (a
    measurement, too few or too many values, rows of one value no more alike than others)."""
    role = d.schema_role(name)
    if role not in (Role.CATEGORICAL, Role.NUMERIC, Role.ID) or d.frame[name].dtype == bool:
        return None
    present = d.frame[name].iloc[d.labelled].notna().to_numpy()
    rows = d.labelled[present]
    values = d.frame[name].iloc[rows]
    n, k = len(rows), int(values.nunique())
    if k < max(MIN_LEVELS, np.sqrt(n)) or n / k < MIN_ROWS_PER_LEVEL:
        return None  # few values (a category), or hardly any repeated (a key or a measurement)
    number = _as_number(values)
    if number is not None and not np.all(np.mod(number, 1) == 0):
        return None  # decimals: a measurement, repeated only because it is rounded
    if number is not None and _round_hundreds(number) >= ROUND_SHARE:
        return None  # sums of money or sizes chosen in round units: a measurement
    codes = pd.factorize(category_text(values) if number is None else number)[0]
    y = _target_matrix(d)[present]
    icc, p = intraclass(codes, y)
    if not (icc >= MIN_ICC and p <= MAX_P):
        return None
    order_icc = None
    if number is not None:  # a measurement's neighbouring values have alike targets too
        bins = int(np.clip(k // 5, *ORDER_BINS))
        order_icc, _ = intraclass(bin_codes(pd.Series(number), Role.NUMERIC, bins), y)
        if order_icc >= ORDER_SHARE * icc:
            return None
    return Entity(name, k, n, icc, p, order_icc)


def intraclass(codes: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """One-way ANOVA intraclass correlation ICC(1) of ``y`` (n, K: the target, or one column per
    class) within ``codes``, and the F-test's p-value (rows of one code no more alike: p large)."""
    from scipy.special import fdtrc  # the F distribution's upper tail (lighter than scipy.stats)

    codes = pd.factorize(codes)[0]
    n, k = len(codes), int(codes.max()) + 1
    if k < 2 or n - k < 1:
        return 0.0, 1.0
    counts = np.bincount(codes, minlength=k).astype(float)
    sums = np.stack([np.bincount(codes, weights=y[:, j], minlength=k) for j in range(y.shape[1])], 1)
    means = sums / counts[:, None]
    ssb = float((counts[:, None] * (means - y.mean(axis=0)) ** 2).sum())
    ssw = float(((y - means[codes]) ** 2).sum())
    msb, msw = ssb / (k - 1), ssw / (n - k)
    if msw <= 0:
        return (1.0, 0.0) if msb > 0 else (0.0, 1.0)
    n0 = (n - float((counts ** 2).sum()) / n) / (k - 1)  # the mean block size, adjusted
    icc = (msb - msw) / (msb + (n0 - 1) * msw)
    return float(icc), float(fdtrc(k - 1, n - k, msb / msw))


def score_gap(d: AuditData, name: str) -> dict[str, float] | None:
    """Skill of the quick model (2 AUC - 1, or R^2) with random and with grouped 3-fold on whole
    blocks of ``name`` (at most ``GAP_ROWS`` rows); None when no time is left for it."""
    from sklearn.model_selection import GroupKFold

    if not d.model_columns or d.deadline.remaining() < GAP_SECONDS:
        return None
    rows = d.labelled[d.frame[name].iloc[d.labelled].notna().to_numpy()]
    groups = pd.factorize(category_text(d.frame[name].iloc[rows]))[0]
    rng = np.random.default_rng(d.seed)
    order = rng.permutation(int(groups.max()) + 1)
    size = np.bincount(groups)[order]
    chosen = order[np.cumsum(size) <= GAP_ROWS]
    keep = np.isin(groups, chosen if len(chosen) >= 6 else order[:6])
    rows, groups = rows[keep], groups[keep]
    y = d.codes_of(rows)
    if d.task != "regression" and len(np.unique(y)) < 2:
        return None
    X = d.encode(d.frame.iloc[rows])
    n_classes = len(d.classes)
    grouped = list(GroupKFold(3, shuffle=True, random_state=d.seed).split(X, y, groups))
    scores = {}
    for kind, fold_list in (("random", None), ("grouped", grouped)):
        pred = quick_oof(X, y, d.task, n_classes, d.seed, d.deadline, fold_list=fold_list)
        if pred is None:
            return None
        scores[kind] = _skill(y, pred, d.task)
    return {"random": scores["random"], "grouped": scores["grouped"],
            "gap": scores["random"] - scores["grouped"], "rows": len(rows)}


def _group_finding(d: AuditData, e: Entity) -> Finding:
    name = e.column
    gap = score_gap(d, name)
    if gap is None:
        d.skipped.append(f"split_groups_suggested: the random-vs-grouped score gap for {name!r} "
                         "was not measured (time limit reached)")
    per = e.rows / e.levels
    order = "" if e.order_icc is None else f", their order only {max(e.order_icc, 0.0):.2f}"
    score = "R^2" if d.task == "regression" else "2 AUC - 1"
    measured = ("" if gap is None else
                f" A quick model scores {gap['random']:.3f} ({score}) with random folds and "
                f"{gap['grouped']:.3f} with folds that keep each {name} together (gap "
                f"{gap['gap']:+.3f}).")
    evidence = {"distinct": e.levels, "rows": e.rows, "rows_per_value": round(per, 2),
                "icc": round(e.icc, 3), "icc_p_value": float(f"{e.p_value:.3g}"),
                "order_icc": None if e.order_icc is None else round(e.order_icc, 3),
                "score": score,
                "score_random": None if gap is None else round(gap["random"], 4),
                "score_grouped": None if gap is None else round(gap["grouped"], 4),
                "score_gap": None if gap is None else round(gap["gap"], 4),
                "rows_compared": None if gap is None else gap["rows"]}
    return Finding(
        check="split_groups_suggested", severity="warning", columns=(name,),
        message=f"column {name!r} looks like an entity key: {e.levels} values over {e.rows} rows "
                f"({per:.1f} rows each), and rows of one value are alike in the target "
                f"(intraclass correlation {e.icc:.2f}{order}).{measured} If rows of one {name} "
                "are related, plain K-fold leaks between them and the scores are optimistic.",
        evidence=evidence,
        suggestion=f"pass groups={name!r} (CLI: --groups {name}).")


def _round_hundreds(number: np.ndarray) -> float:
    """The share of whole hundreds among the values of 100 and more (0 without any)."""
    big = number[np.abs(number) >= 100]
    return float(np.mean(np.mod(big, 100) == 0)) if len(big) else 0.0


def _as_number(values: pd.Series) -> np.ndarray | None:
    """The values as floats when every one is a number (codes written as text too), else None."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return None
    if pd.api.types.is_numeric_dtype(values.dtype):
        out = values.to_numpy(dtype=float)
    else:
        if pd.to_numeric(values.iloc[:100], errors="coerce").isna().any():
            return None  # a first look: text codes are seldom numbers after the first rows
        out = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return out if np.all(np.isfinite(out)) else None


def _skill(y: np.ndarray, pred: np.ndarray, task: str) -> float:
    """Out-of-fold predictions scored on one scale: R^2, or 2 AUC - 1 (``skill``)."""
    if task != "regression":
        return skill(auc(y.astype(np.int64), pred), task)
    sst = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - pred) ** 2).sum()) / sst if sst > 0 else 0.0


def _target_matrix(d: AuditData) -> np.ndarray:
    """The target of the labelled rows as an (n, K) float matrix: the value, or one column per
    class (one for a binary target); computed once per audit."""
    if "split_target" not in d.cache:
        y = d.codes_of(d.labelled)
        if d.task == "regression":
            d.cache["split_target"] = y.astype(float)[:, None]
        else:
            classes = np.arange(1 if len(d.classes) == 2 else len(d.classes))
            d.cache["split_target"] = (y[:, None] == classes[None, :]).astype(float)
    return d.cache["split_target"]


def panel_suggested(d: AuditData) -> list[Finding]:
    """A panel or event log (an entity column repeating once per time over a time-like column)
    when the user gave no time column: random K-fold then trains on an entity's later rows to
    score its earlier ones, and the rows' history goes unused."""
    if d.groups is not None or d.time is not None:
        return []
    out = []
    for column in time_candidates(d.frame, d.schema):
        order = as_time(d.frame, column, d.schema)
        name = None if order is None else panel_entity(d.frame, d.schema, column, order)
        if name is None:
            continue
        n, times = repeats(entity_keys(d.frame[name]), order)
        out.append(Finding(
            check="panel_suggested", severity="warning", columns=(name, column),
            message=f"the rows look like a panel: {name!r} repeats over {column!r} ({n} "
                    f"entities, a median of {times:g} times each). If new rows continue these "
                    "entities later in time, random K-fold overstates the score and each row's "
                    "history goes unused.",
            evidence={"entity": name, "time_column": column, "entities": n,
                      "median_times": times},
            suggestion=f"pass time_column={column!r}, entity={name!r} (CLI: --time-column "
                       f"{column} --entity {name}): time-ordered folds and each entity's earlier "
                       "known targets as features."))
    return out


def panel_detected(d: AuditData) -> list[Finding]:
    """With a time column: the entity whose history fit would follow (fit says it itself)."""
    if d.groups is not None or d.time is None or d.time_column not in d.frame.columns:
        return []
    name = panel_entity(d.frame, d.schema, d.time_column, d.time)
    if name is None:
        return []
    n, times = repeats(entity_keys(d.frame[name]), d.time)
    return [Finding(
        check="panel_detected", severity="info", columns=(name, d.time_column),
        message=f"{name!r} repeats over {d.time_column!r} ({n} entities, a median of "
                f"{times:g} times each): fit with this time column gives each row its entity's "
                "earlier known targets as features (entity inferred).",
        evidence={"entity": name, "time_column": d.time_column, "entities": n,
                  "median_times": times},
        suggestion="pass entity='column' to name another, or entity=False for none (CLI: "
                   "--entity).")]


CHECKS = (split_groups, split_time, panel_suggested, panel_detected)
