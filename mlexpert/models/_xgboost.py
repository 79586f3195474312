"""XGBoost: the family (early-stopped on the validation fold, stopped at the deadline, refitted
with the mean best round plus 10 %), its booster called directly, its trees in ONNX, its
TreeSHAP and its Dask training (``xgboost.dask``)."""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mlexpert.models._adapter import Adapter, all_classes, instance_of, model_classes, plain
from mlexpert.models._base import FitRequest, Fitted
from mlexpert.models._common import EARLY_STOP, MAX_ROUNDS, refit_rounds, space
from mlexpert.models._graph import Graph
from mlexpert.models._trees_onnx import LEQ, MEMBER, Trees, n_scores, onnx_link


class _XGBDeadline:
    """XGBoost training callback that ends training when the deadline passes."""

    def __init__(self, deadline: Any):
        self.deadline = deadline
        self.truncated = False

    def make(self) -> Any:
        import xgboost as xgb

        outer = self

        class _Callback(xgb.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                if outer.deadline.expired():
                    outer.truncated = True
                    return True
                return False

        return _Callback()


class XGBoostFamily:
    name = "xgboost"
    kind = "tree"

    def configs(self, task: str) -> list[tuple[str, dict[str, Any]]]:
        return [("xgboost", {"learning_rate": 0.1, "max_depth": 6, "min_child_weight": 1.0,
                             "colsample_bytree": 0.9, "max_cat_to_onehot": 8})]

    def fit(self, X: Any, y: np.ndarray, params: dict[str, Any], req: FitRequest) -> Fitted:
        import xgboost as xgb

        n_features = X.shape[1]
        feature_types = ["c" if i in set(req.categorical) else "q" for i in range(n_features)]
        stopper = _XGBDeadline(req.deadline)
        cls = xgb.XGBRegressor if req.task == "regression" else xgb.XGBClassifier
        early = EARLY_STOP if req.X_val is not None else None
        est = cls(n_estimators=params.get("n_estimators", MAX_ROUNDS),
                  **{k: v for k, v in params.items() if k != "n_estimators"},
                  tree_method="hist", enable_categorical=True, feature_types=feature_types,
                  early_stopping_rounds=early, callbacks=[stopper.make()], random_state=req.seed,
                  n_jobs=req.n_threads, verbosity=0)
        kwargs: dict[str, Any] = {"verbose": False}
        if req.X_val is not None:
            kwargs["eval_set"] = [(req.X_val, req.y_val)]
        est.fit(X, y, sample_weight=req.sample_weight, **kwargs)
        best = getattr(est, "best_iteration", None) if early else None
        best = (best + 1) if best is not None else est.get_booster().num_boosted_rounds()
        est.set_params(callbacks=None)  # the callback holds the deadline: keep the model plain
        return Fitted(est, req.task, req.n_classes, best_iteration=best, truncated=stopper.truncated,
                      family=self.name)

    def refit_params(self, params: dict[str, Any], fitted: list[Fitted]) -> dict[str, Any]:
        return refit_rounds(params, fitted, "n_estimators")

    def search_space(self, task: str) -> dict[str, Any]:
        return space(
            {"max_cat_to_onehot": 8, "subsample": 1.0, "reg_lambda": 1.0},
            learning_rate=(0.01, 0.3, "log"), max_depth=(3, 10, "int"),
            min_child_weight=(0.5, 20.0, "log"), subsample=(0.5, 1.0, "lin"),
            colsample_bytree=(0.4, 1.0, "lin"), reg_lambda=(1e-3, 10.0, "log"))


# -- compiled ----------------------------------------------------------------------------------
def compile_xgboost(fitted: Fitted) -> Callable[[Any], np.ndarray]:
    """XGBoost's booster called directly (``inplace_predict``, what its scikit-learn wrapper
    calls after ~150 µs of checks), over the rounds the wrapper would use: up to the best
    iteration when it early-stopped, else all."""
    plain(fitted)
    est = fitted.estimator
    booster = est.get_booster()
    try:
        rounds = (0, int(est.best_iteration) + 1)
    except AttributeError:  # not early-stopped: every round
        rounds = (0, 0)
    missing = est.missing if est.missing is not None else np.nan

    def value(X: Any) -> np.ndarray:  # float32, as the booster answers
        return booster.inplace_predict(np.asarray(X, dtype=np.float32), missing=missing,
                                       iteration_range=rounds)

    if fitted.task == "regression":
        return lambda X: np.asarray(value(X), dtype=float)
    classes, k = model_classes(fitted), fitted.n_classes

    def proba(X: Any) -> np.ndarray:
        p = value(X)
        if p.ndim == 1:  # 1 - p in float32, as the wrapper computes it
            p = np.column_stack([1 - p, p])
        return all_classes(np.asarray(p, dtype=float), classes, k)

    return proba


# -- ONNX ------------------------------------------------------------------------------------
def xgboost_trees(estimator: Any, n_targets: int) -> tuple[Trees, str]:
    """Trees of a fitted XGBoost sklearn model (up to its best iteration) and its objective."""
    booster = estimator.get_booster()
    model = json.loads(booster.save_raw("json"))["learner"]
    objective = model["objective"]["name"]
    base = _floats(model["learner_model_param"]["base_score"])
    gb = model["gradient_booster"]["model"]
    info = gb["tree_info"]
    limit = len(gb["trees"])
    try:
        best = estimator.best_iteration
    except AttributeError:
        best = None
    if best is not None and getattr(estimator, "early_stopping_rounds", None):
        per_iter = len(info) // max(1, booster.num_boosted_rounds())
        limit = min(limit, (best + 1) * per_iter)
    if objective == "binary:logistic":
        margin = [math.log(b / (1 - b)) for b in base]
    else:
        margin = list(base)
    margin = (margin * n_targets)[:n_targets] if len(margin) == 1 else margin
    trees = Trees(n_targets, np.asarray(margin, dtype=float), float32=True)
    for t in range(limit):
        tree, target = gb["trees"][t], int(info[t]) if n_targets > 1 else 0
        left, right = tree["left_children"], tree["right_children"]
        if left[0] == -1:
            trees.constant(target, tree["split_conditions"][0])
            continue
        cats = _xgb_categories(tree)
        ids: dict[int, int] = {}
        order = [i for i in range(len(left)) if left[i] != -1]
        for i in order:
            feature = tree["split_indices"][i]
            default_left = bool(tree["default_left"][i])
            if i in cats:  # categories in the set go right
                ids[i] = trees.node(feature, MEMBER, math.nan, not default_left, cats[i])
            else:
                # x < t on float32 x is x <= the float32 just below t. With BRANCH_LT, whole
                # XGBoost ensembles (with set-membership splits) reached other leaves than
                # XGBoost in onnxruntime 1.32, though small hand-made trees were right: cause
                # not isolated; LEQ matches on every parity test
                below = np.nextafter(np.float32(tree["split_conditions"][i]), np.float32(-np.inf))
                ids[i] = trees.node(feature, LEQ, float(below), default_left)
        leaf_values = tree["split_conditions"]
        for i in order:
            lo = _child(trees, ids, left[i], left[left[i]] == -1, target, leaf_values[left[i]])
            hi = _child(trees, ids, right[i], left[right[i]] == -1, target, leaf_values[right[i]])
            trees.link(ids[i], *((hi, lo) if i in cats else (lo, hi)))
        trees.roots.append(ids[0])
    return trees, objective


def _child(trees: Trees, ids: dict[int, int], c: int, is_leaf: bool, target: int,
           value: float) -> tuple[int, int]:
    """The (index, is_leaf) of child ``c``: a new leaf, or the node already made for it."""
    return trees.leaf(target, value) if is_leaf else (ids[c], 0)


def _xgb_categories(tree: dict[str, Any]) -> dict[int, list[float]]:
    nodes = tree.get("categories_nodes") or []
    out = {}
    for node, start, size in zip(nodes, tree["categories_segments"], tree["categories_sizes"],
                                 strict=True):
        out[int(node)] = [float(c) for c in tree["categories"][start:start + size]]
    return out


def _floats(text: Any) -> list[float]:
    if isinstance(text, int | float):
        return [float(text)]
    return [float(v) for v in str(text).strip("[]").split(",") if v.strip()]


def xgboost_onnx(g: Graph, fitted: Fitted, x: str) -> str:
    est = fitted.estimator
    trees, objective = xgboost_trees(est, n_scores(fitted))
    return onnx_link(g, trees.emit(g, x), fitted.task, objective, est, max(fitted.n_classes, 1))


# -- SHAP: XGBoost's own TreeSHAP (pred_contribs) ----------------------------------------------
def xgboost_contributions(fitted: Fitted, Xt: Any, task: str,
                          C: int) -> tuple[np.ndarray, np.ndarray, str]:
    import xgboost as xgb

    est = fitted.estimator
    booster = est.get_booster()
    dm = xgb.DMatrix(np.asarray(Xt, dtype=float), feature_types=booster.feature_types,
                     enable_categorical=True)
    try:
        rng = (0, int(est.best_iteration) + 1)
    except (AttributeError, TypeError):
        rng = (0, 0)
    raw = np.asarray(booster.predict(dm, pred_contribs=True, iteration_range=rng))
    raw = raw.reshape(len(raw), C, -1).transpose(0, 2, 1)
    return raw[:, :-1, :], raw[:, -1, :], "value" if task == "regression" else "margin"


# -- Dask ------------------------------------------------------------------------------------
def fit_xgboost_dask(client: Any, data: dict[str, Any], params: dict[str, Any], task: str,
                     n_classes: int, categorical: list[int], rounds: int, seed: int,
                     metric: Any) -> Fitted:
    """``xgboost.dask`` early-stopped on the validation split, shipped as a plain model."""
    import xgboost as xgb
    import xgboost.dask as dxgb

    width = data["width"]
    feature_types = ["c" if j in set(categorical) else "q" for j in range(width)]
    cls = dxgb.DaskXGBRegressor if task == "regression" else dxgb.DaskXGBClassifier
    est = cls(n_estimators=rounds, **params, tree_method="hist", enable_categorical=True,
              feature_types=feature_types, early_stopping_rounds=EARLY_STOP, random_state=seed,
              verbosity=0)
    est.client = client
    est.fit(data["X"], data["y"], eval_set=[(data["Xv"], data["yv"])], verbose=False)
    local_cls = xgb.XGBRegressor if task == "regression" else xgb.XGBClassifier
    local = local_cls()
    local.load_model(bytearray(est.get_booster().save_raw("ubj")))
    local.set_params(enable_categorical=True, feature_types=feature_types, n_jobs=1)
    best = getattr(local, "best_iteration", None)
    best = best + 1 if best is not None else local.get_booster().num_boosted_rounds()
    return Fitted(local, task, n_classes, best_iteration=best, truncated=False,
                  family=XGBoostFamily.name)


ADAPTER = Adapter(XGBoostFamily(), instance_of("xgboost", "XGBClassifier", "XGBRegressor"),
                  compile=compile_xgboost, compile_bag=None, onnx=xgboost_onnx,
                  contributions=xgboost_contributions, fit_dask=fit_xgboost_dask,
                  tree_nodes=None)
