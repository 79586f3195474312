"""The logged pyfunc model on what users pass: the demo's own CSVs read by ``pd.read_csv``
(integer columns as int64, a column with missing values as float64), through MLflow's schema
enforcement, answering what the bundle answers."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's train/test CSVs (wa_churn, written by examples/demo_data.py), a model fitted
    on 1,200 training rows and its pyfunc model logged to the embedded store."""
    import mlflow

    import mlexpert
    from mlexpert.tracking import Tracker

    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import demo_data
    finally:
        sys.path.pop(0)
    folder = tmp_path_factory.mktemp("demo")
    demo_data.main(folder)
    train = pd.read_csv(folder / "train.csv").sample(1200, random_state=0)
    model = mlexpert.fit(train, target="churn", time_limit=20, seed=0, presets="fast", budget=1)
    home = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{home / 'mlflow.db'}"
    run = Tracker(uri, experiment="pyfunc").log_fit(model)
    mlflow.set_tracking_uri(uri)
    try:
        pyfunc = mlflow.pyfunc.load_model(run.model_uri)
    finally:
        mlflow.set_tracking_uri(None)
    return {"model": model, "pyfunc": pyfunc, "test": folder / "test.csv"}


@pytest.mark.heavy
def test_pyfunc_predicts_the_demo_test_file_as_read_csv_gives_it(demo):
    df = pd.read_csv(demo["test"])
    assert (df.dtypes == np.int64).sum() >= 5  # tenure, senior_citizen, ...: int64 columns
    got = demo["pyfunc"].predict(df)
    want = demo["model"].predict_table(df).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)


@pytest.mark.heavy
def test_pyfunc_takes_the_forms_a_column_arrives_in(demo):
    """The same rows with integer columns as floats (a missing value in a chunk), numbers as
    text, and a few rows only: the answers do not change."""
    df = pd.read_csv(demo["test"]).head(30)
    want = demo["model"].predict_table(df).reset_index(drop=True)
    floats = df.astype({c: float for c in df.columns if df[c].dtype == np.int64})
    pd.testing.assert_frame_equal(demo["pyfunc"].predict(floats), want)
    texts = df.astype({"tenure": str, "monthly_charges": str})
    pd.testing.assert_frame_equal(demo["pyfunc"].predict(texts), want)
    one = demo["pyfunc"].predict(df.head(1))
    pd.testing.assert_frame_equal(one, want.head(1))
    assert list(demo["pyfunc"].predict(df.to_dict(orient="list")).columns) == list(want.columns)
