"""One-row latency right after fit, as the harness measures it, and why it moves run to run
(issue #22): fits a dev task as ``../shared/bench`` does (told the task and metric), predicts
the test split whole, then times 200 one-row ``Model.predict`` calls on the test rows in turn
(after one warm-up) — and reports beside that median the compiled path that served, whether
its background build was still running when the calls started, the median of each quarter of
the calls, and a second loop of the same 200 calls once the build has ended. The harness's
one figure per task mixes three things this separates: the ensemble fit chose, a build still
converting beside the calls, and the machine (the same bundle in separate processes: ±30 %).

    .venv/bin/python bench/post_fit_latency.py TASK [TASK ...] [--budget 60]
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent.parent / "shared" / "bench"))


def _loop(model, X) -> list[float]:
    model.predict(X.iloc[[0]])  # the harness's warm-up
    times = []
    for i in range(200):
        row = X.iloc[[i % len(X)]]
        t0 = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - t0)
    return times


def _ms(values) -> float:
    return round(1000.0 * float(np.median(values)), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="+")
    parser.add_argument("--budget", type=float, default=60.0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from tasks import load_task

    import mlexpert

    for task in args.tasks:
        train, test, target, task_type, metric = load_task(task)
        t0 = time.perf_counter()
        model = mlexpert.fit(train, target=target, time_limit=args.budget, seed=0,
                             task=task_type, metric=metric)
        fit_s = time.perf_counter() - t0
        X = test.drop(columns=[target])
        model.predict(X)
        if task_type != "regression":
            model.predict_proba(X)
        building = model._building is not None and model._building.is_alive()
        first = _loop(model, X)
        if model._building is not None:
            model._building.join()
        second = _loop(model, X)
        print(f"{task:20s} fit {fit_s:5.1f}s  harness-like {_ms(first):5.2f} ms "
              f"(quarters {[_ms(q) for q in np.array_split(first, 4)]}; a build running at "
              f"the start: {building})  again {_ms(second):5.2f} ms  | {model.compiled_path}",
              flush=True)


if __name__ == "__main__":
    main()
