"""The Dask backend against a real distributed.LocalCluster (2 workers, 1 thread each, loopback)."""
import dataclasses
import os
import signal
import threading
from importlib.util import find_spec

import numpy as np
import pandas as pd
import pytest

import mlexpert
from mlexpert.errors import ConfigError, DataError, MlexpertError
from mlexpert.search import run_search
from tests.conftest import make_table
from tests.search.test_search import _data, _spec


def test_distributed_search_gives_the_local_leaderboard(dask_executor):
    X, y, schema = _data()  # the fast preset: every family crosses the cluster in the next test
    local = run_search(X, y, schema, _spec("binary", y, preset="fast"))
    remote = run_search(X, y, schema, _spec("binary", y, preset="fast", executor=dask_executor))
    assert dask_executor.workers == 2
    assert [(c.name, c.status) for c in remote.candidates] == \
        [(c.name, c.status) for c in local.candidates]
    np.testing.assert_allclose([c.score for c in remote.candidates],
                               [c.score for c in local.candidates], rtol=1e-9)
    assert [m.name for m in remote.members] == [m.name for m in local.members]


@pytest.mark.skipif(find_spec("torch") is None, reason="the mlp family needs the deep extra")
def test_the_mlp_family_fits_its_folds_on_the_cluster_as_it_does_here(dask_executor, monkeypatch):
    from mlexpert.search import _presets

    only = dataclasses.replace(_presets.PRESETS["fast"], portfolio=("mlp",), tune_families=0)
    monkeypatch.setitem(_presets.PRESETS, "mlp_only", only)
    X, y, schema = _data()
    # a long deadline: no fold's schedule is shortened by a slow (shared, pinned) core
    local = run_search(X, y, schema, _spec("binary", y, 300.0, preset="mlp_only"))
    remote = run_search(X, y, schema, _spec("binary", y, 300.0, preset="mlp_only",
                                            executor=dask_executor))
    assert [(c.name, c.status) for c in remote.candidates] == [("mlp", "ok")]
    assert remote.candidates[0].score > 0.8  # roc_auc on make_table's binary task
    # the budget is not the limit (no fold's schedule shortened, none cut), so the same model to
    # the bit, on workers that ran the other Dask tests' tasks too: 0.941452468380253 both in
    # make test (session 26). Session 21 saw 0.9403 / 0.9297 vs 0.9415 in the suite; the same
    # commit raised the deadline to 300 s, so that a slow shared core no longer shortens a
    # fold's schedule (a budget-limited fit may differ; the first assertion tells which it was)
    folds = [f for result in (local, remote) for f in result.candidates[0].fold_fits]
    assert all(f.extra["epochs"] == 64 and not f.truncated for f in folds)
    assert remote.candidates[0].score == pytest.approx(local.candidates[0].score, rel=1e-12)


@pytest.mark.slow  # ~18 s: make test-slow; CI time (session 20)
def test_a_killed_worker_loses_at_most_its_task_and_the_search_goes_on(dask_executor):
    client = dask_executor.client
    before = client.run(os.getpid)
    victim = sorted(before.values())[0]
    X, y, schema = _data()
    killed = threading.Event()

    def on_event(event):  # kill a worker while the third candidate's folds run
        if event.kind == "candidate_start" and event.done == 2 and not killed.is_set():
            killed.set()
            threading.Timer(0.2, os.kill, (victim, signal.SIGKILL)).start()

    result = run_search(X, y, schema, _spec("binary", y, preset="balanced",
                                            executor=dask_executor), on_event)
    assert killed.is_set()
    statuses = [c.status for c in result.candidates]
    assert statuses.count("failed") <= 1 and statuses.count("ok") >= len(statuses) - 1
    assert result.members
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker
    assert victim not in client.run(os.getpid).values()


def test_batch_scoring_over_partitions_matches_local_predictions(dask_executor, fitted, tables,
                                                                 tmp_path):
    from mlexpert.distributed import score_files

    model = fitted["binary"]
    frame = tables["binary"].drop(columns=["y"]).reset_index(names="row_id")
    src = tmp_path / "in"
    src.mkdir()
    frame.iloc[:150].to_parquet(src / "a.parquet")
    frame.iloc[150:].to_parquet(src / "b.parquet")
    parts = score_files(model, str(src / "*.parquet"), tmp_path / "out", dask_executor,
                        id_column="row_id")
    assert [p.rows for p in parts] == [150, len(frame) - 150]
    scored = pd.concat([pd.read_parquet(p.output) for p in parts], ignore_index=True)
    expected = model.predict_table(frame)
    assert scored["row_id"].tolist() == frame["row_id"].tolist()
    pd.testing.assert_frame_equal(scored.drop(columns=["row_id"]), expected.reset_index(drop=True))

    with pytest.raises(DataError, match="already exists"):
        score_files(model, str(src), tmp_path / "out", dask_executor)
    # one bad partition: a clear error naming it, and nothing written
    frame.drop(columns=["x1"]).iloc[:10].to_parquet(src / "c.parquet")
    with pytest.raises(MlexpertError, match=r"c\.parquet.*x1"):
        score_files(model, str(src), tmp_path / "out2", dask_executor)
    assert not (tmp_path / "out2").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(DataError, match="no data files match"):
        score_files(model, str(tmp_path / "nothing" / "*.parquet"), tmp_path / "o3", dask_executor)
    # an unreadable value: refused as Model.predict refuses it (file lines named), unless opted in
    (src / "c.parquet").unlink()
    dirty = frame.iloc[:5].astype({"x1": object})
    dirty.loc[2, "x1"] = "abc"
    dirty.to_csv(src / "d.csv", index=False)
    with pytest.raises(DataError, match=r"d\.csv.*column 'x1'.*line 4 \('abc'\).*--invalid missing"):
        score_files(model, str(src), tmp_path / "out4", dask_executor)
    assert not (tmp_path / "out4").exists()
    parts = score_files(model, str(src), tmp_path / "out4", dask_executor, invalid="missing")
    assert parts[-1].rows == 5


@pytest.mark.heavy  # starts its own cluster
def test_fit_on_a_local_dask_cluster():
    frame = make_table("regression", n=200)
    model = mlexpert.fit(frame, target="y", time_limit=60, presets="fast", budget=1,
                         executor="dask://local")
    assert model.metrics["rmse"]["value"] < 3.0


@pytest.mark.parametrize("address, match", [
    ("local", "executor must be an Executor object, 'dask://local'"),
    ("dask://nonsense", "is not 'local' or a scheduler address"),
    ("dask://tcp://127.0.0.1:9", "cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
])
def test_bad_dask_addresses_are_clear_errors(address, match):
    with pytest.raises(ConfigError, match=match):
        mlexpert.fit(make_table("binary", n=60), target="y", time_limit=30, presets="fast",
                     budget=0, executor=address)
