"""Per-row contributions sum to the prediction: for every model family and task, for weighted
ensembles of all of them, with a calibrator folded in, and through Model.explain."""
from importlib.util import find_spec

import numpy as np
import pandas as pd
import pytest

from mlexpert._clock import Deadline
from mlexpert.data import infer_schema
from mlexpert.ensemble import Member
from mlexpert.errors import DataError
from mlexpert.evaluate import fit_calibrator
from mlexpert.explain import column_map, contributions
from mlexpert.features import build_preprocessor
from mlexpert.models import FAMILIES, FitRequest
from tests.conftest import TASKS, make_table

PARAMS = {"lightgbm": {"n_estimators": 40}, "xgboost": {"n_estimators": 40},
          "catboost": {"iterations": 40}, "random_forest": {"n_estimators": 20},
          "extra_trees": {"n_estimators": 20}, "hist_gradient_boosting": {"max_iter": 40},
          "linear": {}}
if find_spec("torch") is not None:  # the mlp family fits with the ``deep`` extra only
    PARAMS["mlp"] = {"epochs": 8}


def _encode(y, task):
    if task == "regression":
        return y.to_numpy(float), 1
    codes, uniques = pd.factorize(y, sort=True)
    return codes, len(uniques)


@pytest.fixture(scope="module")
def members():
    """One fitted member per (task, family) on 200 rows, and the rows to explain."""
    out = {}
    for task in TASKS:
        frame = make_table(task, n=200, seed=4)
        y, k = _encode(frame.pop("y"), task)
        schema = infer_schema(frame)
        X = schema.prepare(frame)
        fams = {}
        for name in PARAMS:
            family = FAMILIES[name]
            pre = build_preprocessor(schema, family.kind, seed=0)
            Xt = pre.transformer.fit_transform(X)
            params = {**dict(family.configs(task))[next(iter(dict(family.configs(task))))],
                      **PARAMS[name]}
            req = FitRequest(task=task, n_classes=k if task != "regression" else 0,
                             categorical=pre.categorical, seed=0, deadline=Deadline.after(60))
            fitted = family.fit(Xt, y, params, req)
            fams[name] = Member(name, name, 1.0, [(pre.transformer, fitted)], refit=True)
        out[task] = (X, y, k, fams)
    return out


def _check(phi, base, members, X, task):
    expected = sum(m.weight * m.predict(X) for m in members) / sum(m.weight for m in members)
    total = base + phi.sum(axis=1)
    if task == "regression":
        expected = expected[:, None]
    np.testing.assert_allclose(total, expected, atol=1e-5)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", list(PARAMS))
def test_each_family_sums_to_its_prediction(members, task, name):
    X, _, k, fams = members[task]
    phi, base, cols = contributions([fams[name]], X.head(40), task, k)
    assert cols == list(X.columns) and phi.shape[:2] == (40, X.shape[1])
    _check(phi, base, [fams[name]], X.head(40), task)
    # x1 raises the target (the positive class; "high", class 0, for multiclass)
    x1 = X.head(40)["x1"].to_numpy()
    k_up = {"binary": 1, "multiclass": 0, "regression": 0}[task]
    ok = ~np.isnan(x1)
    rho = pd.Series(phi[ok, cols.index("x1"), k_up]).corr(pd.Series(x1[ok]), method="spearman")
    assert rho > 0.5, rho


@pytest.mark.parametrize("task", TASKS)
def test_weighted_ensemble_of_every_family_sums_to_its_prediction(members, task):
    X, _, k, fams = members[task]
    ens = [Member(m.name, m.family, w, m.parts, True)
           for m, w in zip(fams.values(), [0.3, 0.1, 0.2, 0.1, 0.15, 0.05, 0.1, 0.2][:len(fams)],
                           strict=True)]
    phi, base, _ = contributions(ens, X.head(30), task, k)
    _check(phi, base, ens, X.head(30), task)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_calibration_is_folded_in(members, task):
    X, y, k, fams = members[task]
    ens = [fams["lightgbm"], fams["linear"]]
    raw = sum(m.predict(X) for m in ens) / 2
    cal = fit_calibrator("isotonic", raw, y)
    phi, base, _ = contributions(ens, X, task, k, cal)
    np.testing.assert_allclose(base + phi.sum(axis=1), cal.apply(raw), atol=1e-6)


def test_column_map_sends_derived_columns_home(members):
    X, _, _, fams = members["binary"]
    names = column_map(fams["linear"].parts[0][0])
    assert set(names) == set(X.columns)
    assert names.count("when") > 1 and names.count("color") >= 3  # date parts, one-hot levels


@pytest.mark.parametrize("task", TASKS)
def test_model_explain_sums_to_predict(fitted, tables, task):
    model = fitted[task]
    rows = tables[task].drop(columns="y").iloc[:25]
    exp = model.explain(rows)
    assert list(exp.contributions.columns) == [c.name for c in model.schema.features]
    if task == "regression":
        expected = model.predict(rows)
    elif task == "binary":
        expected = model.predict_proba(rows).iloc[:, 1]
    else:
        expected = model.predict_proba(rows).max(axis=1)
    np.testing.assert_allclose(exp.prediction.to_numpy(), expected.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(exp.base_value + exp.contributions.sum(axis=1), exp.prediction)
    assert set(exp.to_frame().columns) >= {"base_value", "prediction"}


def test_explain_named_class_and_bad_class(fitted, tables):
    model = fitted["multiclass"]
    rows = tables["multiclass"].drop(columns="y").iloc[:10]
    exp = model.explain(rows, class_label="low")
    np.testing.assert_allclose(exp.prediction, model.predict_proba(rows)["low"], atol=1e-6)
    assert exp.output == "probability of class 'low'"
    with pytest.raises(DataError, match="class_label 'nope' is not a class"):
        model.explain(rows, class_label="nope")
    with pytest.raises(DataError, match="lacks 1 column"):
        model.explain(rows.drop(columns="x2"))
