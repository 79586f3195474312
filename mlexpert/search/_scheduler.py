"""The time-budget scheduler: cross-validate a portfolio, tune the winners, ensemble, refit.

Budget rules (``time_limit`` is a promise):
* portfolio candidates run in order of expected value, then Optuna trials on the families that
  are winning (``_tuner``) until the search time is spent or ``trials`` is reached;
* no candidate may take more than half of the search time left (unless it is the last), and
  each fold gets its share, after which boosting and forests stop adding rounds or trees;
* the estimated time to refit the best candidate so far is held back from the search;
* ensemble members are refitted on all rows only while the estimate fits in the time left;
  otherwise (or if a refit is cut short) the member keeps its K fold models as a bag;
* tuning stops on a plateau of the best score (``_tuner``); the time left refits stochastic
  members with further seeds (``_add_seeds``).

With ``trials`` given, the wall clock is only a safety cap: no time share, no time-based skip
or refit decision, so the same inputs give the same model on any machine.
"""
from __future__ import annotations

import os
import pickle
import time
import warnings
from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._clock import Deadline, median_seconds
from mlexpert.compiled import compile_estimator, compile_transformer
from mlexpert.data import Schema
from mlexpert.ensemble import Member
from mlexpert.errors import MlexpertError
from mlexpert.evaluate import Metric, corrected_t_test
from mlexpert.features import build_preprocessor
from mlexpert.models import FAMILIES, Family, FitRequest, Fitted
from mlexpert.search._ensemble import greedy_ensemble
from mlexpert.search._executor import Executor, InlineExecutor

PORTFOLIO = ("lightgbm", "linear", "catboost", "xgboost", "extra_trees", "lightgbm_large",
             "random_forest", "lightgbm_xt")


@dataclass(frozen=True)
class Preset:
    """A quality level: what is tried, how much is tuned, what is shipped."""

    portfolio: tuple[str, ...]
    tune_families: int  # how many of the best tunable families Optuna tunes (0: none)
    single_model: bool  # ship one model, not an ensemble
    ensemble_rounds: int
    prefer_cheaper: bool  # ship a cheaper model when the ensemble is not significantly better
    description: str
    max_seeds: int = 1  # fits per boosted member (seeds averaged) when time is left


PRESETS: dict[str, Preset] = {
    "fast": Preset(("lightgbm", "linear"), 1, True, 1, True,
                   "one model, lowest latency: LightGBM (tuned while time allows) or linear"),
    "balanced": Preset(PORTFOLIO, 2, False, 25, True,
                       "portfolio of 8 families/configs, Optuna on the 2 best families, ensemble; "
                       "a cheaper model is shipped when the ensemble is not significantly better",
                       max_seeds=3),
    "best": Preset(PORTFOLIO, 3, False, 50, False,
                   "as balanced, tuning the 3 best families, bigger ensembles, always shipped",
                   max_seeds=5),
}
MIN_CANDIDATE_SECONDS = 0.5
REFIT_MARGIN = 1.5
ENSEMBLE_POOL = 12  # the best candidates offered to ensemble selection...
# ...at most this many of one family: hundreds of near-identical trials of the winning family
# otherwise fill the pool, the ensemble loses its diversity and a long budget ships one tuned
# trial chosen on noise (telco at 300 s: 12 LightGBM trials, worse on test than 60 s's mix)
POOL_PER_FAMILY = 3
SIGNIFICANCE = 0.10  # one-sided p-value under which the ensemble's gain counts as real
CHEAPER_FACTOR = 2.0  # a model is "cheaper" when it predicts this many times faster
# ...and "as good" only when, besides no significant difference, its out-of-fold score is within
# this share of the ensemble's: 5 folds of small data rarely show significance, and the bench
# lost 0.05 log loss on olive_area (572 rows) by trusting the test alone
PRACTICAL_TOLERANCE = 0.002
ROW_PROBES = 3  # one-row predictions timed per probe; the median counts
# With time left after the refits (tuning stopped on a plateau), boosted members are refitted
# again with other seeds and averaged, up to the preset's ``max_seeds`` fits each: variance goes
# down where more trials would only fit out-of-fold noise (AutoGluon's repeated bagging does the
# same). Each seed adds a member's size and one-row time again (a 9-class LightGBM of 600 rounds
# x 5 seeds is 27,000 trees), so balanced stops at 3.
# families a seed does not change (linear) or only gives the trees a forest could grow itself
NO_SEEDS = frozenset({"linear", "random_forest", "extra_trees"})


@dataclass
class SearchSpec:
    """What the search needs beyond the data: the plan, the budget and the knobs."""

    task: str
    n_classes: int
    metric: Metric
    folds: list[tuple[np.ndarray, np.ndarray]]
    deadline: Deadline
    seed: int = 0
    preset: str = "balanced"
    sample_weight: np.ndarray | None = None  # scores candidates (and trains them, unless...)
    train_weight: np.ndarray | None = None  # ...given: then models train with this instead
    n_threads: int = field(default_factory=lambda: max(1, len(os.sched_getaffinity(0))))
    finish_seconds: float = 0.5  # held back for ensembling, intervals and building the model
    trials: int | None = None  # tuning trials after the portfolio; None: as many as time allows
    executor: Executor | None = None  # where fold fits run; None: in this process
    infer_limit_ms: float | None = None  # most milliseconds one row may take at batch size 1
    size_limit_mb: float | None = None  # most megabytes the shipped models may take pickled
    row_overhead_ms: float = 0.0  # per one-row call before any model: validation and coercion

    @property
    def test_fraction(self) -> float:
        """Mean share of rows a fold validates on (what the corrected t-test needs)."""
        return float(np.mean([len(va) / (len(tr) + len(va)) for tr, va in self.folds]))

    @property
    def fit_weight(self) -> np.ndarray | None:
        return self.sample_weight if self.train_weight is None else self.train_weight


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
    trial: int | None = None  # the Optuna trial number; None for the portfolio
    status: str = "pending"  # ok | stopped early | pruned | failed | skipped
    note: str = ""
    score: float | None = None
    fold_scores: list[float] = field(default_factory=list)
    fit_seconds: float = 0.0
    predict_ms: float = 0.0  # milliseconds to predict 1,000 rows, preprocessing included
    oof: np.ndarray | None = None
    fold_fits: list[Fitted] = field(default_factory=list)
    fold_seconds: list[float] = field(default_factory=list)
    prep_seconds: float = 0.0  # mean seconds to fit the preprocessing of one fold
    row_ms: float = 0.0  # milliseconds for the model alone to predict one row (batch size 1)
    size_mb: float = 0.0  # megabytes of one fold model, pickled (a refit is about the same)

    @property
    def usable(self) -> bool:
        return self.status in ("ok", "stopped early") and self.oof is not None


@dataclass
class SearchResult:
    """Every candidate as tried, the chosen members, and the shipped model's out-of-fold
    predictions (``oof_mask`` marks the rows that have one: all except under a time split)."""

    candidates: list[Candidate]
    members: list[Member]
    ensemble_score: float
    oof: np.ndarray
    oof_mask: np.ndarray
    ensemble_fold_scores: list[float] = field(default_factory=list)
    ensemble_predict_ms: float = 0.0
    notes: list[str] = field(default_factory=list)  # decisions the user should hear about
    row_latency_ms: dict[str, float] = field(default_factory=dict)  # estimated, batch size 1,
    # per candidate name (as if refitted) and "ensemble" (as shipped)
    size_mb: dict[str, float] = field(default_factory=dict)  # estimated pickled megabytes, the
    # same keys


class _Prepared:
    """Fitted preprocessors and transformed matrices, shared by every candidate of a kind."""

    def __init__(self, schema: Schema, frame: pd.DataFrame, seed: int):
        self.schema, self.frame, self.seed = schema, frame, seed
        self._cache: dict[tuple[str, Any], tuple[Any, Any, Any, list[int], float]] = {}
        self.transform_ms: dict[str, float] = {}  # per kind: ms to transform 1,000 rows
        self._row_ms: dict[str, float] = {}  # per kind: ms to transform one row
        self._size_mb: dict[str, float] = {}  # per kind: pickled megabytes of one preprocessor

    def row_ms(self, kind: str) -> float:
        """Milliseconds the preprocessing of ``kind`` takes for one row (batch size 1) as a
        shipped model runs it once warm: compiled to numpy (``mlexpert.compiled``), or through
        pandas where a step does not compile."""
        if kind not in self._row_ms:
            transformer = next(v[0] for (k, _), v in self._cache.items() if k == kind)
            row = self.frame.iloc[:1]
            call: Callable[[], Any] = lambda: transformer.transform(row)  # noqa: E731
            try:
                block = compile_transformer(transformer, self.schema)
                rows = list(zip(*self.schema.prepare_arrays(row), strict=True))
                block(rows)
                call = lambda: block(rows)  # noqa: E731
            except Exception:  # noqa: BLE001 - Unsupported, or any failure: the pandas path
                pass
            self._row_ms[kind] = _row_ms(call)
        return self._row_ms[kind]

    def size_mb(self, kind: str) -> float:
        """Megabytes one fitted preprocessor of ``kind`` takes pickled."""
        if kind not in self._size_mb:
            transformer = next(v[0] for (k, _), v in self._cache.items() if k == kind)
            self._size_mb[kind] = pickled_mb(transformer)
        return self._size_mb[kind]

    def get(self, kind: str, key: Any, train: np.ndarray | None,
            val: np.ndarray | None) -> tuple[Any, Any, Any, list[int], float]:
        """(transformer, X_train, X_val, categorical indices, seconds it took to build)."""
        if (kind, key) not in self._cache:
            t0 = time.monotonic()
            pre = build_preprocessor(self.schema, kind, seed=self.seed)
            tr_frame = self.frame if train is None else self.frame.iloc[train]
            Xtr = pre.transformer.fit_transform(tr_frame)
            Xva = None
            if val is not None:
                t1 = time.monotonic()
                Xva = pre.transformer.transform(self.frame.iloc[val])
                self.transform_ms.setdefault(kind, (time.monotonic() - t1) / len(val) * 1000 * 1000)
            self._cache[(kind, key)] = (pre.transformer, Xtr, Xva, pre.categorical,
                                        time.monotonic() - t0)
        return self._cache[(kind, key)]


def _fit_fold(family_name: str, Xtr: Any, ytr: np.ndarray, Xva: Any, params: dict[str, Any],
              req: FitRequest) -> tuple[Fitted, np.ndarray, float, float]:
    """One fold: (fitted model, its validation predictions, fit seconds, predict seconds).
    Module-level and keyed by family name so that a process pool can run it."""
    family = FAMILIES[family_name]
    t0 = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = family.fit(Xtr, ytr, params, req)
        t1 = time.monotonic()
        pred = fitted.predict(Xva)
    return fitted, pred, t1 - t0, time.monotonic() - t1


def _row_ms(call: Callable[[], Any]) -> float:
    """Median milliseconds of ``ROW_PROBES`` calls after one warm-up call."""
    return median_seconds(call, ROW_PROBES) * 1000


def _model_row_ms(fitted: Fitted, row: Any) -> float:
    """Milliseconds ``fitted`` alone takes on one transformed row as a shipped model calls it
    once warm (``compile_estimator``: LightGBM's booster on one thread, forests walked in
    numpy...; ``Fitted.predict`` where that fails)."""
    predict: Callable[[Any], Any] = fitted.predict
    try:
        fast = compile_estimator(fitted)
        fast(row)
        predict = fast
    except Exception:  # noqa: BLE001 - any failure: time the model's own predict
        pass
    return _row_ms(lambda: predict(row))


def pickled_mb(obj: Any) -> float:
    """Megabytes ``obj`` takes pickled (as in the bundle's members.joblib, uncompressed)."""
    return len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)) / 1e6


def _subset(w: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if w is None else w[idx]


def _refit_estimate(cand: Candidate, spec: SearchSpec, n_rows: int) -> float:
    """Seconds to refit ``cand`` on all rows: its mean fold fit plus preprocessing, scaled by the
    row ratio and by 1.1 for the extra rounds a refit runs."""
    n_train = np.mean([len(tr) for tr, _ in spec.folds])
    per_fold = float(np.mean(cand.fold_seconds)) + cand.prep_seconds
    return per_fold * n_rows / n_train * 1.1


class _Search:
    """State shared by the portfolio and tuning phases: data, folds, the best so far, events."""

    def __init__(self, frame: pd.DataFrame, y: np.ndarray, schema: Schema, spec: SearchSpec,
                 emit: Callable[[SearchEvent], None], executor: Executor):
        self.y, self.spec, self.emit, self.executor = y, spec, emit, executor
        self.prepared = _Prepared(schema, frame, spec.seed)
        self.mask = np.zeros(len(y), dtype=bool)
        for _, va in spec.folds:
            self.mask[va] = True
        self.y_eval = y[self.mask]
        self.w_eval = _subset(spec.sample_weight, np.flatnonzero(self.mask))
        self.candidates: list[Candidate] = []
        self.best: Candidate | None = None
        self.reserve = 0.0
        self.planned = 0  # candidates announced so far (for progress displays)
        self.notes: list[str] = []  # decisions the user should hear about (tuning, seeds)
        self.by_budget = spec.trials is not None  # wall clock only a safety cap

    def latency_ms(self, members: list[Candidate], parts: list[int] | None = None) -> float:
        """Estimated milliseconds to predict one row with ``members``, each with ``parts``
        models (1: refitted): validation, each kind's preprocessing once, each model once."""
        parts = parts or [1] * len(members)
        kinds = {FAMILIES[c.family].kind for c in members}
        return (self.spec.row_overhead_ms + sum(self.prepared.row_ms(k) for k in sorted(kinds))
                + sum(c.row_ms * n for c, n in zip(members, parts, strict=True)))

    def size_mb(self, members: list[Candidate], parts: list[int] | None = None) -> float:
        """Estimated megabytes of ``members`` pickled, each with ``parts`` models (1: refitted),
        plus one preprocessor per kind and part."""
        parts = parts or [1] * len(members)
        kinds: dict[str, int] = {}
        for c, n in zip(members, parts, strict=True):
            kind = FAMILIES[c.family].kind
            kinds[kind] = max(kinds.get(kind, 0), n)
        return (sum(self.prepared.size_mb(k) * n for k, n in sorted(kinds.items()))
                + sum(c.size_mb * n for c, n in zip(members, parts, strict=True)))

    def score(self, oof: np.ndarray) -> float:
        """The metric on the rows that have an out-of-fold prediction."""
        return self.spec.metric.score(self.y_eval, oof[self.mask], self.w_eval)

    def search_end(self) -> Deadline:
        return Deadline(self.spec.deadline.end - self.spec.finish_seconds - self.reserve)

    def event(self, kind: str, message: str) -> None:
        done = sum(c.status != "pending" for c in self.candidates)
        self.emit(SearchEvent(kind, message, done, max(self.planned, done),
                              self.best.name if self.best else None,
                              self.best.score if self.best else None,
                              self.spec.deadline.remaining()))

    def run(self, cand: Candidate, family: Family, left_after: int,
            on_fold: Callable[[int, float], bool] | None = None) -> None:
        """Cross-validate ``cand``; ``left_after`` candidates are still planned after it, so it
        may take at most half the time left unless it is the last. ``on_fold(i, mean score so
        far)`` returning True prunes it."""
        self.candidates.append(cand)
        end = self.search_end()
        if end.remaining() < (0.0 if self.by_budget else MIN_CANDIDATE_SECONDS):
            cand.status, cand.note = "skipped", "time limit reached before it could start"
            return
        budget = end.remaining() / (1 if self.by_budget else min(left_after + 1, 2))
        self.event("candidate_start", f"cross-validating {cand.name}")
        self._cross_validate(cand, family, end, budget, on_fold)
        if cand.usable and (self.best is None or self.spec.metric.better(cand.score, self.best.score)):
            self.best = cand
        if self.best is not None:  # hold back the best one's refit, with a margin for misestimates
            self.reserve = REFIT_MARGIN * _refit_estimate(self.best, self.spec, len(self.y))
        self.event("candidate_done", f"{cand.name}: {cand.status}"
                   + (f" {self.spec.metric.name}={cand.score:.4f}" if cand.score is not None else ""))

    def _cross_validate(self, cand: Candidate, family: Family, search_end: Deadline, budget: float,
                        on_fold: Callable[[int, float], bool] | None) -> None:
        """Fit ``cand`` on every fold within ``budget`` seconds (and before ``search_end``),
        ``executor.workers`` folds at a time."""
        spec, y = self.spec, self.y
        k, workers = len(spec.folds), max(1, self.executor.workers)
        threads = getattr(self.executor, "threads_per_task", None) or max(1, spec.n_threads // workers)
        start = time.monotonic()
        shape = (len(y), spec.n_classes) if spec.task != "regression" else (len(y),)
        oof = np.full(shape, np.nan)
        predict_ms = []
        try:
            for first in range(0, k, workers):
                wave = list(range(first, min(k, first + workers)))
                # a fold that cannot finish before the search must end is not started: some
                # steps (preprocessing, a solver's chunk) cannot be interrupted once begun
                expected = float(np.mean(cand.fold_seconds)) if cand.fold_seconds else 0.0
                floor = 0.0 if self.by_budget else max(expected, 0.05)
                if search_end.remaining() < floor:
                    cand.status, cand.note = "skipped", f"time limit reached after {first} of {k} folds"
                    return
                fold_deadline = search_end.sooner(start + budget * wave[-1] / k + budget / k
                                                  - time.monotonic())
                futures, first_rows = [], {}
                for i in wave:
                    tr, va = spec.folds[i]
                    _, Xtr, Xva, cats, prep = self.prepared.get(family.kind, i, tr, va)
                    first_rows[i] = Xva[:1]
                    cand.prep_seconds += prep / k
                    req = FitRequest(task=spec.task, n_classes=spec.n_classes, categorical=cats,
                                     seed=spec.seed, deadline=fold_deadline, n_threads=threads,
                                     sample_weight=_subset(spec.fit_weight, tr), X_val=Xva,
                                     y_val=y[va])
                    futures.append(self.executor.submit(_fit_fold, family.name, Xtr, y[tr], Xva,
                                                        cand.params, req))
                for i, future in zip(wave, futures, strict=True):
                    fitted, pred, fit_s, pred_s = future.result()
                    va = spec.folds[i][1]
                    if not cand.fold_fits:
                        cand.row_ms = _model_row_ms(fitted, first_rows[i])
                        cand.size_mb = pickled_mb(fitted)
                    oof[va] = pred
                    cand.fold_fits.append(fitted)
                    cand.fold_seconds.append(fit_s)
                    cand.fold_scores.append(self._fold_score(pred, va))
                    predict_ms.append(pred_s / len(va) * 1e6
                                      + self.prepared.transform_ms.get(family.kind, 0.0))
                if on_fold is not None and on_fold(wave[-1], float(np.mean(cand.fold_scores))):
                    cand.status = "pruned"
                    cand.note = f"stopped by the tuner after {wave[-1] + 1} of {k} folds: behind " \
                                "the other trials"
                    cand.fold_fits = []
                    return
        except BrokenExecutor as exc:  # every later candidate would fail the same way
            raise MlexpertError(
                "a worker process of the search died (out of memory or killed): "
                f"{type(exc).__name__}. Use fewer workers, a smaller sample, or the default "
                "in-process executor.") from exc
        except Exception as exc:  # noqa: BLE001 - one candidate failing must not end the search
            first_line = (str(exc).strip().splitlines() or [""])[0][:160]
            cand.status, cand.note = "failed", f"{type(exc).__name__}: {first_line}"
            cand.fold_fits = []
            return
        finally:
            cand.fit_seconds = time.monotonic() - start
            cand.predict_ms = float(np.mean(predict_ms)) if predict_ms else 0.0
        cand.oof = oof
        cand.score = self.score(oof)
        truncated = any(f.truncated for f in cand.fold_fits)
        cand.status = "stopped early" if truncated else "ok"
        if truncated:
            cand.note = "time limit cut its training short; more time would help"

    def _fold_score(self, pred: np.ndarray, va: np.ndarray) -> float:
        try:
            return self.spec.metric.score(self.y[va], pred, _subset(self.spec.sample_weight, va))
        except ValueError:  # e.g. ROC AUC on a fold with one class
            return float("nan")

    def fold_scores(self, oof: np.ndarray) -> list[float]:
        return [self._fold_score(oof[va], va) for _, va in self.spec.folds]


def run_search(frame: pd.DataFrame, y: np.ndarray, schema: Schema, spec: SearchSpec,
               on_event: Callable[[SearchEvent], None] | None = None) -> SearchResult:
    """Cross-validate the preset's portfolio, tune the winners within ``spec.deadline``,
    ensemble, and refit."""
    from mlexpert.search._tuner import tune

    executor = spec.executor or InlineExecutor()
    preset = PRESETS[spec.preset]
    search = _Search(frame, y, schema, spec, on_event or (lambda e: None), executor)
    by_name = {name: (fam, params) for fam in FAMILIES.values() for name, params in fam.configs(spec.task)}
    portfolio = [(name, *by_name[name]) for name in preset.portfolio]
    search.planned = len(portfolio) + (spec.trials or 0)
    for idx, (name, family, params) in enumerate(portfolio):
        search.run(Candidate(name, family.name, params), family, len(portfolio) - idx - 1)
    if preset.tune_families and (spec.trials is None or spec.trials > 0):
        tune(search, preset.tune_families, spec.trials)

    usable = [c for c in search.candidates if c.usable]
    if not usable:
        reasons = "; ".join(f"{c.name}: {c.note}" for c in search.candidates if c.note)
        raise MlexpertError(f"no model could be trained within the time limit ({reasons}). "
                            "Give a larger time_limit or check the data.")
    chosen, notes = _select(search, usable, preset)
    for cand in search.candidates:  # fold models of candidates left out are no longer needed
        if all(cand is not c for c, _ in chosen):
            cand.fold_fits = []
    oof = sum(w * c.oof for c, w in chosen)
    members, seconds = [], []
    for cand, w in chosen:
        search.event("refit", f"finalizing {cand.name}")
        t0 = time.monotonic()
        members.append(_member(cand, w, FAMILIES[cand.family], search))
        seconds.append(time.monotonic() - t0)
    if preset.max_seeds > 1:
        _add_seeds(search, chosen, members, seconds, preset.max_seeds)
    notes = search.notes + notes
    search.event("done", "search finished")
    cost = sum(c.predict_ms * len(m.parts) for (c, _), m in zip(chosen, members, strict=True))
    latency = {c.name: search.latency_ms([c]) for c in usable}
    latency["ensemble"] = search.latency_ms([c for c, _ in chosen], [len(m.parts) for m in members])
    size = {c.name: search.size_mb([c]) for c in usable}
    size["ensemble"] = search.size_mb([c for c, _ in chosen], [len(m.parts) for m in members])
    return SearchResult(search.candidates, members, search.score(oof), oof, search.mask,
                        search.fold_scores(oof), cost, notes, latency, size)


def _select(search: _Search, usable: list[Candidate],
            preset: Preset) -> tuple[list[tuple[Candidate, float]], list[str]]:
    """The members to ship with their weights, and what was decided that the user should hear.

    Ensemble selection runs over the best candidates; then, where the preset prefers cheaper
    models, a single candidate that predicts at least twice as fast replaces the ensemble when
    the ensemble is not significantly better on the same folds (corrected paired t-test) and
    its out-of-fold score is within ``PRACTICAL_TOLERANCE`` of the ensemble's."""
    metric, spec = search.spec.metric, search.spec
    sign = 1.0 if metric.greater_is_better else -1.0
    ranked = sorted(usable, key=lambda c: -sign * c.score)
    notes: list[str] = []
    # (limit, cost of a member list, what meeting it means, the least costly, its unit)
    limits = [lim for lim in (
        (spec.infer_limit_ms, search.latency_ms, "predict one row within infer_limit", "fastest",
         "ms"),
        (spec.size_limit_mb, search.size_mb, "fit size_limit", "smallest", "MB"))
        if lim[0] is not None]
    for limit, cost, meet, least_word, unit in limits:
        within = [c for c in ranked if cost([c]) <= limit]
        if not within:
            least = min(ranked, key=lambda c: cost([c]))
            return [(least, 1.0)], notes + [
                f"no candidate can {meet} ({_amount(limit, unit)}); the {least_word}, "
                f"{least.name} ({_amount(cost([least]), unit)}), is shipped."]
        ranked = within
    if preset.single_model:
        chosen = [(ranked[0], 1.0)]
    else:
        pool = ensemble_pool(ranked)
        weights = greedy_ensemble([c.oof[search.mask] for c in pool], search.y_eval, metric,
                                  search.w_eval, rounds=preset.ensemble_rounds,
                                  deadline=None if search.by_budget else spec.deadline)
        chosen = sorted(((c, float(w)) for c, w in zip(pool, weights, strict=True) if w > 0),
                        key=lambda cw: -cw[1])
        for limit, cost, meet, _, unit in limits:
            chosen, dropped = _within(chosen, cost, limit)
            if dropped:
                notes.append(f"{dropped} ensemble member(s) with the smallest weights were left "
                             f"out to {meet} ({_amount(limit, unit)}).")
    if not preset.prefer_cheaper:
        return chosen, notes
    shipped_oof = sum(w * c.oof for c, w in chosen)
    shipped_scores = search.fold_scores(shipped_oof)
    shipped_score = search.score(shipped_oof)
    cost = sum(c.predict_ms for c, _ in chosen)
    for cand in sorted(usable, key=lambda c: c.predict_ms):
        if cand.predict_ms * CHEAPER_FACTOR > cost:
            break  # the rest are slower still
        if len(chosen) == 1 and cand is chosen[0][0]:
            continue
        if sign * (shipped_score - cand.score) > PRACTICAL_TOLERANCE * abs(shipped_score):
            continue
        p = corrected_t_test(sign * np.asarray(shipped_scores), sign * np.asarray(cand.fold_scores),
                             spec.test_fraction)
        if np.isfinite(p) and p >= SIGNIFICANCE:
            what = "the ensemble" if len(chosen) > 1 else chosen[0][0].name
            return [(cand, 1.0)], notes + [
                f"{cand.name} is shipped instead of {what}: on the same folds {what} is not "
                f"significantly better (paired corrected t-test p={p:.2f}) and {cand.name} "
                f"predicts {cost / max(cand.predict_ms, 1e-9):.1f}x faster."]
    return chosen, notes


def ensemble_pool(ranked: list[Candidate]) -> list[Candidate]:
    """The candidates offered to ensemble selection, best first: the ``POOL_PER_FAMILY`` best of
    each family, at most ``ENSEMBLE_POOL`` in all."""
    per_family: dict[str, int] = {}
    pool = []
    for cand in ranked:
        if per_family.get(cand.family, 0) < POOL_PER_FAMILY:
            per_family[cand.family] = per_family.get(cand.family, 0) + 1
            pool.append(cand)
    return pool[:ENSEMBLE_POOL]


def _amount(x: float, unit: str) -> str:
    return f"{x:.1f} ms" if unit == "ms" else f"{x:.3g} MB"


def _within(chosen: list[tuple[Candidate, float]], cost: Callable[[list[Candidate]], float],
            limit: float) -> tuple[list[tuple[Candidate, float]], int]:
    """Drop the lightest members until ``cost`` of the rest is within ``limit``; weights
    renormalized. Returns the members kept and how many were dropped."""
    kept = list(chosen)
    while len(kept) > 1 and cost([c for c, _ in kept]) > limit:
        kept.pop(int(np.argmin([w for _, w in kept])))
    total = sum(w for _, w in kept)
    return [(c, w / total) for c, w in kept], len(chosen) - len(kept)


def _refit(cand: Candidate, family: Family, search: _Search, seed: int,
           seconds: float) -> tuple[Any, Fitted | None]:
    """(the all-rows preprocessor, ``cand`` fitted on all rows with ``seed`` within ``seconds``,
    or None when it failed or was cut short)."""
    spec, y = search.spec, search.y
    transformer, Xall, _, cats, _ = search.prepared.get(family.kind, "all", None, None)
    req = FitRequest(task=spec.task, n_classes=spec.n_classes, categorical=cats, seed=seed,
                     deadline=spec.deadline.sooner(max(seconds, 0.0)), n_threads=spec.n_threads,
                     sample_weight=spec.fit_weight)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = family.fit(Xall, y, family.refit_params(cand.params, cand.fold_fits), req)
    except Exception:  # noqa: BLE001 - the caller has a sound fallback
        return transformer, None
    return transformer, None if fitted.truncated else fitted


def _member(cand: Candidate, weight: float, family: Family, search: _Search) -> Member:
    """Refit on all rows when the estimate fits the time left, else keep the fold models."""
    spec = search.spec
    estimate = _refit_estimate(cand, spec, len(search.y))
    left = spec.deadline.remaining() - spec.finish_seconds
    if search.by_budget or estimate < left:
        transformer, fitted = _refit(cand, family, search, spec.seed, left)
        if fitted is not None:
            return Member(cand.name, family.name, weight, [(transformer, fitted)], refit=True)
    parts = [(search.prepared.get(family.kind, i, tr, va)[0], f)
             for i, ((tr, va), f) in enumerate(zip(spec.folds, cand.fold_fits, strict=True))]
    return Member(cand.name, family.name, weight, parts, refit=False)


def _add_seeds(search: _Search, chosen: list[tuple[Candidate, float]], members: list[Member],
               seconds: list[float], max_seeds: int) -> None:
    """Refit boosted refitted members with further seeds while the time left allows
    (``REFIT_MARGIN`` x the member's last fit, ``seconds`` at first) and ``infer_limit`` /
    ``size_limit`` hold; round-robin, heaviest first, so every member gains alike. Each member
    averages its fits."""
    spec = search.spec
    if search.by_budget:
        return  # a time-based decision: the trial-count budget promises the same model anywhere
    last = {id(m): s for m, s in zip(members, seconds, strict=True)}
    todo = [(c, m) for (c, _), m in zip(chosen, members, strict=True)
            if m.refit and c.family not in NO_SEEDS]
    added = 0
    for seed in range(1, max_seeds):
        for cand, member in todo:
            if len(member.parts) != seed:
                continue  # an earlier round could not add this one's seed
            left = spec.deadline.remaining() - spec.finish_seconds
            if REFIT_MARGIN * last[id(member)] >= left or not _seed_within_limits(
                    search, chosen, members, cand):
                continue
            search.event("refit", f"refitting {cand.name} with seed {seed + 1}")
            t0 = time.monotonic()
            transformer, fitted = _refit(cand, FAMILIES[cand.family], search, spec.seed + seed,
                                         left)
            if fitted is not None:
                member.parts.append((transformer, fitted))
                last[id(member)] = time.monotonic() - t0
                added += 1
    if added:
        counts = ", ".join(f"{m.name} x{len(m.parts)}" for _, m in todo if len(m.parts) > 1)
        search.notes.append(f"the time left refitted {added} more seed(s), averaged per member "
                            f"({counts}).")


def _seed_within_limits(search: _Search, chosen: list[tuple[Candidate, float]],
                        members: list[Member], cand: Candidate) -> bool:
    """Whether one more fit of ``cand`` keeps the shipped model within infer_limit and
    size_limit (estimates, as selection used)."""
    spec = search.spec
    cands = [c for c, _ in chosen]
    parts = [len(m.parts) + (c is cand) for c, m in zip(cands, members, strict=True)]
    if spec.infer_limit_ms is not None and search.latency_ms(cands, parts) > spec.infer_limit_ms:
        return False
    return spec.size_limit_mb is None or search.size_mb(cands, parts) <= spec.size_limit_mb
