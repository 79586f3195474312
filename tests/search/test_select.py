"""Which candidates keep their fold models while the search goes on (``release_unshippable``):
exactly those some outcome of selection could still ship; the shipped model is the same as when
every candidate keeps them."""
from types import SimpleNamespace

import numpy as np
import pytest

from mlexpert.evaluate import METRICS
from mlexpert.search import Candidate, _scheduler, _select, _tuner, run_search
from mlexpert.search._presets import ENSEMBLE_POOL, PRACTICAL_TOLERANCE
from tests.search.test_search import _data, _spec


def _search(scores, metric="rmse", preset="balanced", families=None, **limits):
    """A search-like holder of usable candidates with the given scores, each holding a fold
    model; ``families`` per candidate (default: one family each)."""
    cands = []
    for i, score in enumerate(scores):
        family = families[i] if families else f"family{i}"
        cand = Candidate(f"c{i}", family, {}, status="ok", score=score, oof=np.zeros(1))
        cand.fold_fits = [object()]
        cands.append(cand)
    spec = SimpleNamespace(infer_limit_ms=limits.get("infer_limit_ms"),
                           size_limit_mb=limits.get("size_limit_mb"), preset=preset,
                           metric=METRICS[metric])
    return SimpleNamespace(spec=spec, candidates=cands), cands


def _held(cands):
    return [bool(c.fold_fits) for c in cands]


@pytest.mark.parametrize("metric", ["rmse", "roc_auc"])
def test_the_fourth_of_a_family_and_the_thirteenth_overall_are_freed(metric):
    up = METRICS[metric].greater_is_better
    # scores far apart: no candidate is within the cheaper model's tolerance of the best
    scores = [(0.9 if up else 10.0) + (-0.05 if up else 1.0) * i for i in range(15)]
    families = ["a", "a", "a", "a", *[f"f{i}" for i in range(11)]]
    search, cands = _search(scores, metric, families=families)
    assert _select.release_unshippable(search) == 15 - ENSEMBLE_POOL
    # pool: a x3, then f0..f8 (12 in all); the fourth "a" and f9, f10 are out
    assert _held(cands) == [True] * 3 + [False] + [True] * 9 + [False, False]
    assert _select.release_unshippable(search) == 0  # freed once


def test_a_default_model_and_one_within_the_cheaper_models_tolerance_are_kept():
    best = 10.0
    near = best + 0.5 * PRACTICAL_TOLERANCE * best  # could replace the ensemble: kept
    far = best + 2.0 * PRACTICAL_TOLERANCE * best
    search, cands = _search([best, best, best, near, far, far], families=["a"] * 6)
    cands[5].name = "hgb_default"  # the floor's: always kept
    _select.release_unshippable(search)
    assert _held(cands) == [True, True, True, True, False, True]
    search.spec.preset = "best"  # never ships a cheaper single model: only the pool counts
    _select.release_unshippable(search)
    assert _held(cands) == [True, True, True, False, False, True]


def test_nothing_is_freed_under_a_latency_or_size_limit_and_whole_models_go_too():
    scores = [10.0 + i for i in range(5)]
    search, cands = _search(scores, families=["a"] * 5, infer_limit_ms=5.0)
    assert _select.release_unshippable(search) == 0 and all(_held(cands))
    search.spec.infer_limit_ms = None
    cands[4].fold_fits, cands[4].whole = [], ("preprocessor", "forest scored out of bag")
    assert _select.release_unshippable(search) == 2
    assert cands[4].whole is None and _held(cands) == [True, True, True, False, False]


@pytest.mark.heavy
def test_the_shipped_model_is_the_one_every_candidate_keeping_its_folds_gives(monkeypatch):
    """A balanced search by trial count (the same model on any machine): its fold models freed
    as it goes, it ships the members, weights and predictions it ships keeping them all."""
    X, y, schema = _data()
    freed = []

    def counted(search):
        freed.append(_select.release_unshippable(search))

    def spec():
        return _spec("binary", y, seconds=120.0, preset="balanced", trials=4,
                     metric=METRICS["log_loss"])

    monkeypatch.setattr(_scheduler, "release_unshippable", counted)
    monkeypatch.setattr(_tuner, "release_unshippable", counted)
    lean = run_search(X, y, schema, spec())
    monkeypatch.setattr(_scheduler, "release_unshippable", lambda search: 0)
    monkeypatch.setattr(_tuner, "release_unshippable", lambda search: 0)
    full = run_search(X, y, schema, spec())
    assert sum(freed) > 0  # the search did free some
    assert [(m.name, m.weight, len(m.parts)) for m in lean.members] == \
        [(m.name, m.weight, len(m.parts)) for m in full.members]
    np.testing.assert_array_equal(lean.oof, full.oof)
    Xs = X.iloc[:20]
    for a, b in zip(lean.members, full.members, strict=True):
        np.testing.assert_allclose(a.predict(Xs), b.predict(Xs))
