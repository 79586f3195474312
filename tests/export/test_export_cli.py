"""`mlexpert export` and Model.to_onnx as a user meets them: a real fitted bundle, a real
subprocess, one-line errors, no half-written file."""
from __future__ import annotations

import json

import numpy as np
import pytest

import mlexpert
from mlexpert.errors import BundleError, ExportError
from tests.export.conftest import split
from tests.test_cli import real, run


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A fast-preset bundle without text, saved, with its held-out rows as CSV."""
    d = tmp_path_factory.mktemp("export")
    train, test = split("binary")
    model = mlexpert.fit(train, target="y", time_limit=20, presets="fast", budget=1)
    model.save(d / "model")
    test.to_csv(d / "test.csv", index=False)
    return d, model, test


def _session(path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), so)


def test_cli_export_writes_a_graph_that_predicts_like_the_bundle(bundle):
    from mlexpert.export import onnx_inputs

    d, model, test = bundle
    out = d / "m.onnx"
    r = real("export", d / "model", "--format", "onnx", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stderr and out.is_file()
    sess = _session(out)
    assert [i.name for i in sess.get_inputs()] == [c.name for c in model.schema.features]
    label, index, proba = sess.run(None, onnx_inputs(test, out))  # the schema read back from it
    assert (label == model.predict(test, invalid="missing").astype(str).to_numpy()).all()
    np.testing.assert_allclose(proba, model.predict_proba(test, invalid="missing").to_numpy(), atol=1e-5)
    meta = sess.get_modelmeta().custom_metadata_map
    assert json.loads(meta["mlexpert.classes"]) == ["no", "yes"]
    assert meta["mlexpert.task"] == "binary" and meta["mlexpert.metric"] == model.metric
    assert meta["mlexpert.version"] == mlexpert.__version__
    assert set(json.loads(meta["mlexpert.inputs"])) == {c.name for c in model.schema.features}


def test_cli_export_refuses_to_replace_without_force(bundle):
    d, _, _ = bundle
    out = d / "exists.onnx"
    out.write_text("keep me")
    r = run("export", d / "model", "--out", out)
    assert r.returncode == 1 and "--force" in r.stderr and "Traceback" not in r.stderr
    assert out.read_text() == "keep me"
    assert run("export", d / "model", "--out", out, "--force").returncode == 0
    assert out.read_bytes()[:1] != b"k"


@pytest.mark.parametrize("case", ["no_bundle", "not_a_bundle", "bad_format", "unwritable"])
def test_cli_export_hostile_input(bundle, tmp_path, case):
    d, _, _ = bundle
    args = {"no_bundle": [tmp_path / "nothing", "--out", tmp_path / "a.onnx"],
            "not_a_bundle": [tmp_path, "--out", tmp_path / "a.onnx"],
            "bad_format": [d / "model", "--format", "pmml", "--out", tmp_path / "a.onnx"],
            "unwritable": [d / "model", "--out", d / "test.csv" / "a.onnx"]}[case]
    r = run("export", *args)
    assert r.returncode == (2 if case == "bad_format" else 1), r.stderr
    assert "Traceback" not in r.stderr
    if case == "bad_format":
        assert "onnx" in r.stderr
    else:
        assert r.stderr.count("\n") <= 2
    leftovers = [p for p in [*tmp_path.iterdir(), *d.iterdir()] if ".tmp-" in p.name]
    assert not leftovers


def test_to_onnx_failure_leaves_nothing(bundle, tmp_path):
    _, model, _ = bundle
    with pytest.raises(BundleError, match="directory"):
        model.to_onnx(tmp_path)
    assert not list(tmp_path.iterdir())


def test_text_columns_are_refused_with_the_way_out(fitted, tmp_path):
    model = fitted["binary"]  # its 'review' column is text
    with pytest.raises(ExportError, match=r"text column 'review'.*ignore_columns=\['review'\]"):
        model.to_onnx(tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())
