"""Cross-validation of a candidate under the deadline, and the state the portfolio, the tuner,
selection and refit share (``Search``: data, folds, candidates so far, the best, events)."""
from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from typing import Any

import numpy as np
import pandas as pd

from mlexpert._clock import Deadline
from mlexpert.data import Schema
from mlexpert.errors import MlexpertError
from mlexpert.models import (
    FAMILIES,
    Family,
    FitRequest,
    Fitted,
    Offset,
    fit_from_offset,
    library_params,
)
from mlexpert.search._executor import Executor
from mlexpert.search._packed import held_fit, release
from mlexpert.search._prepared import Prepared
from mlexpert.search._presets import MIN_CANDIDATE_SECONDS, REFIT_MARGIN
from mlexpert.search._probes import model_row_ms
from mlexpert.search._records import Candidate, Note, SearchEvent, SearchSpec


def _fit_fold(family_name: str, Xtr: Any, ytr: np.ndarray, Xva: Any, params: dict[str, Any],
              req: FitRequest, offset: Offset | None = None
              ) -> tuple[Fitted, np.ndarray, float, float]:
    """One fold: (fitted model, its validation predictions, fit seconds, predict seconds).
    Module-level and keyed by family name so that a process pool can run it."""
    family = FAMILIES[family_name]
    t0 = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = fit_from_offset(family, Xtr, ytr, library_params(params), req, offset)
        t1 = time.monotonic()
        pred = fitted.predict(Xva)
    return fitted, pred, t1 - t0, time.monotonic() - t1


def _fit_out_of_bag(family_name: str, X: Any, y: np.ndarray, params: dict[str, Any],
                    req: FitRequest) -> tuple[Fitted, np.ndarray, float]:
    """One fit on all rows: (fitted model, its out-of-bag predictions, seconds)."""
    t0 = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted, oob = FAMILIES[family_name].fit_out_of_bag(X, y, library_params(params), req)
    return fitted, oob, time.monotonic() - t0


Stop = tuple[str, str]  # why a candidate's cross-validation ends early: (status, note)


def _subset(w: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if w is None else w[idx]


def _broken(exc: BrokenExecutor) -> MlexpertError:
    """Every later candidate would fail the same way: end the search, saying why."""
    return MlexpertError(
        "a worker process of the search died (out of memory or killed): "
        f"{type(exc).__name__}. Use fewer workers, a smaller sample, or the default "
        "in-process executor.")


def _first_line(exc: Exception) -> str:
    """A failed candidate's note: the exception's type and first line."""
    first_line = (str(exc).strip().splitlines() or [""])[0][:160]
    return f"{type(exc).__name__}: {first_line}"


def refit_estimate(cand: Candidate, spec: SearchSpec, n_rows: int) -> float:
    """Seconds to refit ``cand`` on all rows: its mean fold fit plus preprocessing, scaled by the
    row ratio and by 1.1 for the extra rounds a refit runs."""
    if cand.whole is not None:
        return 0.0
    n_train = np.mean([len(tr) for tr, _ in spec.folds])
    per_fold = float(np.mean(cand.fold_seconds)) + cand.prep_seconds
    return per_fold * n_rows / n_train * 1.1


class Search:
    """State shared by the portfolio and tuning phases: data, folds, the best so far, events."""

    def __init__(self, frame: pd.DataFrame, y: np.ndarray, schema: Schema, spec: SearchSpec,
                 emit: Callable[[SearchEvent], None], executor: Executor):
        self.y, self.spec, self.emit, self.executor = y, spec, emit, executor
        self.prepared = Prepared(schema, frame, spec.seed, spec.task, y, spec.history,
                                 spec.select_columns, spec.n_classes)
        self.mask = np.zeros(len(y), dtype=bool)
        for _, va in spec.folds:
            self.mask[va] = True
        self.y_eval = y[self.mask]
        self.w_eval = _subset(spec.sample_weight, np.flatnonzero(self.mask))
        self.candidates: list[Candidate] = []
        self.best: Candidate | None = None
        self.reserve = 0.0
        self.planned = 0  # candidates announced so far (for progress displays)
        self.notes: list[Note] = []  # decisions the user should hear about (tuning, seeds)
        self.by_budget = spec.trials is not None  # wall clock only a safety cap

    def latency_ms(self, members: list[Candidate], parts: list[int] | None = None) -> float:
        """Estimated milliseconds to predict one row with ``members``, each with ``parts``
        models (1: refitted): validation, each kind's preprocessing once, each model once."""
        parts = parts or [1] * len(members)
        kinds = {self.prepared.shared(c.kind) for c in members}
        return (self.spec.row_overhead_ms + sum(self.prepared.row_ms(k) for k in sorted(kinds))
                + sum(c.row_ms * n for c, n in zip(members, parts, strict=True)))

    def size_mb(self, members: list[Candidate], parts: list[int] | None = None) -> float:
        """Estimated megabytes of ``members`` pickled, each with ``parts`` models (1: refitted),
        plus one preprocessor per kind and part."""
        parts = parts or [1] * len(members)
        kinds: dict[str, int] = {}
        for c, n in zip(members, parts, strict=True):
            kind = self.prepared.shared(c.kind)
            kinds[kind] = max(kinds.get(kind, 0), n)
        return (sum(self.prepared.size_mb(k) * n for k, n in sorted(kinds.items()))
                + sum(c.size_mb * n for c, n in zip(members, parts, strict=True)))

    def within_limits(self, members: list[Candidate], parts: list[int] | None = None) -> bool:
        """Whether ``members`` (each with ``parts`` models) meet ``infer_limit`` and
        ``size_limit`` by the estimates selection uses."""
        spec = self.spec
        return ((spec.infer_limit_ms is None
                 or self.latency_ms(members, parts) <= spec.infer_limit_ms)
                and (spec.size_limit_mb is None or self.size_mb(members, parts) <= spec.size_limit_mb))

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
            on_fold: Callable[[int, float], Stop | None] | None = None) -> None:
        """Cross-validate ``cand``; ``left_after`` candidates are still planned after it, so it
        may take at most half the time left unless it is the last. ``on_fold(i, mean score so
        far)`` returning a ``Stop`` (status, note) ends it there."""
        self.candidates.append(cand)
        end = self.search_end()
        if end.remaining() < (0.0 if self.by_budget else MIN_CANDIDATE_SECONDS):
            cand.status, cand.note = "skipped", "time limit reached before it could start"
            return
        budget = end.remaining() / (1 if self.by_budget else min(left_after + 1, 2))
        if (self.spec.out_of_bag and hasattr(family, "fit_out_of_bag")
                and not self.prepared.reads_target(cand.kind)):
            self.event("candidate_start", f"fitting {cand.name} (scored out of bag)")
            self._out_of_bag(cand, family, end.sooner(budget))
        else:
            self.event("candidate_start", f"cross-validating {cand.name}")
            self._cross_validate(cand, family, end, budget, on_fold)
        if cand.usable and (self.best is None or self.spec.metric.better(cand.score, self.best.score)):
            self.best = cand
        if self.best is not None:  # hold back the best one's refit, with a margin for misestimates
            self.reserve = REFIT_MARGIN * refit_estimate(self.best, self.spec, len(self.y))
        self.event("candidate_done", f"{cand.name}: {cand.status}"
                   + (f" {self.spec.metric.name}={cand.score:.4f}" if cand.score is not None else ""))

    def _cross_validate(self, cand: Candidate, family: Family, search_end: Deadline, budget: float,
                        on_fold: Callable[[int, float], Stop | None] | None) -> None:
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
                    _, Xtr, Xva, cats, prep = self.prepared.get(cand.kind, i, tr, va)
                    first_rows[i] = Xva[:1]
                    cand.prep_seconds += prep / k
                    req = FitRequest(task=spec.task, n_classes=spec.n_classes, categorical=cats,
                                     seed=spec.seed, deadline=fold_deadline, n_threads=threads,
                                     sample_weight=_subset(spec.fit_weight, tr), X_val=Xva,
                                     y_val=y[va], size_share=1 / k,
                                     one_hot_blocks=self.prepared.blocks(cand.kind, i))
                    futures.append(self.executor.submit(_fit_fold, family.name, Xtr, y[tr], Xva,
                                                        cand.params, req,
                                                        self.prepared.offset(cand.kind, i)))
                for i, future in zip(wave, futures, strict=True):
                    fitted, pred, fit_s, pred_s = future.result()
                    va = spec.folds[i][1]
                    if not cand.fold_fits:  # the first fold measures the candidate's model
                        cand.row_ms = model_row_ms(fitted, first_rows[i])
                        fitted, cand.size_mb = held_fit(fitted)
                    else:  # large: compressed until a bag or the refit needs it
                        fitted, _ = held_fit(fitted, mb=cand.size_mb)
                    oof[va] = pred
                    cand.fold_fits.append(fitted)
                    cand.fold_seconds.append(fit_s)
                    cand.fold_scores.append(self._fold_score(pred, va))
                    predict_ms.append(pred_s / len(va) * 1e6
                                      + self.prepared.transform_ms.get(
                                          self.prepared.shared(cand.kind), 0.0))
                del fitted, future
                futures.clear()  # their results held the whole fold models
                release(cand.fold_fits[-len(wave):])
                stop = None if on_fold is None else \
                    on_fold(wave[-1], float(np.mean(cand.fold_scores)))
                if stop is not None:
                    cand.status, cand.note = stop
                    if any(f.truncated for f in cand.fold_fits):  # slow here, maybe not bad
                        cand.note += " (the time limit had cut that training short)"
                    cand.fold_fits = []
                    return
        except BrokenExecutor as exc:
            raise _broken(exc) from exc
        except Exception as exc:  # noqa: BLE001 - one candidate failing must not end the search
            cand.status, cand.note = "failed", _first_line(exc)
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

    def _out_of_bag(self, cand: Candidate, family: Family, deadline: Deadline) -> None:
        """Fit ``cand`` once on all rows and score its out-of-bag predictions, per fold on the
        folds' validation rows so that paired tests compare it with the others row for row."""
        spec, start = self.spec, time.monotonic()
        try:
            transformer, X, _, cats, prep = self.prepared.get(cand.kind, "all", None, None)
            req = FitRequest(task=spec.task, n_classes=spec.n_classes, categorical=cats,
                             seed=spec.seed, deadline=deadline, n_threads=spec.n_threads,
                             sample_weight=spec.fit_weight,
                             one_hot_blocks=self.prepared.blocks(cand.kind, "all"))
            fitted, oof, fit_s = self.executor.submit(_fit_out_of_bag, family.name, X, self.y,
                                                      cand.params, req).result()
            t0 = time.monotonic()
            fitted.predict(X[:1000])
            cand.predict_ms = ((time.monotonic() - t0) / min(len(X), 1000) * 1e6
                               + self.prepared.transform_ms.get(self.prepared.shared(cand.kind), 0.0))
        except BrokenExecutor as exc:
            raise _broken(exc) from exc
        except Exception as exc:  # noqa: BLE001 - one candidate failing must not end the search
            cand.status, cand.note = "failed", _first_line(exc)
            return
        finally:
            cand.fit_seconds = time.monotonic() - start
        cand.prep_seconds, cand.fold_seconds = prep, [fit_s]
        cand.row_ms = model_row_ms(fitted, X[:1])
        cand.oof, cand.score = oof, self.score(oof)
        cand.fold_scores = self.fold_scores(oof)
        cand.status = "stopped early" if fitted.truncated else "ok"
        if fitted.truncated:
            cand.note = "time limit cut its training short; more time would help"
        # large: compressed until selection ships it (the member as it is, no refit)
        whole, cand.size_mb = held_fit(fitted, whole=True)
        cand.whole, cand.fold_fits = (transformer, whole), []
        del fitted
        release([whole])

    def _fold_score(self, pred: np.ndarray, va: np.ndarray) -> float:
        try:
            return self.spec.metric.score(self.y[va], pred, _subset(self.spec.sample_weight, va))
        except ValueError:  # e.g. ROC AUC on a fold with one class
            return float("nan")

    def fold_scores(self, oof: np.ndarray) -> list[float]:
        return [self._fold_score(oof[va], va) for _, va in self.spec.folds]

