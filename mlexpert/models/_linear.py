"""Regularized linear models: logistic regression (classification) and ridge (regression)."""
from __future__ import annotations

from typing import Any

import numpy as np

from mlexpert.models._base import Fitted, FitRequest


class LinearFamily:
    name = "linear"
    kind = "linear"

    def configs(self, task: str) -> list[tuple[str, dict[str, Any]]]:
        return [("linear", {"C": 1.0} if task != "regression" else {"alpha": 1.0})]

    def fit(self, X: Any, y: np.ndarray, params: dict[str, Any], req: FitRequest) -> Fitted:
        from sklearn.linear_model import LogisticRegression, Ridge

        if req.task == "regression":
            est = Ridge(**params)
        else:
            est = LogisticRegression(max_iter=500, **params)
        est.fit(X, y, sample_weight=req.sample_weight)
        return Fitted(est, req.task, req.n_classes)

    def refit_params(self, params: dict[str, Any], fitted: list[Fitted]) -> dict[str, Any]:
        return dict(params)
