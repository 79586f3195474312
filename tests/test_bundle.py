"""The bundle: round trip, atomic writes, and refusal of anything tampered, unknown or foreign."""
import json

import pandas as pd
import pytest

import mlexpert
from mlexpert.bundle import COMPILED, COMPILED_NUMPY, MANIFEST, MEMBERS
from mlexpert.errors import BundleError


def test_round_trip_predicts_identically(fitted, tables, tmp_path):
    for task, model in fitted.items():
        out = model.save(tmp_path / task)
        again = mlexpert.load(out)
        X = tables[task].drop(columns="y").head(50)
        pd.testing.assert_series_equal(again.predict(X), model.predict(X))
        if task != "regression":
            pd.testing.assert_frame_equal(again.predict_proba(X), model.predict_proba(X))
        assert again.leaderboard.equals(model.leaderboard)
        digest = json.loads((out / MANIFEST).read_text())["files"][MEMBERS]
        assert again.members_sha256 == model.members_sha256 == digest


def test_manifest_records_the_contract(fitted, tmp_path):
    path = fitted["binary"].save(tmp_path / "m")
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["format"] == "mlexpert-bundle" and manifest["format_version"] == 2
    for key in ("libraries", "schema", "target", "metric", "metrics", "leaderboard", "findings",
                "provenance", "files", "plan", "ensemble"):
        assert key in manifest, key
    assert manifest["provenance"]["seed"] == 0 and len(manifest["provenance"]["data_fingerprint"]) == 64
    roles = {c["name"]: c["role"] for c in manifest["schema"]["columns"]}
    assert roles == {"x1": "numeric", "x2": "numeric", "color": "categorical",
                     "size": "categorical", "when": "datetime", "review": "text"}
    cv = manifest["metrics"]["cv"]["roc_auc"]
    assert cv["low"] <= cv["value"] <= cv["high"]


def test_tampered_member_file_is_refused_before_unpickling(fitted, tmp_path, monkeypatch):
    path = fitted["binary"].save(tmp_path / "m")
    data = bytearray((path / MEMBERS).read_bytes())
    data[-10] ^= 0xFF
    (path / MEMBERS).write_bytes(bytes(data))
    import mlexpert.bundle

    monkeypatch.setattr(mlexpert.bundle, "read_payload",
                        lambda *a, **k: pytest.fail("unpickled a tampered file"))
    with pytest.raises(BundleError, match="does not match the SHA-256"):
        mlexpert.load(path)


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.update(format_version=99), "format version 99"),
    (lambda m: m.update(format="other"), "not an mlexpert bundle"),
    (lambda m: m.pop("files"), "lists no"),
])
def test_bad_manifest_is_refused(fitted, tmp_path, edit, match):
    path = fitted["binary"].save(tmp_path / "m")
    manifest = json.loads((path / MANIFEST).read_text())
    edit(manifest)
    (path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=match):
        mlexpert.load(path)


def test_corrupt_and_missing(tmp_path, fitted):
    path = fitted["binary"].save(tmp_path / "m")
    (path / MANIFEST).write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        mlexpert.load(path)
    with pytest.raises(BundleError, match="no manifest.json"):
        mlexpert.load(tmp_path)
    with pytest.raises(BundleError, match="not a directory"):
        mlexpert.load(tmp_path / "missing")


def test_save_refuses_foreign_directory_and_needs_overwrite(fitted, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(BundleError, match="not a model bundle"):
        fitted["binary"].save(foreign)
    assert (foreign / "precious.txt").read_text() == "keep me"
    path = fitted["binary"].save(tmp_path / "m")
    with pytest.raises(BundleError, match="overwrite=True"):
        fitted["regression"].save(path)
    fitted["regression"].save(path, overwrite=True)
    assert mlexpert.load(path).task == "regression"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign", "m"]  # no temp dirs left


def test_interrupted_save_leaves_nothing(fitted, tmp_path, monkeypatch):
    import mlexpert.bundle

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(mlexpert.bundle, "write_payload", boom)
    with pytest.raises(KeyboardInterrupt):
        fitted["binary"].save(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_overwrite_keeps_the_old_bundle(fitted, tmp_path, monkeypatch):
    path = fitted["binary"].save(tmp_path / "m")
    import mlexpert.bundle

    monkeypatch.setattr(mlexpert.bundle, "write_payload",
                        lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        fitted["regression"].save(path, overwrite=True)
    assert mlexpert.load(path).task == "binary"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


@pytest.fixture(scope="module")
def on_graph():
    """A saved-and-loaded-ready model whose compiled path runs on onnxruntime (no text column:
    the graph exports), with its rows."""
    import copy

    from mlexpert.runtime._onnx import OnnxPath
    from tests.conftest import make_table

    table = make_table("binary").drop(columns="review")
    model = mlexpert.fit(table, target="y", time_limit=20, presets="fast", budget=1)
    model = copy.copy(model)
    model.use_compiled(OnnxPath(model), "on: onnxruntime (the test's choice)")
    return model, table.drop(columns="y").iloc[:5]


def test_the_compiled_graph_is_saved_and_loaded_without_converting_again(on_graph, tmp_path,
                                                                          monkeypatch):
    from mlexpert import export

    model, rows = on_graph
    path = model.save(tmp_path / "m")
    assert model.compiled_path.startswith("on: onnxruntime")  # saving keeps the built path
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["compiled"]["file"] == COMPILED and COMPILED in manifest["files"]
    assert manifest["compiled"]["bytes"] == (path / COMPILED).stat().st_size

    def converted(*_a, **_k):
        raise AssertionError("the stored graph was converted again")

    monkeypatch.setattr(export, "to_onnx", converted)
    loaded = mlexpert.load(path)
    assert loaded.stored_graph() == (path / COMPILED).read_bytes()
    again = loaded.save(tmp_path / "again")  # re-saved: the graph goes with it
    assert (again / COMPILED).read_bytes() == (path / COMPILED).read_bytes()
    note = loaded.compile()
    assert "onnxruntime" in note and "onnxruntime: " not in note, note  # built and verified
    assert loaded.predict(rows).tolist() == model.predict(rows).tolist()
    chosen = loaded.save(tmp_path / "chosen")  # saved after compile(): the path it chose
    assert (chosen / (COMPILED_NUMPY if note.startswith("on: numpy") else COMPILED)).exists()


def test_a_stored_graph_is_used_only_for_its_members_and_version(on_graph, tmp_path):
    import copy

    from mlexpert.ensemble import Ensemble

    model, _ = on_graph
    path = model.save(tmp_path / "m")
    loaded = mlexpert.load(path)
    other = copy.copy(loaded)  # given other members: the graph is not theirs
    other.ensemble = Ensemble(list(loaded.ensemble.members), loaded.task)
    assert loaded.stored_graph() is not None and other.stored_graph() is None
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["compiled"]["mlexpert_version"] = "0.0.1"  # another converter wrote it
    (path / MANIFEST).write_text(json.dumps(manifest))
    assert mlexpert.load(path).stored_graph() is None
    (path / COMPILED).write_bytes(b"not a graph")
    with pytest.raises(BundleError, match=COMPILED):
        mlexpert.load(path)


def test_a_loaded_graph_answers_small_batches_before_the_members_are_read(on_graph, tmp_path):
    import pickle

    from mlexpert._hotpath import STORED_NOTE

    model, rows = on_graph
    path = model.save(tmp_path / "m")
    import onnxruntime

    assert json.loads((path / MANIFEST).read_text())["compiled"]["onnxruntime"] == \
        onnxruntime.__version__  # the version that verified it
    loaded = mlexpert.load(path)
    for name in (MEMBERS, COMPILED):  # load kept the checked bytes: nothing is read later
        (path / name).unlink()
    assert loaded.predict(rows.iloc[:1]).tolist() == model.predict(rows.iloc[:1]).tolist()
    assert loaded.compiled_path == STORED_NOTE.format("onnxruntime", "graph")
    assert not loaded._ensemble_box.ready
    pd.testing.assert_frame_equal(loaded.predict_proba(rows), model.predict_proba(rows))
    assert not loaded._ensemble_box.ready  # still without its members
    copied = pickle.loads(pickle.dumps(loaded))  # pickling reads them: the copy is whole
    assert copied._ensemble_box.ready and len(copied.ensemble.members) == len(model._members)
    note = loaded.compile()  # checks the stored graph against the members, now read
    assert loaded._ensemble_box.ready and "verified against the Model" in note, note
    assert loaded.predict(rows).tolist() == model.predict(rows).tolist()


def test_a_graph_from_another_onnxruntime_waits_for_the_members(on_graph, tmp_path):
    model, rows = on_graph
    path = model.save(tmp_path / "m")
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["compiled"]["onnxruntime"] = "0.0.1"  # verified by another onnxruntime
    (path / MANIFEST).write_text(json.dumps(manifest))
    loaded = mlexpert.load(path)
    assert loaded.predict(rows.iloc[:1]).tolist() == model.predict(rows.iloc[:1]).tolist()
    assert loaded._ensemble_box.ready and loaded.compiled_path == "not built yet"


def test_load_and_a_first_row_from_the_graph_import_no_scikit_learn(on_graph, tmp_path):
    """What makes ``load`` + the first row fast (issue #22: ~0.5 s, not 1.5): neither reading
    the manifest nor running the stored graph imports scikit-learn or a model library."""
    import subprocess
    import sys

    model, rows = on_graph
    path = model.save(tmp_path / "m")
    rows.to_pickle(tmp_path / "rows.pkl")
    code = ("import sys, pandas as pd, mlexpert; rows = pd.read_pickle(sys.argv[2]); "
            "m = mlexpert.load(sys.argv[1]); print(m.predict(rows.iloc[:1]).tolist()); "
            "print(sorted(k for k in ('sklearn', 'lightgbm', 'xgboost', 'catboost', 'scipy.stats') "
            "if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "rows.pkl")],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [str(model.predict(rows.iloc[:1]).tolist()), "[]"]


def test_a_model_on_the_numpy_path_saves_no_graph(fitted, tmp_path):
    model = fitted["binary"]  # free text: no graph
    path = model.save(tmp_path / "m")
    assert not (path / COMPILED).exists() and "compiled" not in json.loads(
        (path / MANIFEST).read_text())


def test_members_that_no_longer_unpickle_are_named_at_first_use_and_package_refuses(
        fitted, tables, tmp_path):
    """``load`` reads the members on first use: a payload naming a class this mlexpert lacks
    loads (hashes match), fails with the one-line BundleError when the members are needed, and
    ``package`` reads them before writing anything."""
    import gzip
    import hashlib

    from mlexpert.deploy import package

    path = fitted["binary"].save(tmp_path / "m")
    data = gzip.decompress((path / MEMBERS).read_bytes())
    (path / MEMBERS).write_bytes(gzip.compress(
        data.replace(b"mlexpert.ensemble._member", b"mlexpert.ensemble._gone__")))
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["files"][MEMBERS] = hashlib.sha256((path / MEMBERS).read_bytes()).hexdigest()
    (path / MANIFEST).write_text(json.dumps(manifest))
    loaded = mlexpert.load(path)  # the manifest and hashes only
    with pytest.raises(BundleError, match="fit the model again"):
        loaded.predict(tables["binary"].drop(columns="y").head(100))
    with pytest.raises(BundleError, match="fit the model again"):
        package(path, tmp_path / "deploy")
    assert not (tmp_path / "deploy").exists()
