"""Optuna after the portfolio: TPE with median pruning on the families that are winning.

Each family gets its own study, seeded with the portfolio's results for that family so TPE starts
from what is known. Trials go to the best family twice as often as to the others (re-ranked after
every trial); each is a full cross-validated candidate that may be pruned after any fold whose
running score falls below the median of earlier trials at that fold.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mlexpert.features import EMBED
from mlexpert.models import EMBEDDINGS, FAMILIES, LEVELS
from mlexpert.search._cv import Search, Stop
from mlexpert.search._presets import MIN_CANDIDATE_SECONDS, POOL_PER_FAMILY
from mlexpert.search._records import Candidate, Note
from mlexpert.search._select import release_unshippable

STARTUP_TRIALS = 5  # random trials before TPE models the space (portfolio seeds count)
# Tuning stops on a plateau: when the trials since the best score last moved by more than
# PLATEAU_SE of its standard error over folds are at least as many as those before (and at least
# PATIENCE). Hundreds of further trials only fit the out-of-fold noise: telco, olive and saratoga
# scored no better on test at 300 s than at 20 s; the time left goes to seeds (``_refit``).
PATIENCE = 20
PLATEAU_SE = 0.1


def _pattern(n_families: int) -> list[int]:
    """Which ranked family each trial of a cycle tunes: the best one every other trial."""
    out: list[int] = []
    for rank in range(1, n_families):
        out += [0, rank]
    return out or [0]


def _suggest(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    params = {}
    for name, dist in space.items():
        if isinstance(dist, CategoricalDistribution):
            params[name] = trial.suggest_categorical(name, dist.choices)
        elif isinstance(dist, IntDistribution):
            params[name] = trial.suggest_int(name, dist.low, dist.high, log=dist.log)
        else:
            params[name] = trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    return params


def _seed(study: Any, space: dict[str, Any], defaults: dict[str, Any], cand: Candidate) -> None:
    """Tell the study a portfolio candidate's result, its parameters mapped into the space."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    params = {}
    for name, dist in space.items():
        value = cand.params.get(name, defaults.get(name))
        if name == LEVELS:
            value = not cand.kind.startswith("native")
        if name == EMBEDDINGS:
            value = cand.kind.endswith(EMBED)
        if value is None:
            return
        if isinstance(dist, CategoricalDistribution):
            if value not in dist.choices:
                return
        else:
            value = type(dist.low)(np.clip(value, dist.low, dist.high))
        params[name] = value
    running = np.cumsum(cand.fold_scores) / np.arange(1, len(cand.fold_scores) + 1)
    study.add_trial(optuna.trial.create_trial(
        params=params, distributions=space, value=cand.score,
        intermediate_values={i: float(v) for i, v in enumerate(running) if np.isfinite(v)}))


def tune(search: Search, n_families: int, trials: int | None,
         untuned: frozenset[str] = frozenset()) -> None:
    """Run Optuna trials on the ``n_families`` best tunable families (never those in
    ``untuned``) until the search time is spent or ``trials`` trials have run."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = search.spec
    tunable = {name for name, fam in FAMILIES.items()
               if name not in untuned and fam.search_space(spec.task)}
    studies: dict[str, tuple[Any, dict[str, Any], dict[str, Any]]] = {}

    def ranking() -> list[str]:
        sign = -1.0 if spec.metric.greater_is_better else 1.0
        ranked = sorted((c for c in search.candidates if c.usable and c.family in tunable),
                        key=lambda c: sign * c.score)
        names: list[str] = []
        for c in ranked:
            if c.family not in names:
                names.append(c.family)
        return names[:n_families]

    top = ranking()
    if not top:
        return
    # free text encoded as sentence embeddings (an embedding candidate ran): TF-IDF or them,
    # the folds decide for each tuned family
    embedded = any(c.params.get(EMBEDDINGS) for c in search.candidates)
    for i, name in enumerate(top):
        space = dict(FAMILIES[name].search_space(spec.task))
        defaults = space.pop("_defaults")
        if FAMILIES[name].kind == "tree" and search.prepared.shared("native") == "native":
            # wide categoricals: with or without their level encodings, the folds decide
            space[LEVELS] = CategoricalDistribution([True, False])
        if embedded and FAMILIES[name].kind in ("tree", "linear"):
            space[EMBEDDINGS] = CategoricalDistribution([True, False])
        study = optuna.create_study(
            direction="maximize" if spec.metric.greater_is_better else "minimize",
            sampler=optuna.samplers.TPESampler(seed=spec.seed + i, multivariate=True,
                                               n_startup_trials=STARTUP_TRIALS),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
        for cand in search.candidates:
            if cand.family == name and cand.status == "ok" and len(cand.fold_scores) == len(spec.folds):
                _seed(study, space, defaults, cand)
        studies[name] = (study, space, defaults)

    pattern = _pattern(len(top))
    done = 0
    plateau = _Plateau(search)
    while trials is None or done < trials:
        if trials is None and plateau.reached(done):
            search.notes.append(Note(
                f"tuning stopped after {done} trials: the best out-of-fold score had not moved "
                f"beyond a tenth of its standard error for {done - plateau.moved_at} trials.",
                "pass budget=N (CLI --budget N) to run N tuning trials whatever the plateau."))
            break
        ranked = [n for n in ranking() if n in studies] or top
        name = ranked[min(pattern[done % len(pattern)], len(ranked) - 1)]
        study, space, defaults = studies[name]
        if not _time_for_a_trial(search, name):
            break
        trial = study.ask()
        params = {**{k: v for k, v in defaults.items() if k not in space}, **_suggest(trial, space)}
        cand = Candidate(f"{name}_t{done + 1}", name, params, trial=done + 1)
        if trials is None:
            search.planned = len(search.candidates) + 1

        def on_fold(step: int, value: float, trial: Any = trial) -> Stop | None:
            if not np.isfinite(value):
                return None
            trial.report(value, step)
            if not trial.should_prune():
                return None
            return "pruned", f"stopped by the tuner after {step + 1} of {len(spec.folds)} " \
                             "folds: behind the other trials"

        search.run(cand, FAMILIES[name], left_after=1, on_fold=on_fold)
        done += 1
        if cand.usable:
            study.tell(trial, cand.score)
        else:
            state = optuna.trial.TrialState.PRUNED if cand.status == "pruned" else \
                optuna.trial.TrialState.FAIL
            study.tell(trial, state=state)
            if cand.status == "skipped":
                break
        _keep_best_tuned(search)
        release_unshippable(search)


class _Plateau:
    """Tracks when the best out-of-fold score last moved by more than ``PLATEAU_SE`` of its
    standard error over folds."""

    def __init__(self, search: Search):
        self.search, self.moved_at = search, 0
        self.level: float | None = None  # the best score when it last moved

    def reached(self, done: int) -> bool:
        """Whether tuning should stop after ``done`` trials."""
        best = self.search.best
        if best is not None and best.score is not None:
            se = float(np.nanstd(best.fold_scores)) / np.sqrt(max(len(best.fold_scores), 1))
            sign = 1.0 if self.search.spec.metric.greater_is_better else -1.0
            if self.level is None or sign * (best.score - self.level) > PLATEAU_SE * se:
                self.level, self.moved_at = best.score, done
        return done - self.moved_at >= max(PATIENCE, self.moved_at)


def _time_for_a_trial(search: Search, family: str) -> bool:
    """Whether a trial of ``family`` can still do useful work: at least half of what a full
    candidate of that family took (a trial cut much shorter only wastes the time)."""
    if search.by_budget:
        return not search.spec.deadline.expired()
    left = search.search_end().remaining()
    full = [c.fit_seconds for c in search.candidates if c.family == family and c.status == "ok"]
    return left >= max(MIN_CANDIDATE_SECONDS, 0.5 * float(np.median(full)) if full else 0.0)


def _keep_best_tuned(search: Search) -> None:
    """Free the fold models of tuned candidates that can no longer enter the ensemble pool (not
    among the ``POOL_PER_FAMILY`` best of their family): memory stays bounded however many
    trials run."""
    sign = -1.0 if search.spec.metric.greater_is_better else 1.0
    ranked = sorted((c for c in search.candidates if c.usable), key=lambda c: sign * c.score)
    seen: dict[str, int] = {}
    for cand in ranked:
        seen[cand.family] = seen.get(cand.family, 0) + 1
        if cand.trial is not None and seen[cand.family] > POOL_PER_FAMILY:
            cand.fold_fits, cand.oof = [], None
            cand.note = (f"left out of the ensemble: {POOL_PER_FAMILY} candidates of "
                         f"{cand.family} scored better")
