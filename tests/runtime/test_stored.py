"""The numpy path stored with a bundle (issue #22: load + the first row within a second where no
graph exports): it pickles without scikit-learn or a booster library, a process that loads the
bundle answers its first rows from it without the members, with the members' answers, and it
is used only where the libraries it runs on are the versions that verified it."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import mlexpert
from mlexpert.bundle import COMPILED, COMPILED_NUMPY, MANIFEST

TASKS = ["binary", "multiclass", "regression"]
FAMILIES = ["catboost", "lightgbm", "xgboost", "extra_trees", "hist_gradient_boosting", "linear",
            "mlp"]
HEAVY = ("sklearn", "lightgbm", "xgboost", "scipy.stats", "torch")


def _model(task: str):
    """A model of seven families (CatBoost reads the categories, LightGBM and XGBoost are stored
    as their graphs), on the numpy path, and hostile held-out rows."""
    from mlexpert.ensemble import Member
    from mlexpert.runtime import FastPath
    from tests.export.conftest import fit_member, make_model, split

    train, test = split(task)
    fits = [fit_member(family, task, train) for family in FAMILIES]
    schema, classes = fits[0][0], fits[0][1]
    members = [Member(f, f, 1.0 + i, [part], True)
               for i, (f, (_, _, part)) in enumerate(zip(FAMILIES, fits, strict=True))]
    model = make_model(task, schema, classes, members)
    model.use_compiled(FastPath(model), "on: numpy (the test's choice)")
    return model, test


@pytest.fixture(scope="module", params=TASKS)
def on_numpy(request):
    return _model(request.param)


def _members_answer(model, rows):
    raw, _ = model._predict_raw(rows, compiled=False, invalid="missing")
    return raw if model.task == "regression" else raw / raw.sum(axis=1, keepdims=True)


def test_the_numpy_path_is_stored_and_names_no_heavy_library(on_numpy, tmp_path):
    model, _ = on_numpy
    _, data, libraries = model._compiled[1].portable()
    assert set(libraries) == {"numpy", "catboost", "onnxruntime"}
    path = model.save(tmp_path / "m")
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["compiled"]["file"] == COMPILED_NUMPY and not (path / COMPILED).exists()
    assert manifest["compiled"]["libraries"] == libraries
    assert manifest["compiled"]["bytes"] == (path / COMPILED_NUMPY).stat().st_size
    from mlexpert.runtime._numpy import _named_modules

    roots = {m.split(".")[0] for m in _named_modules(data)}
    assert "numpy" in roots and "catboost" in roots and not roots & {h.split(".")[0] for h in HEAVY}


def fresh_process(path, rows, tmp_path) -> list:
    """A fresh process loads the bundle at ``path`` and answers the first of ``rows``, then all
    of them: [one, all, its compiled_path, whether it read the members, the ``HEAVY`` modules
    it imported]."""
    rows.to_pickle(tmp_path / "rows.pkl")
    code = ("import sys, json, pandas as pd, mlexpert; rows = pd.read_pickle(sys.argv[2]); "
            "m = mlexpert.load(sys.argv[1]); one = m._predict_raw(rows.iloc[:1])[0].tolist(); "
            "all_ = m._predict_raw(rows)[0].tolist(); "
            "print(json.dumps([one, all_, m.compiled_path, m._ensemble_box.ready, "
            f"sorted(k for k in {HEAVY!r} if k in sys.modules)]))")
    out = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "rows.pkl")],
                         capture_output=True, text=True, check=True).stdout.splitlines()[-1]
    return json.loads(out)


def test_a_fresh_process_answers_from_it_without_the_members_or_scikit_learn(on_numpy, tmp_path):
    model, test = on_numpy
    path = model.save(tmp_path / "m")
    rows = test.iloc[:6]
    one, all_, note, read, heavy = fresh_process(path, rows, tmp_path)
    want = _members_answer(model, rows)
    np.testing.assert_allclose(one, want[:1], rtol=0, atol=1e-6)
    np.testing.assert_allclose(all_, want, rtol=0, atol=1e-6)
    assert note.startswith("on: numpy (the numpy path saved with the bundle"), note
    assert read is False and heavy == []


def test_compile_verifies_it_against_the_members_and_a_resave_keeps_it(on_numpy, tmp_path):
    model, test = on_numpy
    path = model.save(tmp_path / "m")
    loaded = mlexpert.load(path)
    (path / COMPILED_NUMPY).unlink()  # load kept the checked bytes: nothing is read later
    rows = test.iloc[:8]
    first = loaded._predict_raw(rows)[0]
    assert not loaded._ensemble_box.ready
    again = loaded.save(tmp_path / "again")  # the adopted path stores itself again
    assert (again / COMPILED_NUMPY).exists()
    note = loaded.compile()
    assert loaded._ensemble_box.ready and "verified against the Model" in note, note
    np.testing.assert_allclose(first, _members_answer(model, rows), rtol=0, atol=1e-6)
    assert mlexpert.load(again)._predict_raw(rows)[0].tolist() == first.tolist()


def test_another_library_version_leaves_it_to_the_members(on_numpy, tmp_path):
    model, test = on_numpy
    path = model.save(tmp_path / "m")
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["compiled"]["libraries"]["catboost"] = "0.0.1"  # verified by another CatBoost
    (path / MANIFEST).write_text(json.dumps(manifest))
    loaded = mlexpert.load(path)
    np.testing.assert_allclose(loaded._predict_raw(test.iloc[:1])[0],
                               _members_answer(model, test.iloc[:1]), rtol=0, atol=1e-6)
    assert loaded._ensemble_box.ready and loaded.compiled_path == "not built yet"


def test_a_path_reading_free_text_is_not_stored(fitted):
    """TF-IDF's analyzer is scikit-learn's: the path keeps it, so it cannot be stored (and a
    path built only to be stored stops before compiling the models)."""
    from mlexpert.compiled import Unsupported
    from mlexpert.runtime import FastPath

    assert FastPath(fitted["binary"]).portable() is None
    with pytest.raises(Unsupported, match="keeps a fitted step"):
        FastPath(fitted["binary"], portable=True)


def test_a_portable_copy_that_disagrees_is_not_stored(on_numpy, tmp_path, monkeypatch):
    """The graphs that stand in for LightGBM and XGBoost are checked before the copy is stored:
    one that answers otherwise leaves the bundle without a stored path."""
    from mlexpert.runtime._onnx import OnnxModel

    model, _ = on_numpy
    original = OnnxModel.__call__
    monkeypatch.setattr(OnnxModel, "__call__", lambda self, X: original(self, X) + 1e-3)
    path = model.save(tmp_path / "m")
    assert not (path / COMPILED_NUMPY).exists()
    assert "compiled" not in json.loads((path / MANIFEST).read_text())


def test_the_names_a_pickle_holds_are_read_from_its_opcodes(on_numpy):
    """``_named_modules`` reads what an unpickler would import, without building anything."""
    import collections
    import io
    import pickle

    from mlexpert.runtime._numpy import _named_modules

    class Recording(pickle.Unpickler):
        def find_class(self, module, name):
            seen.add(module)
            return super().find_class(module, name)

    model, _ = on_numpy
    _, stored, _ = model._compiled[1].portable()
    for data in (stored, pickle.dumps({"a": [np.arange(3)] * 3, "b": collections.Counter("ab"),
                                       "c": (np.float32(1), np.int64(2), slice(1, 2))},
                                      protocol=5)):
        seen: set[str] = set()
        Recording(io.BytesIO(data)).load()
        assert _named_modules(data) == seen and seen


def test_a_model_with_nothing_compiled_stores_its_numpy_path(on_numpy, tmp_path):
    """Where fit's limit left no time to build the compiled path, save builds the numpy path
    (seconds at most; never the graph) and stores it."""
    import copy

    model, test = on_numpy
    fresh = copy.copy(model)  # a copy rebuilds its compiled path: none built yet
    assert fresh.compiled_path == "not built yet"
    path = fresh.save(tmp_path / "m")
    assert (path / COMPILED_NUMPY).exists() and fresh.compiled_path == "not built yet"
    loaded = mlexpert.load(path)
    np.testing.assert_allclose(loaded._predict_raw(test.iloc[:3])[0],
                               _members_answer(model, test.iloc[:3]), rtol=0, atol=1e-6)
    assert not loaded._ensemble_box.ready
