"""The in-process route of ``fit``: data -> schema -> audit -> plan -> search -> evaluation ->
Model. The orchestration, nothing else: each step lives in its own package."""
from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._clock import Deadline
from mlexpert._fit._compile import compile_seconds
from mlexpert._fit._history import history_spec
from mlexpert._fit._inputs import (
    balanced_weights,
    check_rows,
    classes_with_two_rows,
    encode_target,
    inf_findings,
    rows_with_target,
    side_inputs,
)
from mlexpert._fit._options import FitOptions
from mlexpert._fit._record import cv_metrics, final_fit, leaderboard, measure_latency, size_section
from mlexpert._fit._selection import narrowed
from mlexpert._format import library_versions
from mlexpert._manifest import Manifest, Target
from mlexpert.audits import audit_for_fit, fit_budget, label_finding
from mlexpert.bundle import Model
from mlexpert.data import FEATURE_ROLES, fingerprint, infer_schema, read_rows
from mlexpert.ensemble import with_shipped_predictions
from mlexpert.errors import (
    bad_option,
    missing_column,
    no_features,
    no_usable_features,
)
from mlexpert.evaluate import diagnostics, post_fit
from mlexpert.features import EMBEDDING_DISTRIBUTIONS, reads_embeddings
from mlexpert.findings import Finding
from mlexpert.monitor import build_reference, prediction_values
from mlexpert.plan import make_plan
from mlexpert.search import SearchSpec, cpu_count, row_ms, run_search

MULTITHREAD_ROWS = 20_000


POST_SECONDS_PER_CELL = 1e-5  # per out-of-fold row and class: the work after the search


def fit_local(data: Any, target: str, opts: FitOptions, started: float | None = None) -> Model:
    """Fit the best model (or ensemble) for ``target`` within ``opts.time_limit`` seconds of
    ``started`` (now when None), in this process (``mlexpert.fit`` says what each option does).
    The whole call, refit included, ends within the time limit plus a small fixed overhead."""
    started = time.monotonic() if started is None else started
    call = {"target": target, **opts.record()}
    time_limit, seed, task, metric = opts.time_limit, opts.seed, opts.task, opts.metric
    groups, time_column, sample_weight = opts.groups, opts.time_column, opts.sample_weight
    ignore_columns, keep_columns = opts.ignore_columns, opts.keep_columns
    presets, budget, executor, progress = opts.presets, opts.budget, opts.executor, opts.progress
    infer_limit, size_limit, calibrate = opts.infer_limit, opts.size_limit, opts.calibrate
    objective, costs = opts.objective, opts.costs
    # the end of the limit is held back for the compiled one-row path (``fit`` builds it)
    deadline = Deadline(started + float(time_limit) - compile_seconds(time_limit))
    frame = read_rows(data)
    if target not in frame.columns:
        raise missing_column(target, "target", frame.columns)
    for col in ignore_columns:
        if col not in frame.columns:
            raise missing_column(col, "ignored", frame.columns)

    rows, side_columns = side_inputs(frame, target, groups, sample_weight, time_column)
    keep, findings = rows_with_target(rows.y)
    frame, rows = frame.loc[keep].reset_index(drop=True), rows.take(keep)
    check_rows(rows, side_columns)

    drop = {target, *ignore_columns, *(c for c in side_columns.values() if c)}
    features = frame.drop(columns=[c for c in frame.columns if c in drop])
    if features.shape[1] == 0:
        raise no_features(target)
    n_columns = features.shape[1]  # as the audit counts them: the target and side columns left out
    schema = infer_schema(features)
    if not schema.features:
        raise no_usable_features(schema.columns)
    findings += schema.findings() + inf_findings(features, schema)

    # data audit (mlexpert.audits): record its findings, leave out conclusive leaks
    audited = audit_for_fit(features, schema, rows.y, task=task, keep_columns=keep_columns,
                            deadline=deadline.sooner(fit_budget(time_limit)), seed=seed,
                            time=rows.order, time_column=time_column, groups=rows.groups)
    findings += audited.findings
    features, schema = features.drop(columns=audited.excluded), audited.schema
    positions = np.arange(len(rows.y))  # the rows' positions as the audit's findings list them

    plan = make_plan(schema, features, rows.y, task=task, metric=metric, groups=rows.groups,
                     time_order=rows.order, seed=seed, time_limit=time_limit)
    if plan.task != "regression":
        keep, rare = classes_with_two_rows(rows.y, target)
        if rare is not None:
            findings.append(rare)
            features, rows = features[keep].reset_index(drop=True), rows.take(keep)
            positions = positions[keep]
            plan = make_plan(schema, features, rows.y, task=plan.task, metric=plan.metric.name,
                             groups=rows.groups, time_order=rows.order, seed=seed,
                             time_limit=time_limit)
    findings += plan.findings
    if objective is not None and plan.task != "binary":
        raise bad_option("optimize_threshold", objective, f"unset for a {plan.task} task: the "
                         "decision threshold applies to binary targets only")
    y, classes = encode_target(rows.y, plan.task, opts.positive_class, target)
    if plan.metric.applies is not None and not plan.metric.applies(y):
        raise bad_option("metric", plan.metric.name, "a metric defined for this target (MAPE "
                         "needs a target that never crosses zero; use mae or rmse)")
    train_weight, balance = balanced_weights(y, rows.weights, plan)
    findings += balance
    folds = plan.split.folds(y, rows.groups, rows.order)
    history, said = history_spec(opts.entity, time_column, features, schema, rows.order, folds,
                                 y, plan.task)
    findings += said
    spec = SearchSpec(task=plan.task, n_classes=len(classes) if classes else 0, metric=plan.metric,
                      folds=folds, deadline=deadline,
                      seed=seed, preset=presets, sample_weight=rows.weights,
                      train_weight=train_weight,
                      finish_seconds=_finish_seconds(time_limit, len(y), len(classes or ())),
                      trials=budget,
                      executor=None if isinstance(executor, str) else executor,
                      n_threads=_threads(len(y)),
                      infer_limit_ms=None if infer_limit is None else 1000.0 * infer_limit,
                      size_limit_mb=None if size_limit is None else float(size_limit),
                      row_overhead_ms=_row_overhead_ms(schema, features),
                      out_of_bag=plan.split.kind in ("stratified", "kfold"), history=history,
                      select_columns=opts.select_columns and history is None)
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
    full, (schema, said) = schema, narrowed(schema, result.members, result.selections)
    findings += said
    kept = set(schema.names(*FEATURE_ROLES))
    selected_out = [c.name for c in full.features if c.name not in kept]
    if selected_out:
        X = X[[c.name for c in schema.features]]
    findings += [Finding(check="model_choice", severity="info", columns=(), message=note.message,
                         evidence={}, suggestion=note.suggestion) for note in result.notes]
    if result.floor is not None:
        findings.append(Finding(
            check="default_model_shipped", severity="warning", columns=(), message=result.floor,
            evidence={}, suggestion="compare the leaderboard's out-of-fold scores; a larger "
            "time_limit or more rows usually lets the search beat the defaults."))
    m = result.oof_mask
    post = post_fit(plan.task, y[m], result.oof[m], None if rows.weights is None else rows.weights[m],
                    calibrate=calibrate, objective=objective, costs=costs, seed=seed,
                    deadline=deadline)
    findings += post.findings
    if plan.task != "regression":
        findings = _label_issues(findings, y[m], post.oof, positions[m], classes, target)
    diag = diagnostics(plan.task, y[m], post.oof, classes, post.threshold, seed)
    # drift reference: training statistics, a bounded sample and validation-time predictions,
    # calibrated as the shipped model's are (uncalibrated ones drift from its own answers)
    shipped_oof = np.full(result.oof.shape, np.nan)
    shipped_oof[m] = post.oof
    reference = build_reference(schema, X, seed=seed,
                                predictions=prediction_values(shipped_oof, plan.task, classes))
    manifest = Manifest(
        target=Target(target, plan.task, classes),
        metric=plan.metric.name,
        # the intervals take the time left, less 1 % of the budget for assembling the model
        metrics={"cv": cv_metrics(post, y[m], rows.weights, m, plan,
                                   Deadline(deadline.end - 0.01 * float(time_limit)), seed),
                 "cv_note": "out-of-fold predictions of the final ensemble, 95 % percentile "
                            "bootstrap intervals (null where the time limit left none)"},
        schema=schema.to_dict(),
        plan={"task": plan.task, "metric": plan.metric.name, "split": plan.split.to_dict(),
              "groups": side_columns["groups"], "time_column": time_column,
              "entity": None if history is None else {
                  "column": history.entity, "horizon": history.horizon,
                  "relative": history.relative, "inferred": opts.entity is None},
              "sample_weight": side_columns["sample_weight"],
              "ignored_columns": list(ignore_columns), "selected_out": selected_out,
              "presets": presets,
              "budget_trials": budget},
        leaderboard=leaderboard(result, plan.metric, spec),
        ensemble=[{"model": m.name, "family": m.family, "weight": m.weight,
                   "final_fit": final_fit(m)} for m in result.members],
        findings=[f.to_dict() for f in findings],
        provenance={"data_fingerprint": fingerprint(frame), "rows": int(len(y)),
                    "columns": int(n_columns), "seed": seed,
                    "time_limit": float(time_limit),
                    "fit_seconds": round(time.monotonic() - started, 3),
                    "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "source": str(data) if isinstance(data, str) else type(data).__name__,
                    "command": " ".join(sys.argv), "call": call},
        calibration=post.calibration, calibration_report=post.calibration_report,
        decision=post.decision,
        diagnostics={"cv": diag},
        reference=reference.to_manifest(),
        libraries=library_versions(*(EMBEDDING_DISTRIBUTIONS if any(
            reads_embeddings(t) for m in result.members for t, _ in m.parts) else ())),
    )
    latency = measure_latency(manifest, result.members, reference, frame.iloc[:1], deadline)
    estimate = round(result.row_latency_ms["ensemble"], 3)
    inference = {
        "latency_ms_per_row": latency, "estimated_ms_per_row": estimate,
        "infer_limit_seconds": infer_limit,
        "note": "latency_ms_per_row: median of single-row predict calls through the members at "
                "the end of fit (what calls pay until the compiled path is built; null when "
                "the time limit left no time to measure); estimated_ms_per_row: the search's "
                "estimate on the compiled path, which fit builds in the end of its time limit "
                "(else the first small predict calls, or Model.compile()), and which "
                "infer_limit bounds"}
    more: list[Finding] = []
    if infer_limit is not None and estimate > 1000.0 * infer_limit:
        more.append(Finding(
            check="infer_limit", severity="warning", columns=(),
            message=f"one row is estimated to take {estimate:.2f} ms to predict once compiled, "
                    f"over infer_limit ({1000.0 * infer_limit:.2f} ms).",
            evidence={"estimated_ms": estimate, "first_calls_ms": latency,
                      "infer_limit_ms": 1000.0 * infer_limit},
            suggestion="use presets='fast' or a larger infer_limit (CLI --presets fast, "
                       "--infer-limit); check the machine's load."))
    size = size_section(result, size_limit)
    if size_limit is not None and size["measured_mb"] > size_limit:
        more.append(Finding(
            check="size_limit", severity="warning", columns=(),
            message=f"the shipped models take {size['measured_mb']:.1f} MB pickled, over "
                    f"size_limit ({size_limit:.1f} MB).",
            evidence={"measured_mb": size["measured_mb"], "size_limit_mb": size_limit},
            suggestion="use presets='fast' or a larger size_limit (CLI --presets fast, "
                       "--size-limit); members kept as fold bags "
                       "(no time to refit) take k times more."))
    return with_shipped_predictions(Model(manifest.with_sections(
        inference=inference, size=size,
        findings=manifest.findings + [f.to_dict() for f in more]), result.members, reference.sample))


def _label_issues(findings: list[Finding], y: np.ndarray, oof: np.ndarray, rows: np.ndarray,
                  classes: list[Any], target: str) -> list[Finding]:
    """Label issues judged on the fitted ensemble's calibrated out-of-fold probabilities, the
    best fit has (the audit inside fit, before the search, leaves this check to it)."""
    found = label_finding(y, oof, rows, classes, target,
                          "the fitted ensemble's out-of-fold predictions (calibrated)")
    return findings + [found] if found is not None and found.evidence["flagged"] else findings


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


def _threads(n_rows: int) -> int:
    """Threads per model fit. One below ``MULTITHREAD_ROWS`` rows: there a second thread gains
    at most ~1.5x on an idle machine, while on a busy one OpenMP's barriers made LightGBM up to
    50x slower (0.4 s -> 25 s on 1,600 rows, bench/threads.py); bigger data gains more from
    threads and has more work per barrier."""
    return 1 if n_rows < MULTITHREAD_ROWS else cpu_count()
