"""The learning curve: the shipped configuration refitted on 10 / 25 / 50 / 100 % of the labelled
rows (a quarter held out), each refit scored on the same held-out rows with paired bootstrap
intervals, and the gain per doubling of the rows read from the last points.

"The shipped configuration" is what the bundle recorded of its fit (task, metric, presets, split
columns, the decision options, the seed) passed to the injected ``fitter`` (``mlexpert.fit``)
with no tuning trials after the portfolio: the search is rerun on fewer rows, not the members
copied, so each size gets the model the search would ship at that size.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlexpert.bundle import Model
from mlexpert.diagnosis._report import Chart, Line
from mlexpert.diagnosis._scores import (
    RESAMPLES,
    Labelled,
    dummy_output,
    metric_of,
    paired_scores,
    raw_output,
    sign,
    skill_scale,
)
from mlexpert.errors import MlexpertError
from mlexpert.findings import Finding

FRACTIONS = (0.1, 0.25, 0.5, 1.0)  # shares of the training part refitted
HOLDOUT_SHARE = 0.25  # of the labelled rows, held out to score every refit on the same rows
MIN_HOLDOUT = 30  # held-out rows needed for a curve
MIN_TRAIN_ROWS = 20  # a smaller refit is skipped
MIN_REFIT_SECONDS = 2.0  # a refit given less is skipped (fit trains nothing in much less)
REFIT_TRIALS = 0  # tuning trials after the portfolio: the portfolio as the presets define it
SLOPE_POINTS = 3  # the gain per doubling is the least-squares slope over the last points
PLATEAU_SHARE = 0.02  # a gain per doubling below this share of the model's edge over the dummy
Fitter = Callable[..., Model]


@dataclass
class Curve:
    """The refits' scores: sizes done and skipped, and the paired scores behind them."""

    rows: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    train: list[float] = field(default_factory=list)  # each refit on its own rows (in-sample)
    oof: list[float | None] = field(default_factory=list)  # each refit's recorded CV score
    skipped: list[str] = field(default_factory=list)
    held_out: int = 0
    refit: dict[str, Any] = field(default_factory=dict)  # the options passed to the fitter
    largest: Model | None = None


def refit_options(model: Model, frame: pd.DataFrame, seed: int) -> dict[str, Any]:
    """The shipped configuration as fitter options (split columns only where ``frame`` has
    them; no tracking)."""
    plan = model.manifest.plan or {}
    call = (model.manifest.provenance or {}).get("call") or {}
    out: dict[str, Any] = {"task": model.task, "metric": model.metric,
                           "presets": plan.get("presets") or "balanced", "budget": REFIT_TRIALS,
                           "seed": seed}
    for key in ("groups", "time_column", "sample_weight"):
        name = plan.get(key)
        if isinstance(name, str) and name in frame.columns:
            out[key] = name
    ignored = [c for c in plan.get("ignored_columns") or () if c in frame.columns]
    if ignored:
        out["ignore_columns"] = ignored
    for key in ("calibrate", "optimize_threshold", "cost_matrix", "positive_class"):
        if call.get(key) is not None:
            out[key] = call[key]
    keep = [c for c in call.get("keep_columns") or () if c in frame.columns]
    if keep:
        out["keep_columns"] = keep
    return out


def _split(model: Model, data: Labelled, options: dict[str, Any],
           seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training order, held-out rows): a quarter held out (the latest rows for a time
    column, whole groups for a groups column, stratified by class otherwise); the training
    part ordered so that each prefix keeps the class shares (or time order: latest last)."""
    rng = np.random.default_rng(seed)
    n = len(data.y)
    frame = data.frame
    if "time_column" in options:
        order = np.argsort(pd.to_numeric(pd.to_datetime(frame[options["time_column"]],
                                                        errors="coerce"), errors="coerce")
                           .to_numpy(float), kind="stable")
        cut = int(round(n * (1 - HOLDOUT_SHARE)))
        return order[:cut][::-1], order[cut:]  # prefixes: the most recent training rows
    if "groups" in options:
        codes, uniques = pd.factorize(frame[options["groups"]])
        held_groups = rng.permutation(len(uniques))[:max(1, int(round(len(uniques) *
                                                                      HOLDOUT_SHARE)))]
        held = np.isin(codes, held_groups)
        return rng.permutation(np.flatnonzero(~held)), np.flatnonzero(held)
    key = rng.random(n)
    if model.task != "regression":  # rank within class / class size: prefixes stay stratified
        position = np.empty(n)
        for c in np.unique(data.y):
            idx = np.flatnonzero(data.y == c)
            position[idx[np.argsort(key[idx])]] = (np.arange(len(idx)) + rng.random()) / len(idx)
        key = position
    order = np.argsort(key, kind="stable")
    held = order[::int(round(1 / HOLDOUT_SHARE))]
    rest = np.setdiff1d(order, held, assume_unique=True)
    return rest[np.argsort(key[rest], kind="stable")], held


def run_curve(model: Model, data: Labelled, fitter: Fitter, time_limit: float,
              seed: int) -> tuple[Curve, dict[str, np.ndarray], np.ndarray]:
    """Refit on growing prefixes of the training part within ``time_limit`` seconds (each
    size a share weighted by the square root of its rows, unspent time passed on). Returns the
    curve, each size's raw output on the held-out rows, and the held-out row positions."""
    frame = data.frame
    keep = [c.name for c in model.schema.columns if c.name in frame.columns]
    options = refit_options(model, frame, seed)
    side = [options[k] for k in ("groups", "time_column", "sample_weight") if k in options]
    table = frame[list(dict.fromkeys([*keep, *side, model.target]))]
    order, held = _split(model, data, options, seed)
    curve = Curve(held_out=int(len(held)), refit=options)
    sizes = sorted({int(round(f * len(order))) for f in FRACTIONS})
    for size in (s for s in sizes if s < MIN_TRAIN_ROWS):
        curve.skipped.append(f"{size / max(len(order), 1):.0%} ({size} rows): fewer than "
                             f"{MIN_TRAIN_ROWS} rows")
    sizes = [s for s in sizes if s >= MIN_TRAIN_ROWS]
    weights = {s: np.sqrt(s) for s in sizes}
    preds: dict[str, np.ndarray] = {}
    end = time.monotonic() + float(time_limit)
    for i, size in enumerate(sizes):
        left = end - time.monotonic()
        share = left * weights[size] / sum(weights[s] for s in sizes[i:])
        if left >= MIN_REFIT_SECONDS * (len(sizes) - i):  # time for every size left: none skipped
            share = max(share, MIN_REFIT_SECONDS)
        pct = f"{size / max(len(order), 1):.0%}"
        if share < MIN_REFIT_SECONDS:
            curve.skipped.append(f"{pct} ({size} rows): the time limit left {max(share, 0):.1f} "
                                 f"s, {MIN_REFIT_SECONDS:.0f} s needed (give a larger "
                                 "time_limit, CLI --time-limit)")
            continue
        rows = table.iloc[order[:size]].reset_index(drop=True)
        started = time.monotonic()
        try:
            refit = fitter(rows, model.target, time_limit=share, **options)
        except MlexpertError as exc:
            curve.skipped.append(f"{pct} ({size} rows): {str(exc).splitlines()[0]}")
            continue
        curve.seconds.append(round(time.monotonic() - started, 2))
        preds[str(size)] = raw_output(refit, table.iloc[held], model.classes)
        metric = metric_of(model)
        own = raw_output(refit, rows, model.classes)
        curve.train.append(metric.score(data.y[order[:size]], own))
        cv = refit.metrics.get(model.metric, {}).get("value")
        curve.oof.append(None if cv is None else float(cv))
        curve.rows.append(size)
        curve.largest = refit
    return curve, preds, held


def learning_section(model: Model, data: Labelled, fitter: Fitter | None, time_limit: float,
                     seed: int) -> tuple[list[Finding], tuple[Chart, ...], dict[str, Any],
                                         list[str], Curve | None]:
    """The learning curve's findings, chart, summary and what was skipped."""
    if fitter is None:
        return [], (), {}, ["learning curve: no fitter given (mlexpert.diagnose passes "
                            "mlexpert.fit)"], None
    n = len(data.y)
    if n * HOLDOUT_SHARE < MIN_HOLDOUT:
        return [], (), {}, [f"learning curve: {n} labelled rows, "
                            f"{int(MIN_HOLDOUT / HOLDOUT_SHARE)} needed"], None
    curve, preds, held = run_curve(model, data, fitter, time_limit, seed)
    metric = metric_of(model)
    y = data.y[held]
    preds["dummy"] = dummy_output(model.task, data.y[np.setdiff1d(np.arange(n), held)],
                                  len(model.classes or ()), len(held))
    scores = paired_scores(metric, y, preds, seed)
    names = [str(r) for r in curve.rows]
    points = [scores.entry(k) for k in names]
    summary: dict[str, Any] = {
        "description": f"{model.metric} on {curve.held_out} held-out rows of {data.source} "
                       f"for the shipped configuration refitted on "
                       f"{', '.join(map(str, curve.rows)) or 'no'} rows ({', '.join(f'{k}={v!r}' for k, v in curve.refit.items())}).",
        "metric": model.metric, "held_out": curve.held_out, "rows": curve.rows,
        "held_out_scores": points, "train_scores": curve.train, "oof_scores": curve.oof,
        "dummy": scores.entry("dummy"), "refit": curve.refit, "refit_seconds": curve.seconds,
        "time_limit": float(time_limit)}
    skipped = [f"learning curve at {s}" for s in curve.skipped]
    findings: list[Finding] = []
    if len(names) >= 2:
        findings.append(_verdict(model, curve, scores, names, summary))
    else:
        skipped.append(f"learning curve verdict: {len(names)} refit(s) finished, 2 needed")
    chart = _chart(model, curve, points, scores.values["dummy"])
    return findings, (chart,) if curve.rows else (), summary, skipped, curve


def _slopes(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Least-squares slope of each row of ``ys`` against ``x``."""
    xc = x - x.mean()
    return (ys - ys.mean(axis=-1, keepdims=True)) @ xc / float(xc @ xc)


def _clean(v: float) -> float:
    """A float with rounding noise (1e-19 from a flat curve) shown as 0."""
    return 0.0 if abs(v) < 1e-12 else float(v)


def _verdict(model: Model, curve: Curve, scores: Any, names: list[str],
             summary: dict[str, Any]) -> Finding:
    metric = metric_of(model)
    g = sign(metric)
    last = names[-SLOPE_POINTS:]
    x = np.log2(np.array([float(k) for k in last]))
    slope = float(_slopes(x, np.array([scores.values[k] for k in last]))) * g
    draws = np.stack([scores.draws[k] for k in last], axis=1)
    boot = _slopes(x, draws) * g
    boot = boot[np.isfinite(boot)]
    lo, hi = (_clean(v) for v in np.quantile(boot, [0.025, 0.975])) if len(boot) > RESAMPLES // 4 \
        else (None, None)
    slope = _clean(slope)
    best = scores.values[names[-1]]
    dummy = scores.values["dummy"]
    edge = max(g * (best - dummy), 0.0)
    material = PLATEAU_SHARE * max(edge, 1e-3 * skill_scale(metric, dummy))
    evidence = {"metric": model.metric, "gain_per_doubling": slope, "low": lo, "high": hi,
                "points": [int(k) for k in last], "held_out_rows": curve.held_out,
                "score_at_largest": best, "dummy": dummy, "material_gain": material,
                "refitted": curve.refit}
    summary["gain_per_doubling"] = {"value": slope, "low": lo, "high": hi}
    what = (f"the shipped configuration (mlexpert.fit with presets={curve.refit['presets']!r}, "
            f"metric={model.metric!r}, no tuning trials) refitted on {', '.join(last)} rows and "
            f"scored on the same {curve.held_out} held-out rows")
    better = "higher" if metric.greater_is_better else "lower"
    if lo is not None and lo > 0 and slope > material:
        return Finding(
            check="more_data_helps", severity="warning",
            message=f"more data would help: {model.metric} improves by {slope:.4g} per doubling "
                    f"of the rows (95 % interval {lo:.4g} to {hi:.4g}; {better} is better), "
                    f"{what}.",
            evidence=evidence,
            suggestion="the model is still limited by data (variance): collecting more labelled "
                       "rows is likely the cheapest gain — the curve suggests about "
                       f"{slope:.3g} per doubling. Until then, stronger regularisation or a "
                       "simpler model (presets='fast') trades a little bias for less variance.")
    if hi is not None and hi < material:
        return Finding(
            check="plateaued", severity="info",
            message=f"the learning curve has plateaued: {model.metric} changes by {slope:.4g} "
                    f"per doubling of the rows (95 % interval {lo:.4g} to {hi:.4g}), below "
                    f"{material:.3g} ({PLATEAU_SHARE:.0%} of the model's edge over the dummy), "
                    f"{what}.",
            evidence=evidence,
            suggestion="more rows of the same kind will not help much: gains now come from "
                       "better features (new information, domain transformations), fixing label "
                       "noise, or a longer search (a larger time_limit).")
    return Finding(
        check="learning_curve_unclear", severity="info",
        message=f"the learning curve is inconclusive: {model.metric} changes by {slope:.4g} per "
                f"doubling (95 % interval {lo if lo is None else f'{lo:.4g}'} to "
                f"{hi if hi is None else f'{hi:.4g}'}), too noisy to call, {what}.",
        evidence=evidence,
        suggestion="more held-out rows (a larger labelled file) or a larger time_limit (CLI "
                   "--time-limit) narrow the interval.")


def _chart(model: Model, curve: Curve, points: list[dict[str, Any]], dummy: float) -> Chart:
    xs = tuple(float(r) for r in curve.rows)
    lines = [Line(f"held-out {model.metric} (95 % interval)", xs,
                  tuple(p["value"] for p in points), "holdout",
                  tuple(p["low"] for p in points), tuple(p["high"] for p in points)),
             Line("training rows (in-sample)", xs, tuple(curve.train), "train")]
    if any(v is not None for v in curve.oof):
        lines.append(Line("out-of-fold (each refit's CV)", xs,
                          tuple(float("nan") if v is None else v for v in curve.oof), "oof"))
    if xs:
        lines.append(Line("dummy (prior / mean)", (xs[0], xs[-1]), (dummy, dummy), "chance"))
    return Chart("learning_curve", f"Learning curve ({model.metric})", "training rows",
                 tuple(lines))
