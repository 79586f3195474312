"""The mlp family's training loop on real tables (scikit-learn's breast cancer, digits and
diabetes): it learns, is deterministic, keeps its deadline within a batch, restores its best
epoch, follows its schedule, honours sample weights; and its fitted model predicts the same
pickled, compiled, in ONNX, and in a process without torch."""
from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from mlexpert._clock import Deadline
from mlexpert.models import FAMILIES, FitRequest, Graph
from mlexpert.models._mlp import FINAL_LR, learning_rate, mlp_onnx

torch = pytest.importorskip("torch")

FAMILY = FAMILIES["mlp"]
QUICK = {"epochs": 30, "patience": 8}


def _table(task: str, seed: int = 0):
    """(X_train, y_train, X_val, y_val, n_classes): standard-scaled as the linear preprocessing
    does, 75/25 split."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
    from sklearn.preprocessing import StandardScaler

    loader = {"binary": load_breast_cancer, "multiclass": load_digits,
              "regression": load_diabetes}[task]
    X, y = loader(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    X, y = StandardScaler().fit_transform(X[order]), y[order]
    cut = len(y) * 3 // 4
    k = 0 if task == "regression" else len(np.unique(y))
    return X[:cut], y[:cut], X[cut:], y[cut:], k


def _request(task, k, deadline=60.0, **kw):
    return FitRequest(task=task, n_classes=k, categorical=[], seed=kw.pop("seed", 0),
                      deadline=Deadline.after(deadline), n_threads=1, **kw)


@pytest.fixture(scope="module")
def fits():
    """One early-stopped fit per task: (fitted, X_val, y_val)."""
    out = {}
    for task in ("binary", "multiclass", "regression"):
        Xtr, ytr, Xva, yva, k = _table(task)
        fitted = FAMILY.fit(Xtr, ytr, QUICK, _request(task, k, X_val=Xva, y_val=yva))
        out[task] = (fitted, Xva, yva)
    return out


# -- learning ----------------------------------------------------------------------------------
def test_it_learns_each_task_well_beyond_a_trivial_model(fits):
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    fitted, X, y = fits["binary"]
    assert roc_auc_score(y, fitted.predict(X)[:, 1]) > 0.97  # a constant: 0.5
    fitted, X, y = fits["multiclass"]
    assert accuracy_score(y, fitted.predict(X).argmax(1)) > 0.9  # the majority class: ~0.1
    fitted, X, y = fits["regression"]
    assert r2_score(y, fitted.predict(X)) > 0.3  # the mean: 0


def test_the_same_seed_gives_the_same_model_and_another_seed_another():
    Xtr, ytr, Xva, yva, k = _table("regression")
    params = {"epochs": 6}
    a = FAMILY.fit(Xtr, ytr, params, _request("regression", 0, X_val=Xva, y_val=yva))
    b = FAMILY.fit(Xtr, ytr, params, _request("regression", 0, X_val=Xva, y_val=yva))
    c = FAMILY.fit(Xtr, ytr, params, _request("regression", 0, X_val=Xva, y_val=yva, seed=1))
    np.testing.assert_array_equal(a.predict(Xva), b.predict(Xva))
    assert a.extra["history"] == b.extra["history"]
    assert not np.allclose(a.predict(Xva), c.predict(Xva))


def test_sample_weights_decide_which_rows_it_learns_from():
    """Every row twice, once with its label flipped: weighted 0, the flipped copies are not
    learned from; weighted as the others, the labels are a coin toss."""
    Xtr, ytr, Xva, yva, k = _table("binary")
    X2, y2 = np.vstack([Xtr, Xtr]), np.concatenate([ytr, 1 - ytr])
    w = np.concatenate([np.ones(len(ytr)), np.zeros(len(ytr))])
    fitted = FAMILY.fit(X2, y2, QUICK, _request("binary", k, X_val=Xva, y_val=yva,
                                                 sample_weight=w))
    assert (fitted.predict(Xva).argmax(1) == yva).mean() > 0.9


# -- the training loop ---------------------------------------------------------------------------
def test_a_tiny_deadline_stops_it_within_one_batch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100_000, 30))
    y = (X[:, 0] + rng.normal(size=100_000) > 0).astype(int)
    req = _request("binary", 2, deadline=0.0)
    fitted = FAMILY.fit(X, y, {}, req)  # expired before the first batch
    assert fitted.truncated and fitted.extra["epochs_run"] == 0
    assert fitted.predict(X[:5]).shape == (5, 2)
    req = _request("binary", 2, deadline=0.3)
    fitted = FAMILY.fit(X, y, {}, req)
    late = -req.deadline.remaining()
    # an epoch is 391 batches of 256 rows (~2 s on a CPU core): it stopped inside the first, a
    # batch past the deadline at most (~5 ms here) plus copying the weights out
    assert fitted.truncated and fitted.extra["epochs_run"] == 0
    assert late < 0.25, late


def test_early_stopping_restores_the_best_epoch():
    """40 training rows and a wide, unregularised network: the validation loss turns up; the
    returned model is the one of the epoch with the lowest, not the last."""
    Xtr, ytr, Xva, yva, k = _table("binary", seed=3)
    params = {"epochs": 80, "patience": 1000, "dropout": 0.0, "weight_decay": 0.0, "lr": 1e-2}
    fitted = FAMILY.fit(Xtr[:40], ytr[:40], params, _request("binary", k, X_val=Xva, y_val=yva))
    val = fitted.extra["history"]["val_loss"]
    best = int(np.argmin(val))
    assert len(val) == 80 and fitted.best_iteration == best + 1 < 60
    assert val[-1] > 1.2 * val[best]  # it turned up
    p = fitted.predict(Xva)
    loss = -np.mean(np.log(p[np.arange(len(yva)), yva]))
    assert loss == pytest.approx(val[best], rel=1e-4)  # the best epoch's weights, restored

    stopped = FAMILY.fit(Xtr[:40], ytr[:40], {**params, "patience": 5},
                         _request("binary", k, X_val=Xva, y_val=yva))
    assert stopped.extra["epochs_run"] < 80 and not stopped.truncated
    assert stopped.extra["epochs_run"] == stopped.best_iteration + 5


def test_the_learning_rate_follows_the_schedule_epoch_by_epoch():
    Xtr, ytr, Xva, yva, k = _table("regression")
    peak = 3e-3
    fitted = FAMILY.fit(Xtr, ytr, {"epochs": 20, "patience": 1000, "lr": peak},
                        _request("regression", 0, X_val=Xva, y_val=yva))
    lr = fitted.extra["history"]["lr"]
    assert lr == pytest.approx([learning_rate(peak, e / 20) for e in range(20)])
    assert lr[0] == pytest.approx(0.1 * peak)  # warming up
    assert max(lr) <= peak and lr[1] > lr[0] and np.all(np.diff(lr[2:]) < 0)  # cosine decay
    assert learning_rate(peak, 1.0) == pytest.approx(FINAL_LR * peak)


def test_without_validation_rows_it_holds_out_a_tenth_and_refits_to_the_folds_best_epoch():
    Xtr, ytr, Xva, yva, k = _table("binary")
    fitted = FAMILY.fit(Xtr, ytr, QUICK, _request("binary", k))
    assert fitted.extra["history"]["val_loss"] and fitted.best_iteration
    params = FAMILY.refit_params(QUICK, [fitted])
    assert params["stop_at"] == fitted.best_iteration and params["epochs"] == fitted.extra["epochs"]
    refit = FAMILY.fit(Xtr, ytr, params, _request("binary", k))
    history = refit.extra["history"]
    assert refit.extra["epochs_run"] == params["stop_at"] and not history["val_loss"]
    assert history["lr"] == pytest.approx(fitted.extra["history"]["lr"][:params["stop_at"]])


def test_outliers_are_clipped_smoothly_not_extrapolated(fits):
    fitted, X, y = fits["regression"]
    far = np.repeat(X[:1], 4, axis=0)
    far[:, 2] = [30.0, 1e3, 1e6, 1e30]  # bmi 30 to 1e30 standard deviations out
    pred = fitted.predict(far)
    assert np.isfinite(pred).all() and np.ptp(pred) < 0.05 * np.std(y)  # saturated by 30


# -- the fitted model: pickle, compiled, ONNX, without torch -------------------------------------
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_pickled_compiled_and_onnx_agree_with_predict(fits, task):
    fitted, X, _ = fits[task]
    assert fitted.estimator.embedding is not None  # the periodic embeddings' forms too
    _assert_every_form_agrees(fitted, np.vstack([X, X[:2] * 1e4]))  # outliers: the soft clip


def _assert_every_form_agrees(fitted, X):
    """Pickled, compiled (one row and all) and ONNX predictions equal ``fitted.predict``."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from mlexpert.compiled import compile_estimator

    want = fitted.predict(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict(X), want)
    compiled = compile_estimator(fitted)
    for rows in (slice(0, 1), slice(None)):
        np.testing.assert_allclose(compiled(X[rows]), want[rows], rtol=0, atol=1e-12)

    g = Graph()
    g.inputs.append(helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, X.shape[1]]))
    g.outputs.append(helper.make_tensor_value_info(mlp_onnx(g, fitted, "x"), TensorProto.DOUBLE,
                                                   None))
    model = g.build("mlp", "test", {})
    out = ort.InferenceSession(model.SerializeToString()).run(None, {"x": X})[0]
    np.testing.assert_allclose(out.reshape(want.shape), want, rtol=0, atol=1e-5)


def test_a_fitted_model_predicts_and_the_search_skips_the_family_without_torch(fits, tmp_path):
    fitted, X, _ = fits["multiclass"]
    (tmp_path / "fitted.pkl").write_bytes(pickle.dumps(fitted))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "want.npy", fitted.predict(X))
    code = textwrap.dedent(f"""
        import pickle, sys

        class Hidden:  # torch as if not installed: not found, not importable. (Not
            def __init__(self, finder):  # sys.modules["torch"] = None: scipy reads a module
                self.finder = finder  # there as torch and fails on None)
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "torch":
                    return None
                return self.finder.find_spec(name, path, target)
            def __getattr__(self, name):
                return getattr(self.finder, name)

        sys.meta_path[:] = [Hidden(f) for f in sys.meta_path]
        try:
            import torch
            raise AssertionError("torch was importable")
        except ModuleNotFoundError:
            pass
        import numpy as np
        fitted = pickle.loads(open({str(tmp_path / "fitted.pkl")!r}, "rb").read())
        got = fitted.predict(np.load({str(tmp_path / "X.npy")!r}))
        np.testing.assert_array_equal(got, np.load({str(tmp_path / "want.npy")!r}))
        from mlexpert.search._scheduler import installed
        kept, notes = installed(("lightgbm", "mlp"), {{"lightgbm": "lightgbm", "mlp": "mlp"}})
        assert kept == ["lightgbm"], kept
        assert "mlexpert[deep]" in notes[0].suggestion, notes
        print("ok", "torch" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["ok", "False"], out.stderr[-2000:]


# -- end to end ----------------------------------------------------------------------------------
@pytest.mark.heavy
def test_fit_with_only_the_mlp_saves_loads_and_exports(monkeypatch, tmp_path):
    import mlexpert
    from mlexpert.search import PRESETS, Preset
    from tests.conftest import make_table
    from tests.export._parity import assert_parity

    monkeypatch.setitem(PRESETS, "mlp_only", Preset(("mlp",), 0, True, 1, False, "the mlp"))
    frame = make_table("binary", n=400, seed=2).drop(columns="review")  # free text: no ONNX
    train, test = frame.iloc[:320], frame.iloc[320:].drop(columns="y")
    t0 = time.monotonic()
    model = mlexpert.fit(train, target="y", time_limit=40, seed=0, presets="mlp_only")
    assert time.monotonic() - t0 < 45
    board = model.leaderboard
    assert board.loc[board["model"] == "mlp", "status"].item() == "ok"
    model.save(tmp_path / "m")
    loaded = mlexpert.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(test).to_numpy(),
                               model.predict_proba(test).to_numpy())
    assert_parity(loaded, test)


# -- periodic embeddings -------------------------------------------------------------------------
def test_periodic_embeddings_in_numpy_are_the_torch_module_and_skip_constant_columns():
    from mlexpert.models._periodic import DIM, embedded_columns, plr_module

    robust = np.array([True, False, True, True, False, True])
    columns = embedded_columns(robust)
    assert columns.tolist() == [0, 2, 3, 5]
    module = plr_module(torch, columns, 6, torch.Generator().manual_seed(0)).double()
    x = np.random.default_rng(0).normal(size=(50, 6)) * 2
    want = module(torch.from_numpy(x)).detach().numpy()
    embedding = module.export()
    got = embedding.apply(x)
    assert got.shape == (50, 4 * DIM + 2) == (50, embedding.width)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got[:, -2:], x[:, [1, 4]])  # the rest passed on unchanged


def test_the_default_embeds_the_continuous_columns_and_none_turns_it_off(fits):
    fitted, _, _ = fits["multiclass"]  # digits: 64 pixels, the border ones always 0
    est = fitted.estimator
    assert est.embedding is not None and 0 < len(est.embedding.columns) < 64
    assert np.all(est.scale[est.embedding.rest] == 1.0)  # no spread of their own: passed on
    Xtr, ytr, Xva, yva, k = _table("regression")
    plain = FAMILY.fit(Xtr, ytr, {**QUICK, "embedding": "none"}, _request("regression", k))
    assert plain.estimator.embedding is None
    with pytest.raises(ValueError, match="mlp embedding 'plx'"):
        FAMILY.fit(Xtr, ytr, {**QUICK, "embedding": "plx"}, _request("regression", k))


def test_embeddings_fit_a_sharp_shape_a_plain_mlp_smooths():
    """A step function of one input (8 steps over its range): trees' ground, where the periodic
    features help, given frequencies of the shape's scale (``embedding_scale``, which the tuner
    searches; measured: RMSE 0.21 vs 0.88 for the plain MLP)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(3000, 2))
    y = np.sign(np.sin(2 * np.pi * x[:, 0])) + 0.1 * rng.normal(size=3000)
    cut = 2400
    errors = {}
    for embedding in ("plr", "none"):
        fitted = FAMILY.fit(x[:cut], y[:cut],
                            {**QUICK, "embedding": embedding, "embedding_scale": 1.0},
                            _request("regression", 0, X_val=x[cut:], y_val=y[cut:]))
        errors[embedding] = np.sqrt(np.mean((fitted.predict(x[cut:]) - y[cut:]) ** 2))
    assert errors["plr"] < 0.5 * errors["none"], errors


# -- categorical embeddings ----------------------------------------------------------------------
def test_category_embeddings_in_numpy_are_the_torch_module_and_a_level_without_a_column_is_zero():
    from mlexpert.models._categories import category_module, embedded_blocks

    blocks = embedded_blocks([[0, 1, 2], list(range(3, 15)), list(range(16, 30))])
    assert [b.tolist() for b in blocks] == [list(range(3, 15)), list(range(16, 30))]  # 3: one-hot
    module = category_module(torch, blocks, 32, 8, torch.Generator().manual_seed(0)).double()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 32))
    x[:, 3:15] = np.eye(12)[rng.integers(0, 12, 40)]
    x[:, 16:30] = np.eye(14)[rng.integers(0, 14, 40)]
    x[0, 3:15] = 0.0  # a level the encoder has no column for (unseen, no rare group)
    embedding = module.export()
    got = embedding.apply(x)
    np.testing.assert_allclose(got, module(torch.from_numpy(x)).detach().numpy(), rtol=0, atol=1e-12)
    rest = [0, 1, 2, 15, 30, 31]
    assert got.shape == (40, len(rest) + 16) == (40, embedding.width)
    np.testing.assert_array_equal(got[:, :6], x[:, rest])  # passed on unchanged, in order
    level = int(np.argmax(x[1, 3:15]))
    np.testing.assert_array_equal(got[1, 6:14], embedding.tables[0][level])  # its level's vector
    np.testing.assert_array_equal(got[0, 6:14], 0.0)


def _coded_table(n: int = 2000, seed: int = 0):
    """A 40-level code whose levels carry the signal (a random effect each), a 3-level colour
    and a number: the linear preprocessing's matrix, its one-hot blocks, the binary target."""
    import pandas as pd

    from mlexpert.data import infer_schema
    from mlexpert.features import build_preprocessor, one_hot_blocks

    rng = np.random.default_rng(seed)
    code = rng.integers(0, 40, n)
    effect = np.random.default_rng(99).normal(scale=1.5, size=40)
    frame = pd.DataFrame({"shop": [f"S{c:03d}" for c in code],
                          "colour": rng.choice(["red", "green", "blue"], n),
                          "x": rng.normal(size=n)})
    y = (effect[code] + 0.5 * frame["x"] + rng.logistic(size=n) > 0).astype(int).to_numpy()
    schema = infer_schema(frame)
    pre = build_preprocessor(schema, "linear", task="binary")
    X = pre.transformer.fit_transform(schema.prepare(frame), y)
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X), one_hot_blocks(pre.transformer), y


def test_a_wide_categorical_is_looked_up_a_narrow_one_stays_one_hot_and_every_form_agrees():
    from sklearn.metrics import roc_auc_score

    X, blocks, y = _coded_table()
    wide = [b for b in blocks if len(b) > 9]
    assert [len(b) for b in blocks] == [40, 3] and len(wide) == 1  # the table's order
    cut = 1500
    req = _request("binary", 2, X_val=X[cut:], y_val=y[cut:], one_hot_blocks=blocks)
    fitted = FAMILY.fit(X[:cut], y[:cut], {**QUICK, "category_dim": 8}, req)
    est = fitted.estimator
    assert [b.tolist() for b in est.categories.blocks] == wide
    assert est.categories.tables[0].shape == (40, 8)
    assert np.all(est.center[wide[0]] == 0.0) and np.all(est.scale[wide[0]] == 1.0)
    assert est.embedding is not None and len(est.embedding.columns) == 1  # x alone is periodic
    # the Bayes rate on these rows is ~0.8 (logistic noise); a model blind to the code ~0.6
    assert roc_auc_score(y[cut:], fitted.predict(X[cut:])[:, 1]) > 0.75
    unseen = X[cut:cut + 3].copy()
    unseen[:, wide[0]] = 0.0  # the shop's columns all off: its zero vector
    _assert_every_form_agrees(fitted, np.vstack([X[cut:], unseen]))
    plain = FAMILY.fit(X[:cut], y[:cut], QUICK, req)  # the default: one-hot, unscaled
    assert plain.estimator.categories is None
    assert np.all(plain.estimator.center[wide[0]] == 0.0)
    assert roc_auc_score(y[cut:], plain.predict(X[cut:])[:, 1]) > 0.75


def test_the_search_hands_each_fold_its_own_one_hot_blocks():
    import pandas as pd

    from mlexpert.data import infer_schema
    from mlexpert.features import one_hot_blocks
    from mlexpert.search._prepared import Prepared

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"shop": rng.choice([f"S{i}" for i in range(30)], 300),
                          "x": rng.normal(size=300)})
    frame.loc[:20, "shop"] = "S_only_in_the_first_rows"  # one fold's training rows lack it
    schema = infer_schema(frame)
    y = rng.integers(0, 2, 300)
    prepared = Prepared(schema, schema.prepare(frame), 0, "binary", y)
    first, second = np.arange(100, 300), np.arange(0, 200)
    a = prepared.get("linear", 0, first, np.arange(0, 100))[0]
    b = prepared.get("linear", 1, second, np.arange(200, 300))[0]
    assert prepared.blocks("linear", 0) == one_hot_blocks(a) != one_hot_blocks(b) == \
        prepared.blocks("linear", 1)
    prepared.get("tree", 0, first, np.arange(0, 100))
    assert prepared.blocks("tree", 0) == []
