"""The Dask paths as a user runs them (the CLI in a subprocess), and Dask never imported when
no Dask executor is asked for."""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.distributed.test_train import _parts, _table

pytestmark = pytest.mark.heavy  # real fits and a Dask cluster in subprocesses

CLI = [sys.executable, "-m", "mlexpert.cli"]
ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}


def run(*args):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=300)


@pytest.mark.slow  # ~15 s: make test-slow; CI time (session 20)
def test_cli_predict_on_dask_writes_partitioned_output(tmp_path, dask_executor, fitted, tables):
    frame = tables["binary"].reset_index(names="row_id")
    model = fitted["binary"]
    bundle = model.save(tmp_path / "model")
    pattern = _parts(tmp_path / "in", frame.drop(columns=["y"]), n_parts=3)
    done = run("predict", bundle, pattern, "--dask", "local", "--id-column", "row_id",
               "--out", tmp_path / "scored")
    assert done.returncode == 0, done.stderr[-2000:]
    parts = sorted((tmp_path / "scored").iterdir())
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(3)]
    scored = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    assert scored["row_id"].tolist() == frame["row_id"].tolist()
    expected = model.predict_table(frame.drop(columns=["row_id", "y"]))
    pd.testing.assert_frame_equal(scored.drop(columns=["row_id"]), expected)
    # fsspec URLs (s3://...) alike, scored on a running scheduler (the session's cluster)
    url = run("predict", bundle, f"file://{pattern}", "--dask", dask_executor.client.scheduler.address,
              "--id-column", "row_id", "--out", tmp_path / "scored_url")
    assert url.returncode == 0, url.stderr[-2000:]
    pd.testing.assert_frame_equal(pd.concat([pd.read_parquet(p) for p in sorted(
        (tmp_path / "scored_url").iterdir())], ignore_index=True), scored)
    # refused before a cluster starts (an unreachable address is never tried)
    again = run("predict", bundle, pattern, "--dask", "127.0.0.1:9", "--out", tmp_path / "scored")
    assert again.returncode == 1 and "already exists" in again.stderr


NO_DASK_FIT = """
import sys, json
import pandas as pd, mlexpert
frame = pd.read_parquet(sys.argv[1])
model = mlexpert.fit(frame, target="y", time_limit=30, presets="fast", budget=0)
model.predict(frame.iloc[:5])
glob_model = mlexpert.fit(sys.argv[2], target="y", time_limit=30, presets="fast", budget=0)
print(json.dumps({"rows": glob_model.info["provenance"]["rows"],
                  "dask": sorted(m for m in sys.modules if m.split(".")[0] in
                                 ("dask", "distributed", "dask_expr"))}))
"""


def test_fit_without_a_dask_executor_never_imports_dask(tmp_path):
    frame = _table("binary", n=200)
    frame.to_parquet(tmp_path / "all.parquet")
    pattern = _parts(tmp_path / "parts", frame)
    done = subprocess.run([sys.executable, "-c", NO_DASK_FIT, str(tmp_path / "all.parquet"),
                           pattern], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"rows": len(frame), "dask": []}


@pytest.mark.slow
def test_cli_fit_on_the_cluster_then_score_on_it(tmp_path):
    frame = _table("multiclass", n=1000)
    pattern = _parts(tmp_path / "train", frame, n_parts=4)
    out = tmp_path / "model"
    done = run("fit", pattern, "-t", "y", "--dask", "local", "--data-on-cluster", "-o", out,
               "--no-track", "--json", "--time-limit", "90")
    assert done.returncode == 0, done.stderr[-2000:]
    info = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(r["model"] for r in info["leaderboard"]) == ["lightgbm", "xgboost"]
    assert (out / "card.html").exists()
    scored = run("predict", out, pattern, "--dask", "local", "--out", tmp_path / "scored")
    assert scored.returncode == 0, scored.stderr[-2000:]
    table = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "scored").iterdir())],
                      ignore_index=True)
    assert len(table) == len(frame)
    assert (table["y"].to_numpy() == frame["y"].to_numpy()).mean() > 0.6
    np.testing.assert_allclose(table.filter(like="proba_").sum(axis=1), 1.0, rtol=1e-6)
