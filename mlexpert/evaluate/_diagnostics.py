"""Curves and tables a reviewer reads: ROC and PR curves, confusion matrix, reliability curve
(classification), predicted vs actual and residuals (regression). Small JSON-ready dicts,
downsampled so that a bundle manifest stays small."""
from __future__ import annotations

from typing import Any

import numpy as np

from mlexpert.evaluate._calibration import reliability_curve
from mlexpert.evaluate._decision import thresholded

MAX_POINTS = 200
SCATTER_POINTS = 400


def _thin(*arrays: np.ndarray, limit: int = MAX_POINTS) -> list[list[float]]:
    n = len(arrays[0])
    idx = np.unique(np.linspace(0, n - 1, min(n, limit)).round().astype(int)) if n else []
    return [np.round(np.asarray(a)[idx], 5).tolist() for a in arrays]


def _curves(y: np.ndarray, p: np.ndarray, labels: list[str]) -> dict[str, Any]:
    from sklearn.metrics import precision_recall_curve, roc_curve

    roc, pr = [], []
    columns = [1] if p.shape[1] == 2 else range(p.shape[1])
    for k in columns:
        pos = (y == k).astype(int)
        if pos.min() == pos.max():
            continue
        fpr, tpr, _ = roc_curve(pos, p[:, k])
        prec, rec, _ = precision_recall_curve(pos, p[:, k])
        x, yv = _thin(fpr, tpr)
        roc.append({"label": labels[k], "fpr": x, "tpr": yv})
        r, pr_ = _thin(rec[::-1], prec[::-1])
        pr.append({"label": labels[k], "recall": r, "precision": pr_,
                   "base_rate": float(pos.mean())})
    return {"roc": roc, "pr": pr}


def diagnostics(task: str, y: np.ndarray, pred: np.ndarray, classes: list[Any] | None = None,
                threshold: float | None = None, seed: int = 0) -> dict[str, Any]:
    """The plots' data for ``task`` from encoded targets and raw predictions."""
    y, pred = np.asarray(y), np.asarray(pred)
    if task == "regression":
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(y), min(len(y), SCATTER_POINTS), replace=False)
        resid = y - pred
        counts, edges = np.histogram(resid, bins=30)
        return {"scatter": {"actual": np.round(y[idx], 6).tolist(),
                            "predicted": np.round(pred[idx], 6).tolist()},
                "residuals": {"counts": counts.tolist(), "edges": np.round(edges, 6).tolist(),
                              "quantiles": dict(zip(["5%", "25%", "50%", "75%", "95%"],
                                                    np.quantile(resid, [.05, .25, .5, .75, .95]).tolist(),
                                                    strict=True))}}
    labels = [str(c) for c in (classes or range(pred.shape[1]))]
    decided = thresholded(pred, threshold).argmax(axis=1)
    k = pred.shape[1]
    confusion = np.bincount(y * k + decided, minlength=k * k).reshape(k, k)
    return {"labels": labels, **_curves(y, pred, labels),
            "confusion": confusion.tolist(), "threshold": threshold,
            "reliability": reliability_curve(pred, y)}
