"""ONNX predictions equal the bundle's for every family, fold bags, ensembles and calibration, on
held-out rows with missing values, unseen categories and out-of-range numbers and dates."""
from __future__ import annotations

import numpy as np
import pytest

from mlexpert.errors import ExportError
from mlexpert.export import to_onnx
from mlexpert.search._scheduler import Member
from tests.conftest import TASKS
from tests.export._parity import assert_parity
from tests.export.conftest import family_model, fit_member, make_model, split

FAMILIES = ("lightgbm", "xgboost", "random_forest", "extra_trees", "linear")


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("family", FAMILIES)
def test_family_parity(family, task, session_options):
    model, test = family_model(family, task)
    assert_parity(model, test, session_options)


@pytest.mark.parametrize("task", TASKS)
def test_catboost_on_numbers_parity(task, session_options):
    model, test = family_model("catboost", task, numeric_only=True)
    assert_parity(model, test, session_options)


def test_catboost_with_categories_says_what_to_do():
    model, _ = family_model("catboost", "binary")
    with pytest.raises(ExportError, match="catboost member.*mlexpert distill"):
        to_onnx(model)


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
    train, test = split(task, numeric_only=family == "catboost")
    schema, classes, part = fit_member(family, task, train, early_stop=True)
    fitted = part[1]
    assert fitted.best_iteration is not None
    model = make_model(task, schema, classes, [Member(family, family, 1.0, [part], False)])
    assert_parity(model, test, session_options)


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
