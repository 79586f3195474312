"""Random forest and extra trees (scikit-learn), grown in chunks so the deadline can stop them:
10 trees first, then as many as the measured time per tree says fit before the deadline."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from mlexpert.models._base import FitRequest, Fitted

FIRST_CHUNK = 10  # trees grown before the time and memory per tree are known
CHUNK = 50
MAX_LEAF_NODES = 15_000  # as AutoGluon's forests: deep trees on big data grow huge otherwise
MAX_MODEL_BYTES = 128 * 2**20  # trees stop being added beyond this size (one fold's model)


class _ForestFamily:
    kind = "tree"
    name = ""
    n_trees = 300

    def _classes(self) -> tuple[Any, Any]:
        raise NotImplementedError

    def configs(self, task: str) -> list[tuple[str, dict[str, Any]]]:
        return [(self.name, {"n_estimators": self.n_trees, "min_samples_leaf": 1,
                             "max_leaf_nodes": MAX_LEAF_NODES,
                             "max_features": "sqrt" if task != "regression" else 0.6})]

    def fit(self, X: Any, y: np.ndarray, params: dict[str, Any], req: FitRequest) -> Fitted:
        clf, reg = self._classes()
        cls = reg if req.task == "regression" else clf
        target = params.get("n_estimators", self.n_trees)
        params = {k: v for k, v in params.items() if k != "n_estimators"}
        if params.get("max_leaf_nodes") and len(y) <= params["max_leaf_nodes"]:
            # moot (a tree cannot have more leaves than rows), and costly: scikit-learn then
            # preallocates 2 x max_leaf_nodes nodes per tree (3.5x slower on 500 rows)
            params.pop("max_leaf_nodes")
        est = cls(n_estimators=0, warm_start=True, random_state=req.seed, n_jobs=req.n_threads,
                  **params)
        truncated = False
        per_tree = None
        while est.n_estimators < target:
            if per_tree is not None:  # cap the size: a fold's forest must not take gigabytes
                target = min(target, max(est.n_estimators, int(MAX_MODEL_BYTES / _tree_bytes(est))))
                if est.n_estimators >= target:
                    break
            left = req.deadline.remaining()
            grow = FIRST_CHUNK if per_tree is None else min(CHUNK, int(left / per_tree))
            if est.n_estimators > 0 and grow < 1:
                truncated = True
                break
            t0 = time.monotonic()
            est.set_params(n_estimators=min(target, est.n_estimators + grow))
            est.fit(X, y, sample_weight=req.sample_weight)
            per_tree = (time.monotonic() - t0) / grow
        # predicting with n_jobs > 1 costs ~45 ms of thread start-up per call: too much for the
        # single rows a service scores
        est.set_params(warm_start=False, n_jobs=1)
        return Fitted(est, req.task, req.n_classes, best_iteration=None, truncated=truncated)

    def refit_params(self, params: dict[str, Any], fitted: list[Fitted]) -> dict[str, Any]:
        return dict(params)

    def search_space(self, task: str) -> dict[str, Any]:
        return {}  # the portfolio's configuration is the one worth its time


class RandomForestFamily(_ForestFamily):
    name = "random_forest"

    def _classes(self) -> tuple[Any, Any]:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        return RandomForestClassifier, RandomForestRegressor


class ExtraTreesFamily(_ForestFamily):
    name = "extra_trees"

    def _classes(self) -> tuple[Any, Any]:
        from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

        return ExtraTreesClassifier, ExtraTreesRegressor


def _tree_bytes(forest: Any) -> float:
    """Mean bytes per fitted tree: node records (~64 B) plus the per-node value array."""
    trees = [t.tree_ for t in forest.estimators_]
    per_node = 64 + 8 * trees[0].value.shape[1] * trees[0].value.shape[2]
    return per_node * float(np.mean([t.node_count for t in trees]))
