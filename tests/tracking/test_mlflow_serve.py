"""`mlflow models serve` on a logged fit: MLflow's own server answers with mlexpert's predictions."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.tracking.conftest import free_port, stop


@pytest.mark.slow
def test_mlflow_models_serve_predicts_like_the_bundle(sqlite_uri, fitted, tables, tmp_path):
    import httpx

    from mlexpert.tracking import Tracker

    run = Tracker(sqlite_uri, experiment="serve").log_fit(fitted["binary"])
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": sqlite_uri,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m",
                             run.model_uri, "--env-manager", "local", "-h", "127.0.0.1",
                             "-p", str(port)], env=env, cwd=tmp_path, start_new_session=True,
                            stdout=open(tmp_path / "serve.log", "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            try:
                if httpx.get(url + "/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        rows = tables["binary"].drop(columns="y").head(5)
        payload = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
        r = httpx.post(url + "/invocations", json=payload, timeout=30)
        assert r.status_code == 200, r.text
        got = pd.DataFrame(r.json()["predictions"])
        want = fitted["binary"].predict_table(rows).reset_index(drop=True)
        assert list(got["y"]) == list(want["y"])
        pd.testing.assert_series_equal(got["proba_yes"], want["proba_yes"], check_names=False)
    finally:
        stop(proc)
