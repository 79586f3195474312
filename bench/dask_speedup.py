"""Distributed search on a local Dask cluster: speedup of 1 vs 2 workers at a fixed trial count,
and the overhead Dask adds per task.

The same search (preset balanced, a fixed number of tuning trials, so the work is identical) runs
in this process, then on a LocalCluster of 1 and of 2 single-thread workers. Ideal speedup of 2
workers over 1 is 2x; folds run in waves of `workers`, so 5 folds on 2 workers cap it at 5/3.
Run on an idle machine (2 cores): another load on the cores shows up directly as lost speedup.

    .venv/bin/python bench/dask_speedup.py [rows] [trials]
"""
import sys
import tempfile
import time

import numpy as np
import pandas as pd


def _table(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 20))
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(20)])
    frame["cat"] = rng.choice(list("abcdefgh"), rows)
    frame["y"] = (X[:, 0] + X[:, 1] * X[:, 2] + (frame["cat"] == "a") + rng.normal(size=rows) > 0)
    return frame


def _search_seconds(frame: pd.DataFrame, trials: int, executor) -> tuple[float, float, object]:
    import mlexpert

    t = time.perf_counter()
    model = mlexpert.fit(frame, target="y", time_limit=3600, presets="balanced", budget=trials,
                         executor=executor)
    return time.perf_counter() - t, model.metrics["roc_auc"]["value"], model


def _noop(x):
    return x


def _scoring_rate(model, frame: pd.DataFrame, executor, tmp: str) -> float:
    """Rows per second scoring 4 Parquet partitions of ``frame`` on ``executor``."""
    import os
    import shutil

    from mlexpert.distributed import score_files

    src = os.path.join(tmp, "parts")
    os.makedirs(src, exist_ok=True)
    features = frame.drop(columns=["y"])
    for i, rows in enumerate(np.array_split(np.arange(len(features)), 4)):
        features.iloc[rows].to_parquet(os.path.join(src, f"p{i}.parquet"))
    out = os.path.join(tmp, "scored")
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    parts = score_files(model, src, out, executor)
    return sum(p.rows for p in parts) / (time.perf_counter() - t)


def main() -> None:
    from distributed import Client, LocalCluster

    from mlexpert.distributed import DaskExecutor

    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    trials = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    frame = _table(rows)
    inline, auc, model = _search_seconds(frame, trials, None)
    print(f"rows={rows} trials={trials}")
    print(f"in-process (1 thread per fit): {inline:.1f} s, roc_auc {auc:.4f}", flush=True)
    results = {}
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster) as client:
            executor = DaskExecutor(client)
            client.submit(_noop, 0).result()  # workers started and warm
            seconds, auc, _ = _search_seconds(frame, trials, executor)
            results[workers] = seconds
            print(f"dask {workers} worker(s): {seconds:.1f} s, roc_auc {auc:.4f} "
                  f"({inline / seconds:.2f}x of in-process)", flush=True)
            if workers == 2:
                n = 200
                t = time.perf_counter()
                for i in range(n):
                    client.submit(_noop, i, pure=False).result()
                rt = (time.perf_counter() - t) / n * 1000
                t = time.perf_counter()
                client.gather([client.submit(_noop, i, pure=False) for i in range(n)])
                batched = (time.perf_counter() - t) / n * 1000
                print(f"overhead per task: {rt:.2f} ms one at a time, {batched:.2f} ms when "
                      f"{n} are in flight")
            with tempfile.TemporaryDirectory() as tmp:
                rate = _scoring_rate(model, pd.concat([frame] * 5), executor, tmp)
            print(f"batch scoring, {workers} worker(s): {rate:,.0f} rows/s", flush=True)
            executor.shutdown()
    print(f"speedup 2 vs 1 workers: {results[1] / results[2]:.2f}x (ideal 2x; 5 folds in waves "
          "of 2 cap it at 1.67x)")


if __name__ == "__main__":
    main()
