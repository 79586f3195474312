"""Tree models in the compiled path of a real bundle, this session's two changes one at a time
(issue #9): CatBoost's oblivious trees walked in numpy instead of CatBoost's own predict, and a
member's fold models (forests, CatBoost) walked together in one call instead of one call each.
One-row latency of ``FastPath`` in three builds (median of 500 calls each, same process,
alternating), each build's time, and the path ``compile()`` then chooses. Bundles are fitted
at ``--budget`` on the shared dev suite's tasks (or read from ``--bundles DIR/<task>_<budget>``
when saved there).

    .venv/bin/python bench/compiled_trees.py [--budget 60] [--bundles /tmp/b] task ...
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bundles import task_bundle  # noqa: E402 - puts the shared bench and the repo on sys.path


def main() -> None:
    import numpy as np

    import mlexpert.models._catboost as compiled
    import mlexpert.runtime._numpy as fast
    from mlexpert.runtime import FastPath

    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--bundles", type=Path, default=None)
    parser.add_argument("tasks", nargs="+")
    args = parser.parse_args()
    own_rows, own_bag = compiled.OBLIVIOUS_ROWS, fast.compile_bag
    builds = {"before (CatBoost predict, a call per model)": (0, lambda fitted: None),
              "CatBoost trees, a call per model": (own_rows, lambda fitted: None),
              "now (trees, bags in one call)": (own_rows, own_bag)}
    for task_id in args.tasks:
        model, test = task_bundle(task_id, args.budget, args.bundles)
        X = test.drop(columns=[model.target])
        row = [list(r) for r in zip(*model.schema.prepare_arrays(X.iloc[:1]), strict=True)]
        paths, build = {}, {}
        for name, (rows, bag) in builds.items():  # "before" first: its build pays the imports
            compiled.OBLIVIOUS_ROWS, fast.compile_bag = rows, bag
            start = time.perf_counter()
            paths[name] = FastPath(model)
            build[name] = time.perf_counter() - start
        compiled.OBLIVIOUS_ROWS, fast.compile_bag = own_rows, own_bag
        times = {name: [] for name in paths}
        for _ in range(500):  # alternating, so drift on a shared machine hits all alike
            for name, path in paths.items():
                start = time.perf_counter()
                path.predict(row)
                times[name].append(time.perf_counter() - start)
        want = paths[next(iter(paths))].predict(row)
        for path in paths.values():
            np.testing.assert_allclose(path.predict(row), want, rtol=0, atol=1e-9)
        members = "; ".join(f"{m.family} x{len(m.parts)}" for m in model._members)
        first = np.median(times[next(iter(paths))])
        print(f"{task_id} [{members}]: one row " + ", ".join(
            f"{name} {np.median(t) * 1e3:.3f} ms ({first / np.median(t):.2f}x, build "
            f"{build[name]:.2f} s)" for name, t in times.items())
            + f" | {model.compile()}", flush=True)


if __name__ == "__main__":
    main()
