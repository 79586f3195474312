"""CatBoost's oblivious trees walked in numpy against CatBoost's own predict, in the compiled
path of a real bundle (issue #9): one-row latency of ``FastPath`` both ways (median of 500
calls, same process, alternating), its build time both ways, and the path ``compile()`` then
chooses. Bundles are fitted at ``--budget`` on the shared dev suite's tasks (or read from
``--bundles DIR/<task>_<budget>`` when saved there).

    .venv/bin/python bench/catboost_numpy.py [--budget 60] [--bundles /tmp/b] task ...
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = ROOT.parent / "shared" / "bench"
sys.path.insert(0, str(SHARED_BENCH if SHARED_BENCH.is_dir() else Path("/work/shared/bench")))
sys.path.insert(0, str(ROOT))


def _bundle(task_id: str, budget: int, bundles: Path | None):
    from tasks import load_task

    import mlexpert

    train, test, target, _, _ = load_task(task_id)
    path = bundles / f"{task_id}_{budget}" if bundles else None
    if path is not None and (path / "manifest.json").exists():
        model = mlexpert.load(path)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = mlexpert.fit(train, target=target, time_limit=budget, seed=0)
        if path is not None:
            model.save(path)
    return model, test.drop(columns=[target])


def main() -> None:
    import numpy as np

    import mlexpert.compiled._numpy as compiled
    from mlexpert.runtime import FastPath

    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--bundles", type=Path, default=None)
    parser.add_argument("tasks", nargs="+")
    args = parser.parse_args()
    own_rows = compiled.OBLIVIOUS_ROWS
    for task_id in args.tasks:
        model, X = _bundle(task_id, args.budget, args.bundles)
        n_cb = sum(type(f.estimator).__name__.startswith("CatBoost")
                   for m in model._members for _, f in m.parts)
        if not n_cb:
            print(f"{task_id}: no CatBoost model in the bundle", flush=True)
            continue
        row = [list(r) for r in zip(*model.schema.prepare_arrays(X.iloc[:1]), strict=True)]
        paths, build = {}, {}
        # CatBoost's predict first: its build pays the imports, against itself
        for name, rows in (("CatBoost predict", 0), ("numpy trees", own_rows)):
            compiled.OBLIVIOUS_ROWS = rows  # 0: the CatBoost models are not read as trees
            start = time.perf_counter()
            paths[name] = FastPath(model)
            build[name] = time.perf_counter() - start
        times = {name: [] for name in paths}
        compiled.OBLIVIOUS_ROWS = own_rows
        for _ in range(500):  # alternating, so drift on a shared machine hits both alike
            for name, path in paths.items():
                start = time.perf_counter()
                path.predict(row)
                times[name].append(time.perf_counter() - start)
        a, b = (np.median(times[n]) * 1e3 for n in ("numpy trees", "CatBoost predict"))
        np.testing.assert_allclose(paths["numpy trees"].predict(row),
                                   paths["CatBoost predict"].predict(row), rtol=0, atol=1e-9)
        note = model.compile()
        print(f"{task_id}: {n_cb} CatBoost models; numpy path one row {a:.3f} ms with the trees "
              f"in numpy, {b:.3f} ms with CatBoost's predict ({b / a:.2f}x); build "
              f"{build['numpy trees']:.2f} s vs {build['CatBoost predict']:.2f} s | {note}",
              flush=True)


if __name__ == "__main__":
    main()
