"""A dev-suite task's bundle for the latency benches: fitted at a budget, or read back from
``DIR/<task>_<budget>`` when an earlier run saved it there (so several benches time the same
bundles; a fit under a time budget differs run to run). Fitted as the harness fits it: told the
task, the metric and the task's hints."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = ROOT.parent / "shared" / "bench"
sys.path.insert(0, str(SHARED_BENCH if SHARED_BENCH.is_dir() else Path("/work/shared/bench")))
sys.path.insert(0, str(ROOT))


def task_bundle(task_id: str, budget: int, bundles: Path | None, **fit: Any) -> tuple[Any, Any]:
    """(the Model, the task's test rows with the target) — saved under ``bundles`` when given
    (keyword arguments of ``fit`` other than the defaults: fitted anew, not saved)."""
    from tasks import TASKS_BY_ID, load_task

    import mlexpert

    train, test, target, task, metric = load_task(task_id)
    fit = {k: v for k, v in fit.items() if v is not None}
    path = bundles / f"{task_id}_{budget}" if bundles and not fit else None
    if path is not None and (path / "manifest.json").exists():
        return mlexpert.load(path), test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # told the task, metric and hints (cigar_sales: time_column) as the harness tells them
        told = {"task": task, "metric": metric, **TASKS_BY_ID[task_id].get("fit_hints", {})}
        model = mlexpert.fit(train, target=target, time_limit=budget, seed=0, **{**told, **fit})
    if path is not None:
        model.save(path)
    return model, test
