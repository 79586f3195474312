"""Is a longer budget really worse on a task, or is it the test set's noise? (issue #3)

Fits the same task of the shared dev suite at each budget (seed 0), then compares each budget
with the first on the *same* test rows: the mean per-row loss difference (squared error for
regression, -log p(true class) for classification) with a 95 % paired bootstrap interval
(2,000 resamples of the test rows). An interval that holds 0 means the test set cannot tell the
budgets apart.

    .venv/bin/python bench/paired_budgets.py olive_area 20 60 [300]
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = ROOT.parent / "shared" / "bench"
sys.path.insert(0, str(SHARED_BENCH if SHARED_BENCH.is_dir() else Path("/work/shared/bench")))
sys.path.insert(0, str(ROOT))


def row_losses(model, X, y, task_type: str) -> np.ndarray:
    """Per-row loss of ``model`` on the test rows."""
    if task_type == "regression":
        return (model.predict(X).to_numpy(float) - y.to_numpy(float)) ** 2
    proba = model.predict_proba(X)
    labels = [str(c) for c in proba.columns]
    true = np.array([labels.index(str(v)) for v in y])
    return -np.log(np.clip(proba.to_numpy()[np.arange(len(y)), true], 1e-15, 1.0))


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    from tasks import load_task

    import mlexpert

    task, budgets = sys.argv[1], [int(b) for b in sys.argv[2:]]
    train, test, target, task_type, _ = load_task(task)
    X, y = test.drop(columns=[target]), test[target]
    losses = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for budget in budgets:
            model = mlexpert.fit(train, target=target, time_limit=budget, seed=0)
            losses[budget] = row_losses(model, X, y, task_type)
    rng = np.random.default_rng(0)
    n, base = len(y), budgets[0]
    for budget in budgets[1:]:
        d = losses[budget] - losses[base]  # > 0: the longer budget is worse on these rows
        boots = [d[rng.integers(0, n, n)].mean() for _ in range(2000)]
        lo, hi = np.quantile(boots, [0.025, 0.975])
        print(f"{task}: mean per-row loss {budget} s - {base} s = {d.mean():+.4f}, "
              f"95% CI [{lo:+.4f}, {hi:+.4f}] (n={n})")


if __name__ == "__main__":
    main()
