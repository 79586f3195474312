"""fit(select_columns=True): columns chosen inside each training fold, the shipped model's
schema (the service's request model, the ONNX inputs) narrowed to what its members read."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mlexpert
from tests.features.test_selection import _wide

OPTIONS = dict(time_limit=60, budget=1, presets="fast", task="binary")


@pytest.fixture(scope="module")
def data():
    frame, y = _wide(n=500, noise=110)
    frame["copy"] = frame["signal0"] * 2.0
    return frame.assign(y=y)


@pytest.fixture(scope="module")
def selected(data):
    return mlexpert.fit(data, "y", select_columns=True, **OPTIONS)


def test_the_shipped_model_reads_only_the_kept_columns(data, selected):
    kept = {c.name for c in selected.schema.features}
    assert {"signal0", "signal1", "signal2", "signal3", "kind"} <= kept
    assert "copy" not in kept and len(kept) < 60
    said = next(f for f in selected.info["findings"] if f["check"] == "feature_selection")
    assert said["evidence"]["dropped"]["copy"].startswith("repeats 'signal0'")
    assert set(selected.info["plan"]["selected_out"]) == set(data.columns) - kept - {"y"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the dropped columns are expected, not "extra"
        full = np.asarray(selected.predict_proba(data.head(20)))
    only = np.asarray(selected.predict_proba(data.head(20)[sorted(kept)]))
    np.testing.assert_allclose(full, only)


def test_onnx_inputs_shrink_with_the_schema(selected, tmp_path):
    onnx = pytest.importorskip("onnx")
    path = selected.to_onnx(tmp_path / "m.onnx")
    inputs = {i.name for i in onnx.load(str(path)).graph.input}
    assert inputs == {c.name for c in selected.schema.features}


def test_selection_inside_the_folds_keeps_a_noise_target_at_chance(data):
    """Selected on all rows, the noise columns that happen to fit a permuted target score well
    out of fold (this table and permutation: AUC 0.643); chosen on each training fold's rows,
    they do not (0.558)."""
    noise = data.assign(y=np.random.default_rng(4).permutation(data["y"].to_numpy()))
    model = mlexpert.fit(noise, "y", select_columns=True, **OPTIONS)
    assert model.info["metrics"]["cv"]["roc_auc"]["value"] < 0.6


def test_without_the_option_every_column_stays(data):
    model = mlexpert.fit(data.iloc[:, -12:], "y", **OPTIONS)  # a narrow slice: quick
    assert len(model.schema.features) == 11
    assert not any(f["check"] == "feature_selection" for f in model.info["findings"])
    with pytest.raises(mlexpert.ConfigError, match="select_columns must be True or False"):
        mlexpert.fit(data, "y", select_columns="yes", time_limit=5)


def test_a_service_request_needs_only_the_kept_columns(data, selected):
    from fastapi.testclient import TestClient

    from mlexpert.serve import ServeSettings, create_app

    kept = [c.name for c in selected.schema.features]
    record = {c: (None if pd.isna(v) else v) for c, v in data[kept].iloc[0].items()}
    with TestClient(create_app(selected, settings=ServeSettings(), source="m")) as client:
        answer = client.post("/predict", json=record)
    assert answer.status_code == 200, answer.text
