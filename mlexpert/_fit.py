"""fit(): data -> schema -> plan -> search -> metrics -> Model. The orchestration, nothing else."""
from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._clock import Deadline
from mlexpert._version import __version__
from mlexpert.bundle import FORMAT, FORMAT_VERSION, Model, library_versions
from mlexpert.data import Role, infer_schema, read_table
from mlexpert.errors import DataError, bad_option, missing_column
from mlexpert.evaluate import bootstrap_interval, metrics_for
from mlexpert.findings import Finding
from mlexpert.plan import make_plan
from mlexpert.search import PRESETS, SearchEvent, SearchSpec, run_search

MIN_ROWS = 10


def _fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 over column names, dtypes and row hashes: same table, same fingerprint."""
    h = hashlib.sha256()
    h.update(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
    try:
        h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    except TypeError:  # unhashable cells (lists, dicts): fall back to their text
        h.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
    return h.hexdigest()


def _column_or_values(frame: pd.DataFrame, value: Any, option: str) -> tuple[np.ndarray, str | None]:
    """Resolve an option given as a column name or as one value per row."""
    if isinstance(value, str):
        if value not in frame.columns:
            raise missing_column(value, option, frame.columns)
        return frame[value].to_numpy(), value
    values = np.asarray(value)
    if values.ndim != 1 or len(values) != len(frame):
        raise bad_option(option, f"array of shape {values.shape}",
                         f"a column name or one value per row ({len(frame)})")
    return values, None


def _encode_target(y: pd.Series, task: str) -> tuple[np.ndarray, list[Any] | None]:
    if task == "regression":
        return y.to_numpy(dtype=float), None
    values = y.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else v)
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # mixed types (e.g. 1 and "a"): compare as text
        codes, uniques = pd.factorize(values.astype(str), sort=True)
    classes = [u.item() if isinstance(u, np.generic) else u for u in uniques]
    return codes.astype(int), classes


def fit(data: Any, target: str, *, time_limit: float = 60.0, seed: int = 0,
        task: str | None = None, metric: str | None = None, groups: Any = None,
        time_column: str | None = None, sample_weight: Any = None,
        ignore_columns: Sequence[str] = (), presets: str = "medium",
        progress: Callable[[SearchEvent], None] | None = None) -> Model:
    """Fit the best model (or ensemble) for ``target`` within ``time_limit`` seconds.

    ``data``: pandas/polars DataFrame, pyarrow Table or CSV/Parquet path. ``groups`` and
    ``sample_weight`` take a column name or one value per row. The whole call, refit included,
    ends within ``time_limit`` plus a small fixed overhead.
    """
    started = time.monotonic()
    if not isinstance(time_limit, int | float) or not np.isfinite(time_limit) or time_limit <= 0:
        raise bad_option("time_limit", time_limit, "a positive number of seconds")
    if presets not in PRESETS:
        raise bad_option("presets", presets, f"one of {', '.join(PRESETS)}")
    deadline = Deadline(started + float(time_limit))
    frame = read_table(data)
    source = f"file {str(data)!r}" if isinstance(data, str | os.PathLike) else "the data"
    if frame.shape[1] == 0:
        raise DataError(f"{source} has no columns.")
    if len(frame) == 0:
        raise DataError(f"{source} has a header but no rows; add data rows.")
    if target not in frame.columns:
        raise missing_column(target, "target", frame.columns)
    findings: list[Finding] = []

    y_raw = frame[target]
    if pd.api.types.is_numeric_dtype(y_raw.dtype) and not pd.api.types.is_bool_dtype(y_raw.dtype):
        y_raw = y_raw.replace([np.inf, -np.inf], np.nan)
    keep = y_raw.notna().to_numpy()
    if not keep.any():
        raise DataError(f"target column {target!r} has no values: every row is missing. "
                        "Check the column name and the file.")
    if not keep.all():
        n_drop = int((~keep).sum())
        findings.append(Finding(
            check="target_missing", severity="warning", columns=(target,),
            message=f"{n_drop} row(s) with a missing target were dropped.",
            evidence={"rows_dropped": n_drop, "rows_kept": int(keep.sum())},
            suggestion="fill in the target for those rows if they should count."))

    groups_values, groups_col = (None, None) if groups is None else _column_or_values(frame, groups, "groups")
    weight_values, weight_col = ((None, None) if sample_weight is None
                                 else _column_or_values(frame, sample_weight, "sample_weight"))
    order = None
    if time_column is not None:
        if time_column not in frame.columns:
            raise missing_column(time_column, "time", frame.columns)
        order = _time_order(frame[time_column], time_column)
    for col in ignore_columns:
        if col not in frame.columns:
            raise missing_column(col, "ignored", frame.columns)

    frame = frame.loc[keep].reset_index(drop=True)
    y_raw = y_raw[keep].reset_index(drop=True)
    sel = np.flatnonzero(keep)
    groups_values = None if groups_values is None else groups_values[sel]
    weight_values = None if weight_values is None else _check_weights(weight_values[sel], weight_col)
    order = None if order is None else order[sel]
    if groups_values is not None and pd.isna(groups_values).any():
        raise DataError(f"groups{' column ' + repr(groups_col) if groups_col else ''} has missing "
                        "values; every row needs a group.")
    if len(frame) < MIN_ROWS:
        raise DataError(f"only {len(frame)} row(s) have a target; mlexpert needs at least "
                        f"{MIN_ROWS} to cross-validate a model. Add rows.")

    drop = {target, *ignore_columns} | {c for c in (groups_col, weight_col) if c}
    features = frame.drop(columns=[c for c in frame.columns if c in drop])
    if features.shape[1] == 0:
        raise DataError(f"no feature columns left besides target {target!r}: add columns that "
                        "explain the target.")
    schema = infer_schema(features)
    if not schema.features:
        roles = ", ".join(f"{c.name!r} ({c.role}: {c.reason})" for c in schema.columns[:8])
        raise DataError(f"no usable feature columns: every column was excluded ({roles}).")
    findings += schema.findings() + _inf_findings(features, schema)

    plan = make_plan(schema, features, y_raw, task=task, metric=metric, groups=groups_values,
                     time_order=order, seed=seed)
    findings += plan.findings
    if plan.task != "regression":
        counts = y_raw.astype(str).value_counts()
        rare = counts[counts < 2]
        if len(rare):
            findings.append(Finding(
                check="rare_class", severity="warning", columns=(target,),
                message=f"class(es) {', '.join(map(repr, rare.index[:5]))} have a single row and "
                        "were dropped: one example cannot be cross-validated.",
                evidence={"classes": {str(k): int(v) for k, v in rare.items()}},
                suggestion="collect more examples of those classes or merge them."))
            ok = ~y_raw.astype(str).isin(rare.index).to_numpy()
            features, y_raw = features[ok].reset_index(drop=True), y_raw[ok].reset_index(drop=True)
            groups_values = None if groups_values is None else groups_values[ok]
            weight_values = None if weight_values is None else weight_values[ok]
            order = None if order is None else order[ok]
            plan = make_plan(schema, features, y_raw, task=plan.task, metric=plan.metric.name,
                             groups=groups_values, time_order=order, seed=seed)
    y, classes = _encode_target(y_raw, plan.task)
    X = schema.prepare(features)
    folds = plan.split.folds(y, groups_values, order)
    spec = SearchSpec(task=plan.task, n_classes=len(classes) if classes else 0, metric=plan.metric,
                      folds=folds, deadline=deadline, seed=seed, preset=presets,
                      sample_weight=weight_values,
                      finish_seconds=min(5.0, 0.25 + 0.02 * float(time_limit)))
    result = run_search(X, y, schema, spec, progress)

    cv_metrics = {}
    m = result.oof_mask
    w = None if weight_values is None else weight_values[m]
    for metric_obj in metrics_for(plan.task):
        if deadline.remaining() < 0.1 and metric_obj is not plan.metric:
            break
        try:
            value = metric_obj.score(y[m], result.oof[m], w)
        except ValueError:
            continue
        entry = {"value": value, "low": float("nan"), "high": float("nan")}
        if metric_obj is plan.metric:
            entry["low"], entry["high"] = bootstrap_interval(metric_obj, y[m], result.oof[m], w,
                                                             n_resamples=200, seed=seed)
        cv_metrics[metric_obj.name] = entry

    weights = {mem.name: mem.weight for mem in result.members}
    refit = {mem.name: ("all rows" if mem.refit else f"{len(mem.parts)}-fold bag")
             for mem in result.members}
    board = [{"model": c.name, "family": c.family, "score": c.score, "status": c.status,
              "fit_seconds": round(c.fit_seconds, 3), "ensemble_weight": weights.get(c.name, 0.0),
              "final_fit": refit.get(c.name, ""), "note": c.note} for c in result.candidates]
    if len(result.members) > 1:
        board.append({"model": "ensemble", "family": "ensemble", "score": result.ensemble_score,
                      "status": "ok", "fit_seconds": round(sum(c.fit_seconds for c in result.candidates), 3),
                      "ensemble_weight": 1.0, "final_fit": "", "note": f"{len(result.members)} members"})
    sign = 1 if plan.metric.greater_is_better else -1
    board.sort(key=lambda r: (r["score"] is None, -sign * (r["score"] if r["score"] is not None else 0)))
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "mlexpert_version": __version__,
        "libraries": library_versions(),
        "target": {"name": target, "task": plan.task, "classes": classes},
        "metric": plan.metric.name,
        "metrics": {"cv": cv_metrics, "cv_note": "out-of-fold predictions of the final ensemble; "
                    "95 % percentile bootstrap interval for the headline metric"},
        "schema": schema.to_dict(),
        "plan": {"task": plan.task, "metric": plan.metric.name, "split": plan.split.to_dict(),
                 "groups": groups_col, "time_column": time_column, "sample_weight": weight_col,
                 "ignored_columns": list(ignore_columns), "presets": presets},
        "leaderboard": board,
        "ensemble": [{"model": mem.name, "family": mem.family, "weight": mem.weight,
                      "final_fit": refit[mem.name]} for mem in result.members],
        "findings": [f.to_dict() for f in findings],
        "provenance": {"data_fingerprint": _fingerprint(frame), "rows": int(len(y)),
                       "columns": int(frame.shape[1]), "seed": seed, "time_limit": float(time_limit),
                       "fit_seconds": round(time.monotonic() - started, 3), "created_at": created,
                       "source": str(data) if isinstance(data, str) else type(data).__name__},
    }
    return Model(manifest, result.members)


def _time_order(values: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        parsed = values.astype(float)
        order = parsed.to_numpy()
    else:
        parsed = pd.to_datetime(values, errors="coerce", format="mixed")
        order = parsed.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float)
    bad = parsed.isna() & values.notna()
    if bad.any() or values.isna().any():
        row = int(np.flatnonzero((bad | values.isna()).to_numpy())[0])
        raise DataError(f"time column {name!r} has a missing or unreadable value at row {row} "
                        f"({values.iloc[row]!r}); every row needs a date or a number there.")
    return order


def _check_weights(values: np.ndarray, column: str | None) -> np.ndarray:
    what = f"sample_weight column {column!r}" if column else "sample_weight"
    try:
        w = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{what} must hold numbers.") from None
    if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise DataError(f"{what} must be finite, non-negative and not all zero.")
    return w


def _inf_findings(features: pd.DataFrame, schema: Any) -> list[Finding]:
    out = []
    for name in schema.names(Role.NUMERIC):
        col = features[name]
        if pd.api.types.is_float_dtype(col.dtype):
            n_inf = int(np.isinf(col.to_numpy()).sum())
            if n_inf:
                out.append(Finding(
                    check="infinite_values", severity="warning", columns=(name,),
                    message=f"column {name!r} has {n_inf} infinite value(s); they are treated as "
                            "missing.", evidence={"count": n_inf},
                    suggestion="replace them at the source if they encode something (e.g. a cap)."))
    return out
