"""Ensemble selection and the scheduler's promises: failures contained, budget kept."""
import numpy as np
import pandas as pd
import pytest

from mlexpert._clock import Deadline
from mlexpert.data import infer_schema
from mlexpert.errors import MlexpertError
from mlexpert.evaluate import METRICS
from mlexpert.models import FAMILIES
from mlexpert.plan import SplitPlan
from mlexpert.search import (
    PRESETS,
    Candidate,
    ProcessExecutor,
    SearchSpec,
    _cv,
    _prepared,
    _presets,
    _probes,
    _select,
    greedy_ensemble,
    run_search,
)
from tests.conftest import make_table


def test_greedy_ensemble_prefers_the_better_and_mixes_complements():
    rng = np.random.default_rng(0)
    y = rng.normal(size=1000)
    a = y + rng.normal(scale=0.5, size=1000)
    b = y + rng.normal(scale=0.5, size=1000)  # independent errors: averaging helps
    bad = rng.normal(size=1000)
    w = greedy_ensemble([a, b, bad], y, METRICS["rmse"])
    assert w.sum() == pytest.approx(1.0) and w[2] == 0
    assert 0.3 < w[0] < 0.7


def _spec(task, y, seconds=30.0, **kw):
    k = 0 if task == "regression" else int(y.max()) + 1
    kw = {"preset": "fast", "trials": 0, "metric": METRICS["roc_auc"], **kw}
    return SearchSpec(task=task, n_classes=k,
                      folds=SplitPlan("stratified", 3).folds(y), deadline=Deadline.after(seconds),
                      n_threads=1, **kw)


def _data():
    frame = make_table("binary", n=200)
    y = (frame.pop("y") == "yes").to_numpy(int)
    schema = infer_schema(frame)
    return schema.prepare(frame), y, schema


def test_a_failing_family_does_not_end_the_search(monkeypatch):
    X, y, schema = _data()
    linear = FAMILIES["linear"]

    def broken(*a, **k):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(linear, "fit", broken)
    events = []
    result = run_search(X, y, schema, _spec("binary", y), events.append)
    status = {c.name: (c.status, c.note) for c in result.candidates}
    assert status["linear"] == ("failed", "RuntimeError: solver exploded")
    assert status["lightgbm"][0] == "ok"
    assert [m.name for m in result.members] == ["lightgbm"]
    assert events[-1].kind == "done" and events[-1].best_model == "lightgbm"


def test_no_time_means_a_clear_error():
    X, y, schema = _data()
    with pytest.raises(MlexpertError, match="no model could be trained"):
        run_search(X, y, schema, _spec("binary", y, seconds=0.0))


@pytest.fixture(scope="module")
def tuned_run():
    """One balanced search with a budget of 14 tuning trials (more than the pool keeps)."""
    X, y, schema = _data()
    return X, run_search(X, y, schema, _spec("binary", y, preset="balanced", trials=14))


@pytest.mark.heavy
def test_tuning_runs_the_trials_asked_for_on_the_best_families(tuned_run):
    _, result = tuned_run
    tuned = [c for c in result.candidates if c.trial is not None]
    assert [c.trial for c in tuned] == list(range(1, 15))
    assert {c.family for c in tuned} <= {"lightgbm", "xgboost", "catboost"}
    assert all(c.status in ("ok", "stopped early", "pruned") for c in tuned)
    ok = [c for c in tuned if c.status != "pruned"]
    assert all(len(c.fold_scores) == 3 and c.predict_ms > 0 for c in ok)


def test_the_ensemble_pool_keeps_every_family_in_reach():
    """Many near-identical trials of the winning family must not crowd the others out."""
    def cand(name, family, score):
        c = Candidate(name, family, {})
        c.score, c.status, c.oof = score, "ok", np.zeros(3)
        return c

    ranked = [cand(f"lgbm_t{i}", "lightgbm", 0.9 - i * 1e-4) for i in range(20)]
    ranked += [cand("catboost", "catboost", 0.85), cand("linear", "linear", 0.8)]
    pool = _select.ensemble_pool(ranked)
    families = [c.family for c in pool]
    assert families.count("lightgbm") == _presets.POOL_PER_FAMILY
    assert {"catboost", "linear"} <= set(families)
    assert pool == sorted(pool, key=lambda c: -c.score)  # still best first
    assert len(_select.ensemble_pool(ranked * 10)) <= _presets.ENSEMBLE_POOL


@pytest.mark.heavy
def test_tuned_trials_beyond_the_pool_free_their_fold_models(tuned_run):
    _, result = tuned_run
    tuned = [c for c in result.candidates if c.trial is not None and c.status == "ok"]
    freed = [c for c in tuned if c.oof is None]
    assert freed and all("scored better" in c.note for c in freed)
    for family in {c.family for c in tuned}:  # a kept trial is among its family's best 3
        scores = sorted((c.score for c in result.candidates if c.family == family and c.score),
                        reverse=True)
        kept = [c for c in tuned if c.family == family and c.oof is not None]
        assert all(c.score >= scores[min(len(scores), _presets.POOL_PER_FAMILY) - 1]
                   for c in kept)


@pytest.mark.heavy
def test_a_plateau_stops_tuning_and_the_time_left_goes_to_seeds(monkeypatch):
    from mlexpert.search import _tuner

    monkeypatch.setattr(_tuner, "PATIENCE", 2)
    monkeypatch.setattr(_tuner, "PLATEAU_SE", 1e9)  # no move counts: a plateau from the start
    X, y, schema = _data()
    spec = _spec("binary", y, seconds=25.0, preset="balanced", trials=None)
    result = run_search(X, y, schema, spec)
    assert sum(c.trial is not None for c in result.candidates) == 2
    assert any(n.message.startswith("tuning stopped after 2 trials") and "--budget" in n.suggestion
               for n in result.notes), result.notes
    seeded = [m for m in result.members if len(m.parts) > 1]
    assert seeded and all(m.refit and m.family not in _presets.NO_SEEDS for m in seeded)
    assert all(len(m.parts) <= PRESETS["balanced"].max_seeds for m in result.members)
    assert any("more seed(s), averaged per member" in n.message for n in result.notes)
    for m in seeded:  # one preprocessor, fits that differ by their seed, averaged
        assert len({id(t) for t, _ in m.parts}) == 1
        a, b = (f.predict(m.parts[0][0].transform(X.iloc[:50])) for _, f in m.parts[:2])
        assert not np.allclose(a, b)
    assert spec.deadline.remaining() > -1.0  # seeds stop before the time runs out


def test_the_plateau_waits_as_long_as_the_score_took_to_stop_moving():
    from mlexpert.search import _tuner

    y = np.random.default_rng(0).integers(0, 2, 100)
    search = _fake_search(y)
    best = Candidate("lgb", "lightgbm", {}, status="ok", score=0.80,
                                fold_scores=[0.78, 0.80, 0.82, 0.80, 0.80])  # SE ~0.0057
    search.best = best
    plateau = _tuner._Plateau(search)
    assert not plateau.reached(0)  # the first look sets the level
    assert not plateau.reached(19) and plateau.reached(20)  # no move: PATIENCE trials
    best.score = 0.8003  # below a tenth of the SE: not a move
    assert plateau.reached(20)
    best.score = 0.81  # a real move at trial 30: wait 30 more
    assert not plateau.reached(30) and not plateau.reached(59) and plateau.reached(60)


@pytest.mark.heavy
def test_no_seeds_with_a_trial_budget(tuned_run):
    _, result = tuned_run
    assert all(len(m.parts) == 1 or not m.refit for m in result.members)


@pytest.mark.heavy
def test_tuning_uses_the_time_left_when_no_trial_count_is_given(monkeypatch):
    from mlexpert.search import _tuner

    monkeypatch.setattr(_tuner, "PATIENCE", 10**6)  # no plateau: tune until the time is spent
    X, y, schema = _data()
    start = __import__("time").monotonic()
    result = run_search(X, y, schema, _spec("binary", y, seconds=8.0, trials=None))
    elapsed = __import__("time").monotonic() - start
    assert sum(c.trial is not None for c in result.candidates) >= 2
    assert 5.0 < elapsed < 8.8


@pytest.mark.heavy
def test_a_process_pool_gives_the_same_candidates_as_inline():
    X, y, schema = _data()
    # no tuning: a pool reports folds to the pruner in waves, so its pruning may differ
    inline = run_search(X, y, schema, _spec("binary", y, preset="fast"))
    pool = ProcessExecutor(2)
    try:
        parallel = run_search(X, y, schema, _spec("binary", y, preset="fast", executor=pool))
    finally:
        pool.shutdown()
    assert len(inline.candidates) >= 2  # the fast preset's two families, each on five folds
    assert [(c.name, c.status) for c in parallel.candidates] == \
        [(c.name, c.status) for c in inline.candidates]
    np.testing.assert_allclose([c.score for c in parallel.candidates],
                               [c.score for c in inline.candidates], rtol=1e-9)


def _fake_search(y):
    """A Search with just what selection needs: targets, 5 folds, all rows validated."""
    search = _cv.Search.__new__(_cv.Search)
    search.spec = SearchSpec(task="binary", n_classes=2, metric=METRICS["roc_auc"],
                             folds=SplitPlan("stratified", 5).folds(y),
                             deadline=Deadline.after(30), trials=0)
    search.y, search.y_eval, search.w_eval = y, y, None
    search.mask, search.by_budget = np.ones(len(y), bool), True
    return search


def test_a_cheaper_model_is_shipped_only_when_the_ensemble_is_not_significantly_better():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    search = _fake_search(y)

    def cand(name, oof, ms):
        c = Candidate(name, name, {}, status="ok", predict_ms=ms)
        c.oof, c.fold_scores, c.score = oof, search.fold_scores(oof), search.score(oof)
        return c

    def noisy(scale):
        p = 1 / (1 + np.exp(-(2 * y - 1) - rng.normal(0, scale, len(y))))
        return np.column_stack([1 - p, p])

    balanced = PRESETS["balanced"]
    slow, cheap = cand("slow", noisy(2.0), 50.0), cand("cheap", noisy(2.0), 1.0)
    chosen, notes, _ = _select.select(search, [slow, cheap], balanced)
    # two equally good models with independent errors: their average is clearly better
    assert {c.name for c, _ in chosen} == {"slow", "cheap"} and not notes

    twin = cand("twin", cheap.oof.copy(), 50.0)  # the same predictions, 50x slower
    worse = cand("worse", noisy(8.0), 0.1)  # faster still, but far worse
    chosen, notes, _ = _select.select(search, [twin, worse, cheap], balanced)
    assert [c.name for c, _ in chosen] == ["cheap"]
    assert "twin is not significantly better" in notes[0].message and "50.0x faster" in notes[0].message
    assert "--presets best" in notes[0].suggestion
    chosen, notes, _ = _select.select(search, [twin, worse, cheap], PRESETS["best"])
    assert [c.name for c, _ in chosen] == ["twin"] and not notes


class _RowCosts:
    """Stands in for the preprocessing cache: fixed one-row transform costs per kind (ms)."""

    def shared(self, kind):
        return kind

    def row_ms(self, kind):
        return {"tree": 2.0, "linear": 3.0}[kind]

    def size_mb(self, kind):
        return {"tree": 0.5, "linear": 0.25}[kind]


def _costed_search():
    """A fake search with fixed preprocessing costs, and a maker of candidates of equal skill
    and independent errors whose own costs are given (``row_ms`` / ``size_mb``)."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 600)
    search = _fake_search(y)
    search.prepared, search.spec.row_overhead_ms = _RowCosts(), 1.0

    def cand(name, family, **costs):
        p = 1 / (1 + np.exp(-(2 * y - 1) - rng.normal(0, 2.0, len(y))))
        oof = np.column_stack([1 - p, p])
        c = Candidate(name, family, {}, status="ok", predict_ms=1.0, **costs)
        c.oof, c.fold_scores, c.score = oof, search.fold_scores(oof), search.score(oof)
        return c

    return search, cand


def test_infer_limit_keeps_the_shipped_model_within_the_latency():
    search, make = _costed_search()
    cand = lambda name, family, row_ms: make(name, family, row_ms=row_ms)  # noqa: E731
    # one row: lgb 1+2+1 = 4 ms, lin 1+3+1 = 5 ms, xgb 1+2+5 = 8 ms; lgb+lin together 8 ms
    cands = [cand("lgb", "lightgbm", 1.0), cand("lin", "linear", 1.0), cand("xgb", "xgboost", 5.0)]
    best = PRESETS["best"]
    chosen, notes, _ = _select.select(search, cands, best)
    assert len(chosen) == 3 and not notes  # independent errors: all three help

    search.spec.infer_limit_ms = 6.0
    chosen, notes, _ = _select.select(search, cands, best)
    assert len(chosen) == 1 and chosen[0][0].name in ("lgb", "lin")
    assert search.latency_ms([c for c, _ in chosen]) <= 6.0
    assert chosen[0][1] == pytest.approx(1.0) and "infer_limit (6.0 ms)" in notes[0].message
    assert "--infer-limit" in notes[0].suggestion

    search.spec.infer_limit_ms = 0.5
    chosen, notes, _ = _select.select(search, cands, best)
    assert [c.name for c, _ in chosen] == ["lgb"]
    assert [n.message for n in notes] == ["no candidate can predict one row within infer_limit "
                                          "(0.5 ms); the fastest, lgb (4.0 ms), is shipped."]


def test_size_limit_keeps_the_shipped_models_within_the_megabytes():
    search, make = _costed_search()
    cand = lambda name, family, size_mb: make(name, family, size_mb=size_mb)  # noqa: E731

    # pickled: lgb 0.5+2 = 2.5 MB, lin 0.25+0.25 = 0.5 MB, xgb 0.5+6 = 6.5 MB; lgb+xgb share
    # the tree preprocessor: 8.5 MB; all three 9.0 MB
    cands = [cand("lgb", "lightgbm", 2.0), cand("lin", "linear", 0.25), cand("xgb", "xgboost", 6.0)]
    best = PRESETS["best"]
    chosen, _, _ = _select.select(search, cands, best)
    assert len(chosen) == 3 and search.size_mb([c for c, _ in chosen]) == pytest.approx(9.0)

    search.spec.size_limit_mb = 4.0  # xgb alone is over it; lgb + lin (3.0 MB) fit
    chosen, notes, _ = _select.select(search, cands, best)
    assert {c.name for c, _ in chosen} <= {"lgb", "lin"}
    assert search.size_mb([c for c, _ in chosen]) <= 4.0
    assert sum(w for _, w in chosen) == pytest.approx(1.0)

    search.spec.size_limit_mb = 0.1
    chosen, notes, _ = _select.select(search, cands, best)
    assert [c.name for c, _ in chosen] == ["lin"]
    assert [n.message for n in notes] == [
        "no candidate can fit size_limit (0.1 MB); the smallest, lin (0.5 MB), is shipped."]
    assert search.size_mb([cands[0]], [5]) == pytest.approx(12.5)  # a 5-fold bag: 5 of each


class _DyingPool(ProcessExecutor):
    """A real process pool whose worker exits abruptly on every task (as when killed for memory)."""

    def submit(self, fn, *args, **kwargs):
        import os

        return self._pool.submit(os._exit, 3)


def test_a_dead_worker_process_ends_the_search_with_one_clear_error():
    X, y, schema = _data()
    pool = _DyingPool(1)
    try:
        with pytest.raises(MlexpertError, match="a worker process of the search died"):
            run_search(X, y, schema, _spec("binary", y, executor=pool))
    finally:
        pool.shutdown()


@pytest.mark.heavy
def test_latency_estimates_time_the_compiled_forms_a_warm_model_runs(monkeypatch):
    """A shipped model answers single rows through its compiled path once warm, so infer_limit
    and the leaderboard's latency time each model as ``compile_estimator`` runs it and each
    preprocessing as ``compile_transformer`` does, not through pandas and scikit-learn's
    per-call checks; and a model or step that does not compile is timed as it is."""
    X, y, schema = _data()
    compiled_models, compiled_steps = [], []
    real_estimator, real_transformer = _probes.compile_estimator, _prepared.compile_transformer

    def estimator(fitted):
        fast = real_estimator(fitted)

        def timed(row):
            compiled_models.append(type(fitted.estimator).__name__)
            return fast(row)
        return timed

    def transformer(ct, schema_):
        block = real_transformer(ct, schema_)

        def timed(rows):
            compiled_steps.append(len(rows))
            return block(rows)
        return timed

    monkeypatch.setattr(_probes, "compile_estimator", estimator)
    monkeypatch.setattr(_prepared, "compile_transformer", transformer)
    result = run_search(X, y, schema, _spec("binary", y, preset="balanced", trials=0))
    timed = {c.name for c in result.candidates if c.usable}
    assert {"lightgbm", "linear"} <= timed
    assert {"LGBMClassifier", "LogisticRegression"} <= set(compiled_models)
    assert compiled_steps and set(compiled_steps) == {1}  # one canonical row
    assert all(c.row_ms > 0 for c in result.candidates if c.usable)

    calls = []

    class Uncompiled:  # a family compile_estimator refuses: its own predict is what is timed
        def predict(self, row):
            calls.append(len(row))
            return np.zeros((len(row), 2))

    def refuses(fitted):
        raise RuntimeError("no compiled form")

    monkeypatch.setattr(_probes, "compile_estimator", refuses)
    assert _probes.model_row_ms(Uncompiled(), np.zeros((1, 3))) >= 0
    assert len(calls) > 1 and set(calls) == {1}


def test_the_shipped_model_is_never_significantly_worse_than_the_defaults():
    """The floor: a choice significantly worse out of fold than LightGBM's defaults gives way
    to them, with a note; a default only a little better (not significant) or one over the
    latency limit does not."""
    search, make = _costed_search()
    rng = np.random.default_rng(5)
    y = search.y

    def scored(name, family, scale, row_ms=1.0):
        c = make(name, family, row_ms=row_ms)
        p = 1 / (1 + np.exp(-(2 * y - 1) * 1.5 - rng.normal(0, scale, len(y))))
        c.oof = np.column_stack([1 - p, p])
        c.fold_scores, c.score = search.fold_scores(c.oof), search.score(c.oof)
        return c

    weak, default = scored("weak", "xgboost", 6.0), scored("lightgbm_default", "lightgbm", 1.0)
    assert _presets.FLOOR == ("lightgbm_default", "hgb_default")
    held, said = _select.floor(search, [weak, default], [(weak, 1.0)])
    assert [c.name for c, _ in held] == ["lightgbm_default"]
    assert "weak scored significantly worse" in said and "p=0.0" in said

    near = scored("lightgbm_default", "lightgbm", 0.0)  # as good as it gets...
    near.oof, near.fold_scores, near.score = weak.oof + 0.0, list(weak.fold_scores), weak.score
    near.fold_scores[0] += 1e-3  # ...but better on one fold only, by a hair
    near.score += 1e-4
    assert _select.floor(search, [weak, near], [(weak, 1.0)]) == ([(weak, 1.0)], None)

    search.spec.infer_limit_ms = 5.0  # the default takes 1 + 2 + 3 = 6 ms a row
    slow_default = scored("lightgbm_default", "lightgbm", 1.0, row_ms=3.0)
    assert _select.floor(search, [weak, slow_default], [(weak, 1.0)]) == ([(weak, 1.0)], None)
    _, _, said = _select.select(search, [weak, default], PRESETS["fast"])
    assert said is None  # the preset itself picks the better default: nothing to replace


def test_the_floor_ships_hist_gradient_boostings_defaults_when_they_are_the_best_default():
    """Of the two default models, the better one out of fold is the floor: here
    HistGradientBoosting's, which replaces a significantly worse choice, with a note naming it,
    while LightGBM's (worse than HGB's, better than the choice) is not shipped."""
    search, make = _costed_search()
    rng = np.random.default_rng(7)
    y = search.y

    def scored(name, family, scale):
        c = make(name, family, row_ms=1.0)
        p = 1 / (1 + np.exp(-(2 * y - 1) * 1.5 - rng.normal(0, scale, len(y))))
        c.oof = np.column_stack([1 - p, p])
        c.fold_scores, c.score = search.fold_scores(c.oof), search.score(c.oof)
        return c

    weak = scored("weak", "xgboost", 6.0)
    lgb = scored("lightgbm_default", "lightgbm", 3.0)
    hgb = scored("hgb_default", "hist_gradient_boosting", 0.5)
    held, said = _select.floor(search, [weak, lgb, hgb], [(weak, 1.0)])
    assert [(c.name, w) for c, w in held] == [("hgb_default", 1.0)]
    assert said.startswith("hgb_default (the library's default settings) is shipped instead "
                           "of weak")
    _, _, said = _select.select(search, [weak, lgb, hgb], PRESETS["fast"])
    assert said is None  # the preset picks the better default itself: nothing to replace


def test_every_preset_evaluates_the_default_models_first():
    for name, preset in PRESETS.items():
        floor = ("lightgbm_default",) if name == "fast" else ("lightgbm_default", "hgb_default")
        assert preset.portfolio[:len(floor)] == floor
    names = {name for fam in FAMILIES.values() for task in ("binary", "regression")
             for name, _ in fam.configs(task)}
    assert set(_presets.FLOOR) <= names


@pytest.mark.heavy
def test_the_default_model_sees_native_categories_and_tuning_tries_both(monkeypatch):
    """LightGBM as shipped gets the wide categorical as native categories only (what a user
    would hand it), the portfolio's LightGBM also its level encodings (and once without them);
    tuning on a table with
    a wide categorical searches ``level_encodings`` and fits each trial on the matching
    preprocessing (level encodings help on some tables and hurt on others: the folds decide)."""
    from mlexpert.models import LEVELS, LIBRARY_DEFAULTS, preprocessing

    family = FAMILIES["lightgbm"]
    widths: list[tuple[dict, int]] = []  # (params as the search holds them, columns fitted on)
    fit = type(family).fit

    def spy(self, X, y, params, req):
        widths.append((params, X.shape[1]))
        return fit(self, X, y, params, req)

    monkeypatch.setattr(type(family), "fit", spy)
    rng = np.random.default_rng(0)
    n = 600
    code = rng.integers(0, 120, n)
    frame = pd.DataFrame({"code": [f"c{k}" for k in code], "x": rng.normal(size=n)})
    y = ((code % 3 == 0) ^ (frame["x"].to_numpy() > 0.5)).astype(int)
    schema = infer_schema(frame)
    result = run_search(schema.prepare(frame), y, schema,
                        _spec("binary", y, preset="fast", trials=6))
    by_name = {c.name: c for c in result.candidates}
    assert by_name["lightgbm_default"].kind == "native" and by_name["lightgbm"].kind == "tree"
    assert all(LEVELS not in p for p, _ in widths)  # the search's own key never reaches LightGBM
    portfolio = dict(family.configs("binary"))["lightgbm"]
    assert {w for p, w in widths if p.get(LIBRARY_DEFAULTS)} == {2}  # code, x
    # code, x, code's share and mean; and code, x for its level variant (``LEVEL_VARIANTS``)
    assert {w for p, w in widths if p == portfolio} == {2, 4}
    assert by_name["lightgbm_native"].kind == "native"
    assert {w for _, w in widths} == {2, 4}  # tuned trials: one or the other
    tuned = [c for c in result.candidates if c.trial is not None]
    assert tuned and {c.params[LEVELS] for c in tuned} == {True, False}
    assert all(c.kind == ("tree" if c.params[LEVELS] else "native") for c in tuned)
    assert preprocessing(family, {LEVELS: False}) == "native"
    assert preprocessing(FAMILIES["linear"], {LEVELS: False}) == "linear"


@pytest.mark.parametrize("split", ["stratified", "group", "wide"])
def test_forests_score_out_of_bag_only_where_rows_are_independent(split):
    """Where rows are independent and the preprocessing never reads the target, a forest is
    fitted once on all rows and scored out of bag (a K-th of the fits, kept as the member: no
    refit); grouped or time-ordered folds, and level encodings fitted on the target, keep K
    fold fits."""
    from mlexpert.search._refit import member

    X, y, schema = _data()
    if split == "wide":
        codes = pd.Series([f"c{i % 80}" for i in range(len(y))], name="code")
        frame = pd.concat([X.reset_index(drop=True), codes], axis=1)
        schema = infer_schema(frame)
        X = schema.prepare(frame)
    spec = _spec("binary", y, out_of_bag=split != "group")
    search = _cv.Search(X, y, schema, spec, lambda e: None, _presets_inline())
    family = FAMILIES["extra_trees"]
    cand = Candidate("extra_trees", family.name, dict(family.configs("binary"))["extra_trees"])
    search.run(cand, family, 0)
    assert cand.status == "ok" and len(cand.fold_scores) == 3
    assert np.isfinite(cand.oof).all()
    shipped = member(cand, 1.0, family, search)
    if split == "stratified":
        assert cand.whole is not None and cand.fold_fits == []  # no fold models
        assert shipped.refit and shipped.parts == [cand.whole]  # the scored model, as is
        assert _cv.refit_estimate(cand, spec, len(y)) == 0.0
        np.testing.assert_allclose(cand.fold_scores, search.fold_scores(cand.oof))
    else:
        assert cand.whole is None and len(cand.fold_fits) == 3
        assert shipped.parts[0][1] not in cand.fold_fits  # refitted on all rows


def test_a_large_forest_is_held_compressed_until_it_is_shipped(monkeypatch):  # out of bag
    """A forest scored out of bag and bigger than ``PACK_MB`` is held as compressed bytes while
    the search runs; the member shipped is that same model, predicting as it would have."""
    from mlexpert.search import _packed
    from mlexpert.search._refit import member

    X, y, schema = _data()
    family = FAMILIES["extra_trees"]
    shipped = {}
    for limit in (_packed.PACK_MB, 0.0):  # as is (a small forest), then held packed
        monkeypatch.setattr(_packed, "PACK_MB", limit)
        spec = _spec("binary", y, out_of_bag=True)
        search = _cv.Search(X, y, schema, spec, lambda e: None, _presets_inline())
        cand = Candidate("extra_trees", family.name, dict(family.configs("binary"))["extra_trees"])
        search.run(cand, family, 0)
        held = cand.whole[1].estimator
        assert isinstance(held, _packed.Packed) == (limit == 0.0)
        if limit == 0.0:
            assert held.mb < cand.size_mb  # compressed: less than its pickle
        shipped[limit] = member(cand, 1.0, family, search).parts[0]
    (t_plain, plain), (t_packed, packed) = shipped.values()
    assert type(packed.estimator) is type(plain.estimator)
    np.testing.assert_array_equal(packed.predict(t_packed.transform(X)),
                                  plain.predict(t_plain.transform(X)))


def _presets_inline():
    from mlexpert.search._executor import InlineExecutor

    return InlineExecutor()


def test_a_hopeless_portfolio_candidate_stops_after_its_first_fold(monkeypatch):
    """On a crisp target (an XOR of two signs) a linear model's log loss is many times the
    trees': it stops after its first fold with a note; the default models are never stopped
    this way, however far behind (here HGB's, capped at one tree)."""
    from mlexpert.search import _scheduler

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    y = ((X["a"] > 0) ^ (X["b"] > 0)).to_numpy(int)
    schema = infer_schema(X)
    preset = _presets.Preset(("lightgbm_default", "hgb_default", "linear"), 0, False, 5, False, "")
    monkeypatch.setitem(_scheduler.PRESETS, "fast", preset)
    hgb = FAMILIES["hist_gradient_boosting"]
    monkeypatch.setattr(type(hgb), "configs",
                        lambda self, task: [("hgb_default", {"max_iter": 1, "max_depth": 1})])
    spec = _spec("binary", y, metric=METRICS["log_loss"])
    result = run_search(schema.prepare(X), y, schema, spec)
    by_name = {c.name: c for c in result.candidates}
    assert by_name["lightgbm_default"].status == "ok" and by_name["hgb_default"].status == "ok"
    assert by_name["hgb_default"].score > 3 * by_name["lightgbm_default"].score  # yet complete
    linear = by_name["linear"]
    assert linear.status == "skipped" and len(linear.fold_scores) == 1 and not linear.fold_fits
    assert linear.note.startswith("stopped after 1 of 3 folds: log_loss ")
    assert "further from perfect than lightgbm_default's" in linear.note
    assert "cut that training short" not in linear.note
    # a fold the time limit cut short: the note says the gap may be time, not the model
    family = FAMILIES["linear"]
    fit = type(family).fit

    def cut_short(self, *args, **kwargs):
        fitted = fit(self, *args, **kwargs)
        fitted.truncated = True
        return fitted

    monkeypatch.setattr(type(family), "fit", cut_short)
    result = run_search(schema.prepare(X), y, schema, spec)
    linear = {c.name: c for c in result.candidates}["linear"]
    assert linear.status == "skipped"
    assert linear.note.endswith("(the time limit had cut that training short)"), linear.note


def test_large_fold_models_are_held_compressed_and_the_refit_or_the_bag_reads_them(monkeypatch):
    """Fold models bigger than ``FOLD_PACK_MB`` are held as compressed bytes (how each fit went
    kept beside them); the refit grows as many trees as they did and a bag ships them
    unpacked, predicting as they would have."""
    from mlexpert.search import _packed, _refit
    from mlexpert.search._refit import member

    X, y, schema = _data()
    family = FAMILIES["extra_trees"]
    config = dict(family.configs("binary"))["extra_trees"]
    shipped = {}
    for limit in (_packed.FOLD_PACK_MB, 0.0):  # as is (small folds), then every fold packed
        monkeypatch.setattr(_packed, "FOLD_PACK_MB", limit)
        spec = _spec("binary", y, out_of_bag=False, trials=None)  # by time: a bag can ship
        search = _cv.Search(X, y, schema, spec, lambda e: None, _presets_inline())
        cand = Candidate("extra_trees", family.name, config)
        search.run(cand, family, 0)
        assert len(cand.fold_fits) == 3 and all(
            isinstance(f.estimator, _packed.Packed) == (limit == 0.0) for f in cand.fold_fits)
        refit = member(cand, 1.0, family, search)
        with monkeypatch.context() as m:  # no time to refit: the fold models ship as a bag
            m.setattr(_refit, "refit_estimate", lambda *a: float("inf"))
            bag = member(cand, 1.0, family, search)
        assert refit.refit and not bag.refit
        shipped[limit] = [cand.score] + [f.predict(t.transform(X))
                                         for t, f in refit.parts + bag.parts]
    plain, packed = shipped.values()
    assert plain[0] == packed[0]
    for a, b in zip(plain[1:], packed[1:], strict=True):
        np.testing.assert_array_equal(a, b)


def test_pickled_megabytes_are_counted_without_holding_the_pickle():
    """``pickled_mb`` counts what a pickle writes, arrays and all, to the byte."""
    import pickle

    from mlexpert.models import FitRequest

    X, y, _ = _data()
    family = FAMILIES["extra_trees"]
    req = FitRequest(task="binary", n_classes=2, categorical=[], seed=0,
                     deadline=Deadline.after(30), n_threads=1)
    fitted = family.fit(X.select_dtypes("number").fillna(0).to_numpy(), y,
                        dict(family.configs("binary"))["extra_trees"], req)
    for obj in (fitted, {"a": np.arange(10**6)}, "text"):
        assert _probes.pickled_mb(obj) == len(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)) / 1e6
