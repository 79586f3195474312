"""LightGBM: the family (early-stopped on the validation fold, stopped at the deadline, refitted
with the mean best round plus 10 %), its booster on one thread, its trees in ONNX, its TreeSHAP
and its Dask training."""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from mlexpert.errors import not_exportable
from mlexpert.models._adapter import Adapter, all_classes, instance_of, model_classes, plain
from mlexpert.models._base import LIBRARY_DEFAULTS, FitRequest, Fitted
from mlexpert.models._common import EARLY_STOP, MAX_ROUNDS, refit_rounds, space
from mlexpert.models._graph import Graph
from mlexpert.models._trees_onnx import DISTILL_HINT, LEQ, MEMBER, Trees, n_scores, onnx_link


class LightGBMFamily:
    name = "lightgbm"
    kind = "tree"

    def configs(self, task: str) -> list[tuple[str, dict[str, Any]]]:
        base = {"learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
                "colsample_bytree": 0.9, "subsample": 1.0, "reg_lambda": 0.0}
        return [
            ("lightgbm", base),
            # the library's defaults as a user would run them (100 rounds at 0.1, no early
            # stopping): the floor the search's pick is held to
            ("lightgbm_default", {LIBRARY_DEFAULTS: True}),
            ("lightgbm_xt", {**base, "extra_trees": True}),
            ("lightgbm_large", {**base, "learning_rate": 0.03, "num_leaves": 128,
                                "min_child_samples": 5, "colsample_bytree": 0.9,
                                "cat_l2": 1.0, "cat_smooth": 0.0, "max_cat_to_onehot": 8}),
        ]

    def fit(self, X: Any, y: np.ndarray, params: dict[str, Any], req: FitRequest) -> Fitted:
        import lightgbm as lgb

        state = {"truncated": False}

        def stop_at_deadline(env: Any) -> None:
            if req.deadline.expired():
                state["truncated"] = True
                raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list or [])

        cls = lgb.LGBMRegressor if req.task == "regression" else lgb.LGBMClassifier
        as_shipped = bool(params.get(LIBRARY_DEFAULTS))
        given = {} if as_shipped else {"n_estimators": MAX_ROUNDS, **params}
        est = cls(**given, random_state=req.seed, n_jobs=req.n_threads, verbose=-1,
                  deterministic=True, force_col_wise=True)
        callbacks = [stop_at_deadline]
        kwargs: dict[str, Any] = {}
        if req.X_val is not None and not as_shipped:
            callbacks.append(lgb.early_stopping(EARLY_STOP, verbose=False))
            kwargs.update(eval_X=(req.X_val,), eval_y=(req.y_val,))
        est.fit(X, y, sample_weight=req.sample_weight, categorical_feature=req.categorical or "auto",
                callbacks=callbacks, **kwargs)
        best = None if as_shipped else est.best_iteration_ or est.booster_.current_iteration()
        return Fitted(est, req.task, req.n_classes, best_iteration=best, truncated=state["truncated"],
                      family=self.name)

    def refit_params(self, params: dict[str, Any], fitted: list[Fitted]) -> dict[str, Any]:
        return refit_rounds(params, fitted, "n_estimators")

    def search_space(self, task: str) -> dict[str, Any]:
        # ranges as in FLAML's and AutoGluon's LightGBM spaces (FLAML's reach down to 4 leaves
        # and up to 128+ rows per leaf: strongly regularized trees win on noisy tables);
        # bagging needs subsample_freq
        return space(
            {"subsample_freq": 1, "subsample": 1.0, "reg_lambda": 1e-3, "reg_alpha": 1e-3,
             "extra_trees": False, "cat_l2": 10.0, "cat_smooth": 10.0},
            learning_rate=(0.01, 0.2, "log"), num_leaves=(4, 256, "intlog"),
            min_child_samples=(2, 200, "intlog"), colsample_bytree=(0.4, 1.0, "lin"),
            subsample=(0.5, 1.0, "lin"), reg_lambda=(1e-3, 10.0, "log"),
            reg_alpha=(1e-3, 10.0, "log"), extra_trees=[False, True],
            cat_l2=(1.0, 50.0, "log"), cat_smooth=(1.0, 50.0, "log"))


# -- compiled: the booster on one thread (no OpenMP start-up per row) ---------------------------
def compile_lightgbm(fitted: Fitted) -> Callable[[Any], np.ndarray]:
    plain(fitted)
    booster = fitted.estimator.booster_
    if fitted.task == "regression":
        return lambda X: np.asarray(booster.predict(X, num_threads=1), dtype=float)
    classes, k = model_classes(fitted), fitted.n_classes

    def proba(X: Any) -> np.ndarray:
        p = np.asarray(booster.predict(X, num_threads=1), dtype=float)
        if p.ndim == 1:
            p = np.column_stack([1.0 - p, p])
        return all_classes(p, classes, k)

    return proba


# -- ONNX ------------------------------------------------------------------------------------
def lightgbm_trees(booster: Any, n_targets: int) -> tuple[Trees, str]:
    """Trees of a LightGBM booster (best iteration) and its objective's first word, read from
    the booster's model text one tree at a time into arrays: its JSON dump held ~1.4 KB of
    Python objects per node (54,000 nodes: +133 MB and 1.4 s; the largest dev ensembles build
    graphs of millions of nodes)."""
    text = booster.model_to_string()
    head, *blocks = text.split("\nTree=")
    if blocks:
        blocks[-1] = blocks[-1].split("\nend of trees")[0]
    header = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
    objective = header.get("objective", "regression").split()[0]
    per_iter = max(1, int(header.get("num_tree_per_iteration", 1)))
    trees = Trees(n_targets, np.zeros(n_targets))
    for i, block in enumerate(blocks):
        tree = dict(line.split("=", 1) for line in block.splitlines()[1:] if "=" in line)
        _lgb_tree(trees, tree, i % per_iter)
    return trees, objective


def _lgb_tree(trees: Trees, tree: dict[str, str], target: int) -> None:
    """One tree of the model text: internal nodes 0..L-2, a negative child ``c`` is leaf ``~c``;
    ``decision_type`` bits: 1 categorical, 2 missing goes left, 4-8 the missing type (0 none:
    NaN read as 0.0, 1 zero, 2 NaN)."""
    leaf = _numbers(tree["leaf_value"], float)
    if int(tree["num_leaves"]) == 1:
        trees.constant(target, float(leaf[0]))
        return
    if tree.get("is_linear", "0") != "0":
        raise not_exportable("a LightGBM model with linear trees", "leaves that are linear "
                             "models have no ONNX TreeEnsemble form", DISTILL_HINT)
    feature = _numbers(tree["split_feature"], np.int64)
    threshold = _numbers(tree["threshold"], float)
    decision = _numbers(tree["decision_type"], np.int64)
    left, right = _numbers(tree["left_child"], np.int64), _numbers(tree["right_child"], np.int64)
    categorical = (decision & 1) == 1
    missing = (decision >> 2) & 3
    if (missing[~categorical] == 1).any():
        raise not_exportable("a LightGBM model trained with zero_as_missing",
                             "zeros counted as missing have no ONNX equivalent",
                             "Refit without zero_as_missing.")
    to_left = np.where(missing == 2, (decision & 2) == 2, 0.0 <= threshold)
    members = None
    if categorical.any():  # category sets as bitsets of 32-bit words; NaN goes right
        bounds = _numbers(tree["cat_boundaries"], np.int64)
        words = _numbers(tree["cat_threshold"], np.uint64).astype("<u4")
        members = [[] for _ in feature]
        for j in np.flatnonzero(categorical):
            k = int(threshold[j])
            bits = np.unpackbits(words[bounds[k]:bounds[k + 1]].view(np.uint8), bitorder="little")
            members[j] = np.flatnonzero(bits).astype(float).tolist()
    trees.roots.append(trees.extend(
        feature, np.where(categorical, MEMBER, LEQ), np.where(categorical, math.nan, threshold),
        np.where(categorical, False, to_left), (np.where(left < 0, ~left, left), left < 0),
        (np.where(right < 0, ~right, right), right < 0), target, leaf, members))


def _numbers(field: str, dtype: Any) -> np.ndarray:
    return np.array(field.split(), dtype=dtype)


def lightgbm_tree_nodes(fitted: Fitted) -> int:
    """Split nodes of the booster's trees (``lightgbm_trees`` reads them all), from the
    ``num_leaves`` lines of its model text: L leaves, L - 1 splits."""
    text = fitted.estimator.booster_.model_to_string()
    return sum(int(n) - 1 for n in re.findall(r"^num_leaves=(\d+)$", text, re.MULTILINE))


def lightgbm_onnx(g: Graph, fitted: Fitted, x: str) -> str:
    est = fitted.estimator
    trees, objective = lightgbm_trees(est.booster_, n_scores(fitted))
    return onnx_link(g, trees.emit(g, x), fitted.task, objective, est, max(fitted.n_classes, 1))


# -- SHAP: LightGBM's own TreeSHAP (pred_contrib) ----------------------------------------------
def lightgbm_contributions(fitted: Fitted, Xt: Any, task: str,
                           C: int) -> tuple[np.ndarray, np.ndarray, str]:
    booster = fitted.estimator.booster_
    raw = np.asarray(booster.predict(Xt, pred_contrib=True,
                                     num_iteration=booster.best_iteration or None))
    raw = raw.reshape(len(raw), C, -1).transpose(0, 2, 1)
    return raw[:, :-1, :], raw[:, -1, :], "value" if task == "regression" else "margin"


# -- Dask ------------------------------------------------------------------------------------
def fit_lightgbm_dask(client: Any, data: dict[str, Any], params: dict[str, Any], task: str,
                      n_classes: int, categorical: list[int], rounds: int, seed: int,
                      metric: Any) -> Fitted:
    """LightGBM's Dask classes for a fixed number of rounds (its Dask early stopping would
    differ between workers), cut at the best round on the gathered validation split."""
    import lightgbm as lgb

    cls = lgb.DaskLGBMRegressor if task == "regression" else lgb.DaskLGBMClassifier
    est = cls(client=client, n_estimators=rounds, **params, random_state=seed, verbose=-1,
              deterministic=True, force_col_wise=True)
    est.fit(data["X"], data["y"], categorical_feature=categorical or "auto")
    local = est.to_local()
    # the best round on the gathered validation split; the model is cut there
    booster = local.booster_
    done = booster.current_iteration()
    grid = np.unique(np.linspace(1, done, min(done, 40)).round().astype(int))
    losses = [metric.loss(data["yv_local"], staged_output(raw, task))
              for raw in staged_raw(booster, data["Xv_local"], grid)]
    best = int(grid[int(np.argmin(losses))])
    if best < done:
        local._Booster = lgb.Booster(model_str=local.booster_.model_to_string(num_iteration=best))
    local.set_params(n_jobs=1)
    return Fitted(local, task, n_classes, best_iteration=best, truncated=False,
                  family=LightGBMFamily.name)


def staged_raw(booster: Any, X: np.ndarray, grid: np.ndarray) -> Iterator[np.ndarray]:
    """Raw scores after each round count in ``grid``, every tree evaluated once (rounds are
    added chunk by chunk): the cost of one prediction, not of ``len(grid)``."""
    total, start = 0.0, 0
    for k in grid:
        total = total + booster.predict(X, start_iteration=start, num_iteration=int(k) - start,
                                        raw_score=True)
        start = int(k)
        yield total


def staged_output(raw: np.ndarray, task: str) -> np.ndarray:
    """LightGBM raw scores as the model's output: values, or class probabilities."""
    if task == "regression":
        return raw
    if task == "binary":
        p = 1.0 / (1.0 + np.exp(-raw))
        return np.column_stack([1.0 - p, p])
    e = np.exp(raw - raw.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


ADAPTER = Adapter(LightGBMFamily(), instance_of("lightgbm", "LGBMClassifier", "LGBMRegressor"),
                  compile=compile_lightgbm, compile_bag=None, onnx=lightgbm_onnx,
                  contributions=lightgbm_contributions, fit_dask=fit_lightgbm_dask,
                  tree_nodes=lightgbm_tree_nodes)
