"""One-row latency of the default bundle on every task of the shared dev suite, after it compiles
(issue #9): which path Model.predict takes (numpy or onnxruntime), how long one row takes, and
the members that decide it (family, fold/seed models, CatBoost feature combinations); with
``--infer-limit`` (seconds), the search's estimate for the shipped model and its test loss (mean
per-row log loss or squared error) too.

    .venv/bin/python bench/suite_latency.py [--budget 60] [--infer-limit 0.005] [--bundles DIR]
        [task ...]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bundles import task_bundle  # noqa: E402 - puts the shared bench and the repo on sys.path


def describe(member) -> str:
    est = member.parts[0][1].estimator
    text = f"{member.family} x{len(member.parts)} w{member.weight:.2f}"
    if type(est).__name__.startswith("CatBoost"):
        text += f" ctr{est.get_all_params().get('max_ctr_complexity')}"
    return text


def main() -> None:
    from tasks import TASKS, load_task

    from mlexpert._clock import median_seconds

    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--infer-limit", type=float, default=None)
    parser.add_argument("--bundles", type=Path, default=None,
                        help="save bundles there, or read them back (without --infer-limit)")
    parser.add_argument("tasks", nargs="*")
    args = parser.parse_args()
    for task_id in args.tasks or [t["id"] for t in TASKS]:
        _, _, target, task_type, _ = load_task(task_id)
        model, test = task_bundle(task_id, args.budget, args.bundles,
                                  infer_limit=args.infer_limit)
        row = test.drop(columns=[target]).iloc[:1]
        members = median_seconds(lambda m=model, r=row: m._predict_raw(r, compiled=False), 50)
        note = model.compile()
        compiled = median_seconds(lambda m=model, r=row: m.predict(r), 200)
        extra = ""
        if args.infer_limit is not None:
            from paired_budgets import row_losses

            X, y = test.drop(columns=[target]), test[target]
            extra = (f", estimated {model.info['inference']['estimated_ms_per_row']:.3f} ms, "
                     f"test loss {row_losses(model, X, y, task_type).mean():.6g}")
        print(f"{task_id}: members {members * 1e3:.2f} ms, Model.predict {compiled * 1e3:.3f} ms"
              f"{extra} | {'; '.join(describe(m) for m in model._members)} | {note}", flush=True)


if __name__ == "__main__":
    main()
