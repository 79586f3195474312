"""The time-budget scheduler: cross-validate a portfolio, tune the winners, ensemble, refit.

Budget rules (``time_limit`` is a promise):
* portfolio candidates run in order of expected value, then Optuna trials on the families that
  are winning (``_tuner``) until the search time is spent or ``trials`` is reached;
* no candidate may take more than half of the search time left (unless it is the last and no
  tuning follows), and each fold gets its share, after which boosting and forests stop adding
  rounds or trees (and the mlp epochs);
* the estimated time to refit the best candidate so far is held back from the search;
* ensemble members are refitted on all rows only while the estimate fits in the time left;
  otherwise (or if a refit is cut short) the member keeps its K fold models as a bag; forests
  scored out of bag (``SearchSpec.out_of_bag``) were fitted on all rows already;
* a portfolio candidate far behind the best on its first folds stops there (``HOPELESS``);
* tuning stops on a plateau of the best score (``_tuner``); the time left refits stochastic
  members with further seeds (``_refit.add_seeds``).

With ``trials`` given, the wall clock is only a safety cap: no time share, no time-based skip
or refit decision, so the same inputs give the same model on any machine.
"""
from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from importlib.util import find_spec

import numpy as np
import pandas as pd

from mlexpert._system import switched_off
from mlexpert.data import Role, Schema
from mlexpert.errors import MlexpertError
from mlexpert.features import (
    EMBEDDING_CACHE_TEXTS,
    EMBEDDING_NEEDS,
    embed_texts,
    embeddings_available,
    wide_categoricals,
)
from mlexpert.models import EMBEDDINGS, FAMILIES, LEVELS
from mlexpert.search._cv import Search, Stop
from mlexpert.search._executor import InlineExecutor
from mlexpert.search._presets import (
    AFFORDABLE_ENV,
    AFFORDABLE_SHARE,
    EMBEDDING_VARIANTS,
    EMBEDDINGS_ENV,
    FLOOR,
    HOPELESS,
    LEVEL_VARIANTS,
    MIN_CANDIDATE_SECONDS,
    NEEDS,
    PRESETS,
    Preset,
)
from mlexpert.search._records import Candidate, Note, SearchEvent, SearchResult, SearchSpec
from mlexpert.search._refit import add_seeds, member
from mlexpert.search._select import release_unshippable, select
from mlexpert.search._tuner import tune


def _hopeless(search: Search) -> Callable[[int, float], Stop | None]:
    """The portfolio's stopping rule: a candidate whose mean score over its folds so far is
    ``HOPELESS`` times further from perfect than the best candidate's over the same folds."""
    metric, k = search.spec.metric, len(search.spec.folds)

    def on_fold(step: int, value: float) -> Stop | None:
        best = search.best
        if best is None or not np.isfinite(value) or len(best.fold_scores) < step + 1:
            return None
        reference = float(np.nanmean(best.fold_scores[: step + 1]))
        if not metric.shortfall(value) > HOPELESS * metric.shortfall(reference):
            return None
        return "skipped", (f"stopped after {step + 1} of {k} folds: {metric.name} {value:.4g} "
                           f"there, more than {HOPELESS:g}x further from perfect than "
                           f"{best.name}'s {reference:.4g}; its time went to tuning")

    return on_fold


def installed(names: tuple[str, ...], family_of: dict[str, str]) -> tuple[list[str], list[Note]]:
    """The configurations ``names`` whose family can be fitted here, and a note per family left
    out because the extra it needs (``NEEDS``) is not installed (looked up, never imported)."""
    missing = {fam: need for fam, need in NEEDS.items()
               if find_spec(need[0]) is None}
    kept = [n for n in names if family_of[n] not in missing]
    notes = [Note(f"the {fam} family was not tried: it needs {module}, which is not installed.",
                  f"pip install 'mlexpert[{extra}]' to add it to the search.")
             for fam, (module, extra) in missing.items() if any(family_of[n] == fam for n in names)]
    return kept, notes


def affordable(names: tuple[str, ...], preset: Preset, spec: SearchSpec, n_rows: int,
               n_columns: int, family_of: dict[str, str]) -> tuple[tuple[str, ...], list[Note]]:
    """``names`` without the preset's ``affordable`` configurations whose family expects its
    folds to take more than ``AFFORDABLE_SHARE`` of the search's time (a note each), and
    without any of them under a budget in trials (a time-free search: the choice would depend
    on the time left, and the model on the clock) or when ``AFFORDABLE_ENV`` turns them off."""
    if spec.trials is not None or switched_off(AFFORDABLE_ENV):
        return tuple(n for n in names if n not in preset.affordable), []
    k, seconds = len(spec.folds), spec.deadline.remaining()
    kept, notes = [], []
    for name in names:
        family = FAMILIES[family_of[name]]
        estimate = getattr(family, "expected_fold_seconds", None)
        cost = 0.0 if name not in preset.affordable or estimate is None else \
            k * estimate(n_rows * (k - 1) // max(k, 1), n_columns, spec.n_threads)
        if cost <= AFFORDABLE_SHARE * seconds:
            kept.append(name)
            continue
        notes.append(Note(
            f"the {family.name} family was not tried: its {k} folds could take about "
            f"{cost:.0f} s, more than {AFFORDABLE_SHARE:.0%} of the search's {seconds:.0f} s.",
            f"a time limit about {cost / AFFORDABLE_SHARE - seconds:.0f} s longer tries it, as "
            "presets='best' always does."))
    return tuple(kept), notes


def with_embeddings(names: list[str], schema: Schema) -> tuple[list[str], list[Note]]:
    """``names`` without the embedding candidates (``EMBEDDING_VARIANTS``) where they cannot
    run: no free-text column, turned off (``EMBEDDINGS_ENV``), or the packages absent (a note
    naming the extra)."""
    variants = [n for n in names if n in EMBEDDING_VARIANTS]
    if not variants:
        return names, []
    kept = [n for n in names if n not in EMBEDDING_VARIANTS]
    if not schema.names(Role.TEXT) or switched_off(EMBEDDINGS_ENV):
        return kept, []
    if not embeddings_available():
        return kept, [Note(
            "free text was not tried as sentence embeddings: they need "
            f"{' and '.join(EMBEDDING_NEEDS)}, which are not installed (TF-IDF only).",
            "pip install 'mlexpert[deep]' to let cross-validation choose between TF-IDF and "
            "sentence embeddings.")]
    return names, []


def with_levels(names: list[str], schema: Schema) -> list[str]:
    """``names`` without the level variants (``LEVEL_VARIANTS``) on a table with no categorical
    wide enough to be level-encoded: there they would fit the same columns again."""
    if wide_categoricals(schema):
        return names
    return [n for n in names if n not in LEVEL_VARIANTS]


def encode_texts(search: Search, frame: pd.DataFrame, schema: Schema) -> Note | None:
    """Encode every distinct text of the table's free-text columns once (the process's
    embedding cache then serves every fold, the refit and the tuner), within half of the search
    time left (what one candidate may take); None when done, else the note saying why the
    embedding candidates are skipped."""
    texts = pd.unique(pd.concat([frame[c].fillna("").astype(str) for c in schema.names(Role.TEXT)]))
    if len(texts) > EMBEDDING_CACHE_TEXTS:
        return Note(f"free text was not tried as sentence embeddings: {len(texts):,} distinct "
                    f"texts, more than the {EMBEDDING_CACHE_TEXTS:,} the cache holds.",
                    "sample the rows, or use the TF-IDF candidates as they are.")
    end = search.spec.deadline if search.by_budget else search.search_end()
    deadline = end if search.by_budget else end.sooner(end.remaining() / 2)
    search.event("embed", f"encoding {len(texts):,} texts as sentence embeddings")
    t0 = time.monotonic()
    done = embed_texts(list(texts), deadline, threads=search.spec.n_threads)
    seconds = time.monotonic() - t0
    if done is not None:
        search.notes.append(Note(
            f"free text encoded as sentence embeddings for the candidates that read it so: "
            f"{len(texts):,} distinct texts in {seconds:.1f} s.", ""))
        return None
    return Note(f"free text was not tried as sentence embeddings: encoding {len(texts):,} "
                f"texts would not end within half of the search time left (stopped after "
                f"{seconds:.1f} s).",
                "give a larger time_limit to let cross-validation choose between TF-IDF and "
                "sentence embeddings.")


def run_search(frame: pd.DataFrame, y: np.ndarray, schema: Schema, spec: SearchSpec,
               on_event: Callable[[SearchEvent], None] | None = None) -> SearchResult:
    """Cross-validate the preset's portfolio, tune the winners within ``spec.deadline``,
    ensemble, and refit."""
    executor = spec.executor or InlineExecutor()
    preset = PRESETS[spec.preset]
    search = Search(frame, y, schema, spec, on_event or (lambda e: None), executor)
    by_name = {name: (fam, params) for fam in FAMILIES.values() for name, params in fam.configs(spec.task)}
    for variant, base in EMBEDDING_VARIANTS.items():
        if base in by_name:
            by_name[variant] = (by_name[base][0], {**by_name[base][1], EMBEDDINGS: True})
    for variant, base in LEVEL_VARIANTS.items():
        if base in by_name:
            by_name[variant] = (by_name[base][0], {**by_name[base][1], LEVELS: False})
    family_of = {n: fam.name for n, (fam, _) in by_name.items()}
    names, unaffordable = affordable(preset.candidates(), preset, spec, len(y),
                                     len(schema.features), family_of)
    names, skipped = installed(names, family_of)
    names, no_embeddings = with_embeddings(with_levels(names, schema), schema)
    search.notes += unaffordable + skipped + no_embeddings
    portfolio = [(name, *by_name[name]) for name in names]
    search.planned = len(portfolio) + (spec.trials or 0)
    tuning = int(bool(preset.tune_families))  # tuning follows: the last candidate leaves it half
    encoded: bool | None = None  # whether the texts are encoded (None: not tried yet)
    for idx, (name, family, params) in enumerate(portfolio):
        if params.get(EMBEDDINGS):
            if encoded is None:
                note = encode_texts(search, frame, schema)
                encoded = note is None
                search.notes += [] if note is None else [note]
            if not encoded:
                continue
        if family.name in NEEDS and (search.by_budget or search.search_end().remaining()
                                     >= MIN_CANDIDATE_SECONDS):
            # torch takes 1-2 s to import: before the candidate's share of the time is set, not
            # out of its first fold's (olive_area at 60 s: that fold reached no full epoch,
            # scored at chance and the HOPELESS rule stopped the mlp there)
            importlib.import_module(NEEDS[family.name][0])
        search.run(Candidate(name, family.name, params), family, len(portfolio) - idx - 1 + tuning,
                   on_fold=None if name in FLOOR else _hopeless(search))
        release_unshippable(search)
    if preset.tune_families and (spec.trials is None or spec.trials > 0):
        # an affordable extra is a candidate for diversity, not tuned: at 300 s balanced on
        # kershaw_pitch tuned the mlp and shipped three mlp trials alone, worse on test
        tune(search, preset.tune_families, spec.trials,
             frozenset(family_of[n] for n in preset.extras))

    usable = [c for c in search.candidates if c.usable]
    if not usable:
        reasons = "; ".join(f"{c.name}: {c.note}" for c in search.candidates if c.note)
        raise MlexpertError(f"no model could be trained within the time limit ({reasons}). "
                            "Give a larger time_limit or check the data.")
    chosen, notes, floor_note = select(search, usable, preset)
    for cand in search.candidates:  # fold models of candidates left out are no longer needed
        if all(cand is not c for c, _ in chosen):
            cand.fold_fits, cand.whole = [], None
    oof = sum(w * c.oof for c, w in chosen)
    members, seconds = [], []
    for cand, w in chosen:
        search.event("refit", f"finalizing {cand.name}")
        t0 = time.monotonic()
        members.append(member(cand, w, FAMILIES[cand.family], search))
        seconds.append(time.monotonic() - t0)
    if preset.max_seeds > 1:
        add_seeds(search, chosen, members, seconds, preset.max_seeds)
    notes = search.notes + notes
    search.event("done", "search finished")
    cost = sum(c.predict_ms * len(m.parts) for (c, _), m in zip(chosen, members, strict=True))
    latency = {c.name: search.latency_ms([c]) for c in usable}
    latency["ensemble"] = search.latency_ms([c for c, _ in chosen], [len(m.parts) for m in members])
    size = {c.name: search.size_mb([c]) for c in usable}
    size["ensemble"] = search.size_mb([c for c, _ in chosen], [len(m.parts) for m in members])
    return SearchResult(search.candidates, members, search.score(oof), oof, search.mask,
                        search.fold_scores(oof), cost, notes, latency, size, floor_note,
                        search.prepared.selections)
