"""Random forest and extra trees (scikit-learn), grown in chunks so the deadline can stop them."""
from __future__ import annotations

from typing import Any

import numpy as np

from mlexpert.models._base import Fitted, FitRequest

CHUNK = 50


class _ForestFamily:
    kind = "tree"
    name = ""
    n_trees = 300

    def _classes(self) -> tuple[Any, Any]:
        raise NotImplementedError

    def configs(self, task: str) -> list[tuple[str, dict[str, Any]]]:
        return [(self.name, {"n_estimators": self.n_trees, "min_samples_leaf": 1,
                             "max_features": "sqrt" if task != "regression" else 0.6})]

    def fit(self, X: Any, y: np.ndarray, params: dict[str, Any], req: FitRequest) -> Fitted:
        clf, reg = self._classes()
        cls = reg if req.task == "regression" else clf
        target = params.get("n_estimators", self.n_trees)
        est = cls(n_estimators=0, warm_start=True, random_state=req.seed, n_jobs=req.n_threads,
                  **{k: v for k, v in params.items() if k != "n_estimators"})
        truncated = False
        while est.n_estimators < target:
            if req.deadline.expired() and est.n_estimators > 0:
                truncated = True
                break
            est.set_params(n_estimators=min(target, est.n_estimators + CHUNK))
            est.fit(X, y, sample_weight=req.sample_weight)
        est.set_params(warm_start=False)
        return Fitted(est, req.task, req.n_classes, best_iteration=None, truncated=truncated)

    def refit_params(self, params: dict[str, Any], fitted: list[Fitted]) -> dict[str, Any]:
        return dict(params)


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
