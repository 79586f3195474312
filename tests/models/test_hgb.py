"""scikit-learn's HistGradientBoosting as the floor runs it: the library's defaults with the
native categories named, grown in chunks that end where one fit would, and its trees read
exactly (numpy walk, ONNX, TreeSHAP) where categorical splits, unseen categories and missing
values go."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from mlexpert._clock import Deadline
from mlexpert.data import infer_schema
from mlexpert.features import build_preprocessor
from mlexpert.models import LIBRARY_DEFAULTS, FitRequest, get_family, preprocessing
from mlexpert.models._hgb import _HGBTrees, hgb_contributions, hgb_trees
from tests.conftest import make_table

DEFAULT = {LIBRARY_DEFAULTS: True}


def _request(task, k, cats, seconds=60.0, **kw):
    return FitRequest(task=task, n_classes=k, categorical=cats, seed=0,
                      deadline=Deadline.after(seconds), n_threads=1, **kw)


def _mixed(n, seed=0):
    """Two categorical code columns (6 and 40 levels), a numeric one with missing values and a
    noise column; a binary target that needs the categories."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.integers(0, 6, n), rng.normal(size=n), rng.normal(size=n),
                         rng.integers(0, 40, n)]).astype(float)
    X[rng.random(n) < 0.1, 1] = np.nan
    X[rng.random(n) < 0.05, 3] = np.nan
    signal = (X[:, 0] % 2 == 0) + np.nan_to_num(X[:, 1]) + (X[:, 3] % 5 == 1) * 1.5
    y = (signal + rng.normal(size=n) > 1).astype(int)
    return X, y


def test_hgb_default_is_the_library_as_a_user_runs_it_with_native_categories():
    """On the native preprocessing, the family's fit is HistGradientBoosting with its defaults
    and ``categorical_features`` = the code columns, sample weights honoured; above 10,000 rows
    its own early stopping ends the chunked fit on the very iteration one fit ends on."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    family = get_family("hist_gradient_boosting")
    name, params = family.configs("binary")[0]
    assert name == "hgb_default" and preprocessing(family, params) == "native"
    frame = make_table("binary", n=300)
    y = frame.pop("y").to_numpy()
    schema = infer_schema(frame)
    pre = build_preprocessor(schema, "native")
    X = pre.transformer.fit_transform(schema.prepare(frame))
    y = np.unique(y, return_inverse=True)[1]
    fitted = family.fit(X, y, params, _request("binary", 2, pre.categorical))
    est = fitted.estimator
    assert pre.categorical and list(est.categorical_features) == pre.categorical
    assert est.is_categorical_[pre.categorical].all() and not fitted.truncated
    user = HistGradientBoostingClassifier(categorical_features=pre.categorical, random_state=0)
    defaults = {k: v for k, v in user.get_params().items() if k != "categorical_features"}
    assert {k: v for k, v in est.get_params().items() if k != "categorical_features"} == defaults
    np.testing.assert_array_equal(fitted.predict(X), user.fit(X, y).predict_proba(X))

    X, y = _mixed(12_000)
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    fitted = family.fit(X, y, params, _request("binary", 2, [0, 3], sample_weight=w))
    user = HistGradientBoostingClassifier(categorical_features=[0, 3], random_state=0)
    user.fit(X, y, sample_weight=w)
    assert fitted.estimator.do_early_stopping_ and fitted.estimator.n_iter_ == user.n_iter_ < 100
    np.testing.assert_array_equal(fitted.predict(X[:500]), user.predict_proba(X[:500]))


def test_a_categorical_wider_than_max_bins_is_left_numeric():
    """HGB refuses a categorical of more than 255 values; ``features/`` never makes one (254
    levels plus one shared code), a matrix from elsewhere may: that column stays numeric."""
    X, y = _mixed(2_000)
    X[:, 2] = np.arange(len(X)) % 300
    fitted = get_family("hist_gradient_boosting").fit(X, y, DEFAULT,
                                                      _request("binary", 2, [0, 2, 3]))
    assert list(fitted.estimator.categorical_features) == [0, 3]


def test_the_deadline_stops_growing_and_says_so():
    X, y = _mixed(2_000)
    family = get_family("hist_gradient_boosting")
    fitted = family.fit(X, y, DEFAULT, _request("binary", 2, [0, 3], seconds=0.0))
    assert fitted.truncated and fitted.estimator.n_iter_ == 10
    assert family.refit_params(DEFAULT, [fitted]) == DEFAULT  # as shipped, again
    assert fitted.predict(X[:3]).shape == (3, 2)


def _probes(X):
    """Rows with unseen, negative and missing categories and missing numbers."""
    test = X[:400].copy()
    test[:20, 0] = 17  # a category never seen
    test[20:30, 3] = -1
    test[30:40, 0] = np.nan
    test[40:60, 1] = np.nan
    test[60:62, 1] = np.inf
    return test


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_trees_in_onnx_give_hgb_raw_scores(task, session_options):
    """Category sets on both sides of missing values, unseen values, NaN: the ONNX trees give
    HGB's own raw scores."""
    from tests.export._parity import trees_session

    X, y = _mixed(3_000)
    if task == "multiclass":
        y = y + (X[:, 2] > 0.8)
    k = 0 if task == "regression" else len(np.unique(y))
    target = X[:, 2] + y if task == "regression" else y
    fitted = get_family("hist_gradient_boosting").fit(X, target, DEFAULT,
                                                      _request(task, k, [0, 3]))
    est = fitted.estimator
    t = _HGBTrees(est)
    assert {True, False} <= set(t.nan_left[t.is_cat].tolist())  # both kinds of category split
    session = trees_session(hgb_trees(est), 4, session_options)
    test = _probes(X)
    want = est._raw_predict(test)
    np.testing.assert_allclose(session.run(None, {"x": test})[0], want, rtol=0, atol=1e-9)
    np.testing.assert_allclose(t.raw(test), want, rtol=0, atol=1e-9)


def _path_expectation(t, x, ords, node, known):
    """E[f | the features in ``known`` as in x]: the tree's cover-weighted descent."""
    if t.leaf[node]:
        return t.value[node]
    if t.feature[node] in known:
        left = t.goes_left(x, ords, np.array([0]), np.array([node]))[0]
        return _path_expectation(t, x, ords, t.left[node] if left else t.right[node], known)
    return sum(t.count[c] / t.count[node] * _path_expectation(t, x, ords, c, known)
               for c in (t.left[node], t.right[node]))


def test_contributions_are_the_exact_shapley_values_of_the_trees_with_category_splits():
    """Brute force over every coalition of the 4 columns, categorical splits included; and the
    same numbers as ``shap.TreeExplainer`` on a model without categories (which it reads)."""
    import shap

    X, y = _mixed(1_500)
    family = get_family("hist_gradient_boosting")
    fitted = family.fit(X, y, {**DEFAULT, "max_iter": 3}, _request("binary", 2, [0, 3]))
    t = _HGBTrees(fitted.estimator)
    test = _probes(X)[[0, 25, 35, 45, 100]]
    phi, base, space = hgb_contributions(fitted, test, "binary", 1)
    assert space == "margin"
    F = X.shape[1]
    for r in range(len(test)):
        x = test[r:r + 1]
        ords = t.ordinals(x)

        def value(known, x=x, ords=ords):
            return t.baseline[0] + sum(_path_expectation(t, x, ords, root, known)
                                       for root in t.roots.tolist())

        want = np.zeros(F)
        for i in range(F):
            others = [j for j in range(F) if j != i]
            for size in range(F):
                for S in itertools.combinations(others, size):
                    w = math.factorial(size) * math.factorial(F - size - 1) / math.factorial(F)
                    want[i] += w * (value({*S, i}) - value(set(S)))
        np.testing.assert_allclose(phi[r, :, 0], want, atol=1e-10)
        assert base[r, 0] == pytest.approx(value(set()))

    plain = family.fit(X, X[:, 2] + y, DEFAULT, _request("regression", 0, []))
    explainer = shap.TreeExplainer(plain.estimator)
    ours, base, space = hgb_contributions(plain, test, "regression", 1)
    np.testing.assert_allclose(ours[:, :, 0], explainer.shap_values(test), atol=1e-9)
    assert space == "value" and base[0, 0] == pytest.approx(float(explainer.expected_value[0]))


def test_a_fitted_model_with_categories_loads_from_a_bundle_payload(tmp_path):
    """HGB holds ``functools.partial(check_array, ...)`` once categories are named: the
    bundle's unpickler must take it."""
    from mlexpert.ensemble import _pickle

    X, y = _mixed(1_000)
    fitted = get_family("hist_gradient_boosting").fit(X, y, {**DEFAULT, "max_iter": 5},
                                                      _request("binary", 2, [0, 3]))
    _pickle.write_payload(fitted, tmp_path / _pickle.PAYLOAD)
    again = _pickle.read_payload(tmp_path / _pickle.PAYLOAD)
    np.testing.assert_array_equal(again.predict(X[:50]), fitted.predict(X[:50]))


@pytest.fixture(scope="module")
def session_options():
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return so
