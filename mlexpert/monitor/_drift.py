"""The drift check: per-column tests with Benjamini-Hochberg and effect-size verdicts, the
dataset verdict (drift share, domain classifier), prediction drift, performance on labels and,
for classifiers, performance estimated without them (``_estimate``).

``compare`` is the one implementation: ``drift`` (the public entry point, for a bundle or two
tables) and ``OnlineMonitor`` (the service's rolling window) both call it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._clock import Deadline
from mlexpert.bundle import Model, load
from mlexpert.data import Role, category_text, describe_source, infer_schema, read_table
from mlexpert.errors import BundleError, ConfigError, DataError, bad_option, missing_column
from mlexpert.evaluate import bootstrap_interval, get_metric, prediction_values, thresholded
from mlexpert.monitor._estimate import (
    estimate_performance,
    realised_check,
    worse_than_validation,
)
from mlexpert.monitor._reference import ColumnReference, Reference, build_reference
from mlexpert.monitor._result import ColumnTest, DriftResult, Thresholds
from mlexpert.monitor._tests import TESTS, Current, as_current, benjamini_hochberg, tests_for

TEXT_ROWS = 20_000  # current rows tokenized per text column (a seeded sample beyond that)
PLOT_ROWS = 20_000  # current values per column histogram
DOMAIN_ROWS = 5_000  # rows per side for the domain classifier
DOMAIN_SECONDS = 30.0  # time cap of the domain classifier
MIN_DOMAIN_ROWS = 30  # fewer rows on a side: no domain classifier
BOOTSTRAP = 200  # resamples for the intervals
MIN_WINDOW = 10  # smallest performance window (rows)
_GATES = {t.name: t.gate for t in TESTS}


# ---- the core ---------------------------------------------------------------------------------
def _column_rows(reference: dict[str, ColumnReference], current: pd.DataFrame,
                 thresholds: Thresholds, rng: np.random.Generator) -> list[ColumnTest]:
    rows = []
    for name, ref in reference.items():
        values = current[name]
        if ref.role == Role.TEXT and len(values) > TEXT_ROWS:
            values = values.iloc[np.sort(rng.choice(len(values), TEXT_ROWS, replace=False))]
        cur = as_current(values, ref.role)
        if ref.role == Role.TEXT:  # missing rate over all rows, not just the tokenized sample
            miss = as_current(current[name], ref.role)
            cur = Current(cur.values, miss.rows, miss.missing)
        rows += _run_tests(ref, cur, thresholds)
    return _verdicts(rows, thresholds)


def _run_tests(ref: ColumnReference, cur: Current, thresholds: Thresholds) -> list[ColumnTest]:
    rows = []
    for test in tests_for(ref.role):
        out = test.run(ref, cur)
        if out is None:
            continue
        rows.append(ColumnTest(column=ref.name, test=test.name, statistic=out.statistic,
                               p_value=out.p_value, effect_size=out.effect_size, drifted=False,
                               role=ref.role, threshold=getattr(thresholds, test.name)))
    return rows


def _verdicts(rows: list[ColumnTest], thresholds: Thresholds) -> list[ColumnTest]:
    """BH-adjust every p-value of the family, then: drifted when the adjusted p-value is below
    alpha and the effect size reaches its threshold (tests without a p-value use their gate's)."""
    with_p = [r for r in rows if r.p_value is not None]
    for r, adj in zip(with_p, benjamini_hochberg([r.p_value for r in with_p]), strict=True):
        r.p_adjusted = adj
    by_key = {(r.column, r.test): r for r in rows}
    for r in rows:
        gate = r if r.p_value is not None else by_key.get((r.column, _GATES.get(r.test) or ""))
        significant = gate is not None and gate.p_adjusted is not None and \
            gate.p_adjusted <= thresholds.alpha
        r.drifted = bool(significant and np.isfinite(r.effect_size)
                         and r.effect_size >= r.threshold)
    return rows


def _domain_classifier(reference: Reference, current: pd.DataFrame, seed: int,
                       thresholds: Thresholds) -> dict[str, Any] | None:
    """Cross-validated AUC of a small LightGBM telling reference rows from current rows, with a
    95 % bootstrap interval. Dates are left out (they move forward by nature)."""
    from mlexpert.audits import binary_auc, quick_oof

    ref = reference.sample
    columns = [n for n, c in reference.columns.items() if c.role != Role.DATETIME]
    if not columns or len(ref) < MIN_DOMAIN_ROWS or len(current) < MIN_DOMAIN_ROWS:
        return None
    rng = np.random.default_rng(seed)
    if len(current) > DOMAIN_ROWS:
        current = current.iloc[np.sort(rng.choice(len(current), DOMAIN_ROWS, replace=False))]
    if len(ref) > DOMAIN_ROWS:
        ref = ref.iloc[np.sort(rng.choice(len(ref), DOMAIN_ROWS, replace=False))]
    X = np.full((len(ref) + len(current), len(columns)), np.nan)
    for j, name in enumerate(columns):
        role = reference.columns[name].role
        both = pd.concat([ref[name], current[name]], ignore_index=True)
        if role == Role.NUMERIC:
            X[:, j] = both.to_numpy(dtype=float)
        elif role == Role.TEXT:
            X[:, j] = both.astype(str).str.len().to_numpy(dtype=float)
        else:
            codes, _ = pd.factorize(both.astype(object), sort=True)
            X[:, j] = np.where(codes >= 0, codes, np.nan)
    y = np.r_[np.zeros(len(ref), dtype=int), np.ones(len(current), dtype=int)]
    # rows repeated within a side (repeated requests, resampled data) would sit in training and
    # validation folds at once and be recognised, not told apart: keep one of each per side
    keep = ~pd.DataFrame(X).assign(_side=y).duplicated().to_numpy()
    X, y = X[keep], y[keep]
    if min(int(y.sum()), int(len(y) - y.sum())) < MIN_DOMAIN_ROWS:
        return None
    pred = quick_oof(X, y, "binary", 2, seed, Deadline.after(DOMAIN_SECONDS))
    if pred is None:
        return None
    auc = binary_auc(y == 1, pred[:, 1])
    boots = []
    for _ in range(BOOTSTRAP):
        idx = rng.integers(0, len(y), len(y))
        if 0 < y[idx].sum() < len(idx):
            boots.append(binary_auc(y[idx] == 1, pred[idx, 1]))
    low, high = (float(x) for x in np.quantile(boots, [0.025, 0.975]))
    return {"auc": float(auc), "low": low, "high": high,
            "rows": [int(len(y) - y.sum()), int(y.sum())],
            "threshold": thresholds.domain_auc, "drifted": bool(low > thresholds.domain_auc)}


def _prediction_drift(reference: Reference, current: pd.Series | None, thresholds: Thresholds,
                      output: str, source: str, seed: int = 0) -> dict[str, Any] | None:
    """The model's output against its validation-time outputs: the column tests' verdicts, and
    a test that drifts only when its effect size is above its threshold beyond resampling
    noise (a bootstrap lower bound, both sides resampled), so an effect on the edge (Wasserstein
    0.100 against 0.1) on same-distribution rows is not called drift."""
    if reference.prediction is None or current is None:
        return None
    ref = reference.prediction
    cur = as_current(current.astype(float) if ref.role == Role.NUMERIC else current, ref.role)
    rows = [r for r in _run_tests(ref, cur, thresholds) if r.test != "missing_rate"]
    rows = _verdicts(rows, thresholds)
    tests = []
    for r in rows:
        entry = r.to_dict()
        if r.drifted:
            low = _effect_low(ref, cur, r.test, seed)
            r.drifted = bool(np.isfinite(low) and low > r.threshold)
            entry.update(drifted=r.drifted, effect_low=float(low) if np.isfinite(low) else None)
        tests.append(entry)
    return {"output": output, "reference": source, "drifted": any(r.drifted for r in rows),
            "tests": tests, "gate": f"adjusted p-value <= alpha and a {1 - EFFECT_QUANTILE:.0%} "
                                    f"lower bound of the effect ({BOOTSTRAP} bootstrap resamples "
                                    "of both sides) above its threshold"}


EFFECT_QUANTILE = 0.05  # one-sided: the effect is above its threshold with 95 % confidence


def _effect_low(ref: ColumnReference, cur: Current, test: str, seed: int) -> float:
    """A one-sided lower confidence bound (level 1 - ``EFFECT_QUANTILE``) of a test's effect
    size, from bootstrap resamples of the reference sample and the current values."""
    from dataclasses import replace

    run = next(t.run for t in TESTS if t.name == test)
    rng = np.random.default_rng(seed)
    ref_values = np.asarray(ref.sample)
    effects = []
    for _ in range(BOOTSTRAP):
        r = replace(ref, sample=ref_values[rng.integers(0, len(ref_values), len(ref_values))]) \
            if len(ref_values) else ref
        values = cur.values[rng.integers(0, len(cur.values), len(cur.values))]
        out = run(r, Current(values, cur.rows, cur.missing))
        if out is not None and np.isfinite(out.effect_size):
            effects.append(out.effect_size)
    if len(effects) < BOOTSTRAP // 2:
        return float("nan")
    observed = run(ref, cur)
    if observed is None or not np.isfinite(observed.effect_size):
        return float("nan")
    # the basic (reverse-percentile) bound: a distance resampled is biased upwards, so the
    # plain percentile would sit above the truth; reflecting it around the observed value
    # removes that bias
    return 2 * observed.effect_size - float(np.quantile(effects, 1 - EFFECT_QUANTILE))


def compare(reference: Reference, current: pd.DataFrame, *, thresholds: Thresholds | None = None,
            seed: int = 0, predictions: pd.Series | None = None, prediction_output: str = "",
            prediction_source: str = "", performance: dict[str, Any] | None = None,
            performance_estimate: dict[str, Any] | None = None,
            domain_classifier: bool = True) -> DriftResult:
    """Compare prepared ``current`` rows (``Schema.prepare`` output) with ``reference``.
    ``performance`` (realised, on labels) and ``performance_estimate`` (without labels) are
    computed by the caller, which has the model; they are passed through to the result."""
    thresholds = thresholds or Thresholds()
    rng = np.random.default_rng(seed)
    rows = _column_rows(reference.columns, current, thresholds, rng)
    tested = sorted({r.column for r in rows})
    drifted = sorted({r.column for r in rows if r.drifted})
    share = len(drifted) / len(tested) if tested else 0.0
    domain = _domain_classifier(reference, current, seed, thresholds) if domain_classifier else None
    pred = _prediction_drift(reference, predictions, thresholds, prediction_output,
                             prediction_source, seed)
    detected = (bool(drifted) and share > thresholds.drift_share) or \
        bool(domain and domain["drifted"])
    plots = _plots(reference, current, predictions, rng)
    return DriftResult(drift_detected=detected, drift_share=share, columns=rows,
                       prediction_drift=pred, performance=performance, domain_classifier=domain,
                       rows={"reference": reference.rows, "reference_sample": len(reference.sample),
                             "current": int(len(current))},
                       reference=reference.source, thresholds=thresholds, plots=plots,
                       performance_estimate=performance_estimate)


# ---- plots (data only; _html draws them) ------------------------------------------------------
def _hist(ref: np.ndarray, cur: np.ndarray, bins: int = 30) -> dict[str, Any] | None:
    both = np.concatenate([ref, cur])
    both = both[np.isfinite(both)]
    if len(both) == 0:
        return None
    lo, hi = np.quantile(both, [0.005, 0.995])
    if hi <= lo:
        lo, hi = float(both.min()) - 0.5, float(both.max()) + 0.5
    edges = np.linspace(lo, hi, bins + 1)

    def shares(v: np.ndarray) -> list[float]:
        counts = np.histogram(np.clip(v, lo, hi), edges)[0]
        return [float(c) for c in counts / max(counts.sum(), 1)]

    return {"kind": "hist", "edges": [float(e) for e in edges], "reference": shares(ref),
            "current": shares(cur)}


def _bars(ref: np.ndarray, cur: np.ndarray, top: int = 10) -> dict[str, Any]:
    rs = pd.Series(ref, dtype=object).value_counts(normalize=True)
    cs = pd.Series(cur, dtype=object).value_counts(normalize=True)
    shares = pd.concat([rs, cs], axis=1).fillna(0.0)
    keep = shares.max(axis=1).sort_values(ascending=False).index[:top]
    labels = [str(k) for k in keep]
    r = [float(rs.get(k, 0.0)) for k in keep]
    c = [float(cs.get(k, 0.0)) for k in keep]
    if len(shares) > top:
        labels.append("(other)")
        r.append(max(0.0, 1 - sum(r)))
        c.append(max(0.0, 1 - sum(c)))
    return {"kind": "bars", "labels": labels, "reference": r, "current": c}


def _plot(ref: ColumnReference, values: pd.Series, rng: np.random.Generator) -> dict[str, Any] | None:
    if ref.role == Role.DATETIME:
        return None
    if len(values) > PLOT_ROWS:
        values = values.iloc[rng.choice(len(values), PLOT_ROWS, replace=False)]
    cur = as_current(values, ref.role).values
    if ref.role == Role.NUMERIC:
        return _hist(ref.sample.astype(float), cur.astype(float))
    if ref.role == Role.TEXT:
        lengths = np.vectorize(len, otypes=[float])
        out = _hist(lengths(ref.sample) if len(ref.sample) else np.array([]),
                    lengths(cur) if len(cur) else np.array([]))
        if out:
            out["label"] = "text length (characters)"
        return out
    return _bars(ref.sample, cur)


def _plots(reference: Reference, current: pd.DataFrame, predictions: pd.Series | None,
           rng: np.random.Generator) -> dict[str, dict[str, Any]]:
    out = {}
    for name, ref in reference.columns.items():
        p = _plot(ref, current[name], rng)
        if p is not None:
            out[name] = p
    if reference.prediction is not None and predictions is not None:
        p = _plot(reference.prediction, predictions, rng)
        if p is not None:
            out["\0prediction"] = p
    return out


# ---- performance on labelled data -------------------------------------------------------------
def encode_labels(model: Model, values: pd.Series, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels as the metrics take them (class indices, or floats), and which rows have one."""
    if model.task == "regression":
        y = pd.to_numeric(values, errors="coerce").to_numpy(float)
        return y, np.isfinite(y)
    index = {str(c): i for i, c in enumerate(model.classes or [])}
    text = category_text(values)
    keep = text.notna().to_numpy()
    codes = text.map(lambda v: index.get(v, -1) if isinstance(v, str) else -1).to_numpy()
    unknown = sorted({v for v, c, k in zip(text, codes, keep, strict=True) if k and c < 0})
    if unknown:
        raise DataError(f"labels in {source} include classes the model never saw: "
                        f"{', '.join(map(repr, unknown[:5]))}. Known: "
                        f"{', '.join(repr(str(c)) for c in model.classes or [])}.")
    return codes.astype(int), keep


def _score(metric: Any, y: np.ndarray, raw: np.ndarray, seed: int) -> dict[str, Any]:
    try:
        value = metric.score(y, raw)
    except ValueError as exc:  # e.g. ROC AUC on a window holding one class
        return {"rows": int(len(y)), "value": None, "low": None, "high": None,
                "note": f"undefined here: {exc}"}
    low, high = bootstrap_interval(metric, y, raw, n_resamples=BOOTSTRAP, seed=seed)
    return {"rows": int(len(y)), "value": float(value), "low": low, "high": high}


def performance(model: Model, raw: np.ndarray, y: np.ndarray, *, window: int | None = None,
                seed: int = 0) -> dict[str, Any]:
    """The bundle's metric on the labelled rows (and on consecutive windows of ``window``
    rows) with 95 % bootstrap intervals; degraded when a window's whole interval lies on the
    worse side of the validation (cross-validated) interval. A label metric (accuracy, F1...)
    scores the labels at the bundle's decision threshold, as the validation metrics do."""
    metric = get_metric(model.metric, model.task)
    raw = decided(model, raw) if metric.uses_labels else raw
    val = dict(model.metrics.get(model.metric, {}))
    v_low, v_high, v_value = val.get("low"), val.get("high"), val.get("value")

    def degraded(entry: dict[str, Any]) -> bool:
        return worse_than_validation(entry, val or None, metric.greater_is_better)

    current = _score(metric, y, raw, seed)
    current["degraded"] = degraded(current)
    windows = []
    if window is not None:
        for start in range(0, len(y), window):
            stop = min(start + window, len(y))
            if stop - start < MIN_WINDOW:
                break
            entry = {"start": start, "end": stop, **_score(metric, y[start:stop],
                                                           raw[start:stop], seed)}
            entry["degraded"] = degraded(entry)
            windows.append(entry)
    return {"metric": metric.name, "greater_is_better": metric.greater_is_better,
            "validation": {"value": v_value, "low": v_low, "high": v_high},
            "current": current, "windows": windows,
            "degraded": current["degraded"] or any(w["degraded"] for w in windows)}


def decided(model: Model, raw: np.ndarray) -> np.ndarray:
    """Probabilities whose argmax is the model's predicted label (its binary threshold applied)."""
    return thresholded(raw, model.threshold)


def estimate(model: Model, raw: np.ndarray, *, window: int | None = None,
             seed: int = 0) -> dict[str, Any]:
    """Performance estimated without labels (``_estimate.estimate_performance``) from the
    model's calibrated output ``raw``, beside its cross-validated metrics."""
    return estimate_performance(raw, model.task, metric=model.metric, threshold=model.threshold,
                                validation=model.metrics, window=window, seed=seed)


def realised_metrics(model: Model, names: Any, raw: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The metrics ``names`` on labelled rows (None where undefined, e.g. AUC on one class)."""
    out: dict[str, float | None] = {}
    for name in names:
        metric = get_metric(name, model.task)
        try:
            out[name] = metric.score(y, decided(model, raw) if metric.uses_labels else raw)
        except ValueError:
            out[name] = None
    return out


# ---- the public entry point -------------------------------------------------------------------
def _output_name(model: Model) -> str:
    if model.task == "regression":
        return "predicted value"
    if model.task == "binary":
        return f"probability of class {model.classes[1]!r}"
    return "predicted class"


def model_reference(model: Model) -> Reference:
    """The training reference stored in a bundle (BundleError when it has none)."""
    stored = model.manifest.reference
    if stored is None or model.reference_sample is None:
        raise BundleError("this bundle holds no training reference for drift checks (it was "
                          "written by an older mlexpert); pass reference_data= (CLI: "
                          "--reference REF.csv) or fit the model again.")
    return Reference.from_manifest(stored, model.reference_sample)


def _as_model(reference: Any) -> Model | None:
    if isinstance(reference, Model):
        return reference
    if isinstance(reference, str | os.PathLike) and Path(reference).is_dir():
        return load(reference)
    return None


def _rows(data: Any, what: str) -> pd.DataFrame:
    frame = read_table(data)
    if len(frame) == 0:
        raise DataError(f"{what} ({describe_source(data)}) has no rows to compare.")
    return frame


def drift(reference: Any, current: Any, *, reference_data: Any = None, labels: Any = None,
          window: int | None = None, thresholds: Thresholds | None = None, seed: int = 0,
          domain_classifier: bool = True) -> DriftResult:
    """Has ``current`` drifted from the reference, and (with labels) has the model degraded?

    ``reference``: a Model or bundle directory (compared with the training reference stored in
    it, or with ``reference_data``), or a table (the reference itself; roles are inferred from
    it, and there is no prediction drift or performance). ``labels``: a column of ``current``
    or one value per row. ``window``: rows per performance window (realised and estimated).

    A classifier's performance is also estimated without labels (``performance_estimate``:
    CBPE from its calibrated probabilities, an estimate that assumes calibration still holds).
    With labels the realised performance (``performance``) replaces it; the estimate stays
    beside it, checked against the realised values on the labelled rows.
    """
    if thresholds is not None and not isinstance(thresholds, Thresholds):
        raise bad_option("thresholds", type(thresholds).__name__, "a mlexpert.monitor.Thresholds")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                               or window < MIN_WINDOW):
        raise bad_option("window", window, f"a number of rows (at least {MIN_WINDOW}), or None")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise bad_option("seed", seed, "an integer")
    model = _as_model(reference)
    cur_frame = _rows(current, "current data")
    source = describe_source(current)
    if model is None:
        if labels is not None:
            raise ConfigError("labels need a model: pass a model bundle as the reference to "
                              "monitor performance.")
        if reference_data is not None:
            raise ConfigError("reference_data is for a model bundle; with two tables pass the "
                              "reference table as the first argument.")
        ref_frame = _rows(reference, "reference data")
        schema = infer_schema(ref_frame)
        if not schema.features:
            raise DataError(f"reference data ({describe_source(reference)}) has no column to "
                            "compare: every column is an identifier or constant.")
        ref = build_reference(schema, schema.prepare(ref_frame, describe_source(reference)),
                              seed=seed, source=f"reference data ({describe_source(reference)})")
        X = schema.prepare(cur_frame, source)
        return compare(ref, X, thresholds=thresholds, seed=seed,
                       domain_classifier=domain_classifier)

    X = model.schema.prepare(cur_frame, source)
    raw = model.ensemble.raw(X)
    output = _output_name(model)
    if reference_data is not None:
        ref_frame = _rows(reference_data, "reference data")
        Xr = model.schema.prepare(ref_frame, describe_source(reference_data))
        what = f"reference data ({describe_source(reference_data)})"
        ref = build_reference(model.schema, Xr, seed=seed, source=what,
                              predictions=prediction_values(model.ensemble.raw(Xr), model.task,
                                                            model.classes))
        pred_source = f"predictions on the {what}"
    else:
        ref = model_reference(model)
        pred_source = "validation (out-of-fold) predictions at fit time"
    perf = None
    est = estimate(model, raw, window=window, seed=seed)
    if labels is not None:
        perf, y, keep = _labelled_performance(model, cur_frame, raw, labels, window, seed, source)
        if est.get("metrics"):
            _check_estimate(model, est, raw, y, keep, seed)
    return compare(ref, X, thresholds=thresholds, seed=seed,
                   predictions=prediction_values(raw, model.task, model.classes),
                   prediction_output=output, prediction_source=pred_source, performance=perf,
                   performance_estimate=est, domain_classifier=domain_classifier)


def _check_estimate(model: Model, est: dict[str, Any], raw: np.ndarray, y: np.ndarray,
                    keep: np.ndarray, seed: int) -> None:
    """Labels arrived: the realised performance replaces the estimate, which stays beside it
    with the realised value of each metric on the labelled rows (estimated on those same rows
    when only some have a label)."""
    same = est if keep.all() else estimate(model, raw[keep], seed=seed)
    note = "" if keep.all() else (f"estimated again on the {int(keep.sum())} labelled rows of "
                                  f"{len(keep)}, to compare like with like")
    est["labels"] = ("present: the realised performance ('performance') replaces this "
                     "estimate; 'realised' sets each estimate beside its realised value")
    est["realised"] = realised_check(same, realised_metrics(model, same["metrics"], raw[keep],
                                                            y[keep]), int(keep.sum()), note)


def _labelled_performance(model: Model, frame: pd.DataFrame, raw: np.ndarray, labels: Any,
                          window: int | None, seed: int,
                          source: str) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """The realised performance, the encoded labels and which rows have one."""
    if isinstance(labels, str):
        if labels not in frame.columns:
            raise missing_column(labels, "labels", frame.columns)
        values = frame[labels].reset_index(drop=True)
    else:
        values = pd.Series(np.asarray(labels, dtype=object).reshape(-1) if np.ndim(labels) else
                           [labels])
        if len(values) != len(frame):
            raise bad_option("labels", f"{len(values)} values",
                             f"a column name or one label per row ({len(frame)})")
    y, keep = encode_labels(model, values, source)
    if not keep.any():
        raise DataError(f"the labels in {source} are all missing; pass a column with labels.")
    out = performance(model, raw[keep], y[keep], window=window, seed=seed)
    out["labelled_rows"] = int(keep.sum())
    return out, y, keep


__all__ = ["compare", "decided", "drift", "encode_labels", "estimate", "model_reference",
           "performance", "realised_metrics"]
