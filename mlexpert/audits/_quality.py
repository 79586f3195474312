"""Quality checks: missing values, constant and near-constant columns, duplicated rows, id-like
columns, very high-cardinality categories, numbers stored as text, mixed types, extreme outliers,
placeholder values. Cheap, vectorised, on the whole table."""
from __future__ import annotations

import numpy as np
import pandas as pd

from mlexpert.audits._context import AuditData, listed
from mlexpert.data import Role
from mlexpert.findings import Finding

MISSING_REPORTED = 0.05  # a column missing at least this share of values is listed
NEAR_CONSTANT = 0.995  # share of the most frequent value above which a column is near-constant
HIGH_CARDINALITY = 0.5  # categories per row above which a categorical column is flagged
HIGH_CARDINALITY_MIN = 100
OUTLIER_IQRS = 10.0  # "extreme": further than this many IQRs outside the quartiles
PLACEHOLDER_NUMBERS = (-99, -999, -9999, -99999, 999, 9999, 99999, 999999)
PLACEHOLDER_TEXT = ("n/a", "nan", "null", "?", "-", "--", "#n/a", "")  # not "none": often a real category
PLACEHOLDER_MIN_SHARE = 0.001


def _r(x: float, digits: int = 4) -> float:
    return round(float(x), digits)


def missing_values(d: AuditData) -> list[Finding]:
    rates = d.frame.isna().mean()
    rates = rates[(rates >= MISSING_REPORTED) & (rates < 1.0)].sort_values(ascending=False)
    out = []
    if len(rates):
        cols = [str(c) for c in rates.index]
        out.append(Finding(
            check="missing_values", severity="info", columns=tuple(cols),
            message=f"{len(cols)} column(s) have at least {MISSING_REPORTED:.0%} missing values "
                    f"(most: {cols[0]!r}, {rates.iloc[0]:.1%}).",
            evidence={"missing_rate": {c: _r(v) for c, v in zip(cols, rates, strict=True)}},
            suggestion="tree models use missingness as is; check that it is not caused by a "
                       "join or an export, and add a flag column if it means something."))
    # columns that are always missing together (one upstream cause)
    mask = d.frame.isna()
    partly = [c for c in mask.columns if 0 < mask[c].mean() < 1 and mask[c].sum() >= 10]
    if len(partly) >= 2:
        keys = {c: hash(mask[c].to_numpy().tobytes()) for c in partly}
        groups: dict[int, list[str]] = {}
        for c, k in keys.items():
            groups.setdefault(k, []).append(str(c))
        for cols in groups.values():
            if len(cols) >= 2:
                out.append(Finding(
                    check="co_missing", severity="info", columns=tuple(cols),
                    message=f"columns {', '.join(map(repr, cols[:6]))} are missing in exactly the "
                            f"same {int(mask[cols[0]].sum())} rows.",
                    evidence={"rows_missing": int(mask[cols[0]].sum()), "columns": len(cols)},
                    suggestion="one cause (a failed join, an optional form section) explains them; "
                               "one missing-indicator column describes it."))
    return out


def constant_columns(d: AuditData) -> list[Finding]:
    out = []
    for c in d.schema.columns:
        s = d.frame[c.name]
        if c.role == Role.CONSTANT:
            out.append(Finding(
                check="constant_column", severity="info", columns=(c.name,),
                message=f"column {c.name!r} is constant ({c.reason}): it carries no information "
                        "and fit leaves it out.",
                evidence={"missing_rate": _r(c.missing_rate)},
                suggestion="drop it, or check the extract if it should vary."))
            continue
        if c.role not in (Role.NUMERIC, Role.CATEGORICAL) or len(s) < 100:
            continue
        top = s.value_counts(dropna=False, normalize=True)
        if len(top) and top.iloc[0] >= NEAR_CONSTANT:
            out.append(Finding(
                check="near_constant_column", severity="info", columns=(c.name,),
                message=f"column {c.name!r} has the value {top.index[0]!r} in {top.iloc[0]:.2%} "
                        "of rows.",
                evidence={"top_share": _r(top.iloc[0]), "other_rows": int(round((1 - top.iloc[0]) * len(s)))},
                suggestion="it can matter only for the few other rows; keep it if they matter."))
    return out


def id_columns(d: AuditData) -> list[Finding]:
    return [Finding(
        check="id_column", severity="info", columns=(c.name,),
        message=f"column {c.name!r} looks like an identifier ({c.reason}); fit leaves it out.",
        evidence={"distinct": int(d.frame[c.name].nunique()), "rows": len(d.frame)},
        suggestion="keep it out of the features; use it as groups= if it names an entity that "
                   "repeats, or keep it with keep_columns if it is a real measurement.")
        for c in d.schema.columns if c.role == Role.ID]


def duplicated_rows(d: AuditData) -> list[Finding]:
    cols = [c.name for c in d.schema.columns if c.role != Role.ID]
    if not cols or len(d.frame) < 2:
        return []
    table = d.frame[cols].assign(__target__=d.y.to_numpy())
    try:
        full = table.duplicated(keep="first").to_numpy()
        features_dup = d.frame[cols].duplicated(keep=False).to_numpy()
    except TypeError:  # unhashable cells
        table = table.astype(str)
        full = table.duplicated(keep="first").to_numpy()
        features_dup = d.frame[cols].astype(str).duplicated(keep=False).to_numpy()
    out = []
    n_dup = int(full.sum())
    if n_dup:
        share = n_dup / len(table)
        out.append(Finding(
            check="duplicate_rows", severity="info",
            columns=(), rows=listed(np.flatnonzero(full)),
            message=f"{n_dup} row(s) ({share:.1%}) repeat an earlier row exactly, target included "
                    "(identifier columns aside).",
            evidence={"duplicates": n_dup, "share": _r(share)},
            suggestion="if they are the same record extracted twice, drop them: a copy in a "
                       "validation fold of its original makes cross-validation optimistic."))
    # the same features with different targets: irreducible noise, or labels that disagree
    if d.task != "regression" and features_dup.any():
        keys = _row_keys(d.frame[cols])[features_dup]
        sub = pd.DataFrame({"k": keys, "y": d.y[features_dup].astype(str).to_numpy()})
        n_labels = sub.groupby("k")["y"].nunique()
        conflicting = n_labels[n_labels > 1]
        if len(conflicting):
            rows = np.flatnonzero(features_dup)[sub["k"].isin(conflicting.index).to_numpy()]
            out.append(Finding(
                check="conflicting_duplicates", severity="info", columns=(d.target,),
                rows=listed(rows),
                message=f"{len(conflicting)} set(s) of rows with identical features have "
                        f"different targets ({len(rows)} rows).",
                evidence={"feature_sets": int(len(conflicting)), "rows": int(len(rows))},
                suggestion="either the features miss what decides the target (an upper bound "
                           "on accuracy), or some of those labels are wrong."))
    return out


def _row_keys(frame: pd.DataFrame) -> np.ndarray:
    try:
        return pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:  # unhashable cells (lists, dicts): hash their text
        return pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()


def high_cardinality(d: AuditData) -> list[Finding]:
    out = []
    n = len(d.frame)
    for c in d.schema.columns:
        if c.role != Role.CATEGORICAL:
            continue
        k = int(c.stats.get("n_categories", 0))
        if k >= HIGH_CARDINALITY_MIN and k >= HIGH_CARDINALITY * n:
            out.append(Finding(
                check="high_cardinality", severity="info", columns=(c.name,),
                message=f"categorical column {c.name!r} has {k} distinct values over {n} rows.",
                evidence={"distinct": k, "rows": n, "per_row": _r(k / n)},
                suggestion="most categories are seen once: group rare ones, or use a coarser "
                           "version of the column (e.g. a prefix or a parent category)."))
    return out


def numbers_as_text(d: AuditData) -> list[Finding]:
    out = []
    for c in d.schema.columns:
        s = d.frame[c.name]
        if c.role != Role.NUMERIC or pd.api.types.is_numeric_dtype(s.dtype):
            continue
        text = s.dropna().astype(str)
        bad = text[pd.to_numeric(text, errors="coerce").isna()]
        out.append(Finding(
            check="numbers_as_text", severity="warning" if len(bad) else "info", columns=(c.name,),
            rows=listed(bad.index.to_numpy()),
            message=f"column {c.name!r} holds numbers stored as text" + (
                f"; {len(bad)} value(s) are not numbers and become missing (e.g. "
                f"{', '.join(map(repr, bad.unique()[:3]))})." if len(bad) else
                "; all parse, so it is used as a number (cast it to text if it is a code)."),
            evidence={"not_numbers": int(len(bad)), "examples": [str(v) for v in bad.unique()[:5]]},
            suggestion="clean the column at the source so that every value is a number."))
    return out


def mixed_types(d: AuditData) -> list[Finding]:
    out = []
    for name in d.frame.columns:
        s = d.frame[name]
        if not pd.api.types.is_object_dtype(s.dtype):
            continue
        sample = s.dropna().head(20_000)
        kinds = sample.map(lambda v: "number" if isinstance(v, int | float | np.number)
                           and not isinstance(v, bool) else type(v).__name__)
        counts = kinds.value_counts()
        if len(counts) > 1:
            out.append(Finding(
                check="mixed_types", severity="warning", columns=(str(name),),
                message=f"column {name!r} mixes value types: "
                        + ", ".join(f"{k} ({v})" for k, v in counts.items()) + ".",
                evidence={"types": {str(k): int(v) for k, v in counts.items()}},
                suggestion="give the column one type at the source; mlexpert compares the values "
                           "as text, so 1 and '1' become one category but 1.5 and 'high' do not "
                           "order."))
    return out


def outliers(d: AuditData) -> list[Finding]:
    out = []
    for name in d.schema.names(Role.NUMERIC):
        v = pd.to_numeric(d.frame[name], errors="coerce").to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if len(v) < 50:
            continue
        q1, q3 = np.quantile(v, [0.25, 0.75])
        iqr = q3 - q1
        if iqr <= 0:
            continue
        lo, hi = q1 - OUTLIER_IQRS * iqr, q3 + OUTLIER_IQRS * iqr
        extreme = (v < lo) | (v > hi)
        n = int(extreme.sum())
        if n and n <= 0.01 * len(v):  # a few far values, not a heavy tail
            full = pd.to_numeric(d.frame[name], errors="coerce").to_numpy(dtype=float)
            rows = np.flatnonzero((full < lo) | (full > hi))
            out.append(Finding(
                check="extreme_values", severity="info", columns=(str(name),), rows=listed(rows),
                message=f"column {name!r} has {n} value(s) more than {OUTLIER_IQRS:g} IQRs outside "
                        f"its quartiles (min {v.min():.4g}, max {v.max():.4g}).",
                evidence={"count": n, "q25": float(q1), "q75": float(q3), "min": float(v.min()),
                          "max": float(v.max())},
                suggestion="check them for unit errors or typos; tree models are robust to them, "
                           "linear models less so."))
    return out


def placeholders(d: AuditData) -> list[Finding]:
    out = []
    n = len(d.frame)
    for c in d.schema.columns:
        s = d.frame[c.name]
        if c.role == Role.NUMERIC:
            v = pd.to_numeric(s, errors="coerce")
            if v.min() not in PLACEHOLDER_NUMBERS and v.max() not in PLACEHOLDER_NUMBERS:
                continue  # a placeholder code sits at one end of the range
            counts = v.value_counts()
            rest_lo, rest_hi = v.quantile(0.01), v.quantile(0.99)
            for p in PLACEHOLDER_NUMBERS:
                k = int(counts.get(p, 0))
                if k < 2:
                    continue
                # a sentinel repeats and sits outside the range of the other values
                outside = p < rest_lo - (rest_hi - rest_lo) * 0.1 or p > rest_hi + (rest_hi - rest_lo) * 0.1
                others = v[(v != p) & v.notna()]
                if k >= 2 and k >= PLACEHOLDER_MIN_SHARE * n and outside and len(others) and (
                        p < others.min() or p > others.max()):
                    out.append(_placeholder(c.name, p, k, n, np.flatnonzero((v == p).to_numpy())))
        elif c.role in (Role.CATEGORICAL, Role.TEXT) or not pd.api.types.is_numeric_dtype(s.dtype):
            if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
                continue
            text = s.dropna().astype(str).str.strip().str.lower()
            hits = text[text.isin(PLACEHOLDER_TEXT)]
            if len(hits) >= 2 and len(hits) >= PLACEHOLDER_MIN_SHARE * n:
                values = s.dropna()[hits.index].astype(str).unique()[:5]
                out.append(_placeholder(c.name, ", ".join(repr(v) for v in values), len(hits), n,
                                        hits.index.to_numpy()))
    return out


def _placeholder(name: str, value: object, k: int, n: int, rows: np.ndarray) -> Finding:
    return Finding(
        check="placeholder_values", severity="warning", columns=(name,), rows=listed(rows),
        message=f"column {name!r} has {k} value(s) {value} that look like a code for 'missing'.",
        evidence={"value": str(value), "count": k, "share": _r(k / n)},
        suggestion="replace them with empty values at the source (or when loading, e.g. "
                   "pandas na_values) so that they are not read as real values.")


CHECKS = (missing_values, constant_columns, id_columns, duplicated_rows, high_cardinality,
          numbers_as_text, mixed_types, outliers, placeholders)
