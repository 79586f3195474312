"""Is a longer budget worse on a task, over several train/test splits? (issue #3)

``paired_budgets.py`` compares budgets on the suite's one test set; a small task's test set
cannot tell them apart. This refits the task's rows (train + test joined) on ``--splits``
random splits of the same test size (stratified for classification, seeds 0..k-1), at each
budget, and prints each split's test loss (mean per-row log loss or squared error) and the mean
difference against the first budget with a t interval over the splits.

    .venv/bin/python bench/repeated_budgets.py olive_area 20 60 [--splits 5]
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from paired_budgets import row_losses  # noqa: E402 - puts the shared bench on sys.path


def main() -> None:
    from scipy import stats
    from sklearn.model_selection import train_test_split
    from tasks import load_task

    import mlexpert

    parser = argparse.ArgumentParser()
    parser.add_argument("task")
    parser.add_argument("budgets", nargs="+", type=int)
    parser.add_argument("--splits", type=int, default=5)
    args = parser.parse_args()
    train, test, target, task_type, _ = load_task(args.task)
    rows = pd.concat([train, test], ignore_index=True)
    losses = np.zeros((args.splits, len(args.budgets)))
    for s in range(args.splits):
        tr, te = train_test_split(rows, test_size=len(test), random_state=s, stratify=None if
                                  task_type == "regression" else rows[target])
        for b, budget in enumerate(args.budgets):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = mlexpert.fit(tr, target=target, time_limit=budget, seed=0)
            losses[s, b] = row_losses(model, te.drop(columns=[target]), te[target],
                                      task_type).mean()
        print(f"split {s}: " + ", ".join(f"{budget} s {losses[s, b]:.4f}"
                                         for b, budget in enumerate(args.budgets)), flush=True)
    for b, budget in enumerate(args.budgets[1:], start=1):
        d = losses[:, b] - losses[:, 0]  # > 0: the longer budget is worse
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        print(f"{args.task}: mean test loss {budget} s - {args.budgets[0]} s = {d.mean():+.4f}, "
              f"95% t interval [{d.mean() - half:+.4f}, {d.mean() + half:+.4f}] over "
              f"{len(d)} splits; longer better on {int((d < 0).sum())}")


if __name__ == "__main__":
    main()
