"""One fitted model (``models.Fitted``) to graph nodes: probabilities (n, K) or values (n, 1),
exactly what ``Fitted.predict`` returns, from the preprocessed feature matrix."""
from __future__ import annotations

from typing import Any

import numpy as np

from mlexpert.errors import not_exportable
from mlexpert.export._graph import Graph
from mlexpert.export._trees import (
    DISTILL_HINT,
    catboost_trees,
    forest_trees,
    lightgbm_trees,
    xgboost_trees,
)


def model_output(g: Graph, family: str, fitted: Any, x: str, categorical: list[int]) -> str:
    """Graph output of one fitted model of ``family`` on the feature matrix ``x``."""
    est = fitted.estimator
    task, k = fitted.task, max(fitted.n_classes, 1)
    # the model's own classes (a training fold may lack one); two classes: one score
    n_model = 1 if task == "regression" else len(getattr(est, "classes_", range(k)))
    targets = 1 if n_model <= 2 else n_model
    module = type(est).__module__.split(".")[0]
    if module == "lightgbm":
        trees, objective = lightgbm_trees(est.booster_, targets)
        raw = trees.emit(g, x)
        return _link(g, raw, task, objective, est, k)
    if module == "xgboost":
        trees, objective = xgboost_trees(est, targets)
        return _link(g, trees.emit(g, x), task, objective, est, k)
    if module == "catboost":  # MultiClass gives a score per class, even for two classes
        trees = catboost_trees(est, categorical, fitted.extra.get("adapter"))
        objective = "regression" if task == "regression" else "classification"
        return _link(g, trees.emit(g, x), task, objective, est, k, trees.n_targets == 1)
    name = type(est).__name__
    if name in ("RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier",
                "ExtraTreesRegressor"):
        return forest_trees(est, 1 if task == "regression" else k, task == "regression").emit(g, x)
    if name in ("LogisticRegression", "Ridge"):
        return _linear(g, est, x, task, k)
    raise not_exportable(f"the {family} member ({name})", "mlexpert has no ONNX converter for it",
                         DISTILL_HINT)


def _link(g: Graph, raw: str, task: str, objective: str, est: Any, k: int,
          one_score: bool | None = None) -> str:
    """Raw boosting scores to what ``Fitted.predict`` returns: a sigmoid of one score (by
    default when the model has two classes), else a softmax."""
    if task == "regression":
        if objective not in ("regression", "reg:squarederror"):
            raise not_exportable(f"a model with objective {objective!r}", "only squared-error "
                                 "regression is converted", DISTILL_HINT)
        return raw
    if one_score is None:
        one_score = len(getattr(est, "classes_", range(k))) == 2
    if one_score:
        p1 = g.sigmoid(raw)
        return _full(g, g.concat([g.sub(g.const(1.0), p1), p1]), est, k)
    return _full(g, g.softmax(raw), est, k)


def _full(g: Graph, proba: str, est: Any, k: int) -> str:
    """Columns for classes the training fold lacked are zeros (as ``Fitted.predict``)."""
    classes = np.asarray(getattr(est, "classes_", np.arange(k))).astype(int)
    if len(classes) == k and np.array_equal(classes, np.arange(k)):
        return proba
    scatter = np.zeros((len(classes), k))
    scatter[np.arange(len(classes)), classes] = 1.0
    return g.op("MatMul", [proba, g.const(scatter)])


def _linear(g: Graph, est: Any, x: str, task: str, k: int) -> str:
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=float))
    intercept = np.atleast_1d(np.asarray(est.intercept_, dtype=float)).reshape(1, -1)
    z = g.add(g.op("MatMul", [x, g.const(coef.T)]), g.const(intercept))
    if task == "regression":
        return z
    if coef.shape[0] == 1:
        p1 = g.sigmoid(z)
        return _full(g, g.concat([g.sub(g.const(1.0), p1), p1]), est, k)
    return _full(g, g.softmax(z), est, k)
