"""Does CatBoost need its feature combinations? (issue #9: only single-column target statistics,
``max_ctr_complexity=1``, convert to ONNX trees)

For every task of the shared dev suite with categorical columns: mlexpert's CatBoost config with
CatBoost's default (combinations of up to 4 columns) against ``max_ctr_complexity=1``, each
early-stopped on the last 20 % of the training rows, scored on the test rows. Prints the test
score, fit seconds, and the mean per-row loss difference (1 - default; > 0: combinations help)
with a 95 % paired bootstrap interval over the test rows.

    .venv/bin/python bench/catboost_ctr.py [task ...]
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = ROOT.parent / "shared" / "bench"
sys.path.insert(0, str(SHARED_BENCH if SHARED_BENCH.is_dir() else Path("/work/shared/bench")))
sys.path.insert(0, str(ROOT))


def main() -> None:
    from sklearn.metrics import roc_auc_score
    from tasks import TASKS, load_task

    from mlexpert._clock import Deadline
    from mlexpert.data import Role, infer_schema
    from mlexpert.features import build_preprocessor
    from mlexpert.models import FitRequest, get_family

    family = get_family("catboost")
    ids = sys.argv[1:] or [t["id"] for t in TASKS]
    rng = np.random.default_rng(0)
    for task_id in ids:
        train, test, target, task_type, _ = load_task(task_id)
        X_raw = train.drop(columns=[target])
        schema = infer_schema(X_raw)
        if not any(c.role == Role.CATEGORICAL for c in schema.columns):
            continue
        pre = build_preprocessor(schema, family.kind)
        X = pre.transformer.fit_transform(schema.prepare(X_raw))
        X_test = pre.transformer.transform(schema.prepare(test.drop(columns=[target])))
        if task_type == "regression":
            y, y_test, classes = train[target].to_numpy(float), test[target].to_numpy(float), []
        else:
            classes = sorted(train[target].astype(str).unique())
            y = np.searchsorted(classes, train[target].astype(str).to_numpy())
            y_test = np.searchsorted(classes, test[target].astype(str).to_numpy())
        cut = len(y) * 4 // 5
        losses, lines = {}, []
        for name, extra in (("default", {}), ("ctr1", {"max_ctr_complexity": 1})):
            req = FitRequest(task=task_type, n_classes=len(classes), categorical=pre.categorical,
                             seed=0, deadline=Deadline.after(300), n_threads=2,
                             X_val=X[cut:], y_val=y[cut:])
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = family.fit(X[:cut], y[:cut], {**family.configs(task_type)[0][1], **extra},
                                    req)
            seconds = time.perf_counter() - start
            p = fitted.predict(X_test)
            if task_type == "regression":
                losses[name] = (p - y_test) ** 2
                score = f"rmse {np.sqrt(losses[name].mean()):.4g}"
            else:
                losses[name] = -np.log(np.clip(p[np.arange(len(y_test)), y_test], 1e-15, 1))
                score = f"logloss {losses[name].mean():.4f}"
                if task_type == "binary":
                    score += f" auc {roc_auc_score(y_test, p[:, 1]):.4f}"
            lines.append(f"{name} {score} fit {seconds:.1f} s ({fitted.best_iteration} trees)")
        d = losses["ctr1"] - losses["default"]
        boots = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(2000)]
        lo, hi = np.quantile(boots, [0.025, 0.975])
        print(f"{task_id}: {' | '.join(lines)} | loss ctr1 - default {d.mean():+.4g} "
              f"[{lo:+.4g}, {hi:+.4g}]", flush=True)


if __name__ == "__main__":
    main()
