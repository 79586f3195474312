"""Distillation: one LightGBM model trained to mimic a fitted model (usually an ensemble) on its
soft predictions over the training rows and MUNGE samples around them (Bucilă, Caruana and
Niculescu-Mizil, "Model compression", KDD 2006), saved as an ordinary bundle.

MUNGE: for each row, take its nearest neighbour; each attribute is swapped with probability
``p``: a category takes the neighbour's value, a number (or date) is drawn from a normal centred
on the neighbour's value with spread ``|a - b| / s``. The teacher labels every sample with its
probabilities (or values); classification trains on each row once per class, weighted by the
teacher's probability of that class (the cross-entropy with soft targets).

The report gives the accuracy lost (the model's metric, teacher minus student, on held-out
labelled rows, with a paired bootstrap interval) and the speed gained (median single-row latency
ratio, with a bootstrap interval over the timed calls).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import mlexpert._options as options
from mlexpert._clock import Deadline
from mlexpert._format import check_writable
from mlexpert.data import Role, category_text, describe_source, read_table
from mlexpert.ensemble import HOT_CALLS, Member, with_shipped_predictions
from mlexpert.errors import ConfigError, DataError, bad_option
from mlexpert.evaluate import get_metric, resample_counts, score_all

MUNGE_P = 0.5
MUNGE_S = 1.0
MAX_SAMPLES = 50_000  # training rows plus MUNGE samples
COPIES = 5  # MUNGE samples per training row (fewer when MAX_SAMPLES binds)
HOLDOUT = 0.2  # share of labelled rows kept to measure what was lost
MIN_HOLDOUT = 20  # fewer labelled rows than this x 5: nothing is held out, nothing measured
TIMED_CALLS = 200
# the student is meant to be small and fast: MUNGE labels keep improving the fit for thousands
# of rounds (10,000 on the telco table, 18 ms per row), for little accuracy
STUDENT_PARAMS = {"learning_rate": 0.1, "n_estimators": 1000}


@dataclass
class Distilled:
    """The distilled model and what it cost and gained, measured in this call."""

    model: Any
    report: dict[str, Any] = field(default_factory=dict)


def munge(frame: pd.DataFrame, schema: Any, n_samples: int, *, p: float = MUNGE_P,
          s: float = MUNGE_S, seed: int = 0) -> pd.DataFrame:
    """``n_samples`` MUNGE samples from the prepared (canonical) ``frame``."""
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    roles = {c.name: c.role for c in schema.features}
    numeric = [c for c in frame.columns if roles[c] in (Role.NUMERIC, Role.DATETIME)]
    values = {c: _as_number(frame[c]) for c in numeric}
    parts = []
    for c in numeric:
        v = values[c]
        mu, sd = np.nanmean(v) if np.isfinite(v).any() else 0.0, np.nanstd(v) or 1.0
        parts.append(np.nan_to_num((v - mu) / sd).reshape(-1, 1))
    for c in frame.columns:
        if roles[c] == Role.CATEGORICAL:
            codes = pd.factorize(frame[c].astype(object).fillna("\0missing"))[0]
            parts.append(np.eye(codes.max() + 1)[codes] / np.sqrt(2))
    space = np.hstack(parts) if parts else np.zeros((len(frame), 1))
    neighbours = NearestNeighbors(n_neighbors=min(2, len(frame))).fit(space)
    nearest = neighbours.kneighbors(space, return_distance=False)[:, -1]
    base = rng.integers(0, len(frame), n_samples)
    other = nearest[base]
    out = {}
    for c in frame.columns:
        swap = rng.random(n_samples) < p
        col = frame[c].to_numpy()
        if c in values:
            a, b = values[c][base], values[c][other]
            drawn = rng.normal(b, np.abs(a - b) / s)
            new = np.where(swap, np.where(np.isfinite(drawn), drawn, b), a)
            out[c] = _from_number(new, frame[c])
        else:
            out[c] = np.where(swap, col[other], col[base])
    return pd.DataFrame(out)


def _as_number(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        t = s.to_numpy(dtype="datetime64[ns]")
        v = t.astype(np.int64).astype(float)
        v[np.isnat(t)] = np.nan
        return v
    return s.to_numpy(dtype=float)


def _from_number(v: np.ndarray, like: pd.Series) -> Any:
    if pd.api.types.is_datetime64_any_dtype(like.dtype):
        ok = np.isfinite(v)
        out = np.full(len(v), np.datetime64("NaT"), dtype="datetime64[ns]")
        out[ok] = np.round(v[ok]).astype(np.int64).astype("datetime64[ns]")
        return out
    return v


def distill(teacher: Any, data: Any, *, out: Any = None, test: Any = None,
            time_limit: float = 60.0, seed: int = 0, overwrite: bool = False,
            onnx: bool = False) -> Distilled:
    """Train the student on ``data`` (the training table) and save it to ``out`` when given.

    The accuracy lost is measured on ``test`` (labelled rows neither model saw: the honest
    comparison) or, without it, on a held-out fifth of ``data`` when ``data`` has the target;
    the teacher has seen those rows, so that estimate of the loss is pessimistic. ``onnx``:
    also write ``out/model.onnx`` (checked to be possible before anything is trained)."""
    from mlexpert.features import build_preprocessor
    from mlexpert.models import get_family

    options.seconds("time_limit", time_limit)
    entity = teacher.manifest.plan.get("entity")
    if entity:
        raise ConfigError(f"cannot distill a model that follows the history of "
                          f"{entity['column']!r}: the student sees one row at a time, not the "
                          "entity's earlier rows. Refit with entity=False (CLI: --entity none) "
                          "to distill it.")
    if out is not None:
        check_writable(Path(out), overwrite=overwrite)
    if onnx:
        if out is None:
            raise bad_option("onnx", onnx, "False when no out= directory is given")
        texts = teacher.schema.names(Role.TEXT)
        if texts:
            from mlexpert.errors import not_exportable

            raise not_exportable(f"text column {texts[0]!r}", "free text (TF-IDF) is not "
                                 "converted", f"Refit with ignore_columns=[{texts[0]!r}], then "
                                 "distill, or distill without --onnx.")
    deadline = Deadline.after(float(time_limit))
    source = describe_source(data)
    frame = read_table(data)
    if len(frame) < 10:
        raise DataError(f"{source} has {len(frame)} rows; distillation needs at least 10 "
                        "(the rows the model was trained on are best).")
    rng = np.random.default_rng(seed)
    has_label = (frame[teacher.target].notna().to_numpy() if teacher.target in frame.columns
                 else np.zeros(len(frame), dtype=bool))
    labelled = test is None and has_label.sum() >= MIN_HOLDOUT / HOLDOUT
    held = np.zeros(len(frame), dtype=bool)
    if labelled:  # a fifth of the rows that have a label
        rows = rng.permutation(np.flatnonzero(has_label))
        held[rows[:int(round(HOLDOUT * len(rows)))]] = True
    hold, train = frame[held], frame[~held]
    if test is not None:
        hold = read_table(test)
        if teacher.target not in hold.columns:
            from mlexpert.errors import missing_column

            raise missing_column(teacher.target, "target", hold.columns)
        hold = hold[hold[teacher.target].notna()]
        labelled = True
    X = teacher.schema.prepare(train, source)
    n_new = max(0, min(COPIES * len(X), MAX_SAMPLES - len(X)))
    X_all = pd.concat([X.reset_index(drop=True),
                       munge(X.reset_index(drop=True), teacher.schema, n_new, seed=seed)],
                      ignore_index=True)
    X_all = teacher.schema.prepare(X_all, "the MUNGE samples")
    soft = teacher.ensemble.raw(X_all)
    family = get_family("lightgbm")
    pre = build_preprocessor(teacher.schema, "tree", seed=seed, task=teacher.task)
    hard = soft if teacher.task == "regression" else soft.argmax(axis=1)  # the teacher's answers
    Xt = pre.transformer.fit_transform(X_all, hard)
    k = len(teacher.classes or [])
    if teacher.task == "regression":
        y, weight, Xfit = soft, None, Xt
    else:  # each row once per class, weighted by the teacher's probability of it
        y = np.repeat(np.arange(k)[None, :], len(Xt), axis=0).ravel()
        weight = np.clip(soft, 0.0, None).ravel()
        Xfit = np.repeat(Xt, k, axis=0)
    val = rng.random(len(Xt)) < 0.1
    rows_val = np.repeat(val, k) if teacher.task != "regression" else val
    fitted = _fit_student(teacher.task, k, Xfit, y, weight, rows_val, pre.categorical,
                          dict(family.configs(teacher.task)[0][1]), seed, deadline)
    member = Member("distilled_lightgbm", "lightgbm", 1.0, [(pre.transformer, fitted)], refit=True)
    manifest = teacher.manifest.with_sections(  # the student learnt the calibrated probabilities
        calibration=None, calibration_report=None, inference=None,
        ensemble=[{"model": member.name, "family": "lightgbm", "weight": 1.0,
                   "final_fit": "distilled"}],
        leaderboard=[{"model": member.name, "family": "lightgbm",
                      "note": "distilled from " + ", ".join(
                          m.name for m in teacher.ensemble.members)}])
    # measured as a Model, then built again with the numbers in its manifest
    trial = type(teacher)(manifest, [member], teacher.reference_sample)
    report: dict[str, Any] = {"teacher_members": [m.name for m in teacher.ensemble.members],
              "training_rows": int(len(X)), "munge_samples": int(n_new),
              "munge": {"p": MUNGE_P, "s": MUNGE_S}, "rounds": fitted.best_iteration}
    if labelled and len(hold):
        report.update(_accuracy_lost(teacher, trial, hold, seed))
        metrics = {
            "cv": score_all(teacher.task, report.pop("_y"), report.pop("_student"),
                            threshold=trial.threshold, n_resamples=1000, seed=seed),
            "cv_note": f"the distilled model on {len(hold)} held-out labelled rows "
                       f"({'the test data' if test is not None else 'a fifth of the distillation data'}"
                       "; not cross-validated), 95 % bootstrap intervals"}
    else:
        metrics = {"cv": {}, "cv_note": "no labelled rows to measure on"}
    report.update(_speed_gained(teacher, trial, frame.iloc[:1], seed))
    sample = teacher.reference_sample  # the student's own predictions stored with its copy
    student = with_shipped_predictions(type(teacher)(
        manifest.with_sections(metrics=metrics, distillation=report), [member],
        None if sample is None else sample.copy()))
    if out is not None:
        student.save(out, overwrite=overwrite)
        if onnx:  # beside the bundle's files, like card.html: not in the manifest's hash list
            student.to_onnx(Path(out) / "model.onnx")
    return Distilled(student, report)


def _fit_student(task: str, k: int, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None,
                 val: np.ndarray, categorical: list[int], params: dict[str, Any], seed: int,
                 deadline: Deadline) -> Any:
    """LightGBM with the family's default parameters (a faster rate, at most 1,000 rounds),
    early-stopped on the weighted validation rows (the soft targets' cross-entropy), stopped at
    the deadline."""
    import lightgbm as lgb

    from mlexpert.models import EARLY_STOP, Fitted

    def stop_at_deadline(env: Any) -> None:
        if deadline.expired():
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list or [])

    cls = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
    est = cls(**{**params, **STUDENT_PARAMS}, random_state=seed, n_jobs=1, verbose=-1,
              deterministic=True, force_col_wise=True)
    w = (lambda rows: None) if weight is None else (lambda rows: weight[rows])
    est.fit(X[~val], y[~val], sample_weight=w(~val), eval_X=(X[val],), eval_y=(y[val],),
            eval_sample_weight=None if weight is None else [w(val)],
            categorical_feature=categorical or "auto",
            callbacks=[stop_at_deadline, lgb.early_stopping(EARLY_STOP, verbose=False)])
    if task != "regression" and not np.array_equal(np.asarray(est.classes_), np.arange(k)):
        raise DataError("the model never predicts some class on these rows; distill on the "
                        "rows it was trained on.")
    best = est.best_iteration_ or est.booster_.current_iteration()
    return Fitted(est, task, k, best_iteration=best)


def _accuracy_lost(teacher: Any, student: Any, hold: pd.DataFrame, seed: int) -> dict[str, Any]:
    """Teacher minus student on the model's metric (positive: the student is worse, for a
    metric where higher is better), with a paired bootstrap interval over held-out rows."""
    Xh = teacher.schema.prepare(hold)
    pt, ps = teacher.ensemble.raw(Xh), student.ensemble.raw(Xh)
    if teacher.task == "regression":
        y = pd.to_numeric(hold[teacher.target], errors="coerce").to_numpy(float)
    else:
        index = {str(c): i for i, c in enumerate(teacher.classes)}
        y = category_text(hold[teacher.target]).map(lambda v: index.get(v, -1)).to_numpy()
        keep = y >= 0
        y, pt, ps = y[keep].astype(int), pt[keep], ps[keep]
    metric = get_metric(teacher.metric, teacher.task)
    sign = 1.0 if metric.greater_is_better else -1.0
    diffs = []
    for counts in resample_counts(len(y), 1000, seed):
        if metric.batch is not None:
            t = np.asarray(metric.batch(counts, y, pt), float)
            s = np.asarray(metric.batch(counts, y, ps), float)
        else:
            t = np.array([_score(metric, y, pt, w) for w in counts])
            s = np.array([_score(metric, y, ps, w) for w in counts])
        diffs.append(sign * (t - s))
    d = np.concatenate(diffs)
    d = d[np.isfinite(d)]
    lo, hi = (np.quantile(d, [0.025, 0.975]) if len(d) >= 50 else (np.nan, np.nan))
    t_val, s_val = metric.score(y, pt, None), metric.score(y, ps, None)
    return {"metric": metric.name, "held_out_rows": int(len(y)), "teacher": float(t_val),
            "student": float(s_val),
            "lost": {"value": float(sign * (t_val - s_val)), "low": float(lo), "high": float(hi),
                     "note": "teacher minus student, in the direction where positive is worse"},
            "_y": y, "_student": ps}


def _score(metric: Any, y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    keep = w > 0
    try:
        return metric.score(y[keep], p[keep], w[keep])
    except ValueError:
        return float("nan")


def _speed_gained(teacher: Any, student: Any, row: pd.DataFrame, seed: int) -> dict[str, Any]:
    """Median single-row predict latency of each (interleaved calls, after a warm-up) and
    their ratio, with a bootstrap interval over the calls."""
    times = {"teacher": [], "student": []}
    for model in (teacher, student):  # warm up: one row then takes the compiled path
        for _ in range(HOT_CALLS):
            model.predict(row)
        model.compile()  # wait for its build: both are timed as a warm process runs them
    for _ in range(TIMED_CALLS):
        for name, model in (("teacher", teacher), ("student", student)):
            t0 = time.perf_counter()
            model.predict(row)
            times[name].append(time.perf_counter() - t0)
    t, s = np.asarray(times["teacher"]), np.asarray(times["student"])
    ratios = []
    for counts in resample_counts(len(t), 1000, seed):
        for w in counts.astype(int):
            ratios.append(np.median(np.repeat(t, w)) / np.median(np.repeat(s, w)))
    lo, hi = np.quantile(ratios, [0.025, 0.975])
    return {"latency_ms": {"teacher": float(np.median(t) * 1e3),
                           "student": float(np.median(s) * 1e3)},
            "speedup": {"value": float(np.median(t) / np.median(s)), "low": float(lo),
                        "high": float(hi),
                        "note": f"median single-row predict time ratio over {TIMED_CALLS} calls"}}
