"""After selection: each chosen candidate refitted on all rows (or kept as its bag of fold models
when the refit does not fit the time left or fails), then further seeds for boosted members while
time and the limits allow."""
from __future__ import annotations

import time
import warnings
from typing import Any

from mlexpert.ensemble import Member
from mlexpert.models import FAMILIES, Family, FitRequest, Fitted, fit_from_offset, library_params
from mlexpert.search._cv import Search, refit_estimate
from mlexpert.search._packed import unpacked_fit
from mlexpert.search._presets import FLOOR, NO_SEEDS, REFIT_MARGIN
from mlexpert.search._records import Candidate, Note


def _refit(cand: Candidate, family: Family, search: Search, seed: int,
           seconds: float) -> tuple[Any, Fitted | None]:
    """(the all-rows preprocessor, ``cand`` fitted on all rows with ``seed`` within ``seconds``,
    or None when it failed or was cut short)."""
    spec, y = search.spec, search.y
    transformer, Xall, _, cats, _ = search.prepared.get(cand.kind, "all", None, None)
    req = FitRequest(task=spec.task, n_classes=spec.n_classes, categorical=cats, seed=seed,
                     deadline=spec.deadline.sooner(max(seconds, 0.0)), n_threads=spec.n_threads,
                     sample_weight=spec.fit_weight,
                     one_hot_blocks=search.prepared.blocks(cand.kind, "all"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = fit_from_offset(family, Xall, y, library_params(
                family.refit_params(cand.params, cand.fold_fits)), req,
                search.prepared.offset(cand.kind, "all"))
    except Exception:  # noqa: BLE001 - the caller has a sound fallback
        return transformer, None
    return transformer, None if fitted.truncated else fitted


def member(cand: Candidate, weight: float, family: Family, search: Search) -> Member:
    """Refit on all rows when the estimate fits the time left, else keep the fold models."""
    spec = search.spec
    if cand.whole is not None:  # fitted on all rows already, scored out of bag
        transformer, fitted = cand.whole
        return Member(cand.name, family.name, weight, [(transformer, unpacked_fit(fitted))],
                      refit=True)
    estimate = refit_estimate(cand, spec, len(search.y))
    left = spec.deadline.remaining() - spec.finish_seconds
    if search.by_budget or estimate < left:
        transformer, fitted = _refit(cand, family, search, spec.seed, left)
        if fitted is not None:
            return Member(cand.name, family.name, weight, [(transformer, fitted)], refit=True)
    parts = [(search.prepared.get(cand.kind, i, tr, va)[0], unpacked_fit(f))
             for i, ((tr, va), f) in enumerate(zip(spec.folds, cand.fold_fits, strict=True))]
    return Member(cand.name, family.name, weight, parts, refit=False)


def add_seeds(search: Search, chosen: list[tuple[Candidate, float]], members: list[Member],
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
            if m.refit and c.family not in NO_SEEDS and c.name not in FLOOR]
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
        search.notes.append(Note(
            f"the time left refitted {added} more seed(s), averaged per member ({counts}).",
            "nothing to do: averaging seeds lowers the variance of each member."))


def _seed_within_limits(search: Search, chosen: list[tuple[Candidate, float]],
                        members: list[Member], cand: Candidate) -> bool:
    """Whether one more fit of ``cand`` keeps the shipped model within infer_limit and
    size_limit (estimates, as selection used)."""
    cands = [c for c, _ in chosen]
    return search.within_limits(cands, [len(m.parts) + (c is cand)
                                        for c, m in zip(cands, members, strict=True)])
