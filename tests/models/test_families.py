"""One conformance suite every model family passes, on every task."""
import pickle

import numpy as np
import pytest

from mlexpert._clock import Deadline
from mlexpert.data import infer_schema
from mlexpert.errors import ConfigError
from mlexpert.features import build_preprocessor
from mlexpert.models import FAMILIES, FitRequest, get_family
from tests.conftest import TASKS, make_table

ITERATIVE = {"lightgbm", "xgboost", "catboost", "random_forest", "extra_trees", "linear",
             "hist_gradient_boosting", "mlp"}
NEEDS = {"mlp": "torch"}  # families whose fit needs an optional extra (``deep``)


def _data(task, kind):
    frame = make_table(task, n=300)
    y_raw = frame.pop("y")
    schema = infer_schema(frame)
    pre = build_preprocessor(schema, kind)
    X = pre.transformer.fit_transform(schema.prepare(frame))
    if task == "regression":
        y, k = y_raw.to_numpy(float), 0
    else:
        y, k = np.unique(y_raw, return_inverse=True)[1], y_raw.nunique()
    return X, y, k, pre.categorical


def _request(task, k, cats, deadline=None, **kw):
    return FitRequest(task=task, n_classes=k, categorical=cats, seed=0,
                      deadline=deadline or Deadline.after(60), n_threads=1, **kw)


@pytest.fixture(params=sorted(FAMILIES), ids=str)
def family(request):
    if request.param in NEEDS:
        pytest.importorskip(NEEDS[request.param])
    return FAMILIES[request.param]


@pytest.mark.parametrize("task", TASKS)
def test_fit_predict_deterministic_and_picklable(family, task):
    X, y, k, cats = _data(task, family.kind)
    name, params = family.configs(task)[0]
    tr, va = np.arange(0, 240), np.arange(240, 300)
    req = _request(task, k, cats, X_val=X[va], y_val=y[va])
    fitted = family.fit(X[tr], y[tr], params, req)
    pred = fitted.predict(X[va])
    if task == "regression":
        assert pred.shape == (60,) and np.isfinite(pred).all()
        assert np.corrcoef(pred, y[va])[0, 1] > 0.5  # it learned the signal
    else:
        assert pred.shape == (60, k)
        np.testing.assert_allclose(pred.sum(axis=1), 1.0, atol=1e-6)
        assert (pred.argmax(1) == y[va]).mean() > 0.5
    again = family.fit(X[tr], y[tr], params, _request(task, k, cats, X_val=X[va], y_val=y[va]))
    np.testing.assert_allclose(again.predict(X[va]), pred)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(fitted)).predict(X[va]), pred)
    refit = family.fit(X, y, family.refit_params(params, [fitted]), _request(task, k, cats))
    assert refit.predict(X[:3]).shape[0] == 3


def test_deadline_stops_iterative_families(family):
    if family.name not in ITERATIVE:
        pytest.skip("not iterative")
    X, y, k, cats = _data("binary", family.kind)
    fitted = family.fit(X, y, family.configs("binary")[0][1],
                        _request("binary", k, cats, deadline=Deadline.after(0.0)))
    assert fitted.truncated
    assert fitted.predict(X[:5]).shape == (5, 2)


def test_every_preset_config_names_a_family_config():
    from mlexpert.search import PRESETS

    names = {n for fam in FAMILIES.values() for t in TASKS for n, _ in fam.configs(t)}
    for preset in PRESETS.values():
        assert set(preset.portfolio) <= names


def test_unknown_family():
    with pytest.raises(ConfigError, match="model family must be one of"):
        get_family("svm")


@pytest.mark.parametrize("name", ["random_forest", "extra_trees"])
def test_forest_size_is_capped(monkeypatch, name):
    from mlexpert.models import _forest

    monkeypatch.setattr(_forest, "MAX_MODEL_BYTES", 2**20)
    X, y, k, cats = _data("regression", "tree")
    family = FAMILIES[name]
    fitted = family.fit(X, y, family.configs("regression")[0][1], _request("regression", k, cats))
    n_trees = len(fitted.estimator.estimators_)
    assert 10 <= n_trees < 300 and not fitted.truncated
    assert _forest._tree_bytes(fitted.estimator) * n_trees <= 2**20 * 1.2
    # the K fold models of a candidate share the cap, and the refit grows what they grew
    folds = [family.fit(X[i::3], y[i::3], family.configs("regression")[0][1],
                        _request("regression", k, cats, size_share=1 / 3)) for i in range(3)]
    assert sum(_forest._tree_bytes(f.estimator) * len(f.estimator.estimators_)
               for f in folds) <= 2**20 * 1.2
    refit = family.refit_params(family.configs("regression")[0][1], folds)
    assert refit["n_estimators"] == max(len(f.estimator.estimators_) for f in folds) < 300


def test_ctrl_c_interrupts_catboost(tmp_path):
    """Left alone, CatBoost's training loop takes Ctrl-C as "stop early" and returns normally, so
    a fit would go on. The family's per-iteration deadline callback runs Python code, where the
    pending KeyboardInterrupt is raised: Ctrl-C must abort."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "cb.py"
    script.write_text(
        "import numpy as np\n"
        "from mlexpert._clock import Deadline\n"
        "from mlexpert.models import FAMILIES, FitRequest\n"
        "X = np.random.default_rng(0).random((50000, 20)); y = (X[:, 0] > 0.5).astype(int)\n"
        "req = FitRequest('binary', 2, [], 0, Deadline.after(120), 2)\n"
        "print('ready', flush=True)\n"
        "try:\n"
        "    FAMILIES['catboost'].fit(X, y, {'iterations': 200000}, req)\n"
        "    print('finished')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n")
    # default SIGINT in the child even when this run was started as a background job (which
    # ignores SIGINT, and a child inherits that)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert out.strip() == "interrupted"


def test_catboost_refit_with_few_rounds_keeps_the_fold_models_statistics():
    """CatBoost's own default combines columns from 200 iterations on and not below: a refit with
    fewer rounds than its fold models would silently be a different kind of model."""
    family = get_family("catboost")
    X, y, k, cats = _data("binary", family.kind)
    params = family.configs("binary")[0][1]
    kinds = {family.fit(X, y, {**params, "iterations": n}, _request("binary", k, cats))
             .estimator.get_all_params()["max_ctr_complexity"] for n in (20, 220)}
    assert kinds == {params["max_ctr_complexity"]}


@pytest.mark.parametrize("name", ["random_forest", "extra_trees"])
@pytest.mark.parametrize("task", TASKS)
def test_forests_scored_out_of_bag_never_predict_a_row_with_a_tree_that_drew_it(name, task):
    """Out-of-bag predictions are honest: on a target with no signal they are at chance while
    the forest itself fits its rows; with signal they track 3-fold cross-validation."""
    from sklearn.metrics import r2_score, roc_auc_score
    from sklearn.model_selection import cross_val_predict

    family = FAMILIES[name]
    X, y, k, cats = _data(task, "tree")
    params = {**dict(family.configs(task))[name], "n_estimators": 60}

    def score(truth, pred):
        return (r2_score(truth, pred) if task == "regression" else
                roc_auc_score(truth, pred, multi_class="ovr") if k > 2 else
                roc_auc_score(truth, pred[:, 1]))

    noise = np.random.default_rng(1).permutation(y)
    fitted, oob = family.fit_out_of_bag(X, noise, params, _request(task, k, cats))
    assert oob.shape == fitted.predict(X).shape
    assert score(noise, fitted.predict(X)) > 0.6  # the forest saw these rows...
    assert score(noise, oob) < (0.1 if task == "regression" else 0.6)  # ...its OOB did not
    fitted, oob = family.fit_out_of_bag(X, y, params, _request(task, k, cats))
    assert fitted.estimator.bootstrap
    est = fitted.estimator.set_params(n_jobs=1)
    cv = cross_val_predict(est, X, y, cv=3,
                           method="predict" if task == "regression" else "predict_proba")
    assert abs(score(y, oob) - score(y, cv)) < 0.1


def test_rows_every_tree_drew_get_the_training_mean_out_of_bag():
    X, y, k, cats = _data("multiclass", "tree")
    family = FAMILIES["random_forest"]
    fitted, oob = family.fit_out_of_bag(X, y, {"n_estimators": 1}, _request("multiclass", k, cats))
    drawn = np.zeros(len(y), dtype=bool)
    drawn[fitted.estimator.estimators_samples_[0]] = True
    assert 0 < drawn.sum() < len(y)
    np.testing.assert_allclose(oob[drawn], np.tile(np.bincount(y) / len(y), (drawn.sum(), 1)))
    np.testing.assert_allclose(oob[~drawn], fitted.predict(X[~drawn]))
