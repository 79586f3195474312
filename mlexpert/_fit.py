"""fit(): data -> schema -> plan -> search -> metrics -> Model. The orchestration, nothing else."""
from __future__ import annotations

import hashlib
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._clock import Deadline
from mlexpert._manifest import Manifest, Target
from mlexpert.audits import audit_for_fit, fit_budget
from mlexpert.bundle import Model
from mlexpert.data import Role, infer_schema, read_rows, time_values
from mlexpert.errors import ConfigError, DataError, bad_option, missing_column
from mlexpert.evaluate import (
    OBJECTIVES,
    check_cost_matrix,
    corrected_t_test,
    diagnostics,
    post_fit,
    score_all,
)
from mlexpert.findings import Finding
from mlexpert.monitor import build_reference, prediction_values
from mlexpert.plan import make_plan
from mlexpert.search import (
    PRESETS,
    Executor,
    SearchEvent,
    SearchSpec,
    cpu_count,
    pickled_mb,
    row_ms,
    run_search,
)

MIN_ROWS = 10
MULTITHREAD_ROWS = 20_000
INDISTINGUISHABLE_P = 0.05  # p_vs_best at or above: not significantly worse than the best
POST_SECONDS_PER_CELL = 1e-5  # per out-of-fold row and class: the work after the search


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


@dataclass
class _Rows:
    """The target and the per-row options, kept aligned whenever rows are dropped."""

    y: pd.Series
    groups: np.ndarray | None = None
    weights: np.ndarray | None = None
    order: np.ndarray | None = None

    def take(self, keep: np.ndarray) -> _Rows:
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[keep]

        return _Rows(self.y[keep].reset_index(drop=True), pick(self.groups), pick(self.weights),
                     pick(self.order))


LOCAL_ONLY = ("groups", "time_column", "sample_weight", "infer_limit", "size_limit",
              "optimize_threshold", "cost_matrix")  # options only the in-process fit supports (and budget > 0)


def fit(data: Any, target: str, *, data_on_cluster: bool | None = None, **options: Any) -> Model:
    """``_fit_local`` in this process, or on the Dask cluster's workers (``_cluster_route``)
    when the data should stay there: ``data_on_cluster=True``, or None with Parquet input, a
    Dask executor, no local-only option and data too big for this machine or one worker."""
    if data_on_cluster not in (None, True, False):
        raise bad_option("data_on_cluster", data_on_cluster, "True, False or None (auto)")
    from mlexpert.distributed import is_parquet_source

    executor = options.get("executor")
    dask = (isinstance(executor, str) and executor.startswith("dask://")) or \
        hasattr(executor, "client")
    if data_on_cluster is False or (data_on_cluster is None and not (
            dask and is_parquet_source(data) and not _check_options(options))):
        return _fit_local(_read_glob(data), target, **options)
    if not isinstance(data, str | os.PathLike):
        raise ConfigError("data_on_cluster=True needs Parquet files on storage the workers "
                          f"reach (a path, folder or glob), but got a {type(data).__name__}.")
    if not dask:
        raise ConfigError("data_on_cluster=True needs a Dask executor: pass executor="
                          "'dask://local' or 'dask://tcp://host:8786' (CLI: --dask).")
    local_only = _check_options(options)
    if local_only:
        raise ConfigError(f"data_on_cluster=True does not support {', '.join(local_only)}: "
                          "drop it, or pass data_on_cluster=False to fit in one process.")
    from mlexpert.distributed import (
        available_memory,
        connect,
        scan_parquet,
        wants_cluster,
        worker_memory_limits,
    )

    started = time.monotonic()
    source = scan_parquet(str(data), target)  # bad files: an error before a cluster starts
    owned = connect(executor) if isinstance(executor, str) else None
    try:
        runner = owned or executor
        if data_on_cluster is None and not wants_cluster(
                source.nbytes, available_memory(), worker_memory_limits(runner.client)):
            return _fit_local(_read_glob(data), target, **{**options, "executor": runner})
        return _cluster_route(source, target, runner, started, options)
    finally:
        if owned is not None:
            owned.shutdown()


def _check_options(options: dict[str, Any]) -> list[str]:
    """The local-only options ``options`` asks for."""
    asked = [k for k in LOCAL_ONLY if options.get(k) is not None]
    return asked + (["budget"] if options.get("budget") else [])


def _read_glob(data: Any) -> Any:
    """A glob of CSV/Parquet files as one table (the same columns in every file); else ``data``."""
    import glob

    if not isinstance(data, str) or not glob.has_magic(data) or os.path.exists(data):
        return data
    from mlexpert.distributed import partitions

    frames = []
    for path in partitions(data):
        frame = read_rows(path)
        if frames and list(frame.columns) != list(frames[0].columns):
            raise DataError(f"file {path!r} has columns {list(frame.columns)[:8]}, unlike the "
                            f"first file's {list(frames[0].columns)[:8]}: every file matched by "
                            f"{data!r} needs the same columns.")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _cluster_route(source: Any, target: str, executor: Any, started: float,
                   options: dict[str, Any]) -> Model:
    """Train on the cluster (``distributed.train_on_cluster``) and assemble the bundle's model."""
    from mlexpert.distributed import train_on_cluster

    time_limit, seed = options.get("time_limit", 60.0), options.get("seed", 0)
    if not isinstance(time_limit, int | float) or not np.isfinite(time_limit) or time_limit <= 0:
        raise bad_option("time_limit", time_limit, "a positive number of seconds")
    out = train_on_cluster(source, target, executor,
                           deadline=Deadline(started + float(time_limit)), time_limit=time_limit,
                           seed=seed, task=options.get("task"), metric=options.get("metric"),
                           ignore_columns=options.get("ignore_columns", ()),
                           keep_columns=options.get("keep_columns", ()),
                           progress=options.get("progress"))
    reference = build_reference(out.schema, out.sample, seed=seed, predictions=prediction_values(
        out.sample_raw, out.task, out.classes))
    manifest = Manifest.from_dict({
        **out.manifest,
        "findings": [f.to_dict() for f in out.findings],
        "provenance": {"data_fingerprint": source.fingerprint,
                       "data_fingerprint_of": "the Parquet footers (names, types, rows, sizes)",
                       "rows": out.manifest["cluster"]["rows"],
                       "columns": len(source.columns), "seed": seed,
                       "time_limit": float(time_limit),
                       "fit_seconds": round(time.monotonic() - started, 3),
                       "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       "source": source.pattern, "command": " ".join(sys.argv),
                       "call": {k: v for k, v in options.items() if isinstance(
                           v, str | int | float | bool | list | tuple | type(None))}},
        "reference": reference.to_manifest(),
    })
    latency = _latency(manifest, out.members, reference, out.sample.iloc[:1],
                       Deadline(started + float(time_limit)))
    return Model(manifest.with_sections(inference={
        "latency_ms_per_row": latency, "estimated_ms_per_row": None, "infer_limit_seconds": None,
        "note": "median of single-row predict calls at the end of fit (batch size 1)"}),
        out.members, reference.sample)


def _fit_local(data: Any, target: str, *, time_limit: float = 60.0, seed: int = 0,
        task: str | None = None, metric: str | None = None, groups: Any = None,
        time_column: str | None = None, sample_weight: Any = None,
        ignore_columns: Sequence[str] = (), keep_columns: Sequence[str] = (),
        presets: str = "balanced", budget: int | None = None,
        executor: Executor | str | None = None, infer_limit: float | None = None,
        size_limit: float | None = None,
        progress: Callable[[SearchEvent], None] | None = None, calibrate: bool = True,
        optimize_threshold: str | None = None, cost_matrix: Any = None) -> Model:
    """Fit the best model (or ensemble) for ``target`` within ``time_limit`` seconds.

    ``data``: pandas/polars DataFrame, pyarrow Table or CSV/Parquet path. ``groups`` and
    ``sample_weight`` take a column name or one value per row. The whole call, refit included,
    ends within ``time_limit`` plus a small fixed overhead. ``budget``: the number of tuning
    trials after the portfolio (then the same inputs give the same model on any machine, and
    ``time_limit`` is only a safety cap); None tunes while time is left. ``keep_columns``:
    columns to use even where the audit would leave them out (leaks, identifiers).
    ``infer_limit``: the most seconds one row may take to predict at batch size 1; the search
    ships only models (and ensembles) estimated to meet it, else the fastest candidate.
    ``size_limit``: the same for the megabytes the shipped models take pickled.
    ``calibrate``: recalibrate probabilities when it lowers out-of-fold log loss.
    ``optimize_threshold`` (binary): a label metric (f1, balanced_accuracy, mcc, accuracy) or
    "cost" with ``cost_matrix`` [[TN, FP], [FN, TP]]; the chosen threshold sets predicted labels.
    """
    started = time.monotonic()
    call = {k: v for k, v in locals().items() if k not in ("data", "progress", "executor", "started")
            and isinstance(v, str | int | float | bool | list | tuple | type(None))}
    objective, costs = _decision_options(optimize_threshold, cost_matrix)
    if not isinstance(time_limit, int | float) or not np.isfinite(time_limit) or time_limit <= 0:
        raise bad_option("time_limit", time_limit, "a positive number of seconds")
    if presets not in PRESETS:
        raise bad_option("presets", presets, f"one of {', '.join(PRESETS)}")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 0):
        raise bad_option("budget", budget, "a number of tuning trials (0 or more), or None")
    if infer_limit is not None and (isinstance(infer_limit, bool) or not isinstance(
            infer_limit, int | float) or not np.isfinite(infer_limit) or infer_limit <= 0):
        raise bad_option("infer_limit", infer_limit, "a positive number of seconds per row, or None")
    if size_limit is not None and (isinstance(size_limit, bool) or not isinstance(
            size_limit, int | float) or not np.isfinite(size_limit) or size_limit <= 0):
        raise bad_option("size_limit", size_limit, "a positive number of megabytes, or None")
    if isinstance(executor, str) and not executor.startswith("dask://"):
        raise bad_option("executor", executor, "an Executor object, 'dask://local' or "
                         "'dask://tcp://host:port'")
    deadline = Deadline(started + float(time_limit))
    frame = read_rows(data)
    if target not in frame.columns:
        raise missing_column(target, "target", frame.columns)
    for col in ignore_columns:
        if col not in frame.columns:
            raise missing_column(col, "ignored", frame.columns)

    rows, side_columns = _side_inputs(frame, target, groups, sample_weight, time_column)
    keep, findings = _rows_with_target(rows.y)
    frame, rows = frame.loc[keep].reset_index(drop=True), rows.take(keep)
    _check_rows(rows, side_columns)

    drop = {target, *ignore_columns, *(c for c in side_columns.values() if c)}
    features = frame.drop(columns=[c for c in frame.columns if c in drop])
    if features.shape[1] == 0:
        raise DataError(f"no feature columns left besides target {target!r}: add columns that "
                        "explain the target.")
    schema = infer_schema(features)
    if not schema.features:
        roles = ", ".join(f"{c.name!r} ({c.role}: {c.reason})" for c in schema.columns[:8])
        raise DataError(f"no usable feature columns: every column was excluded ({roles}).")
    findings += schema.findings() + _inf_findings(features, schema)

    # data audit (mlexpert.audits): record its findings, leave out conclusive leaks
    audited = audit_for_fit(features, schema, rows.y, task=task, keep_columns=keep_columns,
                            deadline=deadline.sooner(fit_budget(time_limit)), seed=seed,
                            time=rows.order, time_column=time_column)
    findings += audited.findings
    features, schema = features.drop(columns=audited.excluded), audited.schema

    plan = make_plan(schema, features, rows.y, task=task, metric=metric, groups=rows.groups,
                     time_order=rows.order, seed=seed, time_limit=time_limit)
    if plan.task != "regression":
        keep, rare = _classes_with_two_rows(rows.y, target)
        if rare is not None:
            findings.append(rare)
            features, rows = features[keep].reset_index(drop=True), rows.take(keep)
            plan = make_plan(schema, features, rows.y, task=plan.task, metric=plan.metric.name,
                             groups=rows.groups, time_order=rows.order, seed=seed,
                             time_limit=time_limit)
    findings += plan.findings
    if objective is not None and plan.task != "binary":
        raise bad_option("optimize_threshold", objective, f"unset for a {plan.task} task: the "
                         "decision threshold applies to binary targets only")
    y, classes = _encode_target(rows.y, plan.task)
    if plan.metric.applies is not None and not plan.metric.applies(y):
        raise bad_option("metric", plan.metric.name, "a metric defined for this target (MAPE "
                         "needs a target that never crosses zero; use mae or rmse)")
    train_weight, balance = _balanced_weights(y, rows.weights, plan)
    findings += balance
    spec = SearchSpec(task=plan.task, n_classes=len(classes) if classes else 0, metric=plan.metric,
                      folds=plan.split.folds(y, rows.groups, rows.order), deadline=deadline,
                      seed=seed, preset=presets, sample_weight=rows.weights,
                      train_weight=train_weight,
                      finish_seconds=_finish_seconds(time_limit, len(y), len(classes or ())),
                      trials=budget,
                      executor=None if isinstance(executor, str) else executor,
                      n_threads=_threads(len(y)),
                      infer_limit_ms=None if infer_limit is None else 1000.0 * infer_limit,
                      size_limit_mb=None if size_limit is None else float(size_limit),
                      row_overhead_ms=_row_overhead_ms(schema, features))
    X = schema.prepare(features)
    owned = None
    if isinstance(executor, str):  # "dask://local" or "dask://tcp://host:8786"
        from mlexpert.distributed import connect

        spec.executor = owned = connect(executor)
    try:
        result = run_search(X, y, schema, spec, progress)
    finally:
        if owned is not None:
            owned.shutdown()
    findings += [Finding(check="model_choice", severity="info", columns=(), message=note,
                         evidence={}, suggestion="use presets='best' to always ship the ensemble.")
                 for note in result.notes]
    m = result.oof_mask
    post = post_fit(plan.task, y[m], result.oof[m], None if rows.weights is None else rows.weights[m],
                    calibrate=calibrate, objective=objective, costs=costs, seed=seed,
                    deadline=deadline)
    findings += post.findings
    diag = diagnostics(plan.task, y[m], post.oof, classes, post.threshold, seed)
    # drift reference: training statistics, a bounded sample and validation-time predictions
    reference = build_reference(schema, X, seed=seed,
                                predictions=prediction_values(result.oof, plan.task, classes))
    manifest = Manifest(
        target=Target(target, plan.task, classes),
        metric=plan.metric.name,
        # the intervals take the time left, less 1 % of the budget for assembling the model
        metrics={"cv": _cv_metrics(post, y[m], rows.weights, m, plan,
                                   Deadline(deadline.end - 0.01 * float(time_limit)), seed),
                 "cv_note": "out-of-fold predictions of the final ensemble, 95 % percentile "
                            "bootstrap intervals (null where the time limit left none)"},
        schema=schema.to_dict(),
        plan={"task": plan.task, "metric": plan.metric.name, "split": plan.split.to_dict(),
              "groups": side_columns["groups"], "time_column": time_column,
              "sample_weight": side_columns["sample_weight"],
              "ignored_columns": list(ignore_columns), "presets": presets,
              "budget_trials": budget},
        leaderboard=_leaderboard(result, plan.metric, spec),
        ensemble=[{"model": m.name, "family": m.family, "weight": m.weight,
                   "final_fit": _final_fit(m)} for m in result.members],
        findings=[f.to_dict() for f in findings],
        provenance={"data_fingerprint": _fingerprint(frame), "rows": int(len(y)),
                    "columns": int(frame.shape[1]), "seed": seed,
                    "time_limit": float(time_limit),
                    "fit_seconds": round(time.monotonic() - started, 3),
                    "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "source": str(data) if isinstance(data, str) else type(data).__name__,
                    "command": " ".join(sys.argv), "call": call},
        calibration=post.calibration, calibration_report=post.calibration_report,
        decision=post.decision,
        diagnostics={"cv": diag},
        reference=reference.to_manifest(),
    )
    latency = _latency(manifest, result.members, reference, frame.iloc[:1], deadline)
    estimate = round(result.row_latency_ms["ensemble"], 3)
    inference = {
        "latency_ms_per_row": latency, "estimated_ms_per_row": estimate,
        "infer_limit_seconds": infer_limit,
        "note": "latency_ms_per_row: median of single-row predict calls through the members at "
                "the end of fit (what the first calls pay; null when the time limit left no "
                "time to measure); estimated_ms_per_row: the search's estimate once warm, on "
                "the compiled path predict builds after a few small calls (Model.compile() "
                "builds it at once), which infer_limit bounds"}
    more: list[Finding] = []
    if infer_limit is not None and estimate > 1000.0 * infer_limit:
        more.append(Finding(
            check="infer_limit", severity="warning", columns=(),
            message=f"one row is estimated to take {estimate:.2f} ms to predict once compiled, "
                    f"over infer_limit ({1000.0 * infer_limit:.2f} ms).",
            evidence={"estimated_ms": estimate, "first_calls_ms": latency,
                      "infer_limit_ms": 1000.0 * infer_limit},
            suggestion="use presets='fast' or a larger infer_limit; check the machine's load."))
    size = _size(result, size_limit)
    if size_limit is not None and size["measured_mb"] > size_limit:
        more.append(Finding(
            check="size_limit", severity="warning", columns=(),
            message=f"the shipped models take {size['measured_mb']:.1f} MB pickled, over "
                    f"size_limit ({size_limit:.1f} MB).",
            evidence={"measured_mb": size["measured_mb"], "size_limit_mb": size_limit},
            suggestion="use presets='fast' or a larger size_limit; members kept as fold bags "
                       "(no time to refit) take k times more."))
    return Model(manifest.with_sections(
        inference=inference, size=size,
        findings=manifest.findings + [f.to_dict() for f in more]), result.members, reference.sample)


def _latency(manifest: Manifest, members: list[Any], reference: Any, row: pd.DataFrame,
             deadline: Deadline) -> float | None:
    """One-row latency of the model these parts make (``_measured_latency_ms``), measured on
    a Model built for it: the Model fit returns is built once, from the finished manifest."""
    return _measured_latency_ms(Model(manifest, members, reference.sample), row, deadline)


def _size(result: Any, size_limit: float | None) -> dict[str, Any]:
    """The shipped models' pickled megabytes: estimated by the search and, with a size_limit,
    measured (a pickle of every member: milliseconds to a second, so only when asked)."""
    measured = None if size_limit is None else round(pickled_mb(result.members), 3)
    return {"estimated_mb": _round(result.size_mb.get("ensemble")), "measured_mb": measured,
            "size_limit_mb": size_limit,
            "note": "megabytes of the members pickled (members.pkl.gz, uncompressed); measured only with "
                    "size_limit"}


def _finish_seconds(time_limit: float, n_rows: int, n_classes: int) -> float:
    """Seconds held back from the search for what follows it (calibration, metrics with
    intervals, diagnostics, the reference): a fixed slice of the budget plus their cost, which
    grows with rows x classes (4 s for 4,000 rows x 60 classes on a busy 2-core machine), at
    most 10 % of the budget more."""
    cells = n_rows * max(n_classes, 2) if n_classes else n_rows
    return min(5.0, 0.25 + 0.02 * float(time_limit)) + min(0.1 * float(time_limit),
                                                           POST_SECONDS_PER_CELL * cells)


def _row_overhead_ms(schema: Any, features: pd.DataFrame) -> float:
    """Milliseconds validating one row takes (``Schema.prepare_arrays``, as a warm model's
    compiled path does): what every prediction pays first."""
    row = features.iloc[:1]
    return row_ms(lambda: schema.prepare_arrays(row))


def _measured_latency_ms(model: Model, row: pd.DataFrame, deadline: Deadline) -> float | None:
    """Median ms of up to 5 single-row predictions through the members (not the compiled path,
    whose build would not fit the budget) after a warm-up, within 0.25 s and the deadline;
    None when no time was left."""
    times: list[float] = []
    stop = deadline.sooner(0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the target column is extra here
        while len(times) < 6 and not stop.expired():
            t0 = time.perf_counter()
            model._labels(*model._predict_raw(row, compiled=False))
            times.append(time.perf_counter() - t0)
    return round(float(np.median(times[1:] or times)) * 1000, 3) if times else None


def _side_inputs(frame: pd.DataFrame, target: str, groups: Any, sample_weight: Any,
                 time_column: str | None) -> tuple[_Rows, dict[str, str | None]]:
    """The target and the per-row options as arrays, and which columns they came from."""
    y = frame[target]
    if pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype):
        y = y.replace([np.inf, -np.inf], np.nan)
    rows, columns = _Rows(y), {"groups": None, "sample_weight": None}
    if groups is not None:
        rows.groups, columns["groups"] = _column_or_values(frame, groups, "groups")
    if sample_weight is not None:
        rows.weights, columns["sample_weight"] = _column_or_values(frame, sample_weight,
                                                                   "sample_weight")
    if time_column is not None:
        if time_column not in frame.columns:
            raise missing_column(time_column, "time", frame.columns)
        rows.order = time_values(frame[time_column], time_column)
    return rows, columns


def _rows_with_target(y: pd.Series) -> tuple[np.ndarray, list[Finding]]:
    """Which rows have a target; dropping the others is said, and no target at all is an error."""
    keep = y.notna().to_numpy()
    if not keep.any():
        raise DataError(f"target column {y.name!r} has no values: every row is missing. "
                        "Check the column name and the file.")
    if keep.all():
        return keep, []
    n_drop = int((~keep).sum())
    return keep, [Finding(
        check="target_missing", severity="warning", columns=(str(y.name),),
        message=f"{n_drop} row(s) with a missing target were dropped.",
        evidence={"rows_dropped": n_drop, "rows_kept": int(keep.sum())},
        suggestion="fill in the target for those rows if they should count.")]


def _check_rows(rows: _Rows, columns: dict[str, str | None]) -> None:
    if rows.weights is not None:
        rows.weights = _check_weights(rows.weights, columns["sample_weight"])
    if rows.groups is not None and pd.isna(rows.groups).any():
        name = f" column {columns['groups']!r}" if columns["groups"] else ""
        raise DataError(f"groups{name} has missing values; every row needs a group.")
    if len(rows.y) < MIN_ROWS:
        raise DataError(f"only {len(rows.y)} row(s) have a target; mlexpert needs at least "
                        f"{MIN_ROWS} to cross-validate a model. Add rows.")


def _classes_with_two_rows(y: pd.Series, target: str) -> tuple[np.ndarray, Finding | None]:
    """Rows whose class has at least two examples (one example cannot be cross-validated)."""
    text = y.astype(str)
    counts = text.value_counts()
    rare = counts[counts < 2]
    if rare.empty:
        return np.ones(len(y), dtype=bool), None
    return ~text.isin(rare.index).to_numpy(), Finding(
        check="rare_class", severity="warning", columns=(target,),
        message=f"class(es) {', '.join(map(repr, rare.index[:5]))} have a single row and "
                "were dropped: one example cannot be cross-validated.",
        evidence={"classes": {str(k): int(v) for k, v in rare.items()}},
        suggestion="collect more examples of those classes or merge them.")


def _cv_metrics(post: Any, y: np.ndarray, weights: np.ndarray | None, mask: np.ndarray,
                plan: Any, deadline: Deadline, seed: int) -> dict[str, dict[str, float]]:
    """Every metric of the task on the shipped model's out-of-fold predictions (calibrated
    cross-fitted when calibrated; labels at the decision threshold), each with a bootstrap
    interval (1,000 resamples) unless the budget ran out (then NaN)."""
    return score_all(plan.task, y, post.oof, None if weights is None else weights[mask],
                     threshold=post.threshold, n_resamples=1000, seed=seed, deadline=deadline)


def _decision_options(objective: str | None, costs: Any) -> tuple[str | None, list[list[float]] | None]:
    """Validate optimize_threshold / cost_matrix; a cost matrix alone means objective "cost"."""
    if costs is not None:
        costs = check_cost_matrix(costs)
        objective = objective or "cost"
    if objective is not None and objective not in OBJECTIVES:
        raise bad_option("optimize_threshold", objective, f"one of {', '.join(OBJECTIVES)}")
    if objective == "cost" and costs is None:
        raise bad_option("cost_matrix", None, "given with optimize_threshold='cost'")
    return objective, costs


def _final_fit(member: Any) -> str:
    if not member.refit:
        return f"{len(member.parts)}-fold bag"
    return "all rows" if len(member.parts) == 1 else f"all rows, {len(member.parts)} seeds"


def _leaderboard(result: Any, metric: Any, spec: SearchSpec) -> list[dict[str, Any]]:
    """One row per candidate (and the ensemble when it has several members), best first: CV
    score with its std over folds, fit seconds, predict ms per 1,000 rows, and the one-sided
    p-value that the best is better only by chance (same folds, corrected paired t-test)."""
    members = {m.name: m for m in result.members}
    board = [{"model": c.name, "family": c.family, "score": c.score,
              "score_std": _std(c.fold_scores) if c.score is not None else None,
              "status": c.status, "fit_seconds": round(c.fit_seconds, 3),
              "predict_ms_per_1k": round(c.predict_ms, 3) if c.fold_scores else None,
              "latency_ms_per_row": _round(result.row_latency_ms.get(c.name)),
              "size_mb": _round(result.size_mb.get(c.name)),
              "ensemble_weight": members[c.name].weight if c.name in members else 0.0,
              "final_fit": _final_fit(members[c.name]) if c.name in members else "",
              "note": c.note, "_folds": c.fold_scores} for c in result.candidates]
    if len(result.members) > 1:
        board.append({"model": "ensemble", "family": "ensemble", "score": result.ensemble_score,
                      "score_std": _std(result.ensemble_fold_scores), "status": "ok",
                      "fit_seconds": round(sum(c.fit_seconds for c in result.candidates), 3),
                      "predict_ms_per_1k": round(result.ensemble_predict_ms, 3),
                      "latency_ms_per_row": _round(result.row_latency_ms.get("ensemble")),
                      "size_mb": _round(result.size_mb.get("ensemble")),
                      "ensemble_weight": 1.0, "final_fit": "",
                      "note": f"{len(result.members)} members", "_folds": result.ensemble_fold_scores})
    sign = 1 if metric.greater_is_better else -1
    board.sort(key=lambda r: (r["score"] is None, -sign * (r["score"] or 0.0)))
    best = board[0]["_folds"]
    for i, row in enumerate(board):
        folds = row.pop("_folds")
        p = corrected_t_test(sign * np.asarray(best), sign * np.asarray(folds), spec.test_fraction) \
            if i and row["score"] is not None and len(folds) == len(best) else None
        row["p_vs_best"] = None if p is None or not np.isfinite(p) else round(p, 4)
        # statistically indistinguishable from the best: not significantly worse at 5 % (one-sided)
        row["indistinguishable"] = i == 0 or (row["p_vs_best"] is not None
                                              and row["p_vs_best"] >= INDISTINGUISHABLE_P)
    return board


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def _threads(n_rows: int) -> int:
    """Threads per model fit. One below ``MULTITHREAD_ROWS`` rows: there a second thread gains
    at most ~1.5x on an idle machine, while on a busy one OpenMP's barriers made LightGBM up to
    50x slower (0.4 s -> 25 s on 1,600 rows, bench/threads.py); bigger data gains more from
    threads and has more work per barrier."""
    return 1 if n_rows < MULTITHREAD_ROWS else cpu_count()


def _std(scores: list[float]) -> float | None:
    finite = [s for s in scores if np.isfinite(s)]
    return float(np.std(finite, ddof=1)) if len(finite) > 1 else None


def _balanced_weights(y: np.ndarray, weights: np.ndarray | None,
                      plan: Any) -> tuple[np.ndarray | None, list[Finding]]:
    # None: train with the user's weights as they are
    """For metrics that count every class equally (balanced accuracy, macro F1), weight rows by
    inverse class frequency when the classes are imbalanced (largest over smallest > 2)."""
    if plan.task == "regression" or plan.metric.name not in ("balanced_accuracy", "f1_macro"):
        return None, []
    counts = np.bincount(y)
    counts = counts[counts > 0]
    if counts.max() / counts.min() <= 2:
        return None, []
    per_row = (len(y) / (len(counts) * np.bincount(y).astype(float)))[y]
    base = np.ones(len(y)) if weights is None else weights
    return base * per_row, [Finding(
        check="class_weights", severity="info", columns=(),
        message=f"classes are imbalanced ({int(counts.max())} vs {int(counts.min())} rows) and "
                f"{plan.metric.name} counts each class equally: rows are weighted by inverse "
                "class frequency during training.",
        evidence={"largest_class": int(counts.max()), "smallest_class": int(counts.min())},
        suggestion="pass metric='log_loss' or 'roc_auc' to train on the natural class balance.")]


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
