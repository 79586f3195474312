"""Which candidates are shipped: greedy ensemble selection over a per-family-capped pool,
``infer_limit`` / ``size_limit`` enforced on the estimates, a cheaper single model where the
ensemble is not significantly better, and never a choice significantly worse than the default
models."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlexpert._system import release_freed_memory
from mlexpert.evaluate import corrected_t_test
from mlexpert.search._cv import Search
from mlexpert.search._ensemble import greedy_ensemble
from mlexpert.search._presets import (
    CHEAPER_FACTOR,
    ENSEMBLE_POOL,
    FLOOR,
    POOL_PER_FAMILY,
    PRACTICAL_TOLERANCE,
    PRESETS,
    SIGNIFICANCE,
    Preset,
)
from mlexpert.search._records import Candidate, Note


def select(search: Search, usable: list[Candidate],
           preset: Preset) -> tuple[list[tuple[Candidate, float]], list[Note], str | None]:
    """The members to ship with their weights, what was decided that the user should hear, and
    whether a default model replaced the preset's choice (``_choose``; ``floor``)."""
    chosen, notes = _choose(search, usable, preset)
    held, said = floor(search, usable, chosen)
    return held, notes if said is None else [], said


def floor(search: Search, usable: list[Candidate],
          chosen: list[tuple[Candidate, float]]) -> tuple[list[tuple[Candidate, float]], str | None]:
    """The best default model (``FLOOR``) replaces the choice when the choice is significantly
    worse than it on the same folds (one-sided corrected paired t-test, ``SIGNIFICANCE``) and the
    default meets ``infer_limit`` / ``size_limit``; a note says so."""
    spec = search.spec
    sign = 1.0 if spec.metric.greater_is_better else -1.0
    defaults = [c for c in usable if c.name in FLOOR and search.within_limits([c])
                and all(c is not chosen_c for chosen_c, _ in chosen)]
    if not defaults:
        return chosen, None
    best = max(defaults, key=lambda c: sign * c.score)
    shipped_oof = sum(w * c.oof for c, w in chosen)
    shipped_score = search.score(shipped_oof)
    if sign * (best.score - shipped_score) <= 0:
        return chosen, None
    p = corrected_t_test(sign * np.asarray(best.fold_scores),
                         sign * np.asarray(search.fold_scores(shipped_oof)), spec.test_fraction)
    if not (np.isfinite(p) and p < SIGNIFICANCE):
        return chosen, None
    what = "the ensemble" if len(chosen) > 1 else chosen[0][0].name
    metric = spec.metric.name
    return [(best, 1.0)], (
        f"{best.name} (the library's default settings) is shipped instead of {what}: on the same "
        f"folds {what} scored significantly worse ({metric} {shipped_score:.4g} vs "
        f"{best.score:.4g}, paired corrected t-test p={p:.2f}). The search's choices did not "
        "carry over from the folds; more data or time may change that.")


def _choose(search: Search, usable: list[Candidate],
            preset: Preset) -> tuple[list[tuple[Candidate, float]], list[Note]]:
    """The preset's choice of members with their weights, and its notes.

    Ensemble selection runs over the best candidates; then, where the preset prefers cheaper
    models, a single candidate that predicts at least twice as fast replaces the ensemble when
    the ensemble is not significantly better on the same folds (corrected paired t-test) and
    its out-of-fold score is within ``PRACTICAL_TOLERANCE`` of the ensemble's."""
    metric, spec = search.spec.metric, search.spec
    sign = 1.0 if metric.greater_is_better else -1.0
    ranked = sorted(usable, key=lambda c: -sign * c.score)
    notes: list[Note] = []
    # (limit, cost of a member list, what meeting it means, the least costly, its unit, option)
    limits = [lim for lim in (
        (spec.infer_limit_ms, search.latency_ms, "predict one row within infer_limit", "fastest",
         "ms", "infer_limit (CLI --infer-limit)"),
        (spec.size_limit_mb, search.size_mb, "fit size_limit", "smallest", "MB",
         "size_limit (CLI --size-limit)"))
        if lim[0] is not None]
    for limit, cost, meet, least_word, unit, option in limits:
        within = [c for c in ranked if cost([c]) <= limit]
        if not within:
            least = min(ranked, key=lambda c: cost([c]))
            return [(least, 1.0)], notes + [Note(
                f"no candidate can {meet} ({_amount(limit, unit)}); the {least_word}, "
                f"{least.name} ({_amount(cost([least]), unit)}), is shipped.",
                f"raise {option} to ship a more accurate model.")]
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
        for limit, cost, meet, _, unit, option in limits:
            chosen, dropped = _within(chosen, cost, limit)
            if dropped:
                notes.append(Note(f"{dropped} ensemble member(s) with the smallest weights were "
                                  f"left out to {meet} ({_amount(limit, unit)}).",
                                  f"raise {option} to ship the whole ensemble."))
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
            return [(cand, 1.0)], notes + [Note(
                f"{cand.name} is shipped instead of {what}: on the same folds {what} is not "
                f"significantly better (paired corrected t-test p={p:.2f}) and {cand.name} "
                f"predicts {cost / max(cand.predict_ms, 1e-9):.1f}x faster.",
                f"use presets='best' (CLI --presets best) to always ship {what}.")]
    return chosen, notes


def release_unshippable(search: Search) -> int:
    """Frees the fold models (and out-of-bag whole models) of the candidates no outcome of
    ``select`` can ship, while the search goes on: outside the ensemble pool of the candidates
    so far (a later one only pushes them further down), not a default model (the floor), and,
    where the preset may ship one cheaper model instead, further from the best score than it
    may be (the ensemble scores at least as well as the best candidate, and a perfect score is
    1 or 0). Nothing is freed under ``infer_limit`` / ``size_limit``, where the least costly
    candidate may be shipped. Their scores and out-of-fold predictions stay. Returns how many
    were freed (kershaw_pitch at 60 s: the 8 portfolio candidates it did not ship held 20 MB a
    fold, pickled, to the search's end)."""
    spec = search.spec
    if spec.infer_limit_ms is not None or spec.size_limit_mb is not None:
        return 0
    preset = PRESETS[spec.preset]
    metric = spec.metric
    sign = 1.0 if metric.greater_is_better else -1.0
    ranked = sorted((c for c in search.candidates if c.usable), key=lambda c: -sign * c.score)
    if not ranked:
        return 0
    keep = {id(c) for c in (ranked[:1] if preset.single_model else ensemble_pool(ranked))}
    if preset.prefer_cheaper:
        best = ranked[0].score
        perfect = 1.0 if metric.greater_is_better else 0.0
        bound = PRACTICAL_TOLERANCE * max(abs(best), abs(perfect))
        keep |= {id(c) for c in ranked if sign * (best - c.score) <= bound}
    freed = 0
    for cand in ranked:
        if id(cand) not in keep and cand.name not in FLOOR and (cand.fold_fits or cand.whole):
            cand.fold_fits, cand.whole = [], None
            freed += 1
    if freed:
        release_freed_memory()
    return freed


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

