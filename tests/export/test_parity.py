"""ONNX predictions equal the bundle's for every family, fold bags, ensembles and calibration, on
held-out rows with missing values, unseen categories and out-of-range numbers and dates."""
from __future__ import annotations

import numpy as np
import pytest

from mlexpert.ensemble import Member
from mlexpert.errors import ExportError
from tests.conftest import TASKS
from tests.export._parity import assert_parity, converted_tree_nodes, trees_session
from tests.export.conftest import ensemble_model, family_model, fit_member, make_model, split

FAMILIES = ("lightgbm", "xgboost", "random_forest", "extra_trees", "linear")


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("family", FAMILIES)
def test_family_parity(family, task, session_options):
    model, test = family_model(family, task)
    assert_parity(model, test, session_options)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("numeric_only", [True, False])
def test_catboost_parity(task, numeric_only, session_options):
    """With categories: target statistics and one-hot splits become sets of category codes."""
    model, test = family_model("catboost", task, numeric_only=numeric_only)
    assert_parity(model, test, session_options)


def test_catboost_feature_combinations_say_what_to_do():
    """A statistic of two columns at once has no ONNX tree form: the error names the setting."""
    import catboost as cb

    from mlexpert.models._catboost import _CatBoostInput, catboost_trees

    rng = np.random.default_rng(0)
    a, b, x = rng.integers(0, 12, 4000), rng.integers(0, 6, 4000), rng.normal(size=4000)
    y = (((a * 7 + b * 3) % 5) < 2) ^ (x > 1)
    adapter = _CatBoostInput([1, 2])
    est = cb.CatBoostClassifier(iterations=100, depth=6, cat_features=[1, 2], max_ctr_complexity=4,
                                verbose=False, random_seed=0, thread_count=1,
                                allow_writing_files=False)
    est.fit(adapter(np.column_stack([x, a, b])), y)
    with pytest.raises(ExportError, match="max_ctr_complexity.*mlexpert distill"):
        catboost_trees(est, [1, 2], adapter)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("family", ["lightgbm", "hist_gradient_boosting"])
def test_a_code_column_wider_than_native_splits_parity(family, task, session_options):
    """A code of more levels than native splits take reaches trees as its levels' sorted order:
    the graph and the numpy path give the model's predictions for known, unseen (a number between
    known ones, text) and missing codes."""
    import pandas as pd

    from tests.serve.test_fastpath import _check, _predictor

    rng = np.random.default_rng(3)
    n = 1500
    code = rng.integers(0, 400, n)
    x = rng.normal(size=n)
    signal = np.sin(code / 25.0) + x
    y = {"regression": signal, "binary": np.where(signal > 0, "yes", "no"),
         "multiclass": np.array(["a", "b", "c"])[np.digitize(signal, [-0.5, 0.5])]}[task]
    train = pd.DataFrame({"flight": [str(k) for k in code], "x": x, "y": y})
    schema, classes, part = fit_member(family, task, train)
    assert part[0].named_transformers_["order"].categories_[0].size > 254
    model = make_model(task, schema, classes, [Member(family, family, 1.0, [part], True)])
    test = pd.DataFrame({"flight": ["7", "399", "12", "401", "4000", "-1", "12.5", "1e99", "1e999",
                                    "abc", "", None, "0399", "+7"], "x": np.linspace(-2, 2, 14)})
    assert_parity(model, test, session_options)
    _check(_predictor(model), test.to_dict("records"))


@pytest.mark.parametrize("task", TASKS)
def test_ensemble_with_fold_bag_parity(task, session_options):
    train, test = split(task)
    n = len(train)
    schema, classes, lgb = fit_member("lightgbm", task, train)
    _, _, lin = fit_member("linear", task, train)
    _, _, fold_a = fit_member("xgboost", task, train, rows=np.arange(0, n * 2 // 3))
    _, _, fold_b = fit_member("xgboost", task, train, rows=np.arange(n // 3, n))
    members = [Member("lightgbm", "lightgbm", 0.5, [lgb], True),
               Member("linear", "linear", 0.3, [lin], True),
               Member("xgboost", "xgboost", 0.2, [fold_a, fold_b], False)]
    assert_parity(make_model(task, schema, classes, members), test, session_options)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("family", ["lightgbm", "xgboost", "catboost"])
def test_early_stopped_fold_models_parity(family, task, session_options):
    """Fold models stop at their best round; the graph must hold exactly the rounds used."""
    train, test = split(task)
    schema, classes, part = fit_member(family, task, train, early_stop=True)
    fitted = part[1]
    assert fitted.best_iteration is not None
    model = make_model(task, schema, classes, [Member(family, family, 1.0, [part], False)])
    assert_parity(model, test, session_options)


@pytest.mark.parametrize("family", ["lightgbm", "xgboost", "catboost"])
def test_fold_models_that_saw_two_of_four_classes_parity(family, session_options):
    """A multiclass fold with only two classes: CatBoost's MultiClass still gives a score per
    class (a softmax of two, not a sigmoid of one); the boosters give one score."""
    train, test = split("multiclass")
    labels = train["y"].to_numpy()
    two = np.flatnonzero(np.isin(labels, sorted(set(labels))[:2]))
    schema, classes, narrow = fit_member(family, "multiclass", train, rows=two)
    _, _, wide = fit_member(family, "multiclass", train)
    assert len(narrow[1].estimator.classes_) == 2
    members = [Member(family, family, 1.0, [narrow, wide], False)]
    assert_parity(make_model("multiclass", schema, classes, members), test, session_options)


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_calibration_and_threshold_parity(task, method, session_options):
    from mlexpert.evaluate import fit_calibrator

    train, test = split(task)
    schema, classes, part = fit_member("lightgbm", task, train)
    members = [Member("lightgbm", "lightgbm", 1.0, [part], True)]
    base = make_model(task, schema, classes, members)
    p = base._raw(schema.prepare(train.drop(columns="y")))
    y = np.searchsorted(classes, train["y"].to_numpy())
    cal = fit_calibrator(method, p, y).to_dict()
    extra = {"calibration": cal}
    if task == "binary":
        extra["decision"] = {"threshold": 0.37}
    assert_parity(make_model(task, schema, classes, members, **extra), test, session_options)


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_balanced_fit_on_numbers_exports_with_parity(task, session_options):
    """A real ensemble from the search (shared preprocessors, fold bags when refits do not fit,
    calibration) without categorical columns, so CatBoost members convert too."""
    import mlexpert

    train, test = split(task, numeric_only=True)
    model = mlexpert.fit(train, target="y", time_limit=30, presets="best", budget=2)
    assert_parity(model, test, session_options)


@pytest.mark.parametrize("use_missing", [True, False])
def test_lightgbm_trees_read_from_the_model_text_match_lightgbm(use_missing, session_options):
    """Category sets (bitsets in LightGBM's text), NaN sent by each node's default or read as
    0.0 (``use_missing=False``), unseen categories and several trees per round, in ONNX as
    LightGBM predicts them; settings without an ONNX form say what to do."""
    import lightgbm as lgb

    from mlexpert.models._lightgbm import lightgbm_trees

    rng = np.random.default_rng(0)
    n = 3000
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 70, n), rng.normal(size=n)])
    X[rng.random(n) < 0.1, 0] = np.nan
    y = np.minimum(rng.integers(0, 2, n) + ((X[:, 1] % 3 == 0) & (np.nan_to_num(X[:, 0]) > 0))
                   + (X[:, 2] > 1), 2)
    est = lgb.LGBMClassifier(n_estimators=40, verbose=-1, use_missing=use_missing,
                             max_cat_to_onehot=4, min_data_per_group=5, cat_smooth=1)
    est.fit(X, y, categorical_feature=[1])
    trees, objective = lightgbm_trees(est.booster_, 3)
    assert objective == "multiclass" and any(m for m in trees.members)
    session = trees_session(trees, 3, session_options)
    test = X[:500].copy()
    test[:40, 1] = 99  # a category never seen
    test[rng.random(test.shape) < 0.05] = np.nan
    np.testing.assert_allclose(session.run(None, {"x": test})[0],
                               est.booster_.predict(test, raw_score=True), atol=1e-9)
    for bad, match in (({"zero_as_missing": True}, "zero_as_missing"),
                       ({"linear_tree": True}, "linear trees")):
        est = lgb.LGBMRegressor(n_estimators=5, verbose=-1, **bad).fit(X, X[:, 2])
        with pytest.raises(ExportError, match=match):
            lightgbm_trees(est.booster_, 1)


def test_trees_built_node_by_node_and_in_blocks_keep_their_ids(session_options):
    """A tree added node by node (hgb, XGBoost) and one added as a block (LightGBM, forests,
    CatBoost) in one ``Trees``: ids stay global, so the graph sums both trees' leaves."""
    from mlexpert.models._trees_onnx import LEQ, Trees

    trees = Trees(1, np.zeros(1))
    root = trees.node(0, LEQ, 0.5, True)  # x0 <= 0.5 (missing: true) -> 1 else 2
    trees.link(root, trees.leaf(0, 1.0), trees.leaf(0, 2.0))
    trees.roots.append(root)
    # x1 <= 0 -> node 1 (x0 <= -1 -> 10 else 20) else 30
    trees.roots.append(trees.extend(
        np.array([1, 0]), LEQ, np.array([0.0, -1.0]), np.array([False, False]),
        (np.array([1, 0]), np.array([False, True])), (np.array([2, 1]), np.array([True, True])),
        0, np.array([10.0, 20.0, 30.0])))
    root = trees.node(1, LEQ, 5.0, False)  # a third tree after the block: x1 <= 5 -> 100 else 200
    trees.link(root, trees.leaf(0, 100.0), trees.leaf(0, 200.0))
    trees.roots.append(root)
    session = trees_session(trees, 2, session_options)
    x = np.array([[0.0, -1.0], [-2.0, -1.0], [1.0, 3.0], [np.nan, 9.0]])
    want = [1 + 20 + 100, 1 + 10 + 100, 2 + 30 + 100, 1 + 30 + 200]
    np.testing.assert_allclose(session.run(None, {"x": x})[0][:, 0], want)


def test_a_node_limit_stops_the_conversion_with_its_reason():
    from mlexpert.export import to_onnx

    train, _ = split("binary", numeric_only=True)
    schema, classes, part = fit_member("random_forest", "binary", train)
    model = make_model("binary", schema, classes, [Member("random_forest", "random_forest", 1.0,
                                                           [part], True)])
    assert to_onnx(model) is not None  # no limit: the export's own path
    with pytest.raises(ExportError, match="cannot export more than 100 tree nodes to ONNX"):
        to_onnx(model, max_tree_nodes=100)


def test_catboost_is_converted_first_and_the_sum_stays_in_member_order(monkeypatch,
                                                                      session_options):
    """A CatBoost member that cannot be converted is found before the other members' trees
    are read; the graph's weighted sum keeps member order (parity with the bundle)."""
    from mlexpert.export import _convert

    model, test, _ = ensemble_model("binary", ("random_forest", 1.0), ("catboost", 2.0))
    seen = []
    convert = _convert.model_output
    monkeypatch.setattr(_convert, "model_output",
                        lambda g, family, *a: seen.append(family) or convert(g, family, *a))
    assert_parity(model, test, session_options)
    assert seen[:2] == ["catboost", "random_forest"]


def test_members_over_the_node_limit_are_refused_before_any_is_converted(monkeypatch):
    """The nodes every counted member adds are summed before the first conversion: a graph
    one node short of them refuses the model with no tree read (olive_area's CatBoost, converted
    before its LightGBM pushed the graph past the limit: 1.2 s and +160 MB for nothing; a deep
    forest's arrays: seconds and hundreds of MB)."""
    import dataclasses

    from mlexpert.export import to_onnx
    from mlexpert.models import ADAPTERS

    families = ("lightgbm", "catboost", "random_forest")
    model, _, parts = ensemble_model("multiclass", *((f, 1.0) for f in families))
    total = converted_tree_nodes([fitted for _, fitted in parts])
    assert to_onnx(model, max_tree_nodes=total) is not None
    for name in families:
        monkeypatch.setitem(ADAPTERS, name, dataclasses.replace(
            ADAPTERS[name], onnx=lambda *a: pytest.fail("trees read")))
    with pytest.raises(ExportError, match=f"the graph would hold {total:,}"):
        to_onnx(model, max_tree_nodes=total - 1)
