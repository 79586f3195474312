"""Training on data bigger than one worker's memory: partitioned Parquet read by
``dask.dataframe`` on the workers, the gradient-boosted families trained with their native Dask
interfaces (``xgboost.dask``, ``lightgbm.DaskLGBM*``), the better one shipped as an ordinary
model (plain ``XGBClassifier``/``LGBMClassifier``...) that predicts without Dask.

What the driver holds: the Parquet footers (schema, row counts), a sample of at most
``SAMPLE_ROWS`` rows (the heads of up to ``SAMPLE_FILES`` files spread over the dataset) from
which the Schema is inferred, the audit runs, the task and metric are planned and the tree
preprocessing is fitted, and the validation and test splits (each at most ``HOLDOUT_MAX_ROWS`` rows) to score the candidates.
Everything else stays on the workers: each file is one partition, read, checked against the
Schema (``Schema.prepare``) and transformed by the same fitted preprocessing there.

Rows are assigned to train / validation / test by a generator seeded with ``(seed, file index)``,
so a split does not depend on the cluster. XGBoost early-stops on the validation split natively.
LightGBM's Dask training evaluates each worker's part of a validation set separately, so its
early stopping could differ between workers; it trains a fixed number of rounds and the best
round is chosen afterwards on the gathered validation split (the model is cut there). Neither
library can stop every worker at the same moment on a clock, so the number of rounds is bounded
before training from a timed probe fit on the sample (``_round_cap``).
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._clock import Deadline
from mlexpert.data import Schema, describe_source, infer_schema
from mlexpert.distributed._parquet import ParquetSource, parquet_file, read_parquet_file
from mlexpert.errors import (
    ConfigError,
    DataError,
    missing_column,
    no_features,
    no_usable_features,
)
from mlexpert.findings import Finding

FAMILIES = ("xgboost", "lightgbm")  # trained with their native Dask interfaces
SAMPLE_ROWS = 50_000  # rows read to the driver: schema, audit, plan, preprocessing, probe fits
SAMPLE_FILES = 32  # ...from the heads of at most this many files, spread over the dataset
HOLDOUT_SHARE = 0.1  # of the rows for validation (early stopping), as much again for test
HOLDOUT_MAX_ROWS = 100_000  # each split at most: they are gathered to the driver
MAX_ROUNDS = 2_000
MIN_ROUNDS = 20
EARLY_STOP = 50
CLUSTER_SLOWDOWN = 2.0  # a round on the cluster vs the same rows on one local thread (network)


# -- the sample on the driver -----------------------------------------------------------------
def _sample(source: ParquetSource, limit: int = SAMPLE_ROWS,
            max_files: int = SAMPLE_FILES) -> list[tuple[int, pd.DataFrame]]:
    """(file index, head) of at most ``max_files`` files spread over the list, in proportion to
    their rows, at most ``limit`` rows in all: the driver reads one row group of each."""
    import pyarrow as pa

    chosen = sorted(set(np.linspace(0, len(source.files) - 1,
                                    min(max_files, len(source.files))).round().astype(int)))
    total = sum(source.rows[i] for i in chosen) or 1
    heads = []
    for i in chosen:
        f, n = source.files[i], source.rows[i]
        want = min(n, max(1, int(np.ceil(limit * n / total)))) if n else 0
        batches, got = [], 0
        if want:
            for batch in parquet_file(f).iter_batches(batch_size=min(want, 65_536)):
                batches.append(batch)
                got += batch.num_rows
                if got >= want:
                    break
        table = pa.Table.from_batches(batches) if batches else \
            parquet_file(f).schema_arrow.empty_table()
        heads.append((int(i), table.to_pandas().iloc[:want]))
    return heads


def _splits(seed: int, index: int, n: int, share: float) -> np.ndarray:
    """0 train, 1 validation, 2 test for the ``n`` rows of file ``index``: the same on any cluster."""
    u = np.random.default_rng([seed, index]).random(n)
    return np.where(u < share, 1, np.where(u < 2 * share, 2, 0)).astype(np.int8)


def _class_keys(values: pd.Series) -> pd.Series:
    """Target values as the fit's encoding sees them (2.0 and 2 are the same class)."""
    return values.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else v)


def _target_classes(path: str, target: str) -> list[Any]:
    """Runs on a worker: the distinct (normalized) target values of one file."""
    y = read_parquet_file(path, [target])[target].dropna()
    return list(pd.unique(_class_keys(y)))


@dataclass(frozen=True)
class _PartPlan:
    """What a worker needs to turn one file into prepared rows."""

    schema: Schema
    transformer: Any
    target: str
    task: str
    classes: tuple[Any, ...] | None
    seed: int
    share: float
    width: int


def _columns(width: int) -> list[str]:
    return [f"f{j}" for j in range(width)]


def _prepare(frame: pd.DataFrame, plan: _PartPlan, splits: np.ndarray,
             source: str) -> pd.DataFrame:
    y = frame[plan.target]
    if plan.task == "regression":
        y = pd.to_numeric(y, errors="coerce").replace([np.inf, -np.inf], np.nan)
    keep = y.notna().to_numpy()
    frame, y, splits = frame[keep], y[keep], splits[keep]
    prepared = plan.schema.prepare(frame, source)
    X = np.asarray(plan.transformer.transform(prepared), dtype=np.float32) if len(frame) \
        else np.zeros((0, plan.width), dtype=np.float32)
    out = pd.DataFrame(X.reshape(len(frame), plan.width), columns=_columns(plan.width))
    if plan.task == "regression":
        out["__y__"] = y.to_numpy(dtype=np.float64)
    else:
        codes = pd.Index(list(plan.classes or ())).get_indexer(_class_keys(y))
        if (codes < 0).any():
            raise DataError(f"{source}: target value {y[codes < 0].iloc[0]!r} was not seen when "
                            "the classes were counted; was the file changed during the fit?")
        out["__y__"] = codes.astype(np.int32)
    out["__split__"] = splits
    return out


def _prepared_part(path: str, index: int, plan: _PartPlan) -> pd.DataFrame:
    """Runs on a worker: one file read, validated against the Schema and transformed."""
    frame = read_parquet_file(path)
    if plan.target not in frame.columns:
        raise DataError(f"partition {path!r}: "
                        f"{missing_column(plan.target, 'target', frame.columns)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _prepare(frame, plan, _splits(plan.seed, index, len(frame), plan.share),
                        describe_source(path))


# -- training -----------------------------------------------------------------------------------
@dataclass
class ClusterFit:
    """What ``train_on_cluster`` hands back for the bundle (``_fit`` adds the drift reference)."""

    manifest: dict[str, Any]
    members: list[Any]
    schema: Schema
    task: str
    classes: list[Any] | None
    sample: pd.DataFrame  # prepared sample rows (``Schema.prepare`` output)
    sample_raw: np.ndarray  # the shipped model's test-split predictions on them (NaN elsewhere)
    findings: list[Finding] = field(default_factory=list)


@dataclass
class _Trained:
    name: str
    fitted: Any  # models.Fitted around a plain (Dask-free) estimator
    rounds: int
    seconds: float
    score: float
    test_raw: np.ndarray
    note: str = ""


def _probe(family: str, X: np.ndarray, y: np.ndarray, params: dict[str, Any], req: Any,
           deadline: Deadline) -> tuple[float, int]:
    """(seconds per round per training row, best round) of a local early-stopped fit on the
    sample: how fast and how long the cluster fit will be."""
    from mlexpert.models import FAMILIES as LOCAL

    n = len(y)
    cut = max(1, int(n * 0.8))
    req.X_val, req.y_val = X[cut:], y[cut:]
    req.deadline = deadline
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = LOCAL[family].fit(X[:cut], y[:cut], {**params, "n_estimators": MAX_ROUNDS}, req)
    seconds = time.perf_counter() - t0
    rounds = max(1, fitted.best_iteration or 1) + (EARLY_STOP if req.X_val is not None else 0)
    return seconds / rounds / max(cut, 1), max(1, fitted.best_iteration or 1)


def _round_cap(per_row_round: float, best_sample: int, train_rows: int, workers: int,
               seconds: float) -> int:
    """Rounds the cluster fit may run: enough to go well past the sample's best round (more
    rows support more rounds), within ``seconds`` at the probe's speed scaled to the rows each
    worker holds."""
    per_round = per_row_round * train_rows / max(1, workers) * CLUSTER_SLOWDOWN + 0.005
    by_time = int(max(0.0, seconds) / per_round)
    return int(np.clip(min(by_time, max(200, 3 * best_sample)), MIN_ROUNDS, MAX_ROUNDS))


def train_on_cluster(source: ParquetSource, target: str, executor: Any, *, deadline: Deadline,
                     time_limit: float, seed: int = 0, task: str | None = None,
                     metric: str | None = None, ignore_columns: Sequence[str] = (),
                     keep_columns: Sequence[str] = (),
                     progress: Callable[[Any], None] | None = None) -> ClusterFit:
    """Train XGBoost and LightGBM on the cluster behind ``executor`` (a DaskExecutor) over the
    files of ``source``; the better on the test split is shipped. Options that need every row
    in one process (groups, time order, weights, tuning...) are refused before this is called."""
    import dask.dataframe as dd

    from mlexpert.audits import audit_for_fit, fit_budget
    from mlexpert.ensemble import Member
    from mlexpert.evaluate import diagnostics, score_all
    from mlexpert.features import build_preprocessor
    from mlexpert.models import ADAPTERS, FitRequest
    from mlexpert.models import FAMILIES as LOCAL
    from mlexpert.plan import make_plan
    from mlexpert.search import SearchEvent

    client = getattr(executor, "client", None)
    if client is None:
        raise ConfigError("training on the cluster needs a Dask executor ('dask://local' or "
                          "'dask://tcp://host:8786').")
    emit = progress or (lambda event: None)

    def event(kind: str, message: str, done: int, best: _Trained | None = None) -> None:
        emit(SearchEvent(kind, message, done, len(FAMILIES), best.name if best else None,
                         best.score if best else None, deadline.remaining()))

    for col in ignore_columns:
        if col not in source.columns:
            raise missing_column(col, "ignored", source.columns)
    findings: list[Finding] = []
    heads = _sample(source)
    sample = pd.concat([h for _, h in heads], ignore_index=True)
    y_sample = sample[target]
    if y_sample.notna().sum() == 0:
        raise DataError(f"target column {target!r} has no values in the first rows of the "
                        f"partitions of {source.pattern!r}. Check the column name and the files.")
    keep_sample = y_sample.notna().to_numpy()
    features = sample.drop(columns=[target, *ignore_columns])
    if features.shape[1] == 0:
        raise no_features(target)
    schema = infer_schema(features[keep_sample].reset_index(drop=True))
    if not schema.features:
        raise no_usable_features(schema.columns)
    findings += schema.findings()
    f_keep, y_keep = features[keep_sample].reset_index(drop=True), y_sample[keep_sample]
    y_keep = y_keep.reset_index(drop=True)
    audited = audit_for_fit(f_keep, schema, y_keep, task=task, keep_columns=keep_columns,
                            deadline=deadline.sooner(fit_budget(time_limit)), seed=seed)
    findings += audited.findings
    schema = audited.schema
    f_keep = f_keep.drop(columns=audited.excluded)
    plan = make_plan(schema, f_keep, y_keep, task=task, metric=metric, groups=None,
                     time_order=None, seed=seed, time_limit=time_limit)
    classes: list[Any] | None = None
    if plan.task != "regression":
        seen = executor.client.gather(executor.client.map(
            _target_classes, list(source.files), target=target, pure=False))
        uniques = pd.unique(pd.Series([v for part in seen for v in part], dtype=object))
        try:
            _, ordered = pd.factorize(pd.Series(uniques, dtype=object), sort=True)
        except TypeError:  # mixed types: compare as text
            raise DataError(f"target column {target!r} mixes numbers and text across the "
                            "partitions; write it with one type.") from None
        classes = [u.item() if isinstance(u, np.generic) else u for u in ordered]
        final = "binary" if len(classes) == 2 else "multiclass"
        if final != plan.task:
            plan = make_plan(schema, f_keep, y_keep, task=final, metric=metric if task else None,
                             groups=None, time_order=None, seed=seed, time_limit=time_limit)
    findings += plan.findings

    # the tree preprocessing, fitted on the sample and applied per partition on the workers
    pre = build_preprocessor(schema, "tree", seed=seed, task=plan.task)
    X_sample = schema.prepare(f_keep)
    Xs = np.asarray(pre.transformer.fit_transform(X_sample, y_keep.to_numpy()), dtype=np.float32)
    width = Xs.shape[1]
    total = sum(source.rows)
    share = min(HOLDOUT_SHARE, HOLDOUT_MAX_ROWS / total)
    part_plan = _PartPlan(schema, pre.transformer, target, plan.task,
                          None if classes is None else tuple(classes), seed, share, width)
    meta = _prepare(sample[keep_sample].iloc[:1], part_plan, np.zeros(1, np.int8),
                    "the sample").iloc[:0]
    parts = dd.from_map(_prepared_part, list(source.files), range(len(source.files)),
                        plan=part_plan, meta=meta, label="mlexpert-prepare", enforce_metadata=False)
    client = executor.client
    try:
        parts = client.persist(parts)
        feats = _columns(width)
        train = parts[parts["__split__"] == 0]
        valid = parts[parts["__split__"] == 1]
        test = parts[parts["__split__"] == 2].compute()
        valid_local = valid.compute()
    except DataError:
        raise
    except Exception as exc:  # a worker's error (unreadable file, schema mismatch...) in one line
        from mlexpert.errors import MlexpertError

        if isinstance(exc, MlexpertError):
            raise
        raise DataError(f"reading the partitions of {source.pattern!r} failed: "
                        f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}") from exc
    if len(valid_local) < 2 or len(test) < 2:
        raise DataError(f"{source.pattern!r} has too few rows with a target for training on the "
                        f"cluster ({total} rows): pass data_on_cluster=False "
                        "(CLI --data-local).")
    data = {"X": train[feats].to_dask_array(lengths=True),
            "y": train["__y__"].to_dask_array(lengths=True),
            "Xv": valid[feats].to_dask_array(lengths=True),
            "yv": valid["__y__"].to_dask_array(lengths=True),
            "Xv_local": valid_local[feats].to_numpy(), "yv_local": valid_local["__y__"].to_numpy(),
            "width": width}
    train_rows = int(data["y"].shape[0])
    X_test, y_test = test[feats].to_numpy(), test["__y__"].to_numpy()
    n_classes = len(classes) if classes else 0
    workers = max(1, len(client.scheduler_info()["workers"]))
    finish = max(1.0, 0.1 * time_limit)  # scoring, intervals and the bundle come after
    ys = _encode_sample(y_keep, plan.task, classes)

    trained: list[_Trained] = []
    best: _Trained | None = None
    failures: list[str] = []
    for i, name in enumerate(FAMILIES):
        event("candidate_start", f"{name} on the cluster", i, best)
        params = dict(LOCAL[name].configs(plan.task)[0][1])
        left = deadline.remaining() - finish
        share_seconds = left / (len(FAMILIES) - i)
        req = FitRequest(task=plan.task, n_classes=n_classes, categorical=list(pre.categorical),
                         seed=seed, deadline=deadline, n_threads=1)
        try:
            try:
                per_row, best_sample = _probe(name, Xs, ys, params, req,
                                              deadline.sooner(0.2 * max(share_seconds, 0.0)))
            except Exception:  # noqa: BLE001 - e.g. a class absent from the sample: assume
                per_row, best_sample = 1e-6, 100  # a fast round and a middling length
            rounds = _round_cap(per_row, best_sample, train_rows, workers, 0.7 * share_seconds)
            t0 = time.monotonic()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit_dask = ADAPTERS[name].need("fit_dask")  # Unsupported: not on the cluster
                fitted = fit_dask(client, data, params, plan.task, n_classes,
                                  list(pre.categorical), rounds, seed, plan.metric)
            seconds = time.monotonic() - t0
            raw = fitted.predict(X_test)
            result = _Trained(name, fitted, rounds, seconds, plan.metric.score(y_test, raw), raw,
                              f"{fitted.best_iteration} of at most {rounds} rounds")
        except Exception as exc:  # noqa: BLE001 - one family failing leaves the other
            failures.append(f"{name}: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}")
            event("candidate_done", f"{name} failed", i + 1, best)
            continue
        trained.append(result)
        if best is None or plan.metric.better(result.score, best.score):
            best = result
        event("candidate_done", f"{name} {result.score:.4f}", i + 1, best)
    if best is None:
        raise DataError("training on the cluster failed for every family: " + "; ".join(failures))

    member = Member(best.name, best.name, 1.0, [(pre.transformer, best.fitted)], refit=False)
    metrics = score_all(plan.task, y_test, best.test_raw, n_resamples=1000, seed=seed,
                        deadline=Deadline(deadline.end - 0.01 * float(time_limit)))
    board = [{"model": t.name, "family": t.name, "score": t.score, "score_std": None,
              "status": "ok", "fit_seconds": round(t.seconds, 3), "predict_ms_per_1k": None,
              "latency_ms_per_row": None, "ensemble_weight": 1.0 if t is best else 0.0,
              "final_fit": "train split (cluster)" if t is best else "", "note": t.note,
              "p_vs_best": None, "indistinguishable": t is best}
             for t in sorted(trained, key=lambda t: -t.score if plan.metric.greater_is_better
                             else t.score)]
    board += [{"model": f.split(":")[0], "family": f.split(":")[0], "score": None,
               "score_std": None, "status": "failed", "fit_seconds": 0.0,
               "predict_ms_per_1k": None, "latency_ms_per_row": None, "ensemble_weight": 0.0,
               "final_fit": "", "note": f.split(": ", 1)[1], "p_vs_best": None,
               "indistinguishable": False} for f in failures]
    findings.append(Finding(
        check="cluster_training", severity="info", columns=(),
        message=f"trained on the Dask cluster over {len(source.files)} Parquet partition(s), "
                f"{total} rows: {train_rows} for training, {len(valid_local)} for early stopping, "
                f"{len(test)} for the test scores; the schema, audit and preprocessing come from "
                f"a sample of {len(sample)} rows; no calibration, threshold tuning or ensemble.",
        evidence={"files": len(source.files), "rows": total, "train_rows": train_rows,
                  "validation_rows": len(valid_local), "test_rows": len(test),
                  "sample_rows": len(sample), "workers": workers},
        suggestion="pass data_on_cluster=False (CLI --data-local) to fit in one process "
                   "when the data fits there."))
    manifest_part = {
        "target": {"name": target, "task": plan.task, "classes": classes},
        "metric": plan.metric.name,
        "metrics": {"cv": metrics,
                    "cv_note": "test split held out on the cluster (not cross-validated), 95 % "
                               "percentile bootstrap intervals (null where the time limit left "
                               "none)"},
        "schema": schema.to_dict(),
        "plan": {"task": plan.task, "metric": plan.metric.name,
                 "split": {"kind": "holdout", "n_splits": 1, "seed": seed,
                           "validation_share": share, "test_share": share},
                 "groups": None, "time_column": None, "sample_weight": None,
                 "ignored_columns": list(ignore_columns), "presets": "cluster",
                 "budget_trials": None, "data_on_cluster": True},
        "leaderboard": board,
        "ensemble": [{"model": best.name, "family": best.name, "weight": 1.0,
                      "final_fit": "train split (cluster)"}],
        "calibration": None, "calibration_report": None, "decision": None,
        "diagnostics": {"cv": diagnostics(plan.task, y_test, best.test_raw, classes, None, seed)},
        "cluster": {"files": len(source.files), "rows": total, "bytes": source.nbytes,
                    "workers": workers, "train_rows": train_rows, "sample_rows": len(sample)},
    }
    # drift reference: the sample's prepared rows; predictions only where a row is in test
    sample_raw = np.full((len(X_sample), max(n_classes, 1)) if n_classes else len(X_sample), np.nan)
    in_test = np.concatenate([_splits(seed, i, len(h), share)
                              for i, h in heads])[keep_sample] == 2
    if in_test.any():
        sample_raw[in_test] = best.fitted.predict(Xs[in_test])
    event("done", f"shipped {best.name}", len(FAMILIES), best)
    return ClusterFit(manifest_part, [member], schema, plan.task, classes, X_sample, sample_raw,
                      findings)


def _encode_sample(y: pd.Series, task: str, classes: list[Any] | None) -> np.ndarray:
    if task == "regression":
        return pd.to_numeric(y, errors="coerce").to_numpy(dtype=float)
    return pd.Index(list(classes or ())).get_indexer(_class_keys(y)).astype(int)
