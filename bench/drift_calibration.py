"""False alarms and power of ``mlexpert.drift`` on the real tables of the shared dev suite.

False alarms: each task's rows (train + test, target dropped) are split at random into two
halves, reference and current, with many seeds; the dataset-level verdict should fire in at
most 5 % of them. With ``--big``, also 3 pairs of 100,000-row tables each drawn with
replacement from all rows (the same distribution on both sides, at 100k rows).
Power: planted changes of known size in the current half (mean shift of 0.2 and 0.5 reference
standard deviations in one numeric column, a new category at 10 %, a doubled missing rate), at
1,000 and 10,000 current rows (tasks whose half holds that many rows): detection rate, and
whether the planted column is the one named first.

    .venv/bin/python bench/drift_calibration.py [--seeds 10] [--big] [--bench ../shared/bench] [TASK ...]
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def halves(pool: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(pool))
    k = len(pool) // 2
    return pool.iloc[order[:k]].reset_index(drop=True), pool.iloc[order[k:]].reset_index(drop=True)


def resample(frame: pd.DataFrame, n: int, seed: int, *, replace: bool = False) -> pd.DataFrame:
    """``n`` rows of ``frame`` drawn at random; without replacement at most all of them (rows
    repeated by resampling would make any two-sample test over-confident)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(frame), n if replace else min(n, len(frame)), replace=replace)
    return frame.iloc[idx].reset_index(drop=True)


def plants(ref: pd.DataFrame, schema) -> dict[str, tuple[str, callable]]:
    """name -> (column, function(current, rng) -> changed current)."""
    from mlexpert.data import Role

    out = {}
    numeric = [c.name for c in schema.features if c.role == Role.NUMERIC
               and c.stats.get("std")]
    if numeric:
        col = numeric[0]
        sd = float(pd.to_numeric(ref[col], errors="coerce").std())
        for size in (0.2, 0.5):
            out[f"mean+{size}sd"] = (col, lambda f, rng, c=col, s=size * sd: f.assign(
                **{c: pd.to_numeric(f[c], errors="coerce") + s}))
    cats = [c.name for c in schema.features if c.role == Role.CATEGORICAL]
    if cats:
        col = cats[0]

        def new_cat(f, rng, c=col):
            f = f.copy()
            v = f[c].astype(object)
            v[rng.random(len(f)) < 0.10] = "__planted_new__"
            f[c] = v
            return f

        out["new category 10%"] = (col, new_cat)
    withmiss = sorted(schema.features, key=lambda c: -c.missing_rate)
    col = withmiss[0].name if withmiss and withmiss[0].missing_rate > 0 else \
        schema.features[0].name
    rate = max(schema.columns[[c.name for c in schema.columns].index(col)].missing_rate, 0.05)

    def more_missing(f, rng, c=col, r=rate):
        f = f.copy()
        now = f[c].isna().to_numpy()
        extra = (~now) & (rng.random(len(f)) < r / max(1 - now.mean(), 1e-9))
        v = f[c].astype(object)
        v[extra] = None
        f[c] = v
        return f

    out["missing rate x2"] = (col, more_missing)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", help="task ids (default: all)")
    parser.add_argument("--seeds", type=int, default=10, help="random splits per task")
    parser.add_argument("--big", action="store_true", help="also 100,000 current rows")
    parser.add_argument("--bench", default=str(HERE.parents[1] / "shared" / "bench"))
    parser.add_argument("--no-null", action="store_true", help="skip the false-alarm part")
    parser.add_argument("--no-power", action="store_true", help="skip the planted changes")
    args = parser.parse_args()
    sys.path.insert(0, args.bench)
    from tasks import TASKS, load_task  # noqa: PLC0415 (the shared suite's own module)

    from mlexpert.data import infer_schema
    from mlexpert.monitor import drift

    warnings.simplefilter("ignore")
    ids = args.tasks or [t["id"] for t in TASKS]
    null = defaultdict(lambda: [0, 0])
    power = defaultdict(lambda: [0, 0, 0])  # detected, named first, runs
    print("| task | rows | split alarms | drifted columns in alarms | s per check |")
    print("|---|---|---|---|---|")
    for tid in ids:
        train, test, target, _, _ = load_task(tid)
        pool = pd.concat([train, test], ignore_index=True).drop(columns=[target])
        alarms, names, started, checks = 0, set(), time.perf_counter(), 0
        for seed in range(0 if args.no_null else args.seeds):
            ref, cur = halves(pool, seed)
            pairs = [(ref, cur)]
            if args.big and seed < 3:  # both sides drawn from the same (empirical) distribution
                pairs.append((resample(pool, 100_000, seed, replace=True),
                              resample(pool, 100_000, seed + 99, replace=True)))
            for r, c in pairs:
                result = drift(r, c, seed=seed)
                checks += 1
                key = "100k" if len(c) == 100_000 else "half"
                null[key][0] += result.drift_detected
                null[key][1] += 1
                alarms += result.drift_detected
                names |= set(result.drifted_columns)
        per = (time.perf_counter() - started) / max(checks, 1)
        if not args.no_null:
            print(f"| {tid} | {len(pool)} | {alarms}/{checks} | {', '.join(sorted(names)) or '-'}"
                  f" | {per:.1f} |", flush=True)
        if args.no_power:
            continue
        ref, cur = halves(pool, 0)
        schema = infer_schema(ref)
        for name, (col, plant) in plants(ref, schema).items():
            for n in (1_000, 10_000):
                if n > len(cur):
                    continue  # the task has too few rows for this size
                rng = np.random.default_rng(n)
                changed = plant(resample(cur, n, n), rng)
                result = drift(ref, changed, seed=0)
                entry = power[(name, n)]
                entry[0] += result.drift_detected
                entry[1] += bool(result.drifted_columns) and result.drifted_columns[0] == col
                entry[2] += 1
    print()
    for key, (a, n) in null.items():
        print(f"false alarms ({key} current rows): {a}/{n} = {a / max(n, 1):.1%}")
    print("\n| planted change | current rows | detected | planted column named first | tasks |")
    print("|---|---|---|---|---|")
    for (name, n), (det, named, runs) in sorted(power.items()):
        print(f"| {name} | {n:,} | {det}/{runs} | {named}/{runs} | {runs} |")


if __name__ == "__main__":
    main()
