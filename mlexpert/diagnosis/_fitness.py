"""Bias and variance (training vs out-of-fold vs holdout) and "better than random?" (the model
against the dummy baseline on the same rows), from labelled rows and what the bundle recorded."""
from __future__ import annotations

from typing import Any

import numpy as np

from mlexpert.bundle import Model
from mlexpert.diagnosis._learning import Curve
from mlexpert.diagnosis._report import Bar, Bars
from mlexpert.diagnosis._scores import (
    MIN_ROWS,
    Labelled,
    dummy_output,
    metric_of,
    paired_scores,
    sign,
    skill_scale,
)
from mlexpert.findings import Finding

OVERFIT_SHARE = 0.5  # train - OOF gap above this share of the OOF's edge over the dummy
UNDERFIT_SHARE = 0.1  # an edge over the dummy below this share of the dummy's distance to perfect
SHIFT_SHARE = 0.25  # a holdout this share of the OOF's edge (or more) below the OOF score


def _fmt(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("value") is None:
        return "not measured"
    lo, hi = entry.get("low"), entry.get("high")
    band = f" ({lo:.4g} to {hi:.4g})" if lo is not None and hi is not None else ""
    return f"{entry['value']:.4g}{band}"


def scored_rows(data: Labelled) -> tuple[np.ndarray, str]:
    """The rows the model is judged on: those it did not train on when enough are found,
    else every row (then an in-sample score, said so)."""
    new = ~data.seen
    if new.sum() >= MIN_ROWS:
        how = "rows of it not found among the training rows" if data.seen.any() else "all rows"
        if data.seen.any() and not data.complete:
            how += " (the bundle keeps a sample of the training rows, so some may be training rows)"
        return np.flatnonzero(new), how
    return np.arange(len(data.y)), "all rows, which the model was trained on (in-sample)"


def baseline_section(model: Model, data: Labelled, seed: int) -> tuple[list[Finding], Any,
                                                                       dict[str, Any]]:
    """Is the model better than always answering the prior / mean, on the same rows?"""
    metric = metric_of(model)
    rows, how = scored_rows(data)
    y = data.y[rows]
    dummy = dummy_output(model.task, y, len(model.classes or ()), len(rows))
    scores = paired_scores(metric, y, {"model": data.raw[rows], "dummy": dummy}, seed)
    g = sign(metric)
    gap, lo, hi = scores.gap("model", "dummy", g)
    what = ("the class shares of these rows (prior)" if model.task != "regression"
            else "the mean of these rows")
    evidence = {"metric": model.metric, "model": scores.entry("model"),
                "dummy": scores.entry("dummy"), "gap": gap, "low": lo, "high": hi,
                "rows": int(len(rows)), "scored_rows": how, "dummy_answer": what}
    summary = {"description": f"the model against the dummy ({what}) on {len(rows)} rows of "
                              f"{data.source} ({how}).", **evidence}
    band = f"(95 % interval {lo:.4g} to {hi:.4g})" if lo is not None else "(no interval)"
    if lo is not None and lo > 0:
        f = Finding(
            check="better_than_dummy", severity="info",
            message=f"better than the dummy: {model.metric} {scores.values['model']:.4g} against "
                    f"{scores.values['dummy']:.4g} for always answering {what}, a gap of "
                    f"{gap:.4g} {band} on {len(rows)} rows ({how}).",
            evidence=evidence,
            suggestion="nothing to fix; the gap is the value the model adds over a constant "
                       "answer, the number to weigh against its cost.")
    else:
        worse = hi is not None and hi < 0
        f = Finding(
            check="not_better_than_dummy", severity="error",
            message=f"{'worse than' if worse else 'not distinguishable from'} the dummy: "
                    f"{model.metric} {scores.values['model']:.4g} against "
                    f"{scores.values['dummy']:.4g} for always answering {what}, a gap of "
                    f"{gap:.4g} {band} on {len(rows)} rows ({how}).",
            evidence=evidence,
            suggestion="the model adds nothing these rows can show: check that the target and "
                       "features mean the same here as in training (the skew section, mlexpert "
                       "drift), that the target is predictable from the columns at all (mlexpert "
                       "audit), or label more rows if the interval is wide.")
    chart = Bars("baseline", "Model vs dummy", f"{model.metric} on {len(rows)} rows",
                 (Bar("model", *_triple(scores.entry("model")), kind="holdout"),
                  Bar("dummy", *_triple(scores.entry("dummy")), kind="dummy")))
    return [f], chart, summary


def _triple(entry: dict[str, Any] | None) -> tuple[Any, Any, Any]:
    if not entry:
        return None, None, None
    return entry.get("value"), entry.get("low"), entry.get("high")


def bias_variance_section(model: Model, data: Labelled, curve: Curve | None,
                          seed: int) -> tuple[list[Finding], Any, dict[str, Any], list[str]]:
    """Training score, the bundle's out-of-fold score and the holdout score, with intervals,
    read as overfitting, underfitting or a holdout far below the out-of-fold estimate."""
    metric = metric_of(model)
    g = sign(metric)
    skipped: list[str] = []
    oof = dict(model.metrics.get(model.metric) or {}) or None
    new = np.flatnonzero(~data.seen)
    seen = np.flatnonzero(data.seen)
    dummy_rows = new if len(new) >= MIN_ROWS else np.arange(len(data.y))
    preds: dict[str, np.ndarray] = {}
    train = holdout = None
    train_how = ""
    if len(seen) >= MIN_ROWS:
        train = paired_scores(metric, data.y[seen], {"train": data.raw[seen]}, seed).entry("train")
        train_how = f"the shipped model on the {len(seen)} rows of {data.source} it trained on"
    elif curve is not None and curve.rows:
        train = {"value": curve.train[-1], "low": None, "high": None}
        train_how = (f"the shipped configuration refitted on {curve.rows[-1]} rows of "
                     f"{data.source}, scored on those rows")
    else:
        skipped.append("training score: no training rows in the data and no refit")
    if len(new) >= MIN_ROWS:
        preds["holdout"] = data.raw[new]
    else:
        skipped.append(f"holdout score: {len(new)} rows not seen in training, {MIN_ROWS} needed")
    y = data.y[dummy_rows]
    scores = paired_scores(metric, y, {
        "dummy": dummy_output(model.task, y, len(model.classes or ()), len(y)),
        **({"holdout": preds["holdout"]} if "holdout" in preds else {})}, seed)
    dummy = scores.entry("dummy")
    if "holdout" in preds:
        holdout = scores.entry("holdout")
    scale = skill_scale(metric, dummy["value"])
    evidence: dict[str, Any] = {"metric": model.metric, "train": train, "train_from": train_how,
                                "oof": oof, "holdout": holdout, "holdout_rows": int(len(new)),
                                "dummy": dummy}
    findings: list[Finding] = []
    oof_edge = None if oof is None else g * (oof["value"] - dummy["value"])
    if train is not None and oof is not None:
        gap = g * (train["value"] - oof["value"])
        evidence["train_oof_gap"] = gap
        if gap > OVERFIT_SHARE * max(oof_edge or 0.0, 1e-3 * scale) and gap > 0.01 * scale:
            findings.append(Finding(
                check="overfitting", severity="warning",
                message=f"overfit: {model.metric} {_fmt(train)} on training rows against "
                        f"{_fmt(oof)} out of fold, a gap of {gap:.4g}, "
                        f"{gap / max(oof_edge or 1e-12, 1e-12):.1f}x the out-of-fold edge over "
                        f"the dummy ({dummy['value']:.4g}). Training score: {train_how}.",
                evidence=evidence,
                suggestion="the model memorises its training rows (high variance): more rows "
                           "help most (see the learning curve); otherwise regularise — fewer, "
                           "shallower trees or more min_child_samples, fewer noisy columns "
                           "(ignore_columns), presets='fast' for one simpler model — and check "
                           "the labels for noise (mlexpert audit)."))
    if oof is not None and oof_edge is not None and oof_edge < UNDERFIT_SHARE * scale and (
            train is None or g * (train["value"] - dummy["value"]) < 2 * UNDERFIT_SHARE * scale):
        findings.append(Finding(
            check="underfitting", severity="warning",
            message=f"underfit: {model.metric} {_fmt(oof)} out of fold"
                    + (f" and {_fmt(train)} on training rows" if train else "")
                    + f", barely better than the dummy's {dummy['value']:.4g} (perfect is "
                      f"{scale:.3g} away from it).",
            evidence=evidence,
            suggestion="the model finds little signal even in the rows it trains on (high "
                       "bias): add informative features, check that the target is what you "
                       "mean (mlexpert audit), give the search more time (time_limit) or larger "
                       "presets ('best'); more rows of the same kind will not help."))
    if holdout is not None and oof is not None and oof.get("low") is not None \
            and holdout.get("high") is not None:
        drop = g * (oof["value"] - holdout["value"])
        evidence["oof_holdout_gap"] = drop
        below = g * (holdout["high"] if g > 0 else holdout["low"]) < g * (
            oof["low"] if g > 0 else oof["high"])
        if below and drop > SHIFT_SHARE * max(oof_edge or 0.0, 1e-3 * scale):
            findings.append(Finding(
                check="holdout_below_oof", severity="warning",
                message=f"the holdout is far below the out-of-fold estimate: {model.metric} "
                        f"{_fmt(holdout)} on {len(new)} new rows of {data.source} against "
                        f"{_fmt(oof)} out of fold at training, a drop of {drop:.4g}.",
                evidence=evidence,
                suggestion="either the new rows differ from the training rows (run the skew "
                           "section with --serving, or mlexpert drift MODEL --current DATA) or "
                           "the out-of-fold estimate was optimistic: leakage in training (a "
                           "column known only after the target, duplicated entities across "
                           "folds: use groups= or time_column=). Refit on data that looks like "
                           "what the model will see."))
    if not findings and oof is not None:
        findings.append(Finding(
            check="bias_variance_ok", severity="info",
            message=f"no sign of over- or underfitting: {model.metric} {_fmt(train)} on training "
                    f"rows, {_fmt(oof)} out of fold, {_fmt(holdout)} on new rows, "
                    f"{dummy['value']:.4g} for the dummy.",
            evidence=evidence, suggestion="nothing to fix here."))
    bars = Bars("bias_variance", "Training, out-of-fold, holdout and dummy", model.metric,
                (Bar("training", *_triple(train), kind="train"),
                 Bar("out-of-fold", *_triple(oof), kind="oof"),
                 Bar("holdout", *_triple(holdout), kind="holdout"),
                 Bar("dummy", *_triple(dummy), kind="dummy")))
    summary = {"description": f"{model.metric}: training {_fmt(train)}, out of fold "
                              f"{_fmt(oof)} (recorded at fit), holdout {_fmt(holdout)} "
                              f"({len(new)} new rows), dummy {_fmt(dummy)}.", **evidence}
    return findings, bars, summary, skipped
