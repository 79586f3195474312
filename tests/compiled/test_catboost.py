"""CatBoost read as oblivious trees and walked in numpy: every way a category split can fall
(either side rarer, every code on one side, missing on either side), any tree shapes against a
plain per-row walk, and CatBoost's own answers on hostile rows for every task."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlexpert.compiled import Unsupported, compile_estimator
from mlexpert.models import Level, Oblivious
from mlexpert.models._oblivious import LEQ, MEMBER, ObliviousTrees, _CategoryBits
from tests.conftest import TASKS


def _bit(level, value: float) -> int:
    """The bit an ONNX node built from ``level`` gives the code ``value`` (NaN: missing)."""
    if math.isnan(value):
        true = level.missing_true
    elif level.mode == MEMBER:
        true = value in level.members
    else:
        assert level.mode == LEQ
        true = value <= level.split
    return level.true_bit if true else 1 - level.true_bit


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=3, max_size=40), st.integers(0, 1))
def test_a_category_split_gives_each_code_catboosts_bit(code_bits, missing_bit):
    bits = np.array([*code_bits, missing_bit]).reshape(1, -1, 1, 1)  # column, code, tree, level
    level = _CategoryBits([4], bits).level(0, 0)
    assert level.feature == 4
    got = [_bit(level, float(c)) for c in range(len(code_bits))] + [_bit(level, math.nan)]
    assert got == [*code_bits, missing_bit]
    if level.mode == MEMBER:  # the smaller side is listed
        assert len(level.members) * 2 <= len(code_bits) + 1


def test_a_split_that_moves_with_two_columns_is_refused():
    varies = np.array([0, 1, 0, 1]).reshape(1, -1, 1, 1)
    with pytest.raises(Unsupported, match="max_ctr_complexity"):
        _CategoryBits([2, 5], np.concatenate([varies, varies])).level(0, 0)


def _walk(model: Oblivious, row: np.ndarray) -> np.ndarray:
    """Raw scores of one row, tree by tree and level by level (float32 features)."""
    out = model.bias.copy()
    for levels, values in zip(model.levels, model.values, strict=True):
        leaf = sum(_bit(lv, float(np.float32(row[lv.feature]))) << d
                   for d, lv in enumerate(levels))
        out = out + values[leaf]
    return out


@st.composite
def _oblivious(draw):
    n_features, n_targets = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    levels, values = [], []
    for _ in range(draw(st.integers(1, 6))):
        tree = []
        for _ in range(draw(st.integers(0, 10))):  # deep, shallow and constant trees
            feature, missing, true_bit = (draw(st.integers(0, n_features - 1)), draw(st.booleans()),
                                          draw(st.integers(0, 1)))
            if draw(st.booleans()):
                tree.append(Level(feature, LEQ, draw(st.sampled_from([-1.0, 0.0, 0.5, 2.0])),
                                  missing, None, true_bit))
            else:
                members = draw(st.lists(st.integers(0, 5), min_size=1, max_size=4, unique=True))
                tree.append(Level(feature, MEMBER, math.nan, missing,
                                  [float(m) for m in members], true_bit))
        levels.append(tree)
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        values.append(rng.integers(-9, 10, size=(1 << len(tree), n_targets)).astype(float))
    bias = np.asarray(draw(st.lists(st.integers(-3, 3), min_size=n_targets, max_size=n_targets)),
                      dtype=float)
    rows = draw(st.lists(st.lists(st.sampled_from([math.nan, -2.0, 0.0, 0.5, 1.0, 2.0, 3.0, 5.0,
                                                   7.0, 300.0]),
                                  min_size=n_features, max_size=n_features), min_size=1,
                         max_size=5))
    return Oblivious(levels, values, bias), np.asarray(rows)


@settings(max_examples=150, deadline=None)
@given(_oblivious())
def test_the_trees_walked_at_once_give_each_rows_walk(case):
    """Any mix of depths, splits, set memberships (codes outside the table too) and missing
    values: all rows and trees at once give what one row walked tree by tree gives."""
    model, rows = case
    got = ObliviousTrees([model])(rows)[:, 0]
    want = np.stack([_walk(model, r) for r in rows])
    np.testing.assert_array_equal(got, want)


@settings(max_examples=100, deadline=None)
@given(_oblivious(), _oblivious())
def test_models_walked_together_give_each_models_walk(a, b):
    """Two models, each with its own input, its own depths and number of outputs: walked
    together, each model's scores are what it gives alone (padded outputs zero)."""
    (ma, ra), (mb, rb) = a, b
    n = min(len(ra), len(rb))
    got = ObliviousTrees([ma, mb])(ra[:n], rb[:n])
    for i, (m, rows) in enumerate([(ma, ra[:n]), (mb, rb[:n])]):
        k = len(m.bias)
        np.testing.assert_array_equal(got[:, i, :k], np.stack([_walk(m, r) for r in rows]))
        assert not got[:, i, k:].any()


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("numeric_only", [True, False])
def test_the_compiled_path_walks_catboosts_trees(task, numeric_only, monkeypatch):
    """Up to OBLIVIOUS_ROWS rows the compiled path answers as CatBoost does without calling it
    (its predict costs ~100-200 µs a call), on rows with missing, unseen and far values; above,
    it calls CatBoost."""
    from mlexpert.ensemble import Member
    from mlexpert.models._catboost import OBLIVIOUS_ROWS
    from mlexpert.runtime import FastPath
    from tests.export.conftest import fit_member, make_model, split

    train, test = split(task, numeric_only=numeric_only)
    schema, classes, part = fit_member("catboost", task, train)
    model = make_model(task, schema, classes, [Member("c", "catboost", 1.0, [part], True)])
    native, _ = model._predict_raw(test, compiled=False, invalid="missing")
    if task != "regression":
        native = native / native.sum(axis=1, keepdims=True)
    path = FastPath(model)
    rows = list(zip(*model.schema.prepare_arrays(test), strict=True))
    est = part[1].estimator
    calls = []

    def counted(own):
        return lambda *a, **k: calls.append(1) or own(*a, **k)

    for name in ("predict", "predict_proba")[:1 if task == "regression" else 2]:
        monkeypatch.setattr(est, name, counted(getattr(est, name)))
    few = [path.predict(rows[i:i + OBLIVIOUS_ROWS]) for i in range(0, len(rows), OBLIVIOUS_ROWS)]
    np.testing.assert_allclose(np.concatenate(few), native, rtol=0, atol=1e-12)
    assert not calls
    np.testing.assert_allclose(path.predict(rows), native, rtol=0, atol=1e-12)
    assert calls


def test_feature_combinations_are_left_to_catboost():
    """Statistics of two columns at once do not read as one column's code sets: the compiled
    model is CatBoost's own predict, with its answers."""
    import catboost as cb

    from mlexpert.models import Fitted, catboost_oblivious
    from mlexpert.models._catboost import _CatBoostInput

    rng = np.random.default_rng(0)
    a, b, x = rng.integers(0, 12, 4000), rng.integers(0, 6, 4000), rng.normal(size=4000)
    y = ((((a * 7 + b * 3) % 5) < 2) ^ (x > 1)).astype(int)
    adapter = _CatBoostInput([1, 2])
    est = cb.CatBoostClassifier(iterations=100, depth=6, cat_features=[1, 2], max_ctr_complexity=4,
                                verbose=False, random_seed=0, thread_count=1,
                                allow_writing_files=False)
    X = np.column_stack([x, a, b]).astype(float)
    est.fit(adapter(X), y)
    with pytest.raises(Unsupported):
        catboost_oblivious(est, [1, 2], adapter)
    fitted = Fitted(est, "binary", 2, extra={"adapter": adapter})
    np.testing.assert_allclose(compile_estimator(fitted)(X[:20]), fitted.predict(X[:20]),
                               rtol=0, atol=1e-12)


def test_too_many_categorical_columns_to_probe_are_left_to_catboost(monkeypatch):
    """Reading category splits probes every code of every categorical column: beyond
    ``MAX_PROBE_CELLS`` (948 columns took 47 s) the compiled model is CatBoost's own predict."""
    import catboost as cb

    import mlexpert.models._oblivious as oblivious
    from mlexpert.models import Fitted, catboost_oblivious
    from mlexpert.models._catboost import _CatBoostInput

    rng = np.random.default_rng(1)
    a, x = rng.integers(0, 12, 1000), rng.normal(size=1000)
    y = ((a % 3 == 0) ^ (x > 0.5)).astype(int)
    adapter = _CatBoostInput([1])
    est = cb.CatBoostClassifier(iterations=30, depth=4, cat_features=[1], max_ctr_complexity=1,
                                verbose=False, random_seed=0, thread_count=1,
                                allow_writing_files=False)
    X = np.column_stack([x, a]).astype(float)
    est.fit(adapter(X), y)
    monkeypatch.setattr(oblivious, "MAX_PROBE_CELLS", 100)
    with pytest.raises(Unsupported, match="1 categorical columns"):
        catboost_oblivious(est, [1], adapter)
    fitted = Fitted(est, "binary", 2, extra={"adapter": adapter})
    np.testing.assert_allclose(compile_estimator(fitted)(X[:20]), fitted.predict(X[:20]),
                               rtol=0, atol=1e-12)


def test_a_model_is_read_once_while_it_lives():
    """The numpy and ONNX paths of one Model both read its CatBoost models: the second read is
    the first one's trees; a model gone takes its entry with it."""
    import gc

    import catboost as cb

    from mlexpert.models import catboost_oblivious
    from mlexpert.models._oblivious import _READ

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 3)), rng.normal(size=200)
    est = cb.CatBoostRegressor(iterations=20, depth=3, verbose=False, thread_count=1,
                               allow_writing_files=False).fit(X, y)
    first = catboost_oblivious(est, [])
    assert catboost_oblivious(est, []) is first
    before = len(_READ)
    del est
    gc.collect()
    assert len(_READ) == before - 1
