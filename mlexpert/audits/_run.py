"""Running the checks: ``audit`` (the public entry point) and ``audit_for_fit`` (what fit runs on
its training table, within a small slice of its time budget)."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

import mlexpert._options as options
from mlexpert._clock import Deadline
from mlexpert.audits import _labels, _leakage, _quality, _shift, _split, _target
from mlexpert.audits._context import MODEL_ROWS, AuditData
from mlexpert.audits._report import AuditReport
from mlexpert.data import (
    ColumnInfo,
    Role,
    Schema,
    column_stats,
    infer_schema,
    read_rows,
    time_values,
)
from mlexpert.errors import ConfigError, DataError, bad_option, missing_column
from mlexpert.findings import SEVERITIES, Finding
from mlexpert.plan import infer_task, task_finding

Check = Callable[[AuditData], list[Finding]]
GROUPS: dict[str, tuple[Check, ...]] = {
    "quality": _quality.CHECKS, "target": _target.CHECKS, "leakage": _leakage.CHECKS,
    "labels": _labels.CHECKS, "shift": _shift.CHECKS, "split": _split.CHECKS,
}
TASKS = ("binary", "multiclass", "regression")
FIT_SHARE = 0.05  # share of fit's time_limit the fit-time audit may use
# checks whose findings fit already makes itself (schema, target, plan)
_FIT_SKIPS = {_quality.constant_columns, _quality.id_columns, _quality.numbers_as_text,
              _target.single_value, _target.missing_target, _shift.shift,
              _split.panel_detected,  # fit says which entity it follows itself
              _labels.label_issues}  # fit judges labels on its own ensemble (label_finding)
EXCLUDED_CHECKS = ("target_leak", "target_function")  # conclusive: fit leaves the column out


def _run(d: AuditData, checks: Sequence[Check], found: list[Finding] | None = None) -> list[Finding]:
    found = list(found or [])
    for check in checks:
        try:
            found += check(d)
        except Exception as exc:  # one failing check must not hide the others' findings
            d.skipped.append(f"{check.__name__}: failed ({type(exc).__name__}: {exc})")
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(found, key=lambda f: rank[f.severity])


def _target_series(frame: pd.DataFrame, target: str) -> pd.Series:
    y = frame[target]
    if pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype):
        y = y.replace([np.inf, -np.inf], np.nan)
    return y


def _task(y: pd.Series, task: str | None) -> str:
    if task is not None and task not in TASKS:
        raise bad_option("task", task, "one of binary, multiclass, regression")
    n_unique = y.dropna().nunique()
    inferred = infer_task(y.dropna()) if n_unique >= 2 else "multiclass"
    if task is None:
        return inferred
    if task == "regression" and not pd.api.types.is_numeric_dtype(y.dtype):
        raise DataError(f"target {y.name!r} is not numeric, so it cannot be a regression target. "
                        "Pass task='multiclass' or fix the column.")
    if task == "binary" and n_unique > 2:
        raise bad_option("task", task, f"multiclass: target {y.name!r} has {n_unique} classes")
    return "binary" if task == "multiclass" and n_unique == 2 else task


def audit(data: Any, target: str, *, test: Any = None, time_column: str | None = None,
          groups: Any = None, task: str | None = None, seed: int = 0,
          time_limit: float = 60.0, max_rows: int = MODEL_ROWS) -> AuditReport:
    """Check a table before modelling it: quality, target, leakage, label issues, shift.

    ``data``/``test``: DataFrame (pandas, polars), pyarrow Table, or CSV/Parquet path; ``test``
    adds train-vs-test checks (duplicates, shared entities, shift). ``time_column``: checks dates
    later than it and shift between the first and last periods. ``groups``: a column name (or one
    value per row) naming entities. Model-based checks see at most ``max_rows`` rows and stop at
    ``time_limit`` seconds (checks left undone are listed in ``report.skipped``).
    """
    started = time.monotonic()
    options.seconds("time_limit", time_limit)
    if not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 100:
        raise bad_option("max_rows", max_rows, "an integer of at least 100")
    if not isinstance(target, str):
        raise bad_option("target", target, "a column name")
    frame = _read(data)
    if target not in frame.columns:
        raise missing_column(target, "target", frame.columns)
    y = _target_series(frame, target)
    if y.notna().sum() == 0:
        raise DataError(f"target column {target!r} has no values: every row is missing. "
                        "Check the column name and the file.")
    groups_values, groups_column = None, None
    if groups is not None:
        if isinstance(groups, str):
            if groups not in frame.columns:
                raise missing_column(groups, "groups", frame.columns)
            groups_values, groups_column = frame[groups].to_numpy(), groups
        else:
            groups_values = np.asarray(groups)
            if groups_values.ndim != 1 or len(groups_values) != len(frame):
                raise bad_option("groups", f"array of shape {groups_values.shape}",
                                 f"a column name or one value per row ({len(frame)})")
    order = None
    if time_column is not None:
        if not isinstance(time_column, str) or time_column not in frame.columns:
            raise missing_column(str(time_column), "time", frame.columns)
        order = time_values(frame[time_column], time_column)
    test_frame = None if test is None else _read(test)
    features = frame.drop(columns=[c for c in (target, groups_column) if c])
    if features.shape[1] == 0:
        raise DataError(f"no feature columns besides target {target!r}: nothing to audit.")
    schema = infer_schema(features)
    task_ = _task(y, task)
    d = AuditData(frame=features, y=y, target=target, task=task_, schema=schema,
                  deadline=Deadline(started + float(time_limit)), seed=seed, test=test_frame,
                  time=order, time_column=time_column, groups=groups_values,
                  groups_column=groups_column, max_rows=max_rows)
    if y.dropna().astype(str).nunique() < 2:  # nothing to learn: quality and target checks only
        checks = [*_quality.CHECKS, *_target.CHECKS]
    else:
        checks = [c for group in GROUPS.values() for c in group]
    said = task_finding(y, task_) if task is None else None  # fit's plan says it on that path
    findings = _run(d, checks, [said] if said is not None else [])
    return AuditReport(findings=findings, target=target, task=task_, rows=len(frame),
                       columns=int(features.shape[1]),
                       test_rows=None if test_frame is None else len(test_frame),
                       seconds=time.monotonic() - started, skipped=d.skipped)


def _read(data: Any) -> pd.DataFrame:
    return read_rows(data).reset_index(drop=True)


@dataclass(frozen=True)
class FitAudit:
    """What fit takes from the audit: findings to record, columns it excludes (conclusive
    leaks), and the schema to train with (those columns out, kept identifiers back in)."""

    findings: list[Finding]
    excluded: list[str]
    schema: Schema


def audit_for_fit(features: pd.DataFrame, schema: Schema, y: pd.Series, *, task: str | None,
                  deadline: Deadline, keep_columns: Sequence[str] = (), seed: int = 0,
                  time: np.ndarray | None = None, time_column: str | None = None,
                  groups: np.ndarray | None = None) -> FitAudit:
    """The audit fit runs on its training table (target present on every row), stopping at
    ``deadline``. Conclusive leaks (a deterministic function of the target, or a single-feature
    CV score >= 0.999) are excluded unless named in ``keep_columns``; identifiers named there
    are used as features. Labels are never changed. ``time`` or ``groups`` (one value per row:
    the split the user chose) turn the split hints off."""
    keep = list(dict.fromkeys(keep_columns))
    for col in keep:
        if col not in features.columns:
            raise missing_column(col, "kept", features.columns)
    features = features.reset_index(drop=True)
    y = y.reset_index(drop=True)
    try:
        task_ = _task(y, task)
    except (ConfigError, DataError):  # make_plan reports bad options with its own wording
        return FitAudit([], [], schema)
    budget = max(deadline.remaining(), 0.0)
    d = AuditData(frame=features, y=y, target=str(y.name), task=task_, schema=schema,
                  deadline=deadline, seed=seed, time=time, time_column=time_column,
                  groups=None if groups is None else np.asarray(groups),
                  max_rows=int(np.clip(budget * 4000, 2000, MODEL_ROWS)))
    checks = [c for group in GROUPS.values() for c in group if c not in _FIT_SKIPS]
    findings = _run(d, checks)
    leaks = list(dict.fromkeys(f.columns[0] for f in findings
                               if f.check in EXCLUDED_CHECKS and f.columns))
    excluded = [c for c in leaks if c not in keep]
    kept = [c for c in keep if c in leaks or _role(schema, c) in (Role.ID, Role.CONSTANT)]
    if excluded:
        findings.append(Finding(
            check="columns_excluded", severity="warning", columns=tuple(excluded),
            message=f"fit left out {len(excluded)} column(s) that leak the target: "
                    f"{', '.join(map(repr, excluded))}.",
            evidence={"columns": excluded},
            suggestion="pass keep_columns (CLI: --keep-columns) to use them anyway."))
    if kept:
        findings.append(Finding(
            check="columns_kept", severity="warning", columns=tuple(kept),
            message=f"kept as asked, though the audit would leave them out: "
                    f"{', '.join(map(repr, kept))}.",
            evidence={"columns": kept},
            suggestion="check the audit's findings on them before trusting the scores."))
    if d.skipped:
        findings.append(Finding(
            check="audit_partial", severity="info", columns=(),
            message="part of the fit-time audit did not run: " + "; ".join(d.skipped) + ".",
            evidence={"skipped": list(d.skipped), "seconds_allowed": round(budget, 2)},
            suggestion="run `mlexpert audit` on the table for the full audit."))
    columns = [_kept_role(c, features[c.name]) if c.name in keep else c
               for c in schema.columns if c.name not in excluded]
    if excluded and not Schema(columns).features:
        raise DataError(f"every usable feature column leaks the target ({', '.join(map(repr, excluded))}); "
                        "add columns known before the target, or pass keep_columns to use these.")
    return FitAudit(findings, excluded, Schema(columns))


def _role(schema: Schema, name: str) -> Role | None:
    return next((c.role for c in schema.columns if c.name == name), None)


def _kept_role(info: ColumnInfo, values: pd.Series) -> ColumnInfo:
    """An identifier the user keeps becomes a numeric or categorical feature."""
    if info.role != Role.ID:
        return info
    numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)
    out = replace(info, role=Role.NUMERIC if numeric else Role.CATEGORICAL,
                  reason="identifier kept by keep_columns")
    out.stats, out.categories = column_stats(out, values)  # the schema's own statistics
    return out


def fit_budget(time_limit: float) -> float:
    """Seconds of fit's ``time_limit`` the fit-time audit may use."""
    return FIT_SHARE * float(time_limit)
