"""Training on partitioned Parquet on a real LocalCluster: xgboost.dask and LightGBM's Dask
classes, the auto rule, a bundle that predicts without Dask, and hostile input."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlexpert
from mlexpert.distributed import _train, scan_parquet, wants_cluster
from mlexpert.errors import ConfigError, DataError
from mlexpert.models import lightgbm_raw_output, lightgbm_staged_raw
from tests.conftest import target_of

GiB = 1 << 30


def _table(task: str, n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Numbers (with missing values) and a category with real signal; no text (fast)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.uniform(-1, 1, size=n)
    color = rng.choice(["red", "green", "blue", "yellow"], size=n)
    signal = 1.5 * x1 + x2 + (color == "red") - 0.8 * (color == "blue")
    x1 = np.where(rng.random(n) < 0.05, np.nan, x1)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "x3": rng.normal(size=n), "color": color})
    frame["y"] = target_of(signal, task, rng)
    return frame


def _parts(folder: Path, frame: pd.DataFrame, n_parts: int = 2) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), n_parts)):
        frame.iloc[part].to_parquet(folder / f"part-{i}.parquet", index=False)
    return str(folder / "*.parquet")


def _on_cluster(tmp_path, dask_executor, task, **kw):
    frame = _table(task)
    model = mlexpert.fit(_parts(tmp_path / task, frame), target="y", time_limit=90, seed=0,
                         executor=dask_executor, data_on_cluster=True, **kw)
    return frame, model


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_two_partitions_train_with_xgboost_dask_and_lightgbm_dask(tmp_path, dask_executor, task):
    frame, model = _on_cluster(tmp_path, dask_executor, task)
    board = model.leaderboard
    assert sorted(board["model"]) == ["lightgbm", "xgboost"]
    assert (board["status"] == "ok").all(), board
    info = model.info
    assert info["plan"]["data_on_cluster"] and info["cluster"]["files"] == 2
    assert len(info["provenance"]["data_fingerprint"]) == 64
    assert info["cluster"]["train_rows"] + 2 < len(frame)  # validation and test held out
    assert model.task == task
    value = model.metrics[model.metric]["value"]
    assert {"binary": value > 0.85, "multiclass": value < 0.8, "regression": value < 2.0}[task]
    pred = model.predict(frame.drop(columns=["y"]))
    assert len(pred) == len(frame)
    if task != "regression":
        assert set(pred) <= set(frame["y"])
        proba = model.predict_proba(frame.iloc[:20])
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
        assert (pred == frame["y"]).mean() > 0.6


NO_DASK = """
import sys, json
for name in ("dask", "distributed", "xgboost.dask", "lightgbm.dask"):
    sys.modules[name] = None  # any import of them now fails
import pandas as pd, mlexpert
model = mlexpert.load(sys.argv[1])
out = model.predict_table(pd.read_parquet(sys.argv[2]))
out.to_parquet(sys.argv[3])
print(json.dumps(sorted(m for m, v in sys.modules.items()
                        if v is not None and m.split(".")[0] in ("dask", "distributed"))))
"""


@pytest.mark.parametrize("family", ["xgboost", "lightgbm"])
def test_the_bundle_predicts_without_dask(tmp_path, dask_executor, monkeypatch, family):
    monkeypatch.setattr(_train, "FAMILIES", (family,))  # ship this family's model
    frame, model = _on_cluster(tmp_path, dask_executor, "binary")
    assert [m.family for m in model._members] == [family]
    bundle = model.save(tmp_path / "model")
    rows = tmp_path / "rows.parquet"
    frame.drop(columns=["y"]).to_parquet(rows)
    done = subprocess.run([sys.executable, "-c", NO_DASK, str(bundle), str(rows),
                           str(tmp_path / "out.parquet")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out.parquet"),
                                  model.predict_table(frame))


@pytest.mark.parametrize("data_bytes, available, limits, expected", [
    (1 * GiB, 16 * GiB, [4 * GiB, 4 * GiB], False),  # small for both
    (5 * GiB, 16 * GiB, [], True),  # over a quarter of this machine
    (3 * GiB, 16 * GiB, [4 * GiB, 8 * GiB], True),  # over half of the smallest worker
    (1.9 * GiB, 16 * GiB, [4 * GiB, 8 * GiB], False),
    (3 * GiB, 16 * GiB, [0, 0], False),  # workers without a memory limit
])
def test_the_auto_rule(data_bytes, available, limits, expected):
    assert wants_cluster(int(data_bytes), int(available), [int(x) for x in limits]) is expected


def test_auto_keeps_small_data_local_and_local_only_options_local(tmp_path, dask_executor,
                                                                    monkeypatch):
    frame = _table("binary", n=300)
    pattern = _parts(tmp_path / "small", frame)
    calls, local = [], []  # the cluster route faked: it answers with the local model
    monkeypatch.setattr("mlexpert._fit._route._cluster_route",
                        lambda *a, **k: calls.append(a) or local[0])
    model = mlexpert.fit(pattern, target="y", time_limit=60, presets="fast", budget=0,
                         executor=dask_executor)  # auto: 300 rows are small
    local.append(model)
    assert calls == [] and "data_on_cluster" not in model.info["plan"]
    assert model.info["provenance"]["rows"] == len(frame)  # the glob read as one table
    # the same data "too big" for this machine goes to the cluster...
    monkeypatch.setattr("mlexpert.distributed.available_memory", lambda: 1000)
    mlexpert.fit(pattern, target="y", time_limit=60, executor=dask_executor)
    assert len(calls) == 1
    # ...unless an option only the local fit has is asked for
    mlexpert.fit(pattern, target="y", time_limit=60, presets="fast", budget=0,
                 executor=dask_executor, groups="color")
    assert len(calls) == 1


@pytest.mark.parametrize("kw, match", [
    ({"groups": "color"}, "data_on_cluster=True does not support groups"),
    ({"budget": 3}, "data_on_cluster=True does not support budget"),
    ({"optimize_threshold": "f1"}, "does not support optimize_threshold"),
    ({"executor": None}, "data_on_cluster=True needs a Dask executor"),
    ({"data": "frame"}, "needs Parquet files on storage the workers reach"),
])
def test_unsupported_options_on_the_cluster_are_one_line_errors(tmp_path, dask_executor, kw, match):
    frame = _table("binary", n=100)
    data = frame if kw.pop("data", None) else _parts(tmp_path / "d", frame)
    options = {"executor": dask_executor, **kw}
    with pytest.raises(ConfigError, match=match) as err:
        mlexpert.fit(data, target="y", time_limit=30, data_on_cluster=True, **options)
    assert "\n" not in str(err.value)


def _hostile(tmp_path: Path, case: str) -> str:
    d = tmp_path / case
    d.mkdir()
    frame = _table("binary", n=100)
    if case == "empty glob":
        return str(d / "*.parquet")
    if case == "not parquet":
        frame.iloc[:50].to_csv(d / "a.csv", index=False)
        frame.iloc[50:].to_csv(d / "b.csv", index=False)
        return str(d / "*.csv")
    if case == "no target in a partition":
        frame.iloc[:50].to_parquet(d / "a.parquet")
        frame.iloc[50:].drop(columns=["y"]).to_parquet(d / "b.parquet")
    elif case == "schemas differ":
        frame.iloc[:50].to_parquet(d / "a.parquet")
        other = frame.iloc[50:].copy()
        other["x2"] = other["x2"].map(lambda v: f"{v:.3f}")  # text where a number was
        other.to_parquet(d / "b.parquet")
    elif case == "columns differ":
        frame.iloc[:50].to_parquet(d / "a.parquet")
        frame.iloc[50:].rename(columns={"x3": "x4"}).to_parquet(d / "b.parquet")
    elif case == "corrupt partition":
        frame.iloc[:50].to_parquet(d / "a.parquet")
        (d / "b.parquet").write_bytes(b"PAR1 not really")
    return str(d)


HOSTILE = {
    "empty glob": "no data files match",
    "not parquet": r"reads Parquet only, but '.*a\.csv' is not a \.parquet file",
    "no target in a partition": r"partition '.*b\.parquet': target column 'y' is not in the data",
    "schemas differ": r"partitions disagree on column 'x2': '.*a\.parquet' has double, "
                      r"'.*b\.parquet' has",
    "columns differ": r"b\.parquet' lacks 'x3' and adds 'x4'",
    "corrupt partition": r"b\.parquet' is not a readable Parquet file",
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_partitions_are_clear_errors(tmp_path, dask_executor, case):
    data = _hostile(tmp_path, case)
    with pytest.raises(DataError, match=HOSTILE[case]) as err:
        mlexpert.fit(data, target="y", time_limit=30, executor=dask_executor,
                     data_on_cluster=True)
    assert "\n" not in str(err.value)


def test_cli_hostile_partition_exits_1_and_writes_no_bundle(tmp_path):
    data = _hostile(tmp_path, "no target in a partition")
    out = tmp_path / "model"
    done = subprocess.run([sys.executable, "-m", "mlexpert.cli", "fit", data, "-t", "y",
                           "--dask", "local", "--data-on-cluster", "-o", str(out), "--no-track"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})
    assert done.returncode == 1, done.stderr
    lines = [x for x in done.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "b.parquet" in lines[0] and "target column 'y'" in lines[0]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_the_driver_samples_the_heads_of_a_bounded_number_of_files(tmp_path):
    frame = _table("binary", n=400)
    pattern = _parts(tmp_path / "many", frame, n_parts=40)
    source = scan_parquet(pattern, "y")
    assert source.rows == (10,) * 40 and source.columns == tuple(frame.columns)
    heads = _train._sample(source, limit=64, max_files=8)
    assert [i for i, _ in heads] == [0, 6, 11, 17, 22, 28, 33, 39]
    assert sum(len(h) for _, h in heads) == 64
    pd.testing.assert_frame_equal(heads[1][1], pd.read_parquet(source.files[6]).iloc[:8])


def test_fsspec_urls_are_read_like_paths(tmp_path, dask_executor):
    """``file://`` goes through the same fsspec code as ``s3://`` (with s3fs installed)."""
    frame = _table("regression", n=400)
    _parts(tmp_path / "url", frame, n_parts=3)
    pattern = f"file://{tmp_path / 'url'}/*.parquet"
    source = scan_parquet(pattern, "y")
    assert len(source.files) == 3 and all(f.startswith("file://") for f in source.files)
    model = mlexpert.fit(pattern, target="y", time_limit=60, executor=dask_executor,
                         data_on_cluster=True)
    assert model.info["cluster"]["rows"] == len(frame)
    with pytest.raises(DataError, match="no data files match"):
        scan_parquet(f"file://{tmp_path}/nothing/*.parquet")


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_staged_lightgbm_scores_equal_predictions_cut_at_each_round(task):
    """LightGBM's best round is chosen from staged scores (each tree evaluated once)."""
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = {"binary": (X[:, 0] > 0).astype(int), "regression": 2 * X[:, 0],
         "multiclass": (X[:, 0] > 0).astype(int) + (X[:, 1] > 1)}[task]
    cls = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
    est = cls(n_estimators=20, verbose=-1).fit(X, y)
    grid = np.array([1, 6, 20])
    for k, raw in zip(grid, lightgbm_staged_raw(est.booster_, X, grid), strict=True):
        expected = est.predict(X, num_iteration=k) if task == "regression" else \
            est.predict_proba(X, num_iteration=k)
        np.testing.assert_allclose(lightgbm_raw_output(raw, task), expected, atol=1e-12)
