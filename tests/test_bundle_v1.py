"""Version-1 bundles written by an earlier main load and predict exactly as they did then."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlexpert
from tests.conftest import TASKS, make_table

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("task", TASKS)
def test_version_1_bundle_predicts_as_when_saved(task):
    model = mlexpert.load(FIXTURES / f"v1_{task}")
    assert {m.family for m in model._members} == {
        "lightgbm", "xgboost", "catboost", "linear", "random_forest", "extra_trees"}
    expected = pd.read_csv(FIXTURES / f"v1_{task}_expected.csv")
    test = make_table(task, n=40, seed=7).drop(columns="y")
    got = model.predict_table(test).reset_index(drop=True)
    assert list(got.columns) == list(expected.columns)
    if task == "regression":
        np.testing.assert_allclose(got["y"].to_numpy(float), expected["y"], rtol=1e-12)
    else:
        assert got["y"].astype(str).tolist() == expected["y"].astype(str).tolist()
        np.testing.assert_allclose(got.iloc[:, 1:].to_numpy(float),
                                   expected.iloc[:, 1:].to_numpy(float), rtol=1e-12, atol=1e-15)


def test_a_version_1_bundle_saved_again_is_version_2_and_predicts_the_same(tmp_path):
    model = mlexpert.load(FIXTURES / "v1_multiclass")
    out = model.save(tmp_path / "again")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format_version"] == 2
    assert sorted(manifest["files"]) == ["members.pkl.gz", "reference.parquet"]
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "members.pkl.gz",
                                                      "reference.parquet"]
    test = make_table("multiclass", n=40, seed=7).drop(columns="y")
    pd.testing.assert_frame_equal(mlexpert.load(out).predict_table(test),
                                  model.predict_table(test))
