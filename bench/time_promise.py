"""The time promise on awkward shapes: does ``fit`` end within ``time_limit`` + 10 % and never
fail on tiny, wide, 100k-row, many-class, high-cardinality and text tables?

Each (shape, budget) fits in a fresh process (library imports excluded from the clock, as the
shared suite does) and prints: wall seconds of ``mlexpert.fit``, its ratio to the time limit,
what was shipped, and the holdout score against a dummy baseline on 20 % held-out rows.

    .venv/bin/python bench/time_promise.py [--budgets 20 60] [--shapes tiny wide ...]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _signal(rng: np.random.Generator, X: np.ndarray) -> np.ndarray:
    k = min(5, X.shape[1])
    return X[:, :k] @ rng.normal(size=k) + 0.5 * np.sin(3 * X[:, 0])


def make(shape: str, seed: int = 0) -> tuple[pd.DataFrame, str]:
    """One synthetic table per awkward shape; the target column is "y"."""
    rng = np.random.default_rng(seed)
    if shape == "tiny":  # 40 rows, binary
        X = rng.normal(size=(40, 4))
        f = pd.DataFrame(X, columns=[f"x{i}" for i in range(4)])
        f["y"] = np.where(_signal(rng, X) + rng.normal(size=40) > 0, "a", "b")
    elif shape == "wide":  # 600 rows x 2,000 columns, regression
        X = rng.normal(size=(600, 2000)).astype(np.float32)
        f = pd.DataFrame(X, columns=[f"x{i}" for i in range(2000)])
        f["y"] = _signal(rng, X) + rng.normal(size=600)
    elif shape == "rows_100k":  # 100,000 x 20 with categoricals, binary
        X = rng.normal(size=(100_000, 16))
        f = pd.DataFrame(X, columns=[f"x{i}" for i in range(16)])
        for j in range(4):
            f[f"c{j}"] = rng.choice([f"v{k}" for k in range(8 + 10 * j)], 100_000)
        f["y"] = np.where(_signal(rng, X) + (f["c0"] == "v1") + rng.normal(size=100_000) > 0,
                          "yes", "no")
    elif shape == "many_class":  # 5,000 rows, 60 classes
        X = rng.normal(size=(5000, 10))
        f = pd.DataFrame(X, columns=[f"x{i}" for i in range(10)])
        score = _signal(rng, X) + rng.normal(size=5000) * 0.5
        f["y"] = pd.qcut(score, 60, labels=[f"k{i}" for i in range(60)]).astype(str)
    elif shape == "high_card":  # 30,000 rows, a 10,000-level categorical that matters
        n = 30_000
        codes = rng.integers(0, 10_000, n)
        effect = rng.normal(size=10_000)
        X = rng.normal(size=(n, 5))
        f = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
        f["shop"] = [f"shop_{c}" for c in codes]
        f["y"] = effect[codes] + _signal(rng, X) + rng.normal(size=n)
    elif shape == "text":  # 3,000 rows with a free-text column, binary
        words = np.array("good bad fine awful great poor nice broken fast slow cheap "
                         "lovely terrible okay superb".split())
        good = {"good", "fine", "great", "nice", "fast", "cheap", "lovely", "okay", "superb"}
        texts, ys = [], []
        for _ in range(3000):
            w = rng.choice(words, rng.integers(3, 12))
            texts.append(" ".join(w))
            ys.append("pos" if sum(x in good for x in w) * 2 > len(w) else "neg")
        f = pd.DataFrame({"review": texts, "stars_shown": rng.integers(1, 6, 3000), "y": ys})
    else:
        raise SystemExit(f"unknown shape {shape!r}")
    return f, "y"


SHAPES = ["tiny", "wide", "rows_100k", "many_class", "high_card", "text"]


def _holdout(model, test: pd.DataFrame) -> dict[str, float]:
    """The model's metric on the held-out rows with its 95 % interval (200 resamples)."""
    m = model.evaluate(test, n_resamples=200)["metrics"][model.metric]
    return {"metric": model.metric, **{k: round(float(v), 4) for k, v in m.items()}}


def _child(shape: str, budget: float) -> None:
    """Fit one shape in this process and print one JSON line."""
    sys.path.insert(0, str(ROOT))
    import lightgbm  # noqa: F401 - imports stay outside the clock, as in the shared suite
    import sklearn  # noqa: F401

    import mlexpert

    frame, target = make(shape)
    test = frame.sample(frac=0.2, random_state=1)
    train = frame.drop(index=test.index)
    t0 = time.monotonic()
    error, shipped = None, None
    holdout = None
    try:
        model = mlexpert.fit(train, target=target, time_limit=budget, seed=0)
        wall = time.monotonic() - t0
        shipped = [m["model"] for m in model._manifest["ensemble"]]
        holdout = _holdout(model, test)
    except Exception as exc:  # noqa: BLE001 - the bench records failures
        wall = time.monotonic() - t0
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
    print(json.dumps({"shape": shape, "rows": len(train), "columns": frame.shape[1] - 1,
                      "budget": budget, "fit_seconds": round(wall, 2),
                      "ratio": round(wall / budget, 3), "shipped": shipped, "error": error,
                      "holdout": holdout}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[20.0, 60.0])
    parser.add_argument("--shapes", nargs="+", default=SHAPES, choices=SHAPES)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], float(args.child[1]))
        return
    rows = []
    for budget in args.budgets:
        for shape in args.shapes:
            t0 = time.monotonic()
            out = subprocess.run([sys.executable, __file__, "--child", shape, str(budget)],
                                 capture_output=True, text=True, timeout=3 * budget + 120,
                                 env={**os.environ, "PYTHONWARNINGS": "ignore"})
            line = next((x for x in out.stdout.splitlines() if x.startswith("{")), None)
            if line is None:
                rec = {"shape": shape, "budget": budget, "fit_seconds": None, "ratio": None,
                       "error": (out.stderr.strip().splitlines() or ["no output"])[-1][:200]}
            else:
                rec = json.loads(line)
            rec["process_seconds"] = round(time.monotonic() - t0, 1)
            rows.append(rec)
            print(json.dumps(rec), flush=True)
    print("\n| shape | rows x cols | budget s | fit s | fit / budget | shipped | error |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['shape']} | {r.get('rows', '?')} x {r.get('columns', '?')} | {r['budget']:.0f} "
              f"| {r['fit_seconds']} | {r['ratio']} | {', '.join(r.get('shipped') or [])} "
              f"| {r.get('error') or ''} |")
    worst = max((r["ratio"] for r in rows if r["ratio"] is not None), default=float("nan"))
    print(f"\nworst fit / budget: {worst:.3f} (promise: <= 1.10); failures: "
          f"{sum(bool(r.get('error')) for r in rows)} of {len(rows)}; load average at the end: "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
