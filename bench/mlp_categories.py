"""The mlp alone with and without categorical embeddings (issue #24): three-fold cross-validation
over seeds on a dev task's training rows, the linear preprocessing fitted inside each fold and
its one-hot blocks handed to the fit as the search hands them, one fit per ``category_dim``
(0: one-hot). Prints the harness's metric per fold and its mean for each width.

    .venv/bin/python bench/mlp_categories.py cigar_sales [--dims 0,4,8,16] [--seeds 0,1]
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import paired_budgets  # noqa: E402,F401  (puts the shared bench on sys.path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task")
    parser.add_argument("--dims", default="0,4,8,16")
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score
    from sklearn.model_selection import KFold, StratifiedKFold
    from tasks import load_task

    from mlexpert._clock import Deadline
    from mlexpert.data import infer_schema
    from mlexpert.features import build_preprocessor, one_hot_blocks
    from mlexpert.models import FAMILIES, FitRequest

    train, _, target, task, _ = load_task(args.task)
    X, raw = train.drop(columns=[target]), train[target]
    schema = infer_schema(X)
    frame = schema.prepare(X)
    if task == "regression":
        y, k = raw.to_numpy(float), 0
    else:
        classes = np.unique(raw.astype(str))
        y, k = np.searchsorted(classes, raw.astype(str)), len(classes)
    dims = [int(d) for d in args.dims.split(",")]
    scores: dict[int, list[float]] = {d: [] for d in dims}
    for seed in (int(s) for s in args.seeds.split(",")):
        splitter = (KFold if task == "regression" else StratifiedKFold)(3, shuffle=True,
                                                                       random_state=seed)
        for tr, va in splitter.split(X, None if task == "regression" else y):
            pre = build_preprocessor(schema, "linear", task=task)
            Xtr = pre.transformer.fit_transform(frame.iloc[tr], y[tr])
            Xva = pre.transformer.transform(frame.iloc[va])
            blocks = one_hot_blocks(pre.transformer)
            for d in dims:
                req = FitRequest(task=task, n_classes=k, categorical=[], seed=seed,
                                 deadline=Deadline.after(900), n_threads=2, X_val=Xva,
                                 y_val=y[va], one_hot_blocks=blocks)
                p = FAMILIES["mlp"].fit(Xtr, y[tr], {"category_dim": d}, req).predict(Xva)
                scores[d].append(float(
                    roc_auc_score(y[va], p[:, 1]) if task == "binary"
                    else log_loss(y[va], p, labels=range(k)) if task == "multiclass"
                    else mean_squared_error(y[va], p) ** 0.5))
    print(f"{args.task}: one-hot blocks {[len(b) for b in blocks]} (embedded: wider than 9)")
    for d in dims:
        print(f"  category_dim {d:>2}: mean {np.mean(scores[d]):.5g}  folds "
              f"{' '.join(f'{s:.4g}' for s in scores[d])}")


if __name__ == "__main__":
    main()
