"""The time-budget scheduler: cross-validate a portfolio of candidates, ensemble, refit.

Budget rules (``time_limit`` is a promise):
* candidates run in order of expected value; none may take more than half of the search time
  left (unless it is the last), and each fold gets its share, after which boosting and forests
  stop adding rounds or trees;
* the estimated time to refit the best candidate so far is held back from the search;
* ensemble members are refitted on all rows only while the estimate fits in the time left;
  otherwise (or if a refit is cut short) the member keeps its K fold models as a bag.
"""
from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._clock import Deadline
from mlexpert.data import Schema
from mlexpert.errors import MlexpertError
from mlexpert.evaluate import Metric
from mlexpert.features import build_preprocessor
from mlexpert.models import FAMILIES, Family, FitRequest, Fitted
from mlexpert.search._ensemble import greedy_ensemble

# Candidate configurations per preset, in order of expected value.
PRESETS: dict[str, list[str]] = {
    "fast": ["lightgbm", "linear"],
    "medium": ["lightgbm", "linear", "catboost", "xgboost", "extra_trees", "lightgbm_large",
               "random_forest", "lightgbm_xt"],
}
MIN_CANDIDATE_SECONDS = 0.5
REFIT_MARGIN = 1.5


@dataclass
class SearchSpec:
    """What the search needs beyond the data: the plan, the budget and the knobs."""

    task: str
    n_classes: int
    metric: Metric
    folds: list[tuple[np.ndarray, np.ndarray]]
    deadline: Deadline
    seed: int = 0
    preset: str = "medium"
    sample_weight: np.ndarray | None = None
    n_threads: int = field(default_factory=lambda: max(1, len(os.sched_getaffinity(0))))
    finish_seconds: float = 0.5  # held back for ensembling, intervals and building the model


@dataclass
class SearchEvent:
    """Progress for a display: what happens now, the best so far, the time left."""

    kind: str  # "candidate_start" | "candidate_done" | "refit" | "done"
    message: str
    done: int
    total: int
    best_model: str | None
    best_score: float | None
    seconds_left: float


@dataclass
class Candidate:
    """One configuration tried under cross-validation."""

    name: str
    family: str
    params: dict[str, Any]
    status: str = "pending"  # ok | stopped early | failed | skipped
    note: str = ""
    score: float | None = None
    fit_seconds: float = 0.0
    oof: np.ndarray | None = None
    fold_fits: list[Fitted] = field(default_factory=list)
    fold_seconds: list[float] = field(default_factory=list)
    prep_seconds: float = 0.0  # mean seconds to fit the preprocessing of one fold

    @property
    def usable(self) -> bool:
        return self.status in ("ok", "stopped early")


class Member:
    """One ensemble member as shipped: (fitted preprocessor, fitted model) pairs, averaged."""

    def __init__(self, name: str, family: str, weight: float, parts: list[tuple[Any, Fitted]],
                 refit: bool):
        self.name, self.family, self.weight, self.parts, self.refit = name, family, weight, parts, refit

    def predict(self, frame: pd.DataFrame, cache: dict[int, Any] | None = None) -> np.ndarray:
        """Raw prediction (probabilities or values) averaged over the parts."""
        cache = {} if cache is None else cache
        total = None
        for transformer, fitted in self.parts:
            key = id(transformer)
            if key not in cache:
                cache[key] = transformer.transform(frame)
            p = fitted.predict(cache[key])
            total = p if total is None else total + p
        return total / len(self.parts)


@dataclass
class SearchResult:
    """Every candidate as tried, the chosen members, and the ensemble's out-of-fold predictions
    (``oof_mask`` marks the rows that have one: all of them except under a time split)."""

    candidates: list[Candidate]
    members: list[Member]
    ensemble_score: float
    oof: np.ndarray
    oof_mask: np.ndarray


class _Prepared:
    """Fitted preprocessors and transformed matrices, shared by every candidate of a kind."""

    def __init__(self, schema: Schema, frame: pd.DataFrame, seed: int):
        self.schema, self.frame, self.seed = schema, frame, seed
        self._cache: dict[tuple[str, Any], tuple[Any, Any, Any, list[int], float]] = {}

    def get(self, kind: str, key: Any, train: np.ndarray | None,
            val: np.ndarray | None) -> tuple[Any, Any, Any, list[int], float]:
        """(transformer, X_train, X_val, categorical indices, seconds it took to build)."""
        if (kind, key) not in self._cache:
            t0 = time.monotonic()
            pre = build_preprocessor(self.schema, kind, seed=self.seed)
            tr_frame = self.frame if train is None else self.frame.iloc[train]
            Xtr = pre.transformer.fit_transform(tr_frame)
            Xva = None if val is None else pre.transformer.transform(self.frame.iloc[val])
            self._cache[(kind, key)] = (pre.transformer, Xtr, Xva, pre.categorical,
                                        time.monotonic() - t0)
        return self._cache[(kind, key)]


def _portfolio(preset: str, task: str) -> list[tuple[str, Family, dict[str, Any]]]:
    by_name = {name: (fam, params) for fam in FAMILIES.values() for name, params in fam.configs(task)}
    return [(name, *by_name[name]) for name in PRESETS[preset]]


def _subset(w: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if w is None else w[idx]


def _refit_estimate(cand: Candidate, spec: SearchSpec, n_rows: int) -> float:
    """Seconds to refit ``cand`` on all rows: its mean fold fit plus preprocessing, scaled by the
    row ratio and by 1.1 for the extra rounds a refit runs."""
    n_train = np.mean([len(tr) for tr, _ in spec.folds])
    per_fold = float(np.mean(cand.fold_seconds)) + cand.prep_seconds
    return per_fold * n_rows / n_train * 1.1


def run_search(frame: pd.DataFrame, y: np.ndarray, schema: Schema, spec: SearchSpec,
               on_event: Callable[[SearchEvent], None] | None = None) -> SearchResult:
    """Cross-validate the preset's portfolio within ``spec.deadline``, ensemble, and refit."""
    emit = on_event or (lambda e: None)
    prepared = _Prepared(schema, frame, spec.seed)
    n = len(y)
    mask = np.zeros(n, dtype=bool)
    for _, va in spec.folds:
        mask[va] = True
    y_eval, w_eval = y[mask], _subset(spec.sample_weight, np.flatnonzero(mask))

    def score(oof: np.ndarray) -> float:
        """The metric on the rows that have an out-of-fold prediction."""
        return spec.metric.score(y_eval, oof[mask], w_eval)
    portfolio = _portfolio(spec.preset, spec.task)
    candidates = [Candidate(name, fam.name, params) for name, fam, params in portfolio]
    best: Candidate | None = None
    reserve = 0.0

    def event(kind: str, message: str, done: int) -> None:
        emit(SearchEvent(kind, message, done, len(candidates), best.name if best else None,
                         best.score if best else None, spec.deadline.remaining()))

    for idx, (cand, (_, family, params)) in enumerate(zip(candidates, portfolio, strict=True)):
        search_end = Deadline(spec.deadline.end - spec.finish_seconds - reserve)
        if search_end.remaining() < MIN_CANDIDATE_SECONDS:
            cand.status, cand.note = "skipped", "time limit reached before it could start"
            continue
        budget = search_end.remaining() / min(len(candidates) - idx, 2)
        event("candidate_start", f"cross-validating {cand.name}", idx)
        _cross_validate(cand, family, params, y, spec, prepared, search_end, budget, score)
        if cand.usable and (best is None or spec.metric.better(cand.score, best.score)):
            best = cand
        if best is not None:  # hold back the best one's refit, with a margin for misestimates
            reserve = REFIT_MARGIN * _refit_estimate(best, spec, n)
        event("candidate_done", f"{cand.name}: {cand.status}"
              + (f" {spec.metric.name}={cand.score:.4f}" if cand.score is not None else ""), idx + 1)

    usable = [c for c in candidates if c.usable]
    if not usable:
        reasons = "; ".join(f"{c.name}: {c.note}" for c in candidates if c.note)
        raise MlexpertError(f"no model could be trained within the time limit ({reasons}). "
                            "Give a larger time_limit or check the data.")
    weights = greedy_ensemble([c.oof[mask] for c in usable], y_eval, spec.metric, w_eval,
                              deadline=spec.deadline)
    chosen = [(c, float(w)) for c, w in zip(usable, weights, strict=True) if w > 0]
    chosen.sort(key=lambda cw: -cw[1])
    for cand in candidates:  # fold models of candidates left out are no longer needed
        if all(cand is not c for c, _ in chosen):
            cand.fold_fits = []
    oof = sum(w * c.oof for c, w in chosen)
    ens_score = score(oof)
    members = []
    for cand, w in chosen:
        event("refit", f"finalizing {cand.name}", len(candidates))
        members.append(_member(cand, w, FAMILIES[cand.family], y, spec, prepared))
    event("done", "search finished", len(candidates))
    return SearchResult(candidates, members, ens_score, oof, mask)


def _cross_validate(cand: Candidate, family: Family, params: dict[str, Any], y: np.ndarray,
                    spec: SearchSpec, prepared: _Prepared, search_end: Deadline, budget: float,
                    score: Callable[[np.ndarray], float]) -> None:
    """Fit ``cand`` on every fold within ``budget`` seconds (and before ``search_end``)."""
    k = len(spec.folds)
    start = time.monotonic()
    shape = (len(y), spec.n_classes) if spec.task != "regression" else (len(y),)
    oof = np.full(shape, np.nan)
    try:
        for i, (tr, va) in enumerate(spec.folds):
            # a fold that cannot finish before the search must end is not started: some steps
            # (preprocessing, a solver's chunk) cannot be interrupted once begun
            expected = float(np.mean(cand.fold_seconds)) if cand.fold_seconds else 0.0
            if search_end.remaining() < max(expected, 0.05):
                cand.status, cand.note = "skipped", f"time limit reached after {i} of {k} folds"
                return
            fold_deadline = search_end.sooner(start + budget * (i + 1) / k - time.monotonic())
            transformer, Xtr, Xva, cats, prep = prepared.get(family.kind, i, tr, va)
            cand.prep_seconds += prep / k
            req = FitRequest(task=spec.task, n_classes=spec.n_classes, categorical=cats,
                             seed=spec.seed, deadline=fold_deadline, n_threads=spec.n_threads,
                             sample_weight=_subset(spec.sample_weight, tr), X_val=Xva, y_val=y[va])
            t0 = time.monotonic()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = family.fit(Xtr, y[tr], params, req)
                oof[va] = fitted.predict(Xva)
            cand.fold_seconds.append(time.monotonic() - t0)
            cand.fold_fits.append(fitted)
    except Exception as exc:  # noqa: BLE001 - one candidate failing must not end the search
        first_line = (str(exc).strip().splitlines() or [""])[0][:160]
        cand.status, cand.note = "failed", f"{type(exc).__name__}: {first_line}"
        return
    finally:
        cand.fit_seconds = time.monotonic() - start
    cand.oof = oof
    cand.score = score(oof)
    truncated = any(f.truncated for f in cand.fold_fits)
    cand.status = "stopped early" if truncated else "ok"
    if truncated:
        cand.note = "time limit cut its training short; more time would help"


def _member(cand: Candidate, weight: float, family: Family, y: np.ndarray, spec: SearchSpec,
            prepared: _Prepared) -> Member:
    """Refit on all rows when the estimate fits the time left, else keep the fold models."""
    estimate = _refit_estimate(cand, spec, len(y))
    left = spec.deadline.remaining() - spec.finish_seconds
    if estimate < left:
        transformer, Xall, _, cats, _ = prepared.get(family.kind, "all", None, None)
        req = FitRequest(task=spec.task, n_classes=spec.n_classes, categorical=cats, seed=spec.seed,
                         deadline=spec.deadline.sooner(left), n_threads=spec.n_threads,
                         sample_weight=spec.sample_weight)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = family.fit(Xall, y, family.refit_params(cand.params, cand.fold_fits), req)
            if not fitted.truncated:
                return Member(cand.name, family.name, weight, [(transformer, fitted)], refit=True)
        except Exception:  # noqa: BLE001 - the fold bag below is a sound fallback
            pass
    parts = [(prepared.get(family.kind, i, tr, va)[0], f)
             for i, ((tr, va), f) in enumerate(zip(spec.folds, cand.fold_fits, strict=True))]
    return Member(cand.name, family.name, weight, parts, refit=False)
