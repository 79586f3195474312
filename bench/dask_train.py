"""Training on partitioned Parquet on a Dask cluster vs in one process: wall time and peak memory.

A generated table (numbers and one category, binary target) is written as PARTS Parquet files.
Each side runs in a fresh process so that its peak RSS is its own:
* local: ``mlexpert.fit(glob, data_on_cluster=False, presets="fast", budget=0)``: the files
  read into this process, 5- or 3-fold CV of LightGBM and a linear model, refit;
* cluster: ``mlexpert.fit(glob, executor=<LocalCluster, 2 workers x 1 thread>,
  data_on_cluster=True)``: the driver reads a sample, the workers hold the partitions and train
  xgboost.dask and LightGBM's Dask classifier.
Peak RSS: the driver's ``ru_maxrss``; for the cluster also each worker's (from the worker
process). The ratios printed at the end compare the two sides of this one run.

    .venv/bin/python bench/dask_train.py [rows] [parts] [time_limit]
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

FEATURES = 20


def _write(folder: str, rows: int, parts: int) -> int:
    """Write the table as ``parts`` files; return its in-memory size in bytes (pandas, deep)."""
    rng = np.random.default_rng(0)
    size = 0
    for i, n in enumerate(np.diff(np.linspace(0, rows, parts + 1).astype(int))):
        X = rng.normal(size=(n, FEATURES)).astype(np.float64)
        frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(FEATURES)])
        frame["cat"] = rng.choice(list("abcdefgh"), n)
        logit = X[:, 0] + X[:, 1] * X[:, 2] + (frame["cat"] == "a") + 0.5 * np.sin(3 * X[:, 3])
        frame["y"] = np.where(logit + rng.normal(size=n) > 0, "yes", "no")
        frame.to_parquet(os.path.join(folder, f"part-{i:04d}.parquet"), index=False)
        size += int(frame.memory_usage(deep=True).sum())
    return size


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _child(side: str, pattern: str, time_limit: float) -> None:
    import warnings

    import mlexpert

    warnings.simplefilter("ignore")
    t = time.perf_counter()
    workers_mb: list[float] = []
    if side == "local":
        model = mlexpert.fit(pattern, target="y", time_limit=time_limit, presets="fast",
                             budget=0, data_on_cluster=False)
    else:
        from distributed import Client, LocalCluster

        from mlexpert.distributed import DaskExecutor

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.wait_for_workers(2)
            t = time.perf_counter()  # the cluster's start is not training
            model = mlexpert.fit(pattern, target="y", time_limit=time_limit,
                                 executor=DaskExecutor(client), data_on_cluster=True)
            workers_mb = sorted(client.run(_peak_mb).values())
    seconds = time.perf_counter() - t
    board = model.leaderboard
    print(json.dumps({"seconds": seconds, "driver_mb": _peak_mb(), "workers_mb": workers_mb,
                      "roc_auc": model.metrics["roc_auc"]["value"],
                      "shipped": [m["model"] for m in model.info["ensemble"]],
                      "models": board["model"].tolist(),
                      "notes": [f"{r.model}: {r.note}" for r in board.itertuples() if r.note]}))


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    parts = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    time_limit = float(sys.argv[3]) if len(sys.argv) > 3 else 300.0
    with tempfile.TemporaryDirectory() as tmp:
        nbytes = _write(tmp, rows, parts)
        pattern = os.path.join(tmp, "*.parquet")
        disk = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))
        print(f"rows={rows} parts={parts} features={FEATURES + 1}: {nbytes / 2**20:.0f} MB in "
              f"pandas, {disk / 2**20:.0f} MB of Parquet; time_limit={time_limit:.0f} s")
        out = {}
        for side in ("local", "cluster"):
            done = subprocess.run([sys.executable, __file__, "--child", side, pattern,
                                   str(time_limit)], capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"{side} failed:\n{done.stderr[-3000:]}")
            out[side] = json.loads(done.stdout.strip().splitlines()[-1])
            r = out[side]
            workers = f", workers {' / '.join(f'{w:.0f}' for w in r['workers_mb'])} MB" \
                if r["workers_mb"] else ""
            print(f"{side:8s} {r['seconds']:7.1f} s  peak RSS driver {r['driver_mb']:.0f} MB"
                  f"{workers}  roc_auc {r['roc_auc']:.4f}  shipped {r['shipped']} of "
                  f"{r['models']}")
            if side == "cluster":
                print(f"         rounds: {'; '.join(r['notes'])}")
        local, cluster = out["local"], out["cluster"]
        print(f"cluster / local: time {cluster['seconds'] / local['seconds']:.2f}x, driver peak "
              f"{cluster['driver_mb'] / local['driver_mb']:.2f}x, largest worker peak "
              f"{max(cluster['workers_mb']) / local['driver_mb']:.2f}x of the local process")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        main()
